"""Small POSIX gaps closed (issue 22's leftovers): a restored forked child's console, kill of
init, PR_SET_PDEATHSIG, memfd_create, sendfile to any descriptor, sched_* and priorities of a
process on another cluster. Expected values from a host gcc build or Linux's documentation."""

from __future__ import annotations

import os

import pytest
from conftest import ROOT, Programs, run_native

from shoal import Chip


def test_a_restored_forked_child_uses_its_own_console(programs: Programs) -> None:
    """A forked child writes to (and reads from) its parent's console stream; checkpointed
    after its parent ended and restored on another chip, its output and input are its own
    there (the parent's stream is not on that chip): nothing is lost."""
    b = programs["fork_console"]
    native = run_native(b, ["fork_console"], stdin=b"hello\n")
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["fork_console"], cluster=0)
    c.run(until=lambda: len(c.processes()) == 2 and c.processes()[0].state == "exited")
    c.run(max_cycles=c.spec.cluster.freq_hz // 100)  # 10 ms: the child has seen init, sleeps
    child = c.processes()[1]
    assert child.state == "running" and p.returncode == 0
    data = c.checkpoint(child.pid, stop=True)
    c2 = Chip.preset("tiny")
    q = c2.restore(data, cluster=2, stdin=b"hello\n")
    c2.run()
    assert q.returncode == 3, q.message
    assert p.stdout + q.stdout == native.stdout
    assert q.stdout == b"child: read 6 [hello\n]\n"
    assert p.stderr + q.stderr == native.stderr == b"child: stderr 6\n"


def _reported(c: Chip, cluster: int) -> dict[int, object]:
    """The policy daemon's view of `cluster` from its latest load report: pid -> ProcView."""
    return {p.pid: p for p in c._backend.io.policy.daemon.reports[cluster].procs}


def test_load_reports_count_a_copy_on_write_frame_once(programs: Programs) -> None:
    """After a fork on one cluster, parent and child map the same frames: each report row
    says how many of its frames are shared, so what a move frees (`freed`) plus the shared
    frames, once, is what the cluster's processes hold. The child's writes make frames its own."""
    b = programs["fork_hold"]
    c = Chip.preset("tiny", policy="memory", policy_period_us=1000)
    ms = c.spec.cluster.freq_hz // 1000
    p = c.spawn(b.elf, ["fork_hold"], cluster=0)
    c.run(until=lambda: len(c.processes()) == 2)
    c.run(max_cycles=10 * ms)  # the child reads, sleeps
    rows = _reported(c, 0)
    parent, child = rows[p.pid], rows[max(rows)]
    k = c._backend.kernels[0]
    assert child.shared >= 64 and parent.shared == child.shared  # 256 KiB at least, 4 KiB pages
    assert child.freed < 8 and child.freed == child.frames - child.shared
    assert parent.freed + child.freed + child.shared == k.frames.total - k.frames.free
    c.run(max_cycles=30 * ms)  # the child wrote half of it
    rows = _reported(c, 0)
    parent2, child2 = rows[p.pid], rows[child.pid]
    assert child2.freed >= child.freed + 32 and parent2.shared == child2.shared <= child.shared - 32
    assert parent2.freed + child2.freed + child2.shared == k.frames.total - k.frames.free
    c.run()
    native = run_native(b, ["fork_hold"])
    assert p.stdout == native.stdout and p.returncode == 0


def test_a_move_frees_only_a_process_own_frames_in_the_view() -> None:
    """ChipView.move (what every policy sees of its own moves) and the memory policy's
    choice: moving a forked child frees its own frames where it was, and needs all of them
    where it goes; of two that grew alike, the one whose move frees more goes."""
    from shoal.daemons.policies import ChipView, ClusterView, Memory, ProcView
    from shoal.platform.noc import NoC
    from shoal.spec import ChipSpec
    spec = ChipSpec.preset("tiny")
    child = ProcView(7, 0, 1, 1, frames=100, shared=90)
    solo = ProcView(8, 0, 1, 1, frames=60)
    src = ClusterView(0, 4, free=10, total=256, procs=[child, solo], time=5)
    dst = ClusterView(1, 4, free=200, total=256, procs=[], time=5)
    view = ChipView([src, dst], {}, frozenset(), 5, NoC(spec), 1000)
    moves = Memory().on_report(src, view)
    assert [m.pid for m in moves] == [8]  # it frees 60 here; the child would free 10
    assert (src.free, dst.free) == (70, 140)
    view.move(child, 1)
    assert (src.free, dst.free) == (80, 40)


KILL_ALL = (b"kill(1, SIGTERM): 0\nkill(-1, SIGUSR1): 0\nc4: exit 1\n"
            b"parent: got SIGUSR1 0\nkill(-1, 0) alone: ESRCH\n")


def _kill_expected(b: object) -> bytes:
    """The native run's output (as root: init exists, only root may signal it). Written out
    too, so that a host without root still checks what Linux documents."""
    want = (b"kill(1, 0): 0\nkill(1, 65): EINVAL\nkill(-99999, 0): ESRCH\nkill(INT_MIN, 0): ESRCH\n"
            b"kill(0, SIGUSR1): 0\nc1: exit 1\nparent: got SIGUSR1 1\n"
            b"user kill(1, 0): EPERM\nuser kill(1, SIGTERM): EPERM\nuser kill(parent, 0): EPERM\n"
            b"user kill(parent, SIGUSR1): EPERM\nuser kill(-own group, 0): 0\nuser kill(-1, 0): 0\n"
            b"user kill(self, 0): 0\nc2: exit 0\nuser kill(-parent group, 0): EPERM\nc3: exit 0\n"
            b"parent: got SIGUSR1 1\n")
    if os.geteuid() == 0:
        native = run_native(b, ["kill_init"])  # type: ignore[arg-type]
        assert native.returncode == 0 and native.stdout == want, native.stdout
    return want


@pytest.mark.parametrize("apart", [False, True])
def test_kill_of_init_of_a_group_and_of_every_process(programs: Programs, apart: bool) -> None:
    """kill(1, 0) is 0 for root and EPERM for a user; kill(0)/kill(-pgid) reach the whole group
    (on one cluster, or with the child moved to another), kill(-1) every process but init and
    the caller, ESRCH when there is none; a user cannot signal root's processes."""
    b = programs["kill_init"]
    want = _kill_expected(b)
    c = Chip.preset("tiny", user=ROOT)  # (it starts as root: root's and a user's rules)
    p = c.spawn(b.elf, ["kill_init", "all"], cluster=0)
    if apart:
        c.run(until=lambda: len(c.processes()) == 2)
        child = c.processes()[1]
        c.migrate(child.pid, 3)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == want + KILL_ALL
    if apart:
        assert any(m.ok and m.dst == 3 for m in c.migrations)


PDEATH = (b"parent: pdeathsig 0\nset 99: -1 EINVAL\nc1 (15, grandchild 0): exit 150\n"
          b"c2 (12, then 0): exit 120\nparent: exits\n"
          b"c3: pdeathsig 10, got SIGUSR1 1 from the parent 1, ppid changed 1\n")


@pytest.mark.parametrize("apart", [False, True])
def test_pdeathsig_reaches_the_child_when_its_parent_ends(programs: Programs, apart: bool) -> None:
    """PR_SET_PDEATHSIG: the signal comes with the re-parenting (a packet routed by pid), on
    the parent's cluster or on another the child was moved to; fork and a uid change clear
    it; PR_GET_PDEATHSIG reads it."""
    b = programs["pdeathsig"]
    if os.geteuid() == 0:  # (c2's setuid needs root natively)
        native = run_native(b, ["pdeathsig"])
        assert native.stdout == PDEATH and native.returncode == 0
    c = Chip.preset("tiny", user=ROOT)  # (it starts as root: root's and a user's rules)
    p = c.spawn(b.elf, ["pdeathsig"], cluster=1)
    if apart:
        c.run(until=lambda: len(c.processes()) == 5)  # parent, c1, its child, c2, c3
        c3 = c.processes()[4]
        c.run(max_cycles=c.spec.cluster.freq_hz // 100)  # (10 ms: it waits for the signal)
        c.migrate(c3.pid, 2)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == PDEATH
    c3 = c.processes()[4]
    assert c3.state == "exited" and c3.exit_code == 0, c3
    if apart:
        assert c3.cluster == 2 and any(m.ok and m.dst == 2 for m in c.migrations)


@pytest.mark.parametrize("moved", [False, True])
def test_memfd_create_is_an_anonymous_file(programs: Programs, moved: bool) -> None:
    """memfd_create as Linux has it (the native build is the reference): a file of the file
    server with no name, read/write/lseek/ftruncate/fstat, dup and fork sharing its offset and
    data, MFD_CLOEXEC, EINVAL/EFAULT; it stays the process's own across a migration. No file
    is left behind in the tree."""
    b = programs["memfd"]
    native = run_native(b, ["memfd"])
    assert native.returncode == 0
    c = Chip.preset("tiny")
    before = c.fs_tree()
    p = c.spawn(b.elf, ["memfd"], cluster=0)
    if moved:
        c.run(max_cycles=c.spec.cluster.freq_hz // 200)  # 5 ms: in its 20 ms sleep
        p.migrate(3)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == native.stdout
    if moved:
        assert p.cluster == 3
    fs = c._backend.io.files.fs
    assert not [n for n in fs.nodes.values() if n.anon]  # every memfd's file went with its last close
    assert c.fs_tree() == before  # (no name anywhere, /tmp included)


@pytest.mark.parametrize("apart", [False, True])
def test_sendfile_to_a_pipe_a_socket_a_device_and_the_console(programs: Programs, apart: bool) -> None:
    """sendfile to what write(2) writes to, as Linux does it (the native build is the
    reference): the console (stdout, stderr), a blocking pipe (its writer on the pipe's cluster,
    or moved away: the writes go over the NoC), a full non-blocking one (EAGAIN), one without a
    reader (EPIPE), a socket, /dev/null; offsets with and without a pointer; the errors."""
    b = programs["sendfile"]
    native = run_native(b, ["sendfile", "/tmp"])
    assert native.returncode == 0
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["sendfile", "/tmp"], cluster=0)
    if apart:
        c.run(until=lambda: len(c.processes()) == 2)
        writer = c.processes()[1]
        c.migrate(writer.pid, 2)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == native.stdout and p.stderr == native.stderr
    if apart:
        assert any(m.ok and m.dst == 2 for m in c.migrations), c.migrations
        assert c.processes()[1].cluster == 2


@pytest.mark.parametrize("apart", [False, True])
def test_sched_calls_and_priorities_of_a_process_anywhere(programs: Programs, apart: bool) -> None:
    """sched_getscheduler/getparam/setparam/setscheduler and get/setpriority of a forked child:
    on the caller's cluster or moved to another (asked by a packet routed by pid), with Linux's
    answers (the native build is the reference): its nice read and set, a user's EPERM on
    root's processes, ESRCH once it is reaped."""
    b = programs["prio_remote"]
    native = run_native(b, ["prio_remote"])
    assert native.returncode == 0
    c = Chip.preset("tiny", user=ROOT)  # (it starts as root: root's and a user's rules)
    p = c.spawn(b.elf, ["prio_remote"], cluster=0)
    if apart:
        c.run(until=lambda: len(c.processes()) == 2)
        c.migrate(c.processes()[1].pid, 3)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == native.stdout
    if apart:
        child = c.processes()[1]
        assert child.cluster == 3 and child.exit_code == 7

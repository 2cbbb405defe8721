"""fork, exec, wait and pipes (issue 22 parts 2-3): tests/programs/fork.c, one mode per test,
run on the chip and natively (host gcc) with the same argv; stdout and exit status must be the
same bytes. argv[0] is the native build's path, so that the program can exec itself: the chip
finds it by base name among its files (Chip.add_file), the host by path."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Built, Programs, assert_same, run_native, run_shoal

from shoal import Chip
from shoal.errors import ShoalError
from shoal.kernel import image


def run_both(b: Built, mode: str, chip: str = "tiny", stdin: bytes = b"") -> tuple[object, Chip]:
    argv = [str(b.native), mode]
    c = Chip.preset(chip)
    c.add_file(b.native.name, b.elf.read_bytes())
    p = c.spawn(b.elf, argv, cluster=0, stdin=stdin)
    c.run()
    assert p.done
    native = run_native(b, argv, stdin=stdin)
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode, p.message
    return p, c


@pytest.mark.parametrize("mode", ["status", "chain", "ppid", "pipe", "epipe", "errors", "exec",
                                  "pipeline", "spawn", "files"])
def test_mode_as_native(programs: Programs, mode: str) -> None:
    run_both(programs["fork"], mode)


def test_a_child_reads_its_parents_input(programs: Programs) -> None:
    p, _ = run_both(programs["fork"], "stdin", stdin=b"first, then the rest\n")
    assert p.stdout.startswith(b"child read 16: , then the rest\n")


def test_fork_chain_makes_one_process_per_fork(programs: Programs) -> None:
    _, c = run_both(programs["fork"], "chain")
    recs = c.processes()
    assert len(recs) == 6 and len({r.pid for r in recs}) == 6
    assert all(r.state == "exited" for r in recs)


def test_a_full_cluster_places_the_child_elsewhere(programs: Programs) -> None:
    """The parent fills most of its 1 MiB cluster: its child is built from an image on another
    cluster, writes to its parent's output, and reports back its exit status."""
    p, c = run_both(programs["fork"], "big")
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 1 and kids[0].cluster != p.cluster
    assert b"child: sum 78336000\n" in p.stdout


def test_pipeline_runs_three_programs(programs: Programs) -> None:
    p, c = run_both(programs["fork"], "pipeline")
    names = sorted(r.state for r in c.processes())
    assert names == ["exited"] * 4  # the shell-like parent and gen, upper, count (exec'd)
    assert b"count: 300 lines 7690 bytes" in p.stdout


def test_no_shell_refuses_popen_and_system(programs: Programs) -> None:
    """No /bin/sh on the chip: posix_spawn of it fails with ENOENT, so popen gives NULL and
    system -1, as on a Linux without a shell (the host has one: no native run here)."""
    b = programs["fork"]
    c = Chip.preset("tiny")
    c.add_file(b.native.name, b.elf.read_bytes())
    p = c.spawn(b.elf, [str(b.native), "shell"], cluster=0)
    c.run()
    assert p.stdout == b"popen: refused\nsystem: refused\n" and p.returncode == 0


def test_exec_of_a_non_program_is_enoexec(tmp_path: Path) -> None:
    """A `#!` script and a file that is no ELF are refused with ENOEXEC (the caller goes on)."""
    c = Chip.preset("tiny")
    c.add_file("script", b"#!/bin/sh\necho hi\n")
    c.add_file("junk", b"\x7fELF but not really")
    src = tmp_path / "ex.c"
    src.write_text(r'''
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char *argv[] = {"x", 0};
    const char *names[] = {"/script", "/junk", "/nothing"};
    for (int i = 0; i < 3; i++) {
        errno = 0;
        int r = execv(names[i], argv);
        printf("%s: %d %d\n", names[i], r, errno);
    }
    return 0;
}
''')
    from shoal.toolchain import compile_cached
    elf = compile_cached([src], ["-O2"])
    p = c.spawn(elf, ["ex"], cluster=0)
    c.run()
    assert p.stdout == b"/script: -1 8\n/junk: -1 8\n/nothing: -1 2\n", p.message


def test_a_process_with_a_pipe_is_not_moved_or_checkpointed(programs: Programs) -> None:
    """One clear refusal, and the process goes on to the native output."""
    b = programs["fork"]
    c = Chip.preset("tiny")
    c.add_file(b.native.name, b.elf.read_bytes())
    argv = [str(b.native), "pipe"]
    p = c.spawn(b.elf, argv, cluster=0)
    c.run(max_cycles=20_000)
    assert not p.done
    with pytest.raises(ShoalError, match="holds a pipe or a socket.*or it has children"):
        c.checkpoint(p.pid)
    with pytest.raises(ShoalError, match="cannot migrate: it has children it has not waited for"):
        c.migrate(p.pid, 1)
    c.run()
    assert p.stdout == run_native(b, argv).stdout


def test_exec_from_the_fs_tree(tmp_path: Path) -> None:
    """execve finds a program by path in the --fs tree (relative to the working directory too);
    a directory is EACCES, a file that is no program ENOEXEC, as on Linux."""
    from conftest import assert_one_line_error, shoal_cli

    from shoal.toolchain import compile_cached
    hello = tmp_path / "hello.c"
    hello.write_text('#include <stdio.h>\nint main(int c, char **v) { printf("hello %s %s\\n", v[0], v[1]);'
                     ' return 4; }\n')
    main = tmp_path / "ex.c"
    main.write_text(r'''
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char *argv[] = {"hi", "there", 0};
    const char *names[] = {"/bin/notes", "/bin", "/bin/nothing"};
    for (int i = 0; i < 3; i++) {
        errno = 0;
        int r = execv(names[i], argv);
        printf("%s: %d %d\n", names[i], r, errno);
    }
    fflush(stdout);
    chdir("/bin");
    execv("./hello", argv);
    return 1;
}
''')
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    prog = tree / "bin" / "hello"
    prog.write_bytes(compile_cached([hello], ["-O2"]).read_bytes())
    prog.chmod(0o755)
    (tree / "bin" / "notes").write_bytes(b"not a program\n")
    (tree / "bin" / "notes").chmod(0o755)  # (runnable by its bits, not by its contents: ENOEXEC)
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(tree), str(compile_cached([main], ["-O2"])))
    assert res.stdout == b"/bin/notes: -1 8\n/bin: -1 13\n/bin/nothing: -1 2\nhello hi there\n", res.stderr
    assert res.returncode == 4
    assert_one_line_error(shoal_cli("run", "--chip", "tiny", "--fs", str(tmp_path / "none"), str(prog)))


def test_refused_flags_are_counted(tmp_path: Path) -> None:
    """clone sharing memory without vfork (CLONE_VM alone), pipe2's packet mode and waitid by
    pidfd are refused and counted with the unknown calls, which --stats reports."""
    from shoal.toolchain import compile_cached
    src = tmp_path / "r.c"
    src.write_text(r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    int fds[2];
    long a = syscall(SYS_clone, CLONE_VM | 17, 0, 0, 0, 0); int ea = errno;
    long b = syscall(SYS_pipe2, fds, O_DIRECT); int eb = errno;
    long c = syscall(SYS_waitid, 3, 0, 0, 4, 0); int ec = errno;
    printf("%ld %d %ld %d %ld %d\n", a, ea, b, eb, c, ec);
    return 0;
}
''')
    c = Chip.preset("tiny")
    p = c.spawn(compile_cached([src], ["-O2"]), ["r"])
    c.run()
    assert p.stdout == b"-1 38 -1 22 -1 22\n", p.message
    assert dict(p.record.unknown_syscalls) == {220: 1, 59: 1, 95: 1}


def test_a_forked_child_migrates_and_still_reaches_its_parent(programs: Programs) -> None:
    """The child (no pipe, no child of its own) moves while it sleeps; it keeps its parent, its
    output goes to its parent's stream, and its exit status reaches the waiting parent."""
    b = programs["fork"]
    argv = [str(b.native), "sleeper"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    while len(c.processes()) < 2:
        c.run(max_cycles=c.time + 2_000)
    child = next(r for r in c.processes() if r.pid != p.pid)
    with pytest.raises(ShoalError, match="has children"):
        c.migrate(p.pid, 1)
    c.migrate(child.pid, 2)
    c.run()
    assert next(r for r in c.processes() if r.pid == child.pid).cluster == 2
    assert p.stdout == run_native(b, argv).stdout and p.returncode == 0


def test_process_groups_and_sessions_as_native(programs: Programs) -> None:
    """getpgid/setpgid/getsid/setsid with Linux's rules (a group leader cannot start a session;
    a reaped child cannot be moved; EINVAL, ESRCH), as the host build."""
    b = programs["pgrp"]
    p, _ = run_shoal(b, ["pgrp"])
    assert_same(p, run_native(b, ["pgrp"]))


def test_fork_shares_anonymous_shared_memory(programs: Programs) -> None:
    """The child's store into an anonymous MAP_SHARED mapping is the parent's (Linux prints
    'shared 42'; the fork was refused with ENOSYS before the mapping became an object at
    fork: kernel/forkmem.py). More in tests/test_forkshm.py."""
    b = programs["fork_shared_anon"]
    p, _ = run_shoal(b, ["fork_shared_anon"])
    assert_same(p, run_native(b, ["fork_shared_anon"]))
    assert p.stdout == b"shared 42\n" and not p.record.unknown_syscalls


def _orphan_native(b: Built, argv: list[str]) -> bytes:
    """The host build's output. Where the host re-parents orphans to a subreaper rather than
    init (a container's init, systemd --user), only the change can be compared: the line that
    says init adopted it is then taken from Linux's documented behaviour outside a subreaper."""
    out = run_native(b, argv)
    assert out.returncode == 7 and b"changed 1\n" in out.stdout, out
    return out.stdout.replace(b"adopted by init 0\n", b"adopted by init 1\n")


@pytest.mark.parametrize("mode", ["here", "big"])
def test_an_orphan_is_adopted_by_init(programs: Programs, mode: str) -> None:
    """Pid 1 is init (the host): the first program is 2, and a child whose parent exits sees
    getppid() become 1, with the child on its parent's cluster ("here") or on another ("big")."""
    b = programs["orphan"]
    argv = [str(b.native), mode]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run()
    assert p.pid == 2
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 1 and kids[0].state == "exited" and kids[0].exit_code == 0
    assert (kids[0].cluster == p.cluster) == (mode == "here")
    assert p.stdout == _orphan_native(b, argv) and p.returncode == 7, p.message


def test_an_orphan_that_moves_early_is_told_where_it_is(programs: Programs) -> None:
    """The orphan is moved to another cluster while its parent still runs: the news (routed by
    pid) goes to where it lives then."""
    b = programs["orphan"]
    argv = [str(b.native), "here"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    while len(c.processes()) < 2:
        c.run(max_cycles=2_000)
    child = next(r for r in c.processes() if r.pid != p.pid)
    c.migrate(child.pid, 2)
    c.run()
    rec = next(r for r in c.processes() if r.pid == child.pid)
    assert rec.cluster == 2 and rec.state == "exited" and rec.exit_code == 0
    assert c.migrations[0].thawed < c.processes()[0].end_cycle  # moved before its parent ended
    assert p.stdout == _orphan_native(b, argv) and p.returncode == 7, p.message


def test_news_for_an_orphan_being_moved_is_held_and_passed_on(programs: Programs) -> None:
    """The parent ends while its child is frozen for a move (timed from a first run of the
    same deterministic chip): the reparent packet waits at the old cluster and follows the
    child, whose new kernel then tells the sender where it is; getppid() answers 1 there."""
    b = programs["orphan"]
    argv = [str(b.native), "here", "0"]
    c = Chip.preset("tiny")
    c.spawn(b.elf, argv, cluster=0)
    c.run()
    end = c.processes()[0].end_cycle  # the parent's end when nothing moves
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run(max_cycles=end - 2_000)
    child = next(r for r in c.processes() if r.pid != p.pid)
    c.migrate(child.pid, 2)
    c.run()
    m = c.migrations[0]
    assert m.frozen < c.processes()[0].end_cycle < m.thawed  # it ended during the move
    assert next(r for r in c.clusters() if r.cluster == 2).locations["notices_sent"] == 1
    rec = next(r for r in c.processes() if r.pid == child.pid)
    assert rec.cluster == 2 and rec.state == "exited" and rec.exit_code == 0
    assert p.stdout == _orphan_native(b, argv) and p.returncode == 7, p.message

def test_a_restored_orphan_keeps_init_as_parent(programs: Programs) -> None:
    """The image carries the parent: an orphan checkpointed once told has ppid 1 in its image,
    and restored on another chip it still answers getppid() == 1 (its exit status says so)."""
    b = programs["orphan"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), "here"], cluster=0)
    c.run(until=lambda: len(c.processes()) == 2 and c.processes()[0].state == "exited")
    parent, child = c.processes()
    assert parent.pid == p.pid and child.state == "running"
    # (aim past the parent's end: a run paused by `until` left the clock where the chip stopped)
    c.run(max_cycles=parent.end_cycle + 20_000 - c.time)
    data = c.checkpoint(child.pid, stop=True)
    assert image.check(data, "t")[0]["ppid"] == 1
    c2 = Chip.preset("tiny")
    q = c2.restore(data, cluster=1)
    c2.run()
    assert q.pid == child.pid and q.returncode == 0, q.message  # 5 if getppid() != 1
    assert q.stdout == b"child: parent was mine 1, changed 1\nchild: adopted by init 1\n"  # (its own console)


@pytest.mark.parametrize("mode", ["together", "apart"])
def test_futex_requeue_of_shared_words(programs: Programs, mode: str) -> None:
    """tests/programs/futex_requeue.c: FUTEX_REQUEUE and FUTEX_CMP_REQUEUE move waiters of a
    MAP_SHARED word (a thread of the caller, a forked child on the same cluster or another) to a
    second word: a wake of the first then leaves them asleep, one of the second wakes them."""
    b = programs["futex_requeue"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), mode], cluster=0)
    c.run(max_cycles=200_000_000)  # (about 33 M: a waiter left asleep would keep it going)
    assert p.done, p.message
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 1 and (kids[0].cluster != p.record.cluster) == (mode == "apart")
    native = run_native(b, [str(b.native), mode])
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode


@pytest.mark.parametrize("mode", ["together", "apart"])
def test_priority_of_a_process_group(programs: Programs, mode: str) -> None:
    """tests/programs/prio_group.c: get/setpriority(PRIO_PGRP) reach every member of the group
    wherever it runs (the caller's group, then a child's own), ESRCH and EINVAL as Linux."""
    b = programs["prio_group"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), mode], cluster=0)
    c.run(max_cycles=200_000_000)
    assert p.done, p.message
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 1 and (kids[0].cluster != p.record.cluster) == (mode == "apart")
    native = run_native(b, [str(b.native), mode])
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode


def test_priority_of_a_user(programs: Programs) -> None:
    """prio_group.c with "user": setpriority(PRIO_USER, 0) renices every process of the caller's
    real uid wherever it runs, getpriority(PRIO_USER) gives their highest priority (Linux's
    documented behaviour: not run natively, where it would renice the host user's processes)."""
    b = programs["prio_group"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), "apart", "user"], cluster=0)
    c.run(max_cycles=200_000_000)
    assert p.done, p.message
    native = run_native(b, [str(b.native), "apart"]).stdout.decode()
    head, tail = native.split("child killed")
    assert p.stdout.decode() == head + (
        "set my user to 11: 0 \nchild's: 11 \nmine: 11 \nmy user: 11 \nmy user by its id: 11 \n"
        "child killed" + tail), p.message

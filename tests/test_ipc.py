"""POSIX message queues and named semaphores between processes on different clusters,
served by the IPC daemon on I/O cluster 0 (shoal/daemons/ipc.py, shoal/kernel/calls/ipc.py,
shoal/lib/shoal_sem.c), from stock C programs built by shoal's toolchain."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from conftest import Programs, assert_no_frame_leak

from shoal import Chip
from shoal.kernel.migrate import freeze


def expected_consumer(batches: int) -> list[str]:
    """Each batch of 8 was queued whole before it was taken: highest priority first, in the
    order sent within a priority (ipc.c's producer)."""
    out = []
    for b in range(batches):
        msgs = [((m * 5 + b) % 4, m) for m in range(8)]
        for prio, m in sorted(msgs, key=lambda e: (-e[0], e[1])):
            out.append(f"{prio} batch {b} message {m}")
    return out


def test_producer_and_consumer_on_different_clusters_in_priority_order(programs: Programs) -> None:
    b = programs["ipc"]
    c = Chip.preset("mppa256")
    cons = c.spawn(b.elf, ["ipc", "consumer", "pc", "6"], cluster=15)  # first: it waits for them
    prod = c.spawn(b.elf, ["ipc", "producer", "pc", "6"], cluster=0)
    c.run()
    assert prod.returncode == 0 and prod.stdout == b"producer sent 48\n", prod.stdout
    assert cons.returncode == 0, cons.stdout
    assert cons.stdout.decode().splitlines() == expected_consumer(6)
    assert prod.record.syscalls["mq_timedreceive_time64"] > 6  # made again after waiting for acks
    assert_no_frame_leak(c)


def test_the_same_programs_natively(programs: Programs) -> None:
    """The test's expectation is what Linux does with the same source."""
    b = programs["ipc"]
    name = f"shoal-test-{id(b) & 0xFFFF}"
    cons = subprocess.Popen(["ipc", "consumer", name, "3"], executable=str(b.native),
                            stdout=subprocess.PIPE)
    prod = subprocess.run(["ipc", "producer", name, "3"], executable=str(b.native),
                          capture_output=True, timeout=60)
    out, _ = cons.communicate(timeout=60)
    if prod.returncode != 0 and b"errno 38" in prod.stdout:
        pytest.skip("no POSIX message queues on this host")
    assert prod.returncode == 0 and cons.returncode == 0, prod.stdout
    assert out.decode().splitlines() == expected_consumer(3)


def test_a_counter_under_a_named_semaphore_is_exact_across_clusters(programs: Programs) -> None:
    """Four processes on four clusters increment a counter kept in a file (the shared memory
    of part 3 is not used here) under one named semaphore: no update is lost."""
    b = programs["ipc"]
    c = Chip.preset("tiny")
    procs = [c.spawn(b.elf, ["ipc", "counter", "40"], cluster=i) for i in range(4)]
    c.run()
    for p in procs:
        assert p.returncode == 0 and p.stdout == b"counted 40\n", p.stdout
    assert struct.unpack("<i", dict(c.fs_tree())["counter"])[0] == 160
    assert procs[0].record.syscalls["shoal_sem_wait"] > 40  # some waited for the semaphore
    assert_no_frame_leak(c)


def test_every_misuse_gives_the_linux_errno_and_timeouts_are_in_simulated_time(programs: Programs) -> None:
    b = programs["ipc"]
    native = subprocess.run(["ipc", "errors"], executable=str(b.native), capture_output=True, timeout=60)
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["ipc", "errors"], cluster=3)
    c.run()
    assert p.returncode == 0, p.stdout
    if native.returncode == 0:
        assert p.stdout.decode() == native.stdout.decode()
    out = p.stdout.decode()
    for line in ("mq_timedsend_full -110", "mq_send_nonblock_full -11", "mq_receive_small_buffer -90",
                 "sem_timedwait_zero -110", "sem_trywait_zero -11", "waited at least 40 ms 1"):
        assert line in out
    assert p.record.end_cycle / c.spec.cluster.freq_hz > 0.12  # the three timeouts' 120 ms, simulated


def test_unnamed_semaphores_stay_musls(programs: Programs) -> None:
    b = programs["ipc"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["ipc", "unnamed"], cluster=1)
    c.run()
    assert p.stdout == b"unnamed: 100 rounds, value 0, trywait 11\n"
    assert "shoal_sem_wait" not in p.record.syscalls  # futexes, in its own memory


@pytest.mark.parametrize("method", ["stopcopy", "postcopy"])
def test_processes_moved_while_they_hold_queues_and_semaphores_go_on(
        programs: Programs, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    b = programs["ipc"]
    backed_out: list[str] = []
    back_out = freeze.back_out

    def spy(k: object, t: object) -> None:
        backed_out.append(t.blocked_on)  # type: ignore[attr-defined]
        back_out(k, t)  # type: ignore[arg-type]
    monkeypatch.setattr(freeze, "back_out", spy)
    c = Chip.preset("tiny")
    cons = c.spawn(b.elf, ["ipc", "consumer", "mv", "8"], cluster=1)
    prod = c.spawn(b.elf, ["ipc", "producer", "mv", "8"], cluster=2)
    counters = [c.spawn(b.elf, ["ipc", "counter", "30"], cluster=i) for i in (0, 3)]
    start = c.time
    for i in range(5):
        at = start + 100_000 + i * 230_000
        c.schedule_migration(cons.pid, (1 + i + 1) % 4, at, method)
        c.schedule_migration(prod.pid, (2 + i + 1) % 4, at + 110_000, method)
        c.schedule_migration(counters[0].pid, (i + 1) % 4, at + 50_000, method)
    c.run()
    assert "rpc:ipc_wait" in backed_out  # a wait at the daemon was backed out and made again
    assert cons.stdout.decode().splitlines() == expected_consumer(8)
    assert prod.returncode == 0 and cons.returncode == 0
    assert all(p.returncode == 0 for p in counters)
    assert struct.unpack("<i", dict(c.fs_tree())["counter"])[0] == 60
    moved = [m for p in (cons, prod, counters[0]) for m in p.migrations if m.state == "done"]
    assert len(moved) >= 12, [(m.pid, m.state) for p in (cons, prod, counters[0]) for m in p.migrations]
    assert_no_frame_leak(c)


def test_shoal_cc_builds_a_stock_semaphore_program_unchanged(tmp_path: Path) -> None:
    from conftest import PROGRAMS, shoal_cli
    elf = tmp_path / "ipc.elf"
    res = shoal_cli("cc", str(PROGRAMS / "ipc.c"), "-o", str(elf))
    assert res.returncode == 0, res.stderr
    obj = tmp_path / "ipc.o"  # compiling only: nothing of shoal's is added
    assert shoal_cli("cc", "-c", str(PROGRAMS / "ipc.c"), "-o", str(obj)).returncode == 0
    res = shoal_cli("run", "--chip", "tiny", str(elf), "counter", "5")
    assert res.returncode == 0 and res.stdout == b"counted 5\n", res.stderr


def test_a_caught_signal_cuts_queue_and_semaphore_waits_short(programs: Programs) -> None:
    """mq_receive, mq_send and sem_wait asleep at the IPC daemon: EINTR without SA_RESTART,
    made again with it (the other party is a forked child), as the host build does."""
    from conftest import assert_same, outcome, run_native, run_shoal
    b = programs["mq_intr"]
    p, c = run_shoal(b, [str(b.native)])
    assert_same(p, run_native(b, [str(b.native)]))
    assert p.stdout.count(b"handler ran 1") == 6, outcome(p)


@pytest.mark.parametrize("kib", ["0", "700"], ids=["same-cluster", "child-elsewhere"])
def test_a_forked_child_inherits_named_semaphores_and_queues(programs: Programs, kib: str) -> None:
    """The child of a fork posts, waits and sends through its parent's named semaphores and
    queue descriptors (unlinked ones too), its closes leave the parent's open (Open POSIX
    fork/14-1, 21-1: the daemon knew the handles by the opener's pid only: EINVAL). With
    700 KiB touched the child is built on another cluster of tiny."""
    from conftest import assert_same, run_native, run_shoal
    b = programs["fork_named_ipc"]
    p, c = run_shoal(b, ["fork_named_ipc", kib])
    assert_same(p, run_native(b, ["fork_named_ipc", kib]))
    assert b"child: post b ok" in p.stdout
    kids = [r.cluster for r in c.processes() if r.pid != p.pid]
    assert kids == ([0] if kib == "0" else [1]), kids
    assert c.daemon_stats()["ipc_objects"] == 0  # every handle closed: the objects went
    assert_no_frame_leak(c)


def test_semaphore_names_as_long_as_linux_takes_them(programs: Programs) -> None:
    """NAME_MAX - 4 bytes (glibc's /dev/shm/sem.NAME), one more ENAMETOOLONG for sem_open and
    sem_unlink (255 was taken: Open POSIX sem_unlink/5-1); PATH_MAX bytes ENAMETOOLONG too,
    as POSIX says (glibc: EINVAL, ENOENT)."""
    from conftest import run_native, run_shoal
    b = programs["sem_names"]
    p, _ = run_shoal(b, ["sem_names"])
    want = run_native(b, ["sem_names"]).stdout.decode().splitlines()
    got = p.stdout.decode().splitlines()
    assert p.returncode == 0
    assert [x for x in got if not x.startswith("4095")] == [x for x in want if not x.startswith("4095")]
    assert "4095 bytes: sem_open ENAMETOOLONG, sem_unlink ENAMETOOLONG" in got
    assert " 252 bytes: sem_open ENAMETOOLONG, sem_unlink ENAMETOOLONG" in got


@pytest.mark.parametrize("chip", ["tiny", "mppa256"])
def test_mq_notify_signals_the_registered_process_once(programs: Programs, chip: str) -> None:
    """tests/programs/mq_notify.c: the registrant gets SIGUSR1 with SI_MESGQ, its value and
    the sender's pid when a forked child's message comes to the empty queue, once; EBUSY,
    SIGEV_NONE, removal, the null signal, EINVAL and EBADF as the host build (it was ENOSYS)."""
    from conftest import assert_same, run_native
    b = programs["mq_notify"]
    c = Chip.preset(chip)
    p = c.spawn(b.elf, [str(b.native)], cluster=0)
    c.run()
    assert_same(p, run_native(b, [str(b.native)]))
    assert b"notified: hits 1 code SI_MESGQ 1 value 77 from the sender 1" in p.stdout

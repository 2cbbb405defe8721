"""fcntl record locks (issue 22, part 5): tests/programs/reclock.c on the chip and natively
(host gcc) prints the same bytes: conflicts, F_GETLK, F_SETLKW waiting and EDEADLK, a close
dropping the process's locks, OFD locks, merging and splitting, errors. The lock table is the
file server's, so two processes on two clusters see each other's locks, also after a move."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Programs, assert_same, run_native, run_shoal

from shoal import Chip


def test_record_locks_as_native(programs: Programs, tmp_path: Path) -> None:
    b = programs["reclock"]
    p, _ = run_shoal(b, ["reclock", "/tmp"])
    assert_same(p, run_native(b, ["reclock", str(tmp_path)]))
    assert b"child getlk wr 0- 0 type 1 start 0 len 20 holder expected\n" in p.stdout
    assert b"child setlkw 60-70 -35\n" in p.stdout  # EDEADLK
    assert not p.record.unknown_syscalls, p.record.unknown_syscalls


@pytest.mark.parametrize("move", [False, True])
def test_a_lock_is_seen_and_waited_for_from_another_cluster(programs: Programs, move: bool) -> None:
    b = programs["reclock"]
    c = Chip.preset("tiny")
    holder = c.spawn(b.elf, ["reclock", "hold", "/tmp/shared"], cluster=0)
    if move:  # the holder moves while it holds the lock: the lock is still its own
        c.run(until=lambda: b"hold 0" in holder.stdout)
        holder.migrate(2)
    probe = c.spawn(b.elf, ["reclock", "probe", "/tmp/shared"], cluster=1)
    c.run()
    assert holder.returncode == 0 and probe.returncode == 0, (holder.message, probe.message)
    assert holder.stdout == b"hold 0\nunlock 0\n"
    # F_WRLCK held over the whole file; F_SETLK refused (EAGAIN); F_SETLKW granted at the unlock
    assert probe.stdout == b"probe sees type 1 len 0\nprobe setlk -11\nprobe setlkw 0\n"
    assert holder.cluster == (2 if move else 0)


def test_lock_ranges_at_their_edges_as_native(programs: Programs, tmp_path: Path) -> None:
    """Linux's range rules: EOVERFLOW for a range past OFFSET_MAX (from SEEK_SET, SEEK_CUR or
    SEEK_END, on files and pipes alike, OFD locks too), EINVAL before byte 0."""
    b = programs["reclock_edges"]
    p, _ = run_shoal(b, ["reclock_edges", "/tmp"])
    assert_same(p, run_native(b, ["reclock_edges", str(tmp_path)]))
    assert b"ovf: -1 75\n" in p.stdout and b"pipe ovf: -1 75\n" in p.stdout
    assert b"ovf edge: 0 0\n" in p.stdout


def test_locks_a_guest_makes_are_bounded(programs: Programs) -> None:
    """Each lock costs the host memory and every request a scan: the file server holds
    LOCKS_MAX of them (ENOLCK past it, Linux's answer when lock memory runs out), for new locks
    and for unlocks that split one; a lock over the whole file still replaces them all."""
    from shoal.daemons.fslocks import LOCKS_MAX
    b = programs["reclock_edges"]
    n = LOCKS_MAX + 100
    p, _ = run_shoal(b, ["reclock_edges", "many", str(n), "/tmp"])
    assert p.returncode == 0, p.message
    assert p.stdout == (f"many {n} ok {LOCKS_MAX} err 37 whole 0\n"
                        f"split {LOCKS_MAX - 1} err 37\n").encode()


def test_a_signal_ends_or_restarts_a_lock_wait_as_native(programs: Programs, tmp_path: Path) -> None:
    """F_SETLKW is cut short by a handled signal (EINTR; the alarm idiom deadlocked before:
    the wait was never cut), made again with SA_RESTART, and a waiter killed leaves no wait
    behind (the next process gets the lock)."""
    b = programs["reclock_signal"]
    p, _ = run_shoal(b, ["reclock_signal", "/tmp"])
    assert_same(p, run_native(b, ["reclock_signal", str(tmp_path)]), stderr=False)
    assert b"child 2 setlkw -4\n" in p.stdout  # EINTR
    assert b"child 4 setlkw 0 handler ran 1\nparent unlock 0\nchild 3 setlk 0\n" in p.stdout


@pytest.mark.parametrize("method", ["stopcopy", "postcopy"])
def test_a_process_waiting_for_a_lock_moves(programs: Programs, method: str) -> None:
    """A process waits in F_SETLKW (which may be for ever) when asked to move: the freeze lets
    the wait go at the file server and the call is made again at the destination, where the
    lock comes at the holder's unlock (before, the move waited for the lock and never came
    while the holder held it)."""
    b = programs["reclock"]
    c = Chip.preset("tiny")
    holder = c.spawn(b.elf, ["reclock", "hold", "/tmp/shared"], cluster=0)
    probe = c.spawn(b.elf, ["reclock", "probe", "/tmp/shared"], cluster=1)
    c.run(max_cycles=c.spec.cluster.freq_hz // 50)  # 20 ms: the probe waits (10 ms to 30 ms)
    probe.migrate(2, method=method)
    c.run()
    assert holder.returncode == 0 and probe.returncode == 0, (holder.message, probe.message)
    assert probe.stdout == b"probe sees type 1 len 0\nprobe setlk -11\nprobe setlkw 0\n"
    assert probe.cluster == 2
    m = probe.migrations[-1]
    assert m.dst == 2 and m.state == "done" and m.thawed is not None, m
    assert m.thawed < c.spec.cluster.freq_hz * 3 // 100  # moved while it waited (the unlock: 30 ms)


def test_a_circle_of_three_lock_waiters_is_edeadlk_as_native(programs: Programs, tmp_path: Path) -> None:
    """The owner that closes a circle of three F_SETLKW waits gets EDEADLK (the check looked
    one owner deep: all three were killed as deadlocked)."""
    b = programs["reclock_chain"]
    p, _ = run_shoal(b, ["reclock_chain", "/tmp"])
    assert p.returncode == 0, p.message
    assert p.stdout == b"parent holds 0: 0\nparent waits for 1: -35\nchild 1 waited: 0\nchild 0 waited: 0\n"
    # the host build: which one closes the circle is up to its scheduler (sleeps order them)
    native = run_native(b, ["reclock_chain", str(tmp_path)])
    assert native.returncode == 0 and native.stdout.count(b": -35\n") == 1, native.stdout

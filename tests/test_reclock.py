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

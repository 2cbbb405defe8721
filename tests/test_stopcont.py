"""Stop and continue signals (issue 22): tests/programs/stopcont.c against the host build, its
children on the parent's cluster and on another, and a stopped child migrated while stopped
(it stays stopped there until SIGCONT)."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native, shoal_cli

from shoal import Chip


def check(programs: Programs, mode: str, move_stopped_to: int | None = None) -> tuple[object, Chip]:
    b = programs["stopcont"]
    argv = [str(b.native), mode]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    if move_stopped_to is not None:
        while b"after the stop" not in p.stdout:  # the first child is stopped: the parent naps
            c.run(max_cycles=c.time + 200_000)
        kid = next(r for r in c.processes() if r.pid != p.pid)
        c.migrate(kid.pid, move_stopped_to)
    c.run()
    assert p.done
    native = run_native(b, argv)
    assert native.returncode == 0 and b"stopped by 19" in native.stdout
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode
    return p, c


@pytest.mark.parametrize("mode", ["together", "apart"])
def test_stop_continue_and_wait_as_linux(programs: Programs, mode: str) -> None:
    p, c = check(programs, mode)
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 3
    assert all((r.cluster != p.record.cluster) == (mode == "apart") for r in kids)


def test_a_stopped_child_migrates_and_stays_stopped(programs: Programs) -> None:
    p, c = check(programs, "apart", move_stopped_to=2)
    first = min(r.pid for r in c.processes() if r.pid != p.pid)
    assert next(r for r in c.processes() if r.pid == first).cluster == 2
    assert [m.pid for m in c.migrations] == [first]


def test_same_simulated_time_every_run(programs: Programs) -> None:
    _, a = check(programs, "together")
    _, b = check(programs, "together")
    assert a.time == b.time


def test_a_process_nothing_can_continue_ends_as_a_deadlock(programs: Programs) -> None:
    b = programs["stopcont"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["stopcont", "alone"], cluster=0)
    c.run()
    assert p.stdout == b"before\n" and p.returncode == 128 + 9
    assert p.message == "killed: deadlock (stopped by SIGSTOP and nothing can continue it)"


def test_the_cli_says_so_in_one_line(programs: Programs) -> None:
    res = shoal_cli("run", "--chip", "tiny", str(programs["stopcont"].elf), "alone")
    assert res.returncode == 128 + 9 and res.stdout == b"before\n"
    assert res.stderr.decode().count("\n") == 1 and "stopped by SIGSTOP" in res.stderr.decode()
    assert "Traceback" not in res.stderr.decode()

"""poll, ppoll, select and pselect (issue 22 part 3): tests/programs/poll.c, one mode per test,
on the chip and natively (host gcc) with the same argv; stdout and exit status must be the
same bytes."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip


def run_both(programs: Programs, mode: str, stdin: bytes = b"") -> object:
    b = programs["poll"]
    argv = [str(b.native), mode]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0, stdin=stdin)
    c.run()
    assert p.done
    native = run_native(b, argv, stdin=stdin)
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode, p.message
    return p


@pytest.mark.parametrize("mode", ["basic", "errors", "wait"])
def test_mode_as_native(programs: Programs, mode: str) -> None:
    run_both(programs, mode)


def test_stdin_is_ready_with_data_and_at_its_end(programs: Programs) -> None:
    p = run_both(programs, "stdin", stdin=b"some input\n")
    assert b"read 11\n" in p.stdout


def test_a_waiting_poll_migrates_and_keeps_its_deadline(programs: Programs) -> None:
    """Frozen mid-wait, the poll is made again on the new cluster with the deadline it had."""
    b = programs["poll"]
    argv = [str(b.native), "nap"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run(max_cycles=c.time + 4_000_000)  # 10 ms in: asleep in poll
    assert not p.done
    c.migrate(p.pid, 1)
    c.run()
    assert p.done and p.record.cluster == 1
    assert p.stdout == run_native(b, argv).stdout, p.message


@pytest.mark.parametrize("mode,to", [("together", None), ("apart", None), ("together", 2), ("apart", 2)])
def test_pipe_ends_away_from_their_pipe(programs: Programs, mode: str, to: int | None) -> None:
    """tests/programs/pollapart.c: a forked child polls and selects on ends of its parent's
    pipes, on the parent's cluster and on another (its ends away from their pipe's home), and
    moved mid-run (while it waits in poll or select) to a third."""
    b = programs["pollapart"]
    argv = [str(b.native), mode]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    if to is not None:
        while len(c.processes()) < 2:
            c.run(max_cycles=c.time + 20_000)
        c.run(max_cycles=c.time + 3_000_000)
        c.migrate(next(r for r in c.processes() if r.pid != p.pid).pid, to)
    c.run()
    assert p.done
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 1
    apart = kids[0].cluster != p.record.cluster
    assert kids[0].cluster == to if to is not None else apart == (mode == "apart")
    native = run_native(b, argv)
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode, p.message

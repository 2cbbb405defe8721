"""Pipes whose ends are on two clusters (issue 22 part 3): tests/programs/pipes2.c, a parent and
its forked child, on one cluster and on two, and with the child moved mid-run; against the
host build."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip
from shoal.errors import ShoalError


def run(programs: Programs, mode: str, move_to: int | None = None) -> tuple[object, Chip]:
    b = programs["pipes2"]
    argv = [str(b.native), mode]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    if move_to is not None:
        while len(c.processes()) < 2:
            c.run(max_cycles=c.time + 20_000)
        child = next(r for r in c.processes() if r.pid != p.pid)
        c.run(max_cycles=c.time + 200_000)
        c.migrate(child.pid, move_to)
    c.run()
    assert p.done
    native = run_native(b, argv)
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode
    return p, c


@pytest.mark.parametrize("mode", ["together", "apart"])
def test_a_pipe_between_parent_and_child(programs: Programs, mode: str) -> None:
    p, c = run(programs, mode)
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 1 and (kids[0].cluster != p.record.cluster) == (mode == "apart")


@pytest.mark.parametrize("mode,to", [("together", 2), ("apart", 2)])
def test_the_child_moves_mid_run(programs: Programs, mode: str, to: int) -> None:
    """Its ends go with it: from the pipe's cluster to another, or between two others."""
    p, c = run(programs, mode, move_to=to)
    kid = next(r for r in c.processes() if r.pid != p.pid)
    assert kid.cluster == to


def test_a_pipe_holder_is_still_not_checkpointed(programs: Programs) -> None:
    b = programs["pipes2"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), "together"], cluster=0)
    while len(c.processes()) < 2:
        c.run(max_cycles=c.time + 20_000)
    child = next(r for r in c.processes() if r.pid != p.pid)
    with pytest.raises(ShoalError, match="cannot be checkpointed"):
        c.checkpoint(child.pid)
    c.run()
    assert p.done

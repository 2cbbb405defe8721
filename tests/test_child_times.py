"""Children's CPU times (kernel/calls/sysinfo.py): tests/programs/child_times.c on the chip and
natively (host gcc) prints the same: times()' tms_cutime/tms_cstime and getrusage
(RUSAGE_CHILDREN) start at 0 in a fork's child (fork/8-1), count a child once reaped (not one
waited for with WNOWAIT), and a grandchild its parent reaped; here and with the child moved to
another cluster."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip


@pytest.mark.parametrize("apart", [False, True])
def test_reaped_childrens_times_as_linux(programs: Programs, apart: bool) -> None:
    b = programs["child_times"]
    native = run_native(b, ["child_times"])
    assert native.returncode == 0
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["child_times"], cluster=0)
    if apart:  # the first child burns its CPU time on cluster 2
        c.run(until=lambda: len(c.processes()) == 2)
        c.migrate(c.processes()[1].pid, 2)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == native.stdout
    out = p.stdout.decode()
    assert "fresh child: 0, rusage 0" in out and "reaped: >= 2 ticks of 100: 1" in out
    assert "grandchild counted too: 1" in out and "zombie not counted: 1" in out
    if apart:
        assert c.processes()[1].cluster == 2

"""CPU-time clocks by id (kernel/calls/time.py): tests/programs/cpuclock.c on the chip and
natively (host gcc) prints the same: clock_getcpuclockid/pthread_getcpuclockid's dynamic ids read
by clock_gettime and clock_getres for the caller, its threads and a forked child, on the caller's
cluster or moved to another (asked by a packet routed by pid); EINVAL for a thread clock of
another process, a bad id, a reaped child (clock_getcpuclockid: ESRCH), a sleep on its own
thread's clock."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip


@pytest.mark.parametrize("apart", [False, True])
def test_cpu_clocks_by_id_as_linux(programs: Programs, apart: bool) -> None:
    b = programs["cpuclock"]
    native = run_native(b, ["cpuclock"])
    assert native.returncode == 0
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["cpuclock"], cluster=0)
    if apart:
        c.run(until=lambda: len(c.processes()) == 2)
        c.migrate(c.processes()[1].pid, 3)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == native.stdout
    out = p.stdout.decode()
    assert "child process: errno 0 positive 1" in out and "getcpuclockid(missing): 3" in out
    assert "getcpuclockid(init): 0\ninit: errno 0" in out
    assert "child's thread: errno 22" in out and "reaped child getres: -1 errno 22" in out
    if apart:
        assert c.processes()[1].cluster == 3


def test_cpu_clock_values_are_the_same_every_run(programs: Programs) -> None:
    """The simulated CPU time a program reads is deterministic (the model's cycles)."""
    outs = set()
    for _ in range(2):
        c = Chip.preset("tiny")
        p = c.spawn(programs["cpuclock"].elf, ["cpuclock"])
        c.run()
        outs.add((p.stdout, p.cycles))
    assert len(outs) == 1

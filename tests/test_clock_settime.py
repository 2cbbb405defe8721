"""clock_settime (kernel/calls/time.py): tests/programs/clock_set.c. Its error paths against the
host build (run as root; none of them sets anything): only CLOCK_REALTIME is settable, by root;
EINVAL for the other clocks and a bad time, EPERM for a CPU-time clock's id and for a user. Its
settings on the chip only (a host's clock is not a test's to move), against Linux's documented
behaviour: the time set is read back, absolute CLOCK_REALTIME sleeps and timers follow a set,
relative ones and CLOCK_MONOTONIC do not, and a process on another cluster reads the chip's
time as set; the same every run."""

from __future__ import annotations

import pytest
from conftest import ROOT, Programs, assert_same, run_native, run_shoal

from shoal import Chip

SET = (b"set 2030: 0 errno 0\nread back: 1893456000 s, within 1 ms: 1\nmonotonic went on: 1\n"
       b"jump 20 s: 0\nabsolute sleep woke at the jump: rc 0, after 100-110 ms: 1\n"
       b"relative sleep kept its 300 ms: rc 0, 1\njump 2 h: 0\n"
       b"absolute timer fired: 1; relative one still armed, > 3599 s left: 1\n"
       b"set 2031: 0 errno 0\nchild read 1924992000 s\n")


def test_clock_settime_errors_as_linux(programs: Programs) -> None:
    b = programs["clock_set"]
    p, _ = run_shoal(b, ["clock_set"], user=ROOT)
    assert_same(p, run_native(b, ["clock_set"]))
    out = p.stdout.decode()
    assert "MONOTONIC: -1 errno 22" in out and "process clock by id: -1 errno 1" in out
    assert "user REALTIME: -1 errno 1" in out and "user REALTIME nsec 1e9: -1 errno 22" in out


@pytest.mark.parametrize("apart", [False, True])
def test_a_set_is_read_back_and_followed_by_absolute_waits_on_every_cluster(programs: Programs,
                                                                           apart: bool) -> None:
    c = Chip.preset("tiny", user=ROOT)
    p = c.spawn(programs["clock_set"].elf, ["clock_set", "set"], cluster=0)
    if apart:  # the child waits on cluster 3 while its parent sets the clock on cluster 0
        c.run(until=lambda: len(c.processes()) == 2)
        c.migrate(c.processes()[1].pid, 3)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == SET
    if apart:
        assert c.processes()[1].cluster == 3


def test_a_set_is_the_same_every_run(programs: Programs) -> None:
    runs = set()
    for _ in range(2):
        p, _ = run_shoal(programs["clock_set"], ["clock_set", "set"], user=ROOT)
        runs.add((p.stdout, p.cycles))
    assert len(runs) == 1

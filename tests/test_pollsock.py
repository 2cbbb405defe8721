"""poll, ppoll, select and pselect on sockets and POSIX message queues (issue 22): readiness
asked of I/O cluster 0 (daemons/polls.py), waits parked there and answered when a socket or
queue changes, timeouts, a signal cutting a wait short; tests/programs/pollsock.c with its
forked child on the parent's cluster, on another, and moved mid-run, and a poller migrated in
the middle of its waits; against the host build."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip


def run(programs: Programs, mode: str, move_child_to: int | None = None) -> tuple[object, Chip]:
    b = programs["pollsock"]
    argv = [str(b.native), mode]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    if move_child_to is not None:
        while len(c.processes()) < 2:
            c.run(max_cycles=c.time + 20_000)
        child = next(r for r in c.processes() if r.pid != p.pid)
        c.run(max_cycles=c.time + 400_000)  # 1 ms: the child sleeps before it connects
        c.migrate(child.pid, move_child_to)
    c.run()
    assert p.done
    native = run_native(b, argv)
    assert native.returncode == 0 and b"Interrupted system call" in native.stdout
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode
    assert c.daemon_stats()["polls_waiting"] == 0  # no query left parked
    return p, c


@pytest.mark.parametrize("mode", ["together", "apart"])
def test_readiness_waits_and_timeouts_as_linux(programs: Programs, mode: str) -> None:
    p, c = run(programs, mode)
    kid = next(r for r in c.processes() if r.pid != p.pid)
    assert (kid.cluster != p.record.cluster) == (mode == "apart")
    assert "ppoll_time64" in p.syscalls and "pselect6_time64" in p.syscalls


def test_the_child_moves_mid_run(programs: Programs) -> None:
    p, c = run(programs, "together", move_child_to=2)
    assert next(r for r in c.processes() if r.pid != p.pid).cluster == 2


def test_same_simulated_time_every_run(programs: Programs) -> None:
    _, a = run(programs, "apart")
    _, b = run(programs, "apart")
    assert a.time == b.time and a.noc_stats() == b.noc_stats()


@pytest.mark.parametrize("at_ms", [50, 150])
def test_a_poller_migrates_mid_wait_and_keeps_its_deadline(programs: Programs, at_ms: int) -> None:
    """Moved during its first (50 ms) or second (150 ms) wait of 100 ms: the wait is made again
    on the new cluster with the deadline it had, asks the server anew, and times out then."""
    b = programs["pollsock"]
    argv = [str(b.native), "nap"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run(max_cycles=c.time + at_ms * 400_000)
    assert not p.done
    c.migrate(p.pid, 1)
    c.run()
    assert p.done and p.record.cluster == 1
    assert p.stdout == run_native(b, argv).stdout, p.message
    assert 200 <= c.spec.cycles_to_seconds(c.time) * 1000 < 210  # two 100 ms timeouts, kept
    assert c.daemon_stats()["polls_waiting"] == 0

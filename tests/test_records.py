"""What the host keeps of the processes a guest makes is bounded by what runs, not by all that
ever ran (kernel/records.py, daemons/procman.py): a guest that forks and reaps in a loop left a
whole container per child on its kernel (~6 KB, with its threads and tables) and a record per
child in the process manager, whose waits scanned them all (8,000 forks took 12 s of host time,
4x the time of 2,000; now linear). Ended processes become plain records; of those made by
guests the latest ENDED_KEPT per cluster are kept, older ones counted; the host's own are
always kept."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import PROGRAMS, Programs, assert_same, run_native, run_shoal

from shoal import Chip
from shoal.kernel import records

N = 60


def _totals(c: Chip) -> tuple[int, int, int]:
    recs = c.processes()
    f = c.folded_processes()
    return (len(recs) + f["processes"], sum(r.signal is not None for r in recs) + f["killed"],
            sum(r.instructions for r in recs) + f["instructions"])


def test_records_of_a_fork_loop_are_bounded_and_add_up(programs: Programs,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    b = programs["fork_reap"]
    p, whole = run_shoal(b, ["fork_reap", str(N)])
    assert_same(p, run_native(b, ["fork_reap", str(N)]))
    assert whole.folded_processes() == {"processes": 0, "killed": 0, "instructions": 0}
    every = _totals(whole)
    assert every[0] == 1 + N + N // 10 and every[1] == N // 5, every  # the parent, children, orphans

    monkeypatch.setattr(records, "ENDED_KEPT", 8)
    first = p.stdout
    p, kept = run_shoal(b, ["fork_reap", str(N)])
    assert p.stdout == first
    recs = kept.processes()
    assert recs[0].pid == p.pid and recs[0].state == "exited"  # the host's own: always kept
    assert len(recs) <= 1 + 8 * kept.spec.compute_clusters
    assert kept.folded_processes()["processes"] > 0
    assert _totals(kept) == every  # nothing lost from the sums: counted, not listed
    # the latest ones are those kept, whole
    latest = [r for r in whole.processes() if r.pid in {q.pid for q in recs}]
    assert latest == [r for r in recs if r.pid in {q.pid for q in latest}]
    # the process manager holds what runs and the zombies not yet reaped: nothing, at the end
    assert kept._backend.io.procman.procs == {} and kept._backend.io.procman.kin.children == {}


def test_a_host_process_that_ended_early_keeps_its_record(programs: Programs,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned by the host, ended first, moved before it ended: its handle still reads its
    exit after thousands of guest processes ended on the same cluster."""
    monkeypatch.setattr(records, "ENDED_KEPT", 4)
    b = programs["fork_reap"]
    c = Chip.preset("tiny")
    first = c.spawn(b.elf, ["fork_reap", "3"], cluster=1)
    c.schedule_migration(first.pid, 0, at=20_000)
    c.run()
    loop = c.spawn(b.elf, ["fork_reap", "30"], cluster=0)
    c.run()
    assert first.returncode == 0 and first.stdout == b"children 3 exit codes 3 killed 0\n"
    assert loop.stdout == b"children 30 exit codes 70 killed 6\n"
    assert [m.state for m in c.migrations] == ["done"]
    assert c.folded_processes()["processes"] > 0
    assert {first.pid, loop.pid} <= {r.pid for r in c.processes()}


def test_stats_say_what_was_folded(monkeypatch: pytest.MonkeyPatch) -> None:
    code = ("import sys\nfrom shoal.kernel import records\nrecords.ENDED_KEPT = 4\n"
            "from shoal.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    res = subprocess.run([sys.executable, "-c", code, "run", "--chip", "tiny", "--stats",
                          str(PROGRAMS / "fork_reap.c"), "20"], capture_output=True, timeout=300)
    out, err = res.stdout.decode(), res.stderr.decode()
    assert (res.returncode, out) == (0, "children 20 exit codes 46 killed 4\n"), err[-2000:]
    assert "earlier processes that ended (" in err and "records not kept" in err, err
    assert "more processes made by the program were killed" in err, err


@pytest.mark.parametrize("method", ["stopcopy", "precopy", "postcopy"])
def test_a_process_moved_to_and_fro_leaves_nothing_behind(programs: Programs, method: str) -> None:
    """Each move left the source's copy of the container (held by the record's `caller`, a
    field nobody read) and the move's page sets: ~10 KB of host memory per move. The record
    stays (Chip.migrations); its working state and the old copy go."""
    b = programs["mig_bounce"]
    c = Chip.preset("tiny", migration=method)
    p = c.spawn(b.elf, ["mig_bounce", "30"])
    c.run()
    assert_same(p, run_native(b, ["mig_bounce", "30"]))
    assert len(c.migrations) == 30 and all(m.state == "done" for m in c.migrations)
    kernels = c._backend.kernels
    copies = sum(len(k.stats.all_procs) for k in kernels)
    assert copies == 1, copies  # the one that ended (its record made when a container comes next)
    for k in kernels:
        for m in k.migration.log:
            assert (m.proc, m.image, m.stale, m.at_dst, m.per_page, m.remaining) == \
                (None, b"", set(), set(), {}, [])

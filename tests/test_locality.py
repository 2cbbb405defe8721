"""Issue 21's locality experiments (shoal/experiments/locality.py) and the L1 model's place in
traces and migration records. The workload is warmset.c (shoal/experiments/programs), whose
output a host gcc build gives; the expectations come from the cache's geometry:

- E2: an 8 KiB direct-mapped D-cache indexes with bit 12, so a data set of 8 KiB whose pages
  all sit on one colour (scattered frames) misses on every line it reads, each round; in
  contiguous frames it fits. With 2 or 4 ways, index + offset lie within the page offset, so
  the placement cannot change a single count (the model must have this property).
- E3: a process moved to a core that never held it refills at least its data set's lines,
  while it runs exactly the accesses of the same program unmoved.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shoal import Chip
from shoal.errors import ShoalError
from shoal.experiments import locality as ex
from shoal.kernel.memory import FrameAllocator
from shoal.platform import unicorn_build
from shoal.spec import ChipSpec
from tests.conftest import assert_one_line_error, shoal_cli

needs_model = pytest.mark.skipif(unicorn_build.library()[0] is None or sys.platform != "linux",
                                 reason="the cache model needs shoal's patched Unicorn on x86-64 Linux")
ON = ChipSpec.preset("mppa256")
LINE = ON.cache.cache_line


def test_warmset_checksum_is_the_host_builds(tmp_path: Path) -> None:
    exe = tmp_path / "warmset"
    subprocess.run(["gcc", "-O2", str(ex.WARMSET), "-o", str(exe)], check=True)
    for args in (["6144", "37"], ["8192", "5"]):
        got = subprocess.run([str(exe), *args], capture_output=True, check=True, text=True).stdout
        assert got == ex.checksum(int(args[0]), int(args[1]))


def test_scattered_frames_are_a_permutation_on_one_colour_first() -> None:
    f = FrameAllocator(128, 500, "scattered")
    got = [f.alloc() for _ in range(500)]
    assert sorted(got) == list(range(128, 628))  # every frame, once
    assert len({g & 1 for g in got[:250]}) == 1 and got[:2] != [128, 129]  # one colour, far apart
    f.release(got[7])
    f.release(got[3])
    assert f.alloc() == got[3]  # the order holds for frames given back
    lowest = FrameAllocator(128, 4)
    assert [lowest.alloc() for _ in range(4)] == [128, 129, 130, 131]


def test_a_bad_frame_placement_is_one_line(tmp_path: Path) -> None:
    chip = tmp_path / "chip.toml"
    chip.write_text('base = "mppa256"\nframe_placement = "random"\n')
    with pytest.raises(ShoalError, match="'frame_placement' = 'random' must be one of lowest, scattered"):
        ChipSpec.load(str(chip))
    res = shoal_cli("run", "--chip", str(chip), str(ex.WARMSET), "64", "1")
    assert "frame_placement" in assert_one_line_error(res)


@needs_model
def test_e2_placement_matters_direct_mapped_and_not_with_two_ways() -> None:
    rounds, n = 40, 8192
    lines = n // LINE
    low1 = ex.placement_point(ON, n, 1, 12, "lowest", rounds)
    sc1 = ex.placement_point(ON, n, 1, 12, "scattered", rounds)
    # Scattered, direct-mapped: every line of the data set misses in each round's read.
    assert sc1["load_misses"] >= rounds * lines
    assert low1["load_misses"] < rounds * 8  # contiguous: it fits; a few conflicts with the stack
    assert sc1["loads"] == low1["loads"]
    assert sc1["cycles"] - low1["cycles"] == sc1["stall_cycles"] - low1["stall_cycles"]  # time = stall
    for ways in (2, 4):
        a = ex.placement_point(ON, n, ways, 12, "lowest", rounds)
        b = ex.placement_point(ON, n, ways, 12, "scattered", rounds)
        del a["placement"], b["placement"]
        assert a == b


@needs_model
@pytest.mark.parametrize("method", ex.METHODS)
def test_e3_a_moved_process_refills_its_working_set(method: str) -> None:
    spec = ex.variant(ON, 2, 12)
    ctl = ex.move_run(spec, None)
    mv = ex.move_run(spec, method)
    assert mv.stdout == ctl.stdout == ex.checksum(ex.E3_BYTES, ex.E3_ROUNDS)
    loads, stores, lm, sm, fetches, fm, stall = mv.caches[:7]
    # The same program points: the same loads and stores (a post-copy fault refetches once).
    assert (loads, stores) == ctl.caches[:2] and 0 <= fetches - ctl.caches[4] <= 2
    # Stores never stall (write-through, no allocation), loads and fetches pay 12 cycles a miss.
    assert stall == 12 * (lm + fm) and ctl.caches[6] == 12 * (ctl.caches[2] + ctl.caches[5])
    extra_d = lm - ctl.caches[2]
    assert ex.E3_BYTES // LINE <= extra_d <= ex.E3_BYTES // LINE + 16  # its data set, and a little stack
    assert sm >= ctl.caches[3]  # stores to lines not yet refilled miss too (and cost nothing)
    # The record: the refill falls in the first window after the thaw; the next is warm.
    assert mv.stall_after is not None and mv.stall_next is not None
    assert mv.stall_after >= 12 * (ex.E3_BYTES // LINE) and mv.stall_next < mv.stall_after // 10
    assert mv.stall_after + mv.stall_next <= stall


def _moved_trace(spec: ChipSpec, path: Path) -> tuple[dict, Chip, object]:
    c = Chip(spec, trace=path)
    p = c.spawn(ex.WARMSET, ["warmset", "6144", "300"])
    c.schedule_migration(p.pid, 3, 1_000_000)
    c.run()
    c.write_trace(path)
    return json.loads(path.read_text()), c, p


@needs_model
@pytest.mark.parametrize("method", ["stopcopy", "postcopy"])
def test_the_windows_after_a_move_change_no_simulated_time(method: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices are cut at the windows' ends; a cut must not move any figure."""
    def run() -> tuple:
        r = ex.move_run(ex.variant(ON, 1, 12), method)
        return (r.caches, r.instructions, r.end, r.downtime)
    cut = run()
    monkeypatch.setattr("shoal.kernel.migrate.destination.CACHE_WINDOW", 1 << 40)  # never reached
    assert run() == cut


def _migration_slices(doc: dict) -> list[dict]:
    return [e for e in doc["traceEvents"]
            if e.get("cat") == "migration" and e["ph"] == "X" and "mid" in e["args"]]


@needs_model
def test_trace_has_core_cache_counters_only_with_the_model(tmp_path: Path) -> None:
    doc, _, p = _moved_trace(ON, tmp_path / "on.json")
    assert "caches" in doc["otherData"]["kinds"]
    counters = [e for e in doc["traceEvents"] if e["ph"] == "C" and e["name"].endswith(" L1")]
    last: dict[tuple[int, str], dict] = {}
    for e in counters:  # cumulative per core: the last of each core's track
        last[(e["pid"], e["name"])] = e["args"]
    assert {pid for pid, _ in last} == {0, 3}  # where it ran: cluster 0, then 3
    assert sum(a["stall cycles"] for a in last.values()) == p.record.caches[6]
    assert sum(a["I misses"] for a in last.values()) == p.record.caches[5]
    mig = _migration_slices(doc)
    assert mig[0]["args"]["stall_after"] == p.migrations[0].stall_after > 0
    off, _, q = _moved_trace(ON.replace(caches=False), tmp_path / "off.json")
    assert q.stdout == p.stdout and "caches" not in off["otherData"]["kinds"]
    assert not [e for e in off["traceEvents"] if e["name"].endswith(" L1")]
    mig = _migration_slices(off)
    assert "stall_after" not in mig[0]["args"] and q.migrations[0].stall_after is None


@needs_model
def test_bench_locality_quick_writes_its_files(tmp_path: Path) -> None:
    res = shoal_cli("bench", "locality", "--out", str(tmp_path), "--quick")
    assert res.returncode == 0, res.stderr
    names = {"e1_forkjoin.csv", "e1_totals.csv", "e1_forkjoin.png", "e2_placement.csv", "e2_placement.png",
             "e3_migration.csv", "e3_migration.png"}
    assert names <= {f.name for f in tmp_path.iterdir()}
    e1 = list(csv.DictReader((tmp_path / "e1_totals.csv").open()))
    assert e1 and {r["invalidations"] for r in e1} == {"True", "False"}
    assert b"Seed (k1b): D stall -5.8%" in res.stdout
    e3 = list(csv.DictReader((tmp_path / "e3_migration.csv").open()))
    assert {r["method"] for r in e3} == set(ex.METHODS) and all(int(r["extra_stall"]) > 0 for r in e3)
    one = tmp_path / "one.toml"
    one.write_text('base = "mppa256"\nmesh_width = 1\nmesh_height = 1\n')
    res = shoal_cli("bench", "locality", "--out", str(tmp_path / "x"), "--chip", str(one))
    assert "only 1 compute cluster" in assert_one_line_error(res)

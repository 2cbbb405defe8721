"""Traces (shoal/tools/trace.py): Chrome's Trace Event format in simulated time, for Perfetto."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import PROGRAMS, assert_one_line_error, shoal_cli

from shoal import Chip
from shoal.spec import ChipSpec
from shoal.tools.trace import MIGRATION_TID, MIGRATIONS_PID, Tracer, hart_tid, noc_tid

WORK = str(PROGRAMS / "trace_work.c")
RUN = ("run", "--stats", "--migrate", "1ms:5")
# What trace_work.c computes (4 workers, 200000 steps each), ending on cluster 5.
TOTAL = sum(((i % 1024) * (i % 1024) + t) % 7 for t in range(4) for i in range(200000))
EXPECTED = f"total {TOTAL} on cluster 5\n".encode()


def _run(tmp: Path, name: str, *extra: str) -> tuple[dict, str, bytes]:
    out = tmp / name
    res = shoal_cli(*RUN, "--trace", str(out), *extra, WORK)
    assert res.returncode == 0, res.stderr
    return json.loads(out.read_text()), res.stderr.decode(), res.stdout


def _stats_downtime(stderr: str) -> tuple[int, float]:
    m = re.search(r"downtime (\d+) cycles = ([\d.]+) us simulated", stderr)
    assert m, stderr
    return int(m.group(1)), float(m.group(2))


def _nested(events: list[dict]) -> None:
    """Every track's X slices nest properly (a child ends within its parent)."""
    tracks: dict[tuple[int, int], list[dict]] = {}
    for e in events:
        if e["ph"] == "X":
            tracks.setdefault((e["pid"], e["tid"]), []).append(e)
    for key, evs in tracks.items():
        stack: list[float] = []
        for e in sorted(evs, key=lambda e: (e["ts"], -e["dur"])):
            while stack and e["ts"] >= stack[-1] - 1e-9 and not (e["dur"] == 0 and e["ts"] < stack[-1]):
                stack.pop()
            if stack:
                assert e["ts"] + e["dur"] <= stack[-1] + 1e-6, (key, e)
            stack.append(e["ts"] + e["dur"])


def _well_formed(doc: dict) -> None:
    """What the Trace Event format asks of each event (the fields Perfetto's importer reads)."""
    assert set(doc) == {"traceEvents", "displayTimeUnit", "otherData"}
    for e in doc["traceEvents"]:
        assert e["ph"] in ("M", "X", "C", "s", "f", "i") and isinstance(e["pid"], int) and "name" in e, e
        if e["ph"] != "C":
            assert isinstance(e["tid"], int), e
        if e["ph"] != "M":
            assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
        if e["ph"] == "X":
            assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
        if e["ph"] == "C":
            assert e["args"] and all(isinstance(v, (int, float)) for v in e["args"].values()), e
        if e["ph"] in ("s", "f"):
            assert isinstance(e["id"], int) and e["cat"] == "noc", e


def test_trace_of_a_run_with_a_migration(tmp_path: Path) -> None:
    doc, err, out = _run(tmp_path, "t.json")
    _well_formed(doc)
    assert out == EXPECTED
    meta = doc["otherData"]
    assert meta["clock"] == "simulated" and "simulated microseconds" in meta["timestamps"]
    assert meta["dropped"] == {} and "note" not in meta
    evs = doc["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in evs
             if e["ph"] == "M" and e["name"] == "thread_name"}
    procs = {e["pid"]: e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "process_name"}
    assert procs[0] == "cluster 0" and procs[5] == "cluster 5" and procs[16].startswith("I/O cluster")
    assert names[(0, hart_tid(0, 15))] == "core 15" and names[(5, hart_tid(5, 3))] == "core 3"
    assert names[(0, noc_tid(0))].startswith("NoC")
    # Thread slices, one track per core: the 4 workers and main ran on 5 cores of cluster 0
    # before the move, and go on at cluster 5 after it.
    slices = [e for e in evs if e.get("cat") == "slice"]
    assert len({e["tid"] for e in slices if e["pid"] == 0}) == 5
    assert len({e["tid"] for e in slices if e["pid"] == 5}) >= 2
    assert {e["args"]["pid"] for e in slices} == {2}
    total = sum(e["args"]["instructions"] for e in slices)
    assert f"instructions   : {total} " in err  # every instruction the stats count, in a slice
    calls = [e for e in evs if e.get("cat") == "syscall"]
    m = re.search(r"syscalls       : (\d+) \(", err)
    assert m and len(calls) == int(m.group(1))
    assert {"clone", "futex_time64", "writev", "shoal_cluster"} <= {e["name"] for e in calls}
    _nested(evs)
    # The migration: its slice lasts exactly the downtime --stats prints; the phases tile it.
    cycles, us = _stats_downtime(err)
    mig = [e for e in evs if e.get("cat") == "migration"]
    top = [e for e in mig if e["name"].startswith("migrate")]
    assert len(top) == 1
    top_e = top[0]
    assert top_e["pid"] == MIGRATIONS_PID and top_e["args"]["downtime_cycles"] == cycles
    assert round(top_e["dur"], 1) == us and abs(top_e["dur"] - cycles / 400) < 1e-9
    assert top_e["args"]["src"] == 0 and top_e["args"]["dst"] == 5 and top_e["args"]["pages"] > 0
    phases = sorted((e for e in mig if e is not top_e), key=lambda e: e["ts"])
    assert [e["name"] for e in phases] == ["freeze", "transfer", "rebuild", "commit"]
    assert sum(e["args"]["cycles"] for e in phases) == cycles
    assert phases[0]["ts"] == top_e["ts"]
    assert abs(phases[-1]["ts"] + phases[-1]["dur"] - (top_e["ts"] + top_e["dur"])) < 1e-9
    assert all(e["dur"] > 0 for e in phases)
    # NoC packets: a send on the sender's NoC track, an arrival on the receiver's, one flow.
    starts = {e["id"]: e for e in evs if e["ph"] == "s"}
    ends = {e["id"]: e for e in evs if e["ph"] == "f"}
    assert starts and starts.keys() == ends.keys()
    image = [i for i, e in starts.items() if e["name"] == "mig_image"]
    assert len(image) == 1 and starts[image[0]]["pid"] == 0 and ends[image[0]]["pid"] == 5
    assert ends[image[0]]["ts"] > starts[image[0]]["ts"] and starts[image[0]]["tid"] == noc_tid(0)
    # Counters: free frames on both clusters (fewer at 5 once it holds the process) and link use.
    frames = [e for e in evs if e["ph"] == "C" and e["name"] == "free frames"]
    assert {0, 5} <= {e["pid"] for e in frames}
    links = [e for e in evs if e["ph"] == "C" and e["name"] == "link utilisation"]
    assert any(v > 0.1 for e in links if e["pid"] == 0 for v in e["args"].values())
    assert all(0 <= v <= 1 for e in links for v in e["args"].values())


def test_trace_is_deterministic_and_changes_nothing(tmp_path: Path) -> None:
    a = shoal_cli(*RUN, "--trace", str(tmp_path / "a.json"), WORK)
    shoal_cli(*RUN, "--trace", str(tmp_path / "b.json"), WORK)
    plain = shoal_cli(*RUN, WORK)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()

    def sim(res: object) -> list[str]:  # the simulated lines of --stats (not host times)
        text = res.stderr.decode()  # type: ignore[attr-defined]
        return [re.sub(r"host [\d.]+ ms", "", ln) for ln in text.splitlines() if "host wall" not in ln]
    assert a.stdout == plain.stdout == EXPECTED
    assert sim(a) == sim(plain)


def test_trace_filters_and_limit(tmp_path: Path) -> None:
    doc, _, _ = _run(tmp_path, "c.json", "--trace-clusters", "5")
    evs = [e for e in doc["traceEvents"] if e["ph"] != "M"]
    assert {e["pid"] for e in evs} == {5, MIGRATIONS_PID}
    assert doc["otherData"]["clusters"] == [5]
    doc, _, _ = _run(tmp_path, "k.json", "--trace-kinds", "migrations,syscalls")
    cats = {e.get("cat") for e in doc["traceEvents"] if e["ph"] != "M"}
    assert cats == {"migration", "syscall"}
    out = tmp_path / "l.json"
    res = shoal_cli(*RUN, "--trace", str(out), "--trace-limit", "20", WORK)
    assert res.returncode == 0 and res.stdout == EXPECTED
    note = [ln for ln in res.stderr.decode().splitlines() if ln.startswith("shoal: trace:")]
    assert len(note) == 1 and "dropped" in note[0] and "limit 20" in note[0]
    doc = json.loads(out.read_text())
    assert len([e for e in doc["traceEvents"] if e["ph"] != "M"]) == 20
    assert sum(doc["otherData"]["dropped"].values()) > 0 and "dropped" in doc["otherData"]["note"]


@pytest.mark.parametrize("args, what", [
    (("--trace", "/nonexistent/dir/t.json"), "No such file or directory"),
    (("--trace", "/tmp"), "is a directory"),
    (("--trace", "/tmp/shoal-x.json", "--trace-kinds", "slices,bogus"), "unknown kind 'bogus'"),
    (("--trace", "/tmp/shoal-x.json", "--trace-clusters", "99"), "cluster 99 does not exist"),
    (("--trace", "/tmp/shoal-x.json", "--trace-clusters", "a-b"), "expected cluster numbers"),
    (("--trace", "/tmp/shoal-x.json", "--trace-limit", "-1"), "bad trace limit"),
])
def test_trace_bad_arguments_get_one_line(args: tuple[str, ...], what: str) -> None:
    res = shoal_cli("run", *args, WORK)
    assert what in assert_one_line_error(res)


def test_trace_from_python(tmp_path: Path) -> None:
    spec = ChipSpec.load("tiny")
    path = tmp_path / "api.json"
    chip = Chip(spec, trace=path)
    p = chip.spawn(WORK, ["trace_work", "20000"], cluster=1)
    chip.run()
    assert p.returncode == 0
    doc = json.loads(path.read_text())  # written at the end of run()
    assert any(e.get("cat") == "slice" and e["pid"] == 1 for e in doc["traceEvents"])
    # A Tracer of one's own (filters, no path): written when asked.
    tr = Tracer(spec, kinds=["syscalls"])
    chip2 = Chip(spec, trace=tr)
    chip2.spawn(WORK, ["trace_work", "20000"], cluster=0)
    chip2.run()
    meta = chip2.write_trace(tmp_path / "own.json")
    assert meta["kinds"] == ["syscalls"] and meta["events"] == len(tr.events) > 0
    with pytest.raises(Exception, match="takes no trace"):
        Chip(spec).write_trace(tmp_path / "x.json")


def test_demo_trace(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    res = shoal_cli("demo", "--chip", "tiny", "--trace", str(out))
    assert res.returncode == 0 and b"all results correct" in res.stdout
    assert f"traces (simulated time; open in ui.perfetto.dev): {out}".encode() in res.stdout
    part0 = json.loads(out.read_text())["traceEvents"]
    assert {e["pid"] for e in part0 if e.get("cat") == "slice"} == {0, 1, 2, 3}  # every cluster at work
    tour = json.loads((tmp_path / "demo-tour.json").read_text())["traceEvents"]
    hops = [e for e in tour if e.get("cat") == "migration" and e["name"].startswith("migrate")]
    assert [e["args"]["dst"] for e in hops] == [1, 2, 3, 0]  # the tour, back on cluster 0
    assert len([e for e in tour if e.get("cat") == "migration"]) == 5 * len(hops)  # with 4 phases each


def test_trace_shows_unknown_calls(tmp_path: Path) -> None:
    out = tmp_path / "u.json"
    res = shoal_cli("run", "--chip", "tiny", "--trace", str(out), str(PROGRAMS / "faults.c"), "enosys")
    assert res.returncode == 7
    names = [e["name"] for e in json.loads(out.read_text())["traceEvents"] if e.get("cat") == "syscall"]
    assert "#999" in names and "#998" in names  # answered -ENOSYS, and still on the core's track


def test_a_failed_migration_is_an_instant_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    chip = Chip(ChipSpec.load("tiny"), trace=path)
    p = chip.spawn(WORK, ["trace_work", "50000"], cluster=0)
    chip.inject_failure("mig_reserve")
    chip.schedule_migration(p.pid, 3, 100_000)
    chip.run()
    assert p.returncode == 0 and p.cluster == 0 and p.migrations[0].state == "failed"
    evs = [e for e in json.loads(path.read_text())["traceEvents"] if e.get("cat") == "migration"]
    assert len(evs) == 1 and evs[0]["ph"] == "i" and evs[0]["name"] == "migration to cluster 3 failed"
    assert evs[0]["args"]["reason"] == p.migrations[0].reason and "mig_reserve" in evs[0]["args"]["reason"]


def test_trace_of_a_restored_process(tmp_path: Path) -> None:
    img, out = tmp_path / "w.img", tmp_path / "r.json"
    assert shoal_cli("checkpoint", "--at", "1ms", "-o", str(img), WORK).returncode == 0
    res = shoal_cli("restore", "--cluster", "2", "--trace", str(out), str(img))
    assert res.returncode == 0 and res.stdout == EXPECTED.replace(b"cluster 5", b"cluster 2")
    doc = json.loads(out.read_text())
    _well_formed(doc)
    assert {e["pid"] for e in doc["traceEvents"] if e.get("cat") == "slice"} == {2}


def test_the_limit_bounds_what_the_tracer_holds_for_every_kind(tmp_path: Path) -> None:
    """--trace-limit bounds the host's memory, not only the file: nothing the tracer keeps
    while the run lasts (events, calls, link buckets, migration marks) grows past it."""
    limit = 6
    spec = ChipSpec.load("tiny")
    tr = Tracer(spec, limit=limit)
    chip = Chip(spec, trace=tr)
    p = chip.spawn(WORK, ["trace_work", "60000"], cluster=0)
    for dst, at in [(1, 200_000), (2, 400_000), (3, 600_000), (0, 800_000)]:
        chip.schedule_migration(p.pid, dst, at)
    peak = 0

    def watch() -> bool:  # asked between rounds: what the tracer holds now
        nonlocal peak
        held = (len(tr.events) + sum(len(v) for v in tr._calls.values()) + len(tr._mig_marks)
                + len({(a, k) for a, _, k in tr.links.busy}))
        peak = max(peak, held)
        return False
    chip.run(until=watch)
    assert p.returncode == 0 and len(p.migrations) == 4 and all(m.ok for m in p.migrations)
    assert 0 < peak <= limit and tr.held <= limit
    meta = chip.write_trace(tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text())
    _well_formed(doc)
    # The tracks' names are O(the chip), outside the bound; the names of migrated processes count.
    tracks = [e for e in doc["traceEvents"] if e["ph"] == "M" and e["tid"] < MIGRATION_TID]
    assert len(doc["traceEvents"]) - len(tracks) == meta["events"] <= limit
    assert set(meta["dropped"]) == {"slices", "syscalls", "packets", "frames", "links", "migrations"}
    # The same through the CLI: the file and one line on stderr that says what was dropped.
    out = tmp_path / "c.json"
    res = shoal_cli("run", "--chip", "tiny", "--migrate", "200000:3", "--trace", str(out),
                    "--trace-limit", "3", WORK, "20000")
    assert res.returncode == 0
    note = [ln for ln in res.stderr.decode().splitlines() if ln.startswith("shoal: trace:")]
    assert len(note) == 1 and "limit 3 events" in note[0], res.stderr
    for kind in ("slices", "syscalls", "packets", "frames", "links", "migrations"):
        assert re.search(rf"\b{kind} \d+", note[0]), note
    doc = json.loads(out.read_text())
    assert doc["otherData"]["events"] <= 3 and sum(doc["otherData"]["dropped"].values()) > 0

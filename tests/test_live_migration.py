"""Live migration (kernel/migrate/): pre-copy, post-copy and hybrid beside stop-and-copy.
Real programs, checked against the same sources built for the host; downtimes checked against
the goals of the live-migration issue; NoC failures injected during post-copy.
(Every older migration test also runs once per method: conftest.each_method.)"""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak, assert_one_line_error, shoal_cli

import shoal
from shoal import Chip, ChipSpec, ShoalError
from shoal.kernel.migrate import MAX_ROUNDS, Method, Migration, MigState, Outgoing
from shoal.toolchain import compile_cached

HOTSET = Path(shoal.__file__).parent / "experiments" / "programs" / "hotset.c"  # (the bench and demo)
METHODS = ("stopcopy", "precopy", "postcopy", "hybrid")


def elf(src: Path) -> Path:
    return compile_cached([src], SHOAL_FLAGS)


def native_out(src: Path, tmp: Path, args: list[str], stdin: bytes = b"") -> bytes:
    exe = tmp / f"{src.stem}-native"
    if not exe.exists():
        res = subprocess.run(["gcc", "-O2", "-DNATIVE", str(src), "-o", str(exe)], capture_output=True,
                             text=True)
        assert res.returncode == 0, res.stderr
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, check=True).stdout


def us(spec: ChipSpec, cycles: int | None) -> float:
    assert cycles is not None
    return spec.cycles_to_seconds(cycles) * 1e6


def move_hotset(method: str, spec: ChipSpec | None = None, **options: float) -> tuple[Chip, object]:
    """1 MiB of data, a hot set of 16 pages rewritten all along, moved at 7.5 ms."""
    c = Chip(spec or ChipSpec.preset("mppa256"))
    p = c.spawn(elf(HOTSET), ["hotset", "256", "16", "400"])
    c.schedule_migration(p.pid, 5, 3_000_000, method, **options)
    c.run()
    return c, p


# --- the goals: downtime with a hot set, data intact ----------------------------------------------
def test_hot_set_of_16_pages_each_method_meets_its_downtime_goal(tmp_path: Path) -> None:
    want = native_out(HOTSET, tmp_path, ["256", "16", "400"])
    got = {}
    for method in METHODS:
        c, p = move_hotset(method)
        assert p.stdout == want and p.returncode == 0, (method, p.message)
        m = p.migrations[0]
        assert m.state == "done" and m.method == method and p.cluster == 5, m.reason
        got[method] = m
        assert_no_frame_leak(c)
    spec = ChipSpec.preset("mppa256")
    assert us(spec, got["stopcopy"].downtime) > 700  # all of 1 MiB while frozen
    assert us(spec, got["precopy"].downtime) <= 200
    assert us(spec, got["postcopy"].downtime) <= 150
    assert us(spec, got["hybrid"].downtime) <= 150
    pre = got["precopy"]
    # Dirty tracking saw the hot set: rewritten during the first round, so sent again.
    assert pre.rounds >= 1 and pre.pages_resent >= 16 and "fits the downtime limit" in pre.switch
    assert pre.pages_sent >= pre.pages + pre.pages_resent  # each page once, the dirtied again
    post = got["postcopy"]
    # Every page crosses the NoC once, after the thaw; the threads waited for some.
    assert post.pages_sent == post.pages == post.postcopy_pages and post.pages_resent == 0
    assert post.remote_faults >= 1 and post.page_wait > 0
    assert post.total is not None and post.total > post.downtime
    hyb = got["hybrid"]
    assert hyb.rounds == 1 and 16 <= hyb.postcopy_pages < hyb.pages
    assert got["stopcopy"].rounds == 0 and got["stopcopy"].postcopy_pages == 0


def test_live_migration_results_depend_on_simulated_inputs_only() -> None:
    """The same record and output whatever the engine's window (a host setting)."""
    spec = ChipSpec.preset("mppa256")
    for method in ("precopy", "postcopy"):
        runs = []
        for window in (spec.engine.window_cycles, spec.engine.window_cycles // 10):
            c, p = move_hotset(method, spec.replace(window_cycles=window))
            m = p.migrations[0]
            runs.append((p.stdout, p.record.end_cycle, m.frozen, m.thawed, m.ended, m.rounds, m.pages_sent,
                         m.remote_faults, m.page_wait))
        assert runs[0] == runs[1], method


# --- pre-copy's limits -------------------------------------------------------------------------------
def test_a_process_dirtying_faster_than_the_noc_ends_precopy_by_its_limits(tmp_path: Path) -> None:
    src = PROGRAMS / "dirtier.c"
    want = native_out(src, tmp_path, ["128", "6000"])
    for options, why in (({}, "byte cap"), ({"max_rounds": 2}, "round limit (2 rounds)")):
        c = Chip.preset("mppa256")
        p = c.spawn(elf(src), ["dirtier", "128", "6000"])
        c.schedule_migration(p.pid, 3, 4_000_000, "precopy", **options)
        c.run()
        assert p.stdout == want and p.returncode == 0
        m = p.migrations[0]
        assert m.state == "done" and why in m.switch and why in m.reason, m.reason
        assert m.rounds <= options.get("max_rounds", MAX_ROUNDS)
        # It ended in a stop-and-copy of what was still dirty: most of its pages.
        assert m.downtime is not None and us(c.spec, m.downtime) > 200
        assert m.bytes_sent <= m.max_bytes + m.bytes
        assert_no_frame_leak(c)


def test_bad_method_and_options_are_refused() -> None:
    c = Chip.preset("tiny")
    p = c.spawn(elf(HOTSET), ["hotset", "16", "4", "10"])
    with pytest.raises(ShoalError, match="unknown migration method 'lazy'"):
        p.migrate(1, "lazy")
    with pytest.raises(ShoalError, match="unknown migration option 'rounds'"):
        p.migrate(1, "precopy", rounds=3)
    with pytest.raises(ShoalError, match="bad migration option max_rounds=-1"):
        c.schedule_migration(p.pid, 1, 10, "precopy", max_rounds=-1)
    with pytest.raises(ShoalError, match="unknown migration method"):
        Chip.preset("tiny", migration="teleport")
    c.run()
    assert p.returncode == 0 and not p.migrations


# --- post-copy: waits, failures, the end ------------------------------------------------------------
@pytest.mark.parametrize("method", [1, 2, 3, 4])
def test_system_calls_on_pages_not_yet_there_wait_for_them(tmp_path: Path, method: int) -> None:
    """postcopy_io.c moves itself (shoal_migrate_by), then writes from and reads into pages that
    are still at the source under post-copy: the write waits for its page, the read's bytes
    land on pages that come later; nothing is lost."""
    src = PROGRAMS / "postcopy_io.c"
    stdin = b"twenty bytes of text\n"
    want = native_out(src, tmp_path, [str(method), "1"], stdin)
    c = Chip.preset("mppa256")
    p = c.spawn(elf(src), ["postcopy_io", str(method), "1"], stdin=stdin)
    c.run()
    assert p.stdout == want and p.returncode == 0, p.message
    m = p.migrations[0]
    assert m.by == "guest" and m.method == METHODS[method - 1] and p.cluster == 1
    if m.method == "postcopy":
        assert m.remote_faults >= 1  # the write's page at least
    assert_no_frame_leak(c)


def test_unknown_guest_method_is_einval(tmp_path: Path) -> None:
    src = PROGRAMS / "postcopy_io.c"
    c = Chip.preset("tiny")
    p = c.spawn(elf(src), ["postcopy_io", "9", "1"], stdin=b"x")
    c.run()
    assert p.stdout.splitlines()[-1].startswith(b"migrate -22, read 1,") and not p.migrations


def test_postcopy_pauses_on_noc_failures_and_loses_nothing(tmp_path: Path) -> None:
    want = native_out(HOTSET, tmp_path, ["256", "16", "400"])
    c = Chip.preset("mppa256")
    p = c.spawn(elf(HOTSET), ["hotset", "256", "16", "400"])
    c.schedule_migration(p.pid, 5, 3_000_000, "postcopy")
    for kind, n in (("mig_page", 3), ("mig_fetch", 2), ("mig_got", 2)):
        c.inject_failure(kind, n)
    c.run()
    assert p.stdout == want and p.returncode == 0 and p.cluster == 5
    m = p.migrations[0]
    assert m.state == "done" and "every page in" in m.reason
    # Pages whose transfer failed were sent again; every other crossed once.
    assert m.pages < m.pages_sent <= m.pages + 3 * 8 and m.pages_resent <= 3 * 8
    assert_no_frame_leak(c)


def test_a_process_killed_during_postcopy_frees_both_copies() -> None:
    c = Chip.preset("mppa256")
    p = c.spawn(elf(HOTSET), ["hotset", "256", "16", "4000"])
    c.schedule_migration(p.pid, 5, 3_000_000, "postcopy")
    c.run(max_cycles=3_100_000)
    m = p.migrations[0]
    assert m.thawed is not None and m.state == "postcopy"  # running at 5, pages still coming
    with pytest.raises(ShoalError, match="error 16"):
        p.migrate(6)  # not while its pages still follow the last move
    with pytest.raises(ShoalError, match="error 16"):
        p.checkpoint()
    p.kill()
    c.run()
    m = p.migrations[0]
    assert p.signal == 9 and m.state == "done" and "ended at cluster 5 before every page came" in m.reason
    assert_no_frame_leak(c)


def test_chip_default_method_applies_to_guest_shoal_migrate(tmp_path: Path) -> None:
    """A program that calls plain shoal_migrate moves by the chip's default method."""
    src = PROGRAMS / "postcopy_io.c"
    c = Chip.preset("mppa256", migration="postcopy")
    p = c.spawn(elf(src), ["postcopy_io", "0", "2"], stdin=b"abc")
    c.run()
    assert p.stdout == native_out(src, tmp_path, ["0", "2"], b"abc")
    assert p.migrations[0].method == "postcopy" and p.cluster == 2


def test_the_host_gets_the_record_alone_and_states_are_enums(tmp_path: Path) -> None:
    """Chip.migrations is the record (figures), never the kernel's working state (the image, the
    process, the pages in flight); its state and method are the protocol's enums, equal to the
    strings that scripts and the docs compare with; a misspelt state is an error."""
    c = Chip.preset("mppa256")
    p = c.spawn(elf(HOTSET), ["hotset", "64", "8", "300"])
    c.schedule_migration(p.pid, 5, 400_000, "postcopy")
    c.run()
    assert p.stdout == native_out(HOTSET, tmp_path, ["64", "8", "300"])
    m = p.migrations[0]
    working = {f.name for f in dataclasses.fields(Outgoing)} - {f.name for f in dataclasses.fields(Migration)}
    assert type(m) is Migration and {"image", "proc", "remaining", "in_flight"} <= working
    assert not any(hasattr(m, name) for name in working)
    assert m.state is MigState.DONE and m.state == "done" and f"{m.state}" == "done"
    assert m.method is Method.POSTCOPY and m.method == "postcopy" and m.postcopy_pages > 0
    assert pickle.loads(pickle.dumps(m)).state is MigState.DONE  # the MPI backend pickles records
    with pytest.raises(AttributeError):
        MigState.DOEN  # noqa: B018
    with pytest.raises(ValueError):
        Method("lazy")


# --- the command line -------------------------------------------------------------------------------
def test_cli_migrate_by_method_prints_the_method_line(tmp_path: Path) -> None:
    want = native_out(HOTSET, tmp_path, ["64", "8", "300"])
    res = shoal_cli("run", "--stats", "--migrate", "1ms:5:postcopy", "--migrate", "3ms:9:precopy",
                    str(HOTSET), "64", "8", "300")
    assert res.returncode == 0, res.stderr
    assert res.stdout == want
    err = res.stderr.decode()
    assert "cluster 0 -> 5 at cycle 400000: downtime" in err and "method       : postcopy" in err
    assert "cluster 5 -> 9 at cycle 1200000: downtime" in err and "method       : precopy" in err
    assert "remote page faults" in err and "pre-copy rounds" in err
    bad = shoal_cli("run", "--migrate", "1ms:5:lazy", str(HOTSET))
    assert "unknown method 'lazy'" in assert_one_line_error(bad)
    bad = shoal_cli("run", "--migrate", "1ms:5:precopy:x", str(HOTSET))
    assert "expected AT:CLUSTER[:METHOD]" in assert_one_line_error(bad)


def test_trace_shows_the_live_phases_beside_the_downtime(tmp_path: Path) -> None:
    """The migration slice lasts exactly the downtime; pre-copy's rounds come before it and the
    pages that follow a post-copy after it, as slices of their own."""
    import json

    for method, extra in (("precopy", "pre-copy: "), ("postcopy", "post-copy: ")):
        path = tmp_path / f"{method}.json"
        c = Chip(ChipSpec.preset("mppa256"), trace=path)
        p = c.spawn(elf(HOTSET), ["hotset", "256", "16", "400"])
        c.schedule_migration(p.pid, 5, 3_000_000, method)
        c.run()
        m = p.migrations[0]
        evs = [e for e in json.loads(path.read_text())["traceEvents"] if e.get("cat") == "migration"]
        main = [e for e in evs if e["name"].startswith("migrate pid")]
        assert len(main) == 1 and main[0]["args"]["method"] == method
        assert main[0]["dur"] == pytest.approx(us(c.spec, m.downtime), abs=1e-3)
        side = [e for e in evs if e["name"].startswith(extra)]
        assert len(side) == 1
        if method == "precopy":
            assert side[0]["ts"] + side[0]["dur"] == pytest.approx(main[0]["ts"], abs=1e-3)
        else:
            assert side[0]["ts"] == pytest.approx(main[0]["ts"] + main[0]["dur"], abs=1e-3)
            assert side[0]["dur"] == pytest.approx(us(c.spec, m.ended - m.thawed), abs=1e-3)


@pytest.mark.parametrize("preset,clusters", [("mppa-8x8", 64), ("mppa-16x16", 256)])
def test_bigger_presets_run_and_migrate_across_the_chip(tmp_path: Path, preset: str, clusters: int) -> None:
    """The extrapolated chips (same clusters, larger torus): a program on the cluster farthest
    from 0 (the middle of the torus) moved by post-copy to cluster 0 gives the native result."""
    spec = ChipSpec.preset(preset)
    assert spec.compute_clusters == clusters and spec.cluster.cores_per_cluster == 16
    far = spec.noc.mesh_height // 2 * spec.noc.mesh_width + spec.noc.mesh_width // 2
    c = Chip(spec)
    assert c.hops(far, 0) == spec.noc.mesh_width // 2 + spec.noc.mesh_height // 2
    p = c.spawn(elf(HOTSET), ["hotset", "64", "8", "50"], cluster=far)
    c.schedule_migration(p.pid, 0, 1_000_000, "postcopy")
    c.run()
    assert p.stdout == native_out(HOTSET, tmp_path, ["64", "8", "50"]) and p.cluster == 0
    assert p.migrations[0].state == "done"


def test_scheduled_moves_that_must_wait_keep_their_order(tmp_path: Path) -> None:
    """Moves asked for while the pages of a post-copy still follow wait for them, in the order
    they were asked (a later one never overtakes an earlier one)."""
    c = Chip.preset("mppa256")
    p = c.spawn(elf(HOTSET), ["hotset", "64", "8", "100"])
    for at, to, method in ((20_000, 2, "postcopy"), (24_000, 3, "postcopy"), (28_000, 4, "precopy")):
        c.schedule_migration(p.pid, to, at, method)
    c.run()
    assert [m.dst for m in p.migrations] == [2, 3, 4] and p.cluster == 4
    assert all(m.state == "done" for m in p.migrations)
    assert p.stdout == native_out(HOTSET, tmp_path, ["64", "8", "100"])

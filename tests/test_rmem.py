"""Remote memory (kernel/rmem.py): a process whose data is several times its cluster's memory
runs to the right result, its pages going to the I/O cluster and coming back on touch; with a
migration in the middle too. Results checked against the same C source built for the host."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak, assert_one_line_error, shoal_cli

from shoal import Chip, ChipSpec, ShoalError
from shoal.toolchain import compile_cached

BIG = PROGRAMS / "bigdata.c"


def elf() -> Path:
    return compile_cached([BIG], SHOAL_FLAGS)


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("rmem") / "bigdata"
    res = subprocess.run(["gcc", "-O2", str(BIG), "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return exe


def want(native: Path, *args: str) -> bytes:
    return subprocess.run([str(native), *args], capture_output=True, check=True).stdout


def test_8_mib_of_data_on_a_cluster_of_2_mib(native: Path) -> None:
    c = Chip.preset("mppa256")
    assert c.spec.user_frames * c.spec.page_size < 2 << 20
    p = c.spawn(elf(), ["bigdata", "8", "1"])
    c.run()
    assert p.stdout == want(native, "8", "1") and p.returncode == 0, p.message
    r = p.record
    # Every page of 8 MiB was written once at least: most went to remote memory and came back.
    assert r.evictions > 2048 - c.spec.user_frames and r.rmem_faults > 1000 and r.page_wait > 0
    assert r.peak_frames <= c.spec.user_frames
    assert_no_frame_leak(c)
    assert c.daemon_stats()["rmem_bytes"] == 0  # freed when it exited


@pytest.mark.parametrize("method", ["stopcopy", "precopy", "postcopy"])
def test_8_mib_with_a_migration_in_the_middle(native: Path, method: str) -> None:
    c = Chip.preset("mppa256")
    p = c.spawn(elf(), ["bigdata", "8", "1"])
    c.schedule_migration(p.pid, 3, 30_000_000, method)
    c.run()
    assert p.stdout == want(native, "8", "1") and p.returncode == 0, p.message
    m = p.migrations[0]
    assert m.state == "done" and p.cluster == 3, m.reason
    # Only what was resident moved; the rest stayed in remote memory and came from there.
    assert m.pages < c.spec.user_frames
    assert p.record.rmem_faults > 1000  # counted before and after the move
    assert_no_frame_leak(c)


def test_fifo_and_clock_replacement_both_right_and_deterministic(native: Path) -> None:
    base = ChipSpec.preset("mppa256")
    got = {}
    for policy in ("fifo", "clock"):
        for window in (base.window_cycles, base.window_cycles // 10):
            c = Chip(dataclasses.replace(base, page_replacement=policy, window_cycles=window))
            p = c.spawn(elf(), ["bigdata", "4", "1"])
            c.run()
            assert p.stdout == want(native, "4", "1")
            r = p.record
            got.setdefault(policy, set()).add((r.end_cycle, r.rmem_faults, r.evictions, r.page_wait))
    assert all(len(v) == 1 for v in got.values())  # the same whatever the engine's window


def test_two_big_processes_share_a_cluster(native: Path) -> None:
    c = Chip.preset("mppa256")
    a = c.spawn(elf(), ["bigdata", "3", "1"])
    b = c.spawn(elf(), ["bigdata", "2", "2"])
    c.run()
    assert a.stdout == want(native, "3", "1") and b.stdout == want(native, "2", "2")
    assert a.record.evictions > 0 and b.record.evictions > 0
    assert_no_frame_leak(c)


def test_remote_memory_full_kills_only_that_process(native: Path) -> None:
    spec = dataclasses.replace(ChipSpec.preset("mppa256"), io_memory=1 << 20)
    c = Chip(spec)
    big = c.spawn(elf(), ["bigdata", "8", "1"])
    small = c.spawn(elf(), ["bigdata", "1", "1"], cluster=1)
    c.run()
    assert big.signal == 9 and "remote memory" in big.message
    assert small.stdout == want(native, "1", "1") and small.returncode == 0
    assert_no_frame_leak(c)


def test_checkpoint_of_a_process_with_remote_pages_is_refused(native: Path) -> None:
    c = Chip.preset("mppa256")
    p = c.spawn(elf(), ["bigdata", "8", "1"])
    c.run(max_cycles=20_000_000)
    assert p.record.evictions > 0
    with pytest.raises(ShoalError, match="remote memory"):
        p.checkpoint()
    c.run()
    assert p.stdout == want(native, "8", "1")


def test_cli_stats_and_a_bad_replacement_policy(tmp_path: Path, native: Path) -> None:
    res = shoal_cli("run", "--stats", str(BIG), "4", "1")
    assert res.returncode == 0 and res.stdout == want(native, "4", "1")
    line = next(x for x in res.stderr.decode().splitlines() if x.startswith("  remote memory"))
    assert "page faults" in line and "pages evicted" in line and " 0 page faults" not in line
    chip = tmp_path / "chip.toml"
    chip.write_text('base = "tiny"\npage_replacement = "random"\n')
    bad = shoal_cli("run", "--chip", str(chip), str(BIG), "1", "1")
    assert "page_replacement" in assert_one_line_error(bad)

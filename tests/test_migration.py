"""Containers: freeze, checkpoint and restore, and stop-and-copy migration between clusters.
Real programs; results checked against native builds or host computations."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, Programs, assert_no_frame_leak, assert_one_line_error, shoal_cli

import shoal
from shoal import Chip, ChipSpec, ShoalError
from shoal.platform.noc import NoC
from shoal.toolchain import compile_cached

# Every test here runs once per migration method (conftest.each_method).
pytestmark = pytest.mark.usefixtures("each_method")

HOLD = Path(shoal.__file__).parent / "experiments" / "programs" / "hold.c"  # shared with the demo


def elf(name: str) -> Path:
    return compile_cached([HOLD if name == "hold" else PROGRAMS / f"{name}.c"], SHOAL_FLAGS)


def native(name: str, tmp: Path, *defines: str) -> Path:
    out = tmp / f"{name}-native"
    res = subprocess.run(["gcc", "-O2", "-pthread", *defines, str(PROGRAMS / f"{name}.c"), "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


# --- the process migrates itself --------------------------------------------------------------
def test_8_threads_and_1mib_migrate_across_every_cluster(tmp_path: Path) -> None:
    expected = subprocess.run([str(native("mig_threads", tmp_path, "-DNATIVE"))], capture_output=True)
    c = Chip.preset("mppa256")
    p = c.spawn(elf("mig_threads"), ["mig_threads"])
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == expected.stdout  # counter and checksum of the 1 MiB, as on the host
    assert p.stderr == b"moved 16 of 16\n"
    ms = p.migrations
    assert [m.dst for m in ms] == [*range(1, 16), 0] and all(m.ok for m in ms)
    assert all(m.pages >= 256 and m.threads == 9 for m in ms)  # 1 MiB + stacks; main + 8 workers
    assert all(m.by == "guest" for m in ms)
    assert p.cluster == 0
    assert_no_frame_leak(c)


def test_migrate_to_a_cluster_that_does_not_exist_is_refused() -> None:
    c = Chip.preset("tiny")
    p = c.spawn(elf("hold"), ["hold", "4", "1", "1"])
    with pytest.raises(ShoalError, match="cluster 9 does not exist"):
        p.migrate(9)
    c.run()
    assert p.returncode == 0 and not p.migrations


# --- migrations from outside while programs talk ---------------------------------------------
def test_100_random_migrations_while_programs_communicate() -> None:
    c = Chip.preset("mppa256")
    c.add_file("mig_ring", elf("mig_ring").read_bytes())
    a = c.spawn(elf("mig_ring"), ["mig_ring", "ring", "A", "4", "300"], cluster=0)
    b = c.spawn(elf("mig_ring"), ["mig_ring", "ring", "B", "5", "200"], cluster=1)
    s = c.spawn(elf("mig_ring"), ["mig_ring", "stream", "S", "400"], cluster=2)
    rng = random.Random(20261126)
    asked = 0
    while asked < 100:
        c.run(max_cycles=rng.randrange(5_000, 60_000))
        live = [q for q in c.processes() if q.state == "running"]
        assert live, "the programs ended before 100 migrations were asked for"
        q = rng.choice(live)
        try:
            c.migrate(q.pid, rng.randrange(16))
        except ShoalError as e:  # live methods: its previous move is still under way
            assert "error 16" in str(e)
            continue
        asked += 1
    c.run()
    # Every message was checked by the programs themselves: in order, once each.
    assert a.stdout == b"ring A: 4 processes, 300 laps, 300 messages each, ok\n"
    assert b.stdout == b"ring B: 5 processes, 200 laps, 200 messages each, ok\n"
    assert s.stdout == b"stream S: 400 blocks of 8192 bytes, consumer ok\n"
    assert all(q.exit_code == 0 for q in c.processes())
    done = [m for m in c.migrations if m.ok]
    moved = [m for m in done if m.src != m.dst]
    assert len(c.migrations) == 100 and len(done) == 100 and len(moved) > 80
    assert_no_frame_leak(c)


def test_the_neighbour_of_a_migrating_process_is_not_disturbed(programs: Programs) -> None:
    b = programs["format"]
    alone = Chip.preset("mppa256")
    ref = alone.spawn(b.elf, ["format"])
    alone.run()
    c = Chip.preset("mppa256")
    mover = c.spawn(elf("hold"), ["hold", "64", "4", "2"])
    stay = c.spawn(b.elf, ["format"])
    c.schedule_migration(mover.pid, 6, 100_000)
    c.run()
    assert stay.stdout == ref.stdout and stay.returncode == 0
    assert stay.cluster == 0 and not stay.migrations
    assert mover.cluster == 6 and mover.migrations[0].ok and mover.returncode == 0
    assert mover.stdout == b"hold 64 pages 4 threads: " + hold_checksum(64) + b"\n"


def hold_checksum(pages: int) -> bytes:
    s = 0
    for i in range(pages * 4096):
        s = (s * 31 + ((i * 7 + (i >> 12)) & 0xFF)) & (2**64 - 1)
    return str(s).encode()


# --- refusals and failures: the process goes on at the source -------------------------------------
def test_no_room_at_the_destination_keeps_the_process_at_the_source() -> None:
    c = Chip.preset("tiny")
    hog = c.spawn(elf("hold"), ["hold", "170", "1", "40"], cluster=1)  # fills most of cluster 1
    p = c.spawn(elf("hold"), ["hold", "64", "2", "30"])
    c.schedule_migration(p.pid, 1, 8_000_000)  # by then both have touched their pages
    c.run(max_cycles=7_900_000)
    assert c.clusters()[1].frames_free < 64  # the mover cannot fit there
    c.run()
    assert hog.returncode == 0
    m = p.migrations[0]
    assert m.state == "failed" and "no room on cluster 1" in m.reason
    assert p.cluster == 0 and p.returncode == 0
    assert p.stdout == b"hold 64 pages 2 threads: " + hold_checksum(64) + b"\n"
    assert_no_frame_leak(c)


@pytest.mark.parametrize("kind", ["mig_reserve", "mig_image"])  # the other steps: test_migration_protocol
def test_a_failed_noc_transfer_rolls_the_migration_back(kind: str) -> None:
    c = Chip.preset("tiny")
    c.inject_failure(kind)
    p = c.spawn(elf("hold"), ["hold", "32", "2", "1"])
    c.schedule_migration(p.pid, 3, 50_000)
    c.run()
    m = p.migrations[0]
    assert m.state == "failed" and ("NoC" in m.reason), m.reason
    assert p.cluster == 0 and p.returncode == 0
    assert p.stdout == b"hold 32 pages 2 threads: " + hold_checksum(32) + b"\n"
    assert len([q for q in c.processes() if q.pid == p.pid]) == 1  # never duplicated
    assert_no_frame_leak(c)


def test_guest_sees_the_refusal_as_an_errno() -> None:
    c = Chip.preset("mppa256")
    c.spawn(elf("hold"), ["hold", "300", "1", "60"], cluster=1)
    c.run(max_cycles=12_000_000)  # the hog has touched its pages
    assert c.clusters()[1].frames_free < 256
    p = c.spawn(elf("mig_threads"), ["mig_threads", "1"], cluster=0)  # wants to go to cluster 1
    c.run()
    assert p.returncode == 0
    assert p.stderr == b"moved 0 of 1\n"  # shoal_migrate returned an error; it went on at home
    assert p.migrations[0].state == "failed"


# --- downtime and the NoC model ----------------------------------------------------------------
def downtime(pages: int, threads: int) -> tuple[int, int]:
    c = Chip.preset("mppa256")
    p = c.spawn(elf("hold"), ["hold", str(pages), str(threads), "30"])
    c.schedule_migration(p.pid, 1, 8_000_000)  # 20 ms: its pages are touched, its threads asleep
    c.run()
    m = p.migrations[0]
    assert m.ok and p.returncode == 0, m.reason
    assert m.downtime is not None
    return m.downtime, m.bytes


def test_downtime_grows_with_pages_and_threads_and_stays_near_the_noc_limit() -> None:
    spec = ChipSpec.preset("mppa256")
    noc = NoC(spec)
    by_pages = [downtime(p, 1) for p in (0, 64, 256)]
    by_threads = [downtime(16, t) for t in (1, 4, 16)]
    for series in (by_pages, by_threads):
        assert series[0][0] < series[1][0] < series[2][0]
        assert series[0][1] < series[1][1] < series[2][1]
    for dt, nbytes in by_pages + by_threads:
        limit = nbytes // spec.noc.noc_link_bytes_per_cycle + noc.hops(0, 1) * spec.noc.noc_hop_cycles
        # Besides the bytes, each page-sized DMA operation pays its setup; the copies at both
        # ends overlap the transfer (test_migration_protocol checks the exact charges).
        assert limit <= dt <= 1.3 * limit + 40_000, (dt, limit)
    # At least 10x below the 19-113 ms the MPPA-256 prototype measured (36.3 ms, 32 pages).
    assert spec.cycles_to_seconds(by_pages[1][0]) < 36.3e-3 / 10


# --- checkpoint and restore ----------------------------------------------------------------------
def test_checkpoint_then_restore_on_another_preset_finishes_correctly(programs: Programs) -> None:
    b = programs["format"]
    ref = Chip.preset("tiny")
    want = ref.spawn(b.elf, ["format"])
    ref.run()
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["format"])
    c.run(max_cycles=300_000)
    assert not p.done
    image = p.checkpoint(stop=True)
    assert p.record.state == "checkpointed"
    c2 = Chip.preset("mppa256")
    q = c2.restore(image, cluster=11)
    c2.run()
    assert p.stdout + q.stdout == want.stdout and q.returncode == 0
    assert q.cluster == 11
    assert_no_frame_leak(c2)


@pytest.mark.stopcopy_only  # another process: the method fixture does not reach it
def test_corrupted_or_truncated_images_are_refused(tmp_path: Path) -> None:
    c = Chip.preset("tiny")
    p = c.spawn(elf("hold"), ["hold", "8", "2", "5"])
    c.run(max_cycles=200_000)
    image = p.checkpoint()
    c.run()
    assert p.returncode == 0  # a checkpoint without stop lets it go on
    flipped = bytearray(image)
    flipped[len(flipped) // 2] ^= 0x40
    for bad, why in ((bytes(flipped), "checksum"), (image[:len(image) // 3], "truncated"),
                     (b"not an image", "truncated"), (b"XXXXXXXX" + image[8:], "not a shoal")):
        with pytest.raises(ShoalError, match=why):
            Chip.preset("tiny").restore(bad)
    path = tmp_path / "bad.img"
    path.write_bytes(bytes(flipped))
    assert "checksum" in assert_one_line_error(shoal_cli("restore", str(path)))


@pytest.mark.stopcopy_only  # another process: the method fixture does not reach it
def test_cli_checkpoint_and_restore(tmp_path: Path) -> None:
    img = tmp_path / "hold.img"
    res = shoal_cli("checkpoint", "--chip", "tiny", "--at", "2ms", "-o", str(img),
                    str(HOLD), "16", "3", "4")
    assert res.returncode == 0, res.stderr
    assert re.match(r"shoal: checkpointed hold \(pid 2\) at cycle \d+ to .*hold.img \(\d+ bytes, \d+ pages, "
                    r"3 threads\)\n$", res.stderr.decode()), res.stderr
    res = shoal_cli("restore", "--cluster", "2", "--stats", str(img))
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"hold 16 pages 3 threads: " + hold_checksum(16) + b"\n"
    assert "on cluster 2 of mppa256" in res.stderr.decode()


@pytest.mark.stopcopy_only  # another process: the method fixture does not reach it
def test_cli_run_migrate_option(tmp_path: Path) -> None:
    res = shoal_cli("run", "--stats", "--migrate", "1ms:5", "--migrate", "2ms:10", str(HOLD),
                    "16", "2", "4")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"hold 16 pages 2 threads: " + hold_checksum(16) + b"\n"
    err = res.stderr.decode()
    assert "cluster 0 -> 5 at cycle 400000: downtime" in err and "cluster 5 -> 10 at cycle 800000" in err
    assert "on cluster 10 of mppa256" in err
    bad = shoal_cli("run", "--migrate", "soon:5", str(HOLD))
    assert "bad time 'soon'" in assert_one_line_error(bad)


# --- the main job and the migration bench ------------------------------------------------------
@pytest.mark.stopcopy_only  # another process: the method fixture does not reach it
def test_shoal_demo_reproduces_the_three_experiments() -> None:
    res = shoal_cli("demo")
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr
    assert "16 of 16 hops done" in out and "matches the host computation" in out
    assert "versus threads" in out and "versus pages in use" in out and "contention" in out
    # Part 5, memory: the fork-join's two kernel layouts and each method's refill after a move.
    part5 = out.split("\n5. memory", 1)[1]
    assert "one area per process" in part5 and "the seed on the k1b: -5.8%" in part5
    assert all(m in part5 for m in ("stopcopy", "precopy", "postcopy", "hybrid"))
    assert out.rstrip().endswith("all results correct")


@pytest.mark.stopcopy_only  # another process: the method fixture does not reach it
def test_bench_migration_writes_csv_and_plots(tmp_path: Path) -> None:
    import csv

    res = shoal_cli("bench", "migration", "--quick", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    for name in ("downtime_threads", "downtime_pages", "contention"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((tmp_path / "downtime_pages.csv").open()))
    assert [int(r["pages"]) for r in rows] == [0, 64, 256]
    downtimes = [float(r["downtime_us"]) for r in rows]
    assert downtimes == sorted(downtimes)
    # The NoC limit counts the bytes alone; each page-sized DMA operation also pays its setup,
    # and the copies at both ends overlap the transfer: near 1 + setup / page time, plus the
    # fixed steps (more for small images).
    spec = ChipSpec.preset("mppa256")
    setup = spec.noc.noc_setup_cycles * spec.noc.noc_link_bytes_per_cycle / spec.ikc.portal_chunk
    assert all(1 + setup <= float(r["ratio_to_limit"]) <= 1 + setup + 1.2 for r in rows)
    tour = list(csv.DictReader((tmp_path / "tour.csv").open()))
    assert len(tour) == 16 and all(r["ok"] == "True" for r in tour)
    # The live methods side by side: data intact; post-copy's downtime far below stop-and-copy's
    # and its pages sent once, whatever the hot set; pre-copy sends more as the hot set grows.
    assert (tmp_path / "live_methods.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    live = list(csv.DictReader((tmp_path / "live_methods.csv").open()))
    assert len(live) == 3 * 4 and all(r["ok"] == "True" for r in live)
    by = {(r["method"], int(r["hot_pages"])): r for r in live}
    for hot in (0, 16, 256):
        stop, post = by[("stopcopy", hot)], by[("postcopy", hot)]
        assert float(post["downtime_us"]) < float(stop["downtime_us"]) / 10
        assert int(post["pages_sent"]) == int(post["pages"]) and int(post["pages_resent"]) == 0
        assert float(stop["downtime_us"]) >= float(stop["noc_limit_us"])
    pre = [int(by[("precopy", hot)]["bytes_sent"]) for hot in (0, 16, 256)]
    assert pre == sorted(pre) and pre[-1] > 2 * pre[0]
    # The L1 model (on for mppa256): each move lands on cold caches, so it stalls more than unmoved.
    assert all(int(r["extra_stall_cycles"]) > 0 and int(r["stall_after_move"]) > 0 for r in live)


@pytest.mark.parametrize("name,argv", [("threads", ["threads", "8"]), ("sync", ["sync"]),
                                       ("spin", ["spin", "1"])])
def test_threaded_programs_moved_at_random_moments_match_native(programs: Programs, name: str,
                                                                argv: list[str]) -> None:
    """Mutexes, condition variables, barriers, semaphores, timed waits and spinning threads,
    frozen mid-flight (their futex waits and sleeps backed out and redone elsewhere)."""
    from conftest import run_native

    b = programs[name]
    want = run_native(b, argv)
    c = Chip.preset("mppa256")
    p = c.spawn(b.elf, argv)
    rng = random.Random(7)
    asked = 0
    while not p.done and asked < 12:
        c.run(max_cycles=rng.randrange(5_000, 100_000))
        if p.done:
            break
        try:
            c.migrate(p.pid, rng.randrange(16))
            asked += 1
        except ShoalError as e:  # the previous move is still under way
            assert "error 16" in str(e)
    c.run()
    assert p.stdout == want.stdout and p.returncode == want.returncode, p.message
    # (A live move still in its pre-copy rounds when the process ends has nothing left to move.)
    assert asked >= 1 and all(m.ok or "ended during pre-copy" in m.reason for m in p.migrations), \
        [m.reason for m in p.migrations if not m.ok]

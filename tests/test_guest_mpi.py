"""MPI for guest programs (shoal/include/mpi.h, shoal/lib/shoal_mpi.c) and `shoal mpirun`.

The reference for every output is the same C built natively with the host's MPI (mpicc) and
run with `mpiexec -n N`; where no host MPI is installed, the programs' own checks (each
computes what it expects and prints its error count) still hold the chip to the standard."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak, shoal_cli

from shoal import Chip, Process
from shoal.errors import ShoalError
from shoal.toolchain import compile_cached
from shoal.tools.mpirun import JobEnd, run_job

MPICC, MPIEXEC = shutil.which("mpicc"), shutil.which("mpiexec")


def elf(name: str) -> Path:
    return compile_cached([PROGRAMS / f"{name}.c"], SHOAL_FLAGS)


_native: dict[str, Path] = {}


def native(name: str, n: int, args: list[str], tmp: Path) -> bytes | None:
    """The stdout of the native run (the programs print from rank 0 only), or None without
    a host MPI."""
    if MPICC is None or MPIEXEC is None:
        return None
    if name not in _native:
        out = tmp / f"{name}.native"
        res = subprocess.run([MPICC, "-O2", "-ffp-contract=off", str(PROGRAMS / f"{name}.c"), "-o", str(out)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        _native[name] = out
    res = subprocess.run([MPIEXEC, "-n", str(n), str(_native[name]), *args], capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def mpirun(name: str, n: int, args: list[str] | None = None, ppc: int = 1, chip: str = "tiny",
           migrate: tuple[int, int, int] | None = None, method: str = "stopcopy",
           env: list[str] | None = None) -> tuple[Chip, list[Process], JobEnd]:
    c = Chip.preset(chip)
    ranks = c.mpirun(elf(name), n, [name, *(args or [])], ppc=ppc, env=env)
    if migrate is not None:
        rank, at, to = migrate
        c.schedule_migration(ranks[rank].pid, to, at, method)
    end = run_job(c, ranks)
    return c, ranks, end


def stdout(ranks: list[Process]) -> bytes:
    return b"".join(r.stdout for r in ranks)


@pytest.mark.parametrize("n,ppc", [(2, 1), (4, 1), (4, 2), (3, 3)])
def test_pingpong_across_and_within_clusters(n: int, ppc: int, tmp_path: Path) -> None:
    c, ranks, end = mpirun("mpi_pingpong", n, ppc=ppc)
    assert end.failed is None and [r.returncode for r in ranks] == [0] * n
    assert [r.cluster for r in ranks] == [(i // ppc) % 4 for i in range(n)]
    out = stdout(ranks)
    assert b"BAD" not in out and out.count(b" ok\n") == 10  # eager (<= 104 B) and rendezvous sizes
    ref = native("mpi_pingpong", n, [], tmp_path)
    if ref is not None:
        assert out == ref
    assert_no_frame_leak(c)


def test_ring_and_crossing_rendezvous(tmp_path: Path) -> None:
    c, ranks, end = mpirun("mpi_ring", 4, ["5"])
    out = stdout(ranks)
    assert end.failed is None
    assert b"round 4: token 5030\n" in out and b": 0 errors;" in out  # 5 x (1000 + 1 + 2 + 3)
    ref = native("mpi_ring", 4, ["5"], tmp_path)
    if ref is not None:
        assert out == ref


@pytest.mark.parametrize("n,ppc", [(4, 1), (5, 2)])
def test_collectives_every_operation(n: int, ppc: int, tmp_path: Path) -> None:
    c, ranks, end = mpirun("mpi_coll", n, ppc=ppc)
    out = stdout(ranks)
    assert end.failed is None, out
    assert out.endswith(b"errors 0\n")
    # Hand-checked for n = 4: sum over ranks of (5r + 3i) % 7, and the inclusive scan of r + 1.
    if n == 4:
        assert b"reduce int SUM         9 14 12\n" in out
        assert b"scan, exscan           1 0 3 1 6 3 10 6\n" in out
    ref = native("mpi_coll", n, [], tmp_path)
    if ref is not None:
        assert out == ref


def scale_expected(n: int, flood: int) -> bytes:
    """mpi_scale's lines, computed here: the bcast value, sum of r^2, the flood's sum of
    1000 r + i over senders r and their messages i."""
    sq = sum(r * r for r in range(n))
    fsum = sum(1000 * r + i for r in range(1, n) for i in range(flood))
    return (f"ranks {n} bcast {1000 + n} allreduce {sq} alltoall errors 0\n"
            f"flood {(n - 1) * flood} messages from {n - 1} ranks, each sender in order: yes, sum {fsum}\n"
            "errors 0\n").encode()


def test_64_ranks_collectives_and_flood_on_16_slot_mailboxes(tmp_path: Path) -> None:
    """64 ranks on mppa-8x8 (default 16-slot mailboxes): barrier, bcast, allreduce, alltoall
    (eager and rendezvous), then every rank floods rank 0 before it receives, while rank 0's
    rendezvous sends need every rank's CTS. Deadlocked before the progress thread stopped
    writing (a cycle of progress threads blocked on each other's full mailboxes)."""
    c, ranks, end = mpirun("mpi_scale", 64, ["20"], chip="mppa-8x8")
    out = stdout(ranks)
    assert end.failed is None, end.line(ranks)
    assert out == scale_expected(64, 20)
    ref = native("mpi_scale", 64, ["20"], tmp_path)
    if ref is not None:
        assert out == ref


def test_one_slot_mailboxes(tmp_path: Path) -> None:
    """mailbox_slots = 1: every second write waits for the reader; nothing deadlocks and the
    outputs are those of 16 slots (and of mpiexec)."""
    chip = tmp_path / "one-slot.toml"
    chip.write_text('base = "tiny"\nmailbox_slots = 1\n')
    c, ranks, end = mpirun("mpi_scale", 8, ["20"], ppc=2, chip=str(chip))
    assert end.failed is None, end.line(ranks)
    assert stdout(ranks) == scale_expected(8, 20)
    c, ranks, end = mpirun("mpi_order", 4, chip=str(chip))
    assert end.failed is None, end.line(ranks)
    assert stdout(ranks) == stdout(mpirun("mpi_order", 4)[1])


def test_peer_descriptors_are_a_cache() -> None:
    """With room for 3 descriptors to peers (SHOAL_MPI_PEER_FDS; 128 by default, so a rank
    reaches any number of peers), ranks close the least recently used and open again: same
    output, and the re-opens cost simulated time."""
    _, plain, _ = mpirun("mpi_scale", 8, ["5"], ppc=2)
    c, ranks, end = mpirun("mpi_scale", 8, ["5"], ppc=2, env=["SHOAL_MPI_PEER_FDS=3"])
    assert end.failed is None, end.line(ranks)
    assert stdout(ranks) == stdout(plain) == scale_expected(8, 5)
    assert ranks[0].cycles > plain[0].cycles
    assert_no_frame_leak(c)


def test_matching_order_probes_and_send_modes(tmp_path: Path) -> None:
    c, ranks, end = mpirun("mpi_order", 4)
    out = stdout(ranks)
    assert end.failed is None, out
    assert b"every sender in order: yes" in out and out.endswith(b"errors 0\n")
    # Eager (1 int) and rendezvous (3000 ints) alternate, and arrive in the order sent.
    assert b"any tag: #1 tag 2 count 3000 first 10\n" in out
    ref = native("mpi_order", 4, [], tmp_path)
    if ref is not None:
        assert out == ref


def test_same_output_and_times_every_run() -> None:
    """Deterministic, and a job's figures are those of the same ranks run by Chip.run."""
    runs = [mpirun("mpi_order", 3) for _ in range(2)]
    assert stdout(runs[0][1]) == stdout(runs[1][1])
    assert [r.cycles for r in runs[0][1]] == [r.cycles for r in runs[1][1]]
    c = Chip.preset("tiny")
    ranks = c.mpirun(elf("mpi_order"), 3, ["mpi_order"])
    c.run()
    assert [r.cycles for r in ranks] == [r.cycles for r in runs[0][1]]


@pytest.mark.parametrize("method", ["stopcopy", "postcopy"])
def test_rank_migrated_mid_run_gives_same_output(method: str) -> None:
    """Rank 0 moves at several points of the run (the token ring, the crossing rendezvous
    exchange near the end): its pending messages and requests follow it."""
    _, ranks, _ = mpirun("mpi_ring", 3, ["20"])
    plain, total = stdout(ranks), ranks[0].cycles
    for frac in (0.3, 0.9, 0.97, 0.995):
        c, moved, end = mpirun("mpi_ring", 3, ["20"], migrate=(0, int(total * frac), 3), method=method)
        assert end.failed is None
        assert [(m.ok, m.src, m.dst) for m in moved[0].migrations] == [(True, 0, 3)]
        assert moved[0].cluster == 3
        assert stdout(moved) == plain


def test_error_classes_returned(tmp_path: Path) -> None:
    c, ranks, end = mpirun("mpi_errors", 3, ["return"])
    out = stdout(ranks)
    assert end.failed is None
    assert (b"classes: bad rank MPI_ERR_RANK, bad tag MPI_ERR_TAG, bad count MPI_ERR_COUNT, bad source "
            b"MPI_ERR_RANK, truncate MPI_ERR_TRUNCATE\n") in out
    assert b"truncated receive kept 1 2 3 4 5\n" in out


@pytest.mark.parametrize("mode,status,what", [
    ("fatal", 6, "exited with status 6"),  # MPI_ERR_RANK under MPI_ERRORS_ARE_FATAL
    ("abort", 3, "exited with status 3"),
    ("fault", 128 + 11, "killed: store page fault at 0x00000000"),
])
def test_failed_rank_ends_the_job(mode: str, status: int, what: str) -> None:
    c, ranks, end = mpirun("mpi_errors", 3, [mode])
    assert end.failed == 1 and end.status(ranks) == status
    assert sorted(end.killed) == [0, 2]  # rank 0 waits for rank 1, rank 2 in MPI_Finalize
    assert all(ranks[i].message.startswith("killed: deadlock") for i in (0, 2))
    line = end.line(ranks)
    assert line is not None and what in line and "\n" not in line
    assert all(r.done for r in ranks)
    if mode == "fatal":
        want = b"Fatal error in MPI_Send: Invalid rank, destination rank 8 is not in 0..2\n"
        assert ranks[1].stderr == want
    assert_no_frame_leak(c)


def test_mpirun_refuses_bad_job_sizes() -> None:
    c = Chip.preset("tiny")
    for n, ppc in ((0, 1), (2, -1), (5000, 1)):
        with pytest.raises(ShoalError, match="bad"):
            c.mpirun(elf("mpi_pingpong"), n, ppc=ppc)


def test_singleton_without_mpirun() -> None:
    """Started alone (shoal run), a program is a job of one rank, as with MPICH."""
    c = Chip.preset("tiny")
    p = c.spawn(elf("mpi_errors"), ["mpi_errors", "return"])
    c.run()
    assert p.returncode == 0 and p.stdout.endswith(b"rank 0 done\n")


def test_osu_style_latency() -> None:
    c, ranks, end = mpirun("mpi_osu_latency", 2, ["4096"])
    assert end.failed is None
    lines = ranks[0].stdout.decode().splitlines()
    assert lines[0].startswith("# OSU-style MPI latency test")
    rows = [(int(a), float(b)) for a, b in (ln.split() for ln in lines[2:])]
    assert [s for s, _ in rows] == [0] + [1 << i for i in range(13)]
    # Simulated time: more bytes never cost less; eager to rendezvous (> 104 B) costs more.
    assert all(0 < lat for _, lat in rows)
    assert rows[-1][1] > rows[0][1]
    again = mpirun("mpi_osu_latency", 2, ["4096"])[1]
    assert again[0].stdout == ranks[0].stdout


def test_cli_mpirun(tmp_path: Path) -> None:
    src = str(PROGRAMS / "mpi_ring.c")
    res = shoal_cli("mpirun", "-n", "3", "--chip", "tiny", "--stats", "--migrate", "1@200us:3", src, "4")
    assert res.returncode == 0, res.stderr
    assert b"round 3: token 4012\n" in res.stdout
    err = res.stderr.decode()
    assert "shoal stats for mpi_ring (pid " in err  # rank 0's figures, then a line per other rank
    assert re.search(r"process \d+ +: mpi_ring on cluster 3, exit 0", err)  # rank 1, moved from 1
    fail = shoal_cli("mpirun", "-n", "3", "--chip", "tiny", str(PROGRAMS / "mpi_errors.c"), "fault")
    assert fail.returncode == 139
    lines = fail.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shoal: mpirun: rank 1 (pid ")
    assert "killed: store page fault" in lines[0] and "the job ends" in lines[0]
    bad = shoal_cli("mpirun", "-n", "3", "--chip", "tiny", "--migrate", "7@1ms:2", src)
    assert bad.returncode == 2 and bad.stderr.count(b"\n") == 1 and b"not a rank" in bad.stderr


def test_library_linked_only_when_used(tmp_path: Path) -> None:
    """`shoal cc` links libshoalmpi as an archive: a program that calls no MPI function carries
    none of it; one that does runs from its ELF under `shoal mpirun`."""
    assert b"MPI_Init" not in elf("args").read_bytes()
    assert b"progress_sends" not in elf("args").read_bytes()
    out = tmp_path / "ring"
    res = shoal_cli("cc", str(PROGRAMS / "mpi_ring.c"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert b"MPI_Init" in out.read_bytes()
    run = shoal_cli("mpirun", "-n", "2", "--chip", "tiny", str(out), "1")
    assert run.returncode == 0 and run.stdout.startswith(b"round 0: token 1001\n")


@pytest.mark.skipif(MPIEXEC is None, reason="the host's mpiexec runs --ranks")
def test_cli_mpirun_under_host_ranks() -> None:
    """The guest's MPI over the host's MPI backend (--ranks 2): the same output."""
    src = str(PROGRAMS / "mpi_pingpong.c")
    local = shoal_cli("mpirun", "-n", "4", "--chip", "tiny", src)
    ranked = shoal_cli("mpirun", "-n", "4", "--chip", "tiny", "--ranks", "2", src)
    assert local.returncode == 0 and ranked.returncode == 0, ranked.stderr
    assert ranked.stdout == local.stdout and local.stdout.count(b" ok\n") == 10


def test_threads_inside_ranks(tmp_path: Path) -> None:
    c, ranks, end = mpirun("mpi_threads", 3)
    out = stdout(ranks)
    assert end.failed is None and out == b"funneled yes, main 1, total 149850000\n"  # sum(i % 1000)
    ref = native("mpi_threads", 3, [], tmp_path)
    if ref is not None:
        assert out == ref


def test_tutorial_mpi_example_as_mpiexec(tmp_path: Path) -> None:
    """docs/tutorial.md section 7: the example's pi is the host MPI's, its ranks on 4 clusters."""
    import shutil
    import subprocess
    src = Path(__file__).parent.parent / "docs" / "examples" / "mpi_pi.c"
    elf = tmp_path / "mpi_pi"
    assert shoal_cli("cc", "-O2", str(src), "-o", str(elf)).returncode == 0
    res = shoal_cli("mpirun", "-n", "4", str(elf), "100000")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode().splitlines()
    assert sorted(line.split(" on ")[1].split(":")[0] for line in out if line.startswith("rank")) == \
        [f"cluster{c}" for c in range(4)]
    if shutil.which("mpicc") and shutil.which("mpiexec"):
        host = tmp_path / "mpi_pi_host"
        subprocess.run(["mpicc", "-O2", str(src), "-o", str(host)], check=True)
        ref = subprocess.run(["mpiexec", "-n", "4", str(host), "100000"], capture_output=True, check=True,
                             timeout=120).stdout.decode().splitlines()
        assert [x for x in out if x.startswith("pi")] == [x for x in ref if x.startswith("pi")]
    else:
        assert out[-1] == "pi ~ 3.141592653598"  # (the midpoint rule's value for 100000 steps)


def test_bench_mpi_quick_writes_its_files(tmp_path: Path) -> None:
    import csv
    res = shoal_cli("bench", "mpi", "--quick", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    for name in ("pingpong", "collectives"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pp = list(csv.DictReader((tmp_path / "pingpong.csv").open()))
    assert [int(r["bytes"]) for r in pp] == [1, 105, 4096, 65536]
    # Never faster than the wire itself; the rendezvous (> 104 B) costs a round trip more.
    assert all(float(r["x_noc_limit"]) >= 1 for r in pp)
    assert float(pp[1]["one_way_us"]) > float(pp[0]["one_way_us"])
    coll = list(csv.DictReader((tmp_path / "collectives.csv").open()))
    assert {(r["ranks"], r["collective"]) for r in coll} >= {("2", "barrier"), ("4", "alltoall")}

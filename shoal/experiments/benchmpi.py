"""`shoal bench mpi --out DIR [--quick]`: guest MPI on the chip (issue 23, part 5), as CSV files
and PNG plots (matplotlib). Simulated figures come from the programs' own MPI_Wtime (simulated
time); host figures are host wall time, in columns and titles that say so.

  pingpong.csv / .png      one-way latency and bandwidth, 1 B to 1 MiB, ranks on neighbour
                           clusters (0 and 1), next to the NoC's physical limit for the same
                           bytes (setup + hop + bytes / link bandwidth, page headers included)
  collectives.csv / .png   barrier, bcast (8 B, 64 KiB), allreduce (8 B), alltoall (1 KiB a
                           pair) against the rank count, one rank per cluster: mppa256 (2..16)
                           and mppa-8x8 (16, 32, 64)
  host cost                host wall time per 8 B message (pingpong.csv, last column), from two
                           runs of different length (start-up cancels)

Every collective run checks its own result against the value computed here (`check`), and the
ping-pong's sizes arrive whole (the program would stop otherwise).
"""

from __future__ import annotations

from pathlib import Path

from shoal.errors import ShoalError
from shoal.experiments.benchmig import _write_csv
from shoal.spec import ChipSpec

PROGRAMS = Path(__file__).parent / "programs"
SIZES = [1, 8, 64, 104, 105, 1024, 4096, 16384, 65536, 262144, 1048576]
QUICK_SIZES = [1, 105, 4096, 65536]
COLL_RANKS = {"mppa256": [2, 4, 8, 16], "mppa-8x8": [16, 32, 64]}
QUICK_COLL_RANKS = {"mppa256": [2, 4]}


def _elf(name: str) -> Path:
    from shoal.toolchain import compile_cached
    return compile_cached([PROGRAMS / f"{name}.c"], ["-O2", "-g0"])


def _job(spec: ChipSpec, name: str, n: int, argv: list[str]) -> tuple[list[str], float]:
    """Run an MPI job of `n` ranks, one per cluster; rank 0's output lines and host seconds."""
    from shoal.api import Chip
    from shoal.tools.mpirun import run_job
    chip = Chip(spec)
    ranks = chip.mpirun(_elf(name), n, [name, *argv])
    run_job(chip, ranks)
    bad = [r for r in ranks if r.returncode != 0]
    if bad:
        raise ShoalError(f"bench mpi: {name} rank {ranks.index(bad[0])} failed: {bad[0].message}")
    return ranks[0].stdout.decode().splitlines(), chip.wall_seconds


def noc_limit_ns(spec: ChipSpec, nbytes: int, hops: int = 1) -> float:
    """The NoC alone: one transfer of `nbytes` over `hops` links, in page-sized chunks with a
    header each (platform/noc.py's rule), as ns of simulated time."""
    chunks = max(1, -(-nbytes // spec.ikc.portal_chunk))
    wire = nbytes + chunks * spec.ikc.portal_header
    noc = spec.noc
    cycles = noc.noc_setup_cycles + hops * noc.noc_hop_cycles + -(-wire // noc.noc_link_bytes_per_cycle)
    return cycles * 1e9 / spec.cluster.freq_hz


def host_cost(spec: ChipSpec, quick: bool) -> float:
    """Host wall time per 8-byte MPI message, from the difference of two ping-pong runs (so
    start-up and MPI_Init cancel): microseconds."""
    few, many = (10, 100) if quick else (20, 400)
    _, w1 = _job(spec, "mpi_pingpong", 2, [str(few), "8"])
    _, w2 = _job(spec, "mpi_pingpong", 2, [str(many), "8"])
    return max(0.0, (w2 - w1) / (2 * (many - few)) * 1e6)


def pingpong(spec: ChipSpec, sizes: list[int], iters: int) -> list[dict]:
    lines, _ = _job(spec, "mpi_pingpong", 2, [str(iters), *map(str, sizes)])
    rows = []
    for line in lines:
        size, its, ns = (int(float(x)) for x in line.split())
        one_way = ns / its / 2
        rows.append({"bytes": size, "one_way_us": round(one_way / 1e3, 3),
                     "bandwidth_MBps": round(size / one_way * 1e3, 1) if size else 0.0,
                     "noc_limit_us": round(noc_limit_ns(spec, size) / 1e3, 3),
                     "x_noc_limit": round(one_way / noc_limit_ns(spec, size), 2)})
    if [r["bytes"] for r in rows] != sizes:
        raise ShoalError("bench mpi: the ping-pong did not report every size")
    return rows


def collectives(spec: ChipSpec, ranks: list[int], iters: int) -> list[dict]:
    """Each collective's time on `n` ranks, one per cluster, for each n of `ranks` that fits."""
    rows = []
    for n in ranks:
        if n > spec.compute_clusters:
            continue
        lines, _ = _job(spec, "mpi_coll", n, [str(iters)])
        check = int(lines[-1].split()[1])
        # Bcast left every rank's value at rank 0's (1): the sum is n; alltoall gives each rank r.
        if check != n + n * (n - 1) // 2:
            raise ShoalError(f"bench mpi: collectives on {n} ranks computed {check}")
        for line in lines[:-1]:
            name, nbytes, its, ns = line.split()
            rows.append({"chip": spec.name, "ranks": n, "collective": name, "bytes": int(nbytes),
                         "us_each": round(float(ns) / int(its) / 1e3, 2)})
    return rows


def _plots(out: Path, pp: list[dict], coll: list[dict], spec: ChipSpec) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    xs = [r["bytes"] for r in pp]
    a.loglog(xs, [r["one_way_us"] for r in pp], "o-", label="MPI one way (simulated)")
    a.loglog(xs, [r["noc_limit_us"] for r in pp], "k--", label="NoC limit")
    a.set_xlabel("message bytes")
    a.set_ylabel("us (simulated)")
    a.legend(fontsize=7)
    a.grid(True, alpha=0.3)
    b.semilogx(xs, [r["bandwidth_MBps"] for r in pp], "o-", label="MPI")
    b.semilogx(xs, [x / r["noc_limit_us"] if r["noc_limit_us"] else 0 for x, r in zip(xs, pp, strict=True)],
               "k--", label="NoC limit")
    b.set_xlabel("message bytes")
    b.set_ylabel("MB/s (simulated)")
    b.legend(fontsize=7)
    b.grid(True, alpha=0.3)
    fig.suptitle(f"MPI ping-pong, neighbour clusters ({spec.name}, simulated); the host spends "
                 f"{pp[0]['host_us_per_8B_message']} us of wall time on an 8 B message", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "pingpong.png")
    plt.close(fig)
    kinds = sorted({(r["collective"], r["bytes"]) for r in coll})
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, nbytes in kinds:
        pts = sorted((r["ranks"], r["us_each"]) for r in coll
                     if (r["collective"], r["bytes"]) == (name, nbytes))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{name} {nbytes} B")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("ranks (one per cluster; mppa256 to 16, mppa-8x8 beyond)")
    ax.set_ylabel("us each (simulated)")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "collectives.png")
    plt.close(fig)


def bench_mpi(out: Path, chip_name: str = "mppa256", quick: bool = False) -> int:
    spec = ChipSpec.load(chip_name)
    if spec.compute_clusters < 2:
        raise ShoalError(f"shoal bench mpi needs two compute clusters: chip {spec.name} has one")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ShoalError(f"cannot create {out}: {e.strerror or e}") from None
    pp = pingpong(spec, QUICK_SIZES if quick else SIZES, 2 if quick else 10)
    host = round(host_cost(spec, quick), 1)
    for r in pp:
        r["host_us_per_8B_message"] = host  # host wall time (not simulated)
    _write_csv(out / "pingpong.csv", pp)
    its = 2 if quick else 5
    if spec.name in COLL_RANKS:  # a preset: the rank counts of this and the bigger chip
        plan = QUICK_COLL_RANKS if quick else COLL_RANKS
        coll = [r for name, ns in plan.items() for r in collectives(ChipSpec.preset(name), ns, its)]
    else:  # a chip file: its own clusters
        coll = collectives(spec, [n for n in (2, 4, 8, 16) if n <= spec.compute_clusters], its)
    _write_csv(out / "collectives.csv", coll)
    _plots(out, pp, coll, spec)
    small = pp[0]
    print(f"ping-pong one way: {small['one_way_us']} us at {small['bytes']} B, "
          f"{pp[-1]['bandwidth_MBps']} MB/s at {pp[-1]['bytes']} B (simulated); "
          f"{host} us of host wall time per 8 B message")
    print(f"wrote pingpong.csv, pingpong.png, collectives.csv, collectives.png to {out}")
    return 0

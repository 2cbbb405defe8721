"""The cases of `shoal bench policy` that no policy was tuned on (issue 24), each with no
policy, with policies, and its ideals, on mppa256 as it comes (2 MiB clusters):

  launcher  a guest spawns N four-threaded workers of uneven length on its own cluster, one
            after the other, and waits for them (pol_launch): no policy, `balance` (placement
            at start and balance), the launcher spawning round robin over the other clusters
            (best static placement), and every thread on its own hart at once.
  pipeline  a 4-stage pipeline and 6 four-threaded workers all started on cluster 0: no
            policy, `balance,locality`, the best static placement (the pipeline together on
            cluster 0, each worker on a cluster of its own).
  mpi       an MPI job of 16 four-threaded ranks of uneven length (pol_mpi): all ranks on
            one cluster, the same with `balance`, placed by load (`mpirun --ppc 0` with
            `balance`), and one rank a cluster (best static).
  memory    6 processes growing to 100 pages each and 6 four-threaded workers on cluster 0:
            no policy (pages go to remote memory), `balance,memory`, and each process on a
            cluster of its own.

Every figure is simulated: makespan, moves, their downtime in all, and the policy's own
NoC traffic (bytes x hops of reports and decisions).
"""

from __future__ import annotations

from pathlib import Path

from shoal.api import Chip, Process
from shoal.experiments.benchpolicy import pipe_argv, program
from shoal.spec import ChipSpec


def _spec(window: int | None) -> ChipSpec:
    spec = ChipSpec.load("mppa256")
    return spec if window is None else spec.replace(window_cycles=window)


def _figures(chip: Chip, procs: list[Process]) -> dict:
    moves = chip.policy_moves()
    bh = chip.noc_stats()["byte_hops"]
    recs = {r.pid: r for r in chip.processes()}
    return {"chip": chip, "procs": procs, "makespan": chip.time, "moves": len(moves),
            "downtime": sum(m.downtime or 0 for m in moves if m.ok),
            "policy_byte_hops": bh.get("policy", 0),
            "codes": [recs[p].exit_code for p in sorted(recs)],
            "born": {m.pid: m.src for m in reversed(chip.migrations)}}


def _own_hart(chip: Chip) -> int:
    """Every thread on its own hart at once: the longest process's instructions per thread
    (its threads share its work evenly), or all instructions over all harts if more."""
    spec = chip.spec
    recs = chip.processes()
    total = sum(r.instructions for r in recs)
    longest = max(r.instructions / max(1, r.threads) for r in recs)
    cores = spec.compute_clusters * spec.cluster.cores_per_cluster
    return int(max(total / cores, longest) * spec.costs.cpi)


def launcher_run(policy: str | None, where: str = "here", n: int = 32, iters: int = 100_000,
                 window: int | None = None, spec: ChipSpec | None = None) -> dict:
    """pol_launch spawning `n` pol_work (4 threads) `where` ("here", "rr", "any")."""
    chip = Chip(spec or _spec(window), policy=policy)
    chip.add_file("pol_work", program("pol_work").read_bytes())
    p = chip.spawn(program("pol_launch"), ["pol_launch", str(n), "4", str(iters), where], cluster=0)
    chip.run()
    out = _figures(chip, [p])
    workers = sorted(r.pid for r in chip.processes() if r.pid != p.pid)
    out["outputs"] = [Process(pid, chip).stdout for pid in workers]
    out["output"] = p.stdout
    out["ideal"] = _own_hart(chip)
    return out


def launcher_want(n: int = 32, iters: int = 100_000) -> list[tuple[str, list[str]]]:
    """The workers' argv (pol_work), as pol_launch makes them, in spawn order."""
    return [("pol_work", ["pol_work", "4", str(iters * (1 + i % 4) // 2), str(i)]) for i in range(n)]


def pipeline_run(policy: str | None, static: bool = False, rounds: int = 100, workers: int = 6,
                 iters: int = 150_000, window: int | None = None) -> dict:
    chip = Chip(_spec(window), policy=policy)
    pipe = [chip.spawn(program("pol_pipe"), pipe_argv(4, rounds, 1024, 2, i), cluster=0) for i in range(4)]
    work = [chip.spawn(program("pol_work"), ["pol_work", "4", str(iters), str(i)],
                       cluster=1 + i if static else 0) for i in range(workers)]
    chip.run()
    out = _figures(chip, pipe + work)
    out["output"] = pipe[-1].stdout
    out["outputs"] = [p.stdout for p in work]
    out["ideal"] = _own_hart(chip)
    return out


def mpi_run(policy: str | None, ppc: int, n: int = 16, iters: int = 100_000,
            window: int | None = None) -> dict:
    from shoal.tools.mpirun import run_job
    chip = Chip(_spec(window), policy=policy)
    ranks = chip.mpirun(program("pol_mpi"), n, ["pol_mpi", "4", str(iters)], ppc=ppc)
    end = run_job(chip, ranks)
    out = _figures(chip, ranks)
    out["output"] = ranks[0].stdout
    out["failed"] = end.failed
    out["ideal"] = _own_hart(chip)
    return out


def memory_run(policy: str | None, static: bool = False, grow: int = 6, pages: int = 100,
               workers: int = 6, iters: int = 100_000, window: int | None = None) -> dict:
    chip = Chip(_spec(window), policy=policy)
    g = [chip.spawn(program("pol_grow"), ["pol_grow", str(pages), "2000", str(i)],
                    cluster=1 + i if static else 0) for i in range(grow)]
    w = [chip.spawn(program("pol_work"), ["pol_work", "4", str(iters), str(i)],
                    cluster=1 + grow + i if static else 0) for i in range(workers)]
    chip.run()
    out = _figures(chip, g + w)
    out["outputs"] = [p.stdout for p in g + w]
    out["rmem_faults"] = sum(r.rmem_faults for r in chip.processes())
    out["ideal"] = _own_hart(chip)
    return out


def place_cases(quick: bool = False) -> tuple[list[dict], bool, list[tuple[str, Chip]]]:
    """Every case: CSV rows (µs), whether every result was right, and the chips whose moves
    the bench lists. Outputs are compared between the runs of a case (and with each other's
    expected text where the program prints one)."""
    us = 1e6 / ChipSpec.load("mppa256").cluster.freq_hz
    rows: list[dict] = []
    chips: list[tuple[str, Chip]] = []
    ok = True

    def row(case: str, variant: str, r: dict) -> None:
        rows.append({"case": case, "variant": variant, "makespan_us": round(r["makespan"] * us, 1),
                     "ideal_own_hart_us": round(r["ideal"] * us, 1), "migrations": r["moves"],
                     "total_downtime_us": round(r["downtime"] * us, 1),
                     "policy_byte_hops": r["policy_byte_hops"]})
        if r["moves"]:
            chips.append((f"{case} {variant}", r["chip"]))

    n = 16 if quick else 32
    runs = {v: launcher_run(p, w, n) for v, p, w in
            (("no policy", None, "here"), ("balance", "balance", "here"),
             ("round robin (static)", None, "rr"))}
    ok &= all(r["outputs"] == runs["no policy"]["outputs"] and set(r["codes"]) == {0} for r in runs.values())
    for v, r in runs.items():
        row(f"launcher {n}x4", v, r)
    rounds = 50 if quick else 100
    runs = {"no policy": pipeline_run(None, rounds=rounds),
            "balance,locality": pipeline_run("balance,locality", rounds=rounds),
            "best static": pipeline_run(None, True, rounds=rounds)}
    ok &= all(r["output"] == runs["no policy"]["output"] and r["outputs"] == runs["no policy"]["outputs"]
              and set(r["codes"]) == {0} for r in runs.values())
    for v, r in runs.items():
        row("pipeline + 6 workers", v, r)
    ranks = 8 if quick else 16
    runs = {"all on one cluster": mpi_run(None, ranks, ranks),
            "one cluster + balance": mpi_run("balance", ranks, ranks),
            "placed (--ppc 0) + balance": mpi_run("balance", 0, ranks),
            "one rank a cluster (static)": mpi_run(None, 1, ranks)}
    ok &= all(r["output"] == runs["all on one cluster"]["output"] and r["failed"] is None
              for r in runs.values())
    for v, r in runs.items():
        row(f"mpi {ranks} ranks x4", v, r)
    runs = {"no policy": memory_run(None), "balance,memory": memory_run("balance,memory"),
            "best static": memory_run(None, True)}
    ok &= all(r["outputs"] == runs["no policy"]["outputs"] and set(r["codes"]) == {0} for r in runs.values())
    for v, r in runs.items():
        row("memory mix", v, r)
    return rows, ok, chips


def plot(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(r["case"] for r in rows))
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 4.2), dpi=110)
    for ax, case in zip(axes, cases, strict=True):
        rs = [r for r in rows if r["case"] == case]
        xs = list(range(len(rs)))
        ax.bar(xs, [r["makespan_us"] / 1e3 for r in rs], color=[f"C{i}" for i in xs])
        ax.plot(xs, [r["ideal_own_hart_us"] / 1e3 for r in rs], "k_", markersize=18,
                label="every thread on its own hart")
        ax.set_xticks(xs, [r["variant"] for r in rs], rotation=25, ha="right", fontsize=7)
        ax.set_title(f"{case} (mppa256)", fontsize=9)
        ax.set_ylabel("makespan, ms (simulated)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

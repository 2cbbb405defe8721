"""`shoal bench policy --out DIR`: the automatic migration policies against no policy, each
figure next to its ideal. The workloads are also what tests/test_policy.py checks.

  balance    N four-threaded processes started on one cluster: makespan (simulated) without a
             policy, with `balance`, and the ideal (every thread on its own hart at once:
             max(all instructions / all harts, the longest thread)).
  locality   a pipeline of processes placed at random (seeded): NoC bytes x hops (all traffic,
             the migrations included) without a policy, with `locality`, and with the optimal
             placement (every stage on one cluster from the start).
  evacuate   a busy cluster (a pipeline and compute processes) evacuated at a given time: the
             time until the last of its processes runs elsewhere, next to the NoC's time for
             their bytes through the cluster's links.
  moves      the number of migrations each policy made and their total downtime.
  place      cases no policy was tuned on (experiments/benchplace.py): the issue-24 launcher,
             a pipeline among workers, an MPI job, a memory-hungry mix, each with no policy,
             with policies, and its ideals.

Files: balance.csv, locality.csv, evacuate.csv, moves.csv, place.csv, policy.png (the first
three side by side) and place.png. Every time is simulated (µs), except host_wall_s.
"""

from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

from shoal.api import Chip
from shoal.errors import ShoalError
from shoal.spec import ChipSpec

PROGRAMS = Path(__file__).parent / "programs"
US = 1e6


def program(name: str) -> Path:
    from shoal.toolchain import compile_cached
    return compile_cached([PROGRAMS / f"{name}.c"], ["-O2", "-g0", "-ffp-contract=off"])


def balance_spec() -> ChipSpec:
    """mppa256 with 4 MiB per cluster: 32 four-threaded processes (~24 frames each) must all
    fit on one cluster at the start, which 2 MiB does not allow."""
    return ChipSpec.load("mppa256").replace(memory_per_cluster=4 << 20)


def balance_run(policy: str | None, n: int = 32, threads: int = 4, iters: int = 200_000,
                spec: ChipSpec | None = None, window: int | None = None) -> dict:
    spec = spec or balance_spec()
    if window is not None:
        spec = spec.replace(window_cycles=window)
    t0 = time.perf_counter()
    chip = Chip(spec, policy=policy)
    elf = program("pol_work")
    ps = [chip.spawn(elf, ["pol_work", str(threads), str(iters), str(i)], cluster=0) for i in range(n)]
    chip.run()
    recs = [p.record for p in ps]
    total = sum(r.instructions for r in recs)
    longest = max(r.instructions / max(1, threads) for r in recs)
    ideal = max(total / (spec.compute_clusters * spec.cluster.cores_per_cluster), longest) * spec.costs.cpi
    return {"chip": chip, "procs": ps, "makespan": chip.time, "ideal": int(ideal),
            "outputs": [p.stdout for p in ps], "codes": [p.returncode for p in ps],
            "wall": time.perf_counter() - t0}


def pipe_argv(stages: int, rounds: int, words: int, work: int, i: int) -> list[str]:
    return ["pol_pipe", str(stages), str(rounds), str(words), str(work), str(i)]


def pipe_checksum(stages: int, rounds: int, words: int, work: int) -> int:
    """What pol_pipe's last stage prints, computed on the host."""
    mask = (1 << 32) - 1
    x, total = 12345, 0
    for _ in range(rounds):
        buf = []
        for _ in range(words):
            x = (x * 1103515245 + 12345) & mask
            buf.append(x >> 8)
        for me in range(1, stages):
            a = 2 * me + 1
            for _ in range(work):
                buf = [(v * a + me) & mask for v in buf]
        for v in buf:
            total = (total * 1000003 + v) & ((1 << 64) - 1)
    return total


def random_placement(stages: int, spec: ChipSpec, seed: int) -> list[int]:
    """Stages on distinct clusters, drawn with a seeded generator (deterministic)."""
    return random.Random(seed).sample(range(spec.compute_clusters), stages)


def locality_run(policy: str | None, clusters: list[int], rounds: int = 100, words: int = 1024,
                 work: int = 2, spec: ChipSpec | None = None, window: int | None = None) -> dict:
    spec = spec or ChipSpec.load("mppa256")
    if window is not None:
        spec = spec.replace(window_cycles=window)
    t0 = time.perf_counter()
    chip = Chip(spec, policy=policy)
    elf = program("pol_pipe")
    n = len(clusters)
    ps = [chip.spawn(elf, pipe_argv(n, rounds, words, work, i), cluster=c) for i, c in enumerate(clusters)]
    chip.run()
    bh = chip.noc_stats()["byte_hops"]
    return {"chip": chip, "procs": ps, "byte_hops": sum(bh.values()), "ikc_byte_hops": bh.get("ikc", 0),
            "makespan": chip.time, "output": ps[-1].stdout, "codes": [p.returncode for p in ps],
            "wall": time.perf_counter() - t0}


def evacuate_run(at: int, cluster: int = 1, rounds: int = 60, iters: int = 300_000,
                 spec: ChipSpec | None = None, window: int | None = None) -> dict:
    """On `tiny`: a pipeline with three of its four stages on `cluster` (the fourth on the next
    one), and two four-threaded compute processes there too; `cluster` is evacuated at `at`."""
    spec = spec or ChipSpec.load("tiny")
    if window is not None:
        spec = spec.replace(window_cycles=window)
    t0 = time.perf_counter()
    chip = Chip(spec)
    other = (cluster + 1) % spec.compute_clusters
    pipe = [chip.spawn(program("pol_pipe"), pipe_argv(4, rounds, 1024, 2, i),
                       cluster=[cluster, cluster, other, cluster][i]) for i in range(4)]
    work = [chip.spawn(program("pol_work"), ["pol_work", "4", str(iters), str(i)], cluster=cluster)
            for i in range(2)]
    chip.evacuate(cluster, at=at)
    chip.run()
    moves = [m for m in chip.policy_moves() if m.src == cluster]
    done = max((m.thawed or 0) for m in moves) if moves else at
    moved = sum(m.bytes for m in moves)
    # The NoC alone: the bytes through the cluster's 4 torus links at the link rate.
    ideal = moved / (4 * spec.noc.noc_link_bytes_per_cycle)
    return {"chip": chip, "procs": pipe + work, "pipe": pipe, "work": work, "moves": moves,
            "evacuation": done - at, "ideal": int(ideal), "codes": [p.returncode for p in pipe + work],
            "wall": time.perf_counter() - t0}


def _us(spec: ChipSpec, cycles: float) -> float:
    return round(cycles * US / spec.cluster.freq_hz, 1)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _moves_rows(name: str, chip: Chip) -> list[dict]:
    by: dict[str, list] = {}
    for m in chip.policy_moves():
        by.setdefault(m.by[7:], []).append(m)
    return [{"experiment": name, "policy": pol, "migrations": len(ms), "done": sum(1 for m in ms if m.ok),
             "total_downtime_us": _us(chip.spec, sum(m.downtime or 0 for m in ms if m.ok))}
            for pol, ms in sorted(by.items())]


def bench_policy(out: Path, quick: bool = False) -> int:
    from tqdm import tqdm
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ShoalError(f"cannot create {out}: {e.strerror or e}") from None
    counts = [8, 32] if quick else [8, 16, 24, 32]
    iters = 50_000 if quick else 200_000
    seeds = [1] if quick else [1, 2, 3, 4]
    rounds = 100 if quick else 200
    bar = tqdm(total=2 * len(counts) + 3 * len(seeds) + 1, desc="policy bench", unit="run", file=sys.stderr)
    ok = True
    bal, moves = [], []
    for n in counts:
        base = balance_run(None, n, iters=iters)
        bar.update()
        got = balance_run("balance", n, iters=iters)
        bar.update()
        spec = got["chip"].spec
        ok &= base["outputs"] == got["outputs"] and set(got["codes"]) == {0}
        bal.append({"processes": n, "threads_each": 4, "makespan_none_us": _us(spec, base["makespan"]),
                    "makespan_balance_us": _us(spec, got["makespan"]), "ideal_us": _us(spec, got["ideal"]),
                    "migrations": len(got["chip"].policy_moves()), "host_wall_s": round(got["wall"], 2)})
        moves += _moves_rows(f"balance {n}", got["chip"])
    loc = []
    mpp = ChipSpec.load("mppa256")
    want = pipe_checksum(4, rounds, 1024, 2)
    for seed in seeds:
        where = random_placement(4, mpp, seed)
        base = locality_run(None, where, rounds)
        bar.update()
        got = locality_run("locality", where, rounds)
        bar.update()
        best = locality_run(None, [where[0]] * 4, rounds)
        bar.update()
        for r in (base, got, best):
            ok &= r["output"].endswith(f"checksum {want}\n".encode()) and set(r["codes"]) == {0}
        loc.append({"seed": seed, "placement": " ".join(map(str, where)),
                    "byte_hops_none": base["byte_hops"], "byte_hops_locality": got["byte_hops"],
                    "byte_hops_optimal": best["byte_hops"], "ikc_byte_hops_none": base["ikc_byte_hops"],
                    "ikc_byte_hops_locality": got["ikc_byte_hops"],
                    "ikc_byte_hops_optimal": best["ikc_byte_hops"],
                    "migrations": len(got["chip"].policy_moves()),
                    "makespan_none_us": _us(mpp, base["makespan"]),
                    "makespan_locality_us": _us(mpp, got["makespan"])})
        moves += _moves_rows(f"locality seed {seed}", got["chip"])
    ev = evacuate_run(800_000, rounds=rounds)
    bar.update()
    bar.close()
    tiny = ev["chip"].spec
    ok &= set(ev["codes"]) == {0} and ev["chip"].clusters()[1].processes == ()
    evac = [{"cluster": 1, "processes": len(ev["moves"]), "bytes_moved": sum(m.bytes for m in ev["moves"]),
             "evacuation_us": _us(tiny, ev["evacuation"]), "noc_ideal_us": _us(tiny, ev["ideal"]),
             "total_downtime_us": _us(tiny, sum(m.downtime or 0 for m in ev["moves"]))}]
    moves += _moves_rows("evacuate", ev["chip"])
    _write_csv(out / "balance.csv", bal)
    _write_csv(out / "locality.csv", loc)
    _write_csv(out / "evacuate.csv", evac)
    from shoal.experiments.benchplace import place_cases, plot
    place, right, chips = place_cases(quick)
    ok &= right
    for name, chip in chips:
        moves += _moves_rows(name, chip)
    _write_csv(out / "place.csv", place)
    plot(out / "place.png", place)
    _write_csv(out / "moves.csv", moves)
    _plot(out / "policy.png", bal, loc, evac)
    print(f"policies: results {'right' if ok else 'WRONG'}; wrote "
          f"{', '.join(sorted(f.name for f in out.iterdir() if f.suffix in ('.csv', '.png')))} to {out}")
    return 0 if ok else 1


def _plot(path: Path, bal: list[dict], loc: list[dict], evac: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), dpi=110)
    ax = axes[0]
    xs = [r["processes"] for r in bal]
    ax.plot(xs, [r["makespan_none_us"] / 1e3 for r in bal], "o-", label="no policy")
    ax.plot(xs, [r["makespan_balance_us"] / 1e3 for r in bal], "s-", label="balance")
    ax.plot(xs, [r["ideal_us"] / 1e3 for r in bal], "k--", label="ideal (perfect balance)")
    ax.set_xlabel("4-thread processes started on cluster 0")
    ax.set_ylabel("makespan, ms (simulated)")
    ax.set_title("balance (mppa256, 4 MiB clusters)")
    ax.legend(fontsize=8)
    ax = axes[1]
    labels = [f"seed {r['seed']}" for r in loc]
    pos = list(range(len(loc)))
    w = 0.27
    ax.bar([p - w for p in pos], [r["byte_hops_none"] / 1e6 for r in loc], w, label="random placement")
    ax.bar(pos, [r["byte_hops_locality"] / 1e6 for r in loc], w, label="with locality")
    ax.bar([p + w for p in pos], [r["byte_hops_optimal"] / 1e6 for r in loc], w, label="optimal placement")
    ax.set_xticks(pos, labels)
    ax.set_ylabel("NoC MB x hops (all traffic)")
    ax.set_title("locality: a 4-stage pipeline (mppa256)")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.bar([0, 1], [evac[0]["evacuation_us"], evac[0]["noc_ideal_us"]], color=["C0", "k"])
    ax.set_xticks([0, 1], ["evacuation", "NoC alone"])
    ax.set_ylabel("µs (simulated)")
    ax.set_title(f"evacuate a busy cluster ({evac[0]['processes']} processes, tiny)")
    for a in axes:
        a.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

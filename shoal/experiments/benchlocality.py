"""`shoal bench locality --out DIR [--quick]`: issue 21's locality experiments on the L1 cache
model, as CSV files and PNG plots (matplotlib), each figure with its sensitivity to the
parameters the k1b's public sources do not give (miss cycles, ways). Every figure is
SIMULATED (cycles of the chip's clock, or µs of simulated time); no host time is written.

  e1_forkjoin.csv / .png    E1: the seed's fork-join (N = 1..16 threads created and joined),
  e1_totals.csv             kernel-mode misses and stall, scattered vs uarea kernel layout,
                            with and without Nanvix's invalidations (experiments/forkjoin.py)
  e2_placement.csv / .png   E2: a process's data in contiguous (lowest) vs scattered frames,
                            D-cache direct-mapped, 2 and 4 ways (experiments/locality.py)
  e3_migration.csv / .png   E3: stall cycles a move costs (each method) against the same
                            program unmoved, next to the move's downtime

The experiments are the entries of EXPERIMENTS, in order: (name, what it shows, function).
A function takes (spec, out directory, quick, step) and returns the names of the files it
wrote and whether its checks held.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from shoal.errors import ShoalError
from shoal.experiments import locality as ex
from shoal.experiments.benchmig import _write_csv
from shoal.spec import ChipSpec

Step = Callable[[], None]
Experiment = Callable[[ChipSpec, Path, bool, Step], tuple[list[str], bool]]


def _pyplot():  # noqa: ANN202 (matplotlib's module)
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def e1_forkjoin(spec: ChipSpec, out: Path, quick: bool, step: Step) -> tuple[list[str], bool]:
    from shoal.experiments import forkjoin as fj
    rows = fj.experiment(spec, quick)
    tot = fj.totals(rows)
    step()
    _write_csv(out / "e1_forkjoin.csv", rows)
    _write_csv(out / "e1_totals.csv", tot)
    for line in fj.summary_lines(tot):
        print(line)
    # The model's property: both layouts hold the same structures, so they make about the same
    # accesses (they differ by the slot search only).
    ok = all(abs(t["d_accesses_change"]) <= 0.05 for t in tot)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=110)
    cache = spec.cache
    base = [r for r in rows
            if r["ways"] == cache.dcache_ways and r["miss_cycles"] == cache.dcache_miss_cycles]
    for ax, inval in zip(axes, (True, False), strict=True):
        for layout, colour in (("scattered", "tab:red"), ("uarea", "tab:blue")):
            pts = [r for r in base if r["layout"] == layout and r["invalidations"] == inval]
            ax.plot([r["n"] for r in pts], [r["d_stall"] for r in pts], "o-", color=colour,
                    label=f"{layout}: D stall")
            ax.plot([r["n"] for r in pts], [r["i_stall"] for r in pts], "x:", color=colour,
                    label=f"{layout}: I stall")
        ax.set_xlabel("threads created and joined (N)")
        ax.set_ylabel(f"kernel stall cycles, {fj.MEASURED if not quick else 20} iterations (simulated)")
        ax.set_title(f"{'with' if inval else 'without'} Nanvix's D-cache invalidations", fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    s_d, u_d = fj.SEED["d_stall"]
    fig.suptitle(f"E1: fork-join, kernel mode ({spec.name}, simulated; the seed on the k1b: D stall "
                 f"{(u_d - s_d) / s_d:+.1%} with the user area)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "e1_forkjoin.png")
    plt.close(fig)
    return ["e1_forkjoin.csv", "e1_totals.csv", "e1_forkjoin.png"], ok


def e2_placement(spec: ChipSpec, out: Path, quick: bool, step: Step) -> tuple[list[str], bool]:
    sizes = (8192,) if quick else ex.E2_BYTES
    misses = (12,) if quick else ex.MISS_CYCLES
    rows = ex.e2(spec, sizes, ex.WAYS, misses, rounds=50 if quick else ex.E2_ROUNDS, step=step)
    _write_csv(out / "e2_placement.csv", rows)
    # The model's property: with 2 or more ways (8 KiB, 64 B lines) placement changes nothing.
    ok = all(a["stall_cycles"] == b["stall_cycles"] and a["load_misses"] == b["load_misses"]
             for a, b in zip(rows[::2], rows[1::2], strict=True) if a["ways"] >= 2)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 4), dpi=110, squeeze=False)
    for ax, n in zip(axes[0], sizes, strict=True):
        for pl, colour in zip(ex.PLACEMENTS, ("tab:blue", "tab:red"), strict=True):
            for miss, style in zip(misses, ("o:", "o-", "o--"), strict=False):
                pts = [r for r in rows
                       if r["bytes"] == n and r["placement"] == pl and r["miss_cycles"] == miss]
                ax.plot([r["ways"] for r in pts], [100 * r["stall_share"] for r in pts], style, color=colour,
                        label=f"{pl}, miss {miss} cycles")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(ex.WAYS), [str(w) for w in ex.WAYS])
        ax.set_xlabel("D-cache ways (8 KiB, 64 B lines)")
        ax.set_ylabel("stall cycles, % of simulated time")
        ax.set_title(f"data set {n // 1024} KiB")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"E2: frame placement vs D-cache ways ({spec.name}, simulated; "
                 f"2+ ways: index + offset within a page, placement cannot matter)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "e2_placement.png")
    plt.close(fig)
    return ["e2_placement.csv", "e2_placement.png"], ok


def e3_migration(spec: ChipSpec, out: Path, quick: bool, step: Step) -> tuple[list[str], bool]:
    ways = (1, 2) if quick else ex.WAYS
    misses = (12,) if quick else ex.MISS_CYCLES
    rows = ex.e3(spec, ways, misses, step=step)
    _write_csv(out / "e3_migration.csv", rows)
    ok = all(r["extra_stall"] > 0 for r in rows)  # the moved process refills what the other kept
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(ways), figsize=(4.5 * len(ways), 4), dpi=110, squeeze=False)
    width = 0.8 / len(misses)
    for ax, w in zip(axes[0], ways, strict=True):
        for j, miss in enumerate(misses):
            pts = [r for r in rows if r["ways"] == w and r["miss_cycles"] == miss]
            xs = [i + (j - (len(misses) - 1) / 2) * width for i in range(len(pts))]
            ax.bar(xs, [r["extra_stall_us"] for r in pts], width, label=f"miss {miss} cycles")
        ax.set_xticks(range(len(ex.METHODS)), list(ex.METHODS))
        ax.set_ylabel("stall added by the move, µs (simulated)")
        downs = [r["downtime_us"] for r in rows if r["ways"] == w]
        ax.set_title(f"D-cache {w}-way (downtime {min(downs):.0f}-{max(downs):.0f} µs)", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_ylim(0, 1.3 * max(r["extra_stall_us"] for r in rows))
    axes[0][0].legend(fontsize=7, ncol=len(misses))
    fig.suptitle(f"E3: a {ex.E3_BYTES // 1024} KiB warm data set moved to a cold core vs unmoved "
                 f"({spec.name}, simulated)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "e3_migration.png")
    plt.close(fig)
    return ["e3_migration.csv", "e3_migration.png"], ok


# The experiments `shoal bench locality` runs, in order: (name, what it shows, function).
EXPERIMENTS: list[tuple[str, str, Experiment]] = [
    ("E1", "the seed's fork-join: kernel-mode misses, scattered vs uarea kernel layout", e1_forkjoin),
    ("E2", "frame placement (contiguous vs scattered) x D-cache ways", e2_placement),
    ("E3", "stall cycles after a migration vs an unmoved control, per method", e3_migration),
]


def _steps(quick: bool) -> int:
    e2 = 1 * 3 * 1 if quick else len(ex.E2_BYTES) * len(ex.WAYS) * len(ex.MISS_CYCLES)
    e3 = 2 * 1 if quick else len(ex.WAYS) * len(ex.MISS_CYCLES)
    return 1 + e2 + e3


def bench_locality(out: Path, chip_name: str = "mppa256", quick: bool = False) -> int:
    from tqdm import tqdm

    spec = ChipSpec.load(chip_name)
    if spec.compute_clusters < 2:
        raise ShoalError(f"shoal bench locality moves a process between clusters: chip {spec.name} "
                         f"has only {spec.compute_clusters} compute cluster")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ShoalError(f"cannot create {out}: {e.strerror or e}") from None
    bar = tqdm(total=_steps(quick), desc="locality bench", unit="point", file=sys.stderr)
    files: list[str] = []
    ok = True
    for name, what, run in EXPERIMENTS:
        got, good = run(spec, out, quick, bar.update)
        files += got
        ok &= good
        if not good:
            print(f"{name} ({what}): a check failed, see {got[0]}", file=sys.stderr)
    bar.close()
    print(f"wrote {', '.join(files)} to {out} (simulated figures)")
    return 0 if ok else 1

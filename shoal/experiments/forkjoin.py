"""E1: the seed's locality experiment, Nanvix's fork-join microbenchmark on one compute
cluster, with the kernel's per-thread state scattered over global arrays or gathered in one
area per process (kernel/kmem.py), with and without Nanvix's D-cache invalidations.

The master thread creates N empty threads and joins them (N = 1..16); 10 warm-up and 100
measured iterations, as the seed's authors ran it: the program runs twice (10, and 10 + 100
iterations) and the measured figures are the difference, so start-up and warm-up cancel.
Kernel-mode figures only (the kernel core's modelled loads, stores and fetches), simulated.

The seed's figures (k1b, kernel mode, with the user area against without): D-cache miss stall
cycles 35,879 -> 33,795 (-5.8 %), I-cache 148,279 -> 138,704 (-6.5 %), kernel cycles -6.3 %,
stall fractions unchanged (D 2.6 %, I 10.6 % of kernel cycles).
"""

from __future__ import annotations

from pathlib import Path

from shoal.spec import ChipSpec

PROGRAM = Path(__file__).resolve().parent / "programs" / "forkjoin.c"
WARMUP, MEASURED = 10, 100
SEED = {"d_stall": (35_879, 33_795), "i_stall": (148_279, 138_704), "kernel_cycles_change": -0.063}
FIELDS = ("n", "layout", "invalidations", "ways", "miss_cycles", "d_accesses", "d_misses", "d_stall",
          "i_fetches", "i_misses", "i_stall", "kernel_cycles")


def _run(spec: ChipSpec, elf: Path, n: int, iters: int) -> tuple[tuple[int, ...], int]:
    from shoal.api import Chip
    chip = Chip(spec)
    p = chip.spawn(elf, ["forkjoin", str(n), str(iters)])
    chip.run()
    if p.exit_code != 0:
        raise RuntimeError(f"forkjoin {n} {iters} failed: {p.stderr.decode(errors='replace')}")
    return p.record.kernel_caches or (0,) * 7, sum(p.record.syscalls.values())


def point(spec: ChipSpec, n: int, warmup: int = WARMUP, measured: int = MEASURED) -> dict:
    """One measured point: the kernel's cache figures of `measured` iterations with N threads."""
    from shoal.toolchain import compile_cached
    elf = compile_cached([PROGRAM], ["-O2", "-g0"])
    (a, calls_a), (b, calls_b) = _run(spec, elf, n, warmup), _run(spec, elf, n, warmup + measured)
    d = [y - x for x, y in zip(a, b, strict=True)]
    loads, stores, lm, sm, fetches, fm, _stall = d[:7]
    d_stall, i_stall = lm * spec.cache.dcache_miss_cycles, fm * spec.cache.icache_miss_cycles
    # Kernel cycles: each call's fixed cost (syscall_cycles) and the stalls of its accesses.
    kernel = (calls_b - calls_a) * spec.costs.syscall_cycles + d_stall + i_stall
    return {"n": n, "layout": spec.kernel.kernel_layout, "invalidations": spec.kernel.kernel_invalidations,
            "ways": spec.cache.dcache_ways, "miss_cycles": spec.cache.dcache_miss_cycles,
            "d_accesses": loads + stores, "d_misses": lm + sm, "d_stall": d_stall,
            "i_fetches": fetches, "i_misses": fm, "i_stall": i_stall, "kernel_cycles": kernel}


def experiment(base: ChipSpec, quick: bool = False) -> list[dict]:
    """Every point of E1: N x layout x invalidations, then the totals' sensitivity to the
    assumed ways and miss cycles (N summed)."""
    ns = [1, 4, 16] if quick else list(range(1, 17))
    measured = 20 if quick else MEASURED
    rows = []
    for inval in (True, False):
        for layout in ("scattered", "uarea"):
            spec = base.replace(caches=True, kernel_layout=layout, kernel_invalidations=inval)
            rows += [point(spec, n, WARMUP, measured) for n in ns]
    for ways, miss in ([(1, 12), (4, 12), (2, 6), (2, 24)] if not quick else [(1, 12), (2, 24)]):
        for layout in ("scattered", "uarea"):
            spec = base.replace(caches=True, kernel_layout=layout, dcache_ways=ways,
                                       icache_ways=ways, dcache_miss_cycles=miss, icache_miss_cycles=miss)
            rows += [point(spec, n, WARMUP, measured) for n in ns]
    return rows


def totals(rows: list[dict]) -> list[dict]:
    """Per configuration, the figures summed over N, uarea against scattered."""
    out = []
    keys = sorted({(r["invalidations"], r["ways"], r["miss_cycles"]) for r in rows},
                  key=lambda k: (not k[0], k[1], k[2]))
    for inval, ways, miss in keys:
        sums = {}
        for layout in ("scattered", "uarea"):
            sel = [r for r in rows if (r["layout"], r["invalidations"], r["ways"], r["miss_cycles"])
                   == (layout, inval, ways, miss)]
            sums[layout] = {f: sum(r[f] for r in sel) for f in FIELDS[5:]}
        if not all(sums.values()):
            continue
        s, u = sums["scattered"], sums["uarea"]

        def change(f: str, s: dict = s, u: dict = u) -> float:
            return (u[f] - s[f]) / s[f] if s[f] else 0.0
        out.append({"invalidations": inval, "ways": ways, "miss_cycles": miss,
                    **{f"scattered_{f}": s[f] for f in ("d_accesses", "d_misses", "d_stall", "i_stall",
                                                         "kernel_cycles")},
                    **{f"uarea_{f}": u[f] for f in ("d_accesses", "d_misses", "d_stall", "i_stall",
                                                     "kernel_cycles")},
                    "d_stall_change": change("d_stall"), "i_stall_change": change("i_stall"),
                    "kernel_cycles_change": change("kernel_cycles"),
                    "d_accesses_change": change("d_accesses"), "d_misses_change": change("d_misses"),
                    "d_stall_fraction_uarea": u["d_stall"] / max(1, u["kernel_cycles"]),
                    "i_stall_fraction_uarea": u["i_stall"] / max(1, u["kernel_cycles"])})
    return out


def summary_lines(tot: list[dict]) -> list[str]:
    """What a reader wants from E1, next to the seed's figures."""
    s_d, u_d = SEED["d_stall"]
    s_i, u_i = SEED["i_stall"]
    lines = [f"E1 fork-join (kernel mode, simulated; uarea against scattered, N = 1..16 summed). Seed "
             f"(k1b): D stall {(u_d - s_d) / s_d:+.1%}, I stall {(u_i - s_i) / s_i:+.1%}, kernel "
             f"cycles {SEED['kernel_cycles_change']:+.1%}"]
    for t in tot:
        lines.append(
            f"  {'with' if t['invalidations'] else 'without'} invalidations, {t['ways']} ways, "
            f"{t['miss_cycles']}-cycle misses: D stall {t['d_stall_change']:+.1%} "
            f"({t['scattered_d_stall']:,} -> {t['uarea_d_stall']:,}), I stall {t['i_stall_change']:+.1%}, "
            f"kernel cycles {t['kernel_cycles_change']:+.1%}; D accesses {t['d_accesses_change']:+.1%}, "
            f"D misses {t['d_misses_change']:+.1%}")
    return lines

"""`shoal demo`: the main job. On the mppa256 chip it
  0. runs a 16-thread program on every compute cluster at once and checks every answer;
  1. migrates a multi-threaded process around all 16 clusters, its data checked at the end;
  2. measures migration downtime versus threads and versus pages in use;
  3. migrates half of the clusters' processes to the other half at once (contention);
  4. moves a 1 MiB process with a hot set by each method: stop-and-copy, pre-copy, post-copy,
     hybrid (the short version of `shoal bench migration`'s live_methods);
  5. memory: the seed's fork-join with the kernel's state scattered or in one area per process,
     and what a move costs in cold caches (the short version of `shoal bench locality`).
Simulated time comes from the timing model; host wall time is reported apart."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from shoal.api import Chip
from shoal.experiments import migration as ex
from shoal.spec import ChipSpec

PROGRAM = Path(__file__).parent / "programs" / "primes.c"
THREADS = (1, 2, 4, 8, 16)
PAGES = (0, 32, 64, 128, 256, 384)


def count_primes(limit: int) -> int:
    sieve = bytearray([1]) * max(limit, 2)
    sieve[0:2] = b"\0\0"
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, limit, i)))
    return sum(sieve[:limit])


def say(text: str = "") -> None:
    print(text)
    sys.stdout.flush()


def part0(spec: ChipSpec, trace: Path | None = None) -> bool:
    t0 = time.perf_counter()
    chip = Chip(spec, trace=trace)
    boot = time.perf_counter() - t0
    threads = spec.cluster.cores_per_cluster
    say(f"shoal demo: {spec.name}, {spec.compute_clusters} compute clusters x {threads} cores, "
        f"{spec.cluster.memory_per_cluster // 1024} KiB per cluster, {spec.cluster.freq_hz / 1e6:g} MHz "
        f"(booted in {boot:.2f} s host time)")
    say("(the first run compiles the demo programs; building musl once takes about a minute)")
    say(f"\n0. a {threads}-thread program (primes) on every compute cluster at once")
    procs = []
    for c in range(spec.compute_clusters):
        limit = 20000 + 2000 * c
        procs.append((limit, chip.spawn(PROGRAM, ["primes", str(limit), str(threads)], cluster=c)))
    t1 = time.perf_counter()
    chip.run()
    wall = time.perf_counter() - t1
    say(f"{'cluster':>7} {'pid':>4} {'limit':>6} {'primes':>7} {'expected':>8} {'ok':>3} {'sim ms':>8} "
        f"{'instructions':>12}")
    ok_all = True
    for limit, p in procs:
        expected = count_primes(limit)
        words = p.stdout.decode(errors="replace").split()
        got = int(words[3]) if len(words) == 4 and words[0] == "primes" else None
        ok = got == expected and p.returncode == 0
        ok_all &= ok
        ms = spec.cycles_to_seconds(p.cycles or 0) * 1e3
        say(f"{p.cluster:>7} {p.pid:>4} {limit:>6} {got if got is not None else '-':>7} {expected:>8} "
            f"{'yes' if ok else 'NO':>3} {ms:>8.3f} {p.instructions:>12}")
    total = chip.instructions
    say(f"simulated: {chip.seconds * 1e3:.3f} ms of chip time | host: {wall:.2f} s for "
        f"{total / 1e6:.1f} M guest instructions ({total / wall / 1e6:.1f} guest MIPS on one core)")
    return ok_all


def part1(spec: ChipSpec, trace: Path | None = None) -> bool:
    say(f"\n1. a 4-thread process with 64 pages of data migrates itself around all "
        f"{spec.compute_clusters} clusters")
    chip, p, ok = ex.tour(64, 4, spec, trace=trace)
    ms = p.migrations
    us = 1e6 / spec.cluster.freq_hz
    dts = [m.downtime or 0 for m in ms]
    say(f"   {len([m for m in ms if m.ok])} of {len(ms)} hops done; downtime per hop {min(dts) * us:.1f} to "
        f"{max(dts) * us:.1f} us simulated; {ms[0].bytes} bytes, {ms[0].pages} pages, {ms[0].threads} "
        f"threads moved each time")
    say(f"   data checksum after the tour {'matches the host computation' if ok else 'IS WRONG'}: "
        f"{p.stdout.decode().strip()}")
    return ok


def table(points: list[ex.Point], spec: ChipSpec, key: str) -> None:
    say(f"   {key:>7} {'image pages':>11} {'bytes':>8} {'downtime us':>11} {'NoC limit us':>12} "
        f"{'x limit':>7} {'seed ms':>8}")
    for pt in points:
        r = pt.as_row(spec)
        say(f"   {r[key]:>7} {r['image_pages']:>11} {r['bytes']:>8} {r['downtime_us']:>11} "
            f"{r['noc_limit_us']:>12} {r['ratio_to_limit']:>7} {r['seed_downtime_ms']:>8}")


def part2(spec: ChipSpec) -> None:
    say("\n2. downtime (simulated, freeze to thaw) of one migration to the next cluster")
    say("   versus threads (16 pages of data each):")
    threads = [t for t in THREADS if t <= spec.cluster.cores_per_cluster]
    table([ex.downtime_point(16, t, spec) for t in threads], spec, "threads")
    say("   versus pages in use (1 thread):")
    pages = [n for n in PAGES if n <= spec.user_frames - 64]  # leave room for stacks and tables
    table([ex.downtime_point(n, 1, spec) for n in pages], spec, "pages")
    say("   'NoC limit' = image bytes / link bandwidth + path latency; 'seed ms' = the prototype on "
        "the real MPPA-256 (19.6 ms + 1.05 ms/thread + 0.52 ms/page)")


def part3(spec: ChipSpec) -> None:
    half = spec.compute_clusters // 2
    say(f"\n3. contention: n processes (64 pages) on clusters 0..n-1 migrate to {half}..{half}+n-1 at once")
    say(f"   {'n':>3} {'mean downtime us':>16} {'max downtime us':>15} {'vs alone':>8}")
    alone = None
    for n in sorted({n for n in (1, 2, 4, half) if 1 <= n <= half}):
        pts = ex.contention(n, 64, spec)
        us = [p.downtime * 1e6 / spec.cluster.freq_hz for p in pts]
        mean = sum(us) / len(us)
        alone = alone or mean
        say(f"   {n:>3} {mean:>16.1f} {max(us):>15.1f} {mean / alone:>7.2f}x")
    say("   (the prototype on the MPPA-256: about 113 ms each, for 1 to 8 simultaneous migrations)")


def part4(spec: ChipSpec) -> bool:
    hot = 16
    kib = ex.live_pages(spec) * spec.cluster.page_size // 1024
    say(f"\n4. live migration: a process with {kib} KiB of data rewriting a hot set of {hot} pages, "
        "moved by each method")
    pts = ex.live_points(hot, spec)
    say(f"   {'method':>9} {'downtime us':>11} {'total us':>9} {'MiB sent':>8} {'rounds':>6} "
        f"{'faults':>6} {'slow-down us':>12} {'data':>5}")
    for pt in pts:
        r = pt.as_row(spec)
        mib = r["bytes_sent"] / 2**20
        say(f"   {r['method']:>9} {r['downtime_us']:>11} {r['total_us']:>9} {mib:>8.2f} {r['rounds']:>6} "
            f"{r['remote_faults']:>6} {r['slowdown_us']:>12} {'ok' if r['ok'] else 'WRONG':>5}")
    say(f"   (simulated; its pages alone take {pts[0].as_row(spec)['noc_limit_us']} us on a NoC link. "
        "Pre-copy sends again what was dirtied and freezes for the rest; post-copy freezes only "
        "for threads and tables, then fetches pages on first touch)")
    return all(pt.ok for pt in pts)


def part5(spec: ChipSpec) -> bool:
    if not spec.cache.caches:
        say(f"\n5. memory: chip {spec.name} simulates no caches (caches = false): nothing to show")
        return True
    from shoal.experiments import forkjoin
    from shoal.experiments import locality as loc
    say(f"\n5. memory (L1 caches: {spec.cache.dcache_bytes // 1024} KiB, {spec.cache.dcache_ways} ways, "
        f"{spec.cache.dcache_miss_cycles}-cycle misses; the k1b's are not public: assumptions)")
    n, iters = 16, 20
    got = {layout: forkjoin.point(spec.replace(kernel_layout=layout), n, 10, iters)
           for layout in ("scattered", "uarea")}
    s, u = got["scattered"], got["uarea"]
    s_d, u_d = forkjoin.SEED["d_stall"]
    say(f"   the seed's fork-join ({n} threads created and joined, {iters} times; kernel mode): D-cache "
        f"stall {s['d_stall']:,} cycles with the kernel's thread state in global arrays, "
        f"{u['d_stall']:,} in one area per process ({(u['d_stall'] - s['d_stall']) / s['d_stall']:+.0%}); "
        f"kernel time {(u['kernel_cycles'] - s['kernel_cycles']) / s['kernel_cycles']:+.1%} "
        f"(the seed on the k1b: {(u_d - s_d) / s_d:+.1%} and {forkjoin.SEED['kernel_cycles_change']:+.1%})")
    rows = loc.e3(spec, (spec.cache.dcache_ways,), (spec.cache.dcache_miss_cycles,))
    say(f"   a warm {loc.E3_BYTES // 1024} KiB data set moved to a cold core, against the same "
        "program unmoved:")
    say(f"   {'method':>9} {'extra stall us':>14} {'downtime us':>11}")
    for r in rows:
        say(f"   {r['method']:>9} {r['extra_stall_us']:>14} {r['downtime_us']:>11}")
    say("   (simulated; `shoal bench locality` has these with their sensitivity, and frame placement)")
    return all(r["extra_stall"] > 0 for r in rows)


def demo(chip_name: str = "mppa256", trace: str | None = None) -> int:
    """`trace`: part 0 is traced to this file, part 1 (the tour) to its name with -tour."""
    spec = ChipSpec.load(chip_name)
    ex.check_chip(spec, "shoal demo")
    traces = None if trace is None else (Path(trace), Path(trace).with_name(Path(trace).stem + "-tour.json"))
    if traces is not None:
        from shoal.tools.trace import check_path
        for t in traces:
            check_path(t)
    t0 = time.perf_counter()
    ok = part0(spec, traces and traces[0])
    ok &= part1(spec, traces and traces[1])
    part2(spec)
    part3(spec)
    ok &= part4(spec)
    ok &= part5(spec)
    say(f"\nhost wall time for the whole demo: {time.perf_counter() - t0:.1f} s")
    if traces is not None:
        say(f"traces (simulated time; open in ui.perfetto.dev): {traces[0]} (part 0), {traces[1]} (part 1)")
    say("all results correct" if ok else "SOME RESULTS ARE WRONG")
    return 0 if ok else 1

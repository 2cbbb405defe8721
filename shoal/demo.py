"""`shoal demo`: boot the chip, run a 16-thread program on every compute cluster at once,
check every answer against one computed here in Python, and print a table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from shoal.engine import Chip
from shoal.spec import ChipSpec

PROGRAM = Path(__file__).parent / "programs" / "primes.c"


def count_primes(limit: int) -> int:
    sieve = bytearray([1]) * max(limit, 2)
    sieve[0:2] = b"\0\0"
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, limit, i)))
    return sum(sieve[:limit])


def demo(chip_name: str = "mppa256") -> int:
    spec = ChipSpec.load(chip_name)
    t0 = time.perf_counter()
    chip = Chip(spec)
    boot = time.perf_counter() - t0
    threads = spec.cores_per_cluster
    print(f"shoal demo: {spec.name}, {spec.compute_clusters} compute clusters x {threads} cores, "
          f"{spec.memory_per_cluster // 1024} KiB per cluster, {spec.freq_hz / 1e6:g} MHz "
          f"(booted in {boot:.2f} s host time)")
    print(f"compiling {PROGRAM.name} with shoal cc (the first build of musl takes about a minute)...")
    sys.stdout.flush()
    procs = []
    for c in range(spec.compute_clusters):
        limit = 20000 + 2000 * c
        procs.append((limit, chip.spawn(PROGRAM, ["primes", str(limit), str(threads)], cluster=c)))
    t1 = time.perf_counter()
    chip.run()
    wall = time.perf_counter() - t1
    print(f"\n{'cluster':>7} {'pid':>4} {'threads':>7} {'limit':>6} {'primes':>7} {'expected':>8} "
          f"{'ok':>3} {'sim ms':>8} {'instructions':>12}")
    ok_all = True
    for limit, p in procs:
        expected = count_primes(limit)
        words = p.stdout.decode(errors="replace").split()
        got = int(words[3]) if len(words) == 4 and words[0] == "primes" else None
        ok = got == expected and p.returncode == 0
        ok_all &= ok
        ms = spec.cycles_to_seconds(p.cycles or 0) * 1e3
        print(f"{p.cluster:>7} {p.pid:>4} {threads:>7} {limit:>6} {got if got is not None else '-':>7} "
              f"{expected:>8} {'yes' if ok else 'NO':>3} {ms:>8.3f} {p.instructions:>12}")
        if p.message:
            print(f"        {p.message}")
    total = chip.instructions
    print(f"\nsimulated time: {chip.seconds * 1e3:.3f} ms of chip time (all clusters in parallel)")
    print(f"host wall time: {wall:.2f} s for {total / 1e6:.1f} M guest instructions "
          f"({total / wall / 1e6:.1f} guest MIPS on one host core)")
    print("all results correct" if ok_all else "SOME RESULTS ARE WRONG")
    return 0 if ok_all else 1

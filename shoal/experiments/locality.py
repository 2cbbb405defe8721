"""The locality experiments of issue 21 on shoal's L1 cache model (simulated figures only).

E2  frame placement: warmset.c (a data set read again and again) with its frames handed out
    lowest first (contiguous) or scattered (`frame_placement`), the D-cache direct-mapped or
    2- or 4-way. With 2 or more ways an 8 KiB cache's index + offset lie within the 4 KiB
    page offset, so where a page lands cannot change which lines conflict: the figures of the
    two placements must be equal, access for access. Direct-mapped, bit 12 of the physical
    address picks the half of the cache: two pages of the data set on the same colour evict
    each other.
E3  migration meets cold caches: warmset.c (6 KiB, fits) moved from cluster 0 to cluster 1 at
    a fixed simulated time by each method, against the same program unmoved. Both runs are one
    run up to the move (deterministic), and both then run the same instructions to the end, so
    the difference of their stall cycles is what the move cost in cache misses: the data and
    code lines refilled on a core that never held them. Compared with the move's downtime.

Each with its sensitivity to the parameters the public sources do not give (miss cycles, ways).
Memory banks are not modelled (a miss costs the same whatever other cores do).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from shoal.api import Chip, Process
from shoal.errors import ShoalError
from shoal.record import dataclass
from shoal.spec import ChipSpec

PROGRAMS = Path(__file__).parent / "programs"
WARMSET = PROGRAMS / "warmset.c"
WAYS = (1, 2, 4)
MISS_CYCLES = (6, 12, 24)  # around the mppa256 presets' assumed 12
PLACEMENTS = ("lowest", "scattered")
E2_BYTES = (4096, 6144, 8192)
E2_ROUNDS = 200
E3_BYTES = 6144  # fits the 8 KiB D-cache with room for the stack and libc's data
E3_ROUNDS = 800  # about 7.8 M instructions, 19.5 ms alone at 400 MHz
E3_AT = 2_000_000  # the move: 5 ms, a quarter of the way through, the data long warm
METHODS = ("stopcopy", "precopy", "postcopy", "hybrid")


def variant(spec: ChipSpec, ways: int, miss: int, placement: str = "lowest") -> ChipSpec:
    """The chip with these D-cache ways, these miss cycles (I and D alike) and this placement."""
    return spec.replace(caches=True, dcache_ways=ways, dcache_miss_cycles=miss,
                               icache_miss_cycles=miss, frame_placement=placement)


@functools.lru_cache(maxsize=16)
def checksum(nbytes: int, rounds: int) -> str:
    """What warmset.c prints, computed here (the program's loop in Python)."""
    mask = (1 << 32) - 1
    data = [(i * 2654435761) & mask for i in range(nbytes // 4)]
    s = 0
    for r in range(rounds):
        for v in data:
            s = (s * 31 + v) & mask
        for i in range(r % 16, len(data), 16):
            data[i] ^= s
    return f"warmset {nbytes} {rounds}: {s}\n"


def _warmset(chip: Chip, nbytes: int, rounds: int) -> Process:
    return chip.spawn(WARMSET, ["warmset", str(nbytes), str(rounds)], cluster=0)


def _check(p: Process, want: str, what: str) -> None:
    if p.returncode != 0 or p.stdout.decode(errors="replace") != want:
        raise ShoalError(f"{what}: warmset failed or printed a wrong checksum "
                         f"({p.message or p.stdout!r})")


def placement_point(spec: ChipSpec, nbytes: int, ways: int, miss: int, placement: str,
                    rounds: int = E2_ROUNDS) -> dict:
    """One E2 run: warmset's L1 figures with this geometry and placement."""
    s = variant(spec, ways, miss, placement)
    chip = Chip(s)
    p = _warmset(chip, nbytes, rounds)
    chip.run()
    _check(p, checksum(nbytes, rounds), f"E2 ({placement}, {ways} ways)")
    loads, _stores, lm, _sm, _fetches, fm, stall = (p.record.caches or (0,) * 9)[:7]
    cycles = p.record.end_cycle - p.record.start_cycle
    return {"bytes": nbytes, "ways": ways, "miss_cycles": miss, "placement": placement,
            "loads": loads, "load_misses": lm, "load_miss_rate": round(lm / loads, 5) if loads else 0.0,
            "fetch_misses": fm, "stall_cycles": stall, "cycles": cycles,
            "stall_share": round(stall / cycles, 4) if cycles else 0.0,
            "time_us": round(cycles * 1e6 / s.cluster.freq_hz, 2)}


def e2(spec: ChipSpec, sizes: tuple[int, ...] = E2_BYTES, ways: tuple[int, ...] = WAYS,
       misses: tuple[int, ...] = MISS_CYCLES, rounds: int = E2_ROUNDS,
       step: Callable[[], None] | None = None) -> list[dict]:
    """E2's rows, with `scattered_over_lowest`: the scattered run's time over the lowest's."""
    rows = []
    for n in sizes:
        for w in ways:
            for miss in misses:
                pair = [placement_point(spec, n, w, miss, pl, rounds) for pl in PLACEMENTS]
                for r in pair:
                    r["scattered_over_lowest"] = round(pair[1]["cycles"] / pair[0]["cycles"], 4)
                rows += pair
                if step is not None:
                    step()
    return rows


@dataclass
class MoveRun:
    """One E3 run: the process's L1 counts, its instructions and end, its move (if any)."""

    caches: tuple[int, ...]
    instructions: int
    end: int
    stdout: str
    downtime: int = 0
    stall_after: int | None = None
    stall_next: int | None = None


def move_run(spec: ChipSpec, method: str | None, nbytes: int = E3_BYTES, rounds: int = E3_ROUNDS,
             at: int = E3_AT, dst: int = 1) -> MoveRun:
    """warmset run to `at`, then moved to `dst` by `method` (None: left where it is) and run
    to its end."""
    chip = Chip(spec)
    p = _warmset(chip, nbytes, rounds)
    chip.run(at)
    if not p.record.alive:
        raise ShoalError(f"E3: warmset ended before the move at cycle {at}: give it more rounds")
    if method is not None:
        chip.schedule_migration(p.pid, dst, chip.time, method)
    chip.run()
    _check(p, checksum(nbytes, rounds), f"E3 ({method or 'unmoved'})")
    r = p.record
    run = MoveRun(r.caches or (0,) * 9, r.instructions, r.end_cycle, p.stdout.decode())
    if method is not None:
        m = p.migrations[0]
        if not m.ok or m.downtime is None:
            raise ShoalError(f"E3: the {method} move failed: {m.reason}")
        run.downtime, run.stall_after, run.stall_next = m.downtime, m.stall_after, m.stall_next
    return run


def e3(spec: ChipSpec, ways: tuple[int, ...] = WAYS, misses: tuple[int, ...] = MISS_CYCLES,
       methods: tuple[str, ...] = METHODS, step: Callable[[], None] | None = None) -> list[dict]:
    """E3's rows: per geometry, miss cost and method, the moved run against the unmoved one."""
    rows = []
    us = 1e6 / spec.cluster.freq_hz
    for w in ways:
        for miss in misses:
            s = variant(spec, w, miss)
            ctl = move_run(s, None)
            for method in methods:
                mv = move_run(s, method)
                if mv.instructions != ctl.instructions:
                    raise ShoalError(f"E3: the moved run ran {mv.instructions} instructions, the "
                                     f"unmoved one {ctl.instructions}: not the same program points")
                extra = mv.caches[6] - ctl.caches[6]
                rows.append({
                    "method": method, "ways": w, "miss_cycles": miss, "bytes": E3_BYTES,
                    "control_stall": ctl.caches[6], "moved_stall": mv.caches[6], "extra_stall": extra,
                    "extra_d_misses": mv.caches[2] - ctl.caches[2],
                    "extra_i_misses": mv.caches[5] - ctl.caches[5],
                    "stall_after": mv.stall_after, "stall_next": mv.stall_next,
                    "downtime_cycles": mv.downtime, "extra_stall_us": round(extra * us, 2),
                    "downtime_us": round(mv.downtime * us, 1),
                    "extra_over_downtime": round(extra / mv.downtime, 4) if mv.downtime else 0.0,
                    "slowdown_us": round((mv.end - ctl.end) * us, 1)})
            if step is not None:
                step()
    return rows

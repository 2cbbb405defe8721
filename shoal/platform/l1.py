"""The L1 cache model's set-up and each hart's lines: the model itself runs in the patched
Unicorn (native/unicorn-budget.patch); its live lines are the running hart's, and the harts
of a cluster take turns on one emulator, so each hart's lines wait here while another runs."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from shoal.platform.unicorn_build import UcCaches
from shoal.spec import ChipSpec


def configure(c: UcCaches, spec: ChipSpec, mem_base: int) -> None:
    """Shape the model's state `c` as the spec's caches and memory banks."""
    cache, cl = spec.cache, spec.cluster
    c.line_shift = cache.cache_line.bit_length() - 1
    c.cpi = spec.costs.cpi
    fifo = int(cache.cache_replacement == "fifo")
    for g, kind in ((c.d, "dcache"), (c.i, "icache")):
        g.sets, g.ways, g.fifo = cache.sets(kind), getattr(cache, f"{kind}_ways"), fifo
        g.miss_cycles = getattr(cache, f"{kind}_miss_cycles")
    c.d.write_alloc = int(cache.dcache_write_allocate)
    c.banks, c.bank_busy, c.quantum = cl.memory_banks, cl.bank_busy_cycles, spec.engine.quantum_cycles
    c.mem_base = mem_base
    contiguous = cl.memory_per_cluster // max(1, cl.memory_banks)
    row = cache.cache_line if cl.bank_mapping == "interleaved" else contiguous
    c.bank_shift = row.bit_length() - 1


class HartLines:
    """Each hart's L1 lines, swapped into the model when it runs."""

    def __init__(self, c: UcCaches, swap: Callable[..., None] | None) -> None:
        self.caches = c
        self.swap = swap  # (use(), natively: shoal_swap_lines_at of native/blockcount.c)
        self.counts = (ctypes.c_uint64 * 8).from_address(ctypes.addressof(c.dc))  # dc, ic: adjacent
        self.nd, self.ni = c.d.sets * c.d.ways, c.i.sets * c.i.ways
        # The live lines' addresses and sizes, fixed once.
        self.live = (ctypes.addressof(c.dtags), ctypes.addressof(c.itags), self.nd * 8, self.ni * 8)
        self.kept: dict[int, ctypes.Array] = {}  # each hart's lines while another runs
        self.kept_at: dict[int, int] = {}  # (their addresses)
        self.owner: int | None = None  # the hart whose lines are live
        # (owner, hart) -> the native swap's arguments in one block, and the block (kept alive)
        self._swaps: dict[tuple[int | None, int], tuple[int, ctypes.Array]] = {}

    def use(self, hart: int) -> None:
        """Make `hart`'s lines the live ones."""
        if self.owner == hart:
            return
        d, i, nd, ni = self.live
        if self.swap is not None:  # (the same copies in one native call)
            args = self._swaps.get((self.owner, hart))
            if args is None:
                mine = self.kept_at.get(hart)
                if mine is None:
                    mine = self._new(hart)
                keep = self.kept_at[self.owner] if self.owner is not None else 0
                block = (ctypes.c_uint64 * 6)(d, i, keep, mine, self.nd, self.ni)
                args = self._swaps[(self.owner, hart)] = (ctypes.addressof(block), block)
            self.swap(args[0])
            self.owner = hart
            return
        memmove = ctypes.memmove
        if self.owner is not None:
            keep = self.kept_at[self.owner]
            memmove(keep, d, nd)
            memmove(keep + nd, i, ni)
        mine = self.kept_at.get(hart)
        if mine is None:
            mine = self._new(hart)
        memmove(d, mine, nd)
        memmove(i, mine + nd, ni)
        self.owner = hart

    def _new(self, hart: int) -> int:
        """A hart's own lines, all empty; their address."""
        n = self.nd + self.ni
        self.kept[hart] = buf = (ctypes.c_uint64 * n)(*([1] * n))  # 1: no line
        self.kept_at[hart] = ctypes.addressof(buf)
        return self.kept_at[hart]

    def totals(self) -> tuple[int, int, int, int, int, int, int]:
        """Since the emulator began: loads, stores, load misses, store misses, I-cache line
        fetches, I-cache misses, misses that waited for their memory bank."""
        v = self.counts[:]  # dc (reads, writes, read misses, write misses), then ic's: one copy
        return (v[0], v[1], v[2], v[3], v[4], v[6], self.caches.bank_waits)

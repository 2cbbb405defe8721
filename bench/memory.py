"""shoal memory benchmark: the host cost of munmap, mprotect, madvise and exit, before and after
they learned to visit only the pages that are mapped.

    python bench/memory.py [--quick] [--out bench/results]

Writes OUT/memory.json. Two figures, each measured with today's AddressSpace ("new") and with
the page-by-page walks it replaced ("old", kept in this file only, patched over the class in
the worker that measures it), so both sides come from the same machine in the same run:

1. chip: shoal/experiments/programs/primes.c with 16 threads on each of the 16 clusters of mppa256 (the
   demo's part 0). Host wall time of Chip.run, and the part of it spent inside AddressSpace's
   remove_range, protect, discard, destroy and pages.
2. micro: AddressSpace alone over a 2 MiB buffer: a 256 MiB region with one page touched per
   MiB (64 second-level tables), then mprotect of all of it, munmap of half, DONTNEED of a
   quarter, pages() and destroy; and a thread stack (8 MiB, 4 pages touched at its top)
   mprotected and unmapped.

Host wall time only (fields *wall_s, *wall_us): nothing here is simulated time, except the
chip figure's sim_cycles, recorded to show both variants ran the same guest work. Medians of
the runs; every chip run is a fresh child process (`memory.py --worker ...`), old and new
interleaved.
"""

from __future__ import annotations

import argparse
import datetime
import json
import struct
import sys
import time
from pathlib import Path

from run import ROOT, log, machine_info, median, shoal_revision, spread
from run import worker as run_worker

PRIMES_C = ROOT / "shoal" / "experiments" / "programs" / "primes.c"
CLUSTERS, THREADS, LIMIT = 16, 16, 20000
FULL = {"runs": 5, "micro_repeats": 21}
QUICK = {"runs": 1, "micro_repeats": 3}
TIMED = ("remove_range", "protect", "discard", "destroy", "pages")


def worker(*args: str) -> dict:
    return run_worker(*args, script=__file__)


# --- the old algorithms (before this benchmark's change), for comparison only -----------------
def use_old_walks() -> None:
    """Put the page-by-page walks back into AddressSpace (a struct.unpack per page of a range,
    every 4 MiB span with a table walked in full, empty tables kept until exit)."""
    from shoal.kernel import memory as m

    def _pte_offset(self, va: int) -> int | None:
        e = struct.unpack_from("<I", self.mem, self.root * m.PAGE + ((va >> 22) & 0x3FF) * 4)[0]
        return ((e >> 10) - m._PHYS_PPN) * m.PAGE + ((va >> 12) & 0x3FF) * 4 if e & m.PTE_V else None

    def protect(self, start: int, end: int, prot: int) -> bool:
        if not self.covered(start, end):
            return False
        pieces = []
        for r in self.regions:
            if r.end <= start or r.start >= end:
                pieces.append(r)
                continue
            cuts = sorted({r.start, max(r.start, start), min(r.end, end), r.end})
            for a, b in zip(cuts, cuts[1:], strict=False):
                pieces.append(m.Region(a, b, prot if a >= start and b <= end else r.prot, r.name))
        self.regions = pieces
        self._starts = [r.start for r in pieces]
        for va in range(start, end, m.PAGE):
            off = _pte_offset(self, va)
            if off is not None:
                pte = struct.unpack_from("<I", self.mem, off)[0]
                if pte & m.PTE_V:
                    pte = (pte & ~(m.PTE_R | m.PTE_W | m.PTE_X)) | m._prot_bits(prot)
                    struct.pack_into("<I", self.mem, off, pte)
        self._on_change()
        return True

    def _drop_range(self, start: int, end: int) -> None:
        va = start
        while va < end:
            nxt = min(end, (va | 0x3FFFFF) + 1)
            if _pte_offset(self, va) is not None:
                for p in range(va, nxt, m.PAGE):
                    off = _pte_offset(self, p)
                    pte = struct.unpack_from("<I", self.mem, off)[0]
                    if pte & m.PTE_V:
                        if pte & m.PTE_X:
                            self.exec_frames_freed = True
                        self.frames.release((pte >> 10) - m._PHYS_PPN)
                        self.data_frames -= 1
                        struct.pack_into("<I", self.mem, off, 0)
            va = nxt

    def pages(self) -> list:
        out = []
        for i in range(1024):
            e = struct.unpack_from("<I", self.mem, self.root * m.PAGE + i * 4)[0]
            if not e & m.PTE_V:
                continue
            table = ((e >> 10) - m._PHYS_PPN) * m.PAGE
            for j in range(1024):
                pte = struct.unpack_from("<I", self.mem, table + j * 4)[0]
                if pte & m.PTE_V:
                    off = ((pte >> 10) - m._PHYS_PPN) * m.PAGE
                    out.append(((i << 22) | (j << 12), pte & 0x3FF, bytes(self.mem[off:off + m.PAGE])))
        return out

    def destroy(self) -> None:
        self._drop_range(0, m.USER_TOP)
        self.regions, self._starts = [], []
        for i in range(1024):
            e = struct.unpack_from("<I", self.mem, self.root * m.PAGE + i * 4)[0]
            if e & m.PTE_V:
                self.frames.release((e >> 10) - m._PHYS_PPN)
                self.table_frames -= 1
        self.frames.release(self.root)
        self.table_frames -= 1

    # The old walks never unhook a table from the root, so the new _used index only grows
    # alongside them and is never read: the two do not interfere.
    for name, fn in (("protect", protect), ("_drop_range", _drop_range), ("pages", pages),
                     ("destroy", destroy)):
        setattr(m.AddressSpace, name, fn)


def time_memory_ops(spent: dict[str, float]) -> None:
    """Wrap AddressSpace's range operations to add their host wall time into `spent`."""
    from shoal.kernel.memory import AddressSpace

    for name in TIMED:
        fn = getattr(AddressSpace, name)

        def timed(self, *a, _fn=fn, _name=name):
            t0 = time.perf_counter()
            try:
                return _fn(self, *a)
            finally:
                spent[_name] += time.perf_counter() - t0
        setattr(AddressSpace, name, timed)


# --- workers (run in a child process) ---------------------------------------------------------
def chip_worker(variant: str) -> dict:
    if variant == "old":
        use_old_walks()
    spent = dict.fromkeys(TIMED, 0.0)
    time_memory_ops(spent)
    from shoal import Chip
    chip = Chip.preset("mppa256")
    procs = [chip.spawn(PRIMES_C, ["primes", str(LIMIT), str(THREADS)], cluster=c) for c in range(CLUSTERS)]
    chip.run()
    want = f"primes {LIMIT} {THREADS} 2262\n".encode()
    return {"variant": variant, "run_wall_s": chip.wall_seconds, "memory_ops_wall_s": sum(spent.values()),
            "memory_ops_wall_s_by_call": spent, "sim_cycles": chip.time,
            "answers_ok": all(p.returncode == 0 and p.stdout == want for p in procs),
            "frames_all_back": all(k.frames_free == chip.spec.user_frames for k in chip.clusters()),
            "peak_frames_sum": sum(p.record.peak_frames for p in procs)}


def micro_worker(variant: str, repeats: int) -> dict:
    """AddressSpace alone; each operation timed on a freshly built address space."""
    if variant == "old":
        use_old_walks()
    from shoal.kernel.memory import PAGE, AddressSpace, FrameAllocator, Region

    MIB = 1 << 20
    big_start, big_end = 0x4000_0000, 0x4000_0000 + 256 * MIB
    stack_end = 0xBC00_0000
    stack_start = stack_end - 8 * MIB - PAGE

    def sparse() -> AddressSpace:
        a = AddressSpace(bytearray(512 * PAGE), FrameAllocator(0, 512), lambda: None)
        a.add_region(Region(big_start, big_end, 3, "[anon]"))
        for va in range(big_start, big_end, MIB):
            a.translate(va, "store")
        return a

    def stack() -> AddressSpace:
        a = AddressSpace(bytearray(64 * PAGE), FrameAllocator(0, 64), lambda: None)
        a.add_region(Region(stack_start, stack_end, 0, "[anon]"))
        a.protect(stack_start + PAGE, stack_end, 3)
        for i in range(1, 5):
            a.translate(stack_end - i * PAGE, "store")
        return a

    half, quarter = big_start + 128 * MIB, big_start + 64 * MIB
    cases = {
        "sparse_mprotect_256MiB": (sparse, lambda a: a.protect(big_start, big_end, 1)),
        "sparse_munmap_128MiB": (sparse, lambda a: a.remove_range(half, big_end)),
        "sparse_dontneed_64MiB": (sparse, lambda a: a.discard(big_start, quarter)),
        "sparse_pages": (sparse, lambda a: a.pages()),
        "sparse_destroy": (sparse, lambda a: a.destroy()),
        "stack_mprotect_8MiB": (stack, lambda a: a.protect(stack_start + PAGE, stack_end, 1)),
        "stack_munmap_8MiB": (stack, lambda a: a.remove_range(stack_start, stack_end)),
        "stack_destroy": (stack, lambda a: a.destroy()),
    }
    out: dict = {"variant": variant}
    for name, (build, op) in cases.items():
        samples = []
        for _ in range(repeats):
            a = build()
            t0 = time.perf_counter()
            op(a)
            samples.append((time.perf_counter() - t0) * 1e6)
        out[name] = {"median_wall_us": median(samples), "samples_wall_us": samples}
    return out


def worker_main(argv: list[str]) -> int:
    kind = argv[0]
    if kind == "chip":
        out = chip_worker(argv[1])
    elif kind == "micro":
        out = micro_worker(argv[1], int(argv[2]))
    else:
        raise SystemExit(f"bench: unknown worker {kind}")
    print(json.dumps(out))
    return 0


# --- figures ----------------------------------------------------------------------------------
def figure_chip(runs: int) -> dict:
    samples: dict[str, list[dict]] = {"old": [], "new": []}
    for i in range(runs):
        for variant in ("old", "new"):
            s = worker("chip", variant)
            samples[variant].append(s)
            log(f"  chip run {i + 1}/{runs} {variant}: Chip.run {s['run_wall_s']:.3f} s, "
                f"memory ops {s['memory_ops_wall_s']:.3f} s")
    med = {}
    for variant, ss in samples.items():
        run_s = [s["run_wall_s"] for s in ss]
        mem_s = [s["memory_ops_wall_s"] for s in ss]
        med[variant] = {"run_wall_s": spread(run_s), "memory_ops_wall_s": spread(mem_s),
                        "memory_ops_share_of_run": median([m / r for m, r in zip(mem_s, run_s, strict=True)])}
    old, new = med["old"]["run_wall_s"]["median"], med["new"]["run_wall_s"]["median"]
    return {"program": f"primes {LIMIT} {THREADS} on each of {CLUSTERS} clusters of mppa256",
            "median": med, "run_wall_ratio_old_over_new": old / new,
            "check": {"answers_ok": all(s["answers_ok"] for ss in samples.values() for s in ss),
                      "frames_all_back": all(s["frames_all_back"] for ss in samples.values() for s in ss),
                      "same_sim_cycles": len({s["sim_cycles"] for ss in samples.values() for s in ss}) == 1,
                      "peak_frames_sum": {v: ss[0]["peak_frames_sum"] for v, ss in samples.items()}},
            "samples": samples}


def figure_micro(repeats: int) -> dict:
    old, new = worker("micro", "old", str(repeats)), worker("micro", "new", str(repeats))
    cases = [k for k in new if k not in ("variant", "process_wall_s")]
    return {"repeats": repeats,
            "cases": {k: {"old_median_wall_us": old[k]["median_wall_us"],
                          "new_median_wall_us": new[k]["median_wall_us"],
                          "ratio_old_over_new": old[k]["median_wall_us"] / new[k]["median_wall_us"]}
                      for k in cases},
            "samples": {"old": old, "new": new}}


# --- main -------------------------------------------------------------------------------------
def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run of each (a smoke test)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"),
                    help="directory for memory.json")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    t_start = time.perf_counter()
    machine, rev_start = machine_info(), shoal_revision()
    log("compiling shoal/experiments/programs/primes.c (cached after the first time)...")
    from shoal.toolchain import compile_cached
    compile_cached([PRIMES_C])
    log("micro-benchmark: AddressSpace alone, old and new walks")
    micro = figure_micro(cfg["micro_repeats"])
    log(f"16 clusters x {THREADS} threads, {cfg['runs']} runs each of old and new")
    chip = figure_chip(cfg["runs"])
    result = {
        "schema": "shoal-bench-memory/1",
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "config": cfg,
        "units": {"*wall_s, *wall_us": "host wall-clock time", "sim_cycles": "simulated cycles"},
        "machine": machine,
        "shoal_revision": {"at_start": rev_start, "at_end": shoal_revision()},
        "figures": {"chip_16x16": chip, "micro": micro},
        "bench_wall_s": time.perf_counter() - t_start,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "memory.json"
    out.write_text(json.dumps(result, indent=1) + "\n")

    log("\nmicro (host us, median):            old        new    old/new")
    for k, c in micro["cases"].items():
        log(f"  {k:28s} {c['old_median_wall_us']:10.1f} {c['new_median_wall_us']:10.1f} "
            f"{c['ratio_old_over_new']:8.1f}x")
    log("chip (host s, median)             Chip.run   in memory ops   share")
    for v in ("old", "new"):
        m = chip["median"][v]
        log(f"  {v:30s} {m['run_wall_s']['median']:8.3f} {m['memory_ops_wall_s']['median']:12.3f} "
            f"{m['memory_ops_share_of_run']:9.1%}")
    log(f"  Chip.run old/new: {chip['run_wall_ratio_old_over_new']:.2f}x; checks {chip['check']}")
    log(f"wrote {out}")
    return 0 if chip["check"]["answers_ok"] and chip["check"]["frames_all_back"] else 1


if __name__ == "__main__":
    sys.exit(main())

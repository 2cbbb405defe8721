"""The L1 cache model (platform/cpu.py, native/unicorn-budget.patch item 5) against an
independent reference: the same program run a second time with the model off and Unicorn's
own memory and code hooks on (the slow path, no inline code of shoal's), its address stream
fed to a plain Python cache of the same geometry. Misses must agree: the model's inline
checks, ways, LRU/FIFO, write policy and its per-hart switching are what is tested.

Also: the model off changes nothing; misses cost what the chip file says (simulated time is
instructions x CPI + misses x penalty); results and counts are deterministic; a bad cache
geometry is one line."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
from unicorn import UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MEM_WRITE

from shoal import Chip
from shoal.errors import ShoalError
from shoal.platform import unicorn_build
from shoal.spec import ChipSpec
from shoal.toolchain import compile_cached

pytestmark = pytest.mark.skipif(unicorn_build.library()[0] is None or sys.platform != "linux",
                                reason="the cache model needs shoal's patched Unicorn on x86-64 Linux")

GUEST = Path(__file__).resolve().parent.parent / "bench" / "programs" / "guest"
FLAGS = ["-O2", "-g0", "-ffp-contract=off"]
BASE = ChipSpec.preset("mppa256").replace(caches=False)
ON = ChipSpec.preset("mppa256")  # the model is on by default there


class RefCache:
    """A set-associative cache, written the obvious way: per set an ordered dict of lines,
    most recently used (or, FIFO, last filled) last."""

    def __init__(self, size: int, line: int, ways: int, fifo: bool = False, write_alloc: bool = False):
        self.line, self.ways, self.fifo, self.write_alloc = line, ways, fifo, write_alloc
        self.nsets = size // (line * ways)
        self.sets: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(self.nsets)]
        self.reads = self.writes = self.read_misses = self.write_misses = 0

    def access(self, addr: int, store: bool = False) -> None:
        ln = addr // self.line
        s = self.sets[ln % self.nsets]
        if store:
            self.writes += 1
        else:
            self.reads += 1
        if ln in s:
            if not self.fifo:
                s.move_to_end(ln)
            return
        if store:
            self.write_misses += 1
            if not self.write_alloc:
                return
        else:
            self.read_misses += 1
        if len(s) == self.ways:
            s.popitem(last=False)
        s[ln] = None


def model_counts(spec: ChipSpec, elf: Path, argv: list[str]) -> tuple[tuple[int, ...], bytes, int]:
    chip = Chip(spec)
    p = chip.spawn(elf, argv)
    chip.run()
    assert p.exit_code == 0, p.stderr
    return p.record.caches, p.stdout, p.cycles


def reference_counts(spec: ChipSpec, elf: Path, argv: list[str]) -> tuple[RefCache, RefCache, bytes]:
    """The program with the model off, every access seen by Unicorn's hooks (data at their
    physical address, fetches at their virtual one: with index + offset within a page the
    two give the same misses)."""
    c = spec.cache
    fifo = c.cache_replacement == "fifo"
    d = RefCache(c.dcache_bytes, c.cache_line, c.dcache_ways, fifo, c.dcache_write_allocate)
    i = RefCache(c.icache_bytes, c.cache_line, c.icache_ways, fifo)
    chip = Chip(spec.replace(caches=False))
    uc = chip._backend.kernels[0].cpu.uc
    uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                lambda _uc, acc, addr, _size, _val, _ud: d.access(addr, acc == UC_MEM_WRITE))
    uc.hook_add(UC_HOOK_CODE, lambda _uc, addr, _size, _ud: i.access(addr))
    p = chip.spawn(elf, argv)
    chip.run()
    assert p.exit_code == 0, p.stderr
    return d, i, p.stdout


def native(src: Path, args: list[str], tmp_path: Path) -> bytes:
    exe = tmp_path / src.stem
    subprocess.run(["gcc", "-O2", "-w", str(src), "-o", str(exe), "-lm"], check=True)
    return subprocess.run([str(exe), *args], capture_output=True, check=True).stdout


CASES = [
    ("cache_walk", ["seq", "16384", "3"]),  # 16 KiB: twice the D-cache, every line misses
    ("cache_walk", ["seq", "4096", "5"]),  # fits: misses once per line
    ("cache_walk", ["stride", "65536", "20"]),  # 16 lines of one set: 2 ways thrash
    ("cache_walk", ["random", "32768", "2"]),  # loads and stores all over 32 KiB
    ("cache_walk", ["write", "16384", "2"]),  # stores: no allocation on a write miss
    ("crc", ["1"]),
    ("qsort", ["1"]),
    ("matmul", ["24"]),
]


@pytest.mark.parametrize(("name", "args"), CASES, ids=[f"{n}-{'-'.join(a)}" for n, a in CASES])
def test_misses_match_reference(name: str, args: list[str], tmp_path: Path) -> None:
    src = (Path(__file__).parent / "programs" / f"{name}.c") if name == "cache_walk" else GUEST / f"{name}.c"
    elf = compile_cached([src], FLAGS)
    counts, out, _ = model_counts(ON, elf, [name, *args])
    d, i, ref_out = reference_counts(ON, elf, [name, *args])
    assert out == ref_out == native(src, args, tmp_path)
    loads, stores, lm, sm, _fetches, fm, stall, _waits, _wait = counts
    assert (loads, stores) == (d.reads, d.writes)  # every access checked once
    assert (lm, sm, fm) == (d.read_misses, d.write_misses, i.read_misses)
    assert lm > 0 and fm > 0  # (the reference counted something)
    assert stall == lm * ON.cache.dcache_miss_cycles + fm * ON.cache.icache_miss_cycles


@pytest.mark.parametrize("geometry", [{"dcache_ways": 1, "icache_ways": 1}, {"dcache_ways": 4},
                                      {"cache_replacement": "fifo"}, {"dcache_write_allocate": True},
                                      {"cache_line": 32}])
def test_other_geometries_match_reference(geometry: dict) -> None:
    spec = ON.replace(**geometry)
    spec.validate("test")
    # Direct-mapped 8 KiB: index bits above the page offset; the reference sees data at
    # physical addresses (as the model) but fetches at virtual ones, so it compares data only.
    fetch_too = spec.cache.cache_line * spec.cache.sets("icache") <= 4096
    elf = compile_cached([Path(__file__).parent / "programs" / "cache_walk.c"], FLAGS)
    argv = ["cache_walk", "random", "32768", "2"]
    counts, _, _ = model_counts(spec, elf, argv)
    d, i, _ = reference_counts(spec, elf, argv)
    assert counts[:4] == (d.reads, d.writes, d.read_misses, d.write_misses)
    if fetch_too:
        assert counts[5] == i.read_misses


def test_off_changes_nothing_and_penalties_are_the_time() -> None:
    """Off: no counts. On with zero penalties: the same simulated time as off. On: time
    grows by exactly misses x penalty (user mode here; the kernel's own, kernel/kmem.py, is
    off for this comparison: tests/test_kmem.py adds both up)."""
    elf = compile_cached([Path(__file__).parent / "programs" / "cache_walk.c"], FLAGS)
    argv = ["cache_walk", "seq", "16384", "2"]
    off, out_off, t_off = model_counts(BASE, elf, argv)
    free = ON.replace(dcache_miss_cycles=0, icache_miss_cycles=0)
    c0, out0, t0 = model_counts(free, elf, argv)
    user_only = ON.replace(kernel_invalidations=False)
    c1, out1, t1 = model_counts(user_only, elf, argv)
    kernel = _kernel_stall(user_only, elf, argv)
    assert off == () and out_off == out0 == out1
    assert t0 == t_off and c0[6] == 0 and c0[2] == c1[2] > 0
    assert t1 - t_off - kernel == c1[6] == c1[2] * 12 + c1[5] * 12
    assert model_counts(user_only, elf, argv) == (c1, out1, t1)  # deterministic


def _kernel_stall(spec: ChipSpec, elf: Path, argv: list[str]) -> int:
    """The kernel's stall before the exit call (whose work comes after the process's end)."""
    chip = Chip(spec)
    chip.spawn(elf, argv)
    km = chip._backend.kernels[0].core.kmem
    assert km is not None
    seen: list[int] = []
    orig = km.serve

    def spy(service: str, pid: int, tid: int, other: int | None, counts: list[int]) -> int:
        s = orig(service, pid, tid, other, counts)
        if service != "exit_group":
            seen.append(s)
        return s
    km.serve = spy  # type: ignore[method-assign]
    chip.run()
    return sum(seen)


def test_harts_keep_their_own_lines() -> None:
    """Each hart has its own caches (harts take turns on one emulator, the model's lines are
    switched with them): a process next to one that sweeps 64 KiB on another hart of the
    same cluster misses exactly as often as alone. The cluster counts both."""
    elf = compile_cached([Path(__file__).parent / "programs" / "cache_walk.c"], FLAGS)
    quiet = ["cache_walk", "random", "4096", "40"]
    spec = ON.replace(memory_banks=0)  # (the banks are shared: here, only the caches)
    alone, _, _ = model_counts(spec, elf, quiet)
    chip = Chip(spec)
    a = chip.spawn(elf, quiet)
    b = chip.spawn(elf, ["cache_walk", "seq", "65536", "4"])
    chip.run()
    assert a.exit_code == b.exit_code == 0
    # (index 4 counts the I-line checks, which also depend on where slices end)
    assert a.record.caches[:4] + a.record.caches[5:] == alone[:4] + alone[5:]
    assert b.record.caches[2] > 4 * 65536 // 64  # the sweep misses every line, every time
    both = [x + y for x, y in zip(a.record.caches, b.record.caches, strict=True)]
    assert chip._backend.kernels[0].stats.caches == both


@pytest.mark.parametrize(("key", "value", "msg"), [
    ("dcache_bytes", 3000, "must be a power of two"),
    ("cache_line", 48, "power of two"),
    ("icache_ways", 0, "out of range"),
    ("cache_replacement", "random", "must be one of lru, fifo"),
    ("dcache_bytes", 1 << 20, "the model holds at most 4096"),
])
def test_bad_geometry_is_one_line(key: str, value: object, msg: str) -> None:
    with pytest.raises(ShoalError, match=msg):
        ChipSpec.from_dict({"caches": True, key: value}, "test")


def test_caches_key_takes_a_boolean() -> None:
    assert ChipSpec.from_dict({"caches": True}, "t").cache.caches is True
    with pytest.raises(ShoalError, match="'caches' must be true or false"):
        ChipSpec.from_dict({"caches": 1}, "t")


def test_without_the_patched_unicorn_the_model_is_off_and_says_so(tmp_path: Path) -> None:
    """On stock Unicorn (SHOAL_CPU=stock: no inline model possible) mppa256 still runs: one
    line on stderr says the caches are not simulated, --stats has no cache line."""
    import os
    src = Path(__file__).parent / "programs" / "cache_walk.c"
    env = {**os.environ, "SHOAL_CPU": "stock"}
    res = subprocess.run([sys.executable, "-m", "shoal", "run", "--stats", str(src), "seq", "4096", "1"],
                         capture_output=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(native(src, ["seq", "4096", "1"], tmp_path))
    err = res.stderr.decode()
    assert err.count("no L1 cache model here") == 1 and "Traceback" not in err
    assert "L1 caches" not in err + res.stdout.decode()
    quiet = subprocess.run([sys.executable, "-m", "shoal", "run", "--no-caches", str(src), "seq", "4096",
                            "1"], capture_output=True, env=env, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == b""


def _hammer(spec: ChipSpec, n: int) -> tuple[tuple[int, ...], int, bytes]:
    elf = compile_cached([Path(__file__).parent / "programs" / "cache_hammer.c"], FLAGS + ["-pthread"])
    chip = Chip(spec)
    p = chip.spawn(elf, ["cache_hammer", str(n)])
    chip.run()
    assert p.exit_code == 0, p.stderr
    return p.record.caches, p.cycles, p.stdout


def test_memory_banks_make_misses_wait_for_the_other_cores(tmp_path: Path) -> None:
    """Sixteen threads that miss on every line: with contiguous banks their buffers share two
    banks, whose refills queue; interleaved by line, the load spreads over all sixteen and
    hardly anyone waits; one thread alone never waits for itself; no bank model, no wait."""
    src = Path(__file__).parent / "programs" / "cache_hammer.c"
    exe = tmp_path / "hammer"
    subprocess.run(["gcc", "-O2", "-pthread", str(src), "-o", str(exe)], check=True)
    contiguous = ON.replace(bank_mapping="contiguous")
    no_banks = ON.replace(memory_banks=0)
    inter, t_inter, out = _hammer(ON, 16)
    cont, t_cont, out_c = _hammer(contiguous, 16)
    none, t_none, _ = _hammer(no_banks, 16)
    want = subprocess.run([str(exe), "16"], capture_output=True, check=True).stdout
    assert out == out_c == want
    assert none[7] == none[8] == 0 and t_none <= t_inter < t_cont
    assert cont[8] > 100 * max(1, inter[8]) and cont[7] > 100 * max(1, inter[7])
    # About the same misses (the threads' order at their locks moves a little), the waits on top.
    assert abs((cont[6] - cont[8]) - (inter[6] - inter[8])) <= 0.01 * inter[6]
    # One worker: it waits only for its parent's refills of the quantum before (the model's lag).
    alone, _, _ = _hammer(contiguous, 1)
    assert alone[8] * 100 < cont[8]
    assert _hammer(contiguous, 16)[:2] == (cont, t_cont)  # deterministic


def test_stepping_the_run_changes_nothing() -> None:
    """The caches, the banks (shared by a cluster's cores) and the kernel core's caches give
    the same run whether the host runs it at once or in steps of 40,000 cycles: nothing
    depends on the order in which the host simulates the cores."""
    contiguous = ON.replace(bank_mapping="contiguous")
    ref = _hammer(contiguous, 16)
    elf = compile_cached([Path(__file__).parent / "programs" / "cache_hammer.c"], FLAGS + ["-pthread"])
    chip = Chip(contiguous)
    p = chip.spawn(elf, ["cache_hammer", "16"])
    t = 0
    while not p.done:
        t += 40_000
        chip.run(max_cycles=t)
    assert (p.record.caches, p.cycles, p.stdout) == ref
    assert p.record.kernel_caches[0] > 0 and ref[0][7] > 0


def test_bad_bank_mapping_is_one_line() -> None:
    with pytest.raises(ShoalError, match="'bank_mapping' = 'diagonal' must be one of interleaved"):
        ChipSpec.from_dict({"bank_mapping": "diagonal"}, "t")
    with pytest.raises(ShoalError, match="'memory_banks' = 33 is out of range"):
        ChipSpec.from_dict({"memory_banks": 33}, "t")


def test_banks_and_caches_do_not_depend_on_the_engine_window() -> None:
    """Results depend on simulated inputs only: with saturated banks (the order in which
    harts book them matters), a tenth and ten times the default window give the same run."""
    contiguous = ON.replace(bank_mapping="contiguous")
    ref = _hammer(contiguous, 16)
    assert ref[0][7] > 0
    for w in (ON.engine.window_cycles // 10, ON.engine.window_cycles * 10):
        assert _hammer(contiguous.replace(window_cycles=w), 16) == ref


def test_a_calls_stall_joins_its_run_on_the_kernel_core(programs, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the model on, a system call's stall on the kernel core's caches is booked where
    its entry's booking ends (entry.dispatch inlines the calendar's first case): the calendar
    keeps bookings that touch as one run (platform/calendar.py), so after every item no two
    bookings of some length touch, and the runs' cuts are where bookings met."""
    from conftest import run_native

    from shoal.kernel import sched
    from shoal.kernel.kernel import Kernel

    seen = {"items": 0, "cuts": 0}
    real = sched.take

    def take(k: Kernel, key: tuple[int, int, int]) -> None:
        real(k, key)
        cal = k.core.calendar
        for (s1, e1), (s2, e2) in zip(cal.busy, cal.busy[1:], strict=False):
            assert e1 <= s2, f"cluster {k.cluster}: {cal.busy} overlap"
            assert not (e1 == s2 and s1 < e1 and s2 < e2), f"{k.cluster}: {(s1, e1)}, {(s2, e2)} apart"
        assert cal.cuts == sorted(cal.cuts)
        assert all(any(s < c < e for s, e in cal.busy) for c in cal.cuts), (cal.busy, cal.cuts)
        seen["items"] += 1
        seen["cuts"] = max(seen["cuts"], len(cal.cuts))
    monkeypatch.setattr(sched, "take", take)
    b = programs["threads"]
    chip = Chip(ON)
    p = chip.spawn(b.elf, ["threads", "4"])
    chip.run()
    assert (p.stdout, p.returncode) == (run_native(b, ["threads", "4"]).stdout, 0)
    assert chip._backend.kernels[0].core.kmem is not None  # (the kernel side of the model ran)
    assert seen["items"] > 30 and seen["cuts"] > 0  # (calls and their stalls did meet)

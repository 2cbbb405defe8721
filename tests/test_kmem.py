"""The kernel's own memory traffic (kernel/kmem.py) and the fork-join experiment E1
(shoal/experiments/forkjoin.py): the kernel core's cache against an independent one, the two
layouts where the model says their state is, time that adds up, and E1's invariants."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from test_caches import RefCache

from shoal import Chip
from shoal.errors import ShoalError
from shoal.experiments import forkjoin
from shoal.kernel import kmem
from shoal.platform import unicorn_build
from shoal.spec import ChipSpec
from shoal.toolchain import compile_cached

pytestmark = pytest.mark.skipif(unicorn_build.library()[0] is None,
                                reason="the cache model needs shoal's patched Unicorn")

ON = ChipSpec.preset("mppa256")
OFF = ON.replace(caches=False)
FLAGS = ["-O2", "-g0", "-ffp-contract=off"]


@pytest.mark.parametrize(("ways", "fifo", "alloc"), [(1, False, False), (2, False, False), (4, True, False),
                                                     (2, False, True)])
def test_kernel_cache_matches_the_reference(ways: int, fifo: bool, alloc: bool) -> None:
    rnd = random.Random(ways * 10 + fifo)
    mine = kmem.Cache(8192, 64, ways, fifo, alloc)
    ref = RefCache(8192, 64, ways, fifo, alloc)
    misses = 0
    for _ in range(20000):
        addr = rnd.choice([rnd.randrange(0, 1 << 16), rnd.randrange(0, 2048), rnd.randrange(0, 64) * 4096])
        store = rnd.random() < 0.3
        misses += mine.access(addr, store)
        ref.access(addr, store)
    assert misses == ref.read_misses + ref.write_misses > 0


def test_the_layouts_put_a_threads_state_where_they_say() -> None:
    """scattered: a field's entries for consecutive slots are adjacent, each field its own array;
    uarea: all fields of a process's threads inside its one area."""
    s = kmem.KernelMemory(ON.replace(kernel_layout="scattered"))
    u = kmem.KernelMemory(ON)
    for tid in (10, 11, 12):
        s._field("thread", 1, tid)
        u._field("thread", 1, tid)
    assert s._field("thread", 1, 11) - s._field("thread", 1, 10) == kmem.FIELDS["thread"]
    assert s._field("join", 1, 10) - s._field("thread", 1, 10) >= kmem.THREAD_SLOTS * kmem.FIELDS["thread"]
    area = {u._field(f, 1, tid) for f in kmem.FIELDS for tid in (10, 11, 12)}
    base = kmem.UAREA_BASE + u._proc(1) * kmem.UAREA_SIZE
    assert all(base <= a < base + kmem.UAREA_SIZE for a in area)
    other = u._field("thread", 2, 20)  # another process: another area
    assert not base <= other < base + kmem.UAREA_SIZE
    assert base + kmem.UAREA_SIZE * kmem.PROC_SLOTS <= ON.cluster.kernel_reserved  # it all fits


def test_simulated_time_adds_up() -> None:
    """With the model on, a single-threaded program's time is the model-off time plus its user
    stalls plus the kernel's, less only the exit call's own kernel work (after its end)."""
    elf = compile_cached([Path(__file__).parent / "programs" / "cache_walk.c"], FLAGS)
    argv = ["cache_walk", "random", "16384", "2"]
    times, records = [], []
    for spec in (ON, OFF):
        c = Chip(spec)
        p = c.spawn(elf, argv)
        c.run()
        times.append(p.cycles)
        records.append(p.record)
    on, off = records
    assert off.caches == off.kernel_caches == ()
    stalls = on.caches[6] + on.kernel_caches[6]
    gap = stalls - (times[0] - times[1])
    exit_bound = (kmem.CODE_LINES["entry"] + kmem.DEFAULT_CODE_LINES + 10) * 12
    assert 0 <= gap <= exit_bound, (stalls, times)
    loads, stores, lm, sm, fetches, fm, stall = on.kernel_caches[:7]
    assert stall == lm * ON.cache.dcache_miss_cycles + fm * ON.cache.icache_miss_cycles
    assert loads + stores > 0 and fetches > lm + sm


def test_fork_join_e1_invariants() -> None:
    """E1 on a few N: the layouts touch the same structures (accesses differ only by the
    thread-slot scan, and not at all with one thread), and with the invalidations off there
    are fewer misses."""
    rows = [forkjoin.point(ON.replace(kernel_layout=layout, kernel_invalidations=inval), n, 2, 6)
            for inval in (True, False) for layout in ("scattered", "uarea") for n in (1, 16)]
    by = {(r["layout"], r["invalidations"], r["n"]): r for r in rows}
    for inval in (True, False):
        s1, u1 = by[("scattered", inval, 1)], by[("uarea", inval, 1)]
        assert (s1["d_accesses"], s1["i_fetches"]) == (u1["d_accesses"], u1["i_fetches"])
        s16, u16 = by[("scattered", inval, 16)], by[("uarea", inval, 16)]
        assert abs(s16["d_accesses"] - u16["d_accesses"]) <= 0.05 * s16["d_accesses"]
        assert s16["i_fetches"] > 0 and u16["kernel_cycles"] > 0
    for layout in ("scattered", "uarea"):
        assert by[(layout, False, 16)]["d_misses"] < by[(layout, True, 16)]["d_misses"]
    lines = forkjoin.summary_lines(forkjoin.totals(rows))
    assert "Seed (k1b): D stall -5.8%" in lines[0] and len(lines) == 3


def test_forkjoin_program_as_native(tmp_path: Path) -> None:
    src = forkjoin.PROGRAM
    exe = tmp_path / "fj"
    subprocess.run(["gcc", "-O2", "-pthread", str(src), "-o", str(exe)], check=True)
    want = subprocess.run([str(exe), "5", "3"], capture_output=True, check=True).stdout
    c = Chip(ON)
    p = c.spawn(compile_cached([src], ["-O2", "-g0"]), ["forkjoin", "5", "3"])
    c.run()
    assert p.stdout == want and p.exit_code == 0


def test_bad_kernel_layout_is_one_line() -> None:
    with pytest.raises(ShoalError, match="'kernel_layout' = 'flat' must be one of uarea, scattered"):
        ChipSpec.from_dict({"kernel_layout": "flat"}, "t")


@pytest.mark.parametrize("shape", [{}, {"cache_replacement": "fifo", "dcache_write_allocate": True,
                                        "kernel_layout": "scattered"},
                                   {"kernel_invalidations": False, "dcache_ways": 4, "dcache_bytes": 4096}])
def test_native_replay_is_the_python_one(shape: dict) -> None:
    """The kernel core's caches replayed in native code (blockcount.c) give the stalls, counts
    and cache state of the Python replay, call after call (random calls, threads, processes)."""
    spec = ON.replace(**shape)
    fast, slow = kmem.KernelMemory(spec), kmem.KernelMemory(spec)
    if fast._serve is None:
        pytest.skip("native/blockcount.c cannot be built here")
    for c in (slow.d, slow.i):
        c.tags = c._fn = None
    slow._serve = None
    mine, ref = [0] * 9, [0] * 9
    rnd = random.Random(7)
    names = [*kmem.FOOTPRINTS, "clock_gettime64", "shoal_mailbox_read", "read", *kmem.IKC]
    stalls = 0
    for _ in range(5000):
        name, pid = rnd.choice(names), rnd.randrange(1, 5)
        tid = pid * 100 + rnd.randrange(4)
        other = rnd.choice([None, tid + 1])
        got = fast.serve(name, pid, tid, other, mine)
        assert got == slow.serve(name, pid, tid, other, ref)
        stalls += got
    assert mine == ref and fast.counts == slow.counts and stalls > 0
    for c, py in ((fast.d, slow.d), (fast.i, slow.i)):  # the same lines, most recent first
        ways = [list(c.tags[j * c.ways:(j + 1) * c.ways]) for j in range(c.nsets)]
        assert [[ln for ln in w if ln != kmem.EMPTY] for w in ways] == py.sets


def test_the_modelled_call_names_are_the_tables() -> None:
    """Every call the kernel-traffic model names (footprints, invalidations) is a system call of
    the table, so no modelled behaviour is lost to a misspelt name."""
    from shoal.kernel.table import SYSCALLS
    names = {name for name, _ in SYSCALLS.values()}
    modelled = {*kmem.FOOTPRINTS, *kmem.IKC, *kmem.CREATES, *(n for n in kmem.CODE_LINES if n != "entry")}
    assert modelled <= names, modelled - names

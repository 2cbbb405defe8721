"""The kernel's own memory traffic, through the kernel core's L1 caches (issue 21, part 2).

The microkernel is Python, so its loads, stores and instruction fetches are modelled, not run:
each service says which kernel structures it touches (`FOOTPRINTS`), at addresses that the
chip's `kernel_layout` gives, and each touch goes through an I-cache and a D-cache of the
kernel core with the chip's L1 geometry. A miss adds `*_miss_cycles` to the service's cost.
Counted per process and cluster apart from user mode.

Two layouts of the per-thread state (`kernel_layout`):
  scattered  one global array per subsystem, indexed by a cluster-wide thread slot: thread
             table, join conditions, exit values, run-queue links, kernel stacks (Nanvix
             before the user area)
  uarea      the same fields of a process's threads in one contiguous area per process, the
             "user area" that the seed gathered for locality (the container)
Everything else (system-call table and globals, process table, futex table, frame bitmap)
is laid out the same in both. As Nanvix on the k1b, whose caches are not coherent, the kernel
invalidates its whole D-cache when it creates a thread and around every IKC call
(`kernel_invalidations`; Nanvix also does when it allocates a frame, which here happens in a
page fault: faults are served mid-slice, out of time order with the cluster's calls, so they
are not replayed, and every call observes when this model runs; see kernel/entry.py).

Sizes and footprints are ASSUMPTIONS modelled on Nanvix's structures (a 64 B thread entry,
16 B join condition, 4 B exit value and run-queue link, 1 KiB kernel stack per thread, 128 B
process entry; 64 thread slots and 8 process areas of 16 threads): the figures they give are
reported with their sensitivity (shoal bench locality), not as measurements of the k1b.
"""

from __future__ import annotations

import ctypes
from dataclasses import field

from shoal.kernel.container import CACHE_COUNTS
from shoal.platform.calendar import Calendar
from shoal.platform.cpu import native_library
from shoal.record import dataclass
from shoal.spec import ChipSpec

LINE_TOUCH = 64  # bytes a "line" touch covers in the footprints below (one k1b cache line)

# Cluster-wide structures: byte offset in the kernel's memory and size.
GLOBALS = 0x0000  # system-call table, current-thread pointers, kernel globals: 1 KiB
PROC_TABLE = 0x0400  # 8 process entries x 128 B
FUTEX_TABLE = 0x0800  # 64 buckets x 16 B
FRAME_MAP = 0x0C00  # the frame allocator's bitmap (512 frames: 64 B)
THREAD_SLOTS = 64
PROC_SLOTS = 8
THREADS_PER_PROC = THREAD_SLOTS // PROC_SLOTS
# Per-thread fields: (size of one thread's, scattered array base). The arrays follow one
# another from 0x1000, each 64 B aligned, in the order Nanvix's sources declare them.
FIELDS = {"thread": 64, "join": 16, "exitv": 4, "runq": 4, "kstack": 1024}
KTEXT = 0x20000  # the kernel's code (its own region: I-cache only)


def _scattered_bases() -> dict[str, int]:
    bases, at = {}, 0x1000
    for name, size in FIELDS.items():
        bases[name] = at
        at += -(-(size * THREAD_SLOTS) // 64) * 64
    return bases


SCATTERED = _scattered_bases()
UAREA_BASE = SCATTERED["kstack"] + THREAD_SLOTS * 1024  # the areas come after the arrays' room
UAREA_OFFSETS: dict[str, int] = {}
_at = 0
for _name, _size in FIELDS.items():
    UAREA_OFFSETS[_name] = _at
    _at += -(-(_size * THREADS_PER_PROC) // 64) * 64
UAREA_SIZE = _at

# What each service touches, in order: (structure, whose, lines, store). `whose` is "self"
# (the calling thread), "new" (a thread the call creates), "other" (a thread it wakes or joins)
# or "" (a cluster-wide structure). Every call also enters and leaves the kernel (ENTRY/EXIT).
ENTRY = [("globals", "", 1, False), ("kstack", "self", 2, True), ("thread", "self", 1, False)]
EXIT = [("kstack", "self", 2, False), ("thread", "self", 1, True)]
FOOTPRINTS: dict[str, list[tuple[str, str, int, bool]]] = {
    "clone": [("proc", "", 1, False), ("thread", "scan", 1, False), ("thread", "new", 1, True),
              ("join", "new", 1, True), ("exitv", "new", 1, True), ("kstack", "new", 2, True),
              ("runq", "", 1, True), ("runq", "new", 1, True)],
    "exit": [("exitv", "self", 1, True), ("join", "self", 1, True), ("futex", "", 1, True),
             ("thread", "other", 1, True), ("runq", "", 1, True), ("runq", "other", 1, True)],
    "futex_time64": [("futex", "", 1, True), ("thread", "other", 1, True), ("runq", "", 1, True),
              ("runq", "other", 1, True), ("join", "self", 1, False)],
    "mmap2": [("proc", "", 1, True), ("frames", "", 1, False)],
    "munmap": [("proc", "", 1, True), ("frames", "", 1, True)],
    "mprotect": [("proc", "", 1, True)],
    "brk": [("proc", "", 1, True)],
    "sched_yield": [("runq", "", 1, True), ("runq", "self", 1, True)],
    "exit_group": [("proc", "", 1, True), ("exitv", "self", 1, True), ("runq", "", 1, True)],
}
CODE_LINES = {"entry": 6, "clone": 24, "exit": 14, "futex_time64": 18}  # I-lines per path
DEFAULT_CODE_LINES = 8
CREATES = frozenset({"clone"})  # Nanvix invalidates the D-cache in thread creation
# The IKC calls that move data (kernel/table.py's names; a test checks they are there).
IKC = frozenset({"shoal_mailbox_write", "shoal_mailbox_read", "shoal_portal_write", "shoal_portal_read"})


EMPTY = 0xFFFFFFFF  # a free way in the native tag array


class Cache:
    """A set-associative cache of the chip's geometry (LRU or FIFO); stores allocate only with
    write-allocate (write-through with a write buffer: a store miss does not stall).

    Its sets are replayed in native code where it is built (shoal_kmem_replay in
    native/blockcount.c: a call replays a few dozen lines, on every system call's path), else
    in Python (`sets`, most recent first); both give the same misses and the same state."""

    def __init__(self, size: int, line: int, ways: int, fifo: bool, write_alloc: bool,
                 native: bool = True) -> None:
        self.line, self.ways, self.fifo, self.write_alloc = line, ways, fifo, write_alloc
        self.nsets = size // (line * ways)
        self.sets: list[list[int]] = [[] for _ in range(self.nsets)]
        lib = native_library() if native else None
        self._fn = lib.shoal_kmem_replay if lib is not None else None
        self.tags = (ctypes.c_uint32 * (self.nsets * ways))() if lib is not None else None
        self._out = (ctypes.c_uint64 * 4)()
        self.invalidate()

    def access(self, addr: int, store: bool) -> bool:
        """True on a miss."""
        if self.tags is not None and self._fn is not None:
            out = self._out
            args = self.compile([(addr // self.line, store)], ctypes.addressof(out))
            out[0] = out[1] = out[2] = out[3] = 0
            self._fn(*args[2:])
            return out[2] + out[3] == 1
        return _access(self, addr // self.line, store) == 1

    def invalidate(self) -> None:
        if self.tags is not None:  # (then `sets` are not used)
            ctypes.memset(self.tags, 0xFF, ctypes.sizeof(self.tags))
            return
        for s in self.sets:
            s.clear()

    def compile(self, data: list[tuple[int, bool]], out: int) -> list[object]:
        """`data` (line, store) as the native replay's arguments, counts to address `out`
        (the arrays it points into come first: they must live as long as the arguments)."""
        n = len(data)
        lines = (ctypes.c_uint32 * max(1, n))(*[ln for ln, _ in data])
        stores = (ctypes.c_uint8 * max(1, n))(*[int(st) for _, st in data])
        assert self.tags is not None
        return [lines, stores, ctypes.addressof(self.tags), self.nsets, self.ways, int(not self.fifo),
                int(self.write_alloc), ctypes.addressof(lines), ctypes.addressof(stores), n, out]


class KernelMemory:
    """The kernel core's caches and where its structures are, for one cluster."""

    def __init__(self, spec: ChipSpec) -> None:
        self.spec = spec
        c = spec.cache
        fifo = c.cache_replacement == "fifo"
        self.d = Cache(c.dcache_bytes, c.cache_line, c.dcache_ways, fifo, c.dcache_write_allocate)
        self.i = Cache(c.icache_bytes, c.cache_line, c.icache_ways, fifo, False)
        self.uarea = spec.kernel.kernel_layout == "uarea"
        self.invalidations = spec.kernel.kernel_invalidations
        # container.CACHE_COUNTS (no bank model for the kernel core: the last two stay 0)
        self.counts = [0] * 9
        self._dmiss, self._imiss = c.dcache_miss_cycles, c.icache_miss_cycles
        self._tslot: dict[int, int] = {}  # tid -> cluster-wide thread slot (scattered)
        self._pslot: dict[int, int] = {}  # pid -> process area (uarea) and process entry
        self._members: dict[int, dict[int, int]] = {}  # pid -> {tid: slot in its area}
        # What each (call, pid, tid, other) touches, once its slots are known (cleared when
        # a slot is given back, as the addresses then change).
        self._plans: dict[tuple, tuple[list, list]] = {}
        names = sorted({*FOOTPRINTS, "entry"})
        self._code = {name: KTEXT + 0x800 * i for i, name in enumerate(names)}
        self._code_default = KTEXT + 0x800 * len(names)
        lib = native_library()
        # (the D-cache's invalidations around the replay in the same call: blockcount.c)
        # (a pointer of its own without declared argument types, called with the block itself
        # and a plain int: ctypes converts those without a from_param call each)
        self._serve = None
        if lib is not None and self.d.tags is not None:
            self._serve = lib._FuncPtr(("shoal_kmem_serve_inval", lib))
            self._serve.restype = None
        self._out = (ctypes.c_uint64 * 8)()  # the native replay's counts: D-cache's, then I-cache's
        self._natives: dict[tuple, tuple] = {}  # a plan's lines -> its native replay's arguments

    # slots: the lowest free one, as Nanvix's tables are searched -------------------------
    @staticmethod
    def _lowest(used: set[int], n: int, key: int) -> int:
        return next((i for i in range(n) if i not in used), key % n)

    def _proc(self, pid: int) -> int:
        s = self._pslot.get(pid)
        if s is None:
            s = self._pslot[pid] = self._lowest(set(self._pslot.values()), PROC_SLOTS, pid)
        return s

    def _thread(self, pid: int, tid: int) -> int:
        """The thread's slot: cluster-wide (scattered) or in its process's area (uarea)."""
        if not self.uarea:
            s = self._tslot.get(tid)
            if s is None:
                s = self._tslot[tid] = self._lowest(set(self._tslot.values()), THREAD_SLOTS, tid)
            return s
        mine = self._members.setdefault(pid, {})
        s = mine.get(tid)
        if s is None:
            s = mine[tid] = self._lowest(set(mine.values()), THREADS_PER_PROC, tid)
        return s

    def _field(self, name: str, pid: int, tid: int) -> int:
        slot = self._thread(pid, tid)
        if not self.uarea:
            return SCATTERED[name] + FIELDS[name] * slot
        return UAREA_BASE + self._proc(pid) * UAREA_SIZE + UAREA_OFFSETS[name] + FIELDS[name] * slot

    def forget(self, pid: int, tid: int) -> None:
        """A thread ended: its slots are free again."""
        self._plans.clear()
        self._tslot.pop(tid, None)
        self._members.get(pid, {}).pop(tid, None)

    def forget_process(self, pid: int) -> None:
        self._plans.clear()
        for tid in self._members.pop(pid, {}):
            self._tslot.pop(tid, None)
        self._pslot.pop(pid, None)

    # the service ---------------------------------------------------------------------
    def serve(self, name: str, pid: int, tid: int, other: int | None, counts: list[int]) -> int:
        """Replay the accesses of system call `name` for thread `tid` of `pid` and `other` (a
        thread it creates, or None); the stall cycles. Counts go to the cluster's and to
        `counts` (the process's)."""
        key = (name, pid, tid, other)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 4096:  # (bounded: the slots of many short threads)
                self._plans.clear()
            plan = self._plans[key] = self._compile(name, pid, tid, other)
        code, native, loads, stores, fetches, inval, data = plan
        c = self.counts
        if native is not None:
            self._serve(native[1], inval)  # type: ignore[misc]
            out = self._out
            lm, sm, im = out[2], out[3], out[6]
        else:
            d = self.d
            if inval & 1:
                d.invalidate()
            im = _replay_data(self.i, code)[2]
            _, _, lm, sm = _replay_data(d, data)
            if inval & 2:
                d.invalidate()
        c[0] += loads
        c[1] += stores
        c[4] += fetches
        counts[0] += loads
        counts[1] += stores
        counts[4] += fetches
        stall = 0
        if lm or sm or im:
            stall = lm * self._dmiss + im * self._imiss
            c[2] += lm
            counts[2] += lm
            c[3] += sm
            counts[3] += sm
            c[5] += im
            counts[5] += im
            c[6] += stall
            counts[6] += stall
        if name == "exit":
            self.forget(pid, tid)
        elif name == "exit_group":
            self.forget_process(pid)
        return stall

    def _compile(self, name: str, pid: int, tid: int, other: int | None) -> tuple:
        """A call's plan: its lines, their native replay (or None), its loads and stores, and
        whether the D-cache is invalidated before and after (kernel_invalidations)."""
        data, code = self._plan(name, pid, tid, other)
        native = None
        if self._serve is not None:  # both replays' arguments in one block (blockcount.c)
            # (kept by the lines themselves: plans are dropped whenever a thread ends, and
            # threads that come and go touch the same lines again)
            lines = (tuple(data), tuple(code))
            native = self._natives.get(lines)
            if native is None:
                if len(self._natives) > 4096:
                    self._natives.clear()
                base = ctypes.addressof(self._out)
                dargs = self.d.compile(data, base)
                iargs = self.i.compile(code, base + 32)  # (code lines: (line, False), loads)
                iargs[8] = 0  # (code: loads only)
                block = (ctypes.c_uint64 * 18)(*dargs[2:], *iargs[2:])
                native = self._natives[lines] = (ctypes.addressof(block), block, dargs[:2], iargs[:2])
        stores = sum(1 for _, st in data if st)
        inval = self.invalidations
        # (the D-cache emptied before the replay: bit 0; after it: bit 1)
        mask = (int(inval and name in IKC) | int(inval and (name in CREATES or name in IKC)) << 1)
        return (code, native, len(data) - stores, stores, len(code), mask, data)

    def _plan(self, name: str, pid: int, tid: int, other: int | None) -> tuple[list, list]:
        """The lines a call touches, in order: data (line, store) and code lines."""
        line = self.spec.cache.cache_line
        data = []
        for touch in [*ENTRY, *FOOTPRINTS.get(name, []), *EXIT]:
            store = touch[3]
            data += [(a // line, store) for a in self._addresses(touch, pid, tid, other)]
        code = []
        for part in ("entry", name):
            base = self._code.get(part, self._code_default)
            n = CODE_LINES.get(part, DEFAULT_CODE_LINES)
            code += [((base + 64 * j) // line, False) for j in range(n)]  # (fetches: loads)
        return data, code

    def _addresses(self, touch: tuple[str, str, int, bool], pid: int, tid: int,
                   other: int | None) -> list[int]:
        what, whose, lines, _ = touch
        if what == "globals":
            return [GLOBALS]
        if what == "proc":
            return [PROC_TABLE + 128 * self._proc(pid)]
        if what == "futex":
            return [FUTEX_TABLE + 16 * (tid % 64)]
        if what == "frames":
            return [FRAME_MAP]
        if whose == "scan":  # thread creation looks for a free slot from the first
            if other is None:
                return []
            n = self._thread(pid, other) + 1
            first = self._field("thread", pid, other) - FIELDS["thread"] * (n - 1)
            return [first + FIELDS["thread"] * i for i in range(n)]
        if what == "runq" and whose == "":  # the queue's head
            return [SCATTERED["runq"] if not self.uarea else self._field("runq", pid, tid)]
        who = tid if whose == "self" else other
        if who is None:
            return []
        start = self._field(what, pid, who)
        if what == "kstack":  # the top of the stack: the saved context
            start += FIELDS["kstack"] - LINE_TOUCH * lines
        return [start + LINE_TOUCH * i for i in range(lines)]


def _access(c: Cache, ln: int, store: bool) -> int:
    """One access to line number `ln`: 1 on a miss."""
    s = c.sets[ln % c.nsets]
    if s and s[0] == ln:
        return 0
    if ln in s:
        if not c.fifo:
            s.remove(ln)
            s.insert(0, ln)
        return 0
    if not store or c.write_alloc:
        s.insert(0, ln)
        if len(s) > c.ways:
            s.pop()
    return 1


def _replay_data(c: Cache, data: list[tuple[int, bool]]) -> tuple[int, int, int, int]:
    """Loads and stores of `data` (line, store) in order: (loads, stores, load misses, store
    misses). (_access, inlined: a call replays a few dozen lines on every system call's path.)"""
    sets, nsets, lru, ways, alloc = c.sets, c.nsets, not c.fifo, c.ways, c.write_alloc
    loads = stores = lm = sm = 0
    for ln, store in data:
        if store:
            stores += 1
        else:
            loads += 1
        s = sets[ln % nsets]
        if s and s[0] == ln:
            continue
        if ln in s:
            if lru:
                s.remove(ln)
                s.insert(0, ln)
            continue
        if store:
            sm += 1
            if not alloc:
                continue
        else:
            lm += 1
        s.insert(0, ln)
        if len(s) > ways:
            s.pop()
    return loads, stores, lm, sm


@dataclass(eq=False, slots=True)
class KernelCore:
    """The cluster's kernel core (`Kernel.core`): when it serves calls, its caches, and the
    setting of CLOCK_REALTIME it keeps."""

    calendar: Calendar = field(default_factory=Calendar)  # (start, end) cycles it serves a call
    wait: int = 0  # cycles threads spent queueing for it
    kmem: KernelMemory | None = None  # its caches, with the L1 model (made with the CPU)
    caches: list[int] = field(default_factory=lambda: [0] * len(CACHE_COUNTS))  # their counts
    # ns clock_settime added to the epoch, when and by which cluster it was set (the latest
    # setting wins on every cluster: calls/time.py)
    realtime: tuple[int, int, int] = (0, 0, -1)

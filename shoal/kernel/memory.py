"""Frames, Sv32 page tables, demand paging, and the regions of an address space.

A region (VMA) says what may be mapped; a page costs a frame only once touched. Page tables
are real Sv32 tables in cluster memory: their frames are counted against the cluster like
any other, so a process's footprint is honest and a later migration can move them.
A fork on one cluster shares frames copy-on-write (share_into, _unshare): a shared frame has a
count (FrameAllocator.shares) and is freed with its last mapping. A fork also makes anonymous
shared pages a shared memory object's (make_shared: their frames become the cluster's).
Long (~860 lines): frames, tables and regions are one mechanism (each change to a region
edits its page-table entries and frames at once; paging out, copy-on-write and pre-copy's
dirty tracking read the same entries); split, they would share private state.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import field

from unicorn import UC_MEM_FETCH, UC_MEM_WRITE, UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE

from shoal.platform.cpu import PHYS_BASE
from shoal.record import dataclass

PAGE = 4096
PAGE_SHIFT = 12
ZERO_PAGE = bytes(PAGE)
USER_TOP = 0xC000_0000  # like Linux's 3G/1G split; the top gigabyte is never user memory
# Regions (mappings) one process may have: Linux's vm.max_map_count default, so a program
# meets the limit where it would on Linux (shoal merges no regions: each mmap counts). On the
# host a region costs ~150 bytes, so the limit also bounds what a guest's mmaps cost there.
MAX_MAP_COUNT = 65530

# Sv32 PTE bits.
PTE_V, PTE_R, PTE_W, PTE_X, PTE_U, PTE_A, PTE_D = 1, 2, 4, 8, 16, 64, 128
# Copy-on-write (a fork on one cluster, kernel/calls/fork.py): one of the two bits Sv32
# leaves to software. The frame may be shared; W is withheld until a store copies (or takes) it.
PTE_COW = 256
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
_PHYS_PPN = PHYS_BASE >> PAGE_SHIFT
PTES = PAGE // 4  # entries in a page table
# When each page came into a frame, for page replacement (kernel/rmem.py). One counter for
# all: only the order among one cluster's pages matters, and that order is the cluster's own.
_born = itertools.count()


# A mapped file's region (kernel/calls/mman.py): "[file:OBJECT]" (MAP_SHARED), with ":ro" when
# the file is open read-only (mprotect may not make it writable), or ":private" (MAP_PRIVATE:
# its pages are the file object's until a store makes one the process's own copy).
FILE_MAP = "[file:"
PRIVATE_FILE = ":private]"
RO_FILE = ":ro]"


def private_file(r: Region | None) -> bool:
    """Is `r` a MAP_PRIVATE mapping of a file (its pages the file's until stored into)?"""
    return r is not None and r.name.startswith(FILE_MAP) and r.name.endswith(PRIVATE_FILE)


class OutOfFrames(Exception):
    pass


class Fault(Exception):
    """An access the address space does not allow; `kind` is 'load', 'store' or 'fetch'."""

    def __init__(self, kind: str, addr: int, reason: str = "page fault") -> None:
        super().__init__(kind, addr, reason)
        self.kind, self.addr, self.reason = kind, addr, reason

    def __str__(self) -> str:  # (made when read: a remote page's fault is never printed)
        return f"{self.kind} {self.reason} at {self.addr:#010x}"


class Missing(Fault):
    """A page of the process that lives elsewhere for now (post-copy migration, remote
    memory): the access waits for it and is restarted, it is not an error. A Fault, so that a path that cannot
    wait fails cleanly rather than crash."""

    def __init__(self, kind: str, addr: int) -> None:
        super().__init__(kind, addr, "page not here yet")


class FrameAllocator:
    """Frames of one cluster's memory, deterministic: the lowest free one first, or with
    `placement` "scattered" in bit-reversed order of their index (0, N/2, N/4, 3N/4, ...): a
    process's consecutive pages then land far apart, and the first half of the frames handed
    out all share the low bit of their number (bit 12 of the address, a cache colour), which
    is what a direct-mapped 8 KiB cache indexes with. When none is free, `reclaim()` (the
    kernel's remote memory, kernel/rmem.py) may evict pages to make some."""

    def __init__(self, first: int, count: int, placement: str = "lowest") -> None:
        self.first, self.total = first, count
        if placement == "scattered":
            bits = max(1, (count - 1).bit_length())
            self._key = {f: int(f"{f - first:0{bits}b}"[::-1], 2) for f in range(first, first + count)}
            self._free = [self._key[f] for f in range(first, first + count)]
            self._frame = {v: f for f, v in self._key.items()}
        else:
            self._key = self._frame = None
            self._free = list(range(first, first + count))
        heapq.heapify(self._free)
        self.reclaim: Callable[[], bool] | None = None
        # Frames mapped by more than one address space (copy-on-write): frame -> how many.
        self.shares: dict[int, int] = {}

    @property
    def free(self) -> int:
        return len(self._free)

    def alloc(self) -> int:
        # (An eviction of a frame shared copy-on-write frees none until its last sharer's
        # goes: reclaim again while pages went.)
        while not self._free:
            if self.reclaim is None or not self.reclaim():
                raise OutOfFrames
        got = heapq.heappop(self._free)
        return got if self._frame is None else self._frame[got]

    def release(self, frame: int) -> None:
        heapq.heappush(self._free, frame if self._key is None else self._key[frame])

    def share(self, frame: int) -> None:
        """One more address space maps `frame` (copy-on-write)."""
        self.shares[frame] = self.shares.get(frame, 1) + 1

    def drop(self, frame: int) -> bool:
        """One address space stops mapping `frame`: it is freed if that was the last; True then."""
        n = self.shares.get(frame)
        if n is None:
            self.release(frame)
            return True
        if n > 2:
            self.shares[frame] = n - 1
        else:
            del self.shares[frame]
        return False


@dataclass
class Region:
    """A mapped range of an address space with its rights and name."""

    start: int
    end: int
    prot: int
    name: str


@dataclass(eq=False, slots=True)
class SwapPages:
    """An address space's pages in remote memory (kernel/rmem.py, `AddressSpace.swap`)."""

    # Which remote pages the I/O cluster holds (the others follow a post-copy migration),
    # each with the version of it to ask for.
    pages: dict[int, int] = field(default_factory=dict)
    # Which resident pages it holds a current copy of, and its version (a clean page then
    # goes without being written back).
    held: dict[int, int] = field(default_factory=dict)
    # The last version given to a write-back (each gets a new one, so that the daemon tells an
    # old copy from the one asked for, whatever order packets arrive in).
    seq: int = 0
    on_drop: Callable[[list[tuple[int, int]]], None] | None = None  # told of copies given up
    born: dict[int, int] = field(default_factory=dict)  # when each resident page came


@dataclass(eq=False, slots=True)
class SharedMap:
    """An address space's shared pages (kernel/shm.py, `AddressSpace.shm`): page -> (object,
    page number). Their frames are the cluster's (one per page, whoever maps it), not this
    address space's: `frame` finds the one held here (or None: the page is elsewhere),
    `on_drop` is told of the pages this address space stops mapping."""

    pages: dict[int, tuple[int, int]] = field(default_factory=dict)
    frame: Callable[[tuple[int, int]], tuple[int, bool] | None] | None = None
    on_drop: Callable[[list[tuple[int, int]]], None] | None = None


@dataclass(eq=False, slots=True)
class _GapCache:
    """find_gap resumes its top-down search at `at` (for searches below `below`): every hole
    in [at, below) is shorter than `hole` bytes (the idea of Linux's old free_area_cache),
    so n mmaps cost n searches, not n^2/2 region visits."""

    below: int = 0
    at: int = 0
    hole: int = 0


class AddressSpace:
    """One container's virtual memory on one cluster.

    Page tables: a PTE is either 0 or valid, and `_used` records, for each second-level table
    that exists, which of its entries are valid. munmap, mprotect, madvise, teardown and
    pages() visit only those entries: a thread stack is an 8 MiB region with a few pages
    touched, and walking its empty slots one by one was most of the host time of 16 clusters
    x 16 threads (bench/memory.py). A table is freed as soon as its last page goes, so tables
    cost frames only while they map something (and a restore needs exactly as many).
    """

    def __init__(self, mem: memoryview | bytearray, frames: FrameAllocator, on_change: object,
                 on_code: object = None) -> None:
        self.mem = mem
        # The cluster's memory as 32-bit words, to read and write PTEs in place (Sv32 tables
        # are little-endian, as is every host shoal runs on; native/blockcount.c assumes so too).
        self._words = memoryview(mem).cast("I")
        self.frames = frames
        self._on_change = on_change  # called when cached translations must be dropped
        # Called when the kernel writes into, or frees, a frame that is or was executable:
        # the CPU's translated code for it is stale (guest stores are seen by the CPU itself).
        self._on_code = on_code
        self._code: set[int] = set()  # frames mapped executable at some time
        self.regions: list[Region] = []
        self._starts: list[int] = []
        self._gap = _GapCache()
        self.root = self._new_frame()
        self._used: dict[int, set[int]] = {}  # first-level index -> valid entries of its table
        self.table_frames = 1
        self.data_frames = 0
        self.exec_frames_freed = False
        self.faults = 0
        self.cow_copies = 0  # stores that copied a shared frame (the kernel charges each)
        # Dirty tracking (pre-copy migration): None when off, which costs nothing. When on,
        # pages whose contents or frame changed without a dirty bit to show it (freed, newly
        # populated) are noted here; take_dirty() adds those with D set.
        self.touched: set[int] | None = None
        # Pages of this process that live elsewhere for now (post-copy): virtual address ->
        # PTE flags, and the kernel's own stores into them, applied when the page arrives.
        self.remote: dict[int, int] = {}
        self.overlay: dict[int, list[tuple[int, bytes]]] = {}
        self.swap = SwapPages()  # pages in remote memory (kernel/rmem.py)
        self.shm = SharedMap()  # shared memory's pages (kernel/shm.py)

    # frames -----------------------------------------------------------------
    def _new_frame(self) -> int:
        f = self.frames.alloc()
        off = f * PAGE
        self.mem[off:off + PAGE] = ZERO_PAGE
        return f

    @property
    def frames_in_use(self) -> int:
        return self.table_frames + self.data_frames

    def shared_frames(self) -> int:
        """Of `frames_in_use`, the frames another address space maps too (copy-on-write after a
        fork): moving or ending this one frees none of them. A walk of the tables, and none
        at all on a cluster where nothing is shared (no fork)."""
        shares = self.frames.shares
        if not shares:
            return 0
        words, shm = self._words, self.shm.pages
        return sum(1 for i, table, entries in self._mapped(0, USER_TOP) for j in entries
                   if ((words[table + j] >> 10) - _PHYS_PPN) in shares
                   and not (shm and (i << 22) | (j << 12) in shm))

    # regions ----------------------------------------------------------------
    def find(self, addr: int) -> Region | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.regions[i].end:
            return self.regions[i]
        return None

    def is_free(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._starts, end)
        return i == 0 or self.regions[i - 1].end <= start

    def covered(self, start: int, end: int) -> bool:
        """Is every page of [start, end) in some region?"""
        va = start
        while va < end:
            r = self.find(va)
            if r is None:
                return False
            va = r.end
        return True

    @property
    def map_count(self) -> int:
        return len(self.regions)

    def add_region(self, region: Region) -> None:
        i = bisect.bisect_left(self._starts, region.start)
        self.regions.insert(i, region)
        self._starts.insert(i, region.start)

    def _span(self, start: int, end: int) -> tuple[int, int]:
        """Indices [i, j) of the regions that overlap [start, end)."""
        i = bisect.bisect_right(self._starts, start) - 1
        if i < 0 or self.regions[i].end <= start:
            i += 1
        return i, bisect.bisect_left(self._starts, end)

    def _splice(self, i: int, j: int, pieces: list[Region]) -> None:
        self.regions[i:j] = pieces
        self._starts[i:j] = [r.start for r in pieces]

    def find_gap(self, length: int, below: int) -> int | None:
        """Highest free range of `length` bytes ending at or below `below` (top-down, like Linux)."""
        g = self._gap
        if below == g.below and length >= g.hole:
            top, hole = g.at, g.hole  # no hole above this one fits
        else:
            top, hole = below, 0
        i = bisect.bisect_left(self._starts, top)  # regions[:i] start below `top`
        while i > 0:
            r = self.regions[i - 1]
            if r.end <= top - length:
                break
            if r.end < top:
                hole = max(hole, top - r.end + 1)
            top = min(top, r.start)
            i -= 1
        if top - length < 0x10000:
            return None
        # Resume at `top`, not below the new range: the hole it is cut from stays below the
        # resume point whether or not the caller maps it.
        g.below, g.at, g.hole = below, top, hole
        return top - length

    def _freed(self, end: int) -> None:
        """Regions up to `end` went away: the hole they leave ends at the next region above,
        and find_gap must resume there at the latest."""
        i = bisect.bisect_left(self._starts, end)
        hole_end = self._starts[i] if i < len(self._starts) else USER_TOP
        g = self._gap
        g.at = max(g.at, min(hole_end, g.below))

    def remove_range(self, start: int, end: int) -> bool:
        """Unmap [start, end): split regions at the edges, free touched frames. False (nothing
        done) if a split would take the process past MAX_MAP_COUNT regions."""
        i, j = self._span(start, end)
        if i < j:
            first, last = self.regions[i], self.regions[j - 1]
            pieces = []
            if first.start < start:
                pieces.append(Region(first.start, start, first.prot, first.name))
            if last.end > end:
                pieces.append(Region(end, last.end, last.prot, last.name))
            if len(pieces) - (j - i) > 0 and len(self.regions) >= MAX_MAP_COUNT:
                return False
            self._splice(i, j, pieces)
            self._freed(end)
        self._unmapped(self._drop_range(start, end))
        self._on_change()
        return True

    def protect(self, start: int, end: int, prot: int) -> bool:
        """mprotect: every page of [start, end) must be mapped (and the regions it splits must
        stay within MAX_MAP_COUNT)."""
        if not self.covered(start, end):
            return False
        i, j = self._span(start, end)
        pieces: list[Region] = []
        for r in self.regions[i:j]:
            cuts = sorted({r.start, max(r.start, start), min(r.end, end), r.end})
            for a, b in zip(cuts, cuts[1:], strict=False):
                inside = a >= start and b <= end
                pieces.append(Region(a, b, prot if inside else r.prot, r.name))
        if len(pieces) > j - i and len(self.regions) - (j - i) + len(pieces) > MAX_MAP_COUNT:
            return False
        self._splice(i, j, pieces)
        words, bits = self._words, _prot_bits(prot)
        cow_bits = bits & ~PTE_W  # (a copy-on-write page gets W at its first store)
        for va in [va for va in self.remote if start <= va < end]:
            self.remote[va] = (self.remote[va] & ~(PTE_R | PTE_W | PTE_X)) | bits
        shared = self.shm.pages
        for i, table, entries in self._mapped(start, end):
            for e in entries:
                old = words[table + e]
                new_bits = cow_bits if old & PTE_COW else bits
                key = shared.get((i << 22) | (e << 12)) if shared else None
                if key is not None and (not self._writable_held(key)
                                        or private_file(self.find((i << 22) | (e << 12)))):
                    new_bits &= ~PTE_W  # a read copy, or a private mapping's: W at a store's fault
                words[table + e] = (old & ~(PTE_R | PTE_W | PTE_X)) | new_bits
                if bits & PTE_X:
                    self._code.add((words[table + e] >> 10) - _PHYS_PPN)
        self._on_change()
        return True

    def _writable_held(self, key: tuple[int, int]) -> bool:
        held = self.shm.frame(key) if self.shm.frame is not None else None
        return held is not None and held[1]

    def private_copy(self, va: int, frame_of: Callable[[], int | None]) -> tuple[int, int] | None:
        """A store to a page of a private file mapping: the page becomes this address space's
        own, a copy of the cluster's frame of it (`frame_of()`, asked once a frame is found:
        finding one may send shared pages home; None then, and nothing changes); returns the
        shared page it was (may raise OutOfFrames, nothing changed then)."""
        page = va & ~(PAGE - 1)
        r = self.find(page)
        assert r is not None
        w = self._pte(page, create=True)
        new = self.frames.alloc()
        frame = frame_of()
        if frame is None:
            self.frames.release(new)
            return None
        self.mem[new * PAGE:(new + 1) * PAGE] = self.mem[frame * PAGE:(frame + 1) * PAGE]
        key = self.shm.pages.pop(page)
        self.data_frames += 1
        self.faults += 1
        if self.touched is not None:
            self.touched.add(page)
        self._set(w, page, new, PTE_U | PTE_A | PTE_D | _prot_bits(r.prot))
        self._on_change()
        return key

    def discard(self, start: int, end: int) -> bool:
        """madvise(DONTNEED): free the frames of [start, end), all of it mapped; a later touch
        finds a zeroed page, except in shared memory, whose pages stay the object's (Linux:
        refaulted from it, their bytes kept)."""
        if not self.covered(start, end):
            return False
        self._unmapped(self._drop_range(start, end, keep_shared=True))
        self._on_change()
        return True

    # page tables ------------------------------------------------------------
    def _pte(self, va: int, create: bool) -> int | None:
        """Word index of the PTE of `va`; None if its table does not exist and not `create`."""
        i = va >> 22
        e = self._words[self.root * PTES + i]
        if not e & PTE_V:
            if not create:
                return None
            t = self._new_frame()
            self.table_frames += 1
            e = ((_PHYS_PPN + t) << 10) | PTE_V
            self._words[self.root * PTES + i] = e
            self._used[i] = set()
        return ((e >> 10) - _PHYS_PPN) * PTES + ((va >> 12) & 0x3FF)

    def _set(self, w: int, va: int, frame: int, flags: int) -> int:
        """Map `va` (PTE at word `w`) to `frame`; returns the PTE."""
        pte = ((_PHYS_PPN + frame) << 10) | (flags & 0x3FF) | PTE_V
        self._words[w] = pte
        if flags & PTE_X:
            self._code.add(frame)
        self._used[va >> 22].add((va >> 12) & 0x3FF)
        # (A page populated by a fault at an address inside it has always ranked as born 0,
        # before the others, by address: kept, so that evictions stay as they were.)
        self.swap.born[va & ~(PAGE - 1)] = next(_born) if not va & (PAGE - 1) else 0
        return pte

    def _mapped(self, start: int, end: int) -> Iterator[tuple[int, int, list[int]]]:
        """For each table under [start, end) that exists: its first-level index, the word index
        of its entry 0, and its valid entries within the range, in address order."""
        first, last = start >> 22, (end - 1) >> 22
        for i in sorted(i for i in self._used if first <= i <= last):
            lo = (start >> 12) & 0x3FF if i == first else 0
            hi = ((end - 1) >> 12 & 0x3FF) + 1 if i == last else PTES
            table = ((self._words[self.root * PTES + i] >> 10) - _PHYS_PPN) * PTES
            yield i, table, sorted(j for j in self._used[i] if lo <= j < hi)

    def _drop_range(self, start: int, end: int, keep_shared: bool = False) -> list[tuple[int, int]]:
        """Free the frames mapped in [start, end), and every table this leaves empty. Returns
        the pages of the range remote memory keeps a copy of, with the copy's version.
        Shared memory's pages are only unmapped (and, unless `keep_shared`, no longer the
        object's here)."""
        words = self._words
        code_freed = False
        copies = []
        if self.remote:
            for va in [va for va in self.remote if start <= va < end]:
                del self.remote[va]
                self.overlay.pop(va, None)
                ver = self.swap.pages.pop(va, None)
                if ver is not None:
                    copies.append((va, ver))
        if self.swap.held:
            for va in [va for va in self.swap.held if start <= va < end]:
                copies.append((va, self.swap.held.pop(va)))
        unshare = {va for va in self.shm.pages if start <= va < end} if self.shm.pages else set()
        for i, table, entries in self._mapped(start, end):
            if self.touched is not None:
                self.touched.update((i << 22) | (j << 12) for j in entries)
            for j in entries:
                pte = words[table + j]
                self.swap.born.pop((i << 22) | (j << 12), None)
                frame = (pte >> 10) - _PHYS_PPN
                if (i << 22) | (j << 12) in unshare:
                    words[table + j] = 0  # the cluster's frame, not ours: only unmapped
                    continue
                freed = self.frames.drop(frame)  # (a frame shared copy-on-write stays its other's)
                if pte & PTE_X or frame in self._code:
                    self._code.discard(frame)
                    if freed:
                        self.exec_frames_freed = True
                        code_freed = True
                self.data_frames -= 1
                words[table + j] = 0
            used = self._used[i]
            used.difference_update(entries)
            if not used:  # all zeros again: give the table back, unhook it from the root
                words[self.root * PTES + i] = 0
                self.frames.release(table // PTES)
                self.table_frames -= 1
                del self._used[i]
        if code_freed and self._on_code is not None:
            self._on_code()  # the frame may hold someone else's code next
        if unshare and not keep_shared:
            keys = [self.shm.pages.pop(va) for va in sorted(unshare)]
            if self.shm.on_drop is not None:
                self.shm.on_drop(keys)
        return copies

    def _unmapped(self, copies: list[tuple[int, int]]) -> None:
        # The guest gave these pages up (munmap, DONTNEED, brk): remote memory may free its
        # copies (kernel/rmem.py); not on destroy, whose pages may live on elsewhere (a move).
        if copies and self.swap.on_drop is not None:
            self.swap.on_drop(copies)

    def _populate(self, va: int, r: Region) -> tuple[int, int]:
        """Give the page of `va` in region `r` a zeroed frame (demand paging): (PTE word, PTE)."""
        w = self._pte(va, create=True)
        f = self._new_frame()
        self.data_frames += 1
        self.faults += 1
        if self.touched is not None:
            self.touched.add(va & ~(PAGE - 1))
        return w, self._set(w, va, f, PTE_U | _prot_bits(r.prot))

    def translate(self, va: int, kind: str) -> tuple[int, int]:
        """Physical offset of `va` for an access of `kind`; returns (offset, pte). Raises Fault."""
        if va >= USER_TOP:
            raise Fault(kind, va)
        words = self._words
        e = words[self.root * PTES + (va >> 22)]
        if e & PTE_V:
            w = ((e >> 10) - _PHYS_PPN) * PTES + ((va >> 12) & 0x3FF)
            pte = words[w]
            ok = _SETTLED[kind]
            if pte & ok == ok:  # (present, allowed, A and D already as the access leaves them)
                return (((pte >> 10) - _PHYS_PPN) * PAGE + (va & (PAGE - 1)), pte)
        w = self._pte(va, create=False)
        pte = self._words[w] if w is not None else 0
        if not pte & PTE_V:
            if self.remote and va & ~(PAGE - 1) in self.remote:
                raise Missing(kind, va)
            key = self.shm.pages.get(va & ~(PAGE - 1)) if self.shm.pages else None
            r = self.find(va)
            if r is None:
                raise Fault(kind, va)
            if key is not None:  # shared memory: the cluster's frame if it holds the page
                if not _prot_bits(r.prot) & _NEED[kind]:  # (the rights first, as Linux: SIGSEGV,
                    raise Fault(kind, va, "page fault (protection)")  # not a fetch, nor SIGBUS)
                held = self.shm.frame(key) if self.shm.frame is not None else None
                if held is not None:  # (its table: finding a frame may send shared pages home)
                    w = self._pte(va, create=True)
                    held = self.shm.frame(key)  # type: ignore[misc]
                if held is None:
                    raise Missing(kind, va)
                frame, writable = held
                # (a read copy, or a private mapping's page: no W; a store makes it its own)
                bits = _prot_bits(r.prot) & (~0 if writable and not private_file(r) else ~PTE_W)
                pte = self._set(w, va, frame, PTE_U | bits)
                self.swap.born.pop(va & ~(PAGE - 1), None)  # never a candidate for eviction: not ours
            else:
                w, pte = self._populate(va, r)  # may raise OutOfFrames
        need = _NEED[kind]
        if need == PTE_W and not pte & PTE_W and self.shm.pages and va & ~(PAGE - 1) in self.shm.pages:
            r = self.find(va)
            if private_file(r) and r.prot & PROT_WRITE:  # type: ignore[union-attr]
                raise Missing(kind, va)  # the kernel makes it the process's own (shm.privatize)
            if r is not None and r.prot & PROT_WRITE:  # a store to a read copy of a shared page
                held = self.shm.frame(self.shm.pages[va & ~(PAGE - 1)]) if self.shm.frame else None
                if held is None or not held[1]:
                    raise Missing(kind, va)  # the cluster must own it to write: it asks
                pte |= PTE_W  # owned for writing since this read copy was mapped
                self._words[w] = pte
        if need == PTE_W and pte & PTE_COW and not pte & PTE_W:
            r = self.find(va)
            if r is not None and r.prot & PROT_WRITE:
                got = self._unshare(w, va, pte)
                if got is None:  # its entry changed while a frame was found: once more
                    return self.translate(va, kind)
                pte = got
        if not pte & need:
            raise Fault(kind, va, "page fault (protection)")
        new = pte | PTE_A | (PTE_D if kind == "store" else 0)
        if new != pte:
            self._words[w] = new
        return (((new >> 10) - _PHYS_PPN) * PAGE + (va & (PAGE - 1)), new)

    def _unshare(self, w: int, va: int, pte: int) -> int | None:
        """A store to a copy-on-write page: the frame is copied into a new one, or taken as it
        is if no one else maps it any more; the page is writable from here. Returns its PTE, or
        None if the entry changed meanwhile (the caller looks again)."""
        frame = (pte >> 10) - _PHYS_PPN
        if frame not in self.frames.shares:
            self.faults += 1
            self._words[w] = pte = (pte & ~PTE_COW) | PTE_W
            return pte
        new = self.frames.alloc()  # may raise OutOfFrames; may evict pages, this one too
        if self._words[w] != pte:  # (evicted, or its A bit cleared by the replacement's scan)
            self.frames.release(new)
            return None
        self.mem[new * PAGE:(new + 1) * PAGE] = self.mem[frame * PAGE:(frame + 1) * PAGE]
        self.frames.drop(frame)
        self._code.discard(frame)
        self.faults += 1
        self.cow_copies += 1
        if self.touched is not None:
            self.touched.add(va & ~(PAGE - 1))
        return self._set(w, va & ~(PAGE - 1), new, (pte & 0x3FF & ~PTE_COW) | PTE_W)

    def share_into(self, child: AddressSpace) -> None:
        """fork on one cluster: `child` (its regions in place, no page) maps every page of
        this address space to the same frame, copy-on-write in both (W withheld until the
        first store: see _unshare). Only page tables are made; shared memory's pages are the
        cluster's (the child maps them on first touch, as `shm.pages` says), and pages in
        remote memory stay there (the caller lists them in the child). Raises OutOfFrames
        (the child's tables)."""
        for i in sorted(self._used):  # the child's tables first: finding frames may evict pages
            child._pte(i << 22, create=True)
        if self.incoming:  # (a post-copy's pages: the caller waits for them first)
            raise OutOfFrames
        words, shared = self._words, self.shm.pages
        for i, table, entries in self._mapped(0, USER_TOP):
            for j in entries:
                va = (i << 22) | (j << 12)
                if shared and va in shared:
                    continue
                pte = (words[table + j] & ~PTE_W) | PTE_COW
                frame = (pte >> 10) - _PHYS_PPN
                w = child._pte(va, create=True)
                words[table + j] = pte
                self.frames.share(frame)
                child.data_frames += 1
                child._set(w, va, frame, pte & 0x3FF)
                if frame in self._code:
                    child._code.add(frame)
        self._on_change()  # the TLB still has this space's pages writable

    def own_frame(self, va: int) -> None:
        """The page of `va`, if its frame is shared copy-on-write with another address space,
        gets a copy of its own (may raise OutOfFrames, and evict pages to find a frame)."""
        page = va & ~(PAGE - 1)
        w = self._pte(page, create=False)
        pte = self._words[w] if w is not None else 0
        frame = (pte >> 10) - _PHYS_PPN
        if not pte & PTE_V or frame not in self.frames.shares:
            return
        new = self.frames.alloc()
        if self._words[w] != pte:  # (evicted meanwhile: its copy is remote memory's, not shared)
            self.frames.release(new)
            return
        self.mem[new * PAGE:(new + 1) * PAGE] = self.mem[frame * PAGE:(frame + 1) * PAGE]
        self.frames.drop(frame)
        self._words[w] = ((_PHYS_PPN + new) << 10) | (pte & 0x3FF)

    def make_shared(self, va: int, key: tuple[int, int]) -> tuple[int | None, int | None]:
        """A private page becomes page `key` of a shared memory object (a fork of anonymous
        shared memory, kernel/forkmem.py): its frame, if it has one, is the cluster's from
        here (returned; no longer counted as this address space's, never evicted), mapped
        as it was. Also returns the version remote memory keeps a copy of (now not needed).
        The page must not be remote (the caller fetches it first), nor its frame shared
        copy-on-write (own_frame first): nothing here allocates."""
        page = va & ~(PAGE - 1)
        held = self.swap.held.pop(page, None)
        self.shm.pages[page] = key
        w = self._pte(page, create=False)
        pte = self._words[w] if w is not None else 0
        if not pte & PTE_V:
            return None, held
        frame = (pte >> 10) - _PHYS_PPN
        assert frame not in self.frames.shares, "own_frame first"
        r = self.find(page)
        bits = _prot_bits(r.prot) if r is not None else pte & (PTE_R | PTE_W | PTE_X)
        keep = pte & 0x3FF & ~(PTE_COW | PTE_R | PTE_W | PTE_X)
        self._words[w] = ((_PHYS_PPN + frame) << 10) | keep | bits
        self.swap.born.pop(page, None)
        self.data_frames -= 1
        return frame, held

    def _flags(self, va: int, pte: int) -> int:
        """A page's PTE flags as an image or a move carries them: a copy-on-write page is a
        private page (W as its region's rights say)."""
        flags = pte & 0x3FF
        if not flags & PTE_COW:
            return flags
        r = self.find(va)
        return (flags & ~PTE_COW) | (PTE_W if r is not None and r.prot & PROT_WRITE else 0)

    def remote_fault(self, va: int, access: int) -> Missing | None:
        """The Missing that `fill` would raise for `va` if its page is elsewhere (an entry
        not valid, the page remote), made without raising; None otherwise."""
        if va >= USER_TOP or va & ~(PAGE - 1) not in self.remote:
            return None
        w = self._pte(va, create=False)
        if w is not None and self._words[w] & PTE_V:
            return None
        return Missing(_KIND.get(access, "load"), va)

    def fill(self, va: int, access: int) -> tuple[int, int]:
        """The hardware page walk for a TLB miss: (physical address, Unicorn perms)."""
        kind = "store" if access == UC_MEM_WRITE else "fetch" if access == UC_MEM_FETCH else "load"
        off, pte = self.translate(va, kind)
        perms = (UC_PROT_READ if pte & PTE_R else 0) | (UC_PROT_EXEC if pte & PTE_X else 0)
        # Writable only once dirty: the first store comes back here and sets D.
        if pte & PTE_W and pte & PTE_D:
            perms |= UC_PROT_WRITE
        return (PHYS_BASE + (off & ~(PAGE - 1)), perms)

    def pages(self) -> list[tuple[int, int, bytes]]:
        """Every page in use: (virtual address, PTE flags, contents), in address order."""
        out = []
        for i, table, entries in self._mapped(0, USER_TOP):
            for j in entries:
                if self.shm.pages and (i << 22) | (j << 12) in self.shm.pages:
                    continue  # the cluster's, not the process's (kernel/shm.py)
                pte = self._words[table + j]
                off = ((pte >> 10) - _PHYS_PPN) * PAGE
                va = (i << 22) | (j << 12)
                out.append((va, self._flags(va, pte), bytes(self.mem[off:off + PAGE])))
        return out

    def install(self, va: int, flags: int, data: bytes) -> None:
        """Put a page with its contents and PTE flags in place (restore, migration)."""
        w = self._pte(va, create=True)
        f = self.frames.alloc()
        self.mem[f * PAGE:(f + 1) * PAGE] = data
        self.data_frames += 1
        self._set(w, va, f, flags)

    # kernel access to user memory ----------------------------------------------
    def read(self, va: int, n: int) -> bytes:
        if 0 < n <= PAGE - (va & (PAGE - 1)):  # (within one page: a system call's usual argument)
            off, _ = self.translate(va, "load")
            return bytes(self.mem[off:off + n])
        out = bytearray()
        while n > 0:
            off, _ = self.translate(va, "load")
            k = min(n, PAGE - (va & (PAGE - 1)))
            out += self.mem[off:off + k]
            va, n = va + k, n - k
        return bytes(out)

    def write(self, va: int, data: bytes | bytearray | memoryview, force: bool = False) -> None:
        """Copy into user memory; `force` lets the loader fill read-only pages."""
        n = len(data)
        if not force and not self.remote and 0 < n <= PAGE - (va & (PAGE - 1)):  # (the usual case)
            off, _ = self.translate(va, "store")
            if off // PAGE in self._code and self._on_code is not None:
                self._on_code()
            self.mem[off:off + n] = data
            return
        data = memoryview(data)
        while len(data):
            if force:
                r = self.find(va)
                if r is None:
                    raise Fault("store", va)
                saved = r.prot
                r.prot |= PROT_WRITE
                try:
                    off, _ = self.translate(va, "store")
                finally:
                    r.prot = saved
                w = self._pte(va, create=False)
                self._words[w] = (self._words[w] & ~PTE_W) | (_prot_bits(saved) & PTE_W)
            elif self.remote and va & ~(PAGE - 1) in self.remote and self.find(va) is not None:
                # The kernel's store into a page still on its way (post-copy): kept, and
                # applied over the page when it arrives; nothing is lost and nobody waits.
                k = min(len(data), PAGE - (va & (PAGE - 1)))
                self.overlay.setdefault(va & ~(PAGE - 1), []).append((va & (PAGE - 1), bytes(data[:k])))
                va, data = va + k, data[k:]
                continue
            else:
                off, _ = self.translate(va, "store")
                if off // PAGE in self._code and self._on_code is not None:
                    self._on_code()  # code the CPU may have translated changes under it
            k = min(len(data), PAGE - (va & (PAGE - 1)))
            self.mem[off:off + k] = data[:k]
            va, data = va + k, data[k:]

    def read_cstr(self, va: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            off, _ = self.translate(va, "load")
            k = PAGE - (va & (PAGE - 1))
            chunk = bytes(self.mem[off:off + k])
            z = chunk.find(b"\0")
            if z >= 0:
                return bytes(out + chunk[:z])
            out += chunk
            va += k
        raise Fault("load", va, "string too long")

    # dirty tracking and remote pages (live migration) ------------------------------------
    def start_tracking(self) -> list[int]:
        """Every page in use now; from here on, take_dirty() tells which changed. Clean pages
        are mapped read-only until their first store (see fill), so the caller flushes the TLB."""
        self.touched = set()
        words, out = self._words, []
        for i, table, entries in self._mapped(0, USER_TOP):
            for j in entries:
                if words[table + j] & PTE_D:
                    words[table + j] &= ~PTE_D
                    self._stale_held((i << 22) | (j << 12))
                out.append((i << 22) | (j << 12))
        return out

    def _stale_held(self, va: int) -> None:
        # A dirty bit is about to be cleared (dirty tracking): the page differs from the copy
        # remote memory holds, and without D an eviction would not write it back.
        if self.swap.held:
            self.swap.held.pop(va, None)

    def take_dirty(self) -> set[int]:
        """Pages stored into, populated or freed since the last call (or start_tracking); their
        dirty bits are cleared again (the caller flushes the TLB)."""
        assert self.touched is not None
        out, self.touched = self.touched, set()
        words = self._words
        for i, table, entries in self._mapped(0, USER_TOP):
            for j in entries:
                if words[table + j] & PTE_D:
                    words[table + j] &= ~PTE_D
                    self._stale_held((i << 22) | (j << 12))
                    out.add((i << 22) | (j << 12))
        return out

    def stop_tracking(self) -> None:
        self.touched = None

    def page_list(self) -> list[tuple[int, int]]:
        """(virtual address, PTE flags) of every page in use, in address order."""
        shared = self.shm.pages
        return [((i << 22) | (j << 12), self._flags((i << 22) | (j << 12), self._words[table + j]))
                for i, table, entries in self._mapped(0, USER_TOP) for j in entries
                if not shared or (i << 22) | (j << 12) not in shared]

    def page_bytes(self, va: int) -> bytes:
        """The contents of a page in use (the kernel's own read: no fault, no A bit)."""
        w = self._pte(va, create=False)
        pte = self._words[w] if w is not None else 0
        assert pte & PTE_V, f"page {va:#x} is not in use"
        off = ((pte >> 10) - _PHYS_PPN) * PAGE
        return bytes(self.mem[off:off + PAGE])

    @property
    def incoming(self) -> int:
        """Pages that follow a post-copy migration (remote, not held by remote memory)."""
        return len(self.remote) - len(self.swap.pages)

    def evict(self, va: int) -> tuple[int, bytes | None]:
        """Give the page of `va` to remote memory: its frame is freed, its contents are
        elsewhere from now on. Returns the version remote memory is to hand back, and the
        page's bytes if they must be written back under that new version (dirty, or remote
        memory holds no current copy of it), else None (the version it holds already)."""
        w = self._pte(va, create=False)
        assert w is not None
        pte = self._words[w]
        frame = (pte >> 10) - _PHYS_PPN
        data = None
        ver = self.swap.held.get(va)
        if pte & PTE_D or ver is None:
            data = bytes(self.mem[frame * PAGE:(frame + 1) * PAGE])
            self.swap.seq += 1
            ver = self.swap.seq
        self._words[w] = 0
        self._used[va >> 22].discard((va >> 12) & 0x3FF)  # (its table stays: cheap to keep)
        self.swap.born.pop(va, None)
        self.frames.drop(frame)  # (a frame shared copy-on-write stays its other's)
        self.data_frames -= 1
        self.swap.held[va] = ver
        self.remote[va] = self._flags(va, pte) & ~(PTE_A | PTE_D)
        self.swap.pages[va] = ver
        if self.touched is not None:
            self.touched.add(va)
        return ver, data

    def flags_of(self, va: int) -> int:
        """The PTE flags of the page of `va` (0 if it has no entry)."""
        w = self._pte(va, create=False)
        return self._words[w] & 0x3FF if w is not None else 0

    def victims(self, order: list[int], n: int, clock: bool) -> tuple[list[int], list[int]]:
        """Page replacement's scan (kernel/rmem.py) over resident pages in `order`: up to `n`
        that may go, code pages never; with `clock`, a page accessed since it was last
        looked at loses its A bit and goes to `second` instead (the caller flushes the TLB)."""
        words, root = self._words, self.root * PTES
        out: list[int] = []
        second: list[int] = []
        for va in order:
            if len(out) >= n:
                break
            e = words[root + (va >> 22)]
            if not e & PTE_V:
                out.append(va)  # (no entry: flags 0, as flags_of says)
                continue
            w = ((e >> 10) - _PHYS_PPN) * PTES + ((va >> 12) & 0x3FF)
            flags = words[w]
            if flags & PTE_X:
                continue
            if flags & PTE_A and clock:
                words[w] = flags & ~PTE_A
                second.append(va)
            else:
                out.append(va)
        return out, second

    def clear_accessed(self, va: int) -> None:
        """Clear the page's A bit (page replacement's second chance; the caller flushes the TLB)."""
        w = self._pte(va, create=False)
        if w is not None:
            self._words[w] &= ~PTE_A

    def arrive(self, va: int, data: bytes) -> bool:
        """A remote page has come: put it in place with the kernel's stores made meanwhile.
        False if the process no longer wants it (unmapped meanwhile, or here already)."""
        flags = self.remote.get(va)
        if flags is None:
            return False
        over = self.overlay.get(va)
        if over:
            page = bytearray(data)
            for off, b in over:
                page[off:off + len(b)] = b
            flags |= PTE_D  # no longer what remote memory holds
            data = bytes(page)
        self.install(va, flags, data)  # (OutOfFrames leaves it remote)
        del self.remote[va]
        ver = self.swap.pages.pop(va, None)
        if ver is not None and not flags & PTE_D:
            self.swap.held[va] = ver  # (a process that moved learns it here)
        self.overlay.pop(va, None)
        return True

    def destroy(self) -> None:
        """Free every frame: data pages, then second-level tables (as they empty), the root."""
        self._drop_range(0, USER_TOP)
        self.remote.clear()
        self.overlay.clear()
        self.swap.pages.clear()
        self.swap.held.clear()
        self.regions, self._starts = [], []
        self._gap = _GapCache()
        self._code.clear()  # (an ended process's record keeps its address space: keep it small)
        self._used.clear()
        self.swap.born.clear()
        self.frames.release(self.root)
        self.table_frames -= 1


_KIND = {UC_MEM_WRITE: "store", UC_MEM_FETCH: "fetch"}  # (fill: what an access is)
_NEED = {"load": PTE_R, "store": PTE_W, "fetch": PTE_X}  # (translate: the PTE bit an access needs)
# (translate's fast case: the bits a PTE has when the access changes nothing in it)
_SETTLED = {"load": PTE_V | PTE_R | PTE_A, "store": PTE_V | PTE_W | PTE_A | PTE_D,
            "fetch": PTE_V | PTE_X | PTE_A}


def _prot_bits(prot: int) -> int:
    # RISC-V reserves W without R; as on Linux, PROT_WRITE implies read.
    return ((PTE_R if prot & (PROT_READ | PROT_WRITE) else 0) | (PTE_W if prot & PROT_WRITE else 0)
            | (PTE_X if prot & PROT_EXEC else 0))

"""Memory: brk, mmap2, munmap, mprotect, madvise, mremap; RLIMIT_AS and RLIMIT_DATA enforced as Linux's
may_expand_vm does: the address space's size, and its private writable part (heap, data,
private writable mappings, not the stack nor shared mappings), may not grow past the soft limits
(ENOMEM; brk stays where it was). mmap maps anonymous memory, /dev/zero, shared memory
objects and regular files (`_map_file`: the file's object at the shared-memory home)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EACCES, EBADF, EEXIST, EFAULT, EINVAL, ENODEV, ENOMEM, EOVERFLOW
from shoal.kernel import files, shm
from shoal.kernel.calls.common import refused, s32
from shoal.kernel.container import Container, FileKind, OpenFile, Thread
from shoal.kernel.memory import (
    FILE_MAP,
    MAX_MAP_COUNT,
    PAGE,
    RO_FILE,
    USER_TOP,
    AddressSpace,
    Region,
    private_file,
)
from shoal.messages import ShmOpen

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


RLIMIT_DATA, RLIMIT_AS = 2, 9
NO_LIMIT = (1 << 64) - 1
NOT_DATA = ("[stack]", "[anon:shared]")


def _shared(r: Region) -> bool:  # (shm_open, System V, anonymous and file shared mappings)
    return (r.name.startswith(("[shm", "[sysv")) or r.name in NOT_DATA
            or r.name.startswith(FILE_MAP) and not private_file(r))


def _is_data(r: Region) -> bool:
    return bool(r.prot & 2) and not _shared(r)


def _data_limit(p: Container) -> int:
    """RLIMIT_DATA for mappings: a soft limit of 0 means the hard one (Linux's workaround for
    Valgrind, which sets 0); brk keeps the soft one (check_data_rlimit)."""
    soft, hard = p.rlimits.get(RLIMIT_DATA, [NO_LIMIT, NO_LIMIT])
    return hard if soft == 0 else soft


def may_expand(p: Container, start: int, end: int, data: bool) -> bool:
    """Room under RLIMIT_AS for [start, end) (what is mapped there already aside) and, for a
    private writable range, under RLIMIT_DATA (Linux's may_expand_vm)."""
    lim_as = p.rlimits.get(RLIMIT_AS, [NO_LIMIT])[0]
    lim_data = _data_limit(p) if data else NO_LIMIT
    if lim_as == NO_LIMIT and lim_data == NO_LIMIT:
        return True  # (the usual case: nothing to count)
    regions = p.aspace.regions
    over = [r for r in regions if r.start < end and start < r.end]
    new = (end - start) - sum(min(end, r.end) - max(start, r.start) for r in over)
    if sum(r.end - r.start for r in regions) + new > lim_as:
        return False
    new_data = (end - start) - sum(min(end, r.end) - max(start, r.start) for r in over if _is_data(r))
    return sum(r.end - r.start for r in regions if _is_data(r)) + new_data <= lim_data


def sys_brk(k: Kernel, t: Thread, a: list[int]) -> int:
    p, want = t.proc, a[0]
    if want == 0 or want < p.brk_start:
        return p.brk
    old_end = (p.brk + PAGE - 1) & ~(PAGE - 1)
    new_end = (want + PAGE - 1) & ~(PAGE - 1)
    if new_end > old_end:
        if (new_end - p.brk_start > 256 << 20 or not p.aspace.is_free(old_end, new_end)
                or p.aspace.map_count >= MAX_MAP_COUNT or not may_expand(p, old_end, new_end, False)
                or new_end - p.brk_start > p.rlimits.get(RLIMIT_DATA, [NO_LIMIT])[0]):
            return p.brk
        p.aspace.add_region(Region(old_end, new_end, 3, "[heap]"))
    elif new_end < old_end and not p.aspace.remove_range(new_end, old_end):
        return p.brk
    p.brk = want
    return want


MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANON, MAP_FIXED_NOREPLACE = 1, 2, 0x10, 0x20, 0x100000
MMAP_TOP = USER_TOP - (64 << 20)  # below the 8 MiB stack and a guard gap


def sys_mmap2(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length, prot, flags, fd = a[0], a[1], a[2], a[3], s32(a[4])
    if length == 0 or length > USER_TOP or prot & ~7:
        return -EINVAL
    shared = None
    f = None if flags & MAP_ANON else t.proc.fs.files.get(fd)
    if f is not None and f.kind is FileKind.DEV and f.path == "/dev/zero":
        # Linux: a mapping of /dev/zero is anonymous memory (a process's own, shared or not)
        if f.flags & 3 == 1:  # O_WRONLY
            return -EACCES
    elif f is not None and f.kind is FileKind.FILE:
        return _map_file(k, t, a, f)
    elif not flags & MAP_ANON:
        if f is None or f.kind is not FileKind.SHM:
            return -EBADF if fd not in t.proc.fs.open_fds else -ENODEV
        if not flags & 3:  # neither MAP_SHARED nor MAP_PRIVATE (3: MAP_SHARED_VALIDATE, shared)
            return -EINVAL
        private = flags & 3 == MAP_PRIVATE
        if prot & 2 and not private and f.flags & 3 != 2:  # a writable shared mapping needs O_RDWR
            return -EACCES
        if a[5] + ((length + PAGE - 1) >> 12) >= 1 << 32:  # (the last page number wraps in 32 bits)
            return -EOVERFLOW
        # The object, its first page (mmap2's offset is in pages), and whether a store makes
        # the page the process's own (MAP_PRIVATE: copy-on-write, as a private file mapping).
        shared = (f.handle, a[5], private)
    if shared is None and flags & MAP_SHARED and flags & MAP_PRIVATE:
        return -EINVAL
    length = (length + PAGE - 1) & ~(PAGE - 1)
    # (RLIMIT_DATA counts a writable private mapping)
    data = bool(prot & 2) and (shared[2] if shared is not None else not flags & MAP_SHARED)
    start = _place(t, addr, length, flags, data)
    if start < 0:
        return start
    asp = t.proc.aspace
    if shared is None:  # (a MAP_SHARED one is named apart: RLIMIT_DATA does not count it)
        name = "[anon:shared]" if flags & MAP_SHARED else "[anon]"
        asp.add_region(Region(start, start + length, prot, name))
        return start
    obj, first, private = shared
    _map_object(asp, start, length, prot, f"[file:{obj}:private]" if private else f"[shm:{obj}]",
                obj, first)
    return start


def _place(t: Thread, addr: int, length: int, flags: int, data: bool) -> int:
    """Where a new mapping of `length` bytes goes (MAP_FIXED: what was there is unmapped), or
    -errno; `data`: RLIMIT_DATA counts it."""
    asp = t.proc.aspace
    if asp.map_count >= MAX_MAP_COUNT:
        return -ENOMEM  # as Linux does at vm.max_map_count
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr & (PAGE - 1) or addr + length > USER_TOP or addr < PAGE:
            return -EINVAL
        if not may_expand(t.proc, addr, addr + length, data):
            return -ENOMEM
        if not asp.is_free(addr, addr + length):
            if flags & MAP_FIXED_NOREPLACE:
                return -EEXIST
            if not asp.remove_range(addr, addr + length):
                return -ENOMEM
        return addr
    hint = addr & ~(PAGE - 1)
    if hint and hint + length <= MMAP_TOP and asp.is_free(hint, hint + length):
        start = hint
    else:
        gap = asp.find_gap(length, MMAP_TOP)
        if gap is None:
            return -ENOMEM
        start = gap
    if not may_expand(t.proc, start, start + length, data):
        return -ENOMEM
    return start


def _map_object(asp: AddressSpace, start: int, length: int, prot: int, name: str, obj: int,
                first: int) -> None:
    asp.add_region(Region(start, start + length, prot, name))
    for i in range(length // PAGE):  # its pages are the object's (kernel/shm.py)
        asp.shm.pages[start + i * PAGE] = (obj, first + i)


def _map_file(k: Kernel, t: Thread, a: list[int], f: OpenFile) -> int:
    """mmap of a regular file (of the file server: the --fs tree, /tmp, --file files, memfd):
    its pages are the file's object's at the shared-memory home (daemons/shm.py), fetched on
    first touch; MAP_PRIVATE ones become the process's own at a store (kernel/shm.py). Linux's
    checks: the file open for reading (EACCES), and for writing too for a writable shared
    mapping (EACCES); the offset is in pages (mmap2), and the last page
    must fit in 32 bits of page numbers (EOVERFLOW)."""
    addr, prot, flags, pgoff = a[0], a[2], a[3], a[5]
    length = (a[1] + PAGE - 1) & ~(PAGE - 1)
    shared = bool(flags & MAP_SHARED)
    if not flags & 3:  # neither MAP_SHARED nor MAP_PRIVATE (3: MAP_SHARED_VALIDATE, shared)
        return -EINVAL
    if f.flags & 3 == 1:  # O_WRONLY: no mapping may read it
        return -EACCES
    if shared and prot & 2 and f.flags & 3 != 2:
        return -EACCES
    if pgoff + length // PAGE >= 1 << 32:  # (the last page number wraps in 32 bits)
        return -EOVERFLOW
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) and (addr & (PAGE - 1) or addr + length > USER_TOP
                                                      or addr < PAGE):
        return -EINVAL
    data = bool(prot & 2) and not shared
    p = t.proc

    def got(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        obj = reply.body.obj
        start = _place(t, addr, length, flags, data) if p.alive else -ENOMEM
        if start < 0:
            if p.alive:
                shm.release_if_unused(k, p, obj, at)
            return start
        name = (f"[file:{obj}:private]" if not shared else
                f"[file:{obj}]" if f.flags & 3 == 2 else f"[file:{obj}:ro]")
        _map_object(p.aspace, start, length, prot, name, obj, pgoff)
        return start
    return files.ask(k, t, ShmOpen(name="", flags=0, file=[f.handle, f.path, f.flags]), got)


def sys_munmap(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length = a[0], a[1]
    if addr & (PAGE - 1) or length == 0 or addr + length > USER_TOP:
        return -EINVAL
    if not t.proc.aspace.remove_range(addr, addr + ((length + PAGE - 1) & ~(PAGE - 1))):
        return -ENOMEM  # the split would pass MAX_MAP_COUNT, as on Linux
    return 0


def sys_mprotect(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length, prot = a[0], a[1], a[2]
    if addr & (PAGE - 1) or prot & ~7:
        return -EINVAL
    end = addr + ((length + PAGE - 1) & ~(PAGE - 1))
    if end > USER_TOP:
        return -ENOMEM
    if prot & 2 and any(r.name.startswith(FILE_MAP) and r.name.endswith(RO_FILE)
                        for r in _overlapping(t.proc.aspace, addr, end)):
        return -EACCES  # a shared mapping of a file not open for writing (Linux)
    if prot & 2 and not _writable_room(t.proc, addr, end):
        return -ENOMEM
    return 0 if t.proc.aspace.protect(addr, end, prot) else -ENOMEM


def _overlapping(asp: AddressSpace, start: int, end: int) -> list[Region]:
    i, j = asp._span(start, end)
    return asp.regions[i:j]


def _writable_room(p: Container, start: int, end: int) -> bool:
    """mprotect making private pages writable adds them to RLIMIT_DATA's count (Linux's
    mprotect_fixup)."""
    lim = _data_limit(p)
    if lim == NO_LIMIT:
        return True
    regions = p.aspace.regions
    gain = sum(min(end, r.end) - max(start, r.start) for r in regions
               if r.start < end and start < r.end and not r.prot & 2 and not _shared(r))
    return not gain or sum(r.end - r.start for r in regions if _is_data(r)) + gain <= lim


def sys_madvise(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length, advice = a[0], a[1], a[2]
    if addr & (PAGE - 1):
        return -EINVAL
    if advice in (4, 8):  # MADV_DONTNEED, MADV_FREE: give the frames back; zero on next touch
        end = addr + ((length + PAGE - 1) & ~(PAGE - 1))
        if not t.proc.aspace.discard(addr, end):
            return -ENOMEM
    return 0


MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4


def _vma_end(asp: AddressSpace, addr: int) -> tuple[Region, int] | None:
    """The mapping at `addr` and where it ends: touching regions of one name and rights are
    one mapping (Linux merges them; brk makes one region per call)."""
    r = asp.find(addr)
    if r is None:
        return None
    end = r.end
    while (n := asp.find(end)) is not None and n.name == r.name and n.prot == r.prot:
        end = n.end
    return r, end


def sys_mremap(k: Kernel, t: Thread, a: list[int]) -> int:
    """mremap of private memory (anonymous, heap, a program's own): shrink in place, grow in
    place when the pages after it are free, else move (MREMAP_MAYMOVE; MREMAP_FIXED to
    `new_addr`): the pages in use go to the new place with their contents and rights. Linux's
    checks and errno values. Refused (EINVAL, counted): MREMAP_DONTUNMAP, shared mappings and
    mappings of files, and ranges with pages elsewhere (post-copy, remote memory)."""
    addr, old_len, new_len, flags, new_addr = a[0], a[1], a[2], a[3], a[4]
    p, asp = t.proc, t.proc.aspace
    if flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) or addr & (PAGE - 1):
        return -EINVAL
    if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
        return -EINVAL
    if flags & MREMAP_DONTUNMAP:
        return refused(t, 216, EINVAL)
    old_len = (old_len + PAGE - 1) & ~(PAGE - 1)
    new_len = (new_len + PAGE - 1) & ~(PAGE - 1)
    if not new_len or addr + old_len > USER_TOP or new_len > USER_TOP:
        return -EINVAL
    if flags & MREMAP_FIXED:
        if new_addr & (PAGE - 1) or new_addr + new_len > USER_TOP or new_addr < PAGE:
            return -EINVAL
        if new_addr < addr + old_len and addr < new_addr + new_len:
            return -EINVAL  # the two ranges may not overlap
    elif old_len >= new_len:  # shrink (or stay) in place
        if old_len > new_len and not asp.remove_range(addr + new_len, addr + old_len):
            return -ENOMEM
        return addr
    found = _vma_end(asp, addr)
    if found is None or addr + old_len > found[1]:
        return -EFAULT
    r, end = found
    if not old_len and not _shared(r):  # (Linux: a zero old_len duplicates shared memory only)
        return -EINVAL
    if (_shared(r) or r.name.startswith(FILE_MAP)
            or any(addr <= va < addr + old_len for va in (*asp.remote, *asp.swap.pages))):
        return refused(t, 216, EINVAL)
    if not flags & MREMAP_FIXED:
        grow = (addr + old_len, addr + new_len)
        if addr + old_len == end and addr + new_len <= MMAP_TOP and asp.is_free(*grow):
            if not may_expand(p, *grow, _is_data(r)):
                return -ENOMEM
            asp.add_region(Region(grow[0], grow[1], r.prot, r.name))
            return addr
        if not flags & MREMAP_MAYMOVE:
            return -ENOMEM
        to = asp.find_gap(new_len, MMAP_TOP)
        if to is None:
            return -ENOMEM
    else:
        to = new_addr
    if not may_expand(p, to, to + new_len, _is_data(r)) or asp.map_count + 2 > MAX_MAP_COUNT:
        return -ENOMEM
    if flags & MREMAP_FIXED and not asp.remove_range(to, to + new_len):
        return -ENOMEM
    return _move(asp, r, addr, old_len, to, new_len)


def _move(asp: AddressSpace, r: Region, addr: int, old_len: int, to: int, new_len: int) -> int:
    """The pages in use of [addr, addr + old_len) to `to`, then the old range goes."""
    keep = min(old_len, new_len)
    pages = [(va, fl) for va, fl in asp.page_list() if addr <= va < addr + keep]
    if len(pages) > asp.frames.free:
        return -ENOMEM
    asp.add_region(Region(to, to + new_len, r.prot, r.name))
    for va, fl in pages:
        asp.install(to + (va - addr), fl, asp.page_bytes(va))
        if asp.touched is not None:  # (a pre-copy migration under way sends it again)
            asp.touched.add(to + (va - addr))
    asp.remove_range(addr, addr + old_len)
    return to

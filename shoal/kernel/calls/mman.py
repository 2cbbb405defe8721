"""Memory: brk, mmap2, munmap, mprotect, madvise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EACCES, EBADF, EEXIST, EINVAL, ENODEV, ENOMEM
from shoal.kernel.calls.common import s32
from shoal.kernel.container import FileKind, Thread
from shoal.kernel.memory import MAX_MAP_COUNT, PAGE, USER_TOP, Region

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


def sys_brk(k: Kernel, t: Thread, a: list[int]) -> int:
    p, want = t.proc, a[0]
    if want == 0 or want < p.brk_start:
        return p.brk
    old_end = (p.brk + PAGE - 1) & ~(PAGE - 1)
    new_end = (want + PAGE - 1) & ~(PAGE - 1)
    if new_end > old_end:
        if (new_end - p.brk_start > 256 << 20 or not p.aspace.is_free(old_end, new_end)
                or p.aspace.map_count >= MAX_MAP_COUNT):
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
    elif not flags & MAP_ANON:
        if f is None or f.kind is not FileKind.SHM or not flags & MAP_SHARED:
            return -EBADF if fd not in t.proc.fs.open_fds else -ENODEV
        if prot & 2 and f.flags & 3 != 2:  # a writable mapping of an object not opened O_RDWR
            return -EACCES
        shared = (f.handle, a[5])  # the object, and the first page (mmap2's offset is in pages)
    if flags & MAP_SHARED and flags & MAP_PRIVATE:
        return -EINVAL
    length = (length + PAGE - 1) & ~(PAGE - 1)
    asp = t.proc.aspace
    if asp.map_count >= MAX_MAP_COUNT:
        return -ENOMEM  # as Linux does at vm.max_map_count
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr & (PAGE - 1) or addr + length > USER_TOP or addr < PAGE:
            return -EINVAL
        if not asp.is_free(addr, addr + length):
            if flags & MAP_FIXED_NOREPLACE:
                return -EEXIST
            if not asp.remove_range(addr, addr + length):
                return -ENOMEM
        start = addr
    else:
        hint = addr & ~(PAGE - 1)
        if hint and hint + length <= MMAP_TOP and asp.is_free(hint, hint + length):
            start = hint
        else:
            gap = asp.find_gap(length, MMAP_TOP)
            if gap is None:
                return -ENOMEM
            start = gap
    if shared is None:
        asp.add_region(Region(start, start + length, prot, "[anon]"))
        return start
    obj, first = shared
    asp.add_region(Region(start, start + length, prot, f"[shm:{obj}]"))
    for i in range(length // PAGE):  # its pages are the object's (kernel/shm.py)
        asp.shm.pages[start + i * PAGE] = (obj, first + i)
    return start


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
    return 0 if t.proc.aspace.protect(addr, end, prot) else -ENOMEM


def sys_madvise(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length, advice = a[0], a[1], a[2]
    if addr & (PAGE - 1):
        return -EINVAL
    if advice in (4, 8):  # MADV_DONTNEED, MADV_FREE: give the frames back; zero on next touch
        end = addr + ((length + PAGE - 1) & ~(PAGE - 1))
        if not t.proc.aspace.discard(addr, end):
            return -ENOMEM
    return 0

"""Memory calls that change nothing shoal models, with Linux's checks and errors: mlock,
munlock, mlock2, mlockall, munlockall, msync, mincore, membarrier.

mlock and mlock2 (without MLOCK_ONFAULT) make the range's pages resident, as Linux populates
it (mincore then says so); nothing is pinned: a page may still go to remote memory
(kernel/rmem.py) and RLIMIT_MEMLOCK is not counted. msync has nothing to write back: a
MAP_SHARED mapping's pages are its object's (kernel/shm.py), a file's too, and the file server
makes a read of a mapped file wait for the written pages to come home (daemons/shm.py:
file_sync), so read() sees every store without it. All harts of a cluster see one memory, and a process's
threads are on one cluster, so membarrier's barriers are already there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EINVAL, ENOMEM, EPERM
from shoal.kernel.memory import PAGE, PTE_V, USER_TOP, Missing, OutOfFrames

if TYPE_CHECKING:
    from shoal.kernel.container import Thread
    from shoal.kernel.kernel import Kernel

MLOCK_ONFAULT = 1
MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4


def _range(t: Thread, start: int, length: int) -> tuple[int, int] | int:
    """Linux's do_mlock: [start, end) widened to whole pages (in 32 bits); -EINVAL if it wraps,
    -ENOMEM when a page of it is not mapped."""
    off = start & (PAGE - 1)
    start -= off
    end = start + ((length + off + PAGE - 1) & ~(PAGE - 1) & 0xFFFFFFFF)
    if end > 0xFFFFFFFF:
        return -EINVAL
    if end != start and (end > USER_TOP or not t.proc.aspace.covered(start, end)):
        return -ENOMEM
    return start, end


def _populate(t: Thread, start: int, end: int) -> int:
    asp = t.proc.aspace
    for va in range(start, end, PAGE):
        r = asp.find(va)
        if r is None or not r.prot & 3 or asp.flags_of(va) & PTE_V:
            continue  # (a PROT_NONE page is locked, not populated, as on Linux)
        try:
            asp.translate(va, "store" if r.prot & 2 else "load")
        except Missing:
            pass  # a page held elsewhere (remote memory, another cluster's shared page) stays there
        except OutOfFrames:
            return -ENOMEM
    return 0


def _lock(t: Thread, a: list[int], populate: bool) -> int:
    got = _range(t, a[0], a[1])
    if isinstance(got, int):
        return got
    return _populate(t, *got) if populate else 0


def sys_mlock(k: Kernel, t: Thread, a: list[int]) -> int:
    return _lock(t, a, True)


def sys_mlock2(k: Kernel, t: Thread, a: list[int]) -> int:
    if a[2] & ~MLOCK_ONFAULT:
        return -EINVAL
    return _lock(t, a, not a[2] & MLOCK_ONFAULT)


def sys_munlock(k: Kernel, t: Thread, a: list[int]) -> int:
    return _lock(t, a, False)


def sys_mlockall(k: Kernel, t: Thread, a: list[int]) -> int:
    """Nothing is made resident (the stack's region is its whole limit here, not its use)."""
    flags = a[0]
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        return -EINVAL
    return 0


def sys_munlockall(k: Kernel, t: Thread, a: list[int]) -> int:
    return 0


def sys_msync(k: Kernel, t: Thread, a: list[int]) -> int:
    start, length, flags = a[0], a[1], a[2]
    if flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC) or start & (PAGE - 1):
        return -EINVAL
    if flags & MS_ASYNC and flags & MS_SYNC:
        return -EINVAL
    end = start + ((length + PAGE - 1) & ~(PAGE - 1) & 0xFFFFFFFF)  # (size_t arithmetic)
    if end > 0xFFFFFFFF:
        return -ENOMEM
    if end == start:
        return 0
    return 0 if end <= USER_TOP and t.proc.aspace.covered(start, end) else -ENOMEM


def sys_mincore(k: Kernel, t: Thread, a: list[int]) -> int:
    """One byte a page: 1 if it has a frame here, 0 if never touched (or held elsewhere)."""
    start, length, vec = a[0], a[1], a[2]
    if start & (PAGE - 1):
        return -EINVAL
    end = start + length + (-length & (PAGE - 1))
    if end > USER_TOP:
        return -ENOMEM
    asp = t.proc.aspace
    if not asp.covered(start, end):
        return -ENOMEM
    out = bytes(1 if asp.flags_of(va) & PTE_V else 0 for va in range(start, end, PAGE))
    if out:
        asp.write(vec, out)
    return 0


MEMBARRIER_CMD_QUERY, MEMBARRIER_CMD_GLOBAL = 0, 1
MEMBARRIER_CMD_GLOBAL_EXPEDITED, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 2, 4
MEMBARRIER_CMD_PRIVATE_EXPEDITED, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 8, 16
SUPPORTED = 31  # the five above (no SYNC_CORE, no RSEQ)


def sys_membarrier(k: Kernel, t: Thread, a: list[int]) -> int:
    cmd, flags = a[0], a[1]
    if flags:
        return -EINVAL  # (MEMBARRIER_CMD_FLAG_CPU goes only with the RSEQ command, not offered)
    if cmd == MEMBARRIER_CMD_QUERY:
        return SUPPORTED
    if cmd in (MEMBARRIER_CMD_GLOBAL, MEMBARRIER_CMD_GLOBAL_EXPEDITED,
               MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED):
        return 0
    if cmd == MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED:
        t.proc.sched.membarrier = True
        return 0
    if cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED:
        return 0 if t.proc.sched.membarrier else -EPERM
    return -EINVAL


"""Remote memory (RMem), as Nanvix's I/O clusters serve it: when a cluster runs out of frames,
pages of its running processes go to the I/O cluster's memory instead of an OOM kill, and come
back on first touch.

Eviction happens where a frame is wanted and none is free (`FrameAllocator.reclaim`): the
kernel picks EVICT_BATCH data pages of the cluster's running processes by the chip's
`page_replacement` (`clock`: second chance on the Sv32 accessed bit, an approximation of LRU;
`fifo`: oldest first), sends each that is dirty, or that remote memory holds no copy of, to
the daemon (`rmem_put`, the page's bytes through the NoC model), and frees the frames. The
page stays in the process's address space as a remote page (memory.AddressSpace.remote and
.rmem), so a touch of it is the same fault as a post-copy migration's: the thread waits, the
kernel asks the daemon (`rmem_get`), the page comes back (`rmem_page`) into a frame (evicting
others if need be), and the faulting instruction, or the system call, is made again. Code
pages are never evicted (their translations would go stale), nor pages of a process that is
frozen or being moved (its image is, or is being, taken).

The daemon keys pages by pid, not by cluster: a process that migrates takes its remote pages
along as a list (the image's `rmem`), and fetches them from wherever it runs. The I/O cluster's
memory is `ChipSpec.rmem.io_memory`; a put beyond it is refused (`rmem_full`) and the process, out
of memory everywhere, is killed. The daemon frees a process's pages when it exits, and the
pages it unmaps (`rmem_free`).

Every write-back carries a new version (per process, carried by migration images); a request
names the version it wants, and the daemon answers only with that one, holding the request
until its write-back arrives: a write-back waits behind its cluster's DMA engine (or is lost
and sent again), so a request for a page evicted a moment ago may arrive first, and must not
get the copy of an earlier eviction.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import TYPE_CHECKING

from shoal.kernel.container import Container, Thread, TState
from shoal.kernel.memory import PAGE, PTE_A, PTE_X, OutOfFrames
from shoal.messages import Kind, RmemFree, RmemGet, RmemPut
from shoal.platform.noc import Packet
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

# A process being frozen is still whole here (its image is taken once it is frozen), and may
# be the only one with pages to give: a page it waits for must find a frame.
EVICTABLE = ("running", "freezing")
EVICT_BATCH = 32  # pages evicted at a time (Linux reclaims SWAP_CLUSTER_MAX = 32): one choice, one TLB flush


@dataclass(eq=False)
class RemoteWaits:
    """This cluster's pages asked back from remote memory (`Kernel.rmem`), by (pid, page)."""

    waiting: dict[tuple[int, int], list[Thread]] = field(default_factory=dict)  # -> threads
    unmapped: dict[tuple[int, int], int] = field(default_factory=dict)  # unmapped while asked: version


# Resident data pages below which shared pages go home before any more of them is evicted: a
# call may need several at once (writev: its iovec on the stack, the buffer in .bss), and with
# one frame left beside the shared pages, fetching one evicted the other, for ever.
MIN_RESIDENT = 8


def squeezed(k: Kernel) -> bool:
    """Do shared pages hold the frames the processes here need for their own pages?"""
    if not k.shm.frames:
        return False
    n = 0
    for p in k.procs:
        if p.state in EVICTABLE and p.alive:
            for va in p.aspace.swap.born:  # (code pages are never evicted: not counted)
                if not p.aspace.flags_of(va) & PTE_X:
                    n += 1
                    if n >= MIN_RESIDENT:
                        return False
    return True


def reclaim(k: Kernel) -> bool:
    """Free frames by evicting pages to remote memory; False if none can go."""
    victims = _choose(k, EVICT_BATCH)
    if not victims:
        return False
    at = k.now() if k.sched.current is not None else k.sched.item_time
    cost = 0
    for p, va in victims:
        ver, data = p.aspace.evict(va)
        p.stats.evictions += 1
        if data is not None:  # written back: the DMA engine reads the frame as it sends
            k.send(k.services_node, RmemPut(pid=p.pid, va=va, ver=ver), data, at, bulk=True)
            cost += math.ceil(k.spec.costs.copy_cycles_per_byte * PAGE)
        else:  # remote memory has it already: only the page-table entry changes
            cost += k.spec.costs.pte_install_cycles
    k.cpu.flush_tlb()  # the freed frames may still be in the CPU's TLB
    served = k.kernel_core(at, cost)
    if k.sched.current is not None:
        k.charge(served)  # the thread that wanted a frame waits for the evictions
    return True


def _choose(k: Kernel, n: int) -> list[tuple[Container, int]]:
    """Up to `n` resident data pages to evict, by the chip's replacement policy: the oldest
    first (by when each came into a frame), code pages never."""
    procs = [p for p in k.procs if p.state in EVICTABLE and p.alive]
    # Every data page resident has its `born` (only those: a page leaves `born` as it leaves
    # its frame, and shared pages are not ours), so the oldest are found from `born` alone,
    # reading only the page-table entries the scan visits, not the whole address space's
    # (most of the host time of a reclaim). If that ever did not hold, the full listing.
    if not all(len(p.aspace.swap.born) == p.aspace.data_frames for p in procs):
        return _choose_listed(k, procs, n)
    fifo = k.spec.rmem.page_replacement == "fifo"
    if len(procs) == 1:  # (the usual case: the scan in one call, on the address space's words)
        p = procs[0]
        born = p.aspace.swap.born
        out1, second1 = p.aspace.victims([va for _, va in sorted(zip(born.values(), born, strict=True))],
                                         n, not fifo)
        return [(p, va) for va in out1 + second1[:n - len(out1)]]
    keyed = sorted((b, p.pid, va, i) for i, p in enumerate(procs) for va, b in p.aspace.swap.born.items())
    order = [(procs[i], va) for _, _, va, i in keyed]
    out, second = [], []
    for p, va in order:
        if len(out) >= n:
            break
        flags = p.aspace.flags_of(va)
        if flags & PTE_X:
            continue
        if flags & PTE_A and not fifo:
            p.aspace.clear_accessed(va)
            second.append((p, va))
        else:
            out.append((p, va))
    return out + second[:n - len(out)]


def _choose_listed(k: Kernel, procs: list[Container], n: int) -> list[tuple[Container, int]]:
    cands = []
    for p in procs:
        born, pid = p.aspace.swap.born.get, p.pid
        cands += [(born(va, 0), pid, va, flags, p) for va, flags in p.aspace.page_list() if not flags & PTE_X]
    cands.sort()  # (born, pid, va) are unique together: the rest is never compared
    if k.spec.rmem.page_replacement == "fifo":
        return [(c[4], c[2]) for c in cands[:n]]
    # Clock (second chance): a page accessed since it was last looked at loses its bit and
    # goes to the back; the first pages found unaccessed go. Clearing A needs a TLB flush for
    # the next access to set it again (reclaim flushes).
    out, second = [], []
    for _, _, va, flags, p in cands:
        if len(out) >= n:
            break
        if flags & PTE_A:
            p.aspace.clear_accessed(va)
            second.append((p, va))
        else:
            out.append((p, va))
    return out + second[:n - len(out)]


def await_page(k: Kernel, t: Thread, page: int, at: int) -> None:
    """Thread `t` touched a page its process keeps in remote memory: it waits for it."""
    p = t.proc
    t.state, t.blocked_on, t.blocked_at = TState.BLOCKED, "page", at
    key = (p.pid, page)
    waiting = k.rmem.waiting.setdefault(key, [])
    waiting.append(t)
    p.stats.rmem_faults += 1
    if len(waiting) == 1:  # the first to wait asks; the kernel core takes the fault first
        at += k.kernel_core(at, k.spec.costs.page_fault_cycles)
        k.send(k.services_node, RmemGet(pid=p.pid, va=page, ver=p.aspace.swap.pages[page]), at=at)


def on_rmem_page(k: Kernel, pkt: Packet, at: int) -> None:
    pid, va, ver = pkt.body.pid, pkt.body.va, pkt.body.ver
    p = k.find_proc(pid)
    gone = k.rmem.unmapped.pop((pid, va), None)
    if gone is not None:  # unmapped while asked for (see dropped): free it, wake the askers
        k.send(k.services_node, RmemFree(pid=pid, pages=[[va, gone]]), at=at)
        for t in k.rmem.waiting.pop((pid, va), []):
            k.page_came(t, at)
        return
    if p is None or not p.alive:  # it ended meanwhile
        k.rmem.waiting.pop((pid, va), None)
        return
    if p.aspace.swap.pages.get(va) != ver:
        return  # not the copy it waits for (never sent so: the daemon answers by version)
    waiting = k.rmem.waiting.pop((pid, va), [])
    try:
        p.aspace.arrive(va, pkt.data)
    except OutOfFrames:
        k.kill(p, 9, None, f"killed: out of memory (cluster {k.cluster} has no frame, and no page "
               "can go to remote memory)", at)
        return
    p.stats.peak_frames = max(p.stats.peak_frames, p.aspace.frames_in_use)
    cost = math.ceil(k.spec.costs.copy_cycles_per_byte * PAGE) + k.spec.costs.pte_install_cycles
    done = at + k.kernel_core(at, cost)
    for t in waiting:
        if t.proc is p:
            p.stats.page_wait += k.page_came(t, done)


def dropped(k: Kernel, aspace: object, copies: list[tuple[int, int]]) -> None:
    """The guest unmapped pages remote memory keeps copies of: the daemon may free them, by
    version, so that a write-back still on its way is known for what it is when it comes. A
    page a thread still waits for is freed once its answer is back (the daemon then has no
    request for it in hand), and the thread makes its access again, to fault or to find the
    range as it is now."""
    p = next((p for p in k.procs if p.aspace is aspace), None)
    if p is None:
        return
    now = []
    for va, ver in copies:
        if (p.pid, va) in k.rmem.waiting:
            k.rmem.unmapped[(p.pid, va)] = ver
        else:
            now.append([va, ver])
    if now:
        at = k.now() if k.sched.current is not None else k.sched.item_time
        k.send(k.services_node, RmemFree(pid=p.pid, pages=now), at=at)


def on_rmem_full(k: Kernel, pkt: Packet, at: int) -> None:
    # (Routed to the process like an IKC packet: held while it is frozen, passed on if it left.)
    p = k.find_proc(pkt.body.dst)
    if p is not None and p.alive:
        k.kill(p, 9, None, f"killed: out of memory (cluster {k.cluster} is full and so is the "
               f"I/O cluster's remote memory, {k.spec.rmem.io_memory >> 20} MiB)", at)


HANDLERS = {Kind.RMEM_PAGE: on_rmem_page, Kind.RMEM_FULL: on_rmem_full}

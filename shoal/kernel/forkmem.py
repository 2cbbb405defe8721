"""A fork's memory beyond private pages (kernel/calls/fork.py): anonymous MAP_SHARED memory, and
pages in remote memory.

Anonymous shared memory is a process's own (its threads share it) until the process forks:
then the kernel makes an object of it (`share_anon`), as shm_open's, numbered by this kernel
(shm.ANON: no round trip) and adopted by the shared-memory home when the Fork request comes
(daemons/shm.py: adopt). Its pages present here become the cluster's frames, held for writing
(shm.py's protocol from there on: the parent's mapping is, for its pages, like one that
arrived holding them), the others are zeros at the home until touched. The child, wherever it
is built, maps the object as the image's `shared` says, as a migrated process does, and so do
its own children; the object goes once no process maps it. Linux's semantics: every mapper sees
every store (the shm protocol's sequential consistency), futexes in it are the object's
(kernel/futexes.py: key_of), waiters from before are moved to that key.

Pages in remote memory (kernel/rmem.py) stay there: the child lists them at the versions its
parent does, and the remote-memory home copies them for it (daemons/rmem.py: dup; the Fork
request's list, and `rmem_dup` for pages the parent evicted while the answer came).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.kernel import shm
from shoal.kernel.container import Container
from shoal.kernel.memory import PAGE, Missing, OutOfFrames
from shoal.messages import RmemDup, RmemFree

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

ANON_SHARED = "[anon:shared]"


def anon_pages(p: Container) -> list[int]:
    """The pages of `p`'s anonymous shared mappings that are not an object's yet."""
    shared = p.aspace.shm.pages
    return [va for r in p.aspace.regions if r.name == ANON_SHARED
            for va in range(r.start, r.end, PAGE) if va not in shared]


def share_anon(k: Kernel, p: Container, at: int) -> list | None:
    """Make one shared memory object of `p`'s anonymous shared pages that are not one's yet;
    returns what the Fork request tells the home ([object, pages, [pages held here]]), or
    None if there are none. Raises Missing for a page in remote memory (the call waits for it
    and is made again), OutOfFrames if no frame is left for a page's own copy or this kernel
    has numbered all the objects it may; either before anything changed."""
    pages = anon_pages(p)
    if not pages:
        return None
    a = p.aspace
    for va in pages:  # (a page shared copy-on-write gets its own frame: may evict others)
        a.own_frame(va)
    away = [va for va in pages if va in a.remote]
    if away:
        # Fetching one may evict another of them, so a region about as large as the cluster's
        # memory is never here whole: past 4 fetches a page (a fork that gets there takes
        # about one and a quarter), the fork fails with ENOMEM rather than fetch for ever.
        # (Container.fork_fetches: a fork made again after a move counts anew.)
        p.family.fork_fetches += 1
        if p.family.fork_fetches > 4 * len(pages) + 64:
            p.family.fork_fetches = 0
            raise OutOfFrames
        raise Missing("load", away[0])
    p.family.fork_fetches = 0
    if k.shm.anon >= shm.ANON_MAX:
        raise OutOfFrames
    k.shm.anon += 1
    obj = shm.ANON | k.cluster << shm.ANON_BITS | k.shm.anon
    held, copies = [], []
    for i, va in enumerate(pages):
        frame, ver = a.make_shared(va, (obj, i))
        if frame is not None:
            k.shm.frames[(obj, i)] = (frame, True)
            k.shm.gen[(obj, i)] = 0  # (the grant the home counts it held under: adopt)
            k.shm.since[(obj, i)] = at
            held.append(i)
        if ver is not None:
            copies.append([va, ver])
    if copies:  # remote memory's copies of them are not the process's any more
        k.send(k.services_node, RmemFree(pid=p.pid, pages=copies), at=at)
    _rekey_futexes(k, p, {va: i for i, va in enumerate(pages)}, obj)
    k.cpu.flush_tlb()  # (a copy-on-write entry may have become writable)
    return [obj, len(pages), held]


def _rekey_futexes(k: Kernel, p: Container, index: dict[int, int], obj: int) -> None:
    """Threads waiting on a word of the pages (a private key: (pid, address)) wait on the
    object's word now, as they would had the object been there when they started to wait."""
    for key in [key for key in k.sched.futexes if key[0] == p.pid and key[1] & ~(PAGE - 1) in index]:
        addr = key[1]
        new = (-1 - obj, index[addr & ~(PAGE - 1)] * PAGE + (addr & (PAGE - 1)))
        q = k.sched.futexes.pop(key)
        for w in q:
            w.wait_key = new
        k.sched.futexes.setdefault(new, []).extend(q)


def remote_pages(p: Container) -> list[list[int]]:
    """`p`'s pages in remote memory, [va, version] each (what its child gets copies of)."""
    return [[va, ver] for va, ver in sorted(p.aspace.swap.pages.items())]


def give_remote(k: Kernel, parent: Container, child: Container, pid: int, asked: list[list[int]],
                at: int) -> None:
    """A child built here (pid `pid`) lists its parent's pages in remote memory as they are now
    (the home copies them: those the Fork request did not list are asked for now, and the
    copies of those it listed that came back meanwhile are let go)."""
    a, c = parent.aspace, child.aspace
    for va, ver in a.swap.pages.items():
        c.remote[va] = a.remote[va]
        c.swap.pages[va] = ver
    c.swap.seq = max(c.swap.seq, a.swap.seq)
    listed = {(va, ver) for va, ver in asked}
    more = [[va, ver] for va, ver in sorted(a.swap.pages.items()) if (va, ver) not in listed]
    if more:
        k.send(k.services_node, RmemDup(pid=parent.pid, child=pid, pages=more), at=at)
    gone = [[va, ver] for va, ver in asked if a.swap.pages.get(va) != ver]
    if gone:
        k.send(k.services_node, RmemFree(pid=pid, pages=gone), at=at)

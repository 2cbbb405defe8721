"""Shared memory between processes, on one cluster and across clusters (POSIX `shm_open` +
`mmap(MAP_SHARED)`), kept coherent page by page over the NoC.

An object lives at the shared-memory daemon on I/O cluster 0 (`shm_*` handlers in
services.py), which is the home of its pages. Each page has one writer or many readers: one
cluster holds it for writing, or several hold read copies (a cluster's kernel maps its one
frame into every local process that maps the page, so processes of one cluster share it at
memory speed). A touch of a page not held here, or a store to a read copy, is a fault like a
post-copy's (memory.Missing): the thread waits, its kernel asks the daemon (`shm_get`, for
reading or writing), the daemon recalls the copies that conflict (`shm_recall`: a holder
unmaps the page everywhere, flushes its TLB and sends it home, `shm_back`, with the bytes if
it was the writer) and sends the page on (`shm_page`); the faulting instruction runs again.
A cluster keeps a page it just got for at least HOLD cycles before a recall takes it, so
that its threads make progress however hard others contend. Memory model: a write is seen by
every later read (sequential consistency at page grain, in simulated time). Processes that
map shared pages keep step with their cluster's items (sched.py), so a recall meets their
threads at its simulated time.

A cluster gives a page back home as soon as no local process maps it any more. A process
that migrates takes its shared mappings along (the image's `shared`) and fetches the pages
where it lands. Descriptors: `p.files[fd] = ["shm", "/dev/shm/NAME", object, flags, 0]`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shoal.kernel.container import Container, Thread, TState
from shoal.kernel.memory import PAGE, PTE_V, OutOfFrames
from shoal.platform.noc import Packet

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

PREFIX = "/dev/shm/"
HOLD = 4000  # cycles (10 us at 400 MHz) a cluster keeps a page it got before giving it up
Key = tuple[int, int]  # (object, page number)


def await_page(k: Kernel, t: Thread, page: int, write: bool, at: int) -> None:
    """Thread `t` touched a shared page this cluster does not hold (or stored into a read
    copy): it waits until the page is here for that."""
    key = t.proc.aspace.shared[page]
    t.state, t.blocked_on, t.blocked_at = TState.BLOCKED, "page", at
    k.shm_waiting.setdefault(key, []).append(t)
    t.proc.shm_faults += 1
    asked = k.shm_asked.get(key)
    if asked is None or (write and not asked):  # (a reader's request does not serve a writer)
        k.shm_asked[key] = write
        at += k.kernel_core(at, k.spec.page_fault_cycles)
        k.send(k.services_node, "shm_get", {"obj": key[0], "pg": key[1], "write": write}, at=at)


def on_shm_page(k: Kernel, pkt: Packet, at: int) -> None:
    """The page is ours now: one frame for every local process that maps it."""
    key = (pkt.body["obj"], pkt.body["pg"])
    waiting = k.shm_waiting.pop(key, [])
    k.shm_asked.pop(key, None)
    write = pkt.body["write"]
    if key in k.shm_frames:  # a read copy here becomes the writable one (same bytes)
        k.shm_frames[key] = (k.shm_frames[key][0], True)
        k.shm_since[key] = at
        _wake(k, waiting, at)
        return
    frame = _alloc(k)
    if frame is None:  # nothing can make room: it goes home again, its waiters are killed
        k.send(k.services_node, "shm_back", {"obj": key[0], "pg": key[1]}, pkt.data, at, bulk=True)
        for t in waiting:
            if t.proc.alive:
                k.kill(t.proc, 9, None, f"killed: out of memory (cluster {k.cluster} has no frame "
                       "for a shared page)", at)
        return
    k.mem[frame * PAGE:(frame + 1) * PAGE] = pkt.data
    k.shm_frames[key] = (frame, write)
    k.shm_since[key] = at
    cost = math.ceil(k.spec.copy_cycles_per_byte * PAGE) + k.spec.pte_install_cycles
    done = at + k.kernel_core(at, cost)
    _wake(k, waiting, done)
    if not _mapped_here(k, key):  # every process that wanted it went meanwhile
        give_back(k, key, done)


def _wake(k: Kernel, waiting: list[Thread], at: int) -> None:
    for t in waiting:
        t.proc.page_wait += k.page_came(t, at)


def _alloc(k: Kernel) -> int | None:
    try:
        return k.frames.alloc()  # (may evict pages to remote memory first)
    except OutOfFrames:
        return None


def on_shm_recall(k: Kernel, pkt: Packet, at: int) -> None:
    """The daemon wants the page for another cluster: unmap it here and send it home."""
    key = (pkt.body["obj"], pkt.body["pg"])
    if key not in k.shm_frames:  # (it is on its way home already)
        return
    since = k.shm_since.get(key, at)
    if at < since + HOLD:  # got just now: its threads use it first
        k.at(since + HOLD, lambda now: on_shm_recall(k, pkt, now))
    else:
        give_back(k, key, at)


def give_back(k: Kernel, key: Key, at: int) -> None:
    """Unmap the page everywhere here and send it home (its bytes only if written here)."""
    frame, writable = k.shm_frames.pop(key)
    k.shm_since.pop(key, None)
    for p in k.procs:
        _unmap(p, key)
    k.cpu.flush_tlb()
    data = bytes(k.mem[frame * PAGE:(frame + 1) * PAGE]) if writable else b""
    k.frames.release(frame)
    start = at + k.kernel_core(at, math.ceil(k.spec.copy_cycles_per_byte * len(data)))
    k.send(k.services_node, "shm_back", {"obj": key[0], "pg": key[1]}, data, start, bulk=bool(data))


def _unmap(p: Container, key: Key) -> None:
    a = p.aspace
    for va, got in a.shared.items():
        if got == key:
            w = a._pte(va, create=False)
            if w is not None and a._words[w] & PTE_V:
                a._words[w] = 0  # the next touch faults and asks for it again


def _mapped_here(k: Kernel, key: Key) -> bool:
    return any(key in p.aspace.shared.values() for p in k.procs if p.alive)


def dropped(k: Kernel, keys: list[Key]) -> None:
    """A local address space stopped mapping these pages: held pages nobody here maps any
    more go home (so a cluster keeps no frame for an object it does not use)."""
    for key in keys:
        if key in k.shm_frames and not _mapped_here(k, key):
            give_back(k, key, k.now() if k.current is not None else k.item_time)


HANDLERS = {"shm_page": on_shm_page, "shm_recall": on_shm_recall}

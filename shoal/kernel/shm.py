"""Shared memory between processes, on one cluster and across clusters (POSIX `shm_open` +
`mmap(MAP_SHARED)`), kept coherent page by page over the NoC.

An object lives at the shared-memory daemon on I/O cluster 0 (`shm_*` handlers in
daemons/shm.py), which is the home of its pages. Each page has one writer or many readers: one
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
where it lands. Descriptors: `p.fs.files[fd] = OpenFile(FileKind.SHM, "/dev/shm/NAME", object, flags)`.

A mapped file is such an object too (daemons/shm.py; kernel/calls/mman.py). A MAP_PRIVATE
mapping of it reads the file's pages as read copies; a store to one (the CPU's, or the
kernel's for a call) makes the page the process's own, a copy of the cluster's frame
(`privatize`), and the file never sees it.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import TYPE_CHECKING

from shoal.abi import EFAULT, SIGBUS
from shoal.kernel import faults, signals
from shoal.kernel.container import Container, FileKind, Thread, TState
from shoal.kernel.memory import FILE_MAP, PAGE, PRIVATE_FILE, PTE_V, RO_FILE, Fault, OutOfFrames, private_file
from shoal.kernel.rmem import EVICT_BATCH
from shoal.messages import Kind, ShmBack, ShmClose, ShmGet
from shoal.platform.cpu import REG_PC
from shoal.platform.noc import Packet
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.kernel.memory import AddressSpace

PREFIX = "/dev/shm/"
HOLD = 4000  # cycles (10 us at 400 MHz) a cluster keeps a page it got before giving it up
Key = tuple[int, int]  # (object, page number)
# Objects a kernel makes of anonymous shared memory at a fork (kernel/forkmem.py) are numbered
# from here, apart from the home's own (from 1 up): ANON | cluster << ANON_BITS | n, in 32 bits
# as an image's object numbers are (up to 2048 clusters, 2^20 - 1 objects per kernel).
ANON = 1 << 31
ANON_BITS = 20
ANON_MAX = (1 << ANON_BITS) - 1
FAULT_AROUND = 16  # pages a read fault on a file asks for (Linux's fault_around_bytes, 64 KiB)
Waiter = tuple[Thread, int, str, bool]  # thread, page, access kind, in a system call?


@dataclass(eq=False)
class SharedPages:
    """This cluster's side of shared memory (`Kernel.shm`), by (object, page number): the
    pages it holds, one frame each, and the threads waiting for pages held elsewhere."""

    frames: dict[Key, tuple[int, bool]] = field(default_factory=dict)  # -> (frame, writable)
    since: dict[Key, int] = field(default_factory=dict)  # when it came (HOLD)
    waiting: dict[Key, list[Waiter]] = field(default_factory=dict)
    asked: dict[Key, bool] = field(default_factory=dict)  # requests on their way: for writing?
    gen: dict[Key, int] = field(default_factory=dict)  # grant held (or last held) of each page
    recalls: dict[Key, int] = field(default_factory=dict)  # recalls that came before their grant
    anon: int = 0  # objects this kernel made of anonymous shared memory (kernel/forkmem.py)


def await_page(k: Kernel, t: Thread, page: int, write: bool, at: int, in_call: bool | None = None) -> None:
    """Thread `t` touched a shared page this cluster does not hold (or stored into a read
    copy): it waits until the page is here for that (or the daemon says it lies beyond the
    object's end: SIGBUS, or EFAULT for a system call). `in_call`: a call's answer touched
    it (kernel/answers.py: redo); else the fault in hand says (sched.run_slice)."""
    key = t.proc.aspace.shm.pages[page]
    if write and private_file(t.proc.aspace.find(page)):
        held = k.shm.frames.get(key)
        if held is not None:
            privatize(k, t, page, at)
            return
        write = False  # (a private mapping reads the file's page: a read copy will do)
    t.state, t.blocked_on, t.blocked_at = TState.BLOCKED, "page", at
    if in_call is None:
        in_call = k.sched.fault is None  # (sched.run_slice: an instruction's fault is in k.sched.fault)
    kind = "store" if write else "load"
    if not in_call:
        kind = k.sched.fault.what.kind  # type: ignore[union-attr]
    k.shm.waiting.setdefault(key, []).append((t, page, kind, in_call))
    t.proc.stats.shm_faults += 1
    asked = k.shm.asked.get(key)
    if asked is None or (write and not asked):  # (a reader's request does not serve a writer)
        k.shm.asked[key] = write
        at += k.kernel_core(at, k.spec.costs.page_fault_cycles)
        # `have`: the grant this cluster holds or held last, so that the daemon tells a
        # request from a copy still here, one on its way here, and one on its way home.
        k.send(k.services_node, ShmGet(obj=key[0], pg=key[1], write=write, have=k.shm.gen.get(key, 0)), at=at)
        if not write:
            _read_ahead(k, t.proc.aspace, page, at)


def _read_ahead(k: Kernel, asp: AddressSpace, page: int, at: int) -> None:
    """A read fault on a file mapped read-only or privately asks for the pages after it too,
    up to FAULT_AROUND pages in all (Linux's fault-around), as read copies: a file read through
    a mapping costs a round trip per FAULT_AROUND pages, not per page. Not for writable shared
    mappings, whose pages other clusters may be writing."""
    r = asp.find(page)
    if r is None or not r.name.startswith(FILE_MAP) or not r.name.endswith((PRIVATE_FILE, RO_FILE)):
        return
    for va in range(page + PAGE, min(r.end, page + FAULT_AROUND * PAGE), PAGE):
        key = asp.shm.pages.get(va)
        if key is None or key in k.shm.frames or key in k.shm.asked:
            continue
        k.shm.asked[key] = False
        k.send(k.services_node, ShmGet(obj=key[0], pg=key[1], write=False, have=k.shm.gen.get(key, 0)), at=at)


def privatize(k: Kernel, t: Thread, page: int, at: int) -> None:
    """A store to a page of a private file mapping this cluster holds: the process gets its
    own copy (Linux's copy-on-write of a file's page), and the thread makes its store again."""
    t.state, t.blocked_on, t.blocked_at = TState.BLOCKED, "page", at
    key = t.proc.aspace.shm.pages[page]
    try:
        if t.proc.aspace.private_copy(page, lambda: k.shm.frames.get(key, (None,))[0]) is None:
            k.page_came(t, at)  # (its frame went home to make room: the store faults again)
            return
    except OutOfFrames:
        k.kill(t.proc, 9, None, f"killed: out of memory (cluster {k.cluster} has no frame for a "
               "private copy of a mapped file's page)", at)
        return
    cost = math.ceil(k.spec.costs.copy_cycles_per_byte * PAGE) + k.spec.costs.page_fault_cycles
    k.page_came(t, at + k.kernel_core(at, cost))
    dropped(k, [key], t.proc.aspace)  # (the cluster gives the file's page back if unused here)


def on_shm_page(k: Kernel, pkt: Packet, at: int) -> None:
    """The page is ours now (one frame for every local process that maps it), or it lies
    beyond the object's end (`bus`)."""
    key = (pkt.body.obj, pkt.body.pg)
    if pkt.body.bus is True:
        k.shm.asked.pop(key, None)
        _bus(k, k.shm.waiting.pop(key, []), at)
        return
    gen, write = pkt.body.gen, pkt.body.write
    if gen <= k.shm.gen.get(key, 0):  # an older grant, overtaken by a newer one: void
        return
    k.shm.gen[key] = gen
    waiting = k.shm.waiting.pop(key, [])
    k.shm.asked.pop(key, None)
    if key in k.shm.frames:  # a read copy here becomes the writable one (same bytes)
        k.shm.frames[key] = (k.shm.frames[key][0], write)
        k.shm.since[key] = at
        _wake(k, waiting, at)
        _recalled_early(k, key, gen, at)
        return
    frame = _alloc(k)
    if frame is None:  # nothing can make room: it goes home again, its waiters are killed
        k.send(k.services_node, ShmBack(obj=key[0], pg=key[1], gen=gen),
               pkt.data if write else b"", at, bulk=write)
        for t, _, _, _ in waiting:
            if t.proc.alive:
                k.kill(t.proc, 9, None, f"killed: out of memory (cluster {k.cluster} has no frame "
                       "for a shared page)", at)
        return
    k.mem[frame * PAGE:(frame + 1) * PAGE] = pkt.data
    k.shm.frames[key] = (frame, write)
    cost = math.ceil(k.spec.costs.copy_cycles_per_byte * PAGE) + k.spec.costs.pte_install_cycles
    done = at + k.kernel_core(at, cost)
    k.shm.since[key] = done  # (HOLD counts from when its threads can use it)
    _wake(k, waiting, done)
    if not _mapped_here(k, key):  # every process that wanted it went meanwhile
        give_back(k, key, done)
    else:
        _recalled_early(k, key, gen, done)


def _recalled_early(k: Kernel, key: Key, gen: int, at: int) -> None:
    """A recall of this grant that overtook it on the NoC (a small packet passes a page)."""
    stashed = k.shm.recalls.pop(key, 0)
    if stashed >= gen:
        recall(k, key, gen, at)


def _wake(k: Kernel, waiting: list[Waiter], at: int) -> None:
    for t, _, _, _ in waiting:
        t.proc.stats.page_wait += k.page_came(t, at)


def _bus(k: Kernel, waiting: list[Waiter], at: int) -> None:
    """The page lies beyond the object's end (Linux: SIGBUS; a system call gets EFAULT)."""
    for t, page, kind, in_call in waiting:
        if not t.proc.alive or t.state is not TState.BLOCKED or t.blocked_on != "page":
            continue
        t.proc.stats.page_wait += max(0, at - t.blocked_at)
        pc = t.ctx.reg_read(REG_PC)
        if in_call:  # the call was to be made again (its pc is on the ecall): it fails instead
            t.call.kept = None  # (an answer kept for it goes: kernel/answers.py)
            t.ctx.reg_write(REG_PC, pc + 4)
            t.blocked_on = ""
            k.wake(t, at, -EFAULT & 0xFFFFFFFF)
            continue
        addr = faults.exact_address(t, Fault(kind, page), pc)
        if signals.fault_later(t, SIGBUS, signals.BUS_ADRERR, addr):
            k.page_came(t, at)  # (its handler runs first; the wait is counted above)
            continue
        k.kill(t.proc, SIGBUS, None, f"killed: {kind} bus error at {addr:#010x} (beyond the end of "
               f"a shared memory object), pc {pc:#010x}", at)


def _alloc(k: Kernel) -> int | None:
    try:
        return k.frames.alloc()  # (may evict pages to remote memory first)
    except OutOfFrames:
        return None


def on_shm_recall(k: Kernel, pkt: Packet, at: int) -> None:
    """The daemon wants grant `gen` of the page back: unmap it here and send it home."""
    key, gen = (pkt.body.obj, pkt.body.pg), pkt.body.gen
    have = k.shm.gen.get(key, 0)
    if key in k.shm.frames and have == gen:
        recall(k, key, gen, at)
    elif have < gen:  # its grant is still on the way here: honoured when it comes
        k.shm.recalls[key] = max(gen, k.shm.recalls.get(key, 0))
    # (else a copy that went home already, or an older grant than the one held: stale)


def recall(k: Kernel, key: Key, gen: int, at: int) -> None:
    if key not in k.shm.frames or k.shm.gen.get(key) != gen:
        return  # gone home meanwhile (or a newer grant came: its own recall will say)
    # Not before HOLD cycles of use (got just now: its threads use it first), and not before
    # the kernel core gets to it: the page goes as an item of the cluster at that time, so
    # that the threads that could run before it do (a busy core handles a packet late).
    when = max(at, k.shm.since.get(key, at) + HOLD)
    if when > k.sched.item_time:
        k.at(when, lambda now: _recall_now(k, key, gen, now))
    else:
        give_back(k, key, at)


def _recall_now(k: Kernel, key: Key, gen: int, at: int) -> None:
    if key in k.shm.frames and k.shm.gen.get(key) == gen:
        give_back(k, key, at)


def give_back(k: Kernel, key: Key, at: int) -> None:
    """Unmap the page everywhere here and send it home (its bytes only if written here)."""
    frame, writable = k.shm.frames.pop(key)
    k.shm.since.pop(key, None)
    for p in k.procs:
        _unmap(p, key)
    k.cpu.flush_tlb()
    data = bytes(k.mem[frame * PAGE:(frame + 1) * PAGE]) if writable else b""
    k.frames.release(frame)
    start = at + k.kernel_core(at, math.ceil(k.spec.costs.copy_cycles_per_byte * len(data)))
    k.send(k.services_node, ShmBack(obj=key[0], pg=key[1], gen=k.shm.gen.get(key, 0)),
           data, start, bulk=bool(data))


def _unmap(p: Container, key: Key) -> None:
    a = p.aspace
    for va, got in a.shm.pages.items():
        if got == key:
            w = a._pte(va, create=False)
            if w is not None and a._words[w] & PTE_V:
                a._words[w] = 0  # the next touch faults and asks for it again


def reclaim(k: Kernel) -> bool:
    """Out of frames, and remote memory can take no page: the shared pages held here longest
    go home (EVICT_BATCH of them; a writer's with its bytes), as Linux drops a file's pages
    under pressure; the next touch fetches them again. False if none is held."""
    keys = sorted(k.shm.frames, key=lambda key: (k.shm.since.get(key, 0), key))[:EVICT_BATCH]
    at = k.now() if k.sched.current is not None else k.sched.item_time
    for key in keys:
        give_back(k, key, at)
    return bool(keys)


def _mapped_here(k: Kernel, key: Key) -> bool:
    return any(key in p.aspace.shm.pages.values() for p in k.procs if p.alive)


def dropped(k: Kernel, keys: list[Key], aspace: AddressSpace | None = None) -> None:
    """A local address space stopped mapping these pages: held pages nobody here maps any
    more go home (so a cluster keeps no frame for an object it does not use). A running
    process that unmapped the last page of an object it has no descriptor of lets it go."""
    at = k.now() if k.sched.current is not None else k.sched.item_time
    for key in keys:
        if key in k.shm.frames and not _mapped_here(k, key):
            give_back(k, key, at)
    p = next((p for p in k.procs if p.aspace is aspace and p.alive), None)
    if p is not None:
        for obj in sorted({obj for obj, _ in keys}):
            release_if_unused(k, p, obj, at)


def release_if_unused(k: Kernel, p: Container, obj: int, at: int) -> None:
    """Tell the daemon once `p` neither opens nor maps object `obj` (POSIX: an unlinked
    object goes when no process does). A process that ends is the daemon's to count."""
    if any(f.kind is FileKind.SHM and f.handle == obj for f in p.fs.files.values()):
        return
    if any(o == obj for o, _ in p.aspace.shm.pages.values()):
        return
    k.send(k.services_node, ShmClose(obj=obj, pid=p.pid), at=at)


def on_shm_gone(k: Kernel, pkt: Packet, at: int) -> None:
    """The daemon freed the object (unlinked, and no process opens or maps it any more):
    what this cluster remembers of its pages goes too."""
    obj = pkt.body.obj
    for d in (k.shm.gen, k.shm.recalls):
        for key in [key for key in d if key[0] == obj]:
            del d[key]


HANDLERS = {Kind.SHM_PAGE: on_shm_page, Kind.SHM_RECALL: on_shm_recall, Kind.SHM_GONE: on_shm_gone}

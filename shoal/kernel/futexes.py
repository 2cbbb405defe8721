"""Futexes as the kernel keeps them (the calls are kernel/calls/futex.py): which futex a word
is, waking its waiters (on other clusters too, for a shared memory object's word), a PI
lock's hand-over to its first waiter, and the robust-list walk when a thread or a process
ends. Here, not among the calls, because the kernel's own process end uses them."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.kernel.container import Thread
from shoal.kernel.memory import PAGE, Fault, OutOfFrames
from shoal.messages import FutexWake, Kind

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

FUTEX_WAITERS, FUTEX_OWNER_DIED, FUTEX_TID_MASK = 0x80000000, 0x40000000, 0x3FFFFFFF
PI = 1  # a PI futex's waiters wait under (pid, addr | PI): an aligned address's low bit is free
ROBUST_HEAD = 12  # struct robust_list_head on riscv32: next, futex_offset, list_op_pending
ROBUST_LIST_LIMIT = 2048  # Linux's bound on the walk (a list made circular stops there)

FUTEX_PRIVATE_FLAG = 128
Key = tuple[int, int]


def key_of(t: Thread, addr: int, private: bool) -> Key:
    """The futex a word is (Linux's get_futex_key): a word of a shared memory object that is
    not asked for as private is the object's, (-1 - object, offset), the same for every
    process that maps it on any cluster; any other word is (pid, address)."""
    pages = t.proc.aspace.shm.pages
    if pages and not private:
        got = pages.get(addr & ~(PAGE - 1))
        if got is not None:
            return -1 - got[0], got[1] * PAGE + (addr & (PAGE - 1))
    return t.proc.pid, addr


def word(t: Thread, addr: int) -> int:
    return struct.unpack("<I", t.proc.aspace.read(addr, 4))[0]


def hand_over(k: Kernel, t: Thread, addr: int, q: list[Thread], died: int) -> None:
    """The first PI waiter owns the lock now (FUTEX_WAITERS set, as Linux hands it over)."""
    w = q[0]
    t.proc.aspace.write(addr, struct.pack("<I", w.tid | died | FUTEX_WAITERS))
    for other in q[1:]:
        other.wait_bits = w.tid
    k.wake(w, k.now(), 0)


def pi_exit(k: Kernel, t: Thread) -> None:
    """The thread ends owning PI locks others wait for (Linux's exit_pi_state_list): each goes
    to its first waiter, FUTEX_OWNER_DIED kept from the word (a robust mutex's owner set it)."""
    pid = t.proc.pid
    for (p, key), q in list(k.sched.futexes.items()):
        if p == pid and key & PI and q and q[0].wait_bits == t.tid:
            try:
                died = word(t, key & ~PI) & FUTEX_OWNER_DIED
                hand_over(k, t, key & ~PI, q, died)
            except (Fault, OutOfFrames):
                pass


def futex_wake(k: Kernel, key: Key, n: int, bits: int, now: int) -> int:
    """Wake up to `n` waiters of futex `key` here; a shared object's futex may have waiters on
    other clusters too: those get the wake of what is left (FutexWake, through the object's
    home to the other clusters that hold or held its pages, where a waiter must have read the
    word; each wakes up to that many, so more than `n` may wake in all: a spurious wake-up,
    which futex users check for). The count is of this cluster's waiters."""
    q = k.sched.futexes.get(key, [])
    woken = 0
    for w in list(q):
        if woken >= n:
            break
        if w.wait_bits & bits:
            k.wake(w, now, 0)
            woken += 1
    if key[0] < 0 and woken < n:  # to the object's home, which passes it on (daemons/shm.py)
        k.send(k.services_node, FutexWake(obj=-1 - key[0], off=key[1], n=n - woken, bits=bits), at=now)
    return woken


def futex_requeue(k: Kernel, key: Key, key2: Key, n: int, nr: int, now: int) -> int:
    """Linux's futex_requeue: wake up to `n` waiters of `key`, move up to `nr` others to wait
    on `key2`. A shared object's word may have waiters on other clusters: what is left of
    both counts goes to them as futex_wake's does (each cluster moves up to that many, a
    private `key2` none). The count is of this cluster's waiters."""
    q = k.sched.futexes.get(key, [])
    woken = 0
    for w in list(q)[:n]:
        k.wake(w, now, 0)
        woken += 1
    moved = _move(k, key, key2, nr)
    shared2 = key2[0] < 0
    if key[0] < 0 and (woken < n or (moved < nr and shared2)):
        k.send(k.services_node, FutexWake(obj=-1 - key[0], off=key[1], n=n - woken, bits=0xFFFFFFFF,
                                          requeue=nr - moved if shared2 else 0,
                                          to=[-1 - key2[0], key2[1]] if shared2 else None), at=now)
    return woken + moved


def _move(k: Kernel, key: Key, key2: Key, nr: int) -> int:
    """Up to `nr` waiters of `key` here wait on `key2` now (in their order, after its own)."""
    src = k.sched.futexes.get(key, [])
    moved = 0
    while src and moved < nr:
        w = src.pop(0)
        w.wait_key = key2
        k.sched.futexes.setdefault(key2, []).append(w)
        moved += 1
    if not src:
        k.sched.futexes.pop(key, None)
    return moved


def on_futex_wake(k: Kernel, pkt: Packet, at: int) -> None:
    b = pkt.body
    key = (-1 - b.obj, b.off)
    q = k.sched.futexes.get(key, [])
    for w in [w for w in q if w.wait_bits & b.bits][:b.n]:
        k.wake(w, at, 0)
    if b.to is not None and b.requeue > 0:
        _move(k, key, (-1 - b.to[0], b.to[1]), b.requeue)


HANDLERS = {Kind.FUTEX_WAKE: on_futex_wake}


def _futex_death(k: Kernel, t: Thread, addr: int, pi: bool, pending: bool) -> None:
    """Linux's handle_futex_death: a lock word the dying thread owns gets FUTEX_OWNER_DIED (its
    FUTEX_WAITERS kept) and one waiter is woken; a PI lock goes to its first waiter."""
    if addr & 3:
        return
    val = word(t, addr)
    if pending and not pi and val == 0:
        futex_wake(k, key_of(t, addr, False), 1, 0xFFFFFFFF, k.now())
        return
    if val & FUTEX_TID_MASK != t.tid:
        return
    q = k.sched.futexes.get((t.proc.pid, addr | PI), []) if pi else []
    if q:  # the lock passes to the first PI waiter, which learns its owner died
        hand_over(k, t, addr, q, FUTEX_OWNER_DIED)
        return
    t.proc.aspace.write(addr, struct.pack("<I", (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED))
    if not pi and val & FUTEX_WAITERS:
        futex_wake(k, key_of(t, addr, False), 1, 0xFFFFFFFF, k.now())


def robust_walk(k: Kernel, t: Thread) -> None:
    """The thread ends: each robust mutex on its list (and the one it was taking or leaving,
    list_op_pending) that it still owns is marked FUTEX_OWNER_DIED, a waiter woken. A bad
    address ends the walk quietly, as on Linux."""
    head, t.robust_list = t.robust_list, 0
    if not head:
        return
    try:
        nxt, offset, pending = struct.unpack("<IiI", t.proc.aspace.read(head, ROBUST_HEAD))
        entry = nxt
        for _ in range(ROBUST_LIST_LIMIT):
            if entry & ~1 == head:
                break
            following = struct.unpack("<I", t.proc.aspace.read(entry & ~1, 4))[0]
            if entry & ~1 != pending & ~1:
                _futex_death(k, t, ((entry & ~1) + offset) & 0xFFFFFFFF, bool(entry & 1), False)
            entry = following
        if pending & ~1:
            _futex_death(k, t, ((pending & ~1) + offset) & 0xFFFFFFFF, bool(pending & 1), True)
    except (Fault, OutOfFrames):
        pass

"""futex_time64: wait, wake and requeue on a word of the process's memory; the priority-
inheritance operations (LOCK_PI, TRYLOCK_PI, UNLOCK_PI) with Linux's word protocol: the owner's
tid, FUTEX_WAITERS while someone waits, and the lock handed to the first waiter at unlock.
(Priorities are not modelled: every thread has the same, so inheritance changes nothing.)"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EAGAIN, EDEADLK, EINVAL, ENOSYS, EPERM, ESRCH, ETIMEDOUT
from shoal.kernel.calls.common import ns_to_cycles, read_timespec, rt_epoch, s32
from shoal.kernel.container import Thread, TState
from shoal.kernel.futexes import (
    FUTEX_OWNER_DIED,
    FUTEX_PRIVATE_FLAG,
    FUTEX_TID_MASK,
    FUTEX_WAITERS,
    PI,
    ROBUST_HEAD,
    futex_requeue,
    futex_wake,
    hand_over,
    key_of,
    word,
)

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 0, 1, 3, 4
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_CLOCK_REALTIME = 256
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_LOCK_PI2 = 6, 7, 8, 13


def _lock_pi(k: Kernel, t: Thread, addr: int, tsp: int, try_only: bool, realtime: bool) -> int:
    """Take the lock if its word names no owner (keeping FUTEX_OWNER_DIED, as Linux); else
    EDEADLK for its owner or when waiting would close a circle of PI waiters, ESRCH for an
    owner that is no thread of the process, EAGAIN for a try, or mark FUTEX_WAITERS and wait
    (an absolute timeout: CLOCK_REALTIME for LOCK_PI,
    CLOCK_MONOTONIC for LOCK_PI2 unless FUTEX_CLOCK_REALTIME)."""
    deadline = None
    if tsp and not try_only:
        ns = read_timespec(t, tsp)
        if ns is None:
            return -EINVAL
        base = rt_epoch(k) if realtime else 0
        deadline = ns_to_cycles(k, max(ns - base, 0)) + t.proc.move.clock_offset
    val = word(t, addr)
    owner = val & FUTEX_TID_MASK
    if owner == 0:
        t.proc.aspace.write(addr, struct.pack("<I", t.tid | (val & FUTEX_OWNER_DIED)))
        return 0
    if owner == t.tid:
        return -EDEADLK
    if not any(o.tid == owner and o.state is not TState.DEAD for o in t.proc.threads):
        return -ESRCH
    if try_only:
        return -EAGAIN
    if _waits_on_me(t, owner):
        return -EDEADLK
    if t.restart_deadline is not None:  # redone after a freeze: the original deadline holds
        deadline = t.restart_deadline + t.proc.move.clock_offset
    now = k.now()
    if deadline is not None and deadline <= now:
        return -ETIMEDOUT
    if not val & FUTEX_WAITERS:
        t.proc.aspace.write(addr, struct.pack("<I", val | FUTEX_WAITERS))
    # (a PI waiter's wait_bits hold the owner it waits for: FUTEX_WAKE never reaches PI waiters)
    k.block(t, (t.proc.pid, addr | PI), deadline, owner, timeout_value=-ETIMEDOUT)
    return 0  # (not reached: Block)


MAX_LOCK_DEPTH = 1024  # Linux's max_lock_depth: a longer chain of owners is EDEADLK too


def _waits_on_me(t: Thread, owner: int) -> bool:
    """Would `t` waiting for `owner`'s lock close a circle (Linux's rt_mutex chain walk): the
    owner waits for a PI lock whose owner waits ... for one that `t` holds?"""
    threads = {o.tid: o for o in t.proc.threads if o.state is TState.BLOCKED}
    for _ in range(MAX_LOCK_DEPTH):
        o = threads.get(owner)
        if o is None or o.wait_key is None or not o.wait_key[1] & PI or o.blocked_on != "futex":
            return False
        owner = o.wait_bits  # (a PI waiter's wait_bits hold its lock's owner)
        if owner == t.tid:
            return True
    return True


def _unlock_pi(k: Kernel, t: Thread, addr: int) -> int:
    """Only the owner unlocks: the first waiter gets the lock (its tid in the word, with
    FUTEX_WAITERS, as Linux hands it over) and wakes with 0; no waiter: the word becomes 0."""
    val = word(t, addr)
    if val & FUTEX_TID_MASK != t.tid:
        return -EPERM
    q = k.sched.futexes.get((t.proc.pid, addr | PI), [])
    if not q:
        t.proc.aspace.write(addr, b"\0\0\0\0")
        return 0
    hand_over(k, t, addr, q, 0)
    return 0


def sys_futex(k: Kernel, t: Thread, a: list[int]) -> object:
    addr, op, val, tsp, addr2, val3 = a
    cmd = op & 127
    private = bool(op & FUTEX_PRIVATE_FLAG)
    if cmd == FUTEX_UNLOCK_PI and addr & 3 and word(t, addr) & FUTEX_TID_MASK != t.tid:
        return -EPERM  # (Linux reads the word and checks its owner before the address's alignment)
    if addr & 3:
        return -EINVAL
    now = k.now()
    if cmd in (FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_TRYLOCK_PI):
        realtime = cmd == FUTEX_LOCK_PI or bool(op & FUTEX_CLOCK_REALTIME)
        return _lock_pi(k, t, addr, tsp, cmd == FUTEX_TRYLOCK_PI, realtime)
    if cmd == FUTEX_UNLOCK_PI:
        return _unlock_pi(k, t, addr)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bits = val3 if cmd == FUTEX_WAIT_BITSET else 0xFFFFFFFF
        if bits == 0:
            return -EINVAL
        deadline = None
        if tsp:
            ns = read_timespec(t, tsp)
            if ns is None:
                return -EINVAL
            if cmd == FUTEX_WAIT:
                deadline = now + ns_to_cycles(k, ns)
            else:
                base = rt_epoch(k) if op & FUTEX_CLOCK_REALTIME else 0
                deadline = ns_to_cycles(k, max(ns - base, 0)) + t.proc.move.clock_offset
                if base:  # (a clock_settime moves it: calls/time.py's set_realtime)
                    t.call.realtime_at = (ns, deadline)
        if struct.unpack("<I", t.proc.aspace.read(addr, 4))[0] != val:
            return -EAGAIN
        if t.restart_deadline is not None:  # redone after a freeze: the original deadline holds
            deadline = t.restart_deadline + t.proc.move.clock_offset
        if deadline is not None and deadline <= now:
            return -ETIMEDOUT
        # (a sleep at every wait of a mutex or a condition: SLEEPS, not Block's exception)
        return k.sleep(t, key_of(t, addr, private), deadline, bits, timeout_value=-ETIMEDOUT)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bits = val3 if cmd == FUTEX_WAKE_BITSET else 0xFFFFFFFF
        if bits == 0:
            return -EINVAL
        t.proc.aspace.read(addr, 4)
        return futex_wake(k, key_of(t, addr, private), val, bits, now)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        if addr2 & 3 or s32(val) < 0 or s32(tsp) < 0:  # (Linux: negative counts are EINVAL)
            return -EINVAL
        if cmd == FUTEX_CMP_REQUEUE and struct.unpack("<I", t.proc.aspace.read(addr, 4))[0] != val3:
            return -EAGAIN
        t.proc.aspace.read(addr2, 4)  # (EFAULT as Linux's get_futex_key of the second word)
        # (the fourth argument is the requeue count here)
        return futex_requeue(k, key_of(t, addr, private), key_of(t, addr2, private), s32(val),
                             s32(tsp), now)
    return -ENOSYS


# --- robust futex lists (set_robust_list, get_robust_list; the walk at a thread's end) -------


def sys_set_robust_list(k: Kernel, t: Thread, a: list[int]) -> int:
    if a[1] != ROBUST_HEAD:
        return -EINVAL
    t.robust_list = a[0]
    return 0


def sys_get_robust_list(k: Kernel, t: Thread, a: list[int]) -> int:
    tid = s32(a[0])
    who = t if tid == 0 else next((x for x in t.proc.threads if x.tid == tid and x.state is not TState.DEAD),
                                  None)
    if who is None:
        return -ESRCH  # (a thread of another process is not looked for: no ptrace here)
    t.proc.aspace.write(a[1], struct.pack("<I", who.robust_list))
    t.proc.aspace.write(a[2], struct.pack("<I", ROBUST_HEAD))
    return 0



"""futex_time64: wait, wake and requeue on a word of the process's memory."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EAGAIN, EINVAL, ENOSYS, ETIMEDOUT
from shoal.kernel.calls.common import EPOCH_NS, ns_to_cycles, read_timespec
from shoal.kernel.container import Thread

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 0, 1, 3, 4
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_CLOCK_REALTIME = 256


def futex_wake(k: Kernel, pid: int, addr: int, n: int, bits: int, now: int) -> int:
    q = k.sched.futexes.get((pid, addr), [])
    woken = 0
    for w in list(q):
        if woken >= n:
            break
        if w.wait_bits & bits:
            k.wake(w, now, 0)
            woken += 1
    return woken


def sys_futex(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, op, val, tsp, addr2, val3 = a
    cmd = op & 127
    if addr & 3:
        return -EINVAL
    pid = t.proc.pid
    now = k.now()
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
                base = EPOCH_NS if op & FUTEX_CLOCK_REALTIME else 0
                deadline = ns_to_cycles(k, max(ns - base, 0)) + t.proc.move.clock_offset
        if struct.unpack("<I", t.proc.aspace.read(addr, 4))[0] != val:
            return -EAGAIN
        if t.restart_deadline is not None:  # redone after a freeze: the original deadline holds
            deadline = t.restart_deadline + t.proc.move.clock_offset
        if deadline is not None and deadline <= now:
            return -ETIMEDOUT
        k.block(t, (pid, addr), deadline, bits, timeout_value=-ETIMEDOUT)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bits = val3 if cmd == FUTEX_WAKE_BITSET else 0xFFFFFFFF
        if bits == 0:
            return -EINVAL
        t.proc.aspace.read(addr, 4)
        return futex_wake(k, pid, addr, val, bits, now)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        if addr2 & 3:
            return -EINVAL
        if cmd == FUTEX_CMP_REQUEUE and struct.unpack("<I", t.proc.aspace.read(addr, 4))[0] != val3:
            return -EAGAIN
        woken = futex_wake(k, pid, addr, val, 0xFFFFFFFF, now)
        moved = 0
        src = k.sched.futexes.get((pid, addr), [])
        while src and moved < tsp:  # the fourth argument is the requeue count here
            w = src.pop(0)
            w.wait_key = (pid, addr2)
            k.sched.futexes.setdefault((pid, addr2), []).append(w)
            moved += 1
        if not src:
            k.sched.futexes.pop((pid, addr), None)
        return woken + moved
    return -ENOSYS

"""Timers that signal: getitimer, setitimer (and so alarm), timer_create, timer_settime64,
timer_gettime64, timer_getoverrun, timer_delete (kernel/timers.py keeps them)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EAGAIN, EINVAL, EOPNOTSUPP
from shoal.kernel import timers
from shoal.kernel.calls.common import cycles_to_ns, ns_to_cycles, refused, rt_epoch, s32
from shoal.kernel.container import Thread
from shoal.kernel.signals import NSIG

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME = 0, 1, 7
TIMER_ABSTIME = 1
NS = 1_000_000_000
DELAYTIMER_MAX = 0x7FFFFFFF  # (Linux's cap of an overrun count)


def _tv(k: Kernel, cycles: int) -> tuple[int, int]:
    """A struct timeval (seconds, microseconds) of `cycles`, rounded up as Linux reports."""
    us = -(-cycles_to_ns(k, cycles) // 1000) if cycles else 0
    return us // 1_000_000, us % 1_000_000


def _read_itimerval(t: Thread, addr: int) -> tuple[int, int] | None:
    """(interval ns, value ns) of a struct itimerval (32-bit longs on riscv32); None: invalid."""
    isec, iusec, vsec, vusec = struct.unpack("<iiii", t.proc.aspace.read(addr, 16))
    if min(isec, iusec, vsec, vusec) < 0 or iusec >= 1_000_000 or vusec >= 1_000_000:
        return None
    return (isec * 1_000_000 + iusec) * 1000, (vsec * 1_000_000 + vusec) * 1000


KEYS = {ITIMER_REAL: timers.REAL, ITIMER_VIRTUAL: timers.VIRTUAL, ITIMER_PROF: timers.PROF}


def _write_itimerval(k: Kernel, t: Thread, addr: int, key: int) -> None:
    tm = t.proc.timers.get(key)
    value = timers.left(k, tm, k.now(), t.proc) if tm is not None else 0
    interval = tm.interval if tm is not None else 0
    t.proc.aspace.write(addr, struct.pack("<iiii", *_tv(k, interval), *_tv(k, value)))


def sys_getitimer(k: Kernel, t: Thread, a: list[int]) -> int:
    which = s32(a[0])
    if which not in KEYS:
        return -EINVAL
    _write_itimerval(k, t, a[1], KEYS[which])
    return 0


def sys_setitimer(k: Kernel, t: Thread, a: list[int]) -> int:
    """ITIMER_REAL counts the chip's time, ITIMER_VIRTUAL the process's user CPU time and
    ITIMER_PROF its user and system time (timers.py's CPU-time timers); SIGALRM, SIGVTALRM,
    SIGPROF."""
    which, new, old = s32(a[0]), a[1], a[2]
    if which not in KEYS:
        return -EINVAL
    got = _read_itimerval(t, new) if new else (0, 0)
    if got is None:
        return -EINVAL
    key = KEYS[which]
    if old:
        _write_itimerval(k, t, old, key)
    p = t.proc
    tm = p.timers.setdefault(key, timers.interval_timer(key))
    interval, value = got
    base = k.now() if key == timers.REAL else timers.cpu_now(k, p, tm.clock) or 0
    timers.arm(k, p, key, base + ns_to_cycles(k, value) if value else None, ns_to_cycles(k, interval))
    return 0


def sys_timer_create(k: Kernel, t: Thread, a: list[int]) -> int:
    clock, sev, out = s32(a[0]), a[1], a[2]
    if clock < 0 and clock & 7 == 3:  # (Linux's CLOCKFD: a clock device's, which has no timers)
        return -EOPNOTSUPP
    if clock not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME):
        got = timers.cpu_clock(k, t, clock, gettime=False)
        if got is None:
            return -EINVAL
        if isinstance(got, int) or got[0] is not t.proc:  # another process's CPU time (Linux has it)
            return refused(t, 107, EINVAL)
        _, x, which = got  # kept as a dynamic id naming this process (pid 0) or one of its threads
        clock = ~x.tid << 3 | timers.CPUCLOCK_PERTHREAD | which if x is not None else ~0 << 3 | which
    p = t.proc
    key = next((i for i in range(timers.MAX_TIMERS) if i not in p.timers), None)
    if key is None:
        return -EAGAIN
    if sev:
        value, signo, notify, tid = struct.unpack("<Iiii", p.aspace.read(sev, 16))
    else:
        value, signo, notify, tid = key, 14, timers.SIGEV_SIGNAL, 0  # SIGALRM, the id as value
    if notify not in (timers.SIGEV_SIGNAL, timers.SIGEV_NONE, timers.SIGEV_THREAD_ID):
        return -EINVAL  # (SIGEV_THREAD is musl's, made of SIGEV_THREAD_ID)
    if notify != timers.SIGEV_NONE and not 1 <= signo <= NSIG:
        return -EINVAL
    if notify == timers.SIGEV_THREAD_ID and not any(x.tid == tid for x in p.threads):
        return -EINVAL
    p.aspace.write(out, struct.pack("<i", key))
    p.timers[key] = timers.Timer(clock, signo, notify, tid, value)
    return 0


def _posix(t: Thread, tid: int) -> timers.Timer | None:
    return t.proc.timers.get(tid) if tid >= 0 else None


def _read_itimerspec(t: Thread, addr: int) -> tuple[int, int] | None:
    """(interval ns, value ns) of a struct itimerspec64; None: invalid."""
    isec, insec, vsec, vnsec = struct.unpack("<qqqq", t.proc.aspace.read(addr, 32))
    insec, vnsec = insec & 0xFFFFFFFF, vnsec & 0xFFFFFFFF  # (the kernel reads 32-bit longs)
    if isec < 0 or vsec < 0 or insec >= NS or vnsec >= NS:
        return None
    return isec * NS + insec, vsec * NS + vnsec


def _write_itimerspec(k: Kernel, t: Thread, addr: int, tm: timers.Timer) -> None:
    rest, interval = cycles_to_ns(k, timers.left(k, tm, k.now(), t.proc)), cycles_to_ns(k, tm.interval)
    t.proc.aspace.write(addr, struct.pack("<qqqq", interval // NS, interval % NS, rest // NS, rest % NS))


def sys_timer_settime(k: Kernel, t: Thread, a: list[int]) -> int:
    key, flags, new, old = s32(a[0]), a[1], a[2], a[3]
    tm = _posix(t, key)
    if tm is None or flags & ~TIMER_ABSTIME:
        return -EINVAL
    got = _read_itimerspec(t, new)
    if got is None:
        return -EINVAL
    if old:
        _write_itimerspec(k, t, old, tm)
    interval, value = got
    now = k.now()
    at = None
    if value and tm.clock < 0:  # a value of its CPU-time clock (timers.py)
        base = 0 if flags & TIMER_ABSTIME else timers.cpu_now(k, t.proc, tm.clock) or 0
        at = base + ns_to_cycles(k, value)
    elif value:
        if flags & TIMER_ABSTIME:
            base = rt_epoch(k) if tm.clock == CLOCK_REALTIME else 0
            at = max(now, ns_to_cycles(k, max(value - base, 0)) + t.proc.move.clock_offset)
        else:
            at = now + ns_to_cycles(k, value)
    timers.arm(k, t.proc, key, at, ns_to_cycles(k, interval))
    # (an absolute CLOCK_REALTIME expiry follows clock_settime: time.set_realtime)
    tm.absolute = bool(value and flags & TIMER_ABSTIME and tm.clock == CLOCK_REALTIME)
    if tm.clock < 0:
        timers.cpu_check(k, t.proc, now)  # (one already due fires now, as Linux's)
    return 0


def sys_timer_gettime(k: Kernel, t: Thread, a: list[int]) -> int:
    tm = _posix(t, s32(a[0]))
    if tm is None:
        return -EINVAL
    _write_itimerspec(k, t, a[1], tm)
    return 0


def sys_timer_getoverrun(k: Kernel, t: Thread, a: list[int]) -> int:
    tm = _posix(t, s32(a[0]))
    return -EINVAL if tm is None else min(tm.last, DELAYTIMER_MAX)


def sys_timer_delete(k: Kernel, t: Thread, a: list[int]) -> int:
    key = s32(a[0])
    tm = _posix(t, key)
    if tm is None:
        return -EINVAL
    tm.gen += 1  # an armed expiry finds it gone
    del t.proc.timers[key]
    return 0

"""Clocks and sleeping: clock_gettime64, clock_getres_time64, clock_nanosleep_time64,
clock_settime64.

CPU-time clocks are Linux's: CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID, and the
dynamic ids of clock_getcpuclockid/pthread_getcpuclockid (negative: ~pid << 3, bit 2 a thread's,
the low two bits PROF, VIRT or SCHED; pid 0 the caller's). User time is the simulated
instructions and their stall cycles; system time each call's fixed cost (sysinfo.py's times);
SCHED and VIRT are the user time, PROF adds the system time. A thread's clock is readable by its
own process only (Linux's rule); a process's anywhere: one on another cluster is asked by a
`sched_op` routed by pid (prio.py)."""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import EINVAL, EPERM, ESRCH, INIT_PID
from shoal.kernel import timers
from shoal.kernel.calls.common import EPOCH_NS, cycles_to_ns, ns_to_cycles, read_timespec, rt_epoch, s32
from shoal.kernel.calls.cred import EUID
from shoal.kernel.container import Thread, TState
from shoal.kernel.timers import cpu_clock, cpu_cycles
from shoal.messages import ClockSet, Kind

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME, CLOCK_THREAD_CPUTIME = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7


def clock_ns(k: Kernel, t: Thread, clock: int) -> int | None:
    # The process's own clock: the chip's, less the offset a restore from an image put in,
    # so that it goes on from where the image was taken and never goes back.
    now = cycles_to_ns(k, k.now() - t.proc.move.clock_offset)
    if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE):
        return rt_epoch(k) + now
    if clock in (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME):
        return now
    got = cpu_clock(k, t, clock)
    if got is None or isinstance(got, int):
        return None
    p, x, which = got
    return cycles_to_ns(k, cpu_cycles(k, p, x, which))


def _remote(k: Kernel, t: Thread, pid: int, which: int, then: Callable[[int], int]) -> object:
    """Clock `which` of process `pid` on another cluster, asked of its kernel (ns, or -ESRCH)."""
    from shoal.kernel.calls import prio  # (prio's sched_op carries the question)
    if pid == INIT_PID:  # init is the host (signal.py's kill): it exists, and runs no chip time
        return then(0)
    return prio._ask(k, t, pid, prio.CPU_TIME, lambda ret: then(-EINVAL if ret == -ESRCH else ret), which)


def sys_clock_gettime(k: Kernel, t: Thread, a: list[int]) -> object:
    clock, out = s32(a[0]), a[1]

    def write(ns: int) -> int:
        if ns >= 0:
            t.proc.aspace.write(out, struct.pack("<qii", ns // 1_000_000_000, ns % 1_000_000_000, 0))
        return min(ns, 0)
    if clock < 0:
        got = cpu_clock(k, t, clock)
        if isinstance(got, int):
            return _remote(k, t, got, clock & 3, write)
    ns = clock_ns(k, t, clock)
    return -EINVAL if ns is None else write(ns)


def sys_clock_getres(k: Kernel, t: Thread, a: list[int]) -> object:
    clock = s32(a[0])

    def write(ret: int) -> int:
        if ret >= 0 and a[1]:
            res = max(1, 1_000_000_000 // k.spec.cluster.freq_hz)
            t.proc.aspace.write(a[1], struct.pack("<qii", 0, res, 0))
        return min(ret, 0)
    if clock < 0:
        got = cpu_clock(k, t, clock, gettime=False)
        if isinstance(got, int):  # a process elsewhere: it must exist (musl's clock_getcpuclockid)
            return _remote(k, t, got, clock & 3, write)
    return write(-EINVAL if clock_ns(k, t, clock) is None else 0)


def sys_clock_nanosleep(k: Kernel, t: Thread, a: list[int]) -> int:
    clock, flags, req = s32(a[0]), a[1], a[2]
    if clock not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME):
        return -EINVAL
    ns = read_timespec(t, req)
    if ns is None:
        return -EINVAL
    now = k.now()
    absolute = clock == CLOCK_REALTIME and flags & 1
    if flags & 1:  # TIMER_ABSTIME
        base = rt_epoch(k) if clock == CLOCK_REALTIME else 0
        deadline = ns_to_cycles(k, max(ns - base, 0)) + t.proc.move.clock_offset
    else:
        deadline = now + ns_to_cycles(k, ns)
    if t.restart_deadline is not None:  # redone after a freeze: the original deadline holds
        deadline = t.restart_deadline + t.proc.move.clock_offset
        absolute = False
    if deadline <= now:
        return 0
    t.call.realtime_at = (ns, deadline) if absolute else None  # (a clock_settime moves it: set_realtime)
    k.block(t, None, deadline, why="sleep")
    return 0


def sys_clock_settime(k: Kernel, t: Thread, a: list[int]) -> object:
    """clock_settime(2): only CLOCK_REALTIME is settable, by root (CAP_SYS_TIME), as on Linux
    (a CPU-time clock's dynamic id: EPERM; others EINVAL). The setting is the chip's: this cluster takes it
    at once, every other one when its packet comes (one NoC crossing later), so that every
    process on every cluster reads it, as on one machine."""
    clock, ts = s32(a[0]), a[1]
    sec, nsec = struct.unpack("<qi", t.proc.aspace.read(ts, 12))
    if clock < 0:  # a CPU-time clock by id (Linux's posix_cpu_clock_set: EPERM once valid)
        got = cpu_clock(k, t, clock, gettime=False)
        if got is None:
            return -EINVAL
        return -EPERM if not isinstance(got, int) or got == INIT_PID else _exists(k, t, got)
    if clock != CLOCK_REALTIME:
        return -EINVAL  # (the monotonic, coarse, CLOCK_*_CPUTIME_ID, TAI clocks: not settable)
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        return -EINVAL
    if t.proc.user.ids[EUID] != 0:
        return -EPERM
    now = k.now()
    own = cycles_to_ns(k, now - t.proc.move.clock_offset)
    setting = (sec * 1_000_000_000 + nsec - EPOCH_NS - own, now, k.cluster)
    set_realtime(k, setting, now)
    for c in range(k.spec.compute_clusters):
        if c != k.cluster:
            k.send(c, ClockSet(realtime=list(setting)), at=now)
    return 0


def _exists(k: Kernel, t: Thread, pid: int) -> object:
    """EPERM if process `pid` (elsewhere) exists, else EINVAL: setting its CPU-time clock."""
    from shoal.kernel.calls import prio
    return prio._ask(k, t, pid, prio.WHERE, lambda ret: -EPERM if ret == 0 else -EINVAL)


def set_realtime(k: Kernel, setting: tuple[int, int, int], at: int) -> None:
    """CLOCK_REALTIME moves here (`setting`: ns added to the epoch, when, by which cluster),
    unless a later setting is already here: absolute CLOCK_REALTIME sleeps and timers follow
    it (Linux's clock_was_set), relative ones do not."""
    old = k.core.realtime
    if (setting[1], setting[2]) <= (old[1], old[2]):
        return
    k.core.realtime = setting
    delta = setting[0] - old[0]
    for p in k.procs:
        for x in p.threads:
            w = x.call.realtime_at
            if w is not None and x.state is TState.BLOCKED and x.deadline == w[1]:
                deadline = max(at, ns_to_cycles(k, max(w[0] - rt_epoch(k), 0)) + p.move.clock_offset)
                x.call.realtime_at, x.deadline = (w[0], deadline), deadline
                heapq.heappush(k.sched.sleepers, (deadline, x.tid, x))
        for key, tm in sorted(p.timers.items()):
            if tm.absolute and tm.at is not None:
                timers.arm(k, p, key, max(at, tm.at - ns_to_cycles(k, delta)), tm.interval)
                tm.absolute = True


def on_clock_set(k: Kernel, pkt: Packet, at: int) -> None:
    """Another cluster's clock_settime."""
    set_realtime(k, tuple(pkt.body.realtime), at)  # type: ignore[arg-type]


HANDLERS = {Kind.CLOCK_SET: on_clock_set}

"""Clocks and sleeping: clock_gettime64, clock_getres_time64, clock_nanosleep_time64."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EINVAL
from shoal.kernel.calls.common import EPOCH_NS, cycles_to_ns, ns_to_cycles, read_timespec, s32
from shoal.kernel.container import Thread

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME, CLOCK_THREAD_CPUTIME = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7


def clock_ns(k: Kernel, t: Thread, clock: int) -> int | None:
    # The process's own clock: the chip's, less the offset a restore from an image put in,
    # so that it goes on from where the image was taken and never goes back.
    now = cycles_to_ns(k, k.now() - t.proc.move.clock_offset)
    if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE):
        return EPOCH_NS + now
    if clock in (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME):
        return now
    # CPU time: instructions and the cycles they stalled on cache misses (running slice included).
    if clock == CLOCK_PROCESS_CPUTIME:
        return cycles_to_ns(k, (t.proc.instructions + k.cpu.executed()) * k.spec.costs.cpi
                            + t.proc.stats.caches[6] + k.cpu.stalled())
    if clock == CLOCK_THREAD_CPUTIME:
        return cycles_to_ns(k, (t.instructions + k.cpu.executed()) * k.spec.costs.cpi + t.stall
                            + k.cpu.stalled())
    return None


def sys_clock_gettime(k: Kernel, t: Thread, a: list[int]) -> int:
    ns = clock_ns(k, t, s32(a[0]))
    if ns is None:
        return -EINVAL
    t.proc.aspace.write(a[1], struct.pack("<qii", ns // 1_000_000_000, ns % 1_000_000_000, 0))
    return 0


def sys_clock_getres(k: Kernel, t: Thread, a: list[int]) -> int:
    if clock_ns(k, t, s32(a[0])) is None:
        return -EINVAL
    if a[1]:
        res = max(1, 1_000_000_000 // k.spec.cluster.freq_hz)
        t.proc.aspace.write(a[1], struct.pack("<qii", 0, res, 0))
    return 0


def sys_clock_nanosleep(k: Kernel, t: Thread, a: list[int]) -> int:
    clock, flags, req = s32(a[0]), a[1], a[2]
    if clock not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME):
        return -EINVAL
    ns = read_timespec(t, req)
    if ns is None:
        return -EINVAL
    now = k.now()
    if flags & 1:  # TIMER_ABSTIME
        base = EPOCH_NS if clock == CLOCK_REALTIME else 0
        deadline = ns_to_cycles(k, max(ns - base, 0)) + t.proc.move.clock_offset
    else:
        deadline = now + ns_to_cycles(k, ns)
    if t.restart_deadline is not None:  # redone after a freeze: the original deadline holds
        deadline = t.restart_deadline + t.proc.move.clock_offset
    if deadline <= now:
        return 0
    k.block(t, None, deadline, why="sleep")
    return 0

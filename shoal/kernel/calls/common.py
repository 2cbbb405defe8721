"""What the system calls share: the call's type, argument and time conversions."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import ENOSYS

if TYPE_CHECKING:
    from shoal.kernel.container import Thread
    from shoal.kernel.kernel import Kernel

# A call gets the kernel, the calling thread and its six arguments; it returns the value for
# a0 (negative errno on error), raises Block (or returns SLEEPS: Kernel.sleep), or returns
# STOPPED.
Syscall = Callable[["Kernel", "Thread", list[int]], object]
# Wall-clock time shown to guests: a fixed epoch (2026-01-01T00:00:00Z) plus simulated time,
# so that runs are reproducible.
EPOCH_NS = 1_767_225_600 * 1_000_000_000
STOPPED = object()  # the call already ended the slice (exit, yield): a0 is left as it is


def rt_epoch(k: Kernel) -> int:
    """What CLOCK_REALTIME reads (ns) where a process's own clock reads 0: the epoch, moved by
    clock_settime (KernelCore.realtime)."""
    return EPOCH_NS + k.core.realtime[0]


def s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def charge_copy(k: Kernel, n: int) -> None:
    k.charge(int(n * k.spec.costs.copy_cycles_per_byte))


def read_timespec(t: Thread, addr: int) -> int | None:
    """A struct timespec64 (s64 seconds, long nanoseconds) as ns; None if invalid."""
    sec, nsec = struct.unpack("<qi", t.proc.aspace.read(addr, 12))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        return None
    return sec * 1_000_000_000 + nsec


def ns_to_cycles(k: Kernel, ns: int) -> int:
    return -(-ns * k.spec.cluster.freq_hz // 1_000_000_000)


def cycles_to_ns(k: Kernel, cycles: int) -> int:
    return cycles * 1_000_000_000 // k.spec.cluster.freq_hz


def refused(t: Thread, num: int, err: int = ENOSYS) -> int:
    """A call shoal knows but not with these arguments (Linux would serve them): -err, counted
    with the unknown calls (--stats)."""
    t.proc.stats.unknown_syscalls[num] += 1
    return -err


def unmodelled(t: Thread, num: int) -> None:
    """A call granted something shoal keeps and reports but does not model (a real-time
    policy): counted with the unknown calls (--stats), though it succeeded, as Linux's would."""
    t.proc.stats.unknown_syscalls[num] += 1

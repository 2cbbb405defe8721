"""What the system says of itself: uname, getrandom, sysinfo, times, getrusage."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EINVAL
from shoal.kernel.calls.common import charge_copy, cycles_to_ns, s32
from shoal.kernel.container import Thread

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


def sys_uname(k: Kernel, t: Thread, a: list[int]) -> int:
    fields = [b"Linux", f"shoal-cluster{k.cluster}".encode(), b"6.1.0-shoal", b"#1 shoal",
              b"riscv32", b"(none)"]
    t.proc.aspace.write(a[0], b"".join(f.ljust(65, b"\0") for f in fields))
    return 0


def sys_getrandom(k: Kernel, t: Thread, a: list[int]) -> int:
    buf, n, flags = a[0], a[1], a[2]
    if flags & ~7:
        return -EINVAL
    n = min(n, 1 << 20)
    t.proc.aspace.write(buf, t.proc.random_bytes(n))
    charge_copy(k, n)
    return n


CLK_TCK = 100  # clock ticks a second (sysconf(_SC_CLK_TCK) on Linux)
RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1


def _cpu_cycles(k: Kernel, t: Thread, thread_only: bool = False) -> int:
    """Cycles the process's (or the thread's) user code took: instructions and their stalls,
    the running slice's included, as its CPU-time clocks count them (kernel/calls/time.py)."""
    cpi, cpu = k.spec.costs.cpi, k.cpu
    if thread_only:
        return (t.instructions + cpu.executed()) * cpi + t.stall + cpu.stalled()
    return (t.proc.instructions + cpu.executed()) * cpi + t.proc.stats.caches[6] + cpu.stalled()


def _kernel_cycles(k: Kernel, t: Thread) -> int:
    """The kernel's time for the process: each call's fixed cost (the model's, no more)."""
    return sum(t.proc.stats.syscalls.values()) * k.spec.costs.syscall_cycles


def sys_times(k: Kernel, t: Thread, a: list[int]) -> int:
    """times(2): user and system time in clock ticks, the process's and its reaped children's
    (their own reaped children's included); the ticks since the process's clock began."""
    tick = k.spec.cluster.freq_hz // CLK_TCK
    if a[0]:
        user, system = _cpu_cycles(k, t) // tick, _kernel_cycles(k, t) // tick
        cu, cs = (c // tick for c in t.proc.stats.children)
        t.proc.aspace.write(a[0], struct.pack("<iiii", user, system, cu, cs))
    return ((k.now() - t.proc.move.clock_offset) // tick) & 0x7FFFFFFF


def _timevals(k: Kernel, user: int, system: int) -> tuple[int, int, int, int]:
    """Two struct timevals (seconds, microseconds) of `user` and `system` cycles."""
    u, s = cycles_to_ns(k, user) // 1000, cycles_to_ns(k, system) // 1000
    return u // 1_000_000, u % 1_000_000, s // 1_000_000, s % 1_000_000


def sys_getrusage(k: Kernel, t: Thread, a: list[int]) -> int:
    """getrusage(2) on riscv32: two old timevals (32-bit) and fourteen longs (72 bytes). User
    and system time, the peak resident set (KiB) and the page faults; the rest 0. Of the
    reaped children: their times only."""
    who = s32(a[0])
    if who not in (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD):
        return -EINVAL
    if who == RUSAGE_CHILDREN:
        tv = _timevals(k, *t.proc.stats.children)
        t.proc.aspace.write(a[1], struct.pack("<iiii", *tv).ljust(72, b"\0"))
        return 0
    maxrss = t.proc.stats.peak_frames * k.spec.cluster.page_size // 1024
    longs = [maxrss, 0, 0, 0, t.proc.aspace.faults, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    tv = _timevals(k, _cpu_cycles(k, t, who == RUSAGE_THREAD), _kernel_cycles(k, t))
    t.proc.aspace.write(a[1], struct.pack("<iiii14i", *tv, *longs))
    return 0


def sys_sysinfo(k: Kernel, t: Thread, a: list[int]) -> int:
    """sysinfo(2) of the cluster the process runs on: its memory, its processes, the chip's
    uptime (struct sysinfo of a 32-bit Linux, 64 bytes, mem_unit 1)."""
    up = cycles_to_ns(k, k.now() - t.proc.move.clock_offset) // 1_000_000_000
    total = k.spec.user_frames * k.spec.cluster.page_size
    free = k.frames.free * k.spec.cluster.page_size
    procs = sum(1 for p in k.procs if p.alive)
    t.proc.aspace.write(a[0], struct.pack("<i3I6IHHIII8x", up, 0, 0, 0, total, free, 0, 0, 0, 0,
                                          min(procs, 0xFFFF), 0, 0, 0, 1))
    return 0

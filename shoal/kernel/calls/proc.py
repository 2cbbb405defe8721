"""Threads and processes: set_tid_address, set_robust_list, exit, exit_group,
sched_yield, getpid, gettid (the user's ids: cred.py); limits and placement: prlimit64,
sched_getaffinity. (Signals: kernel/calls/signal.py; clone, fork, exec, wait: fork.py.)"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EINVAL, EPERM, ESRCH
from shoal.kernel.calls.common import STOPPED, refused, s32
from shoal.kernel.container import Thread, TState
from shoal.kernel.futexes import futex_wake, key_of, pi_exit, robust_walk
from shoal.kernel.memory import Fault, OutOfFrames
from shoal.kernel.signals import NSIG
from shoal.kernel.stops import Stop
from shoal.platform.cpu import REG_A

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


def sys_set_tid_address(k: Kernel, t: Thread, a: list[int]) -> int:
    t.clear_tid = a[0]
    return t.tid


def sys_exit(k: Kernel, t: Thread, a: list[int]) -> object:
    now = k.now()
    p = t.proc
    robust_walk(k, t)  # (before clear_tid, as Linux's mm_release)
    pi_exit(k, t)
    if t.clear_tid:
        try:
            p.aspace.write(t.clear_tid, b"\0\0\0\0")
            futex_wake(k, key_of(t, t.clear_tid, False), 1, 0xFFFFFFFF, now)
        except (Fault, OutOfFrames):
            pass  # as on Linux, a bad clear_tid address is ignored at thread exit
    t.state = TState.DEAD
    t.blocked_at = now  # its last cycle (a deadlock of the threads left is no earlier)
    if all(x.state is TState.DEAD for x in p.threads):
        k.kill(p, None, a[0] & 0xFF, "", now)
    else:
        k.sched.stop_reason = Stop.DEAD
        k.cpu.stop()
    return STOPPED


def sys_exit_group(k: Kernel, t: Thread, a: list[int]) -> object:
    k.kill(t.proc, None, a[0] & 0xFF, "", k.now())
    return STOPPED


def sys_sched_yield(k: Kernel, t: Thread, a: list[int]) -> object:
    k.cpu.regs.set_reg(REG_A[0], 0)
    if k.sched.ready:
        k.sched.stop_reason = Stop.YIELD
        k.cpu.stop()
    return STOPPED


def sys_getpid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.proc.pid


def sys_gettid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.tid


RLIM_INFINITY = (1 << 64) - 1


RLIMIT_STACK, RLIMIT_NOFILE, RLIMIT_NICE, RLIMIT_RTPRIO, RLIM_NLIMITS = 3, 7, 13, 14, 16


def sys_prlimit64(k: Kernel, t: Thread, a: list[int]) -> int:
    """Limits as Linux keeps them: the old pair is written first, then the new one is set.
    Soft may go up to hard, both may go down; raising hard is EPERM (no process on the chip has
    CAP_SYS_RESOURCE). A process's own limits are kept in Container.rlimits (they travel in
    its image); RLIMIT_NOFILE is enforced on new descriptors (kernel/files.py)."""
    pid, res, new, old = s32(a[0]), a[1], a[2], a[3]
    if pid not in (0, t.proc.pid):
        return -ESRCH
    if res >= RLIM_NLIMITS:
        return -EINVAL
    cur = t.proc.rlimits.get(res)
    if cur is None:
        v = {RLIMIT_STACK: k.spec.limits.stack_limit, RLIMIT_NOFILE: 1024, RLIMIT_NICE: 0,
             RLIMIT_RTPRIO: 0}.get(res, RLIM_INFINITY)  # (Linux's defaults)
        cur = [v, v]
    soft = hard = 0
    if new:
        soft, hard = struct.unpack("<QQ", t.proc.aspace.read(new, 16))
        if soft > hard:
            return -EINVAL
    if old:
        t.proc.aspace.write(old, struct.pack("<QQ", *cur))
    if new:
        if hard > cur[1]:
            return -EPERM
        t.proc.rlimits[res] = [soft, hard]
    return 0


def sys_sched_getaffinity(k: Kernel, t: Thread, a: list[int]) -> int:
    size, buf = a[1], a[2]
    n = k.spec.cluster.cores_per_cluster
    nbytes = (n + 31) // 32 * 4
    if size < nbytes:
        return -EINVAL
    t.proc.aspace.write(buf, ((1 << n) - 1).to_bytes(nbytes, "little"))
    return nbytes


PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_SET_NAME, PR_GET_NAME = 1, 2, 15, 16


def sys_prctl(k: Kernel, t: Thread, a: list[int]) -> int:
    """The thread's name (PR_SET_NAME, PR_GET_NAME: 16 bytes with the NUL, as Linux's comm);
    the parent-death signal (PR_SET_PDEATHSIG, PR_GET_PDEATHSIG: sent when the process
    manager re-parents it, calls/fork.py on_reparent); another option is EINVAL, counted as
    refused (--stats)."""
    opt, arg = a[0], a[1]
    if opt == PR_SET_PDEATHSIG:
        if arg > NSIG:  # (unsigned: a negative one too)
            return -EINVAL
        t.proc.family.pdeathsig = arg
        return 0
    if opt == PR_GET_PDEATHSIG:  # (a bad address: the memory fault is EFAULT, kernel/entry.py)
        t.proc.aspace.write(arg, struct.pack("<i", t.proc.family.pdeathsig))
        return 0
    if opt == PR_SET_NAME:
        raw = bytearray()
        while len(raw) < 15:  # at most 15 bytes, a byte at a time (strncpy_from_user)
            c = t.proc.aspace.read(arg + len(raw), 1)
            if c == b"\0":
                break
            raw += c
        t.comm = raw.decode("latin-1")
        return 0
    if opt == PR_GET_NAME:
        name = (t.proc.name if t.comm is None else t.comm).encode("latin-1", "replace")[:15]
        t.proc.aspace.write(arg, name.ljust(16, b"\0"))
        return 0
    return refused(t, 167, EINVAL)

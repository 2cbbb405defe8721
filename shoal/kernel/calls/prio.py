"""Scheduling policy and niceness as Linux reports them: sched_get_priority_max/min,
sched_getscheduler/sched_setscheduler, sched_getparam/sched_setparam, getpriority/setpriority,
getcpu. Every thread runs under SCHED_OTHER (shoal's scheduler is round robin, kernel/sched.py);
another policy (or SCHED_RESET_ON_FORK) is not modelled: asking for one is EPERM, counted as
refused (--stats). A process's nice value (Container.sched.nice) is kept, inherited by fork, kept by
exec and carried in its image, but the scheduler does not read it. Another process is found
among this cluster's; one on another cluster is ESRCH."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EACCES, EINVAL, EPERM, ESRCH
from shoal.kernel.calls.common import refused, s32
from shoal.kernel.calls.cred import EUID, RUID

if TYPE_CHECKING:
    from shoal.kernel.container import Container, Thread
    from shoal.kernel.kernel import Kernel

SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
SCHED_RESET_ON_FORK = 0x40000000
PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
RLIMIT_NICE = 13
NR_SETSCHEDULER, NR_SETPARAM = 119, 118


def _find(k: Kernel, t: Thread, pid: int) -> Container | None:
    if pid in (0, t.proc.pid):
        return t.proc
    for p in k.procs:
        if p.pid == pid and p.alive:
            return p
    return None


def sys_sched_get_priority_max(k: Kernel, t: Thread, a: list[int]) -> int:
    policy = s32(a[0])
    if policy in (SCHED_FIFO, SCHED_RR):
        return 99
    return 0 if policy in (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE) else -EINVAL


def sys_sched_get_priority_min(k: Kernel, t: Thread, a: list[int]) -> int:
    policy = s32(a[0])
    if policy in (SCHED_FIFO, SCHED_RR):
        return 1
    return 0 if policy in (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE) else -EINVAL


def sys_sched_getscheduler(k: Kernel, t: Thread, a: list[int]) -> int:
    pid = s32(a[0])
    if pid < 0:
        return -EINVAL
    return SCHED_OTHER if _find(k, t, pid) is not None else -ESRCH


def sys_sched_getparam(k: Kernel, t: Thread, a: list[int]) -> int:
    pid, param = s32(a[0]), a[1]
    if pid < 0 or not param:
        return -EINVAL
    if _find(k, t, pid) is None:
        return -ESRCH
    t.proc.aspace.write(param, struct.pack("<i", 0))
    return 0


def _set(k: Kernel, t: Thread, num: int, pid: int, policy: int, param: int) -> int:
    """Linux's do_sched_setscheduler then __sched_setscheduler's checks, in their order."""
    if pid < 0 or not param:
        return -EINVAL
    (prio,) = struct.unpack("<I", t.proc.aspace.read(param, 4))
    if _find(k, t, pid) is None:
        return -ESRCH
    if policy < 0:  # sched_setparam: the current policy
        policy = SCHED_OTHER
    reset, policy = policy & SCHED_RESET_ON_FORK, policy & ~SCHED_RESET_ON_FORK
    if policy not in (SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE):
        return -EINVAL
    rt = policy in (SCHED_FIFO, SCHED_RR)
    if prio > 99 or rt != (prio != 0) or policy == SCHED_DEADLINE:  # (no deadline parameters here)
        return -EINVAL
    if policy != SCHED_OTHER or reset:
        return refused(t, num, EPERM)  # a policy or flag shoal's scheduler does not have
    return 0


def sys_sched_setscheduler(k: Kernel, t: Thread, a: list[int]) -> int:
    policy = s32(a[1])
    if policy < 0:
        return -EINVAL
    return _set(k, t, NR_SETSCHEDULER, s32(a[0]), policy, a[2])


def sys_sched_setparam(k: Kernel, t: Thread, a: list[int]) -> int:
    return _set(k, t, NR_SETPARAM, s32(a[0]), -1, a[1])


def _targets(k: Kernel, t: Thread, which: int, who: int) -> list[Container] | None:
    """The processes `which`/`who` names (None: a bad `which`). A group or a user names this
    process alone when it is the caller's own (shoal keeps no index of either)."""
    if not PRIO_PROCESS <= which <= PRIO_USER:
        return None
    if which == PRIO_PROCESS:
        p = _find(k, t, who)
        return [p] if p is not None else []
    if which == PRIO_USER:
        return [t.proc] if who in (0, t.proc.user.ids[RUID]) else []
    return [t.proc] if who in (0, t.proc.pid) else []


def sys_getpriority(k: Kernel, t: Thread, a: list[int]) -> int:
    """20 - nice of the highest-priority process named (libc turns it back into a nice)."""
    ps = _targets(k, t, s32(a[0]), s32(a[1]))
    if ps is None:
        return -EINVAL
    return max((20 - p.sched.nice for p in ps), default=-ESRCH)


def sys_setpriority(k: Kernel, t: Thread, a: list[int]) -> int:
    """Linux's set_one_prio: another owner's process needs root (EPERM); a lower nice than the
    process has needs root or RLIMIT_NICE (EACCES)."""
    ps = _targets(k, t, s32(a[0]), s32(a[1]))
    if ps is None:
        return -EINVAL
    nice = min(max(s32(a[2]), -20), 19)
    me = t.proc.user.ids
    root = me[EUID] == 0
    ret = -ESRCH
    for p in ps:
        if not root and p.user.ids[EUID] not in (me[RUID], me[EUID]):
            ret = -EPERM
            continue
        lim = p.rlimits.get(RLIMIT_NICE, [0, 0])[0]
        if nice < p.sched.nice and not root and 20 - nice > lim:
            ret = -EACCES
            continue
        p.sched.nice, ret = nice, 0
    return ret


def sys_getcpu(k: Kernel, t: Thread, a: list[int]) -> int:
    """The hart the thread runs on as the cpu, its cluster as the NUMA node."""
    cpu, node = a[0], a[1]
    hart = next((h.index for h in k.sched.harts if h.thread is t), 0)
    if cpu:
        t.proc.aspace.write(cpu, struct.pack("<I", hart))
    if node:
        t.proc.aspace.write(node, struct.pack("<I", k.cluster))
    return 0

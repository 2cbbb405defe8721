"""Scheduling policy and niceness as Linux reports them: sched_get_priority_max/min,
sched_getscheduler/sched_setscheduler, sched_getparam/sched_setparam, getpriority/setpriority,
getcpu. shoal's scheduler is round robin (kernel/sched.py): a thread's policy and real-time
priority (Thread.policy, .rtprio; any thread's id names it, as on Linux) are checked as Linux's
(root stands for CAP_SYS_NICE, RLIMIT_RTPRIO bounds a user), kept, reported back, inherited by
clone and fork (not past SCHED_RESET_ON_FORK), kept by exec and carried in images, but not
modelled: a granted policy other than SCHED_OTHER is counted with the unknown calls (--stats).
A process's nice value (Container.sched.nice) is kept, inherited by fork, kept by
exec and carried in its image, but the scheduler does not read it. Another process is found
wherever it runs: one not on this cluster is asked by a `sched_op` packet routed by pid (as a
signal is: held while it is frozen, passed on after it moved; ESRCH once it has ended), whose
kernel answers (it is there, its nice) or applies setpriority with the asker's ids."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import EACCES, EINVAL, EPERM, ESRCH
from shoal.kernel import location
from shoal.kernel.calls.common import cycles_to_ns, s32, unmodelled
from shoal.kernel.calls.cred import EUID, RUID
from shoal.kernel.container import TState
from shoal.messages import KillGroup, Kind, Relay, SchedOp

if TYPE_CHECKING:
    from shoal.kernel.container import Container, Thread
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
SCHED_RESET_ON_FORK = 0x40000000
PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
RLIMIT_NICE, RLIMIT_RTPRIO = 13, 14
NR_SETSCHEDULER, NR_SETPARAM = 119, 118


def _find(k: Kernel, t: Thread, pid: int) -> Container | None:
    if pid in (0, t.proc.pid):
        return t.proc
    for p in k.procs:
        if p.pid == pid and p.alive and p.state == "running":
            return p
    return None


WHERE, NICE, SET_NICE, GET_SCHED, SET_SCHED, CPU_TIME = 0, 1, 2, 3, 4, 5  # what a sched_op asks


def _ask(k: Kernel, t: Thread, pid: int, what: int, then: Callable[[int], object], nice: int = 0) -> object:
    """Ask process `pid`, not running here, through its kernel (a `sched_op` routed by pid, as
    signal.py's kill): `then(ret)` gives the call's result from the answer (-ESRCH: ended)."""
    if pid <= 0:
        return then(-ESRCH)
    op = k.new_op()
    ids = t.proc.user.ids
    inner = SchedOp(dst=pid, op=op, what=what, nice=nice, cred=[ids[RUID], ids[EUID]], reply_to=k.cluster)
    k.packets.pending[op] = (t, lambda pkt, at: then(pkt.body.ret), inner)
    if k.find_proc(pid) is not None:  # here but frozen or moving: held or passed on
        k.send(k.cluster, inner, at=k.now())
    else:  # elsewhere: the process manager knows where
        k.send(k.services_node, Relay(kind=Kind.SCHED_OP, bulk=False, body=inner), at=k.now())
    k.block(t, None, None, why="rpc:sched_op")
    return 0  # not reached


def on_sched_op(k: Kernel, pkt: Packet, at: int) -> None:
    """Another cluster's question about (or setpriority of) a process of this one."""
    b = pkt.body
    p = k.find_proc(b.dst) or location.restored(k, b.dst)
    if p is None or not p.alive or (b.uid >= 0 and p.user.ids[RUID] != b.uid):
        ret = -ESRCH
    elif b.what == NICE:
        ret = 20 - p.sched.nice
    elif b.what == SET_NICE:
        ret = _set_nice(p, list(b.cred), b.nice)
    elif b.what == CPU_TIME:  # clock_gettime of its CPU-time clock `nice` (calls/time.py)
        from shoal.kernel.timers import cpu_cycles
        ret = cycles_to_ns(k, cpu_cycles(k, p, None, b.nice))
    elif b.what in (GET_SCHED, SET_SCHED):
        x = next((x for x in p.threads if x.tid == p.pid and x.state is not TState.DEAD), None)
        x = x or next((x for x in p.threads if x.state is not TState.DEAD), None)
        if x is None:
            ret = -ESRCH
        elif b.what == GET_SCHED:
            ret = _encode(x.policy, x.rtprio)
        else:
            ret = -EINVAL if b.nice < 0 else _set_policy(x, list(b.cred), *_decode(b.nice))
    else:
        ret = 0
    k.reply(pkt, at, ret=ret)


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


def _thread(k: Kernel, t: Thread, tid: int) -> Thread | None:
    """The thread `tid` names (0: the caller) among this cluster's running processes: Linux's
    sched_* calls take any thread's id, a process's pid naming its main thread."""
    if tid == 0:
        return t
    for p in k.procs:
        if p.alive and p.state == "running":
            for x in p.threads:
                if x.tid == tid and x.state is not TState.DEAD:
                    return x
    p = _find(k, t, tid)  # a process whose main thread has ended: its first live thread
    return next((x for x in p.threads if x.state is not TState.DEAD), None) if p is not None else None


def _encode(policy: int, prio: int) -> int:
    """A policy (its SCHED_RESET_ON_FORK bit as 0x80; 0x7F: the current one) and a priority in
    one non-negative int, as a sched_op carries them."""
    return (policy & 0x7F) | (0x80 if policy & SCHED_RESET_ON_FORK else 0) | prio << 8


def _decode(v: int) -> tuple[int, int]:
    policy = -1 if v & 0x7F == 0x7F else (v & 0x7F) | (SCHED_RESET_ON_FORK if v & 0x80 else 0)
    return policy, v >> 8


def _sched_of(k: Kernel, t: Thread, tid: int, then: Callable[[int, int], object]) -> object:
    """`then(policy, prio)` of thread `tid` here, or of process `tid` elsewhere (asked); a
    negative policy is the error (-ESRCH). A thread of a process on another cluster is not
    found by its tid (only a pid is routed): ESRCH, as README says."""
    x = _thread(k, t, tid)
    if x is not None:
        return then(x.policy, x.rtprio)
    return _ask(k, t, tid, GET_SCHED, lambda ret: then(ret, 0) if ret < 0 else then(*_decode(ret)))


def sys_sched_getscheduler(k: Kernel, t: Thread, a: list[int]) -> object:
    pid = s32(a[0])
    if pid < 0:
        return -EINVAL
    return _sched_of(k, t, pid, lambda policy, prio: policy)


def sys_sched_getparam(k: Kernel, t: Thread, a: list[int]) -> object:
    pid, param = s32(a[0]), a[1]
    if pid < 0 or not param:
        return -EINVAL

    def found(policy: int, prio: int) -> int:
        if policy < 0:
            return policy
        t.proc.aspace.write(param, struct.pack("<i", prio))  # (EFAULT: a Fault, entry.py / _on_reply)
        return 0
    return _sched_of(k, t, pid, found)


def _set(k: Kernel, t: Thread, num: int, pid: int, policy: int, param: int) -> object:
    """Linux's do_sched_setscheduler then __sched_setscheduler's checks, in their order."""
    if pid < 0 or not param:
        return -EINVAL
    (prio,) = struct.unpack("<i", t.proc.aspace.read(param, 4))
    ids = t.proc.user.ids
    me = [ids[RUID], ids[EUID]]
    x = _thread(k, t, pid)
    if x is not None:
        ret = _set_policy(x, me, policy, prio)
        return _counted(t, num, x.policy, ret)
    return _ask(k, t, pid, SET_SCHED, lambda ret: _counted(t, num, policy, ret),
                _encode(policy if policy >= 0 else 0x7F, max(prio, 0)) if 0 <= prio <= 99 else -1)


def _counted(t: Thread, num: int, policy: int, ret: int) -> int:
    """A policy shoal's scheduler does not model, once granted, is counted (--stats); a flag
    SCHED_RESET_ON_FORK alone is modelled (fork.py)."""
    if ret == 0 and policy > 0 and policy != SCHED_RESET_ON_FORK:  # (-1: setparam elsewhere)
        unmodelled(t, num)
    return ret


def _set_policy(x: Thread, me: list[int], policy: int, prio: int) -> int:
    """Thread `x`'s policy and priority for a caller of [ruid, euid] `me`: Linux's checks (root
    stands for CAP_SYS_NICE; RLIMIT_RTPRIO bounds a user's real-time priority) then kept."""
    if policy < 0:  # sched_setparam: the current policy
        policy = x.policy
    reset, policy = policy & SCHED_RESET_ON_FORK, policy & ~SCHED_RESET_ON_FORK
    if policy not in (SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE):
        return -EINVAL
    rt = policy in (SCHED_FIFO, SCHED_RR)
    if not 0 <= prio <= 99 or rt != (prio != 0) or policy == SCHED_DEADLINE:  # (no deadline parameters)
        return -EINVAL
    if me[1] != 0:  # Linux's checks for a caller without CAP_SYS_NICE, in its order
        p, now = x.proc, x.policy & ~SCHED_RESET_ON_FORK
        if rt:
            lim = p.rlimits.get(RLIMIT_RTPRIO, [0, 0])[0]
            if (policy != now and not lim) or (prio > x.rtprio and prio > lim):
                return -EPERM
        nice_lim = p.rlimits.get(RLIMIT_NICE, [0, 0])[0]
        if now == SCHED_IDLE and policy != SCHED_IDLE and 20 - p.sched.nice > nice_lim:
            return -EPERM  # (SCHED_IDLE is nice 20: leaving it is lowering the nice)
        if me[1] not in (p.user.ids[EUID], p.user.ids[RUID]):
            return -EPERM  # another owner's thread
        if x.policy & SCHED_RESET_ON_FORK and not reset:
            return -EPERM
    x.policy, x.rtprio = policy | reset, prio
    return 0


def sys_sched_setscheduler(k: Kernel, t: Thread, a: list[int]) -> object:
    policy = s32(a[1])
    if policy < 0:
        return -EINVAL
    return _set(k, t, NR_SETSCHEDULER, s32(a[0]), policy, a[2])


def sys_sched_setparam(k: Kernel, t: Thread, a: list[int]) -> object:
    return _set(k, t, NR_SETPARAM, s32(a[0]), -1, a[1])


def _targets(k: Kernel, t: Thread, which: int, who: int) -> list[Container] | None:
    """The processes of this cluster `which`/`who` names (None: a bad `which`); a process
    elsewhere is asked (_ask) by the callers, a group's or a user's through _group."""
    if not PRIO_PROCESS <= which <= PRIO_USER:
        return None
    if which == PRIO_PROCESS:
        p = _find(k, t, who)
        return [p] if p is not None else []
    return []  # (a group's or a user's processes are asked through the process manager, _group)


def _group(k: Kernel, t: Thread, which: int, who: int, what: int, nice: int = 0) -> object:
    """get/setpriority(PRIO_PGRP or PRIO_USER, who): the process manager asks each member of
    the group (0: the caller's), or every process whose kernel then checks its real uid (0:
    the caller's), wherever it runs, as kill(-pgid) reaches them (daemons/sigroups.py)."""
    ids = t.proc.user.ids
    uid = -1
    if which == PRIO_USER:
        uid = ids[RUID] if who == 0 else who & 0xFFFFFFFF
        if uid == 0xFFFFFFFF:
            return -ESRCH  # ((uid_t)-1 is no user)
    elif who < 0:
        return -ESRCH  # (Linux: no such group)
    k.rpc(t, KillGroup(pgid=who if uid < 0 else 0, info=[0], cred=[ids[RUID], ids[EUID]], what=what,
                       nice=nice, uid=uid), lambda reply, at: reply.body.ret)
    return 0  # not reached


def sys_getpriority(k: Kernel, t: Thread, a: list[int]) -> object:
    """20 - nice of the highest-priority process named (libc turns it back into a nice)."""
    which, who = s32(a[0]), s32(a[1])
    ps = _targets(k, t, which, who)
    if ps is None:
        return -EINVAL
    if which in (PRIO_PGRP, PRIO_USER):
        return _group(k, t, which, who, NICE)
    if not ps and which == PRIO_PROCESS:
        return _ask(k, t, who, NICE, lambda ret: ret)
    return max((20 - p.sched.nice for p in ps), default=-ESRCH)


def sys_setpriority(k: Kernel, t: Thread, a: list[int]) -> object:
    which, who = s32(a[0]), s32(a[1])
    ps = _targets(k, t, which, who)
    if ps is None:
        return -EINVAL
    nice = min(max(s32(a[2]), -20), 19)
    ids = t.proc.user.ids
    me = [ids[RUID], ids[EUID]]
    if which in (PRIO_PGRP, PRIO_USER):
        return _group(k, t, which, who, SET_NICE, nice)
    if not ps and which == PRIO_PROCESS:
        return _ask(k, t, who, SET_NICE, lambda ret: ret, nice)
    ret = -ESRCH
    for p in ps:
        got = _set_nice(p, me, nice)
        ret = got if got < 0 else 0
    return ret


def _set_nice(p: Container, me: list[int], nice: int) -> int:
    """Linux's set_one_prio, for a caller of [ruid, euid] `me`: another owner's process needs
    root (EPERM); a lower nice than the process has needs root or RLIMIT_NICE (EACCES)."""
    root = me[1] == 0
    if not root and p.user.ids[EUID] not in (me[0], me[1]):
        return -EPERM
    lim = p.rlimits.get(RLIMIT_NICE, [0, 0])[0]
    if nice < p.sched.nice and not root and 20 - nice > lim:
        return -EACCES
    p.sched.nice = nice
    return 0


HANDLERS = {Kind.SCHED_OP: on_sched_op}


def sys_getcpu(k: Kernel, t: Thread, a: list[int]) -> int:
    """The hart the thread runs on as the cpu, its cluster as the NUMA node."""
    cpu, node = a[0], a[1]
    hart = next((h.index for h in k.sched.harts if h.thread is t), 0)
    if cpu:
        t.proc.aspace.write(cpu, struct.pack("<I", hart))
    if node:
        t.proc.aspace.write(node, struct.pack("<I", k.cluster))
    return 0

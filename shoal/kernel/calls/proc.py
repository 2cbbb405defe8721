"""Threads and processes: clone, set_tid_address, set_robust_list, exit, exit_group,
sched_yield, getpid, gettid, getppid, getuid and kin; limits and placement: prlimit64,
sched_getaffinity. (Signals: kernel/calls/signal.py.)"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EINVAL, ENOSYS, EPERM, ESRCH
from shoal.kernel.calls.common import STOPPED, s32
from shoal.kernel.calls.futex import futex_wake
from shoal.kernel.container import Thread, TState
from shoal.kernel.memory import Fault, OutOfFrames
from shoal.platform.cpu import REG_A, REG_SP, REG_TP

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


CLONE_VM, CLONE_THREAD, CLONE_SETTLS = 0x100, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000


def sys_clone(k: Kernel, t: Thread, a: list[int]) -> int:
    flags, stack, ptid, tls, ctid = a[0], a[1], a[2], a[3], a[4]
    if not flags & CLONE_VM or not flags & CLONE_THREAD:
        return -ENOSYS  # fork-like clones: processes are created with shoal's spawn
    if stack == 0:
        return -EINVAL
    cpu = k.cpu
    ctx = cpu.uc.context_save()  # the parent's registers, pc already past the ecall
    ctx.reg_write(REG_A[0], 0)
    ctx.reg_write(REG_SP, stack)
    if flags & CLONE_SETTLS:
        ctx.reg_write(REG_TP, tls)
    child = k.new_thread(t.proc, ctx, k.now())
    child.sigmask = t.sigmask  # its creator's mask; its own (empty) pending set, no alternate stack
    if flags & CLONE_PARENT_SETTID:
        t.proc.aspace.write(ptid, struct.pack("<I", child.tid))
    if flags & CLONE_CHILD_SETTID:
        t.proc.aspace.write(ctid, struct.pack("<I", child.tid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_tid = ctid
    return child.tid


def sys_set_tid_address(k: Kernel, t: Thread, a: list[int]) -> int:
    t.clear_tid = a[0]
    return t.tid


def sys_set_robust_list(k: Kernel, t: Thread, a: list[int]) -> int:
    return 0


def sys_exit(k: Kernel, t: Thread, a: list[int]) -> object:
    now = k.now()
    p = t.proc
    if t.clear_tid:
        try:
            p.aspace.write(t.clear_tid, b"\0\0\0\0")
            futex_wake(k, p.pid, t.clear_tid, 1, 0xFFFFFFFF, now)
        except (Fault, OutOfFrames):
            pass  # as on Linux, a bad clear_tid address is ignored at thread exit
    t.state = TState.DEAD
    t.blocked_at = now  # its last cycle (a deadlock of the threads left is no earlier)
    if all(x.state is TState.DEAD for x in p.threads):
        k.kill(p, None, a[0] & 0xFF, "", now)
    else:
        k.stop_reason = "dead"
        k.cpu.stop()
    return STOPPED


def sys_exit_group(k: Kernel, t: Thread, a: list[int]) -> object:
    k.kill(t.proc, None, a[0] & 0xFF, "", k.now())
    return STOPPED


def sys_sched_yield(k: Kernel, t: Thread, a: list[int]) -> object:
    k.cpu.set_reg(REG_A[0], 0)
    if k.ready:
        k.stop_reason = "yield"
        k.cpu.stop()
    return STOPPED


def sys_getpid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.proc.pid


def sys_gettid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.tid


def sys_getppid(k: Kernel, t: Thread, a: list[int]) -> int:
    return 0


def sys_getuid(k: Kernel, t: Thread, a: list[int]) -> int:
    return 0  # getuid, geteuid, getgid, getegid: root, the only user


RLIM_INFINITY = (1 << 64) - 1


RLIMIT_STACK, RLIMIT_NOFILE, RLIM_NLIMITS = 3, 7, 16


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
        v = {RLIMIT_STACK: k.spec.stack_limit, RLIMIT_NOFILE: 1024}.get(res, RLIM_INFINITY)
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
    n = k.spec.cores_per_cluster
    nbytes = (n + 31) // 32 * 4
    if size < nbytes:
        return -EINVAL
    t.proc.aspace.write(buf, ((1 << n) - 1).to_bytes(nbytes, "little"))
    return nbytes

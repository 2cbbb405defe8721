"""System V IPC (msgget/msgsnd/msgrcv/msgctl, semget/semop/semtimedop/semctl,
shmget/shmat/shmdt/shmctl): requests to the System V server on I/O cluster 0
(daemons/sysv.py), so that processes on any clusters share the objects.

musl on riscv32 makes them direct system calls (186-197, semtimedop_time64 420) and sets
IPC_64 (0x100) in every ctl command; the structures written are Linux's asm-generic
ipc64_perm, msqid64_ds, semid64_ds and shmid64_ds for 32-bit (times as lo/hi words), which
musl's time64 structures start with.

Blocking is as for POSIX queues (calls/ipc.py): one try; if it would wait (EAGAIN, ENOMSG)
and may, the thread sends `sysv_wait` and, once answered, makes the call again. A semtimedop
deadline is kept between the tries (in `_deadlines`; a freeze in the middle of a timed wait
starts its timeout again). As on Linux, a handled signal interrupts these waits with EINTR,
never restarted (signal(7)); a timeout gives EAGAIN.

A segment is a shared memory object (kernel/shm.py) mapped as shm_open's are, in a region
named `[sysv:OBJECT:START]` (one name per attachment); shmdt unmaps it and tells the server (nattch).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from shoal.abi import E2BIG, EAGAIN, EINVAL, ENOMEM, ENOMSG
from shoal.kernel import shm
from shoal.kernel.calls import cred
from shoal.kernel.calls.common import ns_to_cycles, read_timespec, s32
from shoal.kernel.container import Thread
from shoal.kernel.memory import PAGE, USER_TOP, Region
from shoal.messages import MsgRcv, MsgSnd, Request, SemOp, ShmAt, ShmDt, SysvCtl, SysvGet, SysvWait
from shoal.platform.cpu import REG_PC

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

IPC_64, IPC_NOWAIT = 0x100, 0o4000
IPC_RMID, IPC_SET, IPC_STAT = 0, 1, 2
GETALL, SETVAL, SETALL = 13, 16, 17
SHM_RDONLY, SHM_RND, SHM_EXEC, SHM_REMAP = 0o10000, 0o20000, 0o100000, 0o40000
MSG_COPY = 0o40000
MSGMAX, SEMMSL, SEMOPM = 8192, 32000, 500
MMAP_TOP = USER_TOP - (64 << 20)  # as mmap's (calls/mman.py)
_deadlines: WeakKeyDictionary[Thread, int | None] = WeakKeyDictionary()
_setall: WeakKeyDictionary[Thread, int] = WeakKeyDictionary()  # SETALL: the set's size, between tries


def _again(t: Thread, a0: int) -> int:
    """Make the thread's call again (its pc back onto the ecall); a0 keeps its argument."""
    t.ctx.reg_write(REG_PC, t.ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
    return a0


def _attempt(k: Kernel, t: Thread, a: list[int], body: Request, wait: dict,
             waits: Callable[[Packet], bool], timeout_ns: int | None, finish: object,
             data: bytes = b"") -> int:
    """One try at the server; when it would wait and may (`waits(reply)`), wait (sysv_wait
    with `wait`'s fields) and try again."""
    if t.ipc_wait_next:
        t.ipc_wait_next = False
        deadline = _deadlines.pop(t, None)
        if deadline is not None and deadline <= k.now():
            return -EAGAIN  # semtimedop's time limit

        def woke(reply: Packet, at: int) -> int:
            if reply.body.ret < 0:
                return reply.body.ret  # EIDRM: removed while waiting
            _deadlines[t] = deadline
            return _again(t, a[0])
        k.rpc_to(t, k.services_node, SysvWait(**wait, tid=t.tid, until=deadline), woke,
                 deadline=deadline, timeout_value=-EAGAIN)
        return 0
    if t in _deadlines:
        deadline = _deadlines.pop(t)
    else:
        deadline = None if timeout_ns is None else k.now() + ns_to_cycles(k, timeout_ns)

    def tried(reply: Packet, at: int) -> int:
        if waits(reply):
            t.ipc_wait_next = True
            _deadlines[t] = deadline
            return _again(t, a[0])
        return finish(reply, at)  # type: ignore[operator]
    k.rpc_to(t, k.services_node, body, tried, data, bulk=bool(data))
    return 0


def _ret(reply: Packet, at: int) -> int:
    return reply.body.ret


def _get(k: Kernel, t: Thread, what: str, key: int, flags: int, size: int) -> int:
    k.rpc(t, SysvGet(what=what, key=s32(key), flags=flags, size=size, **cred.ipc_as_user(t)), _ret)
    return 0


# --- message queues ------------------------------------------------------------------------
def sys_msgget(k: Kernel, t: Thread, a: list[int]) -> int:
    return _get(k, t, "msg", a[0], a[1], 0)


def sys_msgsnd(k: Kernel, t: Thread, a: list[int]) -> int:
    ident, msgp, size, flags = s32(a[0]), a[1], s32(a[2]), a[3]
    if size > MSGMAX or size < 0 or ident < 0:
        return -EINVAL
    mtype = s32(struct.unpack("<I", t.proc.aspace.read(msgp, 4))[0])
    if mtype < 1:
        return -EINVAL
    text = t.proc.aspace.read(msgp + 4, size) if size else b""
    body = MsgSnd(id=ident, mtype=mtype, **cred.ipc_as_user(t))
    return _attempt(k, t, a, body, {"id": ident, "what": "send", "size": size},
                    lambda r: r.body.ret == -EAGAIN and not flags & IPC_NOWAIT, None, _ret, text)


def sys_msgrcv(k: Kernel, t: Thread, a: list[int]) -> int:
    ident, msgp, size, mtype, flags = s32(a[0]), a[1], s32(a[2]), s32(a[3]), a[4]
    if ident < 0 or size < 0 or flags & MSG_COPY:
        return -EINVAL  # (MSG_COPY, for checkpointing tools, is not served)
    # The buffer is checked first: a bad one is EFAULT with the message left queued (Linux
    # takes the message off first, and loses it).
    t.proc.aspace.translate(msgp, "store")
    t.proc.aspace.translate(msgp + 4 + max(size, 1) - 1, "store")

    def got(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        t.proc.aspace.write(msgp, reply.data)
        return reply.body.ret
    return _attempt(k, t, a, MsgRcv(id=ident, size=size, mtype=mtype, flags=flags, **cred.ipc_as_user(t)),
                    {"id": ident, "what": "recv"}, lambda r: r.body.ret == -ENOMSG and not flags & IPC_NOWAIT,
                    None, got)


# --- semaphores ----------------------------------------------------------------------------
def sys_semget(k: Kernel, t: Thread, a: list[int]) -> int:
    nsems = s32(a[1])
    if not 0 <= nsems <= SEMMSL:
        return -EINVAL
    return _get(k, t, "sem", a[0], a[2], nsems)


def sys_semop(k: Kernel, t: Thread, a: list[int]) -> int:
    return _semop(k, t, a, 0)


def sys_semtimedop(k: Kernel, t: Thread, a: list[int]) -> int:
    return _semop(k, t, a, a[3])


def _semop(k: Kernel, t: Thread, a: list[int], tsp: int) -> int:
    ident, sops_p, n = s32(a[0]), a[1], s32(a[2])
    if n < 1 or ident < 0:
        return -EINVAL
    if n > SEMOPM:
        return -E2BIG
    raw = t.proc.aspace.read(sops_p, 6 * n)
    sops = [list(struct.unpack_from("<Hhh", raw, 6 * i)) for i in range(n)]
    timeout = None
    if tsp:
        timeout = read_timespec(t, tsp)
        if timeout is None:
            return -EINVAL
    body = SemOp(id=ident, sops=sops, **cred.ipc_as_user(t))
    return _attempt(k, t, a, body, {"id": ident, "what": "sem", "sops": sops},
                    lambda r: r.body.ret == -EAGAIN and r.body.value == 1, timeout, _ret)


def sys_semctl(k: Kernel, t: Thread, a: list[int]) -> int:
    ident, num, cmd, arg = s32(a[0]), s32(a[1]), a[2] & ~IPC_64, a[3]
    if ident < 0:
        return -EINVAL
    p = t.proc
    vals: list[int] = []
    if cmd == IPC_SET:
        vals = _perm_set(t, arg)
    elif cmd == SETVAL:
        vals = [s32(arg)]
    elif cmd == SETALL:  # the values are as many as the set has: its size first (IPC_STAT)
        n = _setall.pop(t, None)
        if n is None:
            def sized(reply: Packet, at: int) -> int:
                if reply.body.ret < 0:
                    return reply.body.ret
                _setall[t] = reply.body.st[9]
                return _again(t, a[0])
            # (the kernel's own question: no cred; SETALL itself is checked for write)
            k.rpc(t, SysvCtl(what="sem", id=ident, cmd=IPC_STAT, num=0, vals=[]), sized)
            return 0
        vals = list(struct.unpack(f"<{n}H", p.aspace.read(arg, 2 * n)))
    elif cmd in (GETALL, IPC_STAT):
        p.aspace.translate(arg, "store")

    def answered(reply: Packet, at: int) -> int:
        ret = reply.body.ret
        if ret < 0:
            return ret
        st = reply.body.st
        if cmd == IPC_STAT:  # otime, ctime, nsems
            p.aspace.write(arg, _perm(st) + struct.pack("<7I", *_lohi(st[7]), *_lohi(st[8]), st[9], 0, 0))
        elif cmd == GETALL:
            p.aspace.write(arg, struct.pack(f"<{len(st)}H", *st))
        return ret
    k.rpc(t, SysvCtl(what="sem", id=ident, cmd=cmd, num=num, vals=vals, **cred.ipc_as_user(t)), answered)
    return 0


# --- shared segments -----------------------------------------------------------------------
def sys_shmget(k: Kernel, t: Thread, a: list[int]) -> int:
    return _get(k, t, "shm", a[0], a[2], a[1])


def sys_shmat(k: Kernel, t: Thread, a: list[int]) -> int:
    ident, addr, flags = s32(a[0]), a[1], a[2]
    if ident < 0:
        return -EINVAL
    if addr & (PAGE - 1):
        if not flags & SHM_RND:
            return -EINVAL
        addr &= ~(PAGE - 1)
    p = t.proc

    def attached(reply: Packet, at: int) -> int:
        size, obj = reply.body.ret, reply.body.obj
        if size < 0:
            return size
        length = (size + PAGE - 1) & ~(PAGE - 1)
        asp = p.aspace
        start: int | None = addr
        if addr:
            if addr + length > USER_TOP:
                start = None
            elif not asp.is_free(addr, addr + length) and (
                    not flags & SHM_REMAP or not asp.remove_range(addr, addr + length)):
                start = None
        else:
            start = asp.find_gap(length, MMAP_TOP)
        if start is None:
            k.send(k.services_node, ShmDt(pid=p.pid, obj=obj), at=at)
            shm.release_if_unused(k, p, obj, at)
            return -EINVAL if addr else -ENOMEM
        prot = (1 if flags & SHM_RDONLY else 3) | (4 if flags & SHM_EXEC else 0)
        asp.add_region(Region(start, start + length, prot, f"[sysv:{obj}:{start:#x}]"))
        for i in range(length // PAGE):
            asp.shm.pages[start + i * PAGE] = (obj, i)
        return start
    k.rpc(t, ShmAt(id=ident, **_asked(flags), **cred.ipc_as_user(t)), attached)
    return 0


def _asked(flags: int) -> dict:
    """shmat's SHM_RDONLY and SHM_EXEC, sent only when given (a packet pays for its fields)."""
    f = flags & (SHM_RDONLY | SHM_EXEC)
    return {"flags": f} if f else {}


def sys_shmdt(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, asp = a[0], t.proc.aspace
    r = asp.find(addr)
    if addr & (PAGE - 1) or r is None or r.start != addr or not r.name.startswith("[sysv:"):
        return -EINVAL
    end = r.end
    while True:  # (an attachment mprotect split is several regions of one name)
        nxt = asp.find(end)
        if nxt is None or nxt.name != r.name or nxt.start != end:
            break
        end = nxt.end
    if not asp.remove_range(addr, end):
        return -ENOMEM
    k.send(k.services_node, ShmDt(pid=t.proc.pid, obj=int(r.name[6:].split(":")[0])), at=k.now())
    return 0


def sys_shmctl(k: Kernel, t: Thread, a: list[int]) -> int:
    return _ctl(k, t, "shm", a)


def sys_msgctl(k: Kernel, t: Thread, a: list[int]) -> int:
    return _ctl(k, t, "msg", a)


def _ctl(k: Kernel, t: Thread, what: str, a: list[int]) -> int:
    ident, cmd, buf = s32(a[0]), a[1] & ~IPC_64, a[2]
    if ident < 0:
        return -EINVAL
    vals: list[int] = []
    if cmd == IPC_SET:
        vals = _perm_set(t, buf)
        if what == "msg":
            vals.append(struct.unpack("<I", t.proc.aspace.read(buf + 36 + 32, 4))[0])
    elif cmd == IPC_STAT:
        t.proc.aspace.translate(buf, "store")

    def answered(reply: Packet, at: int) -> int:
        ret = reply.body.ret
        if ret < 0 or cmd != IPC_STAT:
            return ret
        st = reply.body.st
        if what == "msg":  # stime, rtime, ctime, cbytes, qnum, qbytes, lspid, lrpid
            tail = struct.pack("<6I7I", *_lohi(st[7]), *_lohi(st[8]), *_lohi(st[9]), *st[10:15], 0, 0)
        else:  # segsz, atime, dtime, ctime, cpid, lpid, nattch
            tail = struct.pack("<I6I5I", st[7], *_lohi(st[8]), *_lohi(st[9]), *_lohi(st[10]),
                               *st[11:14], 0, 0)
        t.proc.aspace.write(buf, _perm(st) + tail)
        return ret
    k.rpc(t, SysvCtl(what=what, id=ident, cmd=cmd, num=0, vals=vals, **cred.ipc_as_user(t)), answered)
    return 0


def _perm(st: list) -> bytes:
    """struct ipc64_perm: key, uid, gid, cuid, cgid, mode, seq (u16), pad, two unused words."""
    key, uid, gid, cuid, cgid, mode, seq = st[:7]
    return struct.pack("<iIIIIIHHII", key, uid, gid, cuid, cgid, mode, seq & 0xFFFF, 0, 0, 0)


def _perm_set(t: Thread, buf: int) -> list[int]:
    """IPC_SET's uid, gid and mode (the rest of ipc_perm is ignored, as Linux does)."""
    return list(struct.unpack("<II", t.proc.aspace.read(buf + 4, 8))) + [
        struct.unpack("<I", t.proc.aspace.read(buf + 20, 4))[0]]


def _lohi(v: int) -> tuple[int, int]:
    return v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF

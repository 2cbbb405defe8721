"""POSIX message queues (Linux's mq_* calls) and named semaphores (shoal's calls behind
`sem_open` & co., see shoal/lib/shoal_sem.c): requests to the IPC daemon on I/O cluster 0
(shoal/daemons/ipc.py), so that processes on any clusters share them.

A queue descriptor is a file descriptor, `p.fs.files[fd] = OpenFile(FileKind.MQ, name, handle, flags)`
(kernel/files.py), so it travels in the container's image. A semaphore is named by the
handle the daemon gave, kept in the process's own memory (shoal_sem.c's table).

Blocking: each operation asks the daemon once (it never waits there). If nothing is ready
and the caller may block, the thread sends `ipc_wait` (with the call's deadline, in simulated
time) and, once answered, makes the same call again: its pc goes back onto the `ecall`
(a0 restored), as after a freeze. Only the wait is RESTARTABLE (a freeze backs it out);
sending, receiving and posting change the daemon's state and are let finish (they are
answered at once).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import (
    EACCES,
    EAGAIN,
    EBADF,
    EINVAL,
    EMFILE,
    ENAMETOOLONG,
    ENOENT,
    ETIMEDOUT,
    MQ_PRIO_MAX,
    O_ACCMODE,
    O_RDWR,
    O_WRONLY,
    SEM_VALUE_MAX,
)
from shoal.kernel.calls import cred
from shoal.kernel.calls.common import EPOCH_NS, ns_to_cycles, read_timespec, s32
from shoal.kernel.container import FileKind, OpenFile, Thread
from shoal.kernel.files import MAX_FILES, new_fd
from shoal.messages import (
    IpcWait,
    MqClose,
    MqGetattr,
    MqNotify,
    MqOpen,
    MqReceive,
    MqSend,
    MqUnlink,
    Request,
    SemClose,
    SemGetvalue,
    SemOpen,
    SemPost,
    SemTrywait,
    SemUnlink,
)
from shoal.platform.cpu import REG_PC

SIGEV_SIGNAL, SIGEV_NONE = 0, 1  # (struct sigevent's sigev_notify)

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

O_NONBLOCK, O_CREAT = 0o4000, 0o100
NAME_MAX = 255


def _name(t: Thread, addr: int, sem: bool) -> str | int:
    """A queue's or semaphore's name, its leading `/` gone (musl's mq_open drops it already)."""
    raw = t.proc.aspace.read_cstr(addr, 4096).decode(errors="replace").lstrip("/")
    # A Linux semaphore is the file /dev/shm/sem.NAME (glibc's): NAME has 4 bytes fewer.
    if len(raw) > NAME_MAX - (4 if sem else 0):
        return -ENAMETOOLONG
    if not raw:
        return -EINVAL if sem else -ENOENT
    if "/" in raw:
        return -EINVAL if sem else -EACCES
    return raw


def _deadline(k: Kernel, t: Thread, tsp: int) -> int | None:
    """An absolute CLOCK_REALTIME time (a struct timespec64) as the cluster's cycle; None: no
    deadline. Raises ValueError for a bad one."""
    if not tsp:
        return None
    ns = read_timespec(t, tsp)
    if ns is None:
        raise ValueError
    return ns_to_cycles(k, max(ns - EPOCH_NS, 0)) + t.proc.move.clock_offset


def _again(t: Thread, a0: int) -> int:
    """Make the thread's call again (its pc back onto the ecall); a0 keeps its argument."""
    pc = t.ctx.reg_read(REG_PC)  # type: ignore[attr-defined]
    t.ctx.reg_write(REG_PC, pc - 4)  # type: ignore[attr-defined]
    return a0


def _attempt(k: Kernel, t: Thread, a: list[int], make: type[Request], fields: dict, what: str,
             may_block: bool, deadline: int | None, finish: object, data: bytes = b"") -> int:
    """One try at the daemon (a `make(**fields)` request); on EAGAIN, when the caller may
    block, wait (ipc_wait, with the same fields) and try again."""
    if t.ipc_wait_next:
        t.ipc_wait_next = False
        if deadline is not None and deadline <= k.now():
            return -ETIMEDOUT
        k.rpc_to(t, k.services_node, IpcWait(**fields, what=what, tid=t.tid),
                 lambda reply, at: _again(t, a[0]), deadline=deadline)
        return 0

    def tried(reply: Packet, at: int) -> int:
        ret = reply.body.ret
        if ret == -EAGAIN and may_block:
            t.ipc_wait_next = True
            return _again(t, a[0])
        return finish(reply, at)  # type: ignore[operator]
    k.rpc_to(t, k.services_node, make(**fields), tried, data, bulk=bool(data))
    return 0


# --- message queues ------------------------------------------------------------------------
def sys_mq_open(k: Kernel, t: Thread, a: list[int]) -> int:
    name = _name(t, a[0], sem=False)
    if isinstance(name, int):
        return name
    flags, attr = a[1], a[3]
    if flags & O_ACCMODE == 3:
        return -EINVAL
    maxmsg = msgsize = None
    if flags & O_CREAT and attr:
        _, maxmsg, msgsize, _ = struct.unpack("<iiii", t.proc.aspace.read(attr, 16))
        if maxmsg <= 0 or msgsize <= 0:
            return -EINVAL
    p = t.proc
    if len(p.fs.files) >= MAX_FILES:
        return -EMFILE

    def opened(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        fd = new_fd(p)
        if fd < 0:
            k.send(k.services_node, MqClose(pid=p.pid, handle=reply.body.handle), at=at)
            return fd
        p.fs.open_fds.add(fd)
        p.fs.files[fd] = OpenFile(FileKind.MQ, name, reply.body.handle, flags & (O_ACCMODE | O_NONBLOCK))
        return fd
    k.rpc(t, MqOpen(name=name, flags=flags, maxmsg=maxmsg, msgsize=msgsize, **_owner(t, flags, a[2])),
          opened)
    return 0


def _owner(t: Thread, flags: int, mode: int) -> dict:
    """What an open that may create tells the IPC daemon: the caller's ids unless root (an
    existing object is opened only as its mode allows; a new one is the caller's) and, with
    O_CREAT, the mode less the umask (as Linux's mqueue and musl's /dev/shm file)."""
    out = cred.as_user(t)
    if flags & O_CREAT:
        out["mode"] = mode & 0o777 & ~t.proc.fs.umask
    return out


def sys_mq_unlink(k: Kernel, t: Thread, a: list[int]) -> int:
    name = _name(t, a[0], sem=False)
    if isinstance(name, int):
        return name
    k.rpc(t, MqUnlink(name=name, **cred.as_user(t)), lambda reply, at: reply.body.ret)
    return 0


def _mq(t: Thread, fd: int) -> OpenFile | None:
    f = t.proc.fs.files.get(fd)
    return f if f is not None and f.kind is FileKind.MQ else None


def _about(f: OpenFile) -> dict:  # (the fields of a request about an open queue)
    return {"handle": f.handle, "name": f.path}


def _rehandle(f: OpenFile, reply: Packet) -> None:
    if reply.body.handle:
        f.handle = reply.body.handle


def sys_mq_timedsend(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _mq(t, s32(a[0]))
    if f is None or f.flags & O_ACCMODE not in (O_WRONLY, O_RDWR):
        return -EBADF
    buf, n, prio = a[1], a[2], a[3]
    if prio >= MQ_PRIO_MAX:
        return -EINVAL
    try:
        deadline = _deadline(k, t, a[4])
    except ValueError:
        return -EINVAL
    if n > k.spec.limits.mq_max_message_bytes:
        return -90  # EMSGSIZE: larger than any queue's messages
    data = t.proc.aspace.read(buf, n) if n else b""

    def sent(reply: Packet, at: int) -> int:
        _rehandle(f, reply)
        return reply.body.ret
    return _attempt(k, t, a, MqSend, {**_about(f), "prio": prio}, "send",
                    not f.flags & O_NONBLOCK, deadline, sent, data)


def sys_mq_timedreceive(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _mq(t, s32(a[0]))
    if f is None or f.flags & O_ACCMODE == O_WRONLY:
        return -EBADF
    buf, n, prio_ptr = a[1], a[2], a[3]
    try:
        deadline = _deadline(k, t, a[4])
    except ValueError:
        return -EINVAL
    if n:
        t.proc.aspace.translate(buf, "store")  # EFAULT now rather than after the wait
    if prio_ptr:
        t.proc.aspace.translate(prio_ptr, "store")

    def got(reply: Packet, at: int) -> int:
        _rehandle(f, reply)
        if reply.body.ret < 0:
            return reply.body.ret
        t.proc.aspace.write(buf, reply.data)
        if prio_ptr:
            t.proc.aspace.write(prio_ptr, struct.pack("<I", reply.body.prio))
        return len(reply.data)
    return _attempt(k, t, a, MqReceive, {**_about(f), "size": n}, "recv",
                    not f.flags & O_NONBLOCK, deadline, got)


def sys_mq_notify(k: Kernel, t: Thread, a: list[int]) -> int:
    """Register the process to be told when a message comes to the empty queue (the IPC
    daemon sends the signal, SI_MESGQ, once), or with a null sigevent remove its
    registration. SIGEV_THREAD (musl's is a netlink socket's, which shoal has not) is EINVAL."""
    f = _mq(t, s32(a[0]))
    if f is None:
        return -EBADF
    notify, signo, value = -1, 0, 0
    if a[1]:
        value, signo, notify = struct.unpack("<Iii", t.proc.aspace.read(a[1], 12))
        if notify not in (SIGEV_SIGNAL, SIGEV_NONE) or (notify == SIGEV_SIGNAL and not 0 <= signo <= 64):
            return -EINVAL

    def got(reply: Packet, at: int) -> int:
        _rehandle(f, reply)
        return reply.body.ret
    k.rpc(t, MqNotify(**_about(f), notify=notify, signo=signo, value=value), got)
    return 0


def sys_mq_getsetattr(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _mq(t, s32(a[0]))
    if f is None:
        return -EBADF
    new, old = a[1], a[2]
    new_flags = None
    if new:
        new_flags = struct.unpack("<i", t.proc.aspace.read(new, 4))[0]
    if old:
        t.proc.aspace.translate(old, "store")
    old_flags = f.flags & O_NONBLOCK

    def got(reply: Packet, at: int) -> int:
        _rehandle(f, reply)
        if reply.body.ret < 0:
            return reply.body.ret
        if old:
            t.proc.aspace.write(old, struct.pack("<iiii", old_flags, *reply.body.attr) + bytes(16))
        if new_flags is not None:  # only O_NONBLOCK may change
            f.flags = (f.flags & ~O_NONBLOCK) | (new_flags & O_NONBLOCK)
        return 0
    k.rpc(t, MqGetattr(**_about(f)), got)
    return 0


# --- named semaphores (shoal's calls; shoal/lib/shoal_sem.c is their C side) ---------------
def sys_sem_open(k: Kernel, t: Thread, a: list[int]) -> int:
    name = _name(t, a[0], sem=True)
    if isinstance(name, int):
        return name
    if a[3] > SEM_VALUE_MAX:
        return -EINVAL
    k.rpc(t, SemOpen(name=name, flags=a[1], value=a[3], **_owner(t, a[1], a[2])),
          lambda reply, at: reply.body.ret)
    return 0


def sys_sem_close(k: Kernel, t: Thread, a: list[int]) -> int:
    k.rpc(t, SemClose(handle=a[0]), lambda reply, at: reply.body.ret)
    return 0


def sys_sem_unlink(k: Kernel, t: Thread, a: list[int]) -> int:
    name = _name(t, a[0], sem=True)
    if isinstance(name, int):
        return name
    k.rpc(t, SemUnlink(name=name, **cred.as_user(t)), lambda reply, at: reply.body.ret)
    return 0


def sys_sem_wait(k: Kernel, t: Thread, a: list[int]) -> int:
    """a[1]: an absolute CLOCK_REALTIME deadline or 0; a[2]: 1 for sem_trywait."""
    try:
        deadline = _deadline(k, t, a[1])
    except ValueError:
        deadline = -1  # invalid: EINVAL, but only if the call would have to wait (POSIX)
    body = {"handle": a[0]}
    if t.ipc_wait_next and deadline == -1:
        t.ipc_wait_next = False
        return -EINVAL
    return _attempt(k, t, a, SemTrywait, body, "sem", not a[2], deadline,
                    lambda reply, at: reply.body.ret)


def sys_sem_post(k: Kernel, t: Thread, a: list[int]) -> int:
    k.rpc(t, SemPost(handle=a[0]), lambda reply, at: reply.body.ret)
    return 0


def sys_sem_getvalue(k: Kernel, t: Thread, a: list[int]) -> int:
    t.proc.aspace.translate(a[1], "store")

    def got(reply: Packet, at: int) -> int:
        if reply.body.ret == 0:
            t.proc.aspace.write(a[1], struct.pack("<i", reply.body.value))
        return reply.body.ret
    k.rpc(t, SemGetvalue(handle=a[0]), got)
    return 0


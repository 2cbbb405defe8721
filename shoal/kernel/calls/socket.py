"""Socket calls (socket, socketpair, bind, listen, accept, accept4, connect, getsockname,
getpeername, sendto, recvfrom, setsockopt, getsockopt, shutdown, sendmsg, recvmsg; and
read/write/readv/writev on a socket): requests to the socket server on I/O cluster 0
(daemons/sockets.py), which holds every socket of the chip, so the parties may be on any
clusters and may migrate (a descriptor is an OpenFile of kind "sock" whose handle is the
server's; its status flags, O_NONBLOCK, are the descriptor's as on Linux).

Blocking is as for System V IPC (calls/sysv.py): one try; if it would wait (EAGAIN) and
may, the thread sends `sock_wait`, answered once the socket may have changed, and makes
the call again. A handled signal cuts the wait short (EINTR, or the call made again with
SA_RESTART, as Linux's sockets are). Moving data (send, recv and their kin) is
calls/sockdata.py: a stream send larger than what fits goes in pieces of at most CHUNK
bytes; the bytes already in are kept between tries, and once some are in, the wait is one a
freeze lets finish (`sock_sending`), so a migration never sends them twice. Addresses in
guest memory are calls/sockaddr.py. Control messages (SCM_RIGHTS, SCM_CREDENTIALS) are not carried: a
sendmsg with any is refused (EOPNOTSUPP, counted by --stats); recvmsg gives none.
MSG_WAITALL and MSG_OOB are not served (a recv returns what is there, as without them).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    EADDRNOTAVAIL,
    EAFNOSUPPORT,
    EAGAIN,
    EBADF,
    EFAULT,
    EINVAL,
    EMFILE,
    ENETUNREACH,
    ENOTSOCK,
    EOPNOTSUPP,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    O_NONBLOCK,
    O_RDWR,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_STREAM,
)
from shoal.kernel.calls import cred
from shoal.kernel.calls.common import refused, s32
from shoal.kernel.calls.sockaddr import addr_bytes, loopback, out_len, read_addr, write_addr
from shoal.kernel.container import FileKind, OpenFile, Thread
from shoal.kernel.files import MAX_FILES, new_fd
from shoal.kernel.memory import Fault, Missing
from shoal.messages import (
    UNSET,
    Request,
    SockAccept,
    SockBind,
    SockConnect,
    SockListen,
    SockName,
    SockNew,
    SockOpt,
    SockRef,
    SockShutdown,
    SockWait,
)
from shoal.platform.cpu import REG_PC

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

SO_TIMEOS = {20: 16, 21: 16, 66: 16, 67: 16}  # SO_RCVTIMEO/SO_SNDTIMEO old and new: accepted, not kept
SO_LINGER = 13


# --- descriptors --------------------------------------------------------------------------
def sock_of(t: Thread, fd: int) -> OpenFile | int:
    f = t.proc.fs.files.get(fd)
    if f is not None and f.kind is FileKind.SOCK:
        return f
    return -ENOTSOCK if fd in t.proc.fs.open_fds else -EBADF


def is_sock(f: OpenFile | None) -> bool:
    return f is not None and f.kind is FileKind.SOCK


def referenced(k: Kernel, pid: int, f: OpenFile, delta: int, at: int) -> None:
    """One descriptor more (dup) or fewer (close) names socket `f` (kernel/files.py)."""
    k.send(k.services_node, SockRef(pid=pid, handle=f.handle, delta=delta), at=at)


def _install(k: Kernel, t: Thread, handle: int, flags: int, at: int, what: str) -> int:
    proc = t.proc
    fd = new_fd(proc) if len(proc.fs.files) < MAX_FILES else -EMFILE
    if fd < 0:
        k.send(k.services_node, SockRef(pid=proc.pid, handle=handle, delta=-1), at=at)
        return fd
    proc.fs.open_fds.add(fd)
    proc.fs.files[fd] = OpenFile(FileKind.SOCK, what, handle, O_RDWR | (flags & SOCK_NONBLOCK))
    if flags & SOCK_CLOEXEC:
        proc.fs.cloexec.add(fd)
    return fd


def again(t: Thread, a0: int) -> int:
    """Make the thread's call again (its pc back onto the ecall); a0 keeps its argument."""
    t.ctx.reg_write(REG_PC, t.ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
    return a0


def _ret(reply: Packet, at: int) -> int:
    return reply.body.ret


def wait(k: Kernel, t: Thread, a0: int, f: OpenFile, what: str, addr: list | None = None,
          busy: bool = False) -> int:
    """Wait until the server says `what` on `f` may go, then make the call again. `busy`: the
    call has done part of its work (a send's first pieces), so a freeze lets it finish."""
    op = k.new_op()
    body = SockWait(op=op, pid=t.proc.pid, handle=f.handle, what=what, tid=t.tid,
                    addr=addr if addr is not None else UNSET)
    k.packets.pending[op] = (t, lambda reply, at: again(t, a0), body)
    k.send(k.services_node, body, at=k.now())
    k.block(t, None, None, why="sock_sending" if busy else "rpc:sock_wait")
    return 0


def attempt(k: Kernel, t: Thread, a0: int, f: OpenFile, body: Request, what: str, nonblock: bool,
             finish: object, addr: list | None = None, data: bytes = b"") -> int:
    """One try; if the server says EAGAIN and the call may wait, wait and try again."""
    if t.ipc_wait_next:
        t.ipc_wait_next = False
        return wait(k, t, a0, f, what, addr)

    def tried(reply: Packet, at: int) -> int:
        if reply.body.ret == -EAGAIN and not nonblock:
            t.ipc_wait_next = True
            return again(t, a0)
        return finish(reply, at)  # type: ignore[operator]
    k.rpc(t, body, tried, data)
    return 0


# --- the calls -----------------------------------------------------------------------------
def _check_type(t: Thread, domain: int, typ: int, proto: int, num: int) -> int:
    base = typ & 0xF
    if typ & ~(0xF | SOCK_NONBLOCK | SOCK_CLOEXEC):
        return -EINVAL
    if domain == AF_INET6:
        return refused(t, num, EAFNOSUPPORT)  # no IPv6 loopback: counted (--stats)
    if domain not in (AF_UNIX, AF_INET):
        return -EAFNOSUPPORT
    if base not in (SOCK_STREAM, SOCK_DGRAM):
        if base >= 11 or base == 0:
            return -EINVAL
        return refused(t, num, ESOCKTNOSUPPORT if domain == AF_UNIX else EPROTONOSUPPORT)
    ok = (0, 1) if domain == AF_UNIX else (0, 6 if base == SOCK_STREAM else 17)
    return 0 if proto in ok else -EPROTONOSUPPORT


def sys_socket(k: Kernel, t: Thread, a: list[int]) -> int:
    domain, typ, proto = s32(a[0]), s32(a[1]), s32(a[2])
    err = _check_type(t, domain, typ, proto, 198)
    if err:
        return err
    if len(t.proc.fs.files) >= MAX_FILES:
        return -EMFILE

    def made(reply: Packet, at: int) -> int:
        h = reply.body.ret
        return h if h < 0 else _install(k, t, h, typ, at, f"{domain}:{typ & 0xF}")
    k.rpc(t, SockNew(family=domain, type=typ & 0xF, pair=False), made)
    return 0


def sys_socketpair(k: Kernel, t: Thread, a: list[int]) -> int:
    domain, typ, proto, sv = s32(a[0]), s32(a[1]), s32(a[2]), a[3]
    err = _check_type(t, domain, typ, proto, 199)
    if err:
        return err
    if domain != AF_UNIX:
        return -EOPNOTSUPP
    t.proc.aspace.translate(sv, "store")
    t.proc.aspace.translate(sv + 7, "store")
    if len(t.proc.fs.files) + 2 > MAX_FILES:
        return -EMFILE

    def made(reply: Packet, at: int) -> int:
        h, g = reply.body.ret, reply.body.value
        if h < 0:
            return h
        x = _install(k, t, h, typ, at, f"{domain}:{typ & 0xF}")
        y = _install(k, t, g, typ, at, f"{domain}:{typ & 0xF}") if x >= 0 else -EMFILE
        if y < 0:
            if x >= 0:
                from shoal.kernel.files import release
                release(k, t.proc, x, at)
                t.proc.fs.open_fds.discard(x)
            else:
                k.send(k.services_node, SockRef(pid=t.proc.pid, handle=g, delta=-1), at=at)
            return y
        t.proc.aspace.write(sv, struct.pack("<ii", x, y))
        return 0
    k.rpc(t, SockNew(family=domain, type=typ & 0xF, pair=True), made)
    return 0


def kind(f: OpenFile) -> tuple[int, int]:
    """The socket's family and type, kept in its entry's path ("family:type"), so that an
    address is read and a datagram sent whole without asking the server."""
    fam, _, typ = f.path.partition(":")
    return int(fam), int(typ)


def _addr_call(k: Kernel, t: Thread, a: list[int], num: int) -> tuple[OpenFile, list] | int | None:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    addr = read_addr(t, a[1], s32(a[2]), kind(f)[0])
    if isinstance(addr, int):
        return addr
    return f, addr  # (a sun_path may fill all 108 bytes with no NUL: Linux's unix_mkname_bsd)


def sys_bind(k: Kernel, t: Thread, a: list[int]) -> int:
    got = _addr_call(k, t, a, 200)
    if not isinstance(got, tuple):
        return 0 if got is None else got
    f, addr = got
    if addr[0] == "inet" and not loopback(addr[1]):
        return -EADDRNOTAVAIL  # the chip has only the loopback interface
    k.rpc(t, SockBind(handle=f.handle, addr=addr, umask=t.proc.fs.umask, **cred.as_user(t)), _ret)
    return 0


def sys_listen(k: Kernel, t: Thread, a: list[int]) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    backlog = a[1] if a[1] < 4096 else 4096  # (unsigned, as Linux compares it with somaxconn)
    k.rpc(t, SockListen(handle=f.handle, backlog=backlog), _ret)
    return 0


def sys_connect(k: Kernel, t: Thread, a: list[int]) -> int:
    got = _addr_call(k, t, a, 203)
    if not isinstance(got, tuple):
        return 0 if got is None else got
    f, addr = got
    if addr[0] == "unix" and addr[1] is None:
        return -EINVAL
    if addr[0] == "inet" and not loopback(addr[1]):
        return -ENETUNREACH  # no outside network
    return attempt(k, t, a[0], f, SockConnect(handle=f.handle, addr=addr, **cred.as_user(t)), "connect",
                    bool(f.flags & O_NONBLOCK), _ret, addr)


def sys_accept(k: Kernel, t: Thread, a: list[int]) -> int:
    return _accept(k, t, a, 0)


def sys_accept4(k: Kernel, t: Thread, a: list[int]) -> int:
    return _accept(k, t, a, a[3])


def _accept(k: Kernel, t: Thread, a: list[int], flags: int) -> int:
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        return -EINVAL
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    addr, lenp = a[1], a[2]
    if out_len(t, addr, lenp) < 0:  # EFAULT before a connection is taken (Linux takes it and loses it)
        return -EINVAL
    if len(t.proc.fs.files) >= MAX_FILES or new_fd(t.proc) < 0:
        return -EMFILE

    def took(reply: Packet, at: int) -> int:
        h = reply.body.ret
        if h < 0:
            return h
        # The address first: a page held elsewhere keeps the answer and makes the call again
        # (kernel/answers.py), the connection not installed twice; a bad one loses the
        # connection, as Linux's (out_len checked it before it was taken).
        try:
            write_addr(t, addr, lenp, reply.body.st)
        except Missing:
            raise
        except Fault:
            k.send(k.services_node, SockRef(pid=t.proc.pid, handle=h, delta=-1), at=at)
            return -EFAULT
        return _install(k, t, h, flags, at, f.path)
    return attempt(k, t, a[0], f, SockAccept(handle=f.handle), "accept", bool(f.flags & O_NONBLOCK), took)


def _name(k: Kernel, t: Thread, a: list[int], peer: bool) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    t.proc.aspace.translate(a[2], "store")  # (writable now: see sockaddr.out_len)
    size = s32(struct.unpack("<I", t.proc.aspace.read(a[2], 4))[0])
    if size < 0:
        return -EINVAL
    if a[1] and size:
        t.proc.aspace.translate(a[1], "store")

    def named(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        if not a[1]:  # (Linux's move_addr_to_user even so: a byte to copy faults, else the length)
            if size:
                return -EFAULT
            t.proc.aspace.write(a[2], struct.pack("<I", len(addr_bytes(reply.body.st))))
            return 0
        return write_addr(t, a[1], a[2], reply.body.st)
    k.rpc(t, SockName(handle=f.handle, peer=peer), named)
    return 0


def sys_getsockname(k: Kernel, t: Thread, a: list[int]) -> int:
    return _name(k, t, a, False)


def sys_getpeername(k: Kernel, t: Thread, a: list[int]) -> int:
    return _name(k, t, a, True)


def sys_shutdown(k: Kernel, t: Thread, a: list[int]) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    how = s32(a[1])
    if how not in (0, 1, 2):
        return -EINVAL
    k.rpc(t, SockShutdown(handle=f.handle, how=how), _ret)
    return 0


def sys_setsockopt(k: Kernel, t: Thread, a: list[int]) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    level, name, optval, optlen = s32(a[1]), s32(a[2]), a[3], s32(a[4])
    if level == 1 and name in SO_TIMEOS or level == 1 and name == SO_LINGER:
        if optlen < (SO_TIMEOS.get(name) or 8):
            return -EINVAL
        t.proc.aspace.read(optval, optlen)
        t.proc.stats.unknown_syscalls[208] += 1  # taken, not enforced: counted (--stats)
        return 0
    if optlen < 4:
        return -EINVAL
    value = s32(struct.unpack("<I", t.proc.aspace.read(optval, 4))[0])
    k.rpc(t, SockOpt(handle=f.handle, level=level, name=name, value=value), _ret)
    return 0


def sys_getsockopt(k: Kernel, t: Thread, a: list[int]) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    level, name, optval, lenp = s32(a[1]), s32(a[2]), a[3], a[4]
    t.proc.aspace.translate(lenp, "store")  # (writable now: see sockaddr.out_len)
    size = s32(struct.unpack("<I", t.proc.aspace.read(lenp, 4))[0])
    if size < 0:
        return -EINVAL
    if level == 1 and (name in SO_TIMEOS or name == SO_LINGER):
        n = min(size, SO_TIMEOS.get(name) or 8)
        t.proc.aspace.write(optval, bytes(n))
        t.proc.aspace.write(lenp, struct.pack("<I", n))
        return 0
    t.proc.aspace.translate(optval, "store") if size else None

    def got(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        n = min(size, 4)
        t.proc.aspace.write(optval, struct.pack("<i", reply.body.value)[:n])
        t.proc.aspace.write(lenp, struct.pack("<I", n))
        return 0
    k.rpc(t, SockOpt(handle=f.handle, level=level, name=name, value=UNSET), got)
    return 0



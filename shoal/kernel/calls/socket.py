"""Socket calls (socket, socketpair, bind, listen, accept, accept4, connect, getsockname,
getpeername, sendto, recvfrom, setsockopt, getsockopt, shutdown, sendmsg, recvmsg; and
read/write/readv/writev on a socket): requests to the socket server on I/O cluster 0
(daemons/sockets.py), which holds every socket of the chip, so the parties may be on any
clusters and may migrate (a descriptor is an OpenFile of kind "sock" whose handle is the
server's; its status flags, O_NONBLOCK, are the descriptor's as on Linux).

Blocking is as for System V IPC (calls/sysv.py): one try; if it would wait (EAGAIN) and
may, the thread sends `sock_wait`, answered once the socket may have changed, and makes
the call again. A handled signal cuts the wait short (EINTR, or the call made again with
SA_RESTART, as Linux's sockets are). A stream send larger than what fits goes in pieces
of at most CHUNK bytes; the bytes already in are kept between tries (`_sent`), and once
some are in, the wait is one a freeze lets finish (`sock_sending`), so a migration never
sends them twice. Control messages (SCM_RIGHTS, SCM_CREDENTIALS) are not carried: a
sendmsg with any is refused (EOPNOTSUPP, counted by --stats); recvmsg gives none.
MSG_WAITALL and MSG_OOB are not served (a recv returns what is there, as without them).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from shoal.abi import EAGAIN, EBADF, EFAULT, EINVAL, EMFILE, ENAMETOOLONG, SIGPIPE
from shoal.kernel import signals
from shoal.kernel.calls.common import refused, s32
from shoal.kernel.container import FileKind, OpenFile, Thread
from shoal.kernel.files import MAX_FILES, canonical, new_fd
from shoal.kernel.memory import Fault
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
    SockRecv,
    SockRef,
    SockSend,
    SockShutdown,
    SockWait,
)
from shoal.platform.cpu import REG_PC

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET = 1, 2, 3, 5
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
O_RDWR, O_NONBLOCK = 2, 0o4000
MSG_OOB, MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL = 1, 2, 0x20, 0x40, 0x100, 0x4000
ENOTSOCK, EDESTADDRREQ, EMSGSIZE, EPROTONOSUPPORT, ESOCKTNOSUPPORT = 88, 89, 90, 93, 94
EOPNOTSUPP, EAFNOSUPPORT, EADDRNOTAVAIL, ENETUNREACH, EPIPE = 95, 97, 99, 101, 32
# (EDESTADDRREQ, ENOTCONN, EISCONN, EADDRINUSE, ECONNREFUSED come from the server)
SUN_PATH = 108
CHUNK = 64 << 10  # bytes one send request carries at most (a stream's send goes in pieces)
MAX_DGRAM = 2 * 212992  # a datagram longer than any SO_SNDBUF allows: EMSGSIZE before reading it
LOOPBACK = 0x7F000001
SO_TIMEOS = {20: 16, 21: 16, 66: 16, 67: 16}  # SO_RCVTIMEO/SO_SNDTIMEO old and new: accepted, not kept
SO_LINGER = 13
_sent: WeakKeyDictionary[Thread, int] = WeakKeyDictionary()  # a blocking stream send: bytes already in


# --- descriptors --------------------------------------------------------------------------
def sock_of(t: Thread, fd: int) -> OpenFile | int:
    f = t.proc.files.get(fd)
    if f is not None and f.kind is FileKind.SOCK:
        return f
    return -ENOTSOCK if fd in t.proc.open_fds else -EBADF


def is_sock(f: OpenFile | None) -> bool:
    return f is not None and f.kind is FileKind.SOCK


def referenced(k: Kernel, pid: int, f: OpenFile, delta: int, at: int) -> None:
    """One descriptor more (dup) or fewer (close) names socket `f` (kernel/files.py)."""
    k.send(k.services_node, SockRef(pid=pid, handle=f.handle, delta=delta), at=at)


def _install(k: Kernel, t: Thread, handle: int, flags: int, at: int, what: str) -> int:
    proc = t.proc
    fd = new_fd(proc) if len(proc.files) < MAX_FILES else -EMFILE
    if fd < 0:
        k.send(k.services_node, SockRef(pid=proc.pid, handle=handle, delta=-1), at=at)
        return fd
    proc.open_fds.add(fd)
    proc.files[fd] = OpenFile(FileKind.SOCK, what, handle, O_RDWR | (flags & SOCK_NONBLOCK))
    if flags & SOCK_CLOEXEC:
        proc.cloexec.add(fd)
    return fd


def _again(t: Thread, a0: int) -> int:
    """Make the thread's call again (its pc back onto the ecall); a0 keeps its argument."""
    t.ctx.reg_write(REG_PC, t.ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
    return a0


def _ret(reply: Packet, at: int) -> int:
    return reply.body.ret


def _wait(k: Kernel, t: Thread, a0: int, f: OpenFile, what: str, addr: list | None = None,
          busy: bool = False) -> int:
    """Wait until the server says `what` on `f` may go, then make the call again. `busy`: the
    call has done part of its work (a send's first pieces), so a freeze lets it finish."""
    op = k.new_op()
    body = SockWait(op=op, pid=t.proc.pid, handle=f.handle, what=what, tid=t.tid,
                    addr=addr if addr is not None else UNSET)
    k.pending[op] = (t, lambda reply, at: _again(t, a0), body)
    k.send(k.services_node, body, at=k.now())
    k.block(t, None, None, why="sock_sending" if busy else "rpc:sock_wait")
    return 0


def _attempt(k: Kernel, t: Thread, a0: int, f: OpenFile, body: Request, what: str, nonblock: bool,
             finish: object, addr: list | None = None, data: bytes = b"") -> int:
    """One try; if the server says EAGAIN and the call may wait, wait and try again."""
    if t.ipc_wait_next:
        t.ipc_wait_next = False
        return _wait(k, t, a0, f, what, addr)

    def tried(reply: Packet, at: int) -> int:
        if reply.body.ret == -EAGAIN and not nonblock:
            t.ipc_wait_next = True
            return _again(t, a0)
        return finish(reply, at)  # type: ignore[operator]
    k.rpc(t, body, tried, data)
    return 0


# --- addresses -----------------------------------------------------------------------------
def read_addr(t: Thread, addr: int, size: int, family: int) -> list | int:
    """A struct sockaddr from the guest as the server's list; -errno if it is not one."""
    if size < 0 or size > 128:
        return -EINVAL
    if size < 2:
        return -EINVAL
    raw = t.proc.aspace.read(addr, size)
    fam = struct.unpack_from("<H", raw)[0]
    if family == AF_UNIX:
        if fam != AF_UNIX or size > 2 + SUN_PATH:
            return -EINVAL
        path = raw[2:]
        if size == 2:
            return ["unix", None, None]  # autobind (bind), or nothing to connect to
        if path[0] == 0:  # abstract: every byte up to size counts
            name = path.decode("latin-1")
            return ["unix", name, name]
        path = path.split(b"\0", 1)[0]
        if not path:
            return -EINVAL
        shown = path.decode("utf-8", "replace")
        key = canonical(shown if shown.startswith("/") else t.proc.cwd.rstrip("/") + "/" + shown)
        return ["unix", key, shown]
    if fam != AF_INET:
        return -EAFNOSUPPORT
    if size < 16:
        return -EINVAL
    port, ip = struct.unpack_from(">HI", raw, 2)
    return ["inet", ip, port]


def addr_bytes(addr: list) -> bytes:
    if addr[0] == "unix":
        shown = addr[2] or ""
        if not shown:
            return struct.pack("<H", AF_UNIX)
        if shown.startswith("\0"):
            return struct.pack("<H", AF_UNIX) + shown.encode("latin-1")
        return struct.pack("<H", AF_UNIX) + shown.encode() + b"\0"
    return struct.pack("<H", AF_INET) + struct.pack(">HI", addr[2], addr[1]) + bytes(8)


def write_addr(t: Thread, addr: int, lenp: int, value: list) -> int:
    """Linux's move_addr_to_user: as much of the address as fits, and its full length."""
    if not addr:
        return 0
    size = s32(struct.unpack("<I", t.proc.aspace.read(lenp, 4))[0])
    if size < 0:
        return -EINVAL
    raw = addr_bytes(value)
    if size:
        t.proc.aspace.write(addr, raw[:size])
    t.proc.aspace.write(lenp, struct.pack("<I", len(raw)))
    return 0


def _loopback(ip: int) -> bool:
    return ip >> 24 == 127 or ip == 0


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
    if len(t.proc.files) >= MAX_FILES:
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
    if len(t.proc.files) + 2 > MAX_FILES:
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
                t.proc.open_fds.discard(x)
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
    if addr[0] == "unix" and addr[2] is not None and len(addr[2].encode("utf-8", "replace")) >= SUN_PATH \
            and not addr[2].startswith("\0"):
        return -ENAMETOOLONG
    return f, addr


def sys_bind(k: Kernel, t: Thread, a: list[int]) -> int:
    got = _addr_call(k, t, a, 200)
    if not isinstance(got, tuple):
        return 0 if got is None else got
    f, addr = got
    if addr[0] == "inet" and not _loopback(addr[1]):
        return -EADDRNOTAVAIL  # the chip has only the loopback interface
    k.rpc(t, SockBind(handle=f.handle, addr=addr, umask=t.proc.umask), _ret)
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
    if addr[0] == "inet" and not _loopback(addr[1]):
        return -ENETUNREACH  # no outside network
    return _attempt(k, t, a[0], f, SockConnect(handle=f.handle, addr=addr), "connect",
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
    if addr:  # EFAULT before a connection is taken (Linux takes it and loses it)
        size = s32(struct.unpack("<I", t.proc.aspace.read(lenp, 4))[0])
        if size < 0:
            return -EINVAL
        if size:
            t.proc.aspace.translate(addr, "store")
    if len(t.proc.files) >= MAX_FILES or new_fd(t.proc) < 0:
        return -EMFILE

    def took(reply: Packet, at: int) -> int:
        h = reply.body.ret
        if h < 0:
            return h
        fd = _install(k, t, h, flags, at, f.path)
        if fd >= 0:
            try:
                write_addr(t, addr, lenp, reply.body.st)
            except Fault:
                return -EFAULT
        return fd
    return _attempt(k, t, a[0], f, SockAccept(handle=f.handle), "accept", bool(f.flags & O_NONBLOCK), took)


def _name(k: Kernel, t: Thread, a: list[int], peer: bool) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    size = s32(struct.unpack("<I", t.proc.aspace.read(a[2], 4))[0])
    if size < 0:
        return -EINVAL

    def named(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
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
        t.proc.unknown_syscalls[208] += 1  # taken, not enforced: counted (--stats)
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


# --- data ----------------------------------------------------------------------------------
def send(k: Kernel, t: Thread, a0: int, f: OpenFile, pieces: list[tuple[int, int]], addr: list | None,
         flags: int) -> object:
    """send/sendto/sendmsg/write/writev on socket `f`: the bytes of `pieces` (address, length)."""
    total = sum(n for _, n in pieces)
    done = _sent.pop(t, 0)
    nonblock = bool(f.flags & O_NONBLOCK or flags & MSG_DONTWAIT)
    if t.ipc_wait_next:
        t.ipc_wait_next = False
        if done:
            _sent[t] = done
        return _wait(k, t, a0, f, "send", addr, busy=bool(done))
    dgram = kind(f)[1] == SOCK_DGRAM
    if total > MAX_DGRAM and dgram:
        return -EMSGSIZE
    want = total - done if dgram else min(total - done, CHUNK)
    data = _gather(t, pieces, done, want)

    def sent(reply: Packet, at: int) -> int:
        ret = reply.body.ret
        if ret == -EAGAIN and not nonblock:
            _sent[t] = done
            t.ipc_wait_next = True
            return _again(t, a0)
        if ret == -EPIPE and not done and not flags & MSG_NOSIGNAL:
            signals.post(k, t.proc, t, signals.info(SIGPIPE, signals.SI_USER, t.proc.pid, 0), at)
        if ret < 0:
            return done or ret
        now = done + ret
        if now < total and ret == len(data) and ret and not dgram:
            _sent[t] = now  # the next piece
            return _again(t, a0)
        if now < total and not nonblock and not dgram:
            _sent[t] = now
            t.ipc_wait_next = True
            return _again(t, a0)
        return now
    k.rpc(t, SockSend(handle=f.handle, addr=addr if addr is not None else UNSET, flags=flags), sent, data)
    return 0


def _gather(t: Thread, pieces: list[tuple[int, int]], skip: int, want: int) -> bytes:
    out = bytearray()
    for addr, n in pieces:
        if skip >= n:
            skip -= n
            continue
        take = min(n - skip, want - len(out))
        if take <= 0:
            break
        out += t.proc.aspace.read(addr + skip, take)
        skip = 0
    return bytes(out)


def recv(k: Kernel, t: Thread, a0: int, f: OpenFile, pieces: list[tuple[int, int]], flags: int,
         then: object = None) -> int:
    """recv/recvfrom/recvmsg/read/readv on socket `f` into `pieces`; `then(reply, n)` writes the
    sender's address and flags (recvfrom, recvmsg)."""
    want = min(sum(n for _, n in pieces), MAX_DGRAM if kind(f)[1] == SOCK_DGRAM else CHUNK)
    for addr, n in pieces:  # EFAULT now rather than after a wait
        if n:
            t.proc.aspace.translate(addr, "store")

    def got(reply: Packet, at: int) -> int:
        ret = reply.body.ret
        if ret < 0:
            return ret
        data = memoryview(reply.data)
        for buf, n in pieces:
            if not data:
                break
            t.proc.aspace.write(buf, data[:n])
            data = data[n:]
        if then is not None:
            return then(reply, ret)  # type: ignore[operator]
        return ret
    nonblock = bool(f.flags & O_NONBLOCK or flags & MSG_DONTWAIT)
    return _attempt(k, t, a0, f, SockRecv(handle=f.handle, size=want, flags=flags & MSG_PEEK), "recv",
                    nonblock, got)


def sys_sendto(k: Kernel, t: Thread, a: list[int]) -> object:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    addr = None
    if a[4]:
        got = read_addr(t, a[4], s32(a[5]), kind(f)[0])
        if isinstance(got, int):
            return got
        addr = got
        if addr[0] == "unix" and addr[1] is None:
            return -EINVAL
        if addr[0] == "inet" and not _loopback(addr[1]):
            return -ENETUNREACH
    return send(k, t, a[0], f, [(a[1], a[2])], addr, a[3])


def sys_recvfrom(k: Kernel, t: Thread, a: list[int]) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    src, lenp, flags = a[4], a[5], a[3]
    if src:
        size = s32(struct.unpack("<I", t.proc.aspace.read(lenp, 4))[0])
        if size < 0:
            return -EINVAL

    def then(reply: Packet, n: int) -> int:
        if src and reply.body.st is not UNSET:
            write_addr(t, src, lenp, reply.body.st)
        elif src:
            t.proc.aspace.write(lenp, struct.pack("<I", 0))
        return reply.body.value if flags & MSG_TRUNC and reply.body.value is not UNSET else n
    return recv(k, t, a[0], f, [(a[1], a[2])], flags, then)


MSGHDR = struct.Struct("<IIIiIIi")  # name, namelen, iov, iovlen, control, controllen, flags


def _iov(t: Thread, iov: int, cnt: int) -> list[tuple[int, int]] | int:
    if cnt < 0 or cnt > 1024:
        return -EMSGSIZE
    raw = t.proc.aspace.read(iov, 8 * cnt) if cnt else b""
    return [struct.unpack_from("<II", raw, 8 * i) for i in range(cnt)]


def sys_sendmsg(k: Kernel, t: Thread, a: list[int]) -> object:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    name, namelen, iov, iovlen, _, controllen, _ = MSGHDR.unpack(t.proc.aspace.read(a[1], MSGHDR.size))
    if controllen:
        return refused(t, 211, EOPNOTSUPP)  # no control messages (SCM_RIGHTS): counted
    pieces = _iov(t, iov, iovlen)
    if isinstance(pieces, int):
        return pieces
    addr = None
    if name:
        got = read_addr(t, name, namelen, kind(f)[0])
        if isinstance(got, int):
            return got
        addr = got
        if addr[0] == "inet" and not _loopback(addr[1]):
            return -ENETUNREACH
    return send(k, t, a[0], f, pieces, addr, a[2])


def sys_recvmsg(k: Kernel, t: Thread, a: list[int]) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    msg, flags = a[1], a[2]
    name, namelen, iov, iovlen, _, _, _ = MSGHDR.unpack(t.proc.aspace.read(msg, MSGHDR.size))
    pieces = _iov(t, iov, iovlen)
    if isinstance(pieces, int):
        return pieces

    def then(reply: Packet, n: int) -> int:
        st = reply.body.st
        out_len = 0
        if name and st is not UNSET:
            raw = addr_bytes(st)
            t.proc.aspace.write(name, raw[:namelen])
            out_len = len(raw)
        full = reply.body.value
        trunc = MSG_TRUNC if full is not UNSET and full > n else 0
        t.proc.aspace.write(msg + 4, struct.pack("<I", out_len))
        t.proc.aspace.write(msg + 20, struct.pack("<Ii", 0, trunc))
        return full if flags & MSG_TRUNC and trunc else n
    return recv(k, t, a[0], f, pieces, flags, then)


def read(k: Kernel, t: Thread, a0: int, f: OpenFile, pieces: list[tuple[int, int]]) -> int:
    return recv(k, t, a0, f, pieces, 0)


def write(k: Kernel, t: Thread, a0: int, f: OpenFile, pieces: list[tuple[int, int]]) -> object:
    return send(k, t, a0, f, pieces, None, 0)

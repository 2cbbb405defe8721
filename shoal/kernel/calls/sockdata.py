"""Moving data through sockets: send, sendto, sendmsg, recv, recvfrom, recvmsg, and read/write
on a socket descriptor (calls/io.py). A stream send larger than what fits goes in pieces of
at most CHUNK bytes; the bytes already in are kept between tries in the thread's record
(`Thread.call.sent`, which a migration and an image carry), so a migration never sends them
twice (calls/socket.py says how the waits work)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import (
    EAGAIN,
    EINVAL,
    EMSGSIZE,
    ENETUNREACH,
    EOPNOTSUPP,
    EPIPE,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_PEEK,
    MSG_TRUNC,
    O_NONBLOCK,
    SIGPIPE,
    SOCK_DGRAM,
)
from shoal.kernel import signals, ubytes
from shoal.kernel.calls import cred
from shoal.kernel.calls.common import refused, s32
from shoal.kernel.calls.sockaddr import addr_bytes, loopback, out_len, read_addr, write_addr
from shoal.kernel.calls.socket import again, attempt, kind, sock_of, wait
from shoal.kernel.container import OpenFile, Thread
from shoal.kernel.memory import Fault, Missing
from shoal.messages import (
    UNSET,
    SockRecv,
    SockSend,
)

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


CHUNK = 64 << 10  # bytes one send request carries at most (a stream's send goes in pieces)


MAX_DGRAM = 2 * 212992  # a datagram longer than any SO_SNDBUF allows: EMSGSIZE before reading it


# --- data ----------------------------------------------------------------------------------
def send(k: Kernel, t: Thread, a0: int, f: OpenFile, pieces: list[tuple[int, int]], addr: list | None,
         flags: int) -> object:
    """send/sendto/sendmsg/write/writev on socket `f`: the bytes of `pieces` (address, length)."""
    total = sum(n for _, n in pieces)
    done = t.call.sent  # (kept until this piece is on its way: a page away redoes the call)
    nonblock = bool(f.flags & O_NONBLOCK or flags & MSG_DONTWAIT)
    if t.ipc_wait_next:
        t.ipc_wait_next = False
        return wait(k, t, a0, f, "send", addr, busy=bool(done))
    dgram = kind(f)[1] == SOCK_DGRAM
    if total > MAX_DGRAM and dgram:
        t.call.sent = 0
        return -EMSGSIZE
    want = total - done if dgram else min(total - done, CHUNK)
    try:
        data = ubytes.gather(t, pieces, done, want)
    except Missing:
        raise  # (made again once the page is here, from `done`)
    except Fault:
        t.call.sent = 0
        raise
    t.call.sent = 0

    def sent(reply: Packet, at: int) -> int:
        ret = reply.body.ret
        if ret == -EAGAIN and not nonblock:
            t.call.sent = done
            t.ipc_wait_next = True
            return again(t, a0)
        if ret == -EPIPE and not done and not flags & MSG_NOSIGNAL:
            signals.post(k, t.proc, t, signals.info(SIGPIPE, signals.SI_USER, t.proc.pid, 0), at)
        if ret < 0:
            return done or ret
        now = done + ret
        if now < total and ret == len(data) and ret and not dgram:
            t.call.sent = now  # the next piece
            return again(t, a0)
        if now < total and not nonblock and not dgram:
            t.call.sent = now
            t.ipc_wait_next = True
            return again(t, a0)
        return now
    k.rpc(t, SockSend(handle=f.handle, addr=addr if addr is not None else UNSET, flags=flags,
                         **cred.as_user(t)), sent, data)
    return 0


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
    return attempt(k, t, a0, f, SockRecv(handle=f.handle, size=want, flags=flags & MSG_PEEK), "recv",
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
        if addr[0] == "inet" and not loopback(addr[1]):
            return -ENETUNREACH
    return send(k, t, a[0], f, [(a[1], a[2])], addr, a[3])


def sys_recvfrom(k: Kernel, t: Thread, a: list[int]) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    src, lenp, flags = a[4], a[5], a[3]
    if out_len(t, src, lenp) < 0:
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
        if addr[0] == "inet" and not loopback(addr[1]):
            return -ENETUNREACH
    return send(k, t, a[0], f, pieces, addr, a[2])


def sys_recvmsg(k: Kernel, t: Thread, a: list[int]) -> int:
    f = sock_of(t, s32(a[0]))
    if isinstance(f, int):
        return f
    msg, flags = a[1], a[2]
    name, namelen, iov, iovlen, _, _, _ = MSGHDR.unpack(t.proc.aspace.read(msg, MSGHDR.size))
    for field in (msg + 4, msg + MSGHDR.size - 1):  # (msg_namelen, msg_flags: see sockaddr.out_len)
        t.proc.aspace.translate(field, "store")
    if name and namelen:
        t.proc.aspace.translate(name, "store")
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

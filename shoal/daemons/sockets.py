"""Sockets: AF_UNIX and loopback AF_INET, stream and datagram, a server of I/O cluster 0.

Every socket of the chip is an object of this server, named by a handle; a descriptor is
a kernel's OpenFile of kind "sock" naming it (kernel/calls/socket.py). So one socket is
shared by descriptors of processes on any clusters (dup, fork), a process keeps its
sockets when it migrates (its descriptors carry only the handle), and the two ends of a
connection may be anywhere. The data crosses the NoC twice (sender's kernel -> here ->
receiver's kernel), as typed packets (messages.py: sock_*).

- Names: an AF_UNIX path (absolute, resolved by the caller's kernel against its working
  directory) is a socket file of the file server (same I/O cluster, called directly): bind
  makes it (EADDRINUSE if the name exists), stat and getdents see it, unlink removes it, and
  it stays after its socket closes (connect then gives ECONNREFUSED); this registry keys the
  socket by the file's inode. An abstract name is an entry of this registry only.
  AF_INET: ports per type; 127.0.0.0/8 and INADDR_ANY (which means the loopback) only;
  ephemeral ports from 32768 up (Linux's ip_local_port_range starts there; it picks them
  at random, this server in order).
- Flow control: each socket has a receive buffer of SO_RCVBUF bytes (Linux's default
  net.core.rmem_default, 212992 = 208 KiB, for every socket; setsockopt doubles the value
  as Linux does) and a chip-wide pool of POOL bytes bounds host memory. A stream send
  takes what fits; a unix datagram waits for room (and for fewer than 11 queued, Linux's
  max_dgram_qlen 10); a UDP datagram that does not fit is dropped, as UDP does.
- Every operation is immediate: done, or -EAGAIN when it would wait. Blocking is the
  kernel's: after EAGAIN it sends `sock_wait`, answered when the socket (or the listener or
  destination it waits on) may have changed, and makes the call again.
- References: descriptors per pid (`sock_ref` +1 on dup and -1 on close; a fork's child
  gets its parent's counts; a process that ends drops its own). A socket with none left
  closes: its name goes, its peer reads what is left then end of file (ECONNRESET if this
  end had unread data, as Linux's reset), and writes to it give EPIPE.
Long (~560 lines): every request of the socket protocol in one server (addresses are
socknames.py's, readiness sockpoll.py's); each handler is short.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import field

from shoal.abi import (
    EAGAIN,
    ECONNREFUSED,
    ECONNRESET,
    EDESTADDRREQ,
    EINVAL,
    EISCONN,
    EMSGSIZE,
    ENFILE,
    ENOPROTOOPT,
    ENOTCONN,
    EOPNOTSUPP,
    EPIPE,
    EPROTOTYPE,
)
from shoal.daemons import sockpoll
from shoal.daemons.core import Core, Handler, HostCall
from shoal.daemons.socknames import DGRAM, LOOPBACK, SOL_SOCKET, STREAM, SockNames
from shoal.messages import Kind
from shoal.platform.noc import Packet
from shoal.record import dataclass

RMEM_DEFAULT = 212992  # net.core.rmem_default and rmem_max, wmem the same
MIN_RCVBUF, MIN_SNDBUF = 2304, 4608  # SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF
MAX_DGRAM_QLEN = 10  # net.unix.max_dgram_qlen
SOMAXCONN = 4096
MAX_SOCKETS = 1024  # on the chip (host memory): ENFILE beyond
POOL = 16 << 20  # bytes buffered on the chip at most
MAX_WAITERS = 256  # waits parked on one socket (older ones are answered: they try again)
IPPROTO_TCP = 6
SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_ACCEPTCONN, SO_PROTOCOL, SO_DOMAIN = 3, 4, 7, 8, 30, 38, 39
FLAGS = {1, 2, 5, 6, 9, 10, 15}  # SO_DEBUG, SO_REUSEADDR, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE,
# SO_OOBINLINE, SO_REUSEPORT: kept, reported 0 or 1
SO_LOWAT = (18, 19)  # SO_RCVLOWAT, SO_SNDLOWAT: 1
SHUT_RD, SHUT_WR = 1, 2  # as bits (how + 1)


@dataclass(eq=False)
class Sock:
    """A socket on the chip: its family and type, who holds it, its state and its data."""

    family: int  # 1 AF_UNIX, 2 AF_INET
    type: int
    refs: dict[int, int] = field(default_factory=dict)  # pid -> descriptors
    name: list | None = None  # bound address
    state: str = "new"  # new, listening, connected, closed
    peer: int = 0  # stream: the other end; unix datagram: the connected destination
    dest: list | None = None  # inet datagram: the connected destination
    queue: deque = field(default_factory=deque)  # listening: connections not yet accepted
    backlog: int = 0
    data: bytearray = field(default_factory=bytearray)  # stream: received, unread
    dgrams: deque = field(default_factory=deque)  # datagram: (sender's address, bytes)
    queued: int = 0  # bytes in dgrams
    rcvbuf: int = RMEM_DEFAULT
    sndbuf: int = RMEM_DEFAULT
    opts: dict[tuple[int, int], int] = field(default_factory=dict)
    shut: int = 0  # SHUT_RD | SHUT_WR bits of this end
    err: int = 0  # SO_ERROR (positive)
    waiters: list[Packet] = field(default_factory=list)


def _source(s: Sock) -> list:
    """A sender's address as its receiver sees it (INADDR_ANY: the loopback's)."""
    if s.name is None:
        return _unnamed(s)
    return ["inet", s.name[1] or LOOPBACK, s.name[2]] if s.family == 2 else s.name


def _unnamed(s: Sock) -> list:
    return ["unix", "", ""] if s.family == 1 else ["inet", 0, 0]


class SocketServer:
    def __init__(self, core: Core, bind_name: Callable[[str, int, int], int],
                 find_name: Callable[[str], int]) -> None:
        self._reply = core.reply
        self.socks: dict[int, Sock] = {}
        self.next_handle = 0
        # what is bound to which address (socknames.py); path names through the file server's
        self.names = SockNames(self.socks, bind_name, find_name)
        self.buffered = 0  # bytes in every buffer (POOL)
        self.packets: dict[Kind, Handler] = {
            Kind.SOCK_NEW: self.on_new, Kind.SOCK_BIND: self.on_bind, Kind.SOCK_LISTEN: self.on_listen,
            Kind.SOCK_CONNECT: self.on_connect, Kind.SOCK_ACCEPT: self.on_accept,
            Kind.SOCK_SEND: self.on_send, Kind.SOCK_RECV: self.on_recv, Kind.SOCK_SHUTDOWN: self.on_shutdown,
            Kind.SOCK_NAME: self.on_name, Kind.SOCK_OPT: self.on_opt, Kind.SOCK_REF: self.on_ref,
            Kind.SOCK_WAIT: self.on_wait}
        self.host: dict[str, HostCall] = {}

    def stats(self) -> dict[str, int]:
        return {"sockets": len(self.socks), "socket_bytes": self.buffered}

    # the objects ---------------------------------------------------------------------------
    def _new(self, family: int, type_: int, refs: dict[int, int]) -> int:
        self.next_handle += 1
        self.socks[self.next_handle] = Sock(family, type_, refs)
        return self.next_handle

    def _get(self, req: Packet, at: int) -> Sock | None:
        s = self.socks.get(req.body.handle)
        if s is None or req.body.pid not in s.refs:
            self._reply(req, at, ret=-EINVAL)  # (kernels name only handles they hold)
            return None
        return s

    def _close(self, h: int, at: int) -> None:
        s = self.socks.pop(h)
        if s.name is not None:
            self.names.unbind(h, s)
        unread = bool(s.data or s.dgrams)
        self.buffered -= len(s.data) + s.queued
        s.state = "closed"
        while s.queue:  # connections never accepted: their clients are reset
            n = s.queue.popleft()
            c = self.socks.get(self.socks[n].peer) if n in self.socks else None
            if c is not None:
                c.err = ECONNRESET
                self._changed(c, at)
            if n in self.socks:
                self._close(n, at)
        peer = self.socks.get(s.peer) if s.type == STREAM else None
        if peer is not None:
            if unread:
                peer.err = ECONNRESET
            self._changed(peer, at)
        for w in s.waiters:
            self._reply(w, at, ret=0)

    def _changed(self, s: Sock, at: int) -> None:
        """Something happened to `s`: its waiters try again."""
        waiting, s.waiters = s.waiters, []
        for w in waiting:
            self._reply(w, at, ret=0)

    def process_ended(self, pid: int, at: int) -> None:
        for h in [h for h, s in self.socks.items() if pid in s.refs]:
            s = self.socks.get(h)
            if s is not None:
                del s.refs[pid]
                if not s.refs and s.state != "embryo":
                    self._close(h, at)

    def forked(self, parent: int, child: int) -> None:
        for s in self.socks.values():
            if parent in s.refs:
                s.refs[child] = s.refs[parent]

    # requests ------------------------------------------------------------------------------
    def on_new(self, req: Packet, at: int) -> None:
        b = req.body
        if len(self.socks) + (2 if b.pair else 1) > MAX_SOCKETS:
            self._reply(req, at, ret=-ENFILE)
            return
        h = self._new(b.family, b.type, {b.pid: 1})
        if not b.pair:
            self._reply(req, at, ret=h)
            return
        g = self._new(b.family, b.type, {b.pid: 1})
        s, t = self.socks[h], self.socks[g]
        s.peer, t.peer = g, h
        if b.type == STREAM:
            s.state = t.state = "connected"
        self._reply(req, at, ret=h, value=g)

    def on_bind(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is not None:
            self._reply(req, at, ret=self.names.bind(req.body.handle, s, req.body.addr, req.body.umask, at,
                                                    req.body.cred))

    def on_listen(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is None:
            return
        ret = 0
        if s.type != STREAM:
            ret = -EOPNOTSUPP
        elif s.state not in ("new", "listening"):
            ret = -EINVAL
        elif s.name is None:
            ret = -EINVAL if s.family == 1 else self.names.autobind(req.body.handle, s)
        if ret == 0:
            s.state = "listening"
            s.backlog = min(max(req.body.backlog, 0), SOMAXCONN)
            self._changed(s, at)  # connects waiting for room
        self._reply(req, at, ret=ret)

    def on_connect(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is not None:
            self._reply(req, at, ret=self._connect(req.body.handle, s, req.body.addr, at, req.body.cred))

    def _connect(self, h: int, s: Sock, addr: list, at: int, cred: object = None) -> int:
        if s.type == DGRAM:
            if s.family == 2:
                s.dest = addr
                return self.names.autobind(h, s)
            g, o = self.names.find(addr, DGRAM, cred)
            if o is None:
                return g
            if o.type != DGRAM:
                return -EPROTOTYPE
            s.peer = g
            return 0
        g, o = self.names.find(addr, STREAM, cred)  # (a unix name is looked up first, as Linux does)
        if o is None and g < 0:
            return g
        if s.state == "connected":
            return -EISCONN
        if s.state == "listening":
            return -EINVAL
        if o is None:
            return g if g < 0 else -ECONNREFUSED
        if o.type != STREAM:
            return -EPROTOTYPE
        if o.state != "listening":
            return -ECONNREFUSED
        if len(o.queue) > o.backlog:
            return -EAGAIN
        if len(self.socks) >= MAX_SOCKETS:
            return -EAGAIN
        ret = self.names.autobind(h, s)
        if ret < 0:
            return ret
        if s.family == 2 and not s.name[1]:  # type: ignore[index]
            s.name = ["inet", addr[1] or LOOPBACK, s.name[2]]  # type: ignore[index]  (the route's source)
        n = self._new(s.family, STREAM, {})
        c = self.socks[n]
        c.state, c.peer = "embryo", h
        c.name = ["inet", addr[1] or 0x7F000001, o.name[2]] if s.family == 2 else list(o.name)  # type: ignore[index]
        c.rcvbuf, c.sndbuf = o.rcvbuf, o.sndbuf
        s.state, s.peer = "connected", n
        o.queue.append(n)
        self._changed(o, at)
        return 0

    def on_accept(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is None:
            return
        if s.state != "listening":
            self._reply(req, at, ret=-EINVAL)
            return
        if not s.queue:
            self._reply(req, at, ret=-EAGAIN)
            return
        n = s.queue.popleft()
        c = self.socks[n]
        c.state, c.refs = "connected", {req.body.pid: 1}
        client = self.socks.get(c.peer)
        peer = client.name if client is not None and client.name else _unnamed(c)
        self._changed(s, at)  # a connect waiting for room
        self._reply(req, at, ret=n, st=peer)

    def _room(self, s: Sock, n: int) -> int:
        used = len(s.data) + s.queued
        return max(0, min(s.rcvbuf - used, POOL - self.buffered, n))

    def on_send(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is not None:
            self._reply(req, at, ret=self._send(req, s, at))

    def _send(self, req: Packet, s: Sock, at: int) -> int:
        b, data = req.body, req.data
        if s.err:
            err, s.err = s.err, 0
            return -err
        if s.type == STREAM:
            if s.family == 1 and b.addr:  # (Linux's unix_stream_sendmsg looks at an address first)
                return -EISCONN if s.state == "connected" else -EOPNOTSUPP
            if s.shut & SHUT_WR:
                return -EPIPE
            if s.state != "connected":
                return -ENOTCONN if s.family == 1 else -EPIPE
            peer = self.socks.get(s.peer)
            if peer is None or (s.family == 1 and peer.shut & SHUT_RD):
                return -EPIPE
            take = self._room(peer, len(data))
            if take == 0:
                return -EAGAIN if data else 0
            peer.data += data[:take]
            self.buffered += take
            self._changed(peer, at)
            return take
        # datagrams
        addr = b.addr if b.addr else None
        if s.family == 1:
            if addr is not None:
                g, o = self.names.find(addr, DGRAM, b.cred)
                if o is None:
                    return g
            elif s.peer:
                g, o = s.peer, self.socks.get(s.peer)
                if o is None:
                    return -ECONNREFUSED
            else:
                return -ENOTCONN
            if o.type != DGRAM:
                return -EPROTOTYPE
            if len(data) > s.sndbuf - 32:
                return -EMSGSIZE
            if o.shut & SHUT_RD:
                return -EPIPE
            if len(o.dgrams) > MAX_DGRAM_QLEN or self._room(o, len(data)) < len(data):
                return -EAGAIN
        else:
            addr = addr or s.dest
            if addr is None:
                return -EDESTADDRREQ
            if len(data) > 65507:
                return -EMSGSIZE
            ret = self.names.autobind(b.handle, s)
            if ret < 0:
                return ret
            g, o = self.names.find(addr, DGRAM)
            if o is None or o.shut & SHUT_RD or self._room(o, len(data)) < len(data):
                return len(data)  # nobody there, or no room: UDP drops it
        o.dgrams.append((_source(s), bytes(data)))
        o.queued += len(data)
        self.buffered += len(data)
        self._changed(o, at)
        return len(data)

    def on_recv(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is None:
            return
        b = req.body
        peek = bool(b.flags & 2)
        if s.err and not s.data:
            err, s.err = s.err, 0
            self._reply(req, at, ret=-err)
            return
        if s.type == STREAM:
            if s.state != "connected":
                self._reply(req, at, ret=-EINVAL if s.family == 1 else -ENOTCONN)
                return
            if s.data and b.size:
                out = bytes(s.data[:b.size])
                if not peek:
                    del s.data[:b.size]
                    self.buffered -= len(out)
                    peer = self.socks.get(s.peer)
                    if peer is not None:
                        self._changed(peer, at)  # its sends may go on
                self._reply(req, at, ret=len(out), data=out, bulk=True)
                return
            peer = self.socks.get(s.peer)
            eof = s.shut & SHUT_RD or peer is None or peer.shut & SHUT_WR or b.size == 0
            self._reply(req, at, ret=0 if eof else -EAGAIN)
            return
        if s.dgrams:
            src, msg = s.dgrams[0]
            if not peek:
                s.dgrams.popleft()
                s.queued -= len(msg)
                self.buffered -= len(msg)
                self._changed(s, at)  # senders waiting for room
            out = msg[:b.size]
            self._reply(req, at, ret=len(out), data=out, st=src, value=len(msg), bulk=True)
            return
        self._reply(req, at, ret=0 if s.shut & SHUT_RD else -EAGAIN)

    def on_shutdown(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is None:
            return
        how = req.body.how + 1
        if s.type == STREAM and s.state != "connected" and (s.family == 2 or s.state == "new"):
            self._reply(req, at, ret=-ENOTCONN)
            return
        s.shut |= how
        self._changed(s, at)
        peer = self.socks.get(s.peer) if s.type == STREAM else None
        if peer is not None:
            self._changed(peer, at)
        self._reply(req, at, ret=0)

    def on_name(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is None:
            return
        if not req.body.peer:
            self._reply(req, at, ret=0, st=s.name or _unnamed(s))
            return
        if s.type == STREAM:
            peer = self.socks.get(s.peer) if s.state == "connected" else None
            if s.state != "connected":
                self._reply(req, at, ret=-ENOTCONN)
            else:  # (a peer that closed still has its name, as Linux keeps it)
                self._reply(req, at, ret=0, st=(peer.name if peer is not None and peer.name else _unnamed(s)))
        elif s.family == 2:
            self._reply(req, at, ret=0, st=s.dest) if s.dest else self._reply(req, at, ret=-ENOTCONN)
        else:
            peer = self.socks.get(s.peer) if s.peer else None
            if peer is None:
                self._reply(req, at, ret=-ENOTCONN)
            else:
                self._reply(req, at, ret=0, st=peer.name or _unnamed(peer))

    def on_opt(self, req: Packet, at: int) -> None:
        s = self._get(req, at)
        if s is not None:
            self._reply(req, at, **self._opt(s, req.body))

    def _opt(self, s: Sock, b: object) -> dict:
        level, name, value = b.level, b.name, b.value  # type: ignore[attr-defined]
        get = not isinstance(value, int)
        if level == IPPROTO_TCP:
            if s.family != 2 or s.type != STREAM:
                return {"ret": -EOPNOTSUPP}
            if get:
                return {"ret": 0, "value": s.opts.get((level, name), 0)}
            s.opts[(level, name)] = value
            return {"ret": 0}
        if level != SOL_SOCKET:
            return {"ret": -ENOPROTOOPT}
        if name in FLAGS:
            if get:
                return {"ret": 0, "value": int(bool(s.opts.get((level, name))))}
            s.opts[(level, name)] = int(bool(value))
            return {"ret": 0}
        if name in (SO_RCVBUF, SO_SNDBUF):
            if get:
                return {"ret": 0, "value": s.rcvbuf if name == SO_RCVBUF else s.sndbuf}
            v = min(max(value, 0), RMEM_DEFAULT) * 2  # type: ignore[type-var]
            if name == SO_RCVBUF:
                s.rcvbuf = max(v, MIN_RCVBUF)
            else:
                s.sndbuf = max(v, MIN_SNDBUF)
            return {"ret": 0}
        if name in SO_LOWAT:
            return {"ret": 0, "value": 1} if get else {"ret": 0}
        if not get:
            return {"ret": -ENOPROTOOPT}
        if name == SO_ERROR:
            err, s.err = s.err, 0
            return {"ret": 0, "value": err}
        values = {SO_TYPE: s.type, SO_ACCEPTCONN: int(s.state == "listening"), SO_DOMAIN: s.family,
                  SO_PROTOCOL: 0 if s.family == 1 else (6 if s.type == STREAM else 17)}
        return {"ret": 0, "value": values[name]} if name in values else {"ret": -ENOPROTOOPT}

    def on_ref(self, pkt: Packet, at: int) -> None:
        b = pkt.body
        s = self.socks.get(b.handle)
        if s is None:
            return
        n = s.refs.get(b.pid, 0) + b.delta
        if n > 0:
            s.refs[b.pid] = n
        else:
            s.refs.pop(b.pid, None)
            if not s.refs:
                self._close(b.handle, at)

    def on_wait(self, req: Packet, at: int) -> None:
        b = req.body
        s = self.socks.get(b.handle)
        if s is None:
            self._reply(req, at, ret=0)
            return
        on = s
        if b.what == "connect" or (b.what == "send" and s.type == DGRAM):
            addr = b.addr if b.addr else None
            target = self.socks.get(s.peer) if addr is None and s.peer else None
            if addr is not None:
                target = self.names.find(addr, s.type)[1]
            if target is None:
                self._reply(req, at, ret=0)
                return
            on = target
        if self._ready(s, on, b.what):
            self._reply(req, at, ret=0)
            return
        if len(on.waiters) >= MAX_WAITERS:
            self._reply(on.waiters.pop(0), at, ret=0)
        on.waiters.append(req)

    # poll and select (daemons/polls.py) --------------------------------------------------------
    def poll_mask(self, pid: int, handle: int, name: str) -> int:
        s = self.socks.get(handle)
        if s is None or pid not in s.refs:
            return sockpoll.POLLERR | sockpoll.POLLHUP  # (gone under the descriptor)
        return sockpoll.mask(self.socks, s, lambda o: self._room(o, 1) > 0, MAX_DGRAM_QLEN)

    def poll_watch(self, pid: int, handle: int, name: str, req: Packet, at: int) -> Callable[[], None]:
        """Answer `req` when socket `handle` (or the destination its sends wait on) changes;
        the call that forgets it."""
        s = self.socks.get(handle)
        on = [s] if s is not None else []
        if s is not None and s.type == DGRAM and s.peer in self.socks:
            on.append(self.socks[s.peer])
        for o in on:
            if len(o.waiters) >= MAX_WAITERS:
                self._reply(o.waiters.pop(0), at, ret=0)
            o.waiters.append(req)

        def forget() -> None:
            for o in on:
                o.waiters = [w for w in o.waiters if w is not req]
        return forget

    def _ready(self, s: Sock, on: Sock, what: str) -> bool:
        """Whether the call `what` on `s` (waiting on `on`) would no longer give EAGAIN."""
        if s.err or on.state == "closed":
            return True
        if what == "accept":
            return s.state != "listening" or bool(s.queue)
        if what == "connect":
            return on.state != "listening" or len(on.queue) <= on.backlog
        if what == "recv":
            if s.type == DGRAM:
                return bool(s.dgrams) or bool(s.shut & SHUT_RD)
            peer = self.socks.get(s.peer)
            return (s.state != "connected" or bool(s.data) or bool(s.shut & SHUT_RD) or peer is None
                    or bool(peer.shut & SHUT_WR))
        if s.type == DGRAM:  # a unix datagram's destination
            return len(on.dgrams) <= MAX_DGRAM_QLEN and self._room(on, 1) > 0
        peer = self.socks.get(s.peer)
        return s.state != "connected" or bool(s.shut & SHUT_WR) or peer is None or self._room(peer, 1) > 0

"""The socket server's addresses (daemons/sockets.py): AF_UNIX names (abstract names, and
path names as the inodes of their socket files at the file server) in a registry, AF_INET
ports per type on the loopback, ephemeral ports from 32768 up in order, SO_REUSEADDR's rule,
and which socket an address names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import EADDRINUSE, ECONNREFUSED, EINVAL

if TYPE_CHECKING:
    from shoal.daemons.sockets import Sock

STREAM, DGRAM = 1, 2
EPHEMERAL = (32768, 60999)
SOL_SOCKET, SO_REUSEADDR = 1, 2
LOOPBACK = 0x7F000001


class SockNames:
    """What is bound to which address, over the server's sockets."""

    def __init__(self, socks: dict[int, Sock], bind_name: Callable[[str, int, int], int],
                 find_name: Callable[[str], int]) -> None:
        self.socks = socks
        self._bind_name, self._find_name = bind_name, find_name  # the file server's sock_bind, sock_find
        self.unix: dict[str, int] = {}  # abstract name, or "#inode" of a path's file -> handle
        self.ports: dict[tuple[int, int], list[int]] = {}  # (type, port) -> handles bound to it
        self.next_port = EPHEMERAL[0]

    def unbind(self, h: int, s: Sock) -> None:
        if s.family == 1:
            if self.unix.get(s.name[1]) == h:  # type: ignore[index]
                del self.unix[s.name[1]]  # type: ignore[index]
        else:
            key = (s.type, s.name[2])  # type: ignore[index]
            bound = self.ports.get(key, [])
            if h in bound:
                bound.remove(h)
            if not bound:
                self.ports.pop(key, None)

    def port_free(self, type_: int, ip: int, port: int, reuse: bool) -> bool:
        for h in self.ports.get((type_, port), []):
            o = self.socks[h]
            if o.name[1] and ip and o.name[1] != ip:  # type: ignore[index]
                continue
            if reuse and o.opts.get((SOL_SOCKET, SO_REUSEADDR)) and o.state != "listening":
                continue
            return False
        return True

    def ephemeral(self, type_: int) -> int:
        lo, hi = EPHEMERAL
        for i in range(hi - lo + 1):
            port = lo + (self.next_port - lo + i) % (hi - lo + 1)
            if not self.ports.get((type_, port)):
                self.next_port = port + 1
                return port
        return -EADDRINUSE

    def bind(self, h: int, s: Sock, addr: list, umask: int = 0o022, at: int = 0, cred: object = None) -> int:
        if s.name is not None:
            return -EINVAL
        if s.family == 1:
            name = addr[1]
            shown = addr[2]  # as the caller gave it (getsockname): a path's key is absolute
            if name is None:  # autobind: an abstract name of five hex digits, as Linux's
                name = shown = next(n for i in range(1 << 20) if (n := f"\0{i:05x}") not in self.unix)
            if not name.startswith("\0"):  # a path: its socket file, keyed by inode
                ino = self._bind_name(name, 0o777 & ~umask, at, cred)
                if ino < 0:
                    return ino
                name = f"#{ino}"
            if name in self.unix:
                return -EADDRINUSE
            self.unix[name] = h
            s.name = ["unix", name, shown]
            return 0
        ip, port = addr[1], addr[2]
        if port == 0:
            port = self.ephemeral(s.type)
            if port < 0:
                return port
        elif not self.port_free(s.type, ip, port, bool(s.opts.get((SOL_SOCKET, SO_REUSEADDR)))):
            return -EADDRINUSE
        self.ports.setdefault((s.type, port), []).append(h)
        s.name = ["inet", ip, port]
        return 0

    def autobind(self, h: int, s: Sock) -> int:
        """An inet socket that sends or connects unbound gets an ephemeral port."""
        if s.family == 2 and s.name is None:
            return self.bind(h, s, ["inet", 0, 0])
        return 0

    def find(self, addr: list, type_: int | None, cred: object = None) -> tuple[int, Sock | None]:
        """The socket an address names: (handle, socket), (-errno, None) for a unix name
        nobody has, or (0, None) for an inet port nobody has."""
        if addr[0] == "unix":
            key = addr[1]
            if not key.startswith("\0"):
                ino = self._find_name(key, cred)  # ENOENT, ENOTDIR, ELOOP, EACCES, ECONNREFUSED (no socket)
                if ino < 0:
                    return ino, None
                key = f"#{ino}"
            h = self.unix.get(key, 0)
            if h:
                return h, self.socks[h]
            return -ECONNREFUSED, None
        for h in self.ports.get((type_, addr[2]), []):  # type: ignore[arg-type]
            o = self.socks[h]
            if not o.name[1] or o.name[1] == addr[1] or not addr[1]:  # type: ignore[index]
                if type_ == DGRAM or o.state == "listening":
                    return h, o
        return 0, None

"""Socket addresses in guest memory: sockaddr_un (a path, or an abstract name) and
sockaddr_in (loopback only), read and written for the socket calls (calls/socket.py)."""

from __future__ import annotations

import struct

from shoal.abi import AF_INET, AF_UNIX, EAFNOSUPPORT, EINVAL
from shoal.kernel.calls.common import s32
from shoal.kernel.container import Thread
from shoal.kernel.files import canonical

SUN_PATH = 108


LOOPBACK = 0x7F000001


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
        key = canonical(shown if shown.startswith("/") else t.proc.fs.cwd.rstrip("/") + "/" + shown)
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


def out_len(t: Thread, addr: int, lenp: int) -> int:
    """A call's value-result address (`addr`, `*lenp` bytes of room, or no address) before its
    request goes: *lenp read, and both made writable here now (a page of a shared mapping
    held as a read copy, or not held, is asked for writing and the call made again once it is
    here, as a read's buffer is), so that the answer does not find them missing (EFAULT, after
    the data or connection was taken). -EINVAL for a negative length."""
    if not addr:
        return 0
    t.proc.aspace.translate(lenp, "store")
    size = s32(struct.unpack("<I", t.proc.aspace.read(lenp, 4))[0])
    if size < 0:
        return -EINVAL
    if size:
        t.proc.aspace.translate(addr, "store")
    return size


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


def loopback(ip: int) -> bool:
    return ip >> 24 == 127 or ip == 0

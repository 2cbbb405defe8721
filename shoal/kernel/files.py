"""Files: descriptors, and requests to the file server on I/O cluster 0 (shoal/daemons/files.py).

A descriptor of an open file or directory is `p.files[fd] = [kind, path, handle, flags,
offset]`: kind "file" or "dir" ("mq" for a message queue: kernel/calls/ipc.py; "shm" for a
shared memory object under /dev/shm, whose handle is the object: kernel/shm.py), the absolute
path it was opened by, the server's handle, the open flags and the offset (for a directory,
the index of the next entry). The offset and flags live here, so they travel in the
container's image; the file itself stays at the server, which knows the handle by pid (a
migrated process keeps both). Each request carries handle, path and flags: a server that
does not know the handle (an image restored on another chip) opens the path again.

Freezes: requests that only read (read, pread64, stat, getdents) are RESTARTABLE (a late
answer is dropped; the offset moves only when an answer lands); requests that change the
file system (open, write, truncate, unlink, rename, mkdir) are let finish. close needs no
answer: a one-way packet. Descriptors 0-2 stay the console's (console.py). The calls are
kernel/calls/io.py's and fs.py's.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import (
    EBADF,
    EFBIG,
    EINVAL,
    EISDIR,
    EMFILE,
    ENAMETOOLONG,
    ENOENT,
    ENOTDIR,
    MAX_IO,
    O_ACCMODE,
    O_APPEND,
    O_RDWR,
    O_WRONLY,
)
from shoal.abi import PATH_MAX as MAX_PATH
from shoal.kernel import shm
from shoal.kernel.calls.common import s32
from shoal.kernel.container import Thread
from shoal.kernel.memory import Fault

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

AT_FDCWD = -100
AT_EMPTY_PATH, AT_REMOVEDIR = 0x1000, 0x200
FIRST_FD = 3
MAX_FILES = 64  # descriptors a process may hold open (files, directories, queues)
KIND, PATH, HANDLE, FLAGS, OFFSET = range(5)


def user_path(t: Thread, dirfd: int, addr: int, empty_ok: bool = False) -> str | int:
    """The absolute path a call names: relative to the root (the working directory) or to
    the directory open on `dirfd`."""
    try:
        raw = t.proc.aspace.read_cstr(addr, MAX_PATH)
    except Fault as f:
        if f.reason != "string too long":
            raise
        return -ENAMETOOLONG
    if len(raw) >= MAX_PATH:  # PATH_MAX counts the NUL, in bytes (names: daemons/fspaths.split)
        return -ENAMETOOLONG
    if not raw and not empty_ok:
        return -ENOENT
    name = raw.decode(errors="replace")
    if name.startswith("/"):
        return name
    if dirfd == AT_FDCWD:
        return "/" + name
    f = t.proc.files.get(dirfd)
    if f is None:
        return -EBADF if dirfd not in t.proc.open_fds else -ENOTDIR
    if f[KIND] != "dir" and name:
        return -ENOTDIR
    return f[PATH] + "/" + name if name else f[PATH]


def new_fd(p: object) -> int:
    fds = p.open_fds  # type: ignore[attr-defined]
    return next((fd for fd in range(FIRST_FD, FIRST_FD + MAX_FILES) if fd not in fds), -EMFILE)


def ask(k: Kernel, t: Thread, kind: str, body: dict, then: object, data: bytes = b"") -> int:
    k.rpc_to(t, k.services_node, kind, body, then, data, bulk=bool(data))  # type: ignore[arg-type]
    return 0  # not reached: the thread waits for the answer


def about(f: list) -> dict:
    return {"handle": f[HANDLE], "path": f[PATH], "flags": f[FLAGS]}


def rehandle(f: list, reply: Packet) -> None:
    """The server may have opened the file again under a new handle (see the docstring)."""
    h = reply.body.get("handle")
    if h:
        f[HANDLE] = h


def file_of(t: Thread, fd: int) -> list | None:
    f = t.proc.files.get(fd)
    return f if f is not None and f[KIND] in ("file", "dir") else None


def closed(k: Kernel, pid: int, f: list, at: int) -> None:
    """Tell the server a descriptor's handle is closed (a shared memory object is the
    process's until it neither opens nor maps it: kernel/shm.py)."""
    if f[KIND] == "shm":
        p = k.find_proc(pid)
        if p is not None and p.alive:
            shm.release_if_unused(k, p, f[HANDLE], at)
        return
    kind = "mq_close" if f[KIND] == "mq" else "fs_close"
    k.send(k.services_node, kind, {"pid": pid, "handle": f[HANDLE]}, at=at)


def read_file(k: Kernel, t: Thread, f: list, pieces: list[tuple[int, int]], at: int | None) -> int:
    """Read into `pieces` (address, length) from the file's offset, or from `at` (pread)."""
    if f[KIND] == "dir":
        return -EISDIR
    if f[FLAGS] & O_ACCMODE == O_WRONLY:
        return -EBADF
    want = min(sum(n for _, n in pieces), MAX_IO)
    if want == 0:
        return 0
    for buf, n in pieces:
        if n:
            t.proc.aspace.translate(buf, "store")  # EFAULT now rather than after the wait
    off = f[OFFSET] if at is None else at

    def got(reply: Packet, when: int) -> int:
        rehandle(f, reply)
        if reply.body["ret"] < 0:
            return reply.body["ret"]
        data = memoryview(reply.data)
        for buf, n in pieces:
            if not data:
                break
            t.proc.aspace.write(buf, data[:n])
            data = data[n:]
        if at is None:
            f[OFFSET] = off + len(reply.data)
        return len(reply.data)
    return ask(k, t, "fs_read", {**about(f), "offset": off, "size": want}, got)


def write_file(k: Kernel, t: Thread, f: list, pieces: list[tuple[int, int]], at: int | None) -> int:
    if f[KIND] == "dir":
        return -EBADF
    if f[FLAGS] & O_ACCMODE not in (O_WRONLY, O_RDWR):
        return -EBADF
    data = bytearray()
    for buf, n in pieces:
        n = min(n, MAX_IO - len(data))
        if n > 0:
            data += t.proc.aspace.read(buf, n)
    if not data:
        return 0
    off = f[OFFSET] if at is None else at
    if off + len(data) > (1 << 63) - 1:
        return -EFBIG

    def done(reply: Packet, when: int) -> int:
        rehandle(f, reply)
        ret = reply.body["ret"]
        if ret >= 0 and at is None:
            f[OFFSET] = reply.body["offset"]
        return ret
    append = bool(f[FLAGS] & O_APPEND) and at is None
    return ask(k, t, "fs_write", {**about(f), "offset": off, "append": append}, done, bytes(data))


def iov(t: Thread, a: list[int]) -> list[tuple[int, int]] | int:
    cnt = s32(a[2])
    if cnt < 0 or cnt > 1024:
        return -EINVAL
    raw = t.proc.aspace.read(a[1], 8 * cnt)
    return [struct.unpack_from("<II", raw, 8 * i) for i in range(cnt)]


def off64(lo: int, hi: int) -> int:
    v = (hi << 32) | lo
    return v - (1 << 64) if v >> 63 else v


def statx_bytes(st: list[int], freq_hz: int) -> bytes:
    ino, mode, size, nlink, mtime = st
    buf = bytearray(256)
    struct.pack_into("<IIQIIIH", buf, 0, 0x7FF, 4096, 0, nlink, 0, 0, mode)
    struct.pack_into("<QQQ", buf, 32, ino, size, (size + 511) // 512)
    sec, ns = divmod(mtime * 1_000_000_000 // freq_hz, 1_000_000_000)
    sec += 1_767_225_600  # the guests' epoch (kernel/calls/common.py: EPOCH_NS)
    for at in (64, 80, 96, 112):  # atime, btime, ctime, mtime
        struct.pack_into("<qI", buf, at, sec, ns)
    return bytes(buf)


def simple(k: Kernel, t: Thread, kind: str, body: dict) -> int:
    return ask(k, t, kind, body, lambda reply, at: reply.body["ret"])


def dup(k: Kernel, t: Thread, old: int, new: int | None, lowest: int = FIRST_FD) -> int:
    """A copy of descriptor `old` at `new` (closed first if open) or at the lowest free one
    from `lowest`: a second handle at the server on the same file, with the same flags. Its
    offset starts where the old one's is but is its own (unlike Linux, where the two share it:
    the descriptors of an image are independent). Only files and directories: the console's
    descriptors and queues give EINVAL."""
    p = t.proc
    if old not in p.open_fds:
        return -EBADF
    f = file_of(t, old)
    if f is None:
        return -EINVAL
    if new is None and len(p.files) >= MAX_FILES:
        return -EMFILE

    def done(reply: Packet, at: int) -> int:
        if reply.body["ret"] < 0:
            return reply.body["ret"]
        fd = new
        if fd is None:
            fd = next((d for d in range(lowest, FIRST_FD + MAX_FILES) if d not in p.open_fds), -EMFILE)
            if fd < 0:
                k.send(k.services_node, "fs_close", {"pid": p.pid, "handle": reply.body["handle"]}, at=at)
                return fd
        else:
            gone = p.files.pop(fd, None)
            if gone is not None:
                closed(k, p.pid, gone, at)
        p.open_fds.add(fd)
        p.files[fd] = [f[KIND], f[PATH], reply.body["handle"], f[FLAGS], f[OFFSET]]
        return fd
    return ask(k, t, "fs_dup", about(f), done)



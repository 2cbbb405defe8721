"""File calls: requests to the file server on I/O cluster 0 (shoal/daemons/files.py).

A descriptor of an open file or directory is `p.files[fd] = [kind, path, handle, flags,
offset]`: kind "file" or "dir" ("mq" for a message queue: kernel/ipc.py; "shm" for a
shared memory object under /dev/shm, whose handle is the object: kernel/shm.py), the absolute
path it was opened by, the server's handle, the open flags and the offset (for a directory,
the index of the next entry). The offset and flags live here, so they travel in the
container's image; the file itself stays at the server, which knows the handle by pid (a
migrated process keeps both). Each request carries handle, path and flags: a server that
does not know the handle (an image restored on another chip) opens the path again.

Freezes: requests that only read (read, pread64, stat, getdents) are RESTARTABLE (a late
answer is dropped; the offset moves only when an answer lands); requests that change the
file system (open, write, truncate, unlink, rename, mkdir) are let finish. close needs no
answer: a one-way packet. Descriptors 0-2 stay the console's (kernel/syscalls.py, console.py).
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
    ESPIPE,
    MAX_IO,
    O_ACCMODE,
    O_APPEND,
    O_DIRECTORY,
    O_RDWR,
    O_WRONLY,
)
from shoal.abi import PATH_MAX as MAX_PATH
from shoal.kernel import shm
from shoal.kernel.container import Thread
from shoal.kernel.memory import Fault
from shoal.kernel.syscalls import (
    TABLE,
    s32,
    sys_close,
    sys_fcntl,
    sys_llseek,
    sys_read,
    sys_readv,
    sys_statx,
    sys_write,
    sys_writev,
    syscall,
)

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


def _ask(k: Kernel, t: Thread, kind: str, body: dict, then: object, data: bytes = b"") -> int:
    k.rpc_to(t, k.services_node, kind, body, then, data, bulk=bool(data))  # type: ignore[arg-type]
    return 0  # not reached: the thread waits for the answer


def _about(f: list) -> dict:
    return {"handle": f[HANDLE], "path": f[PATH], "flags": f[FLAGS]}


def _rehandle(f: list, reply: Packet) -> None:
    """The server may have opened the file again under a new handle (see the docstring)."""
    h = reply.body.get("handle")
    if h:
        f[HANDLE] = h


def _file(t: Thread, fd: int) -> list | None:
    f = t.proc.files.get(fd)
    return f if f is not None and f[KIND] in ("file", "dir") else None


@syscall(56, "openat")
def sys_openat(k: Kernel, t: Thread, a: list[int]) -> int:
    path = user_path(t, s32(a[0]), a[1])
    if isinstance(path, int):
        return path
    flags, mode = a[2], a[3]
    p = t.proc
    if len(p.files) >= MAX_FILES:
        return -EMFILE
    if path.startswith(shm.PREFIX):  # shm_open: an object of the shared-memory daemon
        def got(reply: Packet, at: int) -> int:
            if reply.body["ret"] < 0:
                return reply.body["ret"]
            fd = new_fd(p)
            if fd >= 0:
                p.open_fds.add(fd)
                p.files[fd] = ["shm", path, reply.body["obj"], flags, 0]
            elif p.alive:
                shm.release_if_unused(k, p, reply.body["obj"], at)
            return fd
        return _ask(k, t, "shm_open", {"name": path[len(shm.PREFIX):], "flags": flags}, got)

    def opened(reply: Packet, at: int) -> int:
        ret = reply.body["ret"]
        if ret < 0:
            return ret
        fd = new_fd(p)
        if fd < 0:
            k.send(k.services_node, "fs_close", {"pid": p.pid, "handle": reply.body["handle"]}, at=at)
            return fd
        p.open_fds.add(fd)
        p.files[fd] = ["dir" if reply.body["dir"] else "file", path, reply.body["handle"], flags, 0]
        return fd
    return _ask(k, t, "fs_open", {"path": path, "flags": flags, "mode": mode}, opened)


@syscall(57, "close")
def sys_close_file(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    f = t.proc.files.pop(fd, None)
    if f is not None:
        closed(k, t.proc.pid, f, k.now())
    return sys_close(k, t, a)


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


def _read(k: Kernel, t: Thread, f: list, pieces: list[tuple[int, int]], at: int | None) -> int:
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
        _rehandle(f, reply)
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
    return _ask(k, t, "fs_read", {**_about(f), "offset": off, "size": want}, got)


def _write(k: Kernel, t: Thread, f: list, pieces: list[tuple[int, int]], at: int | None) -> int:
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
        _rehandle(f, reply)
        ret = reply.body["ret"]
        if ret >= 0 and at is None:
            f[OFFSET] = reply.body["offset"]
        return ret
    append = bool(f[FLAGS] & O_APPEND) and at is None
    return _ask(k, t, "fs_write", {**_about(f), "offset": off, "append": append}, done, bytes(data))


@syscall(63, "read")
def sys_read_file(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _file(t, s32(a[0]))
    if f is None:
        return sys_read(k, t, a)
    return _read(k, t, f, [(a[1], a[2])], None)


@syscall(64, "write")
def sys_write_file(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _file(t, s32(a[0]))
    if f is None:
        return sys_write(k, t, a) if s32(a[0]) not in t.proc.files else -EBADF
    return _write(k, t, f, [(a[1], a[2])], None)


def _iov(t: Thread, a: list[int]) -> list[tuple[int, int]] | int:
    cnt = s32(a[2])
    if cnt < 0 or cnt > 1024:
        return -EINVAL
    raw = t.proc.aspace.read(a[1], 8 * cnt)
    return [struct.unpack_from("<II", raw, 8 * i) for i in range(cnt)]


@syscall(65, "readv")
def sys_readv_file(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _file(t, s32(a[0]))
    if f is None:
        return sys_readv(k, t, a)
    pieces = _iov(t, a)
    return pieces if isinstance(pieces, int) else _read(k, t, f, pieces, None)


@syscall(66, "writev")
def sys_writev_file(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _file(t, s32(a[0]))
    if f is None:
        return sys_writev(k, t, a) if s32(a[0]) not in t.proc.files else -EBADF
    pieces = _iov(t, a)
    return pieces if isinstance(pieces, int) else _write(k, t, f, pieces, None)


def _off64(lo: int, hi: int) -> int:
    v = (hi << 32) | lo
    return v - (1 << 64) if v >> 63 else v


@syscall(67, "pread64")
def sys_pread64(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _file(t, s32(a[0]))
    if f is None:
        return -EBADF if s32(a[0]) not in t.proc.open_fds else -ESPIPE
    off = _off64(a[3], a[4])
    return -EINVAL if off < 0 else _read(k, t, f, [(a[1], a[2])], off)


@syscall(68, "pwrite64")
def sys_pwrite64(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _file(t, s32(a[0]))
    if f is None:
        return -EBADF if s32(a[0]) not in t.proc.open_fds else -ESPIPE
    off = _off64(a[3], a[4])
    return -EINVAL if off < 0 else _write(k, t, f, [(a[1], a[2])], off)


@syscall(62, "llseek")
def sys_llseek_file(k: Kernel, t: Thread, a: list[int]) -> int:
    f = _file(t, s32(a[0]))
    if f is None:
        return sys_llseek(k, t, a)
    off, result, whence = _off64(a[2], a[1]), a[3], a[4]
    t.proc.aspace.translate(result, "store")

    def place(base: int) -> int:
        if base + off < 0 or (f[KIND] == "dir" and off != 0):
            return -EINVAL
        f[OFFSET] = base + off
        t.proc.aspace.write(result, struct.pack("<q", f[OFFSET]))
        return 0
    if whence == 0:
        return place(0)
    if whence == 1:
        return place(f[OFFSET])
    if whence != 2 or f[KIND] == "dir":
        return -EINVAL

    def sized(reply: Packet, at: int) -> int:
        _rehandle(f, reply)
        return reply.body["ret"] if reply.body["ret"] < 0 else place(reply.body["st"][2])
    return _ask(k, t, "fs_stat", _about(f), sized)


@syscall(46, "ftruncate64")
def sys_ftruncate(k: Kernel, t: Thread, a: list[int]) -> int:
    g = t.proc.files.get(s32(a[0]))
    if g is not None and g[KIND] == "shm":
        length = _off64(a[1], a[2])
        if length < 0 or g[FLAGS] & O_ACCMODE != O_RDWR:
            return -EINVAL
        return _simple(k, t, "shm_truncate", {"obj": g[HANDLE], "length": length})
    f = _file(t, s32(a[0]))
    if f is None:
        return -EBADF if s32(a[0]) not in t.proc.open_fds else -EINVAL
    length = _off64(a[1], a[2])
    if length < 0 or f[KIND] == "dir" or f[FLAGS] & O_ACCMODE not in (O_WRONLY, O_RDWR):
        return -EINVAL  # as Linux, for a descriptor not open for writing too

    def done(reply: Packet, at: int) -> int:
        _rehandle(f, reply)
        return reply.body["ret"]
    return _ask(k, t, "fs_truncate", {**_about(f), "length": length}, done)


def _statx_bytes(st: list[int], freq_hz: int) -> bytes:
    ino, mode, size, nlink, mtime = st
    buf = bytearray(256)
    struct.pack_into("<IIQIIIH", buf, 0, 0x7FF, 4096, 0, nlink, 0, 0, mode)
    struct.pack_into("<QQQ", buf, 32, ino, size, (size + 511) // 512)
    sec, ns = divmod(mtime * 1_000_000_000 // freq_hz, 1_000_000_000)
    sec += 1_767_225_600  # the guests' epoch (kernel/syscalls.py: EPOCH_NS)
    for at in (64, 80, 96, 112):  # atime, btime, ctime, mtime
        struct.pack_into("<qI", buf, at, sec, ns)
    return bytes(buf)


@syscall(291, "statx")
def sys_statx_file(k: Kernel, t: Thread, a: list[int]) -> int:
    dirfd, flags, buf = s32(a[0]), a[2], a[4]  # a[3]: the mask (all is given)
    name = t.proc.aspace.read_cstr(a[1], MAX_PATH)
    if not name and flags & AT_EMPTY_PATH:
        f = _file(t, dirfd)
        if f is None:
            return sys_statx(k, t, a)
        body: dict = _about(f)
    else:
        path = user_path(t, dirfd, a[1])
        if isinstance(path, int):
            return path
        f, body = None, {"path": path, "handle": None}
    t.proc.aspace.translate(buf, "store")

    def got(reply: Packet, at: int) -> int:
        if f is not None:
            _rehandle(f, reply)
        if reply.body["ret"] < 0:
            return reply.body["ret"]
        t.proc.aspace.write(buf, _statx_bytes(reply.body["st"], k.spec.freq_hz))
        return 0
    return _ask(k, t, "fs_stat", body, got)


@syscall(61, "getdents64")
def sys_getdents64(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, buf, size = s32(a[0]), a[1], min(a[2], MAX_IO)
    f = _file(t, fd)
    if f is None:
        return -EBADF if fd not in t.proc.open_fds or fd in t.proc.files else -ENOTDIR
    if f[KIND] != "dir":
        return -ENOTDIR
    t.proc.aspace.translate(buf, "store")

    def got(reply: Packet, at: int) -> int:
        _rehandle(f, reply)
        if reply.body["ret"] < 0:
            return reply.body["ret"]
        t.proc.aspace.write(buf, reply.data)
        f[OFFSET] = reply.body["offset"]
        return len(reply.data)
    return _ask(k, t, "fs_getdents", {**_about(f), "offset": f[OFFSET], "size": size}, got)


def _simple(k: Kernel, t: Thread, kind: str, body: dict) -> int:
    return _ask(k, t, kind, body, lambda reply, at: reply.body["ret"])


@syscall(34, "mkdirat")
def sys_mkdirat(k: Kernel, t: Thread, a: list[int]) -> int:
    path = user_path(t, s32(a[0]), a[1])
    return path if isinstance(path, int) else _simple(k, t, "fs_mkdir", {"path": path, "mode": a[2]})


@syscall(35, "unlinkat")
def sys_unlinkat(k: Kernel, t: Thread, a: list[int]) -> int:
    if a[2] & ~AT_REMOVEDIR:
        return -EINVAL
    path = user_path(t, s32(a[0]), a[1])
    if isinstance(path, int):
        return path
    if path.startswith(shm.PREFIX):  # shm_unlink: the name goes; mapped pages stay
        return _simple(k, t, "shm_unlink", {"name": path[len(shm.PREFIX):]})
    return _simple(k, t, "fs_unlink", {"path": path, "rmdir": bool(a[2] & AT_REMOVEDIR)})


def _rename(k: Kernel, t: Thread, a: list[int], flags: int) -> int:
    if flags & ~1:  # RENAME_NOREPLACE only
        return -EINVAL
    old = user_path(t, s32(a[0]), a[1])
    if isinstance(old, int):
        return old
    new = user_path(t, s32(a[2]), a[3])
    if isinstance(new, int):
        return new
    return _simple(k, t, "fs_rename", {"old": old, "new": new, "noreplace": bool(flags & 1)})


@syscall(38, "renameat")
def sys_renameat(k: Kernel, t: Thread, a: list[int]) -> int:
    return _rename(k, t, a, 0)


@syscall(276, "renameat2")
def sys_renameat2(k: Kernel, t: Thread, a: list[int]) -> int:
    return _rename(k, t, a, a[4])


@syscall(82, "fsync")
def sys_fsync(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    return 0 if fd in t.proc.open_fds else -EBADF  # the server's memory is the disk


TABLE[83] = ("fdatasync", sys_fsync)


def _dup(k: Kernel, t: Thread, old: int, new: int | None, lowest: int = FIRST_FD) -> int:
    """A copy of descriptor `old` at `new` (closed first if open) or at the lowest free one
    from `lowest`: a second handle at the server on the same file, with the same flags. Its
    offset starts where the old one's is but is its own (unlike Linux, where the two share it:
    the descriptors of an image are independent). Only files and directories: the console's
    descriptors and queues give EINVAL."""
    p = t.proc
    if old not in p.open_fds:
        return -EBADF
    f = _file(t, old)
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
    return _ask(k, t, "fs_dup", _about(f), done)


@syscall(23, "dup")
def sys_dup(k: Kernel, t: Thread, a: list[int]) -> int:
    return _dup(k, t, s32(a[0]), None)


@syscall(24, "dup3")
def sys_dup3(k: Kernel, t: Thread, a: list[int]) -> int:
    old, new = s32(a[0]), s32(a[1])
    if a[2] & ~0o2000000 or old == new:  # O_CLOEXEC only
        return -EINVAL
    if not 0 <= new < FIRST_FD + MAX_FILES:
        return -EBADF
    return _dup(k, t, old, new)


@syscall(25, "fcntl64")
def sys_fcntl_file(k: Kernel, t: Thread, a: list[int]) -> int:
    f = t.proc.files.get(s32(a[0]))
    if a[1] in (0, 1030):  # F_DUPFD, F_DUPFD_CLOEXEC
        lowest = s32(a[2])
        if not 0 <= lowest < FIRST_FD + MAX_FILES:
            return -EINVAL
        return _dup(k, t, s32(a[0]), None, max(lowest, FIRST_FD))
    if f is None:
        return sys_fcntl(k, t, a)
    cmd = a[1]
    if cmd == 3:  # F_GETFL
        return f[FLAGS] & ~O_DIRECTORY if f[KIND] == "file" else f[FLAGS]
    if cmd == 4:  # F_SETFL: O_APPEND and O_NONBLOCK may change
        f[FLAGS] = (f[FLAGS] & ~0o6000) | (a[2] & 0o6000)
        return 0
    return 0 if cmd in (1, 2) else -EINVAL  # F_GETFD, F_SETFD

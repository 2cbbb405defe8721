"""Files: descriptors, and requests to the file server on I/O cluster 0 (shoal/daemons/files.py).

A descriptor of an open file or directory is `p.fs.files[fd]`, an OpenFile (kernel/container.py:
its FileKind, the absolute path it was opened by, the server's handle, the open flags and the
offset; for a directory, the index of the next entry). The offset and flags live here, so
they travel in the container's image (as a list); the file itself stays at the server, which
knows the handle by pid (a migrated process keeps both). Each request carries handle, path
and flags: a server that does not know the handle (an image restored on another chip) opens
the path again.

Freezes: requests that only read (read, pread64, stat, getdents) are RESTARTABLE (a late
answer is dropped; the offset moves only when an answer lands); requests that change the
file system (open, write, truncate, unlink, rename, mkdir) are let finish. close needs no
answer: a one-way packet. Descriptors 0-2 stay the console's (console.py). The calls are
kernel/calls/io.py's and fs.py's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import (
    EBADF,
    EEXIST,
    EFBIG,
    EINVAL,
    EISDIR,
    EMFILE,
    ENAMETOOLONG,
    ENOENT,
    ENOTDIR,
    MAX_IO,
    MAX_RW,
    O_ACCMODE,
    O_APPEND,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_RDWR,
    O_WRONLY,
    S_IFCHR,
)
from shoal.abi import PATH_MAX as MAX_PATH
from shoal.kernel import migrate, rmem, shm
from shoal.kernel.calls.common import s32
from shoal.kernel.container import FileKind, OpenFile, Thread
from shoal.kernel.memory import PAGE, Fault, Missing
from shoal.kernel.stops import ASLEEP
from shoal.messages import FsClose, FsLock, FsRead, FsWrite, MqClose, Request, SockRef
from shoal.platform.cpu import REG_PC

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

AT_FDCWD = -100
AT_EMPTY_PATH, AT_REMOVEDIR = 0x1000, 0x200
FIRST_FD = 3
MAX_FILES = 64  # descriptors a process may hold open (files, directories, queues)


def user_path(t: Thread, dirfd: int, addr: int, empty_ok: bool = False) -> str | int:
    """The absolute path a call names: relative to the process's working directory
    (AT_FDCWD) or to the directory open on `dirfd`."""
    try:
        raw = t.proc.aspace.read_cstr(addr, MAX_PATH)
    except Fault as f:
        if f.reason != "string too long":
            raise
        return -ENAMETOOLONG
    if len(raw) >= MAX_PATH:  # PATH_MAX counts the NUL, in bytes (names: daemons/fspaths.walk)
        return -ENAMETOOLONG
    if not raw and not empty_ok:
        return -ENOENT
    name = raw.decode(errors="replace")
    if name.startswith("/"):
        return _under_device(name)
    if dirfd == AT_FDCWD:
        return _under_device(t.proc.fs.cwd.rstrip("/") + "/" + name)
    f = t.proc.fs.files.get(dirfd)
    if f is None:
        return -EBADF if dirfd not in t.proc.fs.open_fds else -ENOTDIR
    if f.kind is not FileKind.DIR and name:
        return -ENOTDIR
    return f.path + "/" + name if name else f.path


def fd_cap(p: object) -> int:
    """One past the highest descriptor a process may have: the chip's table, or its lower
    RLIMIT_NOFILE (kernel/calls/proc.py: prlimit64)."""
    lim = p.rlimits.get(7)  # type: ignore[attr-defined]
    return FIRST_FD + MAX_FILES if lim is None else min(FIRST_FD + MAX_FILES, lim[0])


def new_fd(p: object) -> int:
    fds = p.fs.open_fds  # type: ignore[attr-defined]
    return next((fd for fd in range(FIRST_FD, fd_cap(p)) if fd not in fds), -EMFILE)


def ask(k: Kernel, t: Thread, body: Request, then: object, data: bytes = b"") -> int:
    k.rpc_to(t, k.services_node, body, then, data, bulk=bool(data))  # type: ignore[arg-type]
    return 0  # not reached: the thread waits for the answer


def about(f: OpenFile) -> dict:  # (the fields of a request about an open file)
    return {"handle": f.handle, "path": f.path, "flags": f.flags}


def rehandle(f: OpenFile, reply: Packet) -> None:
    """The server may have opened the file again under a new handle (see the docstring)."""
    h = reply.body.handle
    if h:
        f.handle = h


def file_of(t: Thread, fd: int) -> OpenFile | None:
    f = t.proc.fs.files.get(fd)
    return f if f is not None and f.kind in (FileKind.FILE, FileKind.DIR) else None


def closed(k: Kernel, pid: int, f: OpenFile, at: int) -> None:
    """Tell the server a descriptor's handle is closed (a shared memory object is the
    process's until it neither opens nor maps it: kernel/shm.py); devices and the console
    need nothing."""
    if f.kind in (FileKind.CON, FileKind.DEV):
        return
    if f.kind is FileKind.SHM:
        p = k.find_proc(pid)
        if p is not None and p.alive:
            shm.release_if_unused(k, p, f.handle, at)
        return
    closing = MqClose if f.kind is FileKind.MQ else FsClose
    k.send(k.services_node, closing(pid=pid, handle=f.handle), at=at)


def wanted(t: Thread, pieces: list[tuple[int, int]], most: int) -> int:
    """How many bytes a read into `pieces` (address, length) asks for, at most `most`; each
    piece's first page is checked writable first (EFAULT now rather than after the wait)."""
    want = min(sum(n for _, n in pieces), most)
    if want:
        for buf, n in pieces:
            if n:
                t.proc.aspace.translate(buf, "store")
    return want


# The most one read or write of a regular file moves: MAX_RW (abi.py). The kernel asks the
# server for it MAX_IO bytes at a time (the thread asleep in its call throughout), so the host
# holds one piece at once, never the guest's whole buffer.


def window(pieces: list[tuple[int, int]], skip: int, most: int) -> list[tuple[int, int]]:
    """The pieces (address, length) of bytes skip .. skip+most of `pieces`, in order."""
    out = []
    for buf, n in pieces:
        if skip >= n:
            skip -= n
            continue
        take = min(n - skip, most)
        out.append((buf + skip, take))
        most -= take
        skip = 0
        if not most:
            break
    return out


# A read or write of several pieces that found a page held elsewhere between two of them: the
# call is made again once the page is here (redo) and goes on from where it was.
# (Its offset moves only when the call ends: the call made again finds it as it was.) Kept in
# the thread's record, Thread.call.file.


def _resumed(t: Thread, f: OpenFile, key: tuple) -> tuple[int, int]:
    """(bytes done, the offset after them) of the call `key` made again; (0, its start) if new."""
    held, t.call.file = t.call.file, None
    return (held[2], held[3]) if held is not None and held[0] is f and held[1] == key else (0, key[2])


def read_file(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]], at: int | None) -> int:
    """Read into `pieces` (address, length) from the file's offset, or from `at` (pread): as
    Linux, whole up to MAX_RW bytes, short only at the end of the file."""
    if f.kind is FileKind.DIR:
        return -EISDIR
    if f.flags & O_ACCMODE == O_WRONLY:
        return -EBADF
    total = wanted(t, pieces, MAX_RW)
    if total == 0:
        return 0
    start = f.offset if at is None else at
    key = (tuple(pieces), at, start)
    return _read_more(k, t, f, pieces, at, key, _resumed(t, f, key)[0], total, None)  # type: ignore[return-value]


def _read_more(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]], at: int | None,
               key: tuple, done: int, total: int, when: int | None) -> object:
    """Ask for the next piece (bytes `done` on); `when`: the last answer's time (None: in the
    call itself)."""
    start = key[2]
    held, t.call.file_answer = t.call.file_answer, None
    if held is not None and held[0] is f and held[1] == (key, done):  # made again for a page
        return _deliver(k, t, f, pieces, at, key, done, total, held[3], held[2], None)
    asked = min(MAX_IO, total - done)

    def got(reply: Packet, now: int) -> object:
        rehandle(f, reply)
        if reply.body.ret < 0:
            return _ended(f, at, key, done) if done else reply.body.ret  # (what it read stands)
        return _deliver(k, t, f, pieces, at, key, done, total, asked, bytes(reply.data), now)
    body = FsRead(**about(f), offset=start + done, size=asked)
    if when is None:
        return ask(k, t, body, got)
    return k.rpc_more(t, body, got, b"", when)


def _ended(f: OpenFile, at: int | None, key: tuple, done: int) -> int:
    if at is None:
        f.offset = key[2] + done
    return done


# A read's answer whose copy met a page held elsewhere: what is left of it (and how much was
# asked), kept until the same call, made again once the page is here, copies it (not asked
# again: a read into a written shared mapping of the very file it reads has the server call
# that page home first, every time).
# (Thread.call.file_answer, as Thread.call.file above)


def _pages(buf: int, n: int) -> list[tuple[int, int]]:
    """(address, length) of each page's part of buf .. buf+n."""
    out = []
    while n > 0:
        m = min(n, PAGE - (buf & (PAGE - 1)))
        out.append((buf, m))
        buf, n = buf + m, n - m
    return out


def _deliver(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]], at: int | None,
             key: tuple, done: int, total: int, asked: int, answer: bytes, when: int | None) -> object:
    """Copy a read's answer (of `asked` bytes asked) into the pieces from byte `done`, a page
    at a time, then ask for the next piece or end the call. A page held elsewhere keeps the
    rest for the call made again (`when`: the answer's time; None: in that call, which waits
    as any call does): each time at least a page lands, so a buffer larger than the cluster's
    memory fills too."""
    data = memoryview(answer)
    wrote = 0
    try:
        for buf, n in window(pieces, done, len(answer)):
            for addr, m in _pages(buf, n):
                t.proc.aspace.write(addr, data[wrote:wrote + m])
                wrote += m
    except Missing as m:
        t.call.file_answer = (f, (key, done + wrote), answer[wrote:], asked - wrote)
        t.call.file = (f, key, done + wrote, 0)
        if when is None:
            raise
        return redo(k, t, m, when)
    except Fault:
        if not done + wrote:
            raise
        return _ended(f, at, key, done + wrote)  # (what it read before the bad address stands)
    done += len(answer)
    if len(answer) == asked and done < total:
        return _read_more(k, t, f, pieces, at, key, done, total, when)
    return _ended(f, at, key, done)


def redo(k: Kernel, t: Thread, m: Missing, at: int) -> object:
    """A read's answer lands on a page held elsewhere (shared memory, a mapped file: perhaps
    the very file it reads, whose pages the server called home first), or a write's next piece
    is there: the call is made again once the page is here, and copies the answer it kept
    (Thread.call.file_answer; a read is restartable: the offset has not moved, and a call made
    again with other arguments asks again) or goes on from the piece it was at (call.file)."""
    regs = k.cpu.regs
    regs.ctx_set(t.ctx, REG_PC, regs.ctx_get(t.ctx, REG_PC) - 4)  # (back on its ecall)
    if k.cpu.loaded is t.ctx:
        k.cpu.loaded = None
    page = m.addr & ~(PAGE - 1)
    if page in t.proc.aspace.swap.pages:  # (remote memory: its pages come back as a fault's)
        rmem.await_page(k, t, page, at)
    elif page in t.proc.aspace.shm.pages:
        shm.await_page(k, t, page, m.kind == "store", at, in_call=True)
    else:  # (a page still on its way after a post-copy move)
        migrate.await_page(k, t, m.addr, at)
    return ASLEEP


def write_file(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]], at: int | None) -> int:
    """Write `pieces` at the file's offset (or its end: O_APPEND), or at `at` (pwrite): whole,
    up to MAX_RW bytes, MAX_IO bytes a request."""
    if f.kind is FileKind.DIR:
        return -EBADF
    if f.flags & O_ACCMODE not in (O_WRONLY, O_RDWR):
        return -EBADF
    total = min(sum(n for _, n in pieces), MAX_RW)
    if not total:
        return 0
    start = f.offset if at is None else at
    if start + total > (1 << 63) - 1:
        return -EFBIG
    key = (tuple(pieces), at, start)
    done, end = _resumed(t, f, key)
    return _write_more(k, t, f, pieces, at, key, done, total, end, None)  # type: ignore[return-value]


def _write_more(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]], at: int | None,
                key: tuple, done: int, total: int, end: int, when: int | None) -> object:
    """Send the next piece (bytes `done` on; `end`: the offset after the last one written),
    copied a page at a time: a page held elsewhere ends the piece there (or, first, has the
    call made again once it is here), so a buffer larger than the cluster's memory goes too."""
    data = bytearray()
    try:
        for buf, n in window(pieces, done, min(MAX_IO, total - done)):
            for addr, m in _pages(buf, n):
                data += t.proc.aspace.read(addr, m)
    except Missing as m:
        if not data:
            t.call.file = (f, key, done, end)
            if when is None:
                raise
            return redo(k, t, m, when)
    except Fault:
        if not data:
            if not done:
                raise
            return _ended(f, at, (None, None, end), 0) + done  # (what it wrote before stands)

    def wrote(reply: Packet, now: int) -> object:
        rehandle(f, reply)
        ret = reply.body.ret
        if ret < 0:
            return _ended(f, at, (None, None, end), 0) + done if done else ret
        after = reply.body.offset
        if ret == len(data) and done + ret < total:
            return _write_more(k, t, f, pieces, at, key, done + ret, total, after, now)
        if at is None:
            f.offset = after
        return done + ret
    append = bool(f.flags & O_APPEND) and at is None
    body = FsWrite(**about(f), offset=key[2] + done, append=append)
    if when is None:
        return ask(k, t, body, wrote, bytes(data))
    return k.rpc_more(t, body, wrote, bytes(data), when)


def iov(t: Thread, a: list[int]) -> list[tuple[int, int]] | int:
    cnt = s32(a[2])
    if cnt < 0 or cnt > 1024:
        return -EINVAL
    raw = t.proc.aspace.read(a[1], 8 * cnt)
    return [struct.unpack_from("<II", raw, 8 * i) for i in range(cnt)]


def off64(lo: int, hi: int) -> int:
    v = (hi << 32) | lo
    return v - (1 << 64) if v >> 63 else v


FS_DEV = (0, 0x1A)  # the file server's tree: an anonymous device, as a tmpfs mount has


def statx_bytes(st: list[int], freq_hz: int) -> bytes:
    ino, mode, size, nlink, mtime, atime, ctime, uid, gid = st
    buf = bytearray(256)
    struct.pack_into("<IIQIIIH", buf, 0, 0x7FF, 4096, 0, nlink, uid & 0xFFFFFFFF, gid & 0xFFFFFFFF, mode)
    struct.pack_into("<QQQ", buf, 32, ino, size, (size + 511) // 512)
    for at, cycles in ((64, atime), (80, ctime), (96, ctime), (112, mtime)):  # atime, btime, ctime, mtime
        sec, ns = divmod(cycles * 1_000_000_000 // freq_hz, 1_000_000_000)
        sec += 1_767_225_600  # the guests' epoch (kernel/calls/common.py: EPOCH_NS)
        struct.pack_into("<qI", buf, at, sec, ns)
    struct.pack_into("<II", buf, 136, *FS_DEV)  # stx_dev_major, stx_dev_minor (rdev stays 0:0)
    return bytes(buf)


def simple(k: Kernel, t: Thread, body: Request) -> int:
    return ask(k, t, body, lambda reply, at: reply.body.ret)


# Kinds whose open descriptors are counted by their own module: (opened(k, f), dropped(k, f,
# at)). kernel/table.py installs the pipes' (pipes import this module, not the other way).
COUNTED: dict[FileKind, tuple[Callable[..., None], Callable[..., None]]] = {}


def release(k: Kernel, p: object, fd: int, at: int) -> None:
    """Descriptor `fd` is closed (or replaced by dup3): its open file goes when no other
    descriptor shares it (dup's copies share one OpenFile, as Linux's open file description)."""
    f = p.fs.files.pop(fd, None)  # type: ignore[attr-defined]
    p.fs.cloexec.discard(fd)  # type: ignore[attr-defined]
    if f is not None and f.kind in COUNTED:
        COUNTED[f.kind][1](k, f, at)  # each descriptor counts (a pipe's EOF, EPIPE: kernel/pipes.py)
    elif f is not None and f.kind is FileKind.SOCK:  # each descriptor counts at the socket server
        k.send(k.services_node, SockRef(pid=p.pid, handle=f.handle, delta=-1), at=at)  # type: ignore[attr-defined]
    else:
        if f is not None and f.kind in (FileKind.FILE, FileKind.DIR) and p.fs.locks:  # type: ignore[attr-defined]
            # any close of a file drops the process's record locks on it (POSIX's rule)
            k.send(k.services_node, FsLock(pid=p.pid, **about(f), cmd=3), at=at)  # type: ignore[attr-defined]
        if f is not None and not any(g is f for g in p.fs.files.values()):  # type: ignore[attr-defined]
            closed(k, p.pid, f, at)  # type: ignore[attr-defined]


def dup(k: Kernel, t: Thread, old: int, new: int | None, lowest: int = 0) -> int:
    """A copy of descriptor `old` at `new` (closed first if open) or at the lowest free one
    from `lowest`. As on Linux both name one open file: the same OpenFile under both numbers,
    so the offset and status flags are shared, and the server's handle is closed when the
    last descriptor goes. A console descriptor as the process started (0-2, not in p.fs.files)
    becomes a FileKind.CON entry first. An image keeps the
    sharing: copies have the same handle (image.py joins them again)."""
    p = t.proc
    if old not in p.fs.open_fds:
        return -EBADF
    f = p.fs.files.get(old)
    if f is None:
        f = p.fs.files[old] = OpenFile(FileKind.CON, "", old, 0 if old == 0 else O_WRONLY)
    if new is None:
        new = next((d for d in range(lowest, fd_cap(p)) if d not in p.fs.open_fds), -EMFILE)
        if new < 0:
            return new
    elif new in p.fs.open_fds:
        release(k, p, new, k.now())
    p.fs.open_fds.add(new)
    p.fs.files[new] = f
    p.fs.cloexec.discard(new)  # a copy is kept across exec unless asked (dup3, F_DUPFD_CLOEXEC)
    if f.kind in COUNTED:
        COUNTED[f.kind][0](k, f)
    elif f.kind is FileKind.SOCK:
        k.send(k.services_node, SockRef(pid=p.pid, handle=f.handle, delta=1), at=k.now())
    return new


# --- devices: /dev/null, /dev/zero, /dev/random, /dev/urandom, served by the kernel ------
# Linux's character devices of major 1 (minor numbers: Documentation/admin-guide/devices.txt).
DEVICES = {"/dev/null": 3, "/dev/zero": 5, "/dev/random": 8, "/dev/urandom": 9}


def canonical(path: str) -> str:
    """An absolute path with `.`, `..` and repeated slashes resolved (lexically: no links)."""
    out: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if out:
                out.pop()
        elif part not in ("", "."):
            out.append(part)
    return "/" + "/".join(out)


def _under_device(path: str) -> str | int:
    """A path that goes on past a device (`/dev/null/x`) names nothing: ENOTDIR, as Linux."""
    if path.startswith("/dev/") and path.count("/") > 2:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if len(parts) > 2 and "/dev/" + parts[1] in DEVICES:  # (`..` after one too)
            return -ENOTDIR
    return path


def device(path: str) -> str | None:
    name = canonical(path) if "/dev/" in path or ".." in path or "//" in path else path
    return name if name in DEVICES else None


def open_device(p: object, name: str, flags: int) -> int:
    if flags & O_DIRECTORY:
        return -ENOTDIR
    if flags & O_CREAT and flags & O_EXCL:
        return -EEXIST
    fd = new_fd(p)
    if fd < 0:
        return fd
    # A handle unique among the process's device opens: an image joins copies by it.
    handle = 1 + max((f.handle for f in p.fs.files.values() if f.kind is FileKind.DEV), default=0)  # type: ignore[attr-defined]
    p.fs.open_fds.add(fd)  # type: ignore[attr-defined]
    p.fs.files[fd] = OpenFile(FileKind.DEV, name, handle, flags)  # type: ignore[attr-defined]
    return fd


def device_of(t: Thread, fd: int) -> OpenFile | None:
    f = t.proc.fs.files.get(fd)
    return f if f is not None and f.kind is FileKind.DEV else None


def read_device(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]]) -> int:
    """null: end of file; zero: zeros; random, urandom: the process's seeded generator, the
    one getrandom uses (deterministic per run seed)."""
    if f.flags & O_ACCMODE == O_WRONLY:
        return -EBADF
    if f.path == "/dev/null":
        return 0
    total = 0
    for buf, n in window(pieces, 0, MAX_RW):  # whole, as Linux's; MAX_IO bytes made at a time
        for off in range(0, n, MAX_IO):
            m = min(MAX_IO, n - off)
            t.proc.aspace.write(buf + off, bytes(m) if f.path == "/dev/zero" else t.proc.random_bytes(m))
            total += m
    k.charge(int(total * k.spec.costs.copy_cycles_per_byte))
    return total


def write_device(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]]) -> int:
    """Every device takes every byte (null and zero drop them; random would mix them in)."""
    if f.flags & O_ACCMODE not in (O_WRONLY, O_RDWR):
        return -EBADF
    return min(sum(n for _, n in pieces), MAX_RW)


def device_statx(name: str) -> bytes:
    buf = bytearray(256)
    struct.pack_into("<IIQIIIH", buf, 0, 0x7FF, 4096, 0, 1, 0, 0, S_IFCHR | 0o666)
    struct.pack_into("<QQQ", buf, 32, DEVICES[name], 0, 0)
    struct.pack_into("<IIII", buf, 128, 1, DEVICES[name], 0, 6)  # rdev 1:minor, dev 0:6 (devtmpfs-like)
    return bytes(buf)

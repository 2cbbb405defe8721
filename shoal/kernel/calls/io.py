"""Descriptor I/O: read, write, readv, writev, pread64, pwrite64, llseek, ioctl, close, fsync,
dup, dup3, fcntl64. Descriptors 0-2 are the console's (console.py; standard input is served by
the console daemon); others name files, directories, queues or shared memory objects
(kernel/files.py)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import (
    EBADF,
    EINTR,
    EINVAL,
    EMFILE,
    ENOTTY,
    EOVERFLOW,
    ESPIPE,
    O_ACCMODE,
    O_DIRECTORY,
    O_RDWR,
    O_WRONLY,
    lock_range,
)
from shoal.kernel import console, files, pipes
from shoal.kernel.calls import sockdata, socket
from shoal.kernel.calls.common import s32
from shoal.kernel.container import FileKind, OpenFile, Thread
from shoal.messages import UNSET, FsLock, FsStat, Stdin

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


def sys_read(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    p = t.proc.fs.files.get(fd)
    if pipes.is_pipe(p):
        return pipes.read(k, t, p, [(a[1], a[2])])  # type: ignore[arg-type]
    if socket.is_sock(p):
        return sockdata.read(k, t, a[0], p, [(a[1], a[2])])  # type: ignore[arg-type]
    f = files.file_of(t, fd)
    if f is not None:
        return files.read_file(k, t, f, [(a[1], a[2])], None)
    d = files.device_of(t, fd)
    return _console_read(k, t, a) if d is None else files.read_device(k, t, d, [(a[1], a[2])])


def sys_write(k: Kernel, t: Thread, a: list[int]) -> object:
    fd = s32(a[0])
    p = t.proc.fs.files.get(fd)
    if pipes.is_pipe(p):
        return pipes.write(k, t, p, [(a[1], a[2])])  # type: ignore[arg-type]
    if socket.is_sock(p):
        return sockdata.write(k, t, a[0], p, [(a[1], a[2])])  # type: ignore[arg-type]
    f = files.file_of(t, fd)
    if f is not None:
        return files.write_file(k, t, f, [(a[1], a[2])], None)
    d = files.device_of(t, fd)
    return _console_write(k, t, a) if d is None else files.write_device(k, t, d, [(a[1], a[2])])


def sys_readv(k: Kernel, t: Thread, a: list[int]) -> int:
    return _vectored(k, t, a, False)


def sys_writev(k: Kernel, t: Thread, a: list[int]) -> int:
    return _vectored(k, t, a, True)


def _vectored(k: Kernel, t: Thread, a: list[int], write: bool) -> int:
    """readv/writev: a file's or a device's pieces, or the console's."""
    fd = s32(a[0])
    p = t.proc.fs.files.get(fd)
    if pipes.is_pipe(p):
        vec = files.iov(t, a)
        if isinstance(vec, int):
            return vec
        return (pipes.write if write else pipes.read)(k, t, p, vec)  # type: ignore[return-value,arg-type]
    if socket.is_sock(p):
        vec = files.iov(t, a)
        if isinstance(vec, int):
            return vec
        return (sockdata.write if write else sockdata.read)(k, t, a[0], p, vec)  # type: ignore[return-value,arg-type]
    f = files.file_of(t, fd) or files.device_of(t, fd)
    if f is None:
        return _console_writev(k, t, a) if write else _console_readv(k, t, a)
    pieces = files.iov(t, a)
    if isinstance(pieces, int):
        return pieces
    if f.kind is FileKind.DEV:
        return (files.write_device if write else files.read_device)(k, t, f, pieces)
    return (files.write_file if write else files.read_file)(k, t, f, pieces, None)


def sys_pread64(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    f = files.file_of(t, fd)
    off = files.off64(a[3], a[4])
    d = files.device_of(t, fd)
    if d is not None:  # Linux's memory devices read the same at any offset
        return -EINVAL if off < 0 else files.read_device(k, t, d, [(a[1], a[2])])
    if f is None:
        return -EBADF if fd not in t.proc.fs.open_fds else -ESPIPE
    return -EINVAL if off < 0 else files.read_file(k, t, f, [(a[1], a[2])], off)


def sys_pwrite64(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    f = files.file_of(t, fd)
    off = files.off64(a[3], a[4])
    d = files.device_of(t, fd)
    if d is not None:
        return -EINVAL if off < 0 else files.write_device(k, t, d, [(a[1], a[2])])
    if f is None:
        return -EBADF if fd not in t.proc.fs.open_fds else -ESPIPE
    return -EINVAL if off < 0 else files.write_file(k, t, f, [(a[1], a[2])], off)


def sys_preadv(k: Kernel, t: Thread, a: list[int]) -> int:
    return _positioned(k, t, a, False)


def sys_pwritev(k: Kernel, t: Thread, a: list[int]) -> int:
    return _positioned(k, t, a, True)


def _positioned(k: Kernel, t: Thread, a: list[int], write: bool) -> int:
    """preadv/pwritev: readv/writev at an offset, the descriptor's own offset left alone."""
    fd = s32(a[0])
    f, d = files.file_of(t, fd), files.device_of(t, fd)
    if f is None and d is None:
        return -EBADF if fd not in t.proc.fs.open_fds else -ESPIPE
    off = files.off64(a[3], a[4])
    if off < 0:
        return -EINVAL
    pieces = files.iov(t, a)
    if isinstance(pieces, int):
        return pieces
    if d is not None:
        return (files.write_device if write else files.read_device)(k, t, d, pieces)
    return (files.write_file if write else files.read_file)(k, t, f, pieces, off)


def sys_sync(k: Kernel, t: Thread, a: list[int]) -> int:
    return 0  # (files live in the file server's memory: nothing to write back)


def sys_fadvise64_64(k: Kernel, t: Thread, a: list[int]) -> int:
    """posix_fadvise: advice is checked and taken (it changes nothing here)."""
    fd, length, advice = s32(a[0]), files.off64(a[3], a[4]), s32(a[5])
    if fd not in t.proc.fs.open_fds:
        return -EBADF
    if pipes.is_pipe(t.proc.fs.files.get(fd)) or socket.is_sock(t.proc.fs.files.get(fd)):
        return -ESPIPE
    if not 0 <= advice <= 5 or length < 0:
        return -EINVAL
    return 0


def sys_llseek(k: Kernel, t: Thread, a: list[int]) -> int:
    if pipes.is_pipe(t.proc.fs.files.get(s32(a[0]))) or socket.is_sock(t.proc.fs.files.get(s32(a[0]))):
        return -ESPIPE
    f = files.file_of(t, s32(a[0]))
    if f is None and files.device_of(t, s32(a[0])) is not None:
        t.proc.aspace.write(a[3], bytes(8))  # Linux's memory devices: every seek gives 0
        return 0
    if f is None:
        return _console_llseek(k, t, a)
    off, result, whence = files.off64(a[2], a[1]), a[3], a[4]
    t.proc.aspace.translate(result, "store")

    def place(base: int) -> int:
        if base + off < 0 or (f.kind is FileKind.DIR and off != 0):
            return -EINVAL
        f.offset = base + off
        t.proc.aspace.write(result, struct.pack("<q", f.offset))
        return 0
    if whence == 0:
        return place(0)
    if whence == 1:
        return place(f.offset)
    if whence != 2 or f.kind is FileKind.DIR:
        return -EINVAL

    def sized(reply: Packet, at: int) -> int:
        files.rehandle(f, reply)
        return reply.body.ret if reply.body.ret < 0 else place(reply.body.st[2])
    return files.ask(k, t, FsStat(**files.about(f)), sized)


def sys_close(k: Kernel, t: Thread, a: list[int]) -> int:
    files.release(k, t.proc, s32(a[0]), k.now())
    return _console_close(k, t, a)


def sys_fsync(k: Kernel, t: Thread, a: list[int]) -> int:
    """fsync, fdatasync: the server's memory is the disk, so a file, directory or shared memory
    object is synced at once; what Linux has no fsync for (a pipe or FIFO, a socket, a message
    queue, a character device, the console) is EINVAL, as vfs_fsync_range's."""
    fd = s32(a[0])
    if fd not in t.proc.fs.open_fds:
        return -EBADF
    f = t.proc.fs.files.get(fd)
    return 0 if f is not None and f.kind in (FileKind.FILE, FileKind.DIR, FileKind.SHM) else -EINVAL


def sys_dup(k: Kernel, t: Thread, a: list[int]) -> int:
    if len(t.proc.fs.files) >= files.MAX_FILES:
        return -EBADF if s32(a[0]) not in t.proc.fs.open_fds else -EMFILE
    return files.dup(k, t, s32(a[0]), None)


def sys_dup3(k: Kernel, t: Thread, a: list[int]) -> int:
    old, new = s32(a[0]), s32(a[1])
    if a[2] & ~0o2000000 or old == new:  # O_CLOEXEC only
        return -EINVAL
    if not 0 <= new < files.fd_cap(t.proc):
        return -EBADF
    ret = files.dup(k, t, old, new)
    if ret >= 0 and a[2]:
        t.proc.fs.cloexec.add(ret)
    return ret


def sys_fcntl(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    if fd not in t.proc.fs.open_fds:
        return -EBADF
    f = t.proc.fs.files.get(fd)
    if a[1] in (0, 1030):  # F_DUPFD, F_DUPFD_CLOEXEC
        lowest = s32(a[2])
        if not 0 <= lowest < files.fd_cap(t.proc):
            return -EINVAL
        if len(t.proc.fs.files) >= files.MAX_FILES:
            return -EMFILE
        ret = files.dup(k, t, fd, None, lowest)
        if ret >= 0 and a[1] == 1030:
            t.proc.fs.cloexec.add(ret)
        return ret
    if a[1] in LOCK_CMDS:
        return _record_lock(k, t, fd, f, a[1], a[2])
    if a[1] == 1:  # F_GETFD: FD_CLOEXEC is the descriptor's own (not its open file's)
        return int(fd in t.proc.fs.cloexec)
    if a[1] == 2:  # F_SETFD
        (t.proc.fs.cloexec.add if a[2] & 1 else t.proc.fs.cloexec.discard)(fd)
        return 0
    if f is None or f.kind is FileKind.CON:
        return _console_fcntl(k, t, a)
    cmd = a[1]
    if cmd == 3:  # F_GETFL: Linux keeps none of the flags that only acted at open
        return f.flags & ~OPEN_ONLY & ~(O_DIRECTORY if f.kind is FileKind.FILE else 0)
    if cmd == 4:  # F_SETFL: O_APPEND and O_NONBLOCK may change
        f.flags = (f.flags & ~0o6000) | (a[2] & 0o6000)
        return 0
    return 0 if cmd in (1, 2) else -EINVAL  # F_GETFD, F_SETFD


OPEN_ONLY = 0o100 | 0o200 | 0o400 | 0o1000  # O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC

# F_GETLK, F_SETLK, F_SETLKW: 5-7 with struct flock (32-bit offsets), 12-14 with struct flock64
# (musl's on riscv32), 36-38 the open file description's (F_OFD_*, flock64, l_pid 0).
LOCK_CMDS = {5: "get", 6: "set", 7: "set", 12: "get", 13: "set", 14: "set", 36: "get", 37: "set", 38: "set"}
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2


def _record_lock(k: Kernel, t: Thread, fd: int, f: OpenFile | None, cmd: int, addr: int) -> int:
    """Record locks (fcntl) with the checks Linux makes, then, for a file or directory, at the
    file server: one lock table per file for every cluster (daemons/fslocks.py). Other
    descriptors (the console, pipes, sockets, devices) keep no locks: every lock is granted
    and F_GETLK answers F_UNLCK."""
    wide = cmd >= 12
    raw = t.proc.aspace.read(addr, 32 if wide else 16)
    if LOCK_CMDS[cmd] == "get":  # its answer is written there: writable now (a read copy of a
        for at in (addr, addr + len(raw) - 1):  # shared page is asked for writing, the call
            t.proc.aspace.translate(at, "store")  # made again; not EFAULT when it is answered)
    if wide:
        ltype, whence, start, length, pid = struct.unpack_from("<hh4xqqi", raw)
    else:
        ltype, whence, start, length, pid = struct.unpack_from("<hhiii", raw)
    if cmd >= 36 and pid != 0:
        return -EINVAL
    if ltype not in ((F_RDLCK, F_WRLCK) if LOCK_CMDS[cmd] == "get" else (F_RDLCK, F_WRLCK, F_UNLCK)):
        return -EINVAL
    if whence not in (0, 1, 2):
        return -EINVAL
    kept = files.file_of(t, fd)
    if whence != 2 or kept is None:  # (a file's SEEK_END: its size is the server's)
        base = f.offset if whence == 1 and f is not None else 0
        rng = lock_range(base, start, length)
        if isinstance(rng, int):
            return rng
    if LOCK_CMDS[cmd] == "set":
        con = f is None or f.kind is FileKind.CON
        acc = (0 if console.stream(t.proc, fd) == 0 else O_WRONLY) if con else f.flags & O_ACCMODE
        if ltype == F_RDLCK and acc == O_WRONLY or ltype == F_WRLCK and acc not in (O_WRONLY, O_RDWR):
            return -EBADF
    if kept is None:
        if LOCK_CMDS[cmd] == "get":
            t.proc.aspace.write(addr, struct.pack("<h", F_UNLCK))
        return 0
    op = 0 if LOCK_CMDS[cmd] == "get" else 1 if cmd in (6, 13, 37) else 2
    if op:
        t.proc.fs.locks = True  # its closes now drop its locks (files.release)

    def done(reply: Packet, at: int) -> int:
        files.rehandle(kept, reply)
        ret = reply.body.ret
        if ret != -EINTR:  # (a signal's cancel came too late: the answer stands, not made again)
            t.sig.interrupted = None
        if ret == 0 and op == 0:
            st = reply.body.st
            if st[0] == F_UNLCK:
                t.proc.aspace.write(addr, struct.pack("<h", F_UNLCK))
            elif wide:  # l_pid: the holder's, -1 for an open file description's lock (Linux)
                holder = -1 if st[3] <= 0 else st[3]
                t.proc.aspace.write(addr, struct.pack("<hh4xqqi", st[0], 0, st[1], st[2], holder))
            elif st[1] > 0x7FFFFFFF or st[2] > 0x7FFFFFFF:
                return -EOVERFLOW
            else:
                t.proc.aspace.write(addr, struct.pack("<hhiii", st[0], 0, st[1], st[2], st[3]))
        return ret
    return files.ask(k, t, FsLock(**files.about(kept), cmd=op, ofd=cmd >= 36, type=ltype, whence=whence,
                                  start=start, length=length, offset=kept.offset), done)


def sys_ioctl(k: Kernel, t: Thread, a: list[int]) -> int:
    # No terminal: TIOCGWINSZ (and every other request) says "not a tty", so stdout is
    # fully buffered, as when a program's output goes to a file.
    return -EBADF if s32(a[0]) not in t.proc.fs.open_fds else -ENOTTY


# --- the console's descriptors ----------------------------------------------------------
def _console_write(k: Kernel, t: Thread, a: list[int]) -> int:
    out = console.stream(t.proc, s32(a[0]))
    if not out:
        return -EBADF
    return console.write(k, t, out, [(a[1], a[2])])


def _console_writev(k: Kernel, t: Thread, a: list[int]) -> int:
    out, cnt = console.stream(t.proc, s32(a[0])), s32(a[2])
    if not out:
        return -EBADF
    if cnt < 0 or cnt > 1024:
        return -EINVAL
    segs = console.segments(k, t, "writev", a)
    return -EINVAL if segs is None else console.write(k, t, out, segs)


STDIN_MAX = 1 << 20  # bytes one read of stdin asks the daemon for


def read_stdin(k: Kernel, t: Thread, pieces: list[tuple[int, int]]) -> int:
    """Standard input is served by the I/O cluster's console daemon (which holds what the
    host gave the process), so a process reads the same stream wherever it runs and an
    image carries none of it. The reply's bytes fill `pieces` (address, length) in order."""
    want = files.wanted(t, pieces, STDIN_MAX)
    if want == 0:
        return 0

    def got(reply: Packet, at: int) -> int:
        data = memoryview(reply.data)
        for buf, n in pieces:
            if not data:
                break
            t.proc.aspace.write(buf, data[:n])
            data = data[n:]
        return len(reply.data)
    k.rpc(t, Stdin(size=want, tty=t.proc.family.tty or UNSET), got)
    return 0  # not reached: rpc blocks the thread


def _console_read(k: Kernel, t: Thread, a: list[int]) -> int:
    buf, n = a[1], a[2]
    if console.stream(t.proc, s32(a[0])) != 0:
        return -EBADF
    return read_stdin(k, t, [(buf, n)])


def _console_readv(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, iov, cnt = s32(a[0]), a[1], s32(a[2])
    if cnt < 0 or cnt > 1024:
        return -EINVAL
    raw = t.proc.aspace.read(iov, 8 * cnt)
    if console.stream(t.proc, fd) == 0:
        return read_stdin(k, t, [struct.unpack_from("<II", raw, 8 * i) for i in range(cnt)])
    total = 0
    for i in range(cnt):
        base, ln = struct.unpack_from("<II", raw, 8 * i)
        got = _console_read(k, t, [fd, base, ln])
        if got < 0:
            return got if total == 0 else total
        total += got
        if got < ln:
            break
    return total


def _console_close(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    if fd not in t.proc.fs.open_fds:
        return -EBADF
    t.proc.fs.open_fds.discard(fd)
    return 0


def _console_llseek(k: Kernel, t: Thread, a: list[int]) -> int:
    return -EBADF if s32(a[0]) not in t.proc.fs.open_fds else -ESPIPE


def _console_fcntl(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, cmd = s32(a[0]), a[1]
    out = console.stream(t.proc, fd)
    if out is None:
        return -EBADF
    if cmd == 3:  # F_GETFL
        return 0 if out == 0 else 1  # O_RDONLY / O_WRONLY
    return 0 if cmd in (1, 2, 4) else -EINVAL  # F_GETFD, F_SETFD, F_SETFL

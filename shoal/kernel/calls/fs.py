"""The file system's calls: openat, statx, getdents64, mkdirat, unlinkat, renameat, renameat2,
ftruncate64, getcwd, chdir, fchdir, faccessat(2): requests to the file server
(kernel/files.py); shm_open and shm_unlink are opens and unlinks under /dev/shm (kernel/shm.py)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import (
    EACCES,
    EBADF,
    EEXIST,
    EFAULT,
    EINVAL,
    EMFILE,
    ENAMETOOLONG,
    ENOENT,
    ENOTDIR,
    EPERM,
    ERANGE,
    EROFS,
    MAX_IO,
    O_ACCMODE,
    O_CREAT,
    O_EXCL,
    O_RDWR,
    O_WRONLY,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFREG,
    S_IFSOCK,
)
from shoal.kernel import fifos, files, pipes, shm
from shoal.kernel.calls import cred
from shoal.kernel.calls.common import EPOCH_NS, ns_to_cycles, s32
from shoal.kernel.container import FileKind, OpenFile, Thread
from shoal.kernel.stops import ASLEEP
from shoal.messages import (
    UNSET,
    FsClose,
    FsGetdents,
    FsMkdir,
    FsOpen,
    FsRename,
    FsSetattr,
    FsStat,
    FsTruncate,
    FsUnlink,
    ShmOpen,
    ShmTruncate,
    ShmUnlink,
)

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

O_CLOEXEC = 0o2000000  # close at exec: the descriptor's own flag (Container.fs.cloexec)
AT_SYMLINK_NOFOLLOW, AT_EACCESS = 0x100, 0x200


def sys_openat(k: Kernel, t: Thread, a: list[int]) -> int:
    path = files.user_path(t, s32(a[0]), a[1])
    if isinstance(path, int):
        return path
    flags, mode = a[2], a[3] & ~t.proc.fs.umask & 0o7777  # (the mask applies to a file made here)
    p = t.proc
    if len(p.fs.files) >= files.MAX_FILES:
        return -EMFILE
    waited = t.call.fifo
    if waited:  # made again after it waited at a FIFO: the same pipe, whatever the
        got = fifos.open_fifo(k, t, waited, path, flags, k.now())  # path names now (Linux's
        return k.sleep(t, None, None, why=t.blocked_on) if got is ASLEEP else got  # holds the inode)
    dev = files.device(path)
    if dev is not None:  # served here, no file server needed
        fd = files.open_device(p, dev, flags)
        if fd >= 0 and flags & O_CLOEXEC:
            p.fs.cloexec.add(fd)
        return fd
    if path.startswith(shm.PREFIX):  # shm_open: an object of the shared-memory daemon
        def got(reply: Packet, at: int) -> int:
            if reply.body.ret < 0:
                return reply.body.ret
            fd = files.new_fd(p)
            if fd >= 0:
                p.fs.open_fds.add(fd)
                p.fs.files[fd] = OpenFile(FileKind.SHM, path, reply.body.obj, flags)
                if flags & O_CLOEXEC:
                    p.fs.cloexec.add(fd)
            elif p.alive:
                shm.release_if_unused(k, p, reply.body.obj, at)
            return fd
        return files.ask(k, t, ShmOpen(name=path[len(shm.PREFIX):], flags=flags), got)

    def opened(reply: Packet, at: int) -> object:
        ret = reply.body.ret
        if ret < 0:
            return ret
        if reply.body.obj is not UNSET:  # a FIFO: its pipe's handle (kernel/fifos.py)
            return fifos.open_fifo(k, t, reply.body.obj, path, flags, at)
        fd = files.new_fd(p)
        if fd < 0:
            k.send(k.services_node, FsClose(pid=p.pid, handle=reply.body.handle), at=at)
            return fd
        p.fs.open_fds.add(fd)
        kind = FileKind.DIR if reply.body.dir else FileKind.FILE
        real = reply.data.decode("utf-8", "surrogateescape") if reply.body.dir and reply.data else path
        p.fs.files[fd] = OpenFile(kind, real, reply.body.handle, flags)  # (a directory: without links)
        if flags & O_CLOEXEC:
            p.fs.cloexec.add(fd)
        return fd
    return files.ask(k, t, FsOpen(path=path, flags=flags, mode=mode, **cred.as_user(t)), opened)


def sys_statx(k: Kernel, t: Thread, a: list[int]) -> int:
    dirfd, flags, buf = s32(a[0]), a[2], a[4]  # a[3]: the mask (all is given)
    name = t.proc.aspace.read_cstr(a[1], files.MAX_PATH)
    if not name and flags & files.AT_EMPTY_PATH and dirfd != files.AT_FDCWD:
        f = files.file_of(t, dirfd)
        d = files.device_of(t, dirfd)
        if d is not None:
            t.proc.aspace.write(buf, files.device_statx(d.path))
            return 0
        g = t.proc.fs.files.get(dirfd)
        if f is None and pipes.is_pipe(g):
            return _pipe_statx(k, t, g, buf)  # type: ignore[arg-type]
        if f is None:
            return _console_statx(k, t, a)
        body = FsStat(**files.about(f))
    else:  # (AT_FDCWD with an empty path and AT_EMPTY_PATH: the working directory, as Linux)
        path = files.user_path(t, dirfd, a[1], empty_ok=bool(flags & files.AT_EMPTY_PATH))
        if isinstance(path, int):
            return path
        dev = files.device(path)
        if dev is not None:
            t.proc.aspace.write(buf, files.device_statx(dev))
            return 0
        lstat = {"nofollow": True} if flags & AT_SYMLINK_NOFOLLOW else {}
        f, body = None, FsStat(path=path, handle=None, **lstat, **cred.as_user(t))
    t.proc.aspace.translate(buf, "store")

    def got(reply: Packet, at: int) -> int:
        if f is not None:
            files.rehandle(f, reply)
        if reply.body.ret < 0:
            return reply.body.ret
        t.proc.aspace.write(buf, files.statx_bytes(reply.body.st, k.spec.cluster.freq_hz))
        return 0
    return files.ask(k, t, body, got)


def sys_getdents64(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, buf, size = s32(a[0]), a[1], min(a[2], MAX_IO)
    f = files.file_of(t, fd)
    if f is None:
        return -EBADF if fd not in t.proc.fs.open_fds or fd in t.proc.fs.files else -ENOTDIR
    if f.kind is not FileKind.DIR:
        return -ENOTDIR
    t.proc.aspace.translate(buf, "store")

    def got(reply: Packet, at: int) -> int:
        files.rehandle(f, reply)
        if reply.body.ret < 0:
            return reply.body.ret
        t.proc.aspace.write(buf, reply.data)
        f.offset = reply.body.offset
        return len(reply.data)
    return files.ask(k, t, FsGetdents(**files.about(f), offset=f.offset, size=size), got)


def sys_mkdirat(k: Kernel, t: Thread, a: list[int]) -> int:
    path = files.user_path(t, s32(a[0]), a[1])
    mode = a[2] & ~t.proc.fs.umask & 0o7777
    if isinstance(path, int):
        return path
    return files.simple(k, t, FsMkdir(path=path, mode=mode, **cred.as_user(t)))


S_IFMT, S_IFBLK = 0o170000, 0o060000


def sys_mknodat(k: Kernel, t: Thread, a: list[int]) -> int:
    """mknodat(dirfd, path, mode, dev): a regular file (type S_IFREG or 0), made as Linux makes
    it (open's O_CREAT|O_EXCL, closed at once), or a FIFO (mkfifo: a node the server makes
    without opening it; kernel/fifos.py opens it). A device or a socket: EPERM, mknod(2)'s
    answer when "the filesystem containing pathname does not support the type of node
    requested" (a socket's node is bind's)."""
    path = files.user_path(t, s32(a[0]), a[1])
    if isinstance(path, int):
        return path
    kind = a[2] & S_IFMT
    if kind in (S_IFCHR, S_IFBLK, S_IFSOCK):
        return -EPERM
    if kind not in (0, S_IFREG, S_IFIFO):
        return -EINVAL
    if files.device(path) is not None or path.startswith(shm.PREFIX):
        return -EEXIST
    p = t.proc

    def made(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        if reply.body.handle:
            k.send(k.services_node, FsClose(pid=p.pid, handle=reply.body.handle), at=at)
        return 0
    mode = a[2] & ~p.fs.umask & 0o7777
    fifo = {"fifo": True} if kind == S_IFIFO else {}
    body = FsOpen(path=path, flags=O_CREAT | O_EXCL, mode=mode, **fifo, **cred.as_user(t))
    return files.ask(k, t, body, made)


def sys_unlinkat(k: Kernel, t: Thread, a: list[int]) -> int:
    if a[2] & ~files.AT_REMOVEDIR:
        return -EINVAL
    path = files.user_path(t, s32(a[0]), a[1])
    if isinstance(path, int):
        return path
    if path.startswith(shm.PREFIX):  # shm_unlink: the name goes; mapped pages stay
        return files.simple(k, t, ShmUnlink(name=path[len(shm.PREFIX):]))
    return files.simple(k, t, FsUnlink(path=path, rmdir=bool(a[2] & files.AT_REMOVEDIR), **cred.as_user(t)))


def sys_renameat(k: Kernel, t: Thread, a: list[int]) -> int:
    return _rename(k, t, a, 0)


def sys_renameat2(k: Kernel, t: Thread, a: list[int]) -> int:
    return _rename(k, t, a, a[4])


def sys_truncate(k: Kernel, t: Thread, a: list[int]) -> int:
    """truncate(path, length): the file at `path` (links followed), as ftruncate's server side
    by path; the length is a 64-bit pair (a1, a2), as ftruncate64's."""
    path = files.user_path(t, files.AT_FDCWD, a[0])
    if isinstance(path, int):
        return path
    length = files.off64(a[1], a[2])
    if length < 0:
        return -EINVAL
    return files.simple(k, t, FsTruncate(handle=None, path=path, flags=0, length=length, **cred.as_user(t)))


def sys_ftruncate(k: Kernel, t: Thread, a: list[int]) -> int:
    g = t.proc.fs.files.get(s32(a[0]))
    if g is not None and g.kind is FileKind.SHM:
        length = files.off64(a[1], a[2])
        if length < 0 or g.flags & O_ACCMODE != O_RDWR:
            return -EINVAL
        return files.simple(k, t, ShmTruncate(obj=g.handle, length=length))
    f = files.file_of(t, s32(a[0]))
    if f is None:
        return -EBADF if s32(a[0]) not in t.proc.fs.open_fds else -EINVAL
    length = files.off64(a[1], a[2])
    if length < 0 or f.kind is FileKind.DIR or f.flags & O_ACCMODE not in (O_WRONLY, O_RDWR):
        return -EINVAL  # as Linux, for a descriptor not open for writing too

    def done(reply: Packet, at: int) -> int:
        files.rehandle(f, reply)
        return reply.body.ret
    return files.ask(k, t, FsTruncate(**files.about(f), length=length), done)


def _rename(k: Kernel, t: Thread, a: list[int], flags: int) -> int:
    if flags & ~1:  # RENAME_NOREPLACE only
        return -EINVAL
    old = files.user_path(t, s32(a[0]), a[1])
    if isinstance(old, int):
        return old
    new = files.user_path(t, s32(a[2]), a[3])
    if isinstance(new, int):
        return new
    return files.simple(k, t, FsRename(old=old, new=new, noreplace=bool(flags & 1), **cred.as_user(t)))


def sys_getcwd(k: Kernel, t: Thread, a: list[int]) -> int:
    raw = t.proc.fs.cwd.encode() + b"\0"
    if len(raw) > files.MAX_PATH:  # Linux builds it in a page: deeper than that, this
        return -ENAMETOOLONG       # error (its other calls still reach it by relative names)
    if a[1] < len(raw):
        return -ERANGE
    t.proc.aspace.write(a[0], raw)
    return len(raw)


F_OK, X_OK, W_OK, R_OK = 0, 1, 2, 4


def sys_faccessat(k: Kernel, t: Thread, a: list[int]) -> int:
    return _access(k, t, s32(a[0]), a[1], a[2], 0)


def sys_faccessat2(k: Kernel, t: Thread, a: list[int]) -> int:
    return _access(k, t, s32(a[0]), a[1], a[2], a[3])


def _access(k: Kernel, t: Thread, dirfd: int, addr: int, mode: int, flags: int) -> int:
    """access(2) as Linux answers: by the real ids (the effective ones with AT_EACCESS). Root
    may read and write a file that exists (EROFS for the read-only --file ones) and execute it
    if some x bit is set (a directory: search it); another user gets what the owner's, the
    group's or the others' bits of the file's mode give it; the directories on the way need
    search permission by the same ids (EACCES)."""
    if mode & ~(R_OK | W_OK | X_OK) or flags & ~(AT_SYMLINK_NOFOLLOW | AT_EACCESS | files.AT_EMPTY_PATH):
        return -EINVAL
    path = files.user_path(t, dirfd, addr, empty_ok=bool(flags & files.AT_EMPTY_PATH))
    if isinstance(path, int):
        return path
    c = t.proc.user.ids
    uid, gid = (c[cred.EUID], c[cred.GID + cred.EUID]) if flags & AT_EACCESS else (c[cred.RUID], c[cred.GID])
    if files.device(path) is not None:  # character devices: root's, rw-rw-rw-, no x bit
        return -EACCES if mode & X_OK else 0

    def got(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        if mode & W_OK and reply.body.ro is True:
            return -EROFS
        st = reply.body.st
        st_mode = st[1]
        if uid == 0:
            if mode & X_OK and not st_mode & S_IFDIR and not st_mode & 0o111:
                return -EACCES
            return 0
        shift = 6 if uid == st[7] else 3 if gid == st[8] or st[8] in t.proc.user.groups else 0
        return 0 if (st_mode >> shift) & mode == mode else -EACCES
    nofollow = {"nofollow": True} if flags & AT_SYMLINK_NOFOLLOW else {}
    by = {"cred": (uid, gid, tuple(t.proc.user.groups))} if uid != 0 else {}  # (the walk's ids too)
    return files.ask(k, t, FsStat(path=path, handle=None, access=True, **nofollow, **by), got)


def sys_chdir(k: Kernel, t: Thread, a: list[int]) -> int:
    path = files.user_path(t, files.AT_FDCWD, a[0])
    return path if isinstance(path, int) else _enter(k, t, path)


def sys_fchdir(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    if fd not in t.proc.fs.open_fds:
        return -EBADF
    f = t.proc.fs.files.get(fd)
    if f is None or f.kind is not FileKind.DIR:
        return -ENOTDIR
    by = cred.as_user(t)
    if not by:
        t.proc.fs.cwd = files.canonical(f.path)
        return 0

    def got(reply: Packet, at: int) -> int:  # a user needs search permission on it (EACCES)
        files.rehandle(f, reply)
        if reply.body.ret == 0:
            t.proc.fs.cwd = files.canonical(f.path)
        return reply.body.ret
    return files.ask(k, t, FsStat(**files.about(f), real=True, **by), got)


def _enter(k: Kernel, t: Thread, path: str) -> int:
    """Make `path` the working directory if the server says it is a directory; the server
    gives its path without links, which getcwd shows (as Linux)."""
    if files.device(path) is not None:
        return -ENOTDIR

    def got(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        if not reply.body.st[1] & S_IFDIR:
            return -ENOTDIR
        t.proc.fs.cwd = reply.data.decode("utf-8", "surrogateescape") if reply.data else files.canonical(path)
        return 0
    return files.ask(k, t, FsStat(path=path, handle=None, real=True, **cred.as_user(t)), got)


def _pipe_statx(k: Kernel, t: Thread, f: OpenFile, buf: int) -> int:
    """fstat of a pipe's end: a FIFO's node while its name is there (Linux gives the FIFO's
    inode), else an anonymous pipe's S_IFIFO|0600 (pipe2's, or a FIFO unlinked since)."""
    c = t.proc.user.ids
    anon = [0, S_IFIFO | 0o600, 0, 1, 0, 0, 0, c[cred.EUID], c[cred.GID + cred.EUID]]
    t.proc.aspace.translate(buf, "store")
    if not f.path:
        t.proc.aspace.write(buf, files.statx_bytes(anon, k.spec.cluster.freq_hz))
        return 0

    def got(reply: Packet, at: int) -> int:
        st = reply.body.st if reply.body.ret == 0 and reply.body.st[1] & S_IFMT == S_IFIFO else anon
        t.proc.aspace.write(buf, files.statx_bytes(st, k.spec.cluster.freq_hz))
        return 0
    return files.ask(k, t, FsStat(path=f.path, handle=None), got)


def _console_statx(k: Kernel, t: Thread, a: list[int]) -> int:
    dirfd, path, flags, buf = s32(a[0]), a[1], a[2], a[4]  # a[3]: the mask
    name = t.proc.aspace.read_cstr(path)
    if name or not flags & 0x1000:  # only fstat (AT_EMPTY_PATH) of an open descriptor
        return -ENOENT
    if dirfd not in t.proc.fs.open_fds:
        return -EBADF
    st = bytearray(256)
    struct.pack_into("<IIQIIIH", st, 0, 0x7FF, 4096, 0, 1, 0, 0, 0o20620)  # char device
    t.proc.aspace.write(buf, st)
    return 0


def sys_umask(k: Kernel, t: Thread, a: list[int]) -> int:
    old, t.proc.fs.umask = t.proc.fs.umask, a[0] & 0o777
    return old


UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2


def _setattr(k: Kernel, t: Thread, dirfd: int, addr: int, flags: int, **what: int) -> int:
    """Set the permission bits or the modification time of a path (relative to `dirfd`) or,
    with an empty path and AT_EMPTY_PATH (or a NULL path: utimensat's futimens), of `dirfd`;
    AT_SYMLINK_NOFOLLOW: of a link itself."""
    lstat = {"nofollow": True} if flags & AT_SYMLINK_NOFOLLOW else {}
    if addr == 0 or flags & files.AT_EMPTY_PATH:
        if addr and (dirfd == files.AT_FDCWD or t.proc.aspace.read_cstr(addr, files.MAX_PATH)):
            path = files.user_path(t, dirfd, addr, empty_ok=True)  # ("": the working directory)
            if isinstance(path, int):
                return path
            return files.simple(k, t, FsSetattr(path=path, handle=None, **lstat, **what))
        if dirfd not in t.proc.fs.open_fds:
            return -EBADF
        f = files.file_of(t, dirfd)
        if f is None:  # the console, a device, a pipe, a socket: nothing kept to change
            return 0

        def got(reply: Packet, at: int) -> int:
            files.rehandle(f, reply)
            return reply.body.ret
        return files.ask(k, t, FsSetattr(**files.about(f), **what), got)
    path = files.user_path(t, dirfd, addr)
    if isinstance(path, int):
        return path
    if files.device(path) is not None:
        return 0
    return files.simple(k, t, FsSetattr(path=path, handle=None, **lstat, **what))


def sys_fchmod(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setattr(k, t, s32(a[0]), 0, 0, mode=a[1] & 0o7777, **cred.as_user(t))


def sys_fchmodat(k: Kernel, t: Thread, a: list[int]) -> int:
    if not a[1]:
        return -EFAULT
    return _setattr(k, t, s32(a[0]), a[1], 0, mode=a[2] & 0o7777, **cred.as_user(t))


def sys_fchmodat2(k: Kernel, t: Thread, a: list[int]) -> int:
    """fchmodat2: fchmodat with flags; AT_SYMLINK_NOFOLLOW on a link gives EOPNOTSUPP (Linux's)."""
    flags = a[3]
    if flags & ~(AT_SYMLINK_NOFOLLOW | files.AT_EMPTY_PATH):
        return -EINVAL
    if not a[1] and not flags & files.AT_EMPTY_PATH:
        return -EFAULT
    return _setattr(k, t, s32(a[0]), a[1], flags, mode=a[2] & 0o7777, **cred.as_user(t))


def sys_fchownat(k: Kernel, t: Thread, a: list[int]) -> int:
    """fchownat (chown, lchown): owner and group (-1 leaves one), by the file server's rule."""
    flags = a[4]
    if flags & ~(AT_SYMLINK_NOFOLLOW | files.AT_EMPTY_PATH):
        return -EINVAL
    if not a[1]:
        return -EFAULT
    return _setattr(k, t, s32(a[0]), a[1], flags, uid=s32(a[2]), gid=s32(a[3]), cred=cred.chown_cred(t))


def sys_fchown(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setattr(k, t, s32(a[0]), 0, 0, uid=s32(a[1]), gid=s32(a[2]), cred=cred.chown_cred(t))


def sys_utimensat(k: Kernel, t: Thread, a: list[int]) -> int:
    """utimensat_time64: the access (times[0]) and modification (times[1]) times as given, now,
    or left (UTIME_OMIT); a NULL `times` sets both to now."""
    dirfd, addr, times, flags = s32(a[0]), a[1], a[2], a[3]
    if flags & ~(AT_SYMLINK_NOFOLLOW | files.AT_EMPTY_PATH):
        return -EINVAL
    # (a file's time is the chip's, as the file server stamps it: kernel/files.py statx_bytes)
    stamps: list[int | None] = [k.now(), k.now()]
    touch = True  # both now: the owner or a writer may (else only the owner: utimensat(2))
    if times:
        stamps = []
        for i in (0, 1):
            sec, nsec = struct.unpack("<qq", t.proc.aspace.read(times + 16 * i, 16))
            nsec &= 0xFFFFFFFF  # (a 32-bit long on riscv32)
            if nsec not in (UTIME_NOW, UTIME_OMIT) and not 0 <= nsec < 1_000_000_000:
                return -EINVAL
            stamps.append(None if nsec == UTIME_OMIT else k.now() if nsec == UTIME_NOW
                          else ns_to_cycles(k, sec * 1_000_000_000 + nsec - EPOCH_NS))
            touch = touch and nsec == UTIME_NOW
        if stamps == [None, None]:
            return 0  # nothing to do: Linux does not even look at the path
    what = {n: v for n, v in zip(("atime", "mtime"), stamps, strict=True) if v is not None}
    by = cred.as_user(t)
    if by and touch:
        by["touch"] = True
    return _setattr(k, t, dirfd, addr, flags, **what, **by)

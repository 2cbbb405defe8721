"""Links, statfs, fallocate and memfd_create: linkat, symlinkat, readlinkat, statfs64,
fstatfs64, fallocate, memfd_create; requests to the file server (daemons/fslinks.py), which
follows links (daemons/fspaths.walk)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import (
    EBADF,
    EEXIST,
    EFBIG,
    EINVAL,
    EISDIR,
    EMFILE,
    ENAMETOOLONG,
    ENODEV,
    ENOENT,
    EOPNOTSUPP,
    EPERM,
    ESPIPE,
    EXDEV,
    MEMFD_PREFIX,
    NAME_MAX,
    O_ACCMODE,
    O_RDWR,
    O_WRONLY,
)
from shoal.kernel import files
from shoal.kernel.calls import cred
from shoal.kernel.calls.common import refused, s32
from shoal.kernel.container import FileKind, OpenFile, Thread
from shoal.kernel.memory import Fault
from shoal.messages import FsClose, FsFallocate, FsLink, FsOpen, FsReadlink, FsStatfs, FsSymlink

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

AT_SYMLINK_FOLLOW = 0x400
TMPFS_MAGIC, DEVPTS_MAGIC, PIPEFS_MAGIC, SOCKFS_MAGIC = 0x01021994, 0x1CD1, 0x50495045, 0x534F434B
ST_VALID = 0x20  # f_flags: the flags are given (Linux's)
STATFS64_SIZE = 88  # struct statfs64 on riscv32 (asm-generic, 64-bit aligned), musl's struct statfs
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
FALLOC_FL_SUPPORTED_MASK = 0x7F  # the modes Linux knows (keep size .. unshare range)


def sys_linkat(k: Kernel, t: Thread, a: list[int]) -> int:
    """linkat: a new name for a file; a link at the end of the old path is linked itself unless
    AT_SYMLINK_FOLLOW; AT_EMPTY_PATH names the open file `olddirfd` (every process may: root-like)."""
    flags = a[4]
    if flags & ~(AT_SYMLINK_FOLLOW | files.AT_EMPTY_PATH):
        return -EINVAL
    new = files.user_path(t, s32(a[2]), a[3])
    olddirfd = s32(a[0])
    if flags & files.AT_EMPTY_PATH and not _name(t, a[1]):
        if olddirfd not in t.proc.fs.open_fds:
            return -EBADF
        f = files.file_of(t, olddirfd)
        if f is None:
            return -ENOENT  # the console, a pipe, a device: nothing with a name here
        if isinstance(new, int):
            return new
        if f.kind is FileKind.DIR:
            return -EPERM
        return files.simple(k, t, FsLink(old=f.path, new=new, follow=True, handle=f.handle, flags=f.flags,
                                                  **cred.as_user(t)))
    old = files.user_path(t, olddirfd, a[1])
    if isinstance(old, int):
        return old
    if isinstance(new, int):
        return new
    if files.device(old) is not None:
        return -EXDEV  # (the kernel's devices: another file system, as devtmpfs)
    if files.device(new) is not None:
        return -EEXIST
    return files.simple(k, t, FsLink(old=old, new=new, follow=bool(flags & AT_SYMLINK_FOLLOW), handle=None,
                                              **cred.as_user(t)))


def _name(t: Thread, addr: int) -> bytes:
    try:
        return t.proc.aspace.read_cstr(addr, files.MAX_PATH) if addr else b""
    except Fault as f:
        if f.reason != "string too long":
            raise
        return b"x"  # (too long: not empty; user_path says ENAMETOOLONG)


def sys_symlinkat(k: Kernel, t: Thread, a: list[int]) -> int:
    """symlinkat: the target is kept as given (empty: ENOENT; PATH_MAX with its NUL at most)."""
    try:
        raw = t.proc.aspace.read_cstr(a[0], files.MAX_PATH)
    except Fault as f:
        if f.reason != "string too long":
            raise
        return -ENAMETOOLONG
    if len(raw) >= files.MAX_PATH:
        return -ENAMETOOLONG
    if not raw:
        return -ENOENT
    path = files.user_path(t, s32(a[1]), a[2])
    if isinstance(path, int):
        return path
    if files.device(path) is not None:
        return -EEXIST
    target = raw.decode("utf-8", "surrogateescape")
    return files.simple(k, t, FsSymlink(target=target, path=path, **cred.as_user(t)))


def sys_readlinkat(k: Kernel, t: Thread, a: list[int]) -> int:
    """readlinkat: the target's bytes, cut to the buffer, no NUL; EINVAL for what is not a link."""
    buf, size = a[2], s32(a[3])
    if size <= 0:
        return -EINVAL
    path = files.user_path(t, s32(a[0]), a[1])
    if isinstance(path, int):
        return path
    if files.device(path) is not None:
        return -EINVAL
    t.proc.aspace.translate(buf, "store")

    def got(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        data = reply.data[:size]
        t.proc.aspace.write(buf, data)
        return len(data)
    return files.ask(k, t, FsReadlink(path=path, **cred.as_user(t)), got)


def _statfs_bytes(magic: int, nums: list[int]) -> bytes:
    bsize, blocks, bfree, nfiles, ffree = nums
    buf = bytearray(STATFS64_SIZE)
    struct.pack_into("<IIQQQQQiiIII", buf, 0, magic, bsize, blocks, bfree, bfree, nfiles, ffree,
                     0, 0, NAME_MAX, bsize, ST_VALID)
    return bytes(buf)


def _statfs_reply(k: Kernel, t: Thread, buf: int, body: FsStatfs, f: object = None) -> int:
    t.proc.aspace.translate(buf, "store")

    def got(reply: Packet, at: int) -> int:
        if f is not None:
            files.rehandle(f, reply)  # type: ignore[arg-type]
        if reply.body.ret < 0:
            return reply.body.ret
        t.proc.aspace.write(buf, _statfs_bytes(TMPFS_MAGIC, reply.body.attr))
        return 0
    return files.ask(k, t, body, got)


def sys_statfs64(k: Kernel, t: Thread, a: list[int]) -> int:
    """statfs64: the one file system's figures (TMPFS_MAGIC: a RAM disk; blocks of 4096 bytes
    from fs_total_bytes, files from fs_max_files); /dev's devices answer as tmpfs too (devtmpfs
    does on Linux), with no blocks."""
    if a[1] != STATFS64_SIZE:
        return -EINVAL
    path = files.user_path(t, files.AT_FDCWD, a[0])
    if isinstance(path, int):
        return path
    if files.device(path) is not None:
        t.proc.aspace.write(a[2], _statfs_bytes(TMPFS_MAGIC, [4096, 0, 0, 0, 0]))
        return 0
    return _statfs_reply(k, t, a[2], FsStatfs(path=path, handle=None, **cred.as_user(t)))


def sys_fstatfs64(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, buf = s32(a[0]), a[2]
    if a[1] != STATFS64_SIZE:
        return -EINVAL
    if fd not in t.proc.fs.open_fds:
        return -EBADF
    f = files.file_of(t, fd)
    if f is not None:
        return _statfs_reply(k, t, buf, FsStatfs(**files.about(f)), f)
    g = t.proc.fs.files.get(fd)
    kind = g.kind if g is not None else FileKind.CON
    magic = {FileKind.PIPE: PIPEFS_MAGIC, FileKind.SOCK: SOCKFS_MAGIC,
             FileKind.CON: DEVPTS_MAGIC}.get(kind, TMPFS_MAGIC)
    t.proc.aspace.write(buf, _statfs_bytes(magic, [4096, 0, 0, 0, 0]))
    return 0


def sys_fallocate(k: Kernel, t: Thread, a: list[int]) -> int:
    """fallocate: mode 0, FALLOC_FL_KEEP_SIZE and PUNCH_HOLE|KEEP_SIZE (tmpfs's modes); the
    other modes Linux knows give EOPNOTSUPP, counted as refused (--stats). Linux's checks in
    its order (vfs_fallocate)."""
    fd, mode = s32(a[0]), a[1]
    offset, length = files.off64(a[2], a[3]), files.off64(a[4], a[5])
    if fd not in t.proc.fs.open_fds:
        return -EBADF
    if offset < 0 or length <= 0:
        return -EINVAL
    if mode & ~FALLOC_FL_SUPPORTED_MASK:
        return -EOPNOTSUPP
    if mode & FALLOC_FL_PUNCH_HOLE and not mode & FALLOC_FL_KEEP_SIZE:
        return -EOPNOTSUPP
    g = t.proc.fs.files.get(fd)
    if g is None or g.flags & O_ACCMODE not in (O_WRONLY, O_RDWR):
        return -EBADF  # (the console's 0-2 included: a terminal's is ENODEV on Linux, if writable)
    if g.kind is FileKind.PIPE:
        return -ESPIPE
    if g.kind is FileKind.DIR:
        return -EISDIR
    if g.kind is not FileKind.FILE:
        return -ENODEV
    if offset + length > (1 << 63) - 1:
        return -EFBIG
    if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
        return refused(t, 47, EOPNOTSUPP)  # zero, collapse, insert range, unshare: not served
    f = g

    def done(reply: Packet, at: int) -> int:
        files.rehandle(f, reply)
        return reply.body.ret
    return files.ask(k, t, FsFallocate(**files.about(f), mode=mode, offset=offset, length=length), done)


# memfd_create -----------------------------------------------------------------------------------
MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB, MFD_NOEXEC_SEAL, MFD_EXEC = 1, 2, 4, 8, 0x10
MFD_NAME_MAX_LEN = 249  # NAME_MAX less "memfd:"
NR_MEMFD_CREATE = 279
O_LARGEFILE = 0o100000


def sys_memfd_create(k: Kernel, t: Thread, a: list[int]) -> int:
    """An anonymous file of the file server, with no name from the start (as if unlinked at
    once): read, write, lseek, ftruncate, fstat, dup and fork as any file's descriptor; mode
    0777 (0666 with MFD_NOEXEC_SEAL), owned by the caller, no link. It cannot be mapped: shoal maps no
    file (only shared-memory objects, mman.py), so mmap gives ENODEV. Seals are not kept
    (MFD_ALLOW_SEALING is taken, F_ADD_SEALS is refused); MFD_HUGETLB is refused (EINVAL,
    counted). Its data lives on this chip: a restored image's descriptor gives EBADF."""
    flags = a[1]
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC) or (
            flags & MFD_NOEXEC_SEAL and flags & MFD_EXEC):
        return -EINVAL
    if flags & MFD_HUGETLB:
        return refused(t, NR_MEMFD_CREATE, EINVAL)
    try:
        name = t.proc.aspace.read_cstr(a[0], MFD_NAME_MAX_LEN + 1)
    except Fault as f:
        if f.reason != "string too long":
            raise  # (EFAULT: kernel/entry.py)
        return -EINVAL
    if len(name) > MFD_NAME_MAX_LEN:  # (read_cstr reads whole pages: it may give more)
        return -EINVAL
    p = t.proc
    if files.new_fd(p) < 0:
        return -EMFILE
    label = MEMFD_PREFIX + name.decode("utf-8", "replace") + " (deleted)"  # (as paths: U+FFFD)
    oflags = O_RDWR | O_LARGEFILE

    def opened(reply: Packet, at: int) -> int:
        if reply.body.ret < 0:
            return reply.body.ret
        fd = files.new_fd(p)
        if fd < 0:
            k.send(k.services_node, FsClose(pid=p.pid, handle=reply.body.handle), at=at)
            return fd
        p.fs.open_fds.add(fd)
        p.fs.files[fd] = OpenFile(FileKind.FILE, label, reply.body.handle, oflags)
        if flags & MFD_CLOEXEC:
            p.fs.cloexec.add(fd)
        return fd
    mode = 0o666 if flags & MFD_NOEXEC_SEAL else 0o777
    return files.ask(k, t, FsOpen(path=label, flags=oflags, mode=mode, anon=True, **cred.as_user(t)), opened)

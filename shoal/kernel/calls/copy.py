"""close_range, and copies between files of the file server: sendfile64, copy_file_range.

A copy is the file server's read then its write, as two requests: the read's bytes wait in
the kernel while the call is made again (its pc put back, as poll.py does) and the second
time they are written. Nothing moves before the write, so a copy that is made again from the
start (after a migration, which leaves the bytes behind, or after a signal handler that
copied something else) reads again and does the same. At most MAX_IO bytes a call (a short
count, as Linux's copies may give). sendfile to a pipe, a socket, a device or the console
writes the bytes read as write(2) would there (_to_stream); to a message queue: EINVAL,
counted as refused (--stats)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from shoal.abi import EBADF, EFBIG, EINVAL, EISDIR, MAX_IO, O_ACCMODE, O_APPEND, O_RDWR, O_WRONLY
from shoal.kernel import console, files, pipes, ubytes
from shoal.kernel.calls import sockdata
from shoal.kernel.calls.common import refused, s32
from shoal.kernel.container import Block, FileKind, OpenFile, Thread, TState
from shoal.kernel.memory import Fault
from shoal.kernel.stops import ASLEEP
from shoal.messages import FsRead, FsWrite
from shoal.platform.cpu import REG_PC

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC = 2, 4
NR_CLOSE_RANGE, NR_SENDFILE, NR_COPY_FILE_RANGE = 436, 71, 285
OFF_MAX = (1 << 63) - 1


def sys_close_range(k: Kernel, t: Thread, a: list[int]) -> int:
    first, last, flags = a[0], a[1], a[2]
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) or first > last:
        return -EINVAL
    p = t.proc
    if flags & CLOSE_RANGE_UNSHARE and sum(x.state is not TState.DEAD for x in p.threads) > 1:
        return refused(t, NR_CLOSE_RANGE, EINVAL)  # (threads share one table; no private copy here)
    fds = sorted(fd for fd in p.fs.open_fds if first <= fd <= last)
    if flags & CLOSE_RANGE_CLOEXEC:
        p.fs.cloexec.update(fds)
        return 0
    at = k.now()
    for fd in fds:
        files.release(k, p, fd, at)
        p.fs.open_fds.discard(fd)
    return 0


# The bytes a copy read, until the same call, made again, writes them.
_read: WeakKeyDictionary[Thread, tuple[tuple, bytes]] = WeakKeyDictionary()


def _readable(f: OpenFile | None) -> bool:  # (None: a console descriptor never dup'd)
    return f is None or f.kind is FileKind.CON or f.flags & O_ACCMODE != O_WRONLY


def _writable(f: OpenFile | None) -> bool:
    return f is None or f.kind is FileKind.CON or f.flags & O_ACCMODE in (O_WRONLY, O_RDWR)


def _off(t: Thread, ptr: int) -> int | None:
    return struct.unpack("<q", t.proc.aspace.read(ptr, 8))[0] if ptr else None


def _copy(k: Kernel, t: Thread, a: list[int], fi: OpenFile, fo: OpenFile, in_ptr: int, out_ptr: int,
          count: int) -> int:
    """Read `count` (at most MAX_IO) bytes of `fi` at *in_ptr or its offset, then write them to
    `fo` at *out_ptr or its offset; the pointers or offsets move by what was written."""
    pin, pout = _off(t, in_ptr), _off(t, out_ptr)
    if (pin is not None and pin < 0) or (pout is not None and pout < 0):
        return -EINVAL
    off_in = fi.offset if pin is None else pin
    off_out = fo.offset if pout is None else pout
    count = min(count, MAX_IO, OFF_MAX - off_in)
    if count <= 0:
        return 0
    key = (tuple(a), off_in, off_out, fi.handle, fo.handle)
    held = _read.pop(t, None)
    if held is None or held[0] != key:
        def got(reply: Packet, when: int) -> int:
            files.rehandle(fi, reply)
            if reply.body.ret < 0:
                return reply.body.ret
            if not reply.data:
                return 0  # at or past the end: nothing to copy
            _read[t] = (key, bytes(reply.data))
            t.ctx.reg_write(REG_PC, t.ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
            return a[0]  # made again (a0 as it was), now to write
        return files.ask(k, t, FsRead(**files.about(fi), offset=off_in, size=count), got)
    data = held[1]
    if off_out + len(data) > OFF_MAX:
        return -EFBIG

    def done(reply: Packet, when: int) -> int:
        files.rehandle(fo, reply)
        n = reply.body.ret
        if n < 0:
            return n
        if in_ptr:
            t.proc.aspace.write(in_ptr, struct.pack("<q", off_in + n))
        else:
            fi.offset = off_in + n
        if out_ptr:
            t.proc.aspace.write(out_ptr, struct.pack("<q", off_out + n))
        else:
            fo.offset = reply.body.offset
        return n
    return files.ask(k, t, FsWrite(**files.about(fo), offset=off_out, append=False), done, data)


def sys_sendfile64(k: Kernel, t: Thread, a: list[int]) -> int:
    """Linux's do_sendfile's checks in its order; then the copy, if both are files."""
    fd_out, fd_in, ptr, count = s32(a[0]), s32(a[1]), a[2], a[3]
    fs = t.proc.fs
    fi, fo = fs.files.get(fd_in), fs.files.get(fd_out)
    if fd_in not in fs.open_fds or not _readable(fi):
        return -EBADF
    pin = _off(t, ptr)
    if pin is not None and pin < 0:
        return -EINVAL
    if fd_out not in fs.open_fds or not _writable(fo):
        return -EBADF
    if fo is not None and fo.flags & O_APPEND:
        return -EINVAL
    if fi is None or fi.kind is not FileKind.FILE:
        return -EINVAL  # (a directory, pipe, socket or the console cannot be read by splice)
    if fo is not None and fo.kind is FileKind.FILE:
        return _copy(k, t, a, fi, fo, ptr, 0, count)
    if fo is not None and fo.kind not in (FileKind.PIPE, FileKind.SOCK, FileKind.CON, FileKind.DEV):
        return refused(t, NR_SENDFILE, EINVAL)  # (a message queue)
    return _to_stream(k, t, a, fi, fo, ptr, count)


def _to_stream(k: Kernel, t: Thread, a: list[int], fi: OpenFile, fo: OpenFile | None, in_ptr: int,
               count: int) -> object:
    """sendfile to a pipe, a socket, a device or the console: the file's bytes read into the kernel (the
    call made again, as _copy does), then the same write a write(2) of them makes there, its
    bytes taken from the kernel (ubytes): blocking, short counts, EAGAIN, EPIPE and SIGPIPE
    as that write has them. The bytes are kept while that write is made again (a full pipe, a
    socket's next piece); the input offset moves by what it wrote, once it is done."""
    stream = 0
    if fo is None or fo.kind is FileKind.CON:
        stream = console.stream(t.proc, s32(a[0])) or 0
        if not stream:
            return -EBADF  # standard input: not written to here (as write(0, ...))
    pin = _off(t, in_ptr)
    off_in = fi.offset if pin is None else pin
    count = min(count, MAX_IO, OFF_MAX - off_in)
    if count <= 0:
        return 0
    key = (tuple(a), off_in, fi.handle)
    held = _read.get(t)
    if held is None or held[0] != key:
        _read.pop(t, None)

        def got(reply: Packet, when: int) -> int:
            files.rehandle(fi, reply)
            if reply.body.ret < 0:
                return reply.body.ret
            if not reply.data:
                return 0  # at or past the end: nothing to send
            _read[t] = (key, bytes(reply.data))
            t.ctx.reg_write(REG_PC, t.ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
            return a[0]  # made again (a0 as it was), now to write
        return files.ask(k, t, FsRead(**files.about(fi), offset=off_in, size=count), got)
    data = held[1]

    def commit(n: object) -> None:
        """The write is done (not made again): `n` bytes, or an error or a stop."""
        _read.pop(t, None)
        if type(n) is not int or n <= 0 or not t.proc.alive:
            return
        if in_ptr:
            try:
                t.proc.aspace.write(in_ptr, struct.pack("<q", off_in + n))
            except Fault:
                pass  # (read a moment ago: only a concurrent munmap gets here)
        else:
            fi.offset = off_in + n
    pieces = [(0, len(data))]
    try:
        with ubytes.from_kernel(t, data):
            if pipes.is_pipe(fo):
                ret = pipes.write(k, t, fo, pieces)  # type: ignore[arg-type]
            elif fo is not None and fo.kind is FileKind.SOCK:
                ret = sockdata.write(k, t, a[0], fo, pieces)
            elif fo is not None and fo.kind is FileKind.DEV:
                ret = files.write_device(k, t, fo, pieces)
            else:
                ret = console.write(k, t, stream, pieces)
    except Block:
        if t.blocked_on.startswith("rpc:"):  # its answer ends the write, or makes it again
            _on_answer(k, t, commit)
        raise  # (otherwise the call is made again when it may go on: the bytes are kept)
    if ret is not ASLEEP:
        commit(ret)
    return ret


def _on_answer(k: Kernel, t: Thread, commit: Callable[[object], None]) -> None:
    """Wrap the answer handler of `t`'s request just sent: once it gives the call's result
    without making the call again (its pc left as it is), `commit` it."""
    op = max(op for op, (w, _, _) in k.packets.pending.items() if w is t)
    w, then, body = k.packets.pending[op]

    def answered(reply: Packet, at: int) -> object:
        pc = t.ctx.reg_read(REG_PC)  # type: ignore[attr-defined]
        ret = then(reply, at)
        if t.ctx.reg_read(REG_PC) == pc and ret is not ASLEEP:  # type: ignore[attr-defined]
            commit(ret)
        return ret
    k.packets.pending[op] = (w, answered, body)


def sys_copy_file_range(k: Kernel, t: Thread, a: list[int]) -> int:
    """Linux's checks (generic_file_rw_checks, then an overlap in one file) in their order."""
    fd_in, in_ptr, fd_out, out_ptr, count, flags = s32(a[0]), a[1], s32(a[2]), a[3], a[4], a[5]
    fs = t.proc.fs
    if fd_in not in fs.open_fds or fd_out not in fs.open_fds:
        return -EBADF
    if flags:
        return -EINVAL
    fi, fo = fs.files.get(fd_in), fs.files.get(fd_out)
    if any(f is not None and f.kind is FileKind.DIR for f in (fi, fo)):
        return -EISDIR
    if fi is None or fo is None or fi.kind is not FileKind.FILE or fo.kind is not FileKind.FILE:
        return -EINVAL
    if not _readable(fi) or not _writable(fo) or fo.flags & O_APPEND:
        return -EBADF
    pin, pout = _off(t, in_ptr), _off(t, out_ptr)
    if (pin is not None and pin < 0) or (pout is not None and pout < 0):
        return -EINVAL
    if fi.path == fo.path:  # one file: the two ranges may not overlap
        off_in = fi.offset if pin is None else pin
        off_out = fo.offset if pout is None else pout
        if count and off_in < off_out + count and off_out < off_in + count:
            return -EINVAL
    return _copy(k, t, a, fi, fo, in_ptr, out_ptr, count)

"""Named pipes (FIFOs): an open of a FIFO node is a meeting at a pipe (kernel/pipes.py).

The file server (daemons/files.py) keeps the FIFO node and gives each one a pipe handle at its
first open: its home is the first opener's cluster, its number has pipes.FIFO_BIT (the server
numbers them; pipe2's have it clear). The node keeps that handle for its life: a later open,
from any cluster, meets at the same home; once all ends are closed the pipe and its data are
dropped there (as Linux's) and the next open makes it again. The meeting (pipes.meet) is Linux's
fifo_open: O_RDWR at once; O_RDONLY waits for a writer unless O_NONBLOCK; O_WRONLY waits for a
reader, or -ENXIO with O_NONBLOCK. A waiting open sleeps "pipe" and makes its whole call again
when the pipe changes, so a handled signal cuts it short (EINTR or SA_RESTART's redo: the home
forgets the waiting end, pipes.give_up) and a migration backs it out and redoes it on the new
cluster, where the home still knows it by thread id. The opened end is a pipe end (FileKind
PIPE): read, write, poll, dup, fork, EOF, EPIPE/SIGPIPE and migration as pipe2's; like those,
a checkpoint of a process holding one is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EINVAL, O_ACCMODE, O_NONBLOCK
from shoal.kernel import pipes
from shoal.kernel.container import FileKind, OpenFile
from shoal.kernel.files import new_fd
from shoal.kernel.stops import ASLEEP
from shoal.messages import PipeOp

if TYPE_CHECKING:
    from shoal.kernel.container import Thread
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

O_CLOEXEC = 0o2000000
KEPT = O_ACCMODE | O_NONBLOCK | 0o2000 | 0o10000 | 0o4010000  # access, nonblock, append, dsync, sync


def open_fifo(k: Kernel, t: Thread, handle: int, path: str, flags: int, at: int) -> object:
    """openat of a FIFO (the server's answer named its pipe): meet at the pipe's home; the
    descriptor, an error, or ASLEEP (the open waits for a partner)."""
    acc = flags & O_ACCMODE
    if acc == O_ACCMODE:
        return -EINVAL  # (fifo_open's answer to access mode 3)
    nb = bool(flags & O_NONBLOCK)
    home = handle >> pipes.HOME_SHIFT
    if home == k.cluster:
        return _met(k, t, handle, path, flags, pipes.meet(k, handle, acc, nb, t.tid, at), at)
    op = k.new_op()
    body = PipeOp(op=op, pid=t.proc.pid, handle=handle, write=False, size=acc, tid=t.tid,
                  nonblock=nb, opening=True)

    def got(reply: Packet, when: int) -> object:
        return _met(k, t, handle, path, flags, reply.body.ret, when)
    k.packets.pending[op] = (t, got, body)
    k.send(home, body, at=at)
    t.blocked_on = "rpc:pipe_op"  # (answered at once)
    return ASLEEP


def _met(k: Kernel, t: Thread, handle: int, path: str, flags: int, ret: int, at: int) -> object:
    if ret == pipes.WAIT:
        t.call.fifo = handle  # (in its record: a migration carries it, kernel/image.py)
        p = k.pipes.table.get(handle)
        if p is not None and handle >> pipes.HOME_SHIFT == k.cluster:
            if t not in p.waiting:
                p.waiting.append(t)
        else:
            q = k.pipes.waits.setdefault(handle, [])
            if t not in q:
                q.append(t)
        t.blocked_on, t.blocked_at = "pipe", max(t.blocked_at, at)
        return ASLEEP
    t.call.fifo = 0
    if ret < 0:
        return ret
    f = OpenFile(FileKind.PIPE, path, handle, flags & KEPT)
    proc = t.proc
    fd = new_fd(proc) if proc.alive else -EINVAL
    if fd < 0:
        pipes.dropped(k, f, at)  # (counted at the home already)
        return fd
    proc.fs.files[fd] = f
    proc.fs.open_fds.add(fd)
    if flags & O_CLOEXEC:
        proc.fs.cloexec.add(fd)
    return fd

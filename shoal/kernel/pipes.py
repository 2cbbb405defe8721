"""Pipes (pipe2) between the processes of one cluster, as Linux has them.

A pipe is a bounded buffer of this kernel (`Kernel.pipes`, CAPACITY bytes as Linux's default
64 KiB); each end is a descriptor entry `[kind "pipe", "", pipe id, flags, 0]` (kernel/files.py),
shared by dup's copies and by a fork's child as Linux shares the open file description.
Counts of descriptors per end decide EOF (no writer left: a read gives 0 once the buffer is
empty) and EPIPE (no reader left: a write gives -EPIPE and SIGPIPE to the writing thread).
Writes of at most PIPE_BUF bytes are atomic (all or wait); larger ones may be split, and a
blocking one returns once all of it is in. A thread that must wait sleeps ("pipe") and makes
its call again when the other side moves (its pc back onto the ecall, a0 its argument, as
kernel/calls/ipc.py does); a handled signal cuts the wait short (EINTR, or restart with
SA_RESTART: kernel/signals.py). Pipes live on one cluster: a process holding one is not
migrated or checkpointed, and its fork's child is placed on its cluster (kernel/calls/fork.py).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoal.abi import EAGAIN, EBADF, EINVAL, EMFILE, O_WRONLY, SIGPIPE
from shoal.kernel import signals
from shoal.kernel.calls.common import STOPPED
from shoal.kernel.container import FileKind, OpenFile, TState
from shoal.kernel.files import MAX_FILES, new_fd
from shoal.platform.cpu import REG_A, REG_PC

if TYPE_CHECKING:
    from shoal.kernel.container import Container, Thread
    from shoal.kernel.kernel import Kernel

EPIPE = 32
O_NONBLOCK, O_CLOEXEC, O_DIRECT = 0o4000, 0o2000000, 0o40000
PIPE_BUF = PAGE = 4096
SLOTS = 16  # Linux's default pipe: 16 pages (64 KiB)


@dataclass(eq=False)
class Pipe:
    slots: deque = field(default_factory=deque)  # the buffer, as Linux's: up to SLOTS pages
    readers: int = 0  # descriptors open on the read end
    writers: int = 0  # ... on the write end
    waiting: list = field(default_factory=list)  # threads asleep on it (either end)
    written: dict[int, int] = field(default_factory=dict)  # tid -> bytes of a blocking write already in

    def add(self, f: OpenFile) -> None:
        """One more descriptor names end `f` (pipe2, dup, a fork's copy)."""
        if _writes(f):
            self.writers += 1
        else:
            self.readers += 1

    def drop(self, k: Kernel, f: OpenFile, at: int) -> None:
        """A descriptor of end `f` is closed: the other side may see EOF or EPIPE now (the
        calls of kernel/files.py reach it through Kernel.pipes: no import circle)."""
        if _writes(f):
            self.writers -= 1
        else:
            self.readers -= 1
        _wake(k, self, at)
        if self.readers <= 0 and self.writers <= 0:
            del k.pipes[f.handle]


def is_pipe(f: OpenFile | None) -> bool:
    return f is not None and f.kind is FileKind.PIPE


def _writes(f: OpenFile) -> bool:
    return f.flags & 3 == O_WRONLY


def opened(k: Kernel, f: OpenFile) -> None:
    p = k.pipes.get(f.handle)
    if p is not None:
        p.add(f)


def dropped(k: Kernel, f: OpenFile, at: int) -> None:
    p = k.pipes.get(f.handle)
    if p is not None:
        p.drop(k, f, at)


def close_all(k: Kernel, proc: Container, at: int) -> None:
    """A process ends: its pipe descriptors close."""
    for fd in [fd for fd, f in proc.files.items() if is_pipe(f)]:
        dropped(k, proc.files.pop(fd), at)
        proc.open_fds.discard(fd)


def _wake(k: Kernel, p: Pipe, at: int) -> None:
    waiting, p.waiting = p.waiting, []
    for t in waiting:
        if t.state is TState.BLOCKED and t.blocked_on in ("pipe", "poll") and t.proc.alive:
            again(k, t, at)


def again(k: Kernel, t: Thread, at: int) -> None:
    """Wake `t` to make its call again (its pc back onto the ecall, a0 its argument). A poll
    keeps its deadline (Thread.restart_deadline) and gets the caller's mask back meanwhile
    (it sets its own again: kernel/calls/poll.py)."""
    if t.blocked_on == "poll":
        t.restart_deadline = None if t.deadline is None else t.deadline - t.proc.clock_offset
        if t.sig.saved is not None:
            t.sig.mask, t.sig.saved = t.sig.saved, None
    ctx = t.ctx
    ctx.reg_write(REG_PC, ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
    k.wake(t, at, ctx.reg_read(REG_A[0]))  # type: ignore[attr-defined]


def watch(k: Kernel, t: Thread, f: OpenFile) -> None:
    """A poll of `t` waits for end `f` to change (once per thread: the list stays bounded)."""
    p = k.pipes.get(f.handle)
    if p is not None and t not in p.waiting:
        p.waiting.append(t)


POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDNORM, POLLWRNORM = 0x1, 0x4, 0x8, 0x10, 0x40, 0x100


def poll_mask(k: Kernel, f: OpenFile) -> int:
    """Linux's pipe_poll for end `f`: data to read, no writer left (POLLHUP), room for a page
    (POLLOUT), no reader left (POLLERR)."""
    p = k.pipes.get(f.handle)
    if p is None:
        return POLLHUP if not _writes(f) else POLLERR | POLLOUT | POLLWRNORM
    if _writes(f):
        return (POLLOUT | POLLWRNORM if len(p.slots) < SLOTS else 0) | (POLLERR if p.readers <= 0 else 0)
    return (POLLIN | POLLRDNORM if p.slots else 0) | (POLLHUP if p.writers <= 0 else 0)


def _sleep(k: Kernel, t: Thread, p: Pipe) -> int:
    p.waiting.append(t)
    k.block(t, None, None, why="pipe")
    return 0  # not reached


def sys_pipe2(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, flags = a[0], a[1]
    if flags & O_DIRECT:
        t.proc.unknown_syscalls[59] += 1  # packet mode is not offered: refused, counted (--stats)
        return -EINVAL
    if flags & ~(O_NONBLOCK | O_CLOEXEC):
        return -EINVAL
    proc = t.proc
    proc.aspace.translate(addr, "store")
    proc.aspace.translate(addr + 4, "store")
    if len(proc.files) + 2 > MAX_FILES:
        return -EMFILE
    rfd = new_fd(proc)
    if rfd < 0:
        return rfd
    proc.open_fds.add(rfd)
    wfd = new_fd(proc)
    if wfd < 0:
        proc.open_fds.discard(rfd)
        return wfd
    k.pipe_ids += 1
    pid = k.pipe_ids
    k.pipes[pid] = Pipe()
    nb = flags & O_NONBLOCK
    for fd, mode in ((rfd, 0), (wfd, O_WRONLY)):
        f = OpenFile(FileKind.PIPE, "", pid, mode | nb)
        proc.files[fd] = f
        proc.open_fds.add(fd)
        opened(k, f)
        if flags & O_CLOEXEC:
            proc.cloexec.add(fd)
    proc.aspace.write(addr, rfd.to_bytes(4, "little") + wfd.to_bytes(4, "little"))
    return 0


def read(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]]) -> int:
    if _writes(f):
        return -EBADF  # the write end
    p = k.pipes.get(f.handle)
    want = sum(n for _, n in pieces)
    if p is None or want == 0:
        return 0
    for addr, n in pieces:  # EFAULT now rather than after a wait
        if n:
            t.proc.aspace.translate(addr, "store")
    if not p.slots:
        if p.writers <= 0:
            return 0  # end of file
        if f.flags & O_NONBLOCK:
            return -EAGAIN
        return _sleep(k, t, p)
    data = bytearray()
    while p.slots and len(data) < want:  # page by page; an emptied page is freed
        s = p.slots[0]
        n = min(want - len(data), len(s))
        data += s[:n]
        del s[:n]
        if not s:
            p.slots.popleft()
    done = 0
    for addr, size in pieces:
        part = data[done:done + size]
        if not part:
            break
        t.proc.aspace.write(addr, part)
        done += len(part)
    _wake(k, p, k.now())
    return done


def write(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]]) -> object:
    """Linux's pipe_write: the part of the write past whole pages is merged into the last page
    if it fits (so small writes share pages), then whole pages go into free slots. A write of
    at most PIPE_BUF bytes thus goes in whole or not at all."""
    if not _writes(f):
        return -EBADF  # the read end
    p = k.pipes.get(f.handle)
    done = p.written.pop(t.tid, 0) if p is not None else 0
    if p is None or p.readers <= 0:
        if done:
            return done
        signals.post(k, t.proc, t, signals.info(SIGPIPE, signals.SI_USER, t.proc.pid, 0), k.now())
        return STOPPED if not t.proc.alive else -EPIPE
    total = sum(n for _, n in pieces)
    if total == 0:
        return 0
    data = b"".join(t.proc.aspace.read(addr, size) for addr, size in pieces)
    pos = done
    chars = total % PAGE
    if pos == 0 and chars and p.slots and len(p.slots[-1]) + chars <= PAGE:
        p.slots[-1] += data[:chars]
        pos = chars
    while pos < total and len(p.slots) < SLOTS:
        p.slots.append(bytearray(data[pos:pos + PAGE]))
        pos += PAGE
    pos = min(pos, total)
    if pos > done:
        _wake(k, p, k.now())
    if pos < total and not f.flags & O_NONBLOCK:
        p.written[t.tid] = pos  # the rest when readers make room
        return _sleep(k, t, p)
    return pos if pos else -EAGAIN

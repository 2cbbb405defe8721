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
SA_RESTART: kernel/signals.py). A pipe lives at its home cluster; ends elsewhere reach it over
the NoC (below), so a holder forks anywhere and migrates (a checkpoint of one is refused). A
FIFO's opens meet at a pipe too (`meet`; kernel/fifos.py), whose end may read and write both
(O_RDWR: `ends`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import field
from typing import TYPE_CHECKING

from shoal.abi import EAGAIN, EBADF, EINVAL, EMFILE, ENFILE, ENXIO, EPIPE, O_RDONLY, O_WRONLY, SIGPIPE
from shoal.kernel import signals, ubytes
from shoal.kernel.calls.common import STOPPED
from shoal.kernel.container import FileKind, OpenFile, TState
from shoal.kernel.files import MAX_FILES, new_fd
from shoal.kernel.stops import ASLEEP
from shoal.messages import Kind, PipeOp, PipeReady, PipeRef, Reply, answer_to
from shoal.platform.cpu import REG_A, REG_PC
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.container import Container, Thread
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

O_NONBLOCK, O_CLOEXEC, O_DIRECT = 0o4000, 0o2000000, 0o40000
PIPE_BUF = PAGE = 4096
SLOTS = 16  # Linux's default pipe: 16 pages (64 KiB)
HOME_SHIFT = 24  # a pipe's handle: its home cluster above this bit, its number there below
FIFO_BIT = 1 << 23  # ... and a FIFO's pipe (numbered by the file server) has this bit: kernel/fifos.py
RESEND, WAIT = 1 << 40, 1 << 41  # a home's answers that are no count: send from `offset`; wait


@dataclass(eq=False)
class Pipe:
    """A pipe at its home cluster: its buffer, its ends' descriptors and the waits on it."""

    slots: deque = field(default_factory=deque)  # the buffer, as Linux's: up to SLOTS pages
    readers: int = 0  # descriptors open on the read end
    writers: int = 0  # ... on the write end
    waiting: list = field(default_factory=list)  # threads asleep on it (either end)
    written: dict[int, int] = field(default_factory=dict)  # tid -> bytes of a blocking write already in
    handle: int = 0
    remote: set[int] = field(default_factory=set)  # clusters with threads waiting for a change
    # A FIFO's opens (kernel/fifos.py): ends opened so far, as Linux's r_counter and w_counter,
    # and the opens that wait for a partner: tid -> (reader?, writer?, the partner's counter then).
    ropens: int = 0
    wopens: int = 0
    opens: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    def add(self, f: OpenFile) -> None:
        """One more descriptor names end `f` (pipe2, dup, a fork's copy)."""
        r, w = ends(f)
        self.readers += r
        self.writers += w

    def drop(self, k: Kernel, f: OpenFile, at: int) -> None:
        """A descriptor of end `f` is closed: the other side may see EOF or EPIPE now."""
        r, w = ends(f)
        self.count(k, -r, -w, at)

    def count(self, k: Kernel, readers: int, writers: int, at: int) -> None:
        self.readers += readers
        self.writers += writers
        _wake(k, self, at)
        if self.readers <= 0 and self.writers <= 0:
            k.pipes.table.pop(self.handle, None)


@dataclass(eq=False, slots=True)
class PipeTable:
    """This cluster's pipes (`Kernel.pipes`) and the waits on pipes elsewhere."""

    table: dict[int, Pipe] = field(default_factory=dict)  # handle -> the pipe whose home is here
    ids: int = 0  # pipes made here so far (a handle's low bits)
    waits: dict[int, list[Thread]] = field(default_factory=dict)  # handle -> threads here awaiting its home
    starts: dict[int, int] = field(default_factory=dict)  # tid -> where its write to a pipe elsewhere goes on
    orphans: dict[int, PipeOp] = field(default_factory=dict)  # op -> a FIFO's meeting asked by one now ended


def is_pipe(f: OpenFile | None) -> bool:
    return f is not None and f.kind is FileKind.PIPE


def _writes(f: OpenFile) -> bool:
    return f.flags & 3 == O_WRONLY


def ends(f: OpenFile) -> tuple[int, int]:
    """Whether `f` reads, writes (a FIFO opened O_RDWR does both, as Linux's)."""
    acc = f.flags & 3
    return int(acc != O_WRONLY), int(acc != O_RDONLY)


def home(f: OpenFile) -> int:
    """The cluster that keeps the pipe of end `f` (where pipe2 made it)."""
    return f.handle >> HOME_SHIFT


def opened(k: Kernel, f: OpenFile) -> None:
    """One more descriptor of end `f` (dup, fork, a moved child's copy): counted at its home."""
    if home(f) != k.cluster:
        r, w = ends(f)
        at = k.now() if k.sched.current is not None else k.sched.item_time
        k.send(home(f), PipeRef(handle=f.handle, readers=r, writers=w), at=at)
        return
    p = k.pipes.table.get(f.handle)
    if p is not None:
        p.add(f)


def dropped(k: Kernel, f: OpenFile, at: int) -> None:
    if home(f) != k.cluster:
        r, w = ends(f)
        k.send(home(f), PipeRef(handle=f.handle, readers=-r, writers=-w), at=at)
        return
    p = k.pipes.table.get(f.handle)
    if p is not None:
        p.drop(k, f, at)


def close_all(k: Kernel, proc: Container, at: int) -> None:
    """A process ends: its pipe descriptors close."""
    for fd in [fd for fd, f in proc.fs.files.items() if is_pipe(f)]:
        dropped(k, proc.fs.files.pop(fd), at)
        proc.fs.open_fds.discard(fd)
    for t in proc.threads:  # (an open of a FIFO that waited: its end is counted no more)
        give_up(k, t, at)
    for op, (t, _, body) in k.packets.pending.items():  # (one asked at its home: see `orphan`)
        if t.proc is proc and isinstance(body, PipeOp) and body.opening:
            k.pipes.orphans[op] = body


def orphan(k: Kernel, pkt: Packet, at: int) -> None:
    """The answer to a FIFO's meeting whose process ended meanwhile: the end the home counted
    (opened, or waiting) goes again."""
    b = k.pipes.orphans.pop(pkt.body.op, None)
    if b is None:
        return
    ret = pkt.body.ret
    if ret == WAIT:
        k.send(b.handle >> HOME_SHIFT, PipeRef(handle=b.handle, readers=0, writers=0, given_up=b.tid), at=at)
    elif ret == 0:
        r, w = int(b.size != O_WRONLY), int(b.size != O_RDONLY)
        k.send(b.handle >> HOME_SHIFT, PipeRef(handle=b.handle, readers=-r, writers=-w), at=at)


def give_up(k: Kernel, t: Thread, at: int) -> None:
    """Thread `t`'s open of a FIFO waits no more (a signal, its end): the home forgets it."""
    handle, t.call.fifo = t.call.fifo, 0
    if handle:
        k.send(handle >> HOME_SHIFT, PipeRef(handle=handle, readers=0, writers=0, given_up=t.tid), at=at)


def _wake(k: Kernel, p: Pipe, at: int) -> None:
    waiting, p.waiting = p.waiting, []
    for t in waiting:
        if t.state is TState.BLOCKED and t.blocked_on in ("pipe", "poll") and t.proc.alive:
            again(k, t, at)
    for c in sorted(p.remote):
        k.send(c, PipeReady(handle=p.handle), at=at)
    p.remote.clear()


def again(k: Kernel, t: Thread, at: int) -> None:
    """Wake `t` to make its call again (its pc back onto the ecall, a0 its argument). A poll
    keeps its deadline (Thread.restart_deadline) and gets the caller's mask back meanwhile
    (it sets its own again: kernel/calls/poll.py)."""
    if t.blocked_on == "poll":
        t.restart_deadline = None if t.deadline is None else t.deadline - t.proc.move.clock_offset
        if t.sig.saved is not None:
            t.sig.mask, t.sig.saved = t.sig.saved, None
    ctx = t.ctx
    ctx.reg_write(REG_PC, ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
    k.wake(t, at, ctx.reg_read(REG_A[0]))  # type: ignore[attr-defined]


def watch(k: Kernel, t: Thread, f: OpenFile) -> None:
    """A poll of `t` waits for end `f` to change (once per thread: the list stays bounded)."""
    p = k.pipes.table.get(f.handle)
    if p is not None and t not in p.waiting:
        p.waiting.append(t)


POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDNORM, POLLWRNORM = 0x1, 0x4, 0x8, 0x10, 0x40, 0x100


def poll_mask(k: Kernel, f: OpenFile) -> int:
    """Linux's pipe_poll for end `f`: data to read, no writer left (POLLHUP), room for a page
    (POLLOUT), no reader left (POLLERR)."""
    p = k.pipes.table.get(f.handle)
    if p is None:
        return POLLHUP if not _writes(f) else POLLERR | POLLOUT | POLLWRNORM
    r, w = ends(f)
    mask = 0
    if w:
        mask |= (POLLOUT | POLLWRNORM if len(p.slots) < SLOTS else 0) | (POLLERR if p.readers <= 0 else 0)
    if r:
        mask |= (POLLIN | POLLRDNORM if p.slots else 0) | (POLLHUP if p.writers <= 0 else 0)
    return mask


def _sleep(k: Kernel, t: Thread, p: Pipe) -> int:
    p.waiting.append(t)
    k.block(t, None, None, why="pipe")
    return 0  # not reached


def sys_pipe2(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, flags = a[0], a[1]
    if flags & O_DIRECT:
        t.proc.stats.unknown_syscalls[59] += 1  # packet mode is not offered: refused, counted (--stats)
        return -EINVAL
    if flags & ~(O_NONBLOCK | O_CLOEXEC):
        return -EINVAL
    if k.pipes.ids + 1 >= FIFO_BIT:
        return -ENFILE  # (the numbers a cluster gives its pipes are used up)
    proc = t.proc
    proc.aspace.translate(addr, "store")
    proc.aspace.translate(addr + 4, "store")
    if len(proc.fs.files) + 2 > MAX_FILES:
        return -EMFILE
    rfd = new_fd(proc)
    if rfd < 0:
        return rfd
    proc.fs.open_fds.add(rfd)
    wfd = new_fd(proc)
    if wfd < 0:
        proc.fs.open_fds.discard(rfd)
        return wfd
    k.pipes.ids += 1
    pid = (k.cluster << HOME_SHIFT) | k.pipes.ids
    k.pipes.table[pid] = Pipe(handle=pid)
    nb = flags & O_NONBLOCK
    for fd, mode in ((rfd, 0), (wfd, O_WRONLY)):
        f = OpenFile(FileKind.PIPE, "", pid, mode | nb)
        proc.fs.files[fd] = f
        proc.fs.open_fds.add(fd)
        opened(k, f)
        if flags & O_CLOEXEC:
            proc.fs.cloexec.add(fd)
    proc.aspace.write(addr, rfd.to_bytes(4, "little") + wfd.to_bytes(4, "little"))
    return 0


def read(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]]) -> int:
    if not ends(f)[0]:
        return -EBADF  # the write end
    if home(f) != k.cluster:
        return _remote_read(k, t, f, pieces)
    p = k.pipes.table.get(f.handle)
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
    if not ends(f)[1]:
        return -EBADF  # the read end
    if home(f) != k.cluster:
        return _remote_write(k, t, f, pieces)
    p = k.pipes.table.get(f.handle)
    done = p.written.pop(t.tid, 0) if p is not None else 0
    if p is None or p.readers <= 0:
        if done:
            return done
        signals.post(k, t.proc, t, signals.info(SIGPIPE, signals.SI_USER, t.proc.pid, 0), k.now())
        return STOPPED if not t.proc.alive else -EPIPE
    total = sum(n for _, n in pieces)
    if total == 0:
        return 0
    # Only the bytes that fit now are read (a page held elsewhere makes the call again, from
    # `done`): the first try may merge the write's tail part into the last page (_put).
    merge = total % PAGE if not done else 0
    room = (SLOTS - len(p.slots)) * PAGE + merge
    if done:
        p.written[t.tid] = done  # (kept while a page is fetched)
    data = ubytes.gather(t, pieces, done, room)
    p.written.pop(t.tid, None)
    pos = _put(p, data, done, done, total)
    if pos > done:
        _wake(k, p, k.now())
    if pos < total and not f.flags & O_NONBLOCK:
        p.written[t.tid] = pos  # the rest when readers make room
        return _sleep(k, t, p)
    return pos if pos else -EAGAIN


def _put(p: Pipe, data: bytes, base: int, done: int, total: int) -> int:
    """Put what fits of a write of `total` bytes, `done` of them already in, into `p`'s pages;
    `data` holds the write's bytes from `base` on. Returns how far the write is now in."""
    end = base + len(data)
    pos = done
    chars = total % PAGE
    if pos == 0 == base and chars and len(data) >= chars and p.slots and len(p.slots[-1]) + chars <= PAGE:
        p.slots[-1] += data[:chars]
        pos = chars
    while pos < end and len(p.slots) < SLOTS:
        p.slots.append(bytearray(data[pos - base:pos - base + PAGE]))
        pos += PAGE
    return min(pos, end)


# --- ends away from their pipe's home: requests to it over the NoC -----------------------------
# The pipe stays where pipe2 made it (its 64 KiB are the flow control); an end on another
# cluster (a fork placed there, or a process that moved) reads and writes by `pipe_op`
# requests, answered at once: bytes, a count, end of file, -EPIPE, RESEND (send the write
# from `offset`: the home keeps how far each thread's blocking write is, Pipe.written, so a
# write survives a move) or WAIT (the home tells this cluster with `pipe_ready` when the pipe
# changes; the thread sleeps "pipe" and makes its call again then, as a local waiter does).
# Descriptors opened and closed are counted at the home (`pipe_ref`).
def _local_wait(k: Kernel, t: Thread, handle: int, at: int) -> object:
    q = k.pipes.waits.setdefault(handle, [])
    if t not in q:
        q.append(t)
    t.blocked_on, t.blocked_at = "pipe", max(t.blocked_at, at)
    return ASLEEP


def _redo(t: Thread) -> int:
    ctx = t.ctx
    ctx.reg_write(REG_PC, ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
    return ctx.reg_read(REG_A[0])  # type: ignore[attr-defined]


def _remote_read(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]]) -> int:
    want = min(sum(n for _, n in pieces), SLOTS * PAGE)
    if want == 0:
        return 0
    for addr, n in pieces:
        if n:
            t.proc.aspace.translate(addr, "store")

    def got(reply: Packet, at: int) -> object:
        ret = reply.body.ret
        if ret == WAIT:
            return _local_wait(k, t, f.handle, at)
        data = memoryview(reply.data)
        for addr, n in pieces:
            if not data:
                break
            t.proc.aspace.write(addr, data[:n])
            data = data[n:]
        return ret
    k.rpc_to(t, home(f), PipeOp(handle=f.handle, write=False, size=want, tid=t.tid,
                                nonblock=bool(f.flags & O_NONBLOCK)), got)
    return 0


def _remote_write(k: Kernel, t: Thread, f: OpenFile, pieces: list[tuple[int, int]]) -> object:
    total = sum(n for _, n in pieces)
    if total == 0:
        return 0
    start = k.pipes.starts.pop(t.tid, 0)
    data = bytearray()
    skip = start
    for addr, n in pieces:  # the write's bytes from `start`, a pipe's worth
        if skip >= n:
            skip -= n
            continue
        take = min(n - skip, SLOTS * PAGE + PAGE - len(data))
        data += ubytes.read(t, addr + skip, take)
        skip = 0
        if len(data) >= SLOTS * PAGE + PAGE:
            break

    def sent(reply: Packet, at: int) -> object:
        ret = reply.body.ret
        if ret == WAIT:
            return _local_wait(k, t, f.handle, at)
        if ret == RESEND:
            k.pipes.starts[t.tid] = reply.body.offset
            return _redo(t)
        if ret == -EPIPE:
            signals.post(k, t.proc, t, signals.info(SIGPIPE, signals.SI_USER, t.proc.pid, 0), at)
        return ret
    k.rpc_to(t, home(f), PipeOp(handle=f.handle, write=True, size=total, tid=t.tid, start=start,
                                nonblock=bool(f.flags & O_NONBLOCK)), sent, bytes(data), bulk=True)
    return 0


def on_pipe_op(k: Kernel, pkt: Packet, at: int) -> None:
    """At the pipe's home: a read or write from an end on another cluster."""
    b = pkt.body
    if b.opening:
        ret = meet(k, b.handle, b.size, b.nonblock, b.tid, at)
        if ret == WAIT:
            k.pipes.table[b.handle].remote.add(answer_to(b, pkt.src))
        k.reply(pkt, at, ret=ret)
        return
    p = k.pipes.table.get(b.handle)
    if not b.write:
        if p is None or not p.slots:
            ret = 0 if p is None or p.writers <= 0 else -EAGAIN if b.nonblock else WAIT
            if ret == WAIT:
                p.remote.add(answer_to(b, pkt.src))  # type: ignore[union-attr]
            k.reply(pkt, at, ret=ret)
            return
        data = bytearray()
        while p.slots and len(data) < b.size:
            s = p.slots[0]
            n = min(b.size - len(data), len(s))
            data += s[:n]
            del s[:n]
            if not s:
                p.slots.popleft()
        _wake(k, p, at)
        k.send(answer_to(b, pkt.src), Reply(op=b.op, ret=len(data)), bytes(data), at, bulk=True)
        return
    done = p.written.pop(b.tid, 0) if p is not None else 0
    if p is None or p.readers <= 0:
        k.reply(pkt, at, ret=done if done else -EPIPE)
        return
    if b.start != done:  # (a write made again after a move: it starts where it got to)
        p.written[b.tid] = done
        k.reply(pkt, at, ret=RESEND, offset=done)
        return
    pos = _put(p, pkt.data, b.start, done, b.size)
    if pos > done:
        _wake(k, p, at)
    end = b.start + len(pkt.data)
    if pos < b.size and (pos == end or not b.nonblock):
        p.written[b.tid] = pos
        if pos == end:
            ret = RESEND  # room for more than was sent
        else:
            ret = WAIT
            p.remote.add(answer_to(b, pkt.src))
        k.reply(pkt, at, ret=ret, offset=pos)
        return
    k.reply(pkt, at, ret=pos if pos else -EAGAIN)


def on_pipe_ref(k: Kernel, pkt: Packet, at: int) -> None:
    p = k.pipes.table.get(pkt.body.handle)
    if p is not None and pkt.body.given_up:
        r, w, _ = p.opens.pop(pkt.body.given_up, (0, 0, 0))
        p.count(k, -r, -w, at)
    elif p is not None:
        p.count(k, pkt.body.readers, pkt.body.writers, at)


def meet(k: Kernel, handle: int, acc: int, nonblock: bool, tid: int, at: int) -> int:
    """Linux's fifo_open at the home of a FIFO's pipe: 0 (the new end is counted), -ENXIO
    (O_WRONLY|O_NONBLOCK, no reader) or WAIT (a blocking O_RDONLY with no writer, O_WRONLY
    with no reader: counted already, as Linux's, it goes on once the partner's counter moves;
    the thread makes its open again then, its entry in Pipe.opens kept across a migration).
    A pipe left by all its ends was dropped with its data: a new one is made."""
    p = k.pipes.table.get(handle)
    if p is None:
        p = k.pipes.table[handle] = Pipe(handle=handle)
    r, w = int(acc != O_WRONLY), int(acc != O_RDONLY)
    was = p.opens.pop(tid, None)
    if was is None:
        if acc == O_WRONLY and nonblock and p.readers <= 0:
            p.count(k, 0, 0, at)  # (a pipe made for this open only goes again)
            return -ENXIO
        p.ropens += r
        p.wopens += w
        p.count(k, r, w, at)  # (a partner that waits goes on)
    if acc == O_RDONLY and not nonblock and p.writers <= 0 and (was is None or was[2] == p.wopens):
        p.opens[tid] = (r, w, p.wopens)
        return WAIT
    if acc == O_WRONLY and p.readers <= 0 and (was is None or was[2] == p.ropens):
        p.opens[tid] = (r, w, p.ropens)
        return WAIT
    return 0


def on_pipe_ready(k: Kernel, pkt: Packet, at: int) -> None:
    for t in k.pipes.waits.pop(pkt.body.handle, []):
        if t.state is TState.BLOCKED and t.blocked_on in ("pipe", "poll") and t.proc.alive:
            again(k, t, at)


HANDLERS = {Kind.PIPE_OP: on_pipe_op, Kind.PIPE_REF: on_pipe_ref, Kind.PIPE_READY: on_pipe_ready}

"""poll and select as musl makes them on riscv32: ppoll_time64 (414) and pselect6_time64 (413).

Readiness is Linux's for each kind of descriptor: a pipe's ends as pipe_poll says (data:
POLLIN; no writer left: POLLHUP; room for a page: POLLOUT; no reader left: POLLERR, see
kernel/pipes.py: poll_mask); regular files, directories, devices and shared memory objects
have no poll method on Linux, so they are always ready (DEFAULT_POLLMASK); the console's
output streams are always writable, and its input is always readable: the console daemon
holds what the host gave the process, so a read of it is answered at once, with data or
end of file (kernel/calls/io.py: read_stdin). Sockets and message queue descriptors are
held on I/O cluster 0: one `poll_query` asks for all of a call's (daemons/polls.py), the
thread waits for the answer and makes the call again, which then scans with those masks and
the local ones (Thread.polled: not carried by a migration, whose call made again asks again:
readiness is asked, nothing is taken). A pipe's end away from its pipe's home cluster (a forked child
placed elsewhere, a process that moved) is asked of that home the same way (`pipe_poll`, one
per home cluster: the state is there), so its mask is Linux's pipe_poll wherever it runs.
A descriptor that is not open is POLLNVAL (poll) or EBADF (select).

Waiting: a thread none of whose descriptors is ready sleeps ("poll") on the pipes it names
(Pipe.waiting), on its pipes kept elsewhere by a `pipe_poll` with `wait` (the home sends
`pipe_ready` at once if one is ready by then, else at the pipe's next change, as it does for a
waiting read), and on its sockets and queues by a `poll_query` with `wait` (parked at the
server until one of them may have changed), until one of them changes, a caught signal comes
(EINTR; never restarted, as Linux's -ERESTARTNOHAND with a handler; the server is told to
forget the query) or the timeout passes (simulated time). Woken, it makes its call again
with the same deadline (Thread.restart_deadline, as a freeze keeps one), which scans once
more as Linux's do_poll does after its sleep (and its new query replaces the parked one).
ppoll's and pselect6's sigmask replaces the thread's mask for the call (Thread.sig.saved, as
rt_sigsuspend does): put back on return, or by the signal frame when a handler interrupts the
wait. The time left is written back to the timeout, as Linux does (a write that faults is ignored, as there).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EBADF, EINTR, EINVAL, O_WRONLY
from shoal.kernel import console, pipes, signals
from shoal.kernel.calls.common import cycles_to_ns, ns_to_cycles, read_timespec, s32
from shoal.kernel.container import FileKind, OpenFile, Thread, TState
from shoal.kernel.files import fd_cap
from shoal.kernel.memory import Fault, OutOfFrames
from shoal.kernel.stops import ASLEEP
from shoal.messages import Kind, PipePoll, PipeReady, PollCancel, PollQuery, answer_to
from shoal.platform.cpu import REG_PC

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND = 0x40, 0x80, 0x100, 0x200
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
IN_SET = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR  # what select's sets test
OUT_SET = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR
EX_SET = POLLPRI
RLIMIT_NOFILE_DEFAULT = 1024  # as kernel/calls/proc.py reports it
REMOTE = -2  # mask_of: a socket or a queue, asked of I/O cluster 0
AWAY = -3  # mask_of: a pipe's end away from its pipe's home, asked of that home


def _polled(t: Thread) -> dict[int, int]:
    """The masks the servers gave for the call made again (fd -> mask), taken."""
    got, t.call.polled = t.call.polled, None
    return got or {}


def mask_of(k: Kernel, t: Thread, fd: int) -> int | None:
    """What descriptor `fd` is ready for now (Linux's f_op->poll); None if it is not open;
    REMOTE for a socket or a queue (the server's answer says); AWAY for a pipe's end whose
    pipe is kept on another cluster (its home's answer says)."""
    p = t.proc
    if fd not in p.fs.open_fds:
        return None
    f = p.fs.files.get(fd)
    if f is None or f.kind is FileKind.CON:
        stream = console.stream(p, fd)
        return POLLIN | POLLRDNORM if stream == 0 else POLLOUT | POLLWRNORM
    if f.kind is FileKind.PIPE:
        return pipes.poll_mask(k, f) if pipes.home(f) == k.cluster else AWAY
    if f.kind in (FileKind.MQ, FileKind.SOCK):
        return REMOTE
    return DEFAULT_POLLMASK


def _items(t: Thread, fds: list[int]) -> list[list]:
    files = t.proc.fs.files
    return [["sock", files[fd].handle, ""] if files[fd].kind is FileKind.SOCK
            else ["mq", files[fd].handle, files[fd].path] for fd in fds]


def unpark(k: Kernel, t: Thread, at: int) -> None:
    """The thread's wait is over (a timeout, a signal, a pipe woke it): its parked query, if not
    answered yet, is of no use now; the server forgets it, a late answer is dropped."""
    op, t.call.parked = t.call.parked, 0
    if op and k.packets.pending.pop(op, None) is not None:
        k.send(k.services_node, PollCancel(pid=t.proc.pid, tid=t.tid, op=op), at=at)


def _again_with(t: Thread, a0: int, deadline: int | None, fds: list[int], got: dict[int, int],
                reply: Packet) -> int:
    """An answer with a mask for each of `fds`: kept with those got before (`got`), and the
    call made again (`a0` its first argument; with its deadline) to scan with them."""
    if reply.body.ret < 0:
        return reply.body.ret
    t.call.polled = got | dict(zip(fds, reply.body.attr, strict=True))
    t.restart_deadline = None if deadline is None else deadline - t.proc.move.clock_offset
    t.ctx.reg_write(REG_PC, t.ctx.reg_read(REG_PC) - 4)  # type: ignore[attr-defined]
    return a0


def _ask(k: Kernel, t: Thread, a0: int, fds: list[int], want: list[int], deadline: int | None,
         got: dict[int, int]) -> int:
    """Ask I/O cluster 0 for the masks of sockets and queues `fds`, then make the call again."""
    k.rpc(t, PollQuery(items=_items(t, fds), want=want, tid=t.tid),
          lambda reply, at: _again_with(t, a0, deadline, fds, got, reply))
    return 0  # not reached


def _pipe_items(t: Thread, fds: list[int], want: dict[int, int]) -> list[list]:
    files = t.proc.fs.files
    return [[files[fd].handle, files[fd].flags & 3 == O_WRONLY, want.get(fd, 0)] for fd in fds]


def _ask_away(k: Kernel, t: Thread, a0: int, fds: list[int], deadline: int | None,
              got: dict[int, int]) -> int:
    """Ask the home of the first of pipe ends `fds` for the masks of those it keeps (one home
    per round: the call made again asks the next)."""
    home = pipes.home(t.proc.fs.files[fds[0]])
    mine = [fd for fd in fds if pipes.home(t.proc.fs.files[fd]) == home]
    k.rpc_to(t, home, PipePoll(items=_pipe_items(t, mine, {})),
             lambda reply, at: _again_with(t, a0, deadline, mine, got, reply))
    return 0  # not reached


def _end(handle: int, writes: bool) -> OpenFile:
    return OpenFile(FileKind.PIPE, "", handle, O_WRONLY if writes else 0)


def on_pipe_poll(k: Kernel, pkt: Packet, at: int) -> None:
    """At a pipe's home: the masks of ends on another cluster, or (`wait`) a `pipe_ready` to
    it when one of them is ready for what is wanted: now, or at the pipe's next change."""
    b = pkt.body
    to = answer_to(b, pkt.src)
    if not b.wait:
        k.reply(pkt, at, ret=0, attr=[pipes.poll_mask(k, _end(h, w)) for h, w, _ in b.items])
        return
    for h, w, want in b.items:
        p = k.pipes.table.get(h)
        if p is None or pipes.poll_mask(k, _end(h, w)) & want:
            k.send(to, PipeReady(handle=h), at=at)
        else:
            p.remote.add(to)


HANDLERS = {Kind.PIPE_POLL: on_pipe_poll}


def _park(k: Kernel, t: Thread, fds: list[int], want: list[int]) -> None:
    """Have the server answer when one of `fds` may have changed: the call is made again."""
    op = k.new_op()
    body = PollQuery(op=op, pid=t.proc.pid, items=_items(t, fds), want=want, tid=t.tid, wait=True)

    def woke(reply: Packet, at: int) -> object:
        if t.call.parked == op and t.state is TState.BLOCKED and t.blocked_on == "poll":
            t.call.parked = 0
            pipes.again(k, t, at)
        return ASLEEP
    k.packets.pending[op] = (t, woke, body)
    t.call.parked = op
    k.send(k.services_node, body, at=k.now())


def _watch(k: Kernel, t: Thread, fds: list[int], want: dict[int, int]) -> None:
    """Sleep on the pipes of `fds`: those kept here, and those kept elsewhere (their homes
    tell this cluster when one is ready for what `want` says, kernel/pipes.py: on_pipe_ready)."""
    away: dict[int, list[int]] = {}
    for fd in fds:
        f = t.proc.fs.files.get(fd)
        if not pipes.is_pipe(f):
            continue
        if pipes.home(f) == k.cluster:  # type: ignore[arg-type]
            pipes.watch(k, t, f)  # type: ignore[arg-type]
            continue
        q = k.pipes.waits.setdefault(f.handle, [])  # type: ignore[union-attr]
        if t not in q:
            q.append(t)
        away.setdefault(pipes.home(f), []).append(fd)  # type: ignore[arg-type]
    for home, mine in sorted(away.items()):
        k.send(home, PipePoll(pid=t.proc.pid, items=_pipe_items(t, mine, want), wait=True), at=k.now())


def _deadline(k: Kernel, t: Thread, tsp: int) -> int | None:
    """The absolute deadline (cycles) of a timeout at `tsp` (0: none); -1 if invalid. A call
    made again after a wake or a freeze keeps the one it had."""
    if t.restart_deadline is not None:
        return t.restart_deadline + t.proc.move.clock_offset
    if not tsp:
        return None
    ns = read_timespec(t, tsp)
    if ns is None:
        return -1
    return k.now() + ns_to_cycles(k, ns)


def _set_mask(t: Thread, addr: int) -> None:
    m = struct.unpack("<Q", t.proc.aspace.read(addr, 8))[0] & ~signals.UNBLOCKABLE
    if t.sig.saved is None:
        t.sig.saved = t.sig.mask
    t.sig.mask = m


def _finish(k: Kernel, t: Thread, tsp: int, deadline: int | None, ret: int) -> int:
    """Return `ret`: the caller's mask back unless a handler is to run (EINTR), the time
    left written back."""
    if ret != -EINTR and t.sig.saved is not None:
        t.sig.mask, t.sig.saved = t.sig.saved, None
        if signals.deliverable(t):  # one the call's mask held back: taken on the way out
            signals.wake(k, t, k.now())
    if tsp and deadline is not None:
        left = cycles_to_ns(k, max(0, deadline - k.now()))
        try:
            t.proc.aspace.write(tsp, struct.pack("<qii", left // 1_000_000_000, left % 1_000_000_000, 0))
        except (Fault, OutOfFrames):
            pass
    return ret


def _wait(k: Kernel, t: Thread, tsp: int, deadline: int | None, watched: list[int],
          remote: tuple[list[int], list[int]], want: dict[int, int]) -> int:
    """Nothing ready: give up now (timeout 0 or passed), be interrupted, or sleep."""
    if deadline is not None and k.now() >= deadline:
        return _finish(k, t, tsp, deadline, 0)
    if signals.deliverable(t):
        signals.wake(k, t, k.now())  # delivered once the call returns
        return _finish(k, t, tsp, deadline, -EINTR)
    _watch(k, t, watched, want)
    if remote[0]:
        _park(k, t, *remote)
    k.block(t, None, deadline, why="poll")
    return 0  # not reached


def sys_ppoll(k: Kernel, t: Thread, a: list[int]) -> int:
    ufds, nfds, tsp, sigmask, sigsetsize = a[0], a[1], a[2], a[3], a[4]
    unpark(k, t, k.now())
    deadline = _deadline(k, t, tsp)
    if deadline == -1:
        return -EINVAL
    if sigmask and sigsetsize != 8:
        return -EINVAL
    lim = t.proc.rlimits.get(7)
    if nfds > (RLIMIT_NOFILE_DEFAULT if lim is None else lim[0]):
        return -EINVAL
    raw = t.proc.aspace.read(ufds, 8 * nfds) if nfds else b""  # a Fault: EFAULT
    entries = [struct.unpack_from("<ihh", raw, 8 * i) for i in range(nfds)]
    answers = _polled(t)
    masks = {fd: mask_of(k, t, fd) for fd, _, _ in entries if fd >= 0}
    want: dict[int, int] = {}
    for fd, events, _ in entries:
        if masks.get(fd) == REMOTE:
            want[fd] = want.get(fd, 0) | (events & 0xFFFF) | POLLERR | POLLHUP
    remote = (list(want), list(want.values()))
    away = [fd for fd, m in masks.items() if m == AWAY and fd not in answers]
    if away:
        return _ask_away(k, t, a[0], away, deadline, answers)
    if any(fd not in answers for fd in want):
        return _ask(k, t, a[0], *remote, deadline, answers)
    if sigmask:
        _set_mask(t, sigmask)
    out = bytearray(raw)
    count = 0
    for i, (fd, events, _) in enumerate(entries):
        rev = 0
        if fd >= 0:
            m = masks[fd]
            if m in (REMOTE, AWAY):
                m = answers[fd]
            rev = POLLNVAL if m is None else m & ((events & 0xFFFF) | POLLERR | POLLHUP)
        struct.pack_into("<h", out, 8 * i + 6, rev - 0x10000 if rev & 0x8000 else rev)
        count += rev != 0
    if nfds:
        t.proc.aspace.write(ufds, bytes(out))
    if count:
        return _finish(k, t, tsp, deadline, count)
    events = {}
    for fd, ev, _ in entries:
        if fd >= 0:
            events[fd] = events.get(fd, 0) | (ev & 0xFFFF) | POLLERR | POLLHUP
    return _wait(k, t, tsp, deadline, [e[0] for e in entries if e[0] >= 0], remote, events)


def sys_pselect6(k: Kernel, t: Thread, a: list[int]) -> int:
    n, sets, tsp, sig = s32(a[0]), a[1:4], a[4], a[5]
    unpark(k, t, k.now())
    if n < 0:
        return -EINVAL
    deadline = _deadline(k, t, tsp)
    if deadline == -1:
        return -EINVAL
    mask_addr = 0
    if sig:
        mask_addr, size = struct.unpack("<II", t.proc.aspace.read(sig, 8))
        if mask_addr and size != 8:
            return -EINVAL
    n = min(n, -(-fd_cap(t.proc) // 32) * 32)  # Linux: no further than its descriptor table
    words = -(-n // 32)
    bits = [int.from_bytes(t.proc.aspace.read(s, 4 * words), "little") if s and words else 0 for s in sets]
    fds = [fd for fd in range(n) if (bits[0] | bits[1] | bits[2]) >> fd & 1]
    masks = {fd: mask_of(k, t, fd) for fd in fds}
    tested = {fd: sum(test for j, test in enumerate((IN_SET, OUT_SET, EX_SET)) if bits[j] >> fd & 1)
              for fd in fds}
    tests = {fd: v for fd, v in tested.items() if masks[fd] == REMOTE}
    remote = (list(tests), list(tests.values()))
    answers = _polled(t)
    if None not in masks.values():  # (a descriptor not open: EBADF without asking)
        away = [fd for fd in fds if masks[fd] == AWAY and fd not in answers]
        if away:
            return _ask_away(k, t, a[0], away, deadline, answers)
        if any(fd not in answers for fd in tests):
            return _ask(k, t, a[0], *remote, deadline, answers)
    if mask_addr:
        _set_mask(t, mask_addr)
    found = [0, 0, 0]
    for fd in fds:
        m = masks[fd]
        if m is None:
            return _finish(k, t, tsp, deadline, -EBADF)
        if m in (REMOTE, AWAY):
            m = answers[fd]
        for j, test in enumerate((IN_SET, OUT_SET, EX_SET)):
            if bits[j] >> fd & 1 and m & test:
                found[j] |= 1 << fd
    count = sum(bin(x).count("1") for x in found)
    if count or (deadline is not None and k.now() >= deadline):
        for s, x in zip(sets, found, strict=True):
            if s and words:
                t.proc.aspace.write(s, x.to_bytes(4 * words, "little"))
        return _finish(k, t, tsp, deadline, count)
    return _wait(k, t, tsp, deadline, fds, remote, tested)

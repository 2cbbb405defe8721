"""Standard output and error: pieces to the console daemon, with flow control.

`write` and `writev` to fd 1 or 2 copy the caller's bytes out of its memory one piece of
PIECE bytes at a time; each piece is a bulk packet to the console on the I/O cluster, which
acknowledges them (`console_ack`, once per ACK_EVERY bytes a cluster sent: acknowledging
each piece would cost the sender's kernel core a packet's handling per write). A cluster has
at most WINDOW bytes sent and not yet acknowledged, over all its processes: a write takes
what fits and returns a short count (musl writes the rest with the next call); a write that
finds no room sleeps until an acknowledgement comes and then redoes the call (a freeze may back
it out: it has sent nothing). So however much a guest writes, the host holds at most WINDOW
bytes per cluster in flight.

Determinism: acknowledgements are packets, so a write that would not fit in the room known
now observes them (it is taken only as the cluster's earliest item below the horizon,
sched.py); a write that fits whatever comes later runs inline, as before.
"""

from __future__ import annotations

import struct
from dataclasses import field
from typing import TYPE_CHECKING

from shoal.abi import MAX_IO
from shoal.kernel import ubytes
from shoal.kernel.container import FileKind, TState
from shoal.kernel.memory import PAGE, Fault
from shoal.messages import Kind
from shoal.platform.cpu import REG_PC
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.container import Container, Thread
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

# One DMA operation moves at most a page (Nanvix's portals, design.md), but a console piece
# is a modelling choice that only sets how many packets carry a write: 16 pages keeps a
# gigabyte of output to 16384 packets while each one stays small for the host.
PIECE = 16 * PAGE


@dataclass(eq=False)
class ConsoleFlow:
    """This cluster's console output (`Kernel.console`): bytes sent and not yet acknowledged,
    and writers waiting for room."""

    inflight: int = 0
    waiters: list[Thread] = field(default_factory=list)

# Bytes a cluster may have on their way to the console: 256 KiB is 64 Ki cycles on a link at
# 4 B/cycle, far longer than an acknowledgement's round trip (a few thousand cycles), so a
# lone writer is never held back by it; a cluster that outruns the console (links shared
# with 15 others) is. A modelling choice; it bounds the host's memory per cluster.
WINDOW = 256 * 1024
# The console acknowledges a cluster's bytes a quarter window at a time; a writer that finds
# the window full has at least this much unacknowledged, so an acknowledgement is coming.
ACK_EVERY = WINDOW // 4
CONSOLE_CALLS = ("write", "writev")


def stream(p: Container, fd: int) -> int | None:
    """The console stream (0 stdin, 1 stdout, 2 stderr) descriptor `fd` is, or None: 0-2 as
    the process started, or a dup of one, `p.fs.files[fd] = OpenFile(FileKind.CON, "", stream, flags)`."""
    if fd not in p.fs.open_fds:
        return None
    f = p.fs.files.get(fd)
    if f is None:
        return fd if fd < 3 else None
    return f.handle if f.kind is FileKind.CON else None


def segments(k: Kernel, t: Thread, name: str, args: list[int]) -> list[tuple[int, int]] | None:
    """The (address, length) pieces of a write or writev to the console; None if the call
    is refused before any byte (the call itself says why). An unreadable iovec: Fault."""
    fd = args[0] - (1 << 32) if args[0] & 0x80000000 else args[0]
    if not stream(t.proc, fd):
        return None  # not stdout or stderr (a file's: kernel/files.py)
    if name == "write":
        return [(args[1], args[2])]
    cnt = args[2] - (1 << 32) if args[2] & 0x80000000 else args[2]
    if cnt < 0 or cnt > 1024:
        return None
    raw = t.proc.aspace.read(args[1], 8 * cnt)
    return [struct.unpack_from("<II", raw, 8 * i) for i in range(cnt)]


def must_observe(k: Kernel, t: Thread, name: str, args: list[int]) -> bool:
    """Would this write not fit in the room known now (so that acknowledgements still on
    their way could change how much it takes)?"""
    if name == "sendfile64":  # (to the console: at most its count, MAX_IO, as a write)
        out = args[0] - (1 << 32) if args[0] & 0x80000000 else args[0]
        return bool(stream(t.proc, out)) and min(args[3], MAX_IO) > WINDOW - k.console.inflight
    if name not in CONSOLE_CALLS:
        return False
    try:
        segs = segments(k, t, name, args)
    except Fault:
        return False
    return segs is not None and sum(n for _, n in segs) > WINDOW - k.console.inflight


def write(k: Kernel, t: Thread, fd: int, segs: list[tuple[int, int]]) -> int:
    """Send what fits of `segs` to the console; the count sent (short if the window is full)."""
    total = sum(n for _, n in segs)
    if total == 0:
        return 0
    room = WINDOW - k.console.inflight
    if room <= 0:
        if t not in k.console.waiters:
            k.console.waiters.append(t)
        k.block(t, None, None, why="console")
    want = min(total, room)
    sent = 0
    piece = bytearray()
    try:
        for base, n in segs:
            off = 0
            while off < n and sent + len(piece) < want:
                take = min(n - off, PIECE - len(piece), want - sent - len(piece))
                piece += ubytes.read(t, base + off, take)
                off += take
                if len(piece) == PIECE:
                    sent += _send(k, t.proc, fd, piece)
                    piece = bytearray()
            if sent + len(piece) >= want:
                break
    except Fault:
        if sent + len(piece) == 0:
            raise
    if piece:
        sent += _send(k, t.proc, fd, piece)
    return sent


def _send(k: Kernel, proc: Container, fd: int, piece: bytearray) -> int:
    k.charge(int(len(piece) * k.spec.costs.copy_cycles_per_byte))
    k.output(proc, fd, bytes(piece), k.now())
    return len(piece)


def on_console_ack(k: Kernel, pkt: Packet, at: int) -> None:
    """The console took a piece: room for more; writers that found none redo their call."""
    k.console.inflight -= pkt.body.n
    waiters, k.console.waiters = k.console.waiters, []
    for t in waiters:
        if t.state is not TState.BLOCKED or t.blocked_on != "console" or not t.proc.alive:
            continue  # backed out by a freeze, or ended: nothing to redo here
        k._unwait(t)
        t.state = TState.READY
        t.ready_at = max(at, t.blocked_at)
        t.ctx.reg_write(REG_PC, t.ctx.reg_read(REG_PC) - 4)  # back onto the ecall: redo it
        if k.cpu.loaded is t.ctx:
            k.cpu.loaded = None
        k.sched.ready.append(t)
        k._end_solo()


HANDLERS = {Kind.CONSOLE_ACK: on_console_ack}

"""poll and select as musl makes them on riscv32: ppoll_time64 (414) and pselect6_time64 (413).

Readiness is Linux's for each kind of descriptor: a pipe's ends as pipe_poll says (data:
POLLIN; no writer left: POLLHUP; room for a page: POLLOUT; no reader left: POLLERR, see
kernel/pipes.py: poll_mask); regular files, directories, devices and shared memory objects
have no poll method on Linux, so they are always ready (DEFAULT_POLLMASK); the console's
output streams are always writable, and its input is always readable: the console daemon
holds what the host gave the process, so a read of it is answered at once, with data or
end of file (kernel/calls/io.py: read_stdin). Message queue descriptors, and a pipe's end
away from its pipe's home cluster (whose state is there), are not asked about: they are
refused (EINVAL, counted with the unknown calls, --stats) rather than answered wrongly.
A descriptor that is not open is POLLNVAL (poll) or EBADF (select).

Waiting: a thread none of whose descriptors is ready sleeps ("poll") on the pipes it names
(Pipe.waiting) until one of them changes, a caught signal comes (EINTR; never restarted, as
Linux's -ERESTARTNOHAND with a handler) or the timeout passes (simulated time). Woken, it
makes its call again with the same deadline (Thread.restart_deadline, as a freeze keeps
one), which scans once more as Linux's do_poll does after its sleep. ppoll's and pselect6's
sigmask replaces the thread's mask for the call (Thread.sig.saved, as rt_sigsuspend does):
put back on return, or by the signal frame when a handler interrupts the wait. The time left
is written back to the timeout, as Linux does (a write that faults is ignored, as there).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EBADF, EINTR, EINVAL
from shoal.kernel import console, pipes, signals
from shoal.kernel.calls.common import cycles_to_ns, ns_to_cycles, read_timespec, s32
from shoal.kernel.container import FileKind
from shoal.kernel.files import fd_cap
from shoal.kernel.memory import Fault, OutOfFrames

if TYPE_CHECKING:
    from shoal.kernel.container import Thread
    from shoal.kernel.kernel import Kernel

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND = 0x40, 0x80, 0x100, 0x200
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
IN_SET = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR  # what select's sets test
OUT_SET = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR
EX_SET = POLLPRI
RLIMIT_NOFILE_DEFAULT = 1024  # as kernel/calls/proc.py reports it


def mask_of(k: Kernel, t: Thread, fd: int) -> int | None:
    """What descriptor `fd` is ready for now (Linux's f_op->poll); None if it is not open;
    -1 if it is a kind this call does not answer (a message queue, a socket)."""
    p = t.proc
    if fd not in p.fs.open_fds:
        return None
    f = p.fs.files.get(fd)
    if f is None or f.kind is FileKind.CON:
        stream = console.stream(p, fd)
        return POLLIN | POLLRDNORM if stream == 0 else POLLOUT | POLLWRNORM
    if f.kind is FileKind.PIPE and pipes.home(f) == k.cluster:
        return pipes.poll_mask(k, f)
    if f.kind in (FileKind.MQ, FileKind.PIPE, FileKind.SOCK):
        return -1  # (a pipe's end away from its home, a socket: their state is elsewhere; not yet)
    return DEFAULT_POLLMASK


def _watch(k: Kernel, t: Thread, fds: list[int]) -> None:
    for fd in fds:
        f = t.proc.fs.files.get(fd)
        if pipes.is_pipe(f):
            pipes.watch(k, t, f)  # type: ignore[arg-type]


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


def _wait(k: Kernel, t: Thread, tsp: int, deadline: int | None, watched: list[int]) -> int:
    """Nothing ready: give up now (timeout 0 or passed), be interrupted, or sleep."""
    if deadline is not None and k.now() >= deadline:
        return _finish(k, t, tsp, deadline, 0)
    if signals.deliverable(t):
        signals.wake(k, t, k.now())  # delivered once the call returns
        return _finish(k, t, tsp, deadline, -EINTR)
    _watch(k, t, watched)
    k.block(t, None, deadline, why="poll")
    return 0  # not reached


def sys_ppoll(k: Kernel, t: Thread, a: list[int]) -> int:
    ufds, nfds, tsp, sigmask, sigsetsize = a[0], a[1], a[2], a[3], a[4]
    deadline = _deadline(k, t, tsp)
    if deadline == -1:
        return -EINVAL
    if sigmask and sigsetsize != 8:
        return -EINVAL
    lim = t.proc.rlimits.get(7)
    if nfds > (RLIMIT_NOFILE_DEFAULT if lim is None else lim[0]):
        return -EINVAL
    raw = t.proc.aspace.read(ufds, 8 * nfds) if nfds else b""  # a Fault: EFAULT
    if sigmask:
        _set_mask(t, sigmask)
    entries = [struct.unpack_from("<ihh", raw, 8 * i) for i in range(nfds)]
    out = bytearray(raw)
    count = 0
    for i, (fd, events, _) in enumerate(entries):
        rev = 0
        if fd >= 0:
            m = mask_of(k, t, fd)
            if m == -1:
                t.proc.stats.unknown_syscalls[414] += 1
                return _finish(k, t, tsp, deadline, -EINVAL)
            rev = POLLNVAL if m is None else m & ((events & 0xFFFF) | POLLERR | POLLHUP)
        struct.pack_into("<h", out, 8 * i + 6, rev - 0x10000 if rev & 0x8000 else rev)
        count += rev != 0
    if nfds:
        t.proc.aspace.write(ufds, bytes(out))
    if count:
        return _finish(k, t, tsp, deadline, count)
    return _wait(k, t, tsp, deadline, [e[0] for e in entries if e[0] >= 0])


def sys_pselect6(k: Kernel, t: Thread, a: list[int]) -> int:
    n, sets, tsp, sig = s32(a[0]), a[1:4], a[4], a[5]
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
    if mask_addr:
        _set_mask(t, mask_addr)
    found = [0, 0, 0]
    want = bits[0] | bits[1] | bits[2]
    watched = []
    for fd in range(n):
        if not want >> fd & 1:
            continue
        m = mask_of(k, t, fd)
        if m is None:
            return _finish(k, t, tsp, deadline, -EBADF)
        if m == -1:
            t.proc.stats.unknown_syscalls[413] += 1
            return _finish(k, t, tsp, deadline, -EINVAL)
        watched.append(fd)
        for j, test in enumerate((IN_SET, OUT_SET, EX_SET)):
            if bits[j] >> fd & 1 and m & test:
                found[j] |= 1 << fd
    count = sum(bin(x).count("1") for x in found)
    if count or (deadline is not None and k.now() >= deadline):
        for s, x in zip(sets, found, strict=True):
            if s and words:
                t.proc.aspace.write(s, x.to_bytes(4 * words, "little"))
        return _finish(k, t, tsp, deadline, count)
    return _wait(k, t, tsp, deadline, watched)

"""Where a write's bytes come from: the caller's memory, or a kernel buffer in its place.

sendfile to a pipe, a socket or the console (kernel/calls/copy.py) has read a file's bytes
into the kernel; it then makes the same write a write(2) would (with its blocking, short
counts, SIGPIPE and calls made again), its pieces naming offsets in that buffer. The write
paths take their bytes through `read`, so they need not know which it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from shoal.kernel.container import Thread

_kernel: WeakKeyDictionary[Thread, bytes] = WeakKeyDictionary()


def read(t: Thread, addr: int, n: int) -> bytes:
    """`n` bytes of the write at `addr`: the caller's memory, or the kernel's buffer."""
    buf = _kernel.get(t)
    if buf is None:
        return t.proc.aspace.read(addr, n)
    return buf[addr:addr + n]


def gather(t: Thread, pieces: list[tuple[int, int]], skip: int, want: int) -> bytes:
    """At most `want` bytes of a write of `pieces` (address, length), from byte `skip` of it:
    a write that goes in parts reads only its next part (a buffer larger than the cluster's
    memory has one part's pages resident at a time, never all of them)."""
    out = bytearray()
    for addr, n in pieces:
        if skip >= n:
            skip -= n
            continue
        take = min(n - skip, want - len(out))
        if take <= 0:
            break
        out += read(t, addr + skip, take)
        skip = 0
    return bytes(out)


@contextmanager
def from_kernel(t: Thread, data: bytes) -> Iterator[None]:
    """While in this block, `t`'s writes take their bytes from `data` (addresses: offsets)."""
    _kernel[t] = data
    try:
        yield
    finally:
        _kernel.pop(t, None)

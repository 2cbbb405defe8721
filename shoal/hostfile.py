"""Reading a file the user names on the command line (a program, an image, a --file, a
policy), with the host's memory bounded whatever the name points at.

The type and size are checked before a byte is read: a directory, a FIFO, a socket or a device
(/dev/zero never ends) is refused, and so is a regular file larger than the stated limit (a
10 GB sparse file costs nothing to make). The file is opened non-blocking, so that opening a
FIFO does not wait for a writer, and read to at most limit + 1 bytes, so that a file growing
while it is read is refused too. Every refusal is one ShoalError line naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shoal.errors import ShoalError

MIB = 1024 * 1024
# The largest program (ELF or C source), --file or policy source: far above what a cluster's
# memory holds (2 MiB on mppa256) or any program's loaded segments, so it refuses only what no
# guest could load.
MAX_PROGRAM = 64 * MIB


def _size(n: int) -> str:
    return f"{n} bytes" if n < MIB else f"{n / MIB:.1f} MiB"


def check_file(path: str | Path, what: str, limit: int) -> int:
    """The size of `path` if it is a regular file of at most `limit` bytes (read nothing)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ShoalError(f"{what}: {(e.strerror or str(e)).lower()}") from None
    _check(st, what, limit)
    return st.st_size


def _check(st: os.stat_result, what: str, limit: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ShoalError(f"{what}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ShoalError(f"{what}: not a regular file (a device, FIFO or socket is not read)")
    if st.st_size > limit:
        raise ShoalError(f"{what}: {_size(st.st_size)}, more than the limit of {_size(limit)}")


def read_file(path: str | Path, what: str, limit: int) -> bytes:
    """The contents of regular file `path` (at most `limit` bytes), or one ShoalError line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ShoalError(f"{what}: {(e.strerror or str(e)).lower()}") from None
    try:
        _check(os.fstat(fd), what, limit)  # the file opened, not one swapped in since a stat
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            b = os.read(fd, min(limit + 1 - got, 8 * MIB))
            if not b:
                break
            chunks.append(b)
            got += len(b)
        if got > limit:
            raise ShoalError(f"{what}: grew past the limit of {_size(limit)} while read")
        return b"".join(chunks)
    except OSError as e:
        raise ShoalError(f"{what}: {(e.strerror or str(e)).lower()}") from None
    finally:
        os.close(fd)

"""The host's side of a program's standard streams: its output to our stdout and stderr, and
our stdin read only as far as the program reads it."""

from __future__ import annotations

import os
import sys

from shoal.errors import ShoalError


class OutputError(ShoalError):
    """The host's stdout or stderr took no more of the program's output."""


def sink(pid: int, fd: int, data: bytes) -> None:
    text = sys.stdout if fd == 1 else sys.stderr
    name = "standard output" if fd == 1 else "standard error"
    if text is None:
        raise OutputError(f"cannot write the program's output: {name} is closed")
    try:
        stream = text.buffer
        stream.write(data)
        stream.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise OutputError(f"cannot write the program's output to {name}: {why}") from None


class StdinSource:
    """The host's stdin, read only as far as a guest reads it: a program that never reads
    stdin never waits on it, and one that reads an endless stream (`< /dev/zero`) costs the
    host only the bytes of the read in hand. A read is filled whole unless stdin ends, however
    the host's pipe happens to deliver, so that runs are the same for the same input. Reads
    come in order (the console daemon's position only moves forward)."""

    CHUNK = 1 << 16

    def __init__(self) -> None:
        self._buf = bytearray()  # bytes from offset `_base` on, not yet taken
        self._base = 0
        self._eof = False
        self._ok: bool | None = None

    def _fill(self, stop: int) -> None:
        if self._ok is None:
            try:
                self._ok = sys.stdin is not None and not sys.stdin.isatty()
                fd = sys.stdin.fileno() if self._ok else -1
            except (OSError, ValueError, AttributeError):
                self._ok, fd = False, -1
            self._fd = fd
            self._eof = not self._ok
        while not self._eof and self._base + len(self._buf) < stop:
            try:
                b = os.read(self._fd, min(self.CHUNK, stop - self._base - len(self._buf)))
            except OSError as e:
                raise ShoalError(f"cannot read standard input: {e.strerror or e}") from None
            if not b:
                self._eof = True
            self._buf += b

    def __getitem__(self, key: slice) -> bytes:
        start, stop = key.start or 0, key.stop if key.stop is not None else 1 << 62
        if start > self._base:  # taken: forget it
            del self._buf[:start - self._base]
            self._base = start
        self._fill(stop)
        return bytes(self._buf[start - self._base:stop - self._base])

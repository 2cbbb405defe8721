"""A Ctrl-C while the `shoal` command starts or ends: one line and 130, never a traceback.

The command's own catch (cli/__init__.py) covers a run; before it, Python imports some 50
modules (~0.2 s), and a SIGINT there raised KeyboardInterrupt in the middle of an import, with
a traceback. So when this process is the `shoal` command (the console script, or
`python -m shoal`, as the MPI ranks are started), shoal's first import puts a handler in place
that says so and ends the process at once; `main` gives SIGINT back to KeyboardInterrupt for
the run (raised outside the emulator's callbacks, see `callback`), and puts this handler back
once the run has its status. A program that imports shoal
as a library keeps Python's KeyboardInterrupt throughout.
"""

import _signal as signal  # (the C module: `signal` builds its enums first, some ms of the window)
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def _is_command() -> bool:
    if os.path.basename(sys.argv[0] if sys.argv else "") == "shoal":
        return True
    argv = getattr(sys, "orig_argv", [])
    return any(a == "-m" and argv[i + 1:i + 2] == ["shoal"] for i, a in enumerate(argv))


def _now(sig: int, frame: object) -> None:
    try:
        os.write(2, b"shoal: interrupted\n")
    finally:
        os._exit(130)


_callbacks: set = set()  # code of the Python functions C calls back (platform/cpu.py's hooks)
pending = False  # a Ctrl-C came inside one: `take` raises it once C has returned


def callback(code: object) -> None:
    """`code` is called from C (a ctypes callback): a KeyboardInterrupt must not be raised in
    it, nor in what it calls (ctypes prints one that escapes, with a traceback, and drops it:
    the run went on to its end)."""
    _callbacks.add(code)


def _raise(sig: int, frame: object) -> None:
    global pending
    f = frame
    while f is not None:
        if f.f_code in _callbacks:  # type: ignore[attr-defined]
            pending = True
            return
        f = f.f_back  # type: ignore[attr-defined]
    raise KeyboardInterrupt


def take() -> None:
    """Raise the Ctrl-C that came inside a callback (the emulator's caller asks, between
    slices)."""
    global pending
    if pending:
        pending = False
        raise KeyboardInterrupt


def quiet() -> None:
    """From here on a SIGINT ends the process at once, with the one line (the command's start
    and end, when nothing is left to undo)."""
    if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _now, _raise):
        signal.signal(signal.SIGINT, _now)


def interruptible() -> None:
    """A SIGINT raises KeyboardInterrupt again (the run's catch takes it), but never inside a
    callback from C."""
    if signal.getsignal(signal.SIGINT) is _now:
        signal.signal(signal.SIGINT, _raise)


@contextmanager
def held() -> Iterator[None]:
    """A SIGINT waits for the end of the block, then is raised: work the user's files depend
    on (a write-back half done would leave half of a tree) is finished first."""
    got: list[int] = []
    try:
        old = signal.signal(signal.SIGINT, lambda sig, frame: got.append(sig))
    except ValueError:  # (not the main thread: signals go to the main thread anyway)
        old = None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    if got:
        raise KeyboardInterrupt


def install() -> None:
    if _is_command():
        quiet()

"""Ctrl-C (SIGINT) at any moment of `shoal run`: one line, `shoal: interrupted`, and 130
(shoal/_interrupt.py). Two places lost it: the start (a KeyboardInterrupt in the middle of an
import, with a traceback) and the emulator's hooks (ctypes callbacks: one raised there before
their own try was printed with a traceback and dropped, and the run went on to exit 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import PROGRAMS, SHOAL_FLAGS

from shoal.toolchain import compile_cached


def test_sigint_while_the_guest_traps_ends_the_run_with_one_line() -> None:
    """The guest computes and makes a system call, in turns; a SIGINT sent while it runs
    lands mostly in the trap hook's first line. Every run must stop with 130 and one line
    (before: 4 of 6 such runs went on to the end with exit 0 and a traceback)."""
    elf = compile_cached([PROGRAMS / "syscall_spin.c"], SHOAL_FLAGS)
    for i in range(6):
        p = subprocess.Popen([sys.executable, "-m", "shoal", "run", "--chip", "tiny", str(elf)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert p.stdout is not None and p.stdout.readline() == b"ready\n"
            time.sleep(0.2 + 0.05 * i)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        assert (p.returncode, err, out) == (130, b"shoal: interrupted\n", b""), (i, err.decode()[-2000:])


def test_sigint_after_shoal_is_imported_by_the_command_is_one_line() -> None:
    """Between the first import of shoal by the command and its catch (the imports, ~0.2 s):
    one line and 130 (before: a KeyboardInterrupt traceback). A library user keeps Python's
    KeyboardInterrupt."""
    code = ("import os, signal, sys, time\nsys.argv[0] = '/usr/bin/shoal'\nimport shoal\n"
            "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\nprint('not stopped')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert (res.returncode, res.stderr, res.stdout) == (130, b"shoal: interrupted\n", b"")
    lib = ("import os, signal, time\nimport shoal\ntry:\n    os.kill(os.getpid(), signal.SIGINT)\n"
           "    time.sleep(5)\nexcept KeyboardInterrupt:\n    print('mine')\nprint('not stopped')\n")
    res = subprocess.run([sys.executable, "-c", lib], capture_output=True, timeout=60)
    assert res.returncode == 0 and res.stdout == b"mine\nnot stopped\n", res.stderr.decode()


def test_the_command_after_its_run_still_says_interrupted() -> None:
    """A SIGINT once the status is known (the exit's flush) ends at once with the one line."""
    code = ("import os, signal, sys\nsys.argv[0] = 'shoal'\nfrom shoal.cli import main\n"
            "sys.argv[1:] = ['cc', '--version']\n"
            "import shoal._interrupt as i\ni.quiet()\nos.kill(os.getpid(), signal.SIGINT)\nprint('late')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, env=dict(os.environ))
    assert (res.returncode, res.stderr, res.stdout) == (130, b"shoal: interrupted\n", b"")


def test_sigint_during_the_write_back_waits_for_the_whole_tree(tmp_path: object) -> None:
    """A Ctrl-C while --fs-out is written: the whole tree comes home first, then 130 and the
    one line (before: 989 of 3000 files, the rest lost)."""
    from pathlib import Path
    elf = compile_cached([PROGRAMS / "many_files.c"], SHOAL_FLAGS)
    out = Path(str(tmp_path)) / "out"
    p = subprocess.Popen([sys.executable, "-m", "shoal", "run", "--chip", "tiny", "--fs-out", str(out),
                          str(elf), "3000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "out").is_dir() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        p.send_signal(signal.SIGINT)  # the write-back has begun
        got, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert (p.returncode, got, err) == (130, b"wrote 3000\n", b"shoal: interrupted\n")
    names = sorted(os.listdir(out / "out"))
    assert names == [f"f{i:05d}" for i in range(3000)]
    assert all((out / "out" / f"f{i:05d}").read_bytes() == bytes([97 + i % 26]) * 16384 for i in range(3000))

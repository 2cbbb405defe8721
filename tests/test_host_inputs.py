"""Files the user names on the command line (`shoal run X`, `shoal restore X`, `--file X`,
`--policy X.py:C`): whatever X is (a 10 GB sparse file, /dev/zero, a FIFO, a directory), one
line and a non-zero exit, without reading it all and without waiting on it."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROGRAMS, assert_one_line_error

from shoal.toolchain import compile_cached

GIB = 1 << 30


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    """`shoal ...` with its address space capped at 3 GiB: reading a 10 GB file whole cannot
    succeed, and a FIFO opened for reading would wait for a writer past the timeout."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * GIB, 3 * GIB))
    return subprocess.run([sys.executable, "-m", "shoal", *args], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, preexec_fn=cap, env=dict(os.environ))


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("odd")
    for name in ("huge", "huge.c", "huge.py"):  # sparse: 10 GB that cost no disk
        with open(d / name, "wb") as f:
            f.truncate(10 * GIB)
    for name in ("fifo", "fifo.c"):
        os.mkfifo(d / name)
    (d / "dir").mkdir()
    return {"huge": str(d / "huge"), "huge.c": str(d / "huge.c"), "huge.py": str(d / "huge.py"),
            "fifo": str(d / "fifo"), "fifo.c": str(d / "fifo.c"), "dir": str(d / "dir"),
            "zero": "/dev/zero"}


WHAT = {"huge": "more than the limit", "huge.c": "more than the limit", "huge.py": "more than the limit",
        "fifo": "not a regular file", "fifo.c": "not a regular file", "zero": "not a regular file",
        "dir": "is a directory"}


CASES = [(how, name) for how in ("run", "restore", "file")
         for name in ("huge", "zero", "fifo", "dir", "huge.c", "fifo.c")
         if not (how == "restore" and name.endswith(".c"))]  # (an image is never compiled)


@pytest.mark.parametrize("how, name", CASES)
def test_a_named_file_is_checked_before_it_is_read(odd: dict[str, str], name: str, how: str) -> None:
    x = odd[name]
    args = {"run": ["run", "--chip", "tiny", x], "restore": ["restore", "--chip", "tiny", x],
            "file": ["run", "--chip", "tiny", "--file", x, str(PROGRAMS / "args.c")]}[how]
    err = assert_one_line_error(_cli(*args))
    assert WHAT[name] in err and x in err, err


def test_a_policy_source_is_checked_before_it_is_read(odd: dict[str, str]) -> None:
    elf = compile_cached([PROGRAMS / "args.c"])
    err = assert_one_line_error(_cli("run", "--chip", "tiny", "--policy", f"{odd['huge.py']}:P", str(elf)))
    assert "more than the limit" in err


def test_files_within_the_limits_still_load(tmp_path: Path) -> None:
    elf = compile_cached([PROGRAMS / "args.c"])
    img = tmp_path / "a.img"
    res = _cli("run", "--chip", "tiny", "--file", str(elf), str(elf), "3")
    assert res.returncode == 3 and b"argv[1] (1) [3]" in res.stdout
    assert _cli("checkpoint", "--chip", "tiny", "--at", "1", "-o", str(img), str(elf), "5").returncode == 0
    res = _cli("restore", "--chip", "tiny", str(img))
    assert res.returncode == 5 and b"argv[1] (1) [5]" in res.stdout, res.stderr


def test_an_endless_stdin_is_read_only_as_far_as_the_guest_reads(tmp_path: Path) -> None:
    # `< /dev/zero`: the host used to read stdin to its end at the first read (for ever).
    # Now it reads what the guest asks, and its memory does not grow with what it passes on.
    prog = PROGRAMS / "stdin_take.c"
    peak = {}
    for mib in (4, 48):
        code = ("import resource, subprocess, sys\n"
                "r = subprocess.run([sys.executable, '-m', 'shoal', 'run', *sys.argv[1:], '65536'],"
                " stdin=open('/dev/zero', 'rb'), capture_output=True, timeout=300)\n"
                "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
                "print(r.returncode, r.stdout.decode().strip(), peak)\n")
        out = subprocess.run([sys.executable, "-c", code, str(prog), str(mib << 20)], capture_output=True,
                             text=True, timeout=400)
        words = out.stdout.split()
        assert words[:1] == ["0"] and f"{mib << 20} bytes, sum 0" in out.stdout, out.stdout + out.stderr
        peak[mib] = int(words[-1])
    assert peak[48] < peak[4] + 24 * 1024, peak  # KiB: 44 MiB more passed through, not kept
    # A pipe that ends: the guest gets what there was, then end of file.
    r = subprocess.run([sys.executable, "-m", "shoal", "run", str(prog), "100000", "3000"],
                       input=b"\x01" * 70000, capture_output=True, timeout=300)
    assert r.returncode == 0 and r.stdout == b"70000 bytes, sum 70000\n", r.stderr


def test_a_chip_file_is_checked_before_it_is_read(tmp_path: Path) -> None:
    fifo, big = tmp_path / "fifo.toml", tmp_path / "big.toml"
    os.mkfifo(fifo)  # used to hang the run, waiting for a writer
    with open(big, "wb") as f:
        f.truncate(10 * GIB)
    prog = str(PROGRAMS / "args.c")
    for path, what in ((fifo, "not a regular file"), (big, "more than the limit")):
        err = assert_one_line_error(_cli("run", "--chip", str(path), prog))
        assert "chip file" in err and what in err, err
    ok = tmp_path / "ok.toml"
    ok.write_text('base = "tiny"\n')
    res = _cli("run", "--chip", str(ok), prog, "x")
    assert res.returncode == 0 and b"argv[1] (1) [x]" in res.stdout, res.stderr

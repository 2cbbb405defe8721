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

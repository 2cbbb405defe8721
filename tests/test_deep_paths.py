"""A tree deeper than PATH_MAX, made and walked by relative names (adversarial round of issue
19): Linux limits a call's own path to PATH_MAX, not the absolute path it leads to, and its
getcwd call says ENAMETOOLONG past a page. Checked against the host's build run in a host
directory, and the tree written back by --fs-out against the one the host's build made."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import PROGRAMS, SHOAL_FLAGS, shoal_cli

from shoal.toolchain import compile_cached

DEEP = PROGRAMS / "deep_cwd.c"


def _tree(root: Path) -> list[tuple[int, bytes]]:
    """(depth, contents) of every file under root, walked by directory descriptors (its
    paths are longer than the host's PATH_MAX too)."""
    out = []
    todo = [(os.open(root, os.O_RDONLY | os.O_DIRECTORY), 0)]
    while todo:
        fd, depth = todo.pop()
        for e in os.scandir(fd):
            if e.is_dir(follow_symlinks=False):
                todo.append((os.open(e.name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), depth + 1))
            else:
                f = os.open(e.name, os.O_RDONLY, dir_fd=fd)
                out.append((depth, os.read(f, 100)))
                os.close(f)
        os.close(fd)
    return sorted(out)


def test_a_tree_deeper_than_path_max(tmp_path: Path) -> None:
    exe = tmp_path / "deep_cwd"
    res = subprocess.run(["gcc", "-O2", str(DEEP), "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    host = tmp_path / "host"
    host.mkdir()
    nat = subprocess.run([str(exe), "top"], cwd=host, capture_output=True, timeout=60)
    assert nat.returncode == 0 and b"ENAMETOOLONG" in nat.stdout, nat.stdout
    (tmp_path / "in").mkdir()
    got = shoal_cli("run", "--fs", str(tmp_path / "in"), "--fs-out", str(tmp_path / "out"),
                    str(compile_cached([DEEP], SHOAL_FLAGS)), "top")
    assert got.stderr == b"" and got.returncode == 0
    assert got.stdout == nat.stdout
    want = _tree(host)
    assert [d for d, _ in want] == [22, 41]  # the dirfd's file and the bottom's
    assert _tree(tmp_path / "out") == want

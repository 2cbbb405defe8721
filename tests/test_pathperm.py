"""Search permission on every directory a path walks through, for a user that is not root
(issue 22, part 5; path_resolution(7)): tests/programs/pathperm.c makes a tree as root, gives
up root (or runs as a user from the start: Chip.spawn(user=)) and tries every call that takes
a path through a directory it may not search. Linux's answers, whatever the host; the host
build (as root, which it then gives up) prints the same bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT, Programs, assert_same, run_native, run_shoal, shoal_cli

from shoal import Chip

EACCES, ENOENT, ENOTDIR, EPERM = "-13", "-2", "-20", "-1"
# (call, errno) as path_resolution(7), open(2), stat(2), chdir(2), execve(2), unix(7) give them
EXPECTED = {
    "stat nx": "0",  # the name is in a searchable directory: only what is inside is closed
    "stat nx/f": EACCES, "stat nx/missing": EACCES,  # before the name is looked at
    "stat nx/.": EACCES, "stat nx/..": EACCES, "stat nx/sub/..": EACCES, "stat ./nx/./f": EACCES,
    "stat file/x": ENOTDIR, "stat file/.": ENOTDIR, "stat file/..": ENOTDIR,  # ENOTDIR first
    "creat open/missing/.": ENOENT, "mkdir open/missing/.": ENOENT,  # not the last name
    "lstat lnk": "0", "stat lnk": EACCES, "stat ok": "0",  # a link's target walked as the user
    "stat xo/f": "0", "stat xo/missing": ENOENT,  # search without read: names reachable
    "open xo/f": "0", "open xo dir": EACCES,
    "open nx/f": EACCES, "open nx/sub/new creat": EACCES, "open lnk": EACCES,
    "mkdir nx/sub/d": EACCES, "unlink nx/f": EACCES, "rmdir nx/sub": EACCES,
    "rename nx/f": EACCES, "rename to nx/sub": EACCES, "link nx/f": EACCES,
    "link to nx/sub": EACCES, "symlink in nx/sub": EACCES, "symlink in xo": EACCES,
    "readlink nx/l": EACCES, "readlink lnk": "0", "chdir nx": EACCES, "chdir nx/sub": EACCES,
    "access nx/f": EACCES, "access xo/f R": "0", "faccessat nx/f eaccess": EACCES,
    "utimensat nx/f": EACCES, "chown nx/f": EACCES, "chmod nx/f": EACCES, "statfs nx/f": EACCES,
    "bind nx/sub/sock": EACCES, "bind in xo": EACCES, "connect nx/sock": EACCES,
    "connect rsock (0755)": EACCES,  # connect needs write permission on the socket's file
    "execve nx/prog": EACCES, "execve nx": EACCES, "execve open (a directory)": EACCES,
    "execve open/garbage": "-8",  # ENOEXEC: x for all, no format
    "execve open/script (root's x)": EACCES, "execve open/data (no x)": EACCES,  # the x bit
    "access open/data X": EACCES, "access open/garbage X": "0",
    "utimensat pub null": "0", "utimensat pub now": "0",  # a writer may set them to now
    "utimensat pub mix": EPERM, "utimensat pub set": EPERM,  # anything else: the owner only
    "utimensat ro null": EACCES, "utimensat ro now": EACCES, "utimensat ro set": EPERM,
    "futimens ro": EACCES, "open rd": "0", "fchdir rd": EACCES,  # fchdir: search on it
}


def _answers(out: bytes) -> dict[str, str]:
    lines = out.decode().splitlines()
    assert lines[0] == "uid 1000", lines[:3]
    return {ln.rpartition(" ")[0]: ln.rpartition(" ")[2] for ln in lines[1:]}


def test_search_permission_on_every_path_as_linux(programs: Programs, tmp_path: Path) -> None:
    b = programs["pathperm"]
    p, _ = run_shoal(b, ["pathperm", "/tmp", "drop"], user=ROOT)
    assert p.returncode == 0, p.message
    got = _answers(p.stdout)
    assert {k: got.get(k) for k in EXPECTED} == EXPECTED
    if os.geteuid() != 0:
        pytest.skip("the host build needs root to make the tree and give root up")
    assert_same(p, run_native(b, ["pathperm", str(tmp_path), "drop"]))


@pytest.mark.parametrize("cluster", [0, 1])
def test_a_user_process_walks_roots_tree(programs: Programs, cluster: int) -> None:
    """Root's process makes the tree and ends; a user's, on the same or another cluster, gets
    the same answers (the socket nobody listens on any more: still EACCES, checked first)."""
    b = programs["pathperm"]
    c = Chip.preset("tiny", user=ROOT)  # (root makes the objects; a user uses them)
    root = c.spawn(b.elf, ["pathperm", "/tmp", "make"], cluster=0)
    c.run()
    assert root.returncode == 0, root.message
    p = c.spawn(b.elf, ["pathperm", "/tmp"], cluster=cluster, user=(1000, 1000))
    c.run()
    assert p.returncode == 0, p.message
    got = _answers(p.stdout)
    assert {k: got.get(k) for k in EXPECTED} == EXPECTED


def test_root_is_never_refused(programs: Programs) -> None:
    """The same walk as root (no drop: the tree's second run): every closed directory open."""
    b = programs["pathperm"]
    c = Chip.preset("tiny", user=ROOT)  # (root makes the objects; a user uses them)
    c.spawn(b.elf, ["pathperm", "/tmp", "make"])
    c.run()
    p = c.spawn(b.elf, ["pathperm", "/tmp"])
    c.run()
    out = p.stdout.decode().splitlines()
    assert out[0] == "uid 0"
    assert "stat nx/f 0" in out and "open nx/f 0" in out and "chdir nx 0" in out
    assert "stat lnk 0" in out and "readlink nx/l 0" in out


def test_execve_by_the_x_bit_of_a_host_tree(programs: Programs, tmp_path: Path) -> None:
    """--fs carries the host file's x bit (0755 in the chip's tree, else 0644): a user runs a
    program the host marked executable and is refused one it did not (EACCES, as Linux);
    root runs both (root is never refused, as before users)."""
    b = programs["pathperm"]
    (tmp_path / "bin").mkdir()
    for name, mode in (("runs", 0o755), ("plain", 0o644)):
        (tmp_path / "bin" / name).write_bytes(b.elf.read_bytes())
        (tmp_path / "bin" / name).chmod(mode)
    for user, name, out in (("1000", "runs", b"hello uid 1000\n"), ("1000", "plain", b"/bin/plain -13\n"),
                            ("0", "plain", b"hello uid 0\n")):
        res = shoal_cli("run", "--chip", "tiny", "--user", user, "--fs", str(tmp_path), str(b.elf),
                        "exec", f"/bin/{name}")
        assert res.stdout == out, (user, name, res.stdout, res.stderr)
    assert (tmp_path / "bin" / "plain").stat().st_mode & 0o777 == 0o644  # (the host's kept)

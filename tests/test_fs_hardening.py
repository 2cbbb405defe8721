"""`--fs DIR` at the edges: names and paths at Linux's limits (counted in bytes), trees deeper
than Python's recursion limit or longer than the host's PATH_MAX, and host directories that
hold hard links, FIFOs or names that are not UTF-8. The write-back brings home all of the
tree, never writes through an inode or a link that was in the directory, and says in one
line what it could not write."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Programs, assert_one_line_error, shoal_cli

from shoal.errors import ShoalError
from shoal.tools.hostfs import _remove, write_host_tree

DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path) -> Iterator[None]:
    """Trees deeper than Python's recursion limit are removed here, without recursion:
    pytest's own clean-up of old temporary directories (shutil.rmtree) would fail on them."""
    yield
    fd = os.open(tmp_path, DIR)
    try:
        for name in os.listdir(fd):
            _remove(fd, name, stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode))
    finally:
        os.close(fd)


def native(b: object, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, executable=str(b.native), cwd=cwd, capture_output=True, env={},  # type: ignore[attr-defined]
                          timeout=60)


def tree_of(root: Path) -> list[tuple[bytes, bytes | None]]:
    """Every entry under `root` (path as bytes, contents or None for a directory), walked by
    directory descriptors so that neither depth nor the host's PATH_MAX limits it."""
    out: list[tuple[bytes, bytes | None]] = []
    stack = [(b"", os.open(root, DIR))]
    while stack:
        rel, fd = stack.pop()
        try:
            for name in sorted(os.listdir(fd)):
                raw = os.fsencode(name)
                path = rel + raw
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    out.append((path, None))
                    stack.append((path + b"/", os.open(name, DIR, dir_fd=fd)))
                elif stat.S_ISREG(st.st_mode):
                    f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
                    with os.fdopen(f, "rb") as fh:
                        out.append((path, fh.read()))
                else:
                    out.append((path, b"<not a regular file>"))
        finally:
            os.close(fd)
    return sorted(out)


def make_chain(root: Path, depth: int, leaf: bytes) -> None:
    fd = os.open(root, DIR)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", DIR, dir_fd=fd)
        os.close(fd)
        fd = nfd
    f = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(f, leaf)
    os.close(f)
    os.close(fd)


def both(programs: Programs, tmp_path: Path, *argv: str) -> tuple[Path, Path, bytes]:
    """The program run natively in one empty directory and on the chip with `--fs` another:
    the outputs must be the same; returns both directories."""
    b = programs["fs_names"]
    nat, chip = tmp_path / "native", tmp_path / "chip"
    nat.mkdir()
    chip.mkdir()
    want = native(b, ["fs_names", *argv], nat)
    assert want.returncode == 0, want.stdout + want.stderr
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(chip), str(b.elf), *argv)
    assert res.stderr == b"" and res.returncode == 0, res.stderr
    assert res.stdout == want.stdout
    return nat, chip, want.stdout


def test_name_and_path_limits_are_linux_bytes_and_the_tree_comes_home(programs: Programs,
                                                                      tmp_path: Path) -> None:
    """A 510-byte name (255 two-byte characters) was taken and then stopped the write-back:
    ENAMETOOLONG at the call, as Linux gives it, and everything else arrives."""
    nat, chip, out = both(programs, tmp_path, "long")
    assert b"name_255_bytes 0\nname_256_bytes -36\nname_510_bytes -36\n" in out
    assert b"path_4095_bytes -2\npath_4096_bytes -36\nmkdir_4096_bytes -36\npath_8000_bytes -36\n" in out
    assert tree_of(chip) == tree_of(nat)
    assert (chip / "after.txt").read_bytes() == b"still here\n"


def test_a_rename_past_the_hosts_path_max_is_written_back_whole(programs: Programs,
                                                                tmp_path: Path) -> None:
    """After the rename the deepest path is ~4270 bytes (and the host's root adds its own):
    nothing is lost, neither that file nor the ones after it."""
    nat, chip, out = both(programs, tmp_path, "rename")
    assert out.endswith(b"renamed\n")
    got = tree_of(chip)
    assert got == tree_of(nat)
    assert max(len(p) for p, _ in got) + len(os.fsencode(chip)) > 4096
    assert (chip / "z_last.txt").read_bytes() == b"last\n"


def test_a_tree_1200_directories_deep_is_written_back(programs: Programs, tmp_path: Path) -> None:
    nat, chip, _ = both(programs, tmp_path, "deep", "1200")
    got = tree_of(chip)
    assert len(got) == 1200 + 2 and got == tree_of(nat)


def test_a_host_directory_1100_deep_is_read(programs: Programs, tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    make_chain(d, 1100, b"deep down\n")
    before = tree_of(d)
    b = programs["fs_names"]
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(d), str(b.elf), "cat", "d/" * 1100 + "leaf")
    assert res.returncode == 0 and res.stdout == b"deep down\n", res.stderr
    assert tree_of(d) == before


def test_what_the_host_cannot_hold_is_named_in_one_line_and_the_rest_is_written(tmp_path: Path) -> None:
    """A host whose file system takes shorter names than the chip: that one file is lost,
    every other entry (before and after it in the walk) arrives, the error names it."""
    out = tmp_path / "out"
    tree: list[tuple[str, bytes | None]] = [
        ("a.txt", b"a"), ("sub", None), ("sub/" + "n" * 300, b"lost"), ("sub/z.txt", b"z"),
        ("sub/inner", None), ("sub/inner/deeper.txt", b"deeper"), ("z.txt", b"zz"),
        ("x" * 300, None), ("x" * 300 + "/under.txt", b"lost too"),
    ]
    with pytest.raises(ShoalError) as e:
        write_host_tree(tree, out)
    msg = str(e.value)
    assert "\n" not in msg and "3 entries" in msg and "file name too long" in msg, msg
    assert tree_of(out) == [(b"a.txt", b"a"), (b"sub", None), (b"sub/inner", None),
                            (b"sub/inner/deeper.txt", b"deeper"), (b"sub/z.txt", b"z"),
                            (b"z.txt", b"zz")]


def test_a_hard_link_in_the_directory_does_not_lead_out_of_it(programs: Programs, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret\n")
    (outside / "kept").write_bytes(b"kept\n")
    d = tmp_path / "fs"
    d.mkdir()
    os.link(outside / "secret", d / "hard")
    os.link(outside / "kept", d / "same")
    (d / "script").write_bytes(b"old\n")
    os.chmod(d / "script", 0o751)
    b = programs["fs_names"]
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(d), str(b.elf), "put", "hard", "rewritten\n")
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    assert (outside / "secret").read_bytes() == b"secret\n"
    assert (d / "hard").read_bytes() == b"rewritten\n" and os.stat(d / "hard").st_nlink == 1
    assert os.stat(d / "same").st_ino == os.stat(outside / "kept").st_ino  # unchanged: left alone
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(d), str(b.elf), "put", "script", "new\n")
    assert res.returncode == 0, res.stderr
    assert (d / "script").read_bytes() == b"new\n"
    assert stat.S_IMODE(os.stat(d / "script").st_mode) == 0o751  # a replaced file keeps its mode
    assert not [n for n in os.listdir(d) if n.startswith(".shoal")]  # no temporary left


def test_links_in_fs_out_are_replaced_never_followed(programs: Programs, tmp_path: Path) -> None:
    """A --fs-out holding anything is refused before the run, links left unfollowed; the
    write-back replaces a link the guest had (in the tree read at the start) by what the guest
    made of that name, never writing through it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret\n")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside / "secret", out / "res.txt")
    os.symlink(outside, out / "sub")
    b = programs["fs_names"]
    res = shoal_cli("run", "--chip", "tiny", "--fs-out", str(out), str(b.elf), "put", "res.txt", "mine\n")
    assert "not empty" in assert_one_line_error(res)
    assert sorted(os.listdir(out)) == ["res.txt", "sub"] and os.path.islink(out / "res.txt")
    write_host_tree([("res.txt", b"mine\n")], out, before=[("res.txt", None), ("sub", None)])
    assert (outside / "secret").read_bytes() == b"secret\n" and os.listdir(outside) == ["secret"]
    assert tree_of(out) == [(b"res.txt", b"mine\n")]


def test_a_fifo_in_fs_out_is_replaced_without_being_opened(programs: Programs, tmp_path: Path) -> None:
    """It hung the run for ever: the write-back read it to compare contents. Now a --fs-out
    that holds one is refused before the run; and the write-back, given FIFOs as entries the
    guest had and removed or replaced, removes them without opening them."""
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "res.txt")
    os.mkfifo(out / "other")
    (out / "dir").mkdir()
    os.mkfifo(out / "dir" / "pipe")
    with open(os.path.join(os.fsencode(out), b"not-utf8-\xff"), "wb") as f:
        f.write(b"x")
    b = programs["fs_names"]
    res = shoal_cli("run", "--chip", "tiny", "--fs-out", str(out), str(b.elf), "put", "res.txt", "mine\n",
                    timeout=60)
    assert "not empty" in assert_one_line_error(res)
    known = [("res.txt", None), ("other", None), ("dir", None), ("dir/pipe", None)]
    with pytest.raises(ShoalError, match="1 entry"):  # the host's own file stays, named
        write_host_tree([("res.txt", b"mine\n"), (os.fsdecode(b"not-utf8-\xff"), b"y")], out, before=known)
    assert tree_of(out) == [(b"not-utf8-\xff", b"x"), (b"res.txt", b"mine\n")]


def test_write_back_removes_only_what_the_guest_had(tmp_path: Path) -> None:
    """`--fs-out ~` emptied a home directory, `--fs-out /` a machine: the write-back removed
    whatever was not in the guest's tree. Only entries of the tree read at the start go now;
    what appeared on the host meanwhile (files, a directory with files) stays."""
    out = tmp_path / "d"
    (out / "gone").mkdir(parents=True)
    (out / "gone" / "old.txt").write_bytes(b"old")
    (out / "kept.txt").write_bytes(b"kept")
    before = [("gone", None), ("gone/old.txt", b"old"), ("kept.txt", b"kept")]
    (out / "gone" / "host-new.txt").write_bytes(b"the host's")  # (made during the run)
    (out / "host-dir").mkdir()
    (out / "host-dir" / "f").write_bytes(b"f")
    with pytest.raises(ShoalError, match="could not remove it"):  # gone/ keeps the host's file
        write_host_tree([("kept.txt", b"kept"), ("new.txt", b"new")], out, before)
    assert tree_of(out) == [(b"gone", None), (b"gone/host-new.txt", b"the host's"), (b"host-dir", None),
                            (b"host-dir/f", b"f"), (b"kept.txt", b"kept"), (b"new.txt", b"new")]
    write_host_tree([], out, before=[])  # nothing read: nothing removed
    assert len(tree_of(out)) == 6


def test_a_host_name_that_is_not_utf8_is_refused_in_one_line(programs: Programs, tmp_path: Path) -> None:
    d = tmp_path / "fs"
    (d / "sub").mkdir(parents=True)
    (d / "ok.txt").write_bytes(b"ok\n")
    with open(os.path.join(os.fsencode(d / "sub"), b"bad\xff.txt"), "wb") as f:
        f.write(b"x")
    b = programs["fs_names"]
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(d), str(b.elf), "cat", "ok.txt")
    err = assert_one_line_error(res)
    assert "sub/bad\\xff.txt" in err and "UTF-8" in err, err
    assert res.stdout == b""


def test_load_fs_refuses_names_the_host_could_not_hold_again() -> None:
    from shoal import Chip
    for name, why in (("n" * 256, "longer than 255 bytes"), ("\udcff", "not UTF-8"),
                      ("a/..", "not a file name")):
        with pytest.raises(ShoalError, match=why):
            Chip.preset("tiny").load_fs([("a", None), (name, b"")])
    c = Chip.preset("tiny")
    deep = [("/".join(["d" * 250] * (i + 1)), None) for i in range(20)]  # paths up to ~5000 bytes
    c.load_fs([*deep, (deep[-1][0] + "/f", b"x")])
    assert c.fs_tree() == [*deep, (deep[-1][0] + "/f", b"x")]


def test_cli_an_entry_the_host_refuses_is_named_at_the_end_and_the_rest_written(programs: Programs,
                                                                                tmp_path: Path) -> None:
    """An immutable file (chattr +i) in DIR, which the guest rewrites: the host refuses to
    replace it; every other entry still arrives, then one line and a non-zero exit."""
    d = tmp_path / "fs"
    d.mkdir()
    keep = d / "a_first.txt"
    keep.write_bytes(b"old\n")
    if subprocess.run(["chattr", "+i", str(keep)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        b = programs["fs_names"]
        res = shoal_cli("run", "--chip", "tiny", "--fs", str(d), str(b.elf), "rename")
        nat = tmp_path / "native"
        nat.mkdir()
        assert res.stdout == native(b, ["fs_names", "rename"], nat).stdout
        err = assert_one_line_error(res)
        assert "1 entry" in err and "a_first.txt: operation not permitted" in err, err
        assert keep.read_bytes() == b"old\n"
        (nat / "a_first.txt").write_bytes(b"old\n")
        assert tree_of(d) == tree_of(nat)  # all else, the long paths and z_last.txt included
    finally:
        subprocess.run(["chattr", "-i", str(keep)], capture_output=True)


def test_deep_combs_round_trip_with_few_descriptors(tmp_path: Path) -> None:
    """150 levels with a file before and after each subdirectory: the walks go back up to
    directories whose descriptors were closed (at most _Dirs.CAP stay open) and open them
    again; read, write-back and removal all see every entry."""
    from shoal.spec import ChipSpec
    from shoal.tools.hostfs import read_host_tree

    tree: list[tuple[str, bytes | None]] = []
    prefix = ""
    for i in range(150):
        tree += [(f"{prefix}a.txt", b"a%d" % i), (f"{prefix}d", None)]
        prefix += "d/"
    tree += [(p[:-len("d/")] + "z.txt", b"z") for p in ("d/" * (i + 1) for i in range(150))]
    src, out = tmp_path / "src", tmp_path / "out"
    fds = len(os.listdir("/proc/self/fd"))
    write_host_tree(tree, src)
    got = read_host_tree(src, ChipSpec.preset("tiny"))
    assert sorted(got) == sorted(tree)
    seen: set[str] = set()
    for p, _ in got:  # parents first
        assert p.rpartition("/")[0] in seen | {""}
        seen.add(p)
    out.mkdir()
    (out / "d").mkdir()
    os.link(src / "a.txt", out / "a.txt")
    write_host_tree(got, out, before=[("a.txt", b"a0"), ("d", None)])  # (as if read from out)
    assert tree_of(out) == tree_of(src)
    write_host_tree([("d", b"now a file")], out, before=got)
    assert tree_of(out) == [(b"d", b"now a file")]
    assert tree_of(src)[0] == (b"a.txt", b"a0")
    assert len(os.listdir("/proc/self/fd")) == fds  # every descriptor closed

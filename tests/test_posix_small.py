"""The small things a libc relies on (issue 22): /tmp, /dev/null, /dev/zero, /dev/urandom, dup
of every descriptor with one shared offset, rlimits, record locks, a working directory and
argv[0]. tests/programs/posix_small.c, run on the chip and natively (host gcc) with the same
argv, prints the same bytes; where the host's behaviour is not the chip's, Linux's documented
behaviour is checked instead."""

from __future__ import annotations

from pathlib import Path

from conftest import Programs, assert_same, run_native, run_shoal, shoal_cli


def test_tmp_exists_sticky_and_tmpfile_mkstemp_work(programs: Programs) -> None:
    b = programs["posix_small"]
    p, _ = run_shoal(b, ["posix_small", "tmp"])
    assert_same(p, run_native(b, ["posix_small", "tmp"]))
    assert b"sticky 1 mode 777" in p.stdout


def test_tmp_in_a_host_tree_comes_back_only_if_the_program_left_files(programs: Programs,
                                                                      tmp_path: Path) -> None:
    elf = str(programs["posix_small"].elf)
    (tmp_path / "keep.txt").write_bytes(b"x")
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(tmp_path), elf, "tmp")
    assert res.returncode == 0, res.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.txt"]  # no empty tmp made
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(tmp_path), elf, "tmpkeep")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "tmp" / "left.txt").read_bytes() == b"left behind\n"
    # The host's own tmp is the guest's /tmp (files in it kept).
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(tmp_path), elf, "tmp")
    assert res.returncode == 0 and b"tmpfile read back: hello tmpfile" in res.stdout, res.stderr
    assert (tmp_path / "tmp" / "left.txt").exists()

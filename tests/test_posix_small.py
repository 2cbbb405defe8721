"""The small things a libc relies on (issue 22): /tmp, /dev/null, /dev/zero, /dev/urandom, dup
of every descriptor with one shared offset, rlimits, record locks, a working directory and
argv[0]. tests/programs/posix_small.c, run on the chip and natively (host gcc) with the same
argv, prints the same bytes; where the host's behaviour is not the chip's, Linux's documented
behaviour is checked instead."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import Programs, assert_same, run_native, run_shoal, shoal_cli

from shoal import Chip


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


def test_dev_null_zero_urandom_as_linux(programs: Programs) -> None:
    b = programs["posix_small"]
    p, _ = run_shoal(b, ["posix_small", "dev"])
    assert_same(p, run_native(b, ["posix_small", "dev"]))
    assert b"read wronly null = -1 errno 9" in p.stdout and b"rdev 1:9" in p.stdout


def _rand(b: object, first: str, seed: int) -> list[bytes]:
    c = Chip.preset("tiny", seed=seed)
    p = c.spawn(b.elf, ["posix_small", "rand", first])  # type: ignore[attr-defined]
    c.run()
    assert p.returncode == 0, p.message
    return [line.split()[1] for line in p.stdout.splitlines()]


def test_urandom_is_the_seeded_generator_getrandom_uses(programs: Programs) -> None:
    b = programs["posix_small"]
    u = _rand(b, "u", 7)
    assert u == _rand(b, "u", 7)  # deterministic per run seed
    assert _rand(b, "g", 7) == u  # one stream, whichever call draws from it
    assert _rand(b, "u", 8) != u and u[0] != u[1]


def test_dup_of_console_and_files_shares_one_open_file(programs: Programs) -> None:
    b = programs["posix_small"]
    p, _ = run_shoal(b, ["posix_small", "dup"])
    assert_same(p, run_native(b, ["posix_small", "dup"]))
    assert b"file holds 31: 0123456789dup2 file onto stdout" in p.stderr


def test_dups_stay_one_open_file_after_a_migration(programs: Programs) -> None:
    b = programs["posix_small"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["posix_small", "migdup", "3"], cluster=1)
    c.run()
    assert p.returncode == 0, p.message
    assert p.cluster == 3
    assert p.stdout.decode().splitlines() == [
        "on 3", "cwd /tmp", "NOFILE: rc 0 soft 40 hard 50", "offset of the original = 3 errno 0",
        "read the dup = 2 errno 0", "  got de",
        "out", "write the dup of stdout = 4 errno 0", "read the dup of zero = 4 errno 0"]


def test_rlimits_lower_raise_soft_and_refuse_raising_hard(programs: Programs) -> None:
    b = programs["posix_small"]
    p, _ = run_shoal(b, ["posix_small", "rlimit"])
    want = run_native(b, ["posix_small", "rlimit"]).stdout.splitlines()
    got = p.stdout.splitlines()
    # The host's root may hold CAP_SYS_RESOURCE; no process on the chip does.
    assert got[:-1] == want[:-1] and got[-1] == b"raise AS hard = -1 errno 1", p.stdout
    assert b"open at the limit = -1 errno 24" in p.stdout


def test_record_locks_are_granted_with_linux_checks(programs: Programs) -> None:
    b = programs["posix_small"]
    p, _ = run_shoal(b, ["posix_small", "lock"])
    assert_same(p, run_native(b, ["posix_small", "lock"]))
    assert b"write lock on O_RDONLY = -1 errno 9" in p.stdout and b"  l_type 2 start 0 len 5" in p.stdout


def test_a_working_directory_for_relative_paths_chdir_fchdir_getcwd(programs: Programs,
                                                                    tmp_path: Path) -> None:
    b = programs["posix_small"]
    p, c = run_shoal(b, ["posix_small", "cwd", "/tmp"])
    assert_same(p, run_native(b, ["posix_small", "cwd", str(tmp_path)]))
    assert b"  cwd TOP/a/b\nmkdir c = 0" in p.stdout and b"fchdir bad fd = -1 errno 9" in p.stdout
    assert c.fs_tree() == []  # it cleaned up, relative paths and all


def test_a_spawned_child_starts_in_its_parents_working_directory(programs: Programs) -> None:
    b = programs["posix_small"]
    c = Chip.preset("tiny")
    c.add_file("posix_small", b.elf.read_bytes())
    p = c.spawn(b.elf, ["posix_small", "spawn"])
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout.decode().splitlines() == [
        "spawn = 1 errno 0", "wait = 1 errno 0", "child status 0", "child: argv[0] posix_small cwd /tmp",
        "wait no-argv child = 1 errno 0", "its status 512",
        "its argv[0] ./sub/../posix_small"]


def test_argv0_is_the_path_as_typed(programs: Programs, tmp_path: Path) -> None:
    b = programs["args"]
    for side, src in (("chip", b.elf), ("host", b.native)):
        (tmp_path / side / "dir").mkdir(parents=True)
        shutil.copy(src, tmp_path / side / "dir" / "prog")
    res = shoal_cli("run", "--chip", "tiny", "./dir/prog", "7", cwd=tmp_path / "chip")
    want = subprocess.run(["./dir/prog", "7"], cwd=tmp_path / "host", capture_output=True, env={})
    assert res.returncode == want.returncode == 7
    assert res.stdout == want.stdout and b"argv[0] (10) [./dir/prog]" in res.stdout


def test_access_and_faccessat_as_linux_answers_root(programs: Programs, tmp_path: Path) -> None:
    # faccessat (48) and faccessat2 (439) were ENOSYS: every access() failed.
    b = programs["access"]
    native = subprocess.run([str(b.native)], capture_output=True, cwd=tmp_path, timeout=60)
    assert native.returncode == 0, native.stderr
    p, _ = run_shoal(b, ["access"])
    assert p.returncode == 0 and p.stdout == native.stdout, p.stdout.decode()
    assert b"X_OK plain                   -1 Permission denied" in p.stdout  # root: needs an x bit
    # A file given read-only (--file): readable, and writing it is EROFS, as open(O_WRONLY) says.
    given = tmp_path / "given.txt"
    given.write_text("hi\n")
    res = shoal_cli("run", "--file", str(given), str(b.source), "--file", "/given.txt")
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr
    assert "R_OK given file              0 ok" in out
    assert "W_OK given file              -1 Read-only file system" in out


def test_umask_positioned_vectors_and_what_the_system_says(programs: Programs, tmp_path: Path) -> None:
    """umask (applied to open and mkdir), preadv/pwritev (the descriptor's offset kept; ESPIPE,
    EBADF, EINVAL), sync, posix_fadvise, times, getrusage and sysinfo: as the host build."""
    b = programs["posix_more"]
    p, _ = run_shoal(b, ["posix_more", "/tmp"])
    assert_same(p, run_native(b, ["posix_more", str(tmp_path)]))
    assert not p.record.unknown_syscalls


def test_chmod_and_file_times_as_native(programs: Programs, tmp_path: Path) -> None:
    """chmod, fchmod, fchmodat, utimensat, futimens (UTIME_OMIT, UTIME_NOW, errors): as the host."""
    b = programs["chmod_times"]
    p, _ = run_shoal(b, ["chmod_times", "/tmp"])
    assert_same(p, run_native(b, ["chmod_times", str(tmp_path)]))


def test_a_read_only_file_refuses_chmod_and_utimensat(tmp_path: Path) -> None:
    """A --file file is read-only (EROFS), as a file on a read-only file system."""
    from shoal import Chip
    from shoal.toolchain import compile_cached
    src = tmp_path / "ro.c"
    src.write_text('#include <stdio.h>\n#include <errno.h>\n#include <fcntl.h>\n#include <sys/stat.h>\n'
                   'int main(void) { int a = chmod("/data.txt", 0600); int ea = errno;\n'
                   '  int b = utimensat(AT_FDCWD, "/data.txt", 0, 0); int eb = errno;\n'
                   '  printf("%d %d %d %d\\n", a, ea, b, eb); return 0; }\n')
    c = Chip.preset("tiny")
    c.add_file("data.txt", b"hello")
    p = c.spawn(compile_cached([src]), ["ro"])
    c.run()
    assert p.stdout == b"-1 30 -1 30\n"


def test_truncate_by_path_as_native(programs: Programs) -> None:
    """truncate(2) (it was ENOSYS): grow with zeros, shrink, through a link, and Linux's errno
    values for a missing file, a path through a file, a directory, a negative length."""
    b = programs["truncate"]
    p, _ = run_shoal(b, ["truncate"])
    assert_same(p, run_native(b, ["truncate"]))
    assert b"shrink = 0 errno 0\nsize 5\n" in p.stdout and b"a directory = -1 errno 21" in p.stdout

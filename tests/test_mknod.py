"""mknod/mknodat and mkfifo (kernel/calls/fs.py sys_mknodat). A regular file is made as on
Linux (checked against the host gcc build in a host directory), a FIFO is a named pipe
(tests/test_fifo.py); a device or a socket gets EPERM, mknod(2)'s answer for a file system
that does not hold that type of node, and nothing is made (before: ENOSYS, "no such call")."""

from __future__ import annotations

from pathlib import Path

from conftest import Programs, assert_same, run_native, run_shoal


def test_mknod_makes_regular_files_as_linux(programs: Programs, tmp_path: Path) -> None:
    b = programs["mknod"]
    expected = run_native(b, ["mknod", str(tmp_path)])
    assert expected.stdout.startswith(b"mknod S_IFREG: ok\n  regular 1 mode 644 size 0\n")
    p, _ = run_shoal(b, ["mknod", "/tmp"])
    assert_same(p, expected)


def test_mkfifo_makes_a_fifo_and_device_nodes_are_refused_with_eperm(programs: Programs) -> None:
    p, _ = run_shoal(programs["mknod"], ["mknod", "/tmp", "nodes"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith(b"mknod bad type: Invalid argument\nmkfifo: ok\n"
                             b"mknod S_IFIFO again: File exists\n  fifo 1 mode 600\nunlink fifo: ok\n"
                             b"mknod S_IFCHR: Operation not permitted\n"
                             b"mknod S_IFSOCK: Operation not permitted\n"
                             b"fifo absent: No such file or directory\n"), p.stdout

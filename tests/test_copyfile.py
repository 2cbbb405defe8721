"""close_range, sendfile and copy_file_range (kernel/calls/copy.py): tests/programs/copyfile.c on
the chip and natively (host gcc) prints the same bytes, errors included, sendfile to the console
too."""

from __future__ import annotations

from conftest import Programs, assert_same, run_native, run_shoal


def test_copies_and_close_range_as_linux(programs: Programs) -> None:
    b = programs["copyfile"]
    p, _ = run_shoal(b, ["copyfile"])
    assert_same(p, run_native(b, ["copyfile"]))
    out = p.stdout.decode()
    assert "sendfile at 100 = 50 errno 0\n  off 150, in offset 5000" in out
    assert "copy_file_range overlap = -1 errno 22" in out and "closed from 6: 3 5c" in out
    assert not p.record.unknown_syscalls


def test_sendfile_to_the_console_copies_as_linux(programs: Programs) -> None:
    b = programs["copyfile"]
    native = run_native(b, ["copyfile", "console"])
    assert native.stdout == b"hello\n" and native.stderr == b"sendfile to stdout = 6 errno 0\n"
    p, _ = run_shoal(b, ["copyfile", "console"])
    assert_same(p, native)
    assert not p.record.unknown_syscalls  # (no longer refused: tests/test_posix_left.py has the rest)

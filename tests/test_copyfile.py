"""close_range, sendfile and copy_file_range (kernel/calls/copy.py): tests/programs/copyfile.c on
the chip and natively (host gcc) prints the same bytes, errors included; sendfile to the console
is refused and counted."""

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


def test_sendfile_to_the_console_is_refused_and_counted(programs: Programs) -> None:
    b = programs["copyfile"]
    assert run_native(b, ["copyfile", "console"]).stdout == b"hello\n"  # (Linux copies)
    p, _ = run_shoal(b, ["copyfile", "console"])
    assert p.returncode == 0 and p.stdout == b""
    assert p.stderr == b"sendfile to stdout = -1 errno 22\n"
    assert dict(p.record.unknown_syscalls) == {71: 1}

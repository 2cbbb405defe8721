"""mremap (issue 22, part 5): tests/programs/mremap.c on the chip and natively (host gcc)
prints the same bytes: growing in place or moving with the contents, shrinking, MREMAP_FIXED,
Linux's errors (EINVAL, EFAULT, ENOMEM), a large realloc (musl's uses mremap)."""

from __future__ import annotations

from conftest import Programs, assert_same, run_native, run_shoal


def test_mremap_as_native(programs: Programs) -> None:
    b = programs["mremap"]
    p, _ = run_shoal(b, ["mremap"])
    assert_same(p, run_native(b, ["mremap"]))
    assert b"grow fixed in place -12\ngrow moved 0 moved 1 kept 1\n" in p.stdout
    assert b"zero old length -22\nzero old length in place -22\nzero old length unmapped -14\n" in p.stdout
    assert p.record.syscalls["mremap"] >= 10 and not p.record.unknown_syscalls

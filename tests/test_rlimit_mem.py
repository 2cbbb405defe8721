"""RLIMIT_DATA and RLIMIT_AS enforced (issue 22, part 5): tests/programs/rlimit_mem.c on the chip
and natively (host gcc) prints the same bytes: Linux's may_expand_vm for mmap and mprotect (a
data soft limit of 0 meaning the hard one, Valgrind's case), check_data_rlimit for brk, shared
and read-only mappings outside RLIMIT_DATA, MAP_FIXED over a mapping, limits put back."""

from __future__ import annotations

import pytest
from conftest import Programs, assert_same, run_native, run_shoal


@pytest.mark.parametrize("mode", ["data", "as"])
def test_memory_limits_as_native(programs: Programs, mode: str) -> None:
    b = programs["rlimit_mem"]
    p, _ = run_shoal(b, ["rlimit_mem", mode])
    assert_same(p, run_native(b, ["rlimit_mem", mode]))
    want = b"mmap private rw 0 12\n" if mode == "data" else b"mmap none 0 12\n"
    assert want in p.stdout

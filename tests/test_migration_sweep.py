"""Migrations lose nothing, whatever the program and the moment (bench/migration_sweep.py, cut
down): each of shoal's own multi-process and threaded test programs, moved at 3/8 and 6/8 of
its run by stop-and-copy, pre-copy and post-copy, prints what it prints unmoved and ends, on
mppa256 and on tiny (where its pages also go to remote memory). The bench runs 7 moments; the
programs whose output depends on timing a move changes are left to it (their reasons there)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import migration_sweep as ms  # noqa: E402

CASES = [(n, a) for n, a in ms.CASES if n not in ms.TIMING]


@pytest.mark.parametrize("chip", ["mppa256", "tiny"])
@pytest.mark.parametrize(("name", "args"), CASES, ids=[" ".join([n, *a]) for n, a in CASES])
def test_a_moved_process_loses_nothing(chip: str, name: str, args: list[str]) -> None:
    r = ms.sweep(chip, name, args, eighths=(3, 6))
    assert r["moved"] >= 3, r  # (most runs did move a process)
    assert not r["differ"], r["differ"][0]

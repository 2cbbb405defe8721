"""System V IPC (issue 22 part 4): tests/programs/sysv.c on the chip and natively (host gcc),
stdout equal: one process, a parent and its forked children on one cluster, and two
processes on two clusters (daemons/sysv.py, kernel/calls/sysv.py)."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import Programs, assert_no_frame_leak, run_native

from shoal import Chip


@pytest.mark.parametrize("mode", ["basic", "fork"])
def test_mode_as_native(programs: Programs, mode: str) -> None:
    b = programs["sysv"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["sysv", mode], cluster=0)
    c.run()
    native = run_native(b, ["sysv", mode])
    assert p.stdout.decode() == native.stdout.decode(), p.message
    assert p.returncode == native.returncode == 0, p.message
    assert c.daemon_stats()["sysv_msg"] == c.daemon_stats()["sysv_sem"] == 0  # all removed
    assert_no_frame_leak(c)

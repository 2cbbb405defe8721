"""A handler for SIGBUS on shared memory past its object's end (adversarial round of issue 19):
Linux runs it (si_code BUS_ADRERR, si_addr the byte touched), and only a blocked or default
SIGBUS ends the process. The host's build run beside it gives the expected output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak

from shoal import Chip
from shoal.toolchain import compile_cached

SIGBUS_C = PROGRAMS / "shm_sigbus.c"


@pytest.mark.parametrize("cluster", [0, 3])
def test_a_sigbus_handler_runs_for_a_touch_past_the_end(tmp_path: Path, cluster: int) -> None:
    exe = tmp_path / "shm_sigbus"
    res = subprocess.run(["gcc", "-O2", str(SIGBUS_C), "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    nat = subprocess.run([str(exe), f"/shoal_sigbus_{tmp_path.name}"], capture_output=True, timeout=60)
    assert nat.returncode == -7  # SIGBUS, once it is blocked
    assert nat.stdout.count(b"signal 7 code 2") == 4
    c = Chip.preset("tiny")
    p = c.spawn(compile_cached([SIGBUS_C], SHOAL_FLAGS), ["shm_sigbus", "/b"], cluster=cluster)
    c.run()
    assert p.stdout == nat.stdout
    assert p.signal == 7, p.message
    assert "bus error" in p.message
    assert_no_frame_leak(c)

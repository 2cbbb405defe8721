"""Signals with handlers (issue 22): tests/programs/signals.c, one mode per test, run on the
chip and natively (host gcc); the outputs must be the same bytes (exit status included)."""

from __future__ import annotations

import pytest
from conftest import Programs, assert_same, run_native, run_shoal

from shoal import Chip


@pytest.mark.parametrize("mode", ["basic", "masks", "altstack", "fault", "errors", "eintr", "cancel"])
def test_signal_mode_as_native(programs: Programs, mode: str) -> None:
    b = programs["signals"]
    p, _ = run_shoal(b, ["signals", mode])
    assert_same(p, run_native(b, ["signals", mode]))


def test_default_actions_are_named(programs: Programs) -> None:
    b = programs["signals"]
    p, _ = run_shoal(b, ["signals", "basic"])
    assert p.message == "killed: SIGUSR2" and p.returncode == 128 + 12
    p, _ = run_shoal(b, ["signals", "fault"])
    assert p.returncode == 128 + 11 and "store page fault at 0x00000010" in p.message


def test_signals_between_processes_on_two_clusters(programs: Programs) -> None:
    b = programs["signals"]
    c = Chip.preset("tiny")
    c.add_file("signals", b.elf.read_bytes())
    p = c.spawn(b.elf, ["signals", "pair"], cluster=0)
    c.run()
    native = run_native(b, ["signals", "pair"])
    lines = native.stdout.decode().splitlines(keepends=True)
    assert lines[0].startswith("child: sig 10 code -1 value 7")
    assert p.stdout.decode() == "".join(lines[1:]), p.message
    assert p.returncode == 0
    kids = {r.pid: r for r in c.processes() if r.pid != p.pid}
    assert sorted(r.cluster for r in kids.values()) == [1, 2]
    outs = [c._backend.daemons("output", pid)[0].decode() for pid in kids]
    assert lines[0] in outs


def test_handler_and_pending_signal_survive_a_migration(programs: Programs) -> None:
    b = programs["signals"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["signals", "mig"], cluster=1)
    c.run()
    assert p.cluster == 2
    assert_same(p, run_native(b, ["signals", "mig"]))


def test_tampered_signal_state_in_an_image_is_one_error() -> None:
    from shoal.errors import ShoalError
    from shoal.kernel import imageschema
    good = {"actions": {"10": [4096, 4, 0]}, "threads": {"5": {"mask": 2, "pending": [[12, 0, 0, 1, 0, 0]],
                                                                "alt": [0, 0, 2]}}}
    imageschema._validate_signals(good, {5})
    for bad in ({"actions": {"99": [1, 0, 0]}}, {"pending": [[0, 0, 0, 0, 0, 0]]},
                {"threads": {"6": {"mask": 0, "pending": [], "alt": [0, 0, 2]}}},
                {"threads": {"5": {"mask": -1, "pending": [], "alt": [0, 0, 2]}}}):
        with pytest.raises((imageschema._Bad, ShoalError)):
            imageschema._validate_signals(bad, {5})

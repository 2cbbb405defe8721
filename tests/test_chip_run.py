"""Chip.run as the host drives it: a run paused by `until()` (the GDB stub's pause) leaves the
chip's clock where it stopped, and a hook's exception is raised, not swallowed."""

from __future__ import annotations

from conftest import Programs

from shoal import Chip


def test_a_paused_run_moves_the_clock_to_where_the_chip_stopped(programs: Programs) -> None:
    """Paused at "before" (20 ms in), the clock is between there and "after" (30 ms); a later
    run for 15 ms counts from the pause, so the program (10 ms from its end) ends in it."""
    b = programs["pause_clock"]
    c = Chip.preset("tiny")
    ms = c.spec.cluster.freq_hz // 1000
    p = c.spawn(b.elf, ["pause_clock"], cluster=1)
    c.run(until=lambda: b"before" in p.stdout)
    assert p.stdout == b"before\n" and not p.done
    paused = c.time
    assert 20 * ms <= paused < 30 * ms, paused
    c.run(max_cycles=15 * ms)
    assert p.done and p.returncode == 0 and p.stdout == b"before\nafter\n", p.message
    assert 30 * ms <= c.time <= paused + 15 * ms


def test_a_pause_never_moves_the_clock_back_nor_past_the_limit(programs: Programs) -> None:
    b = programs["pause_clock"]
    c = Chip.preset("tiny")
    ms = c.spec.cluster.freq_hz // 1000
    p = c.spawn(b.elf, ["pause_clock"], cluster=0)
    c.run(max_cycles=5 * ms)
    assert c.time == 5 * ms and not p.stdout
    c.run(until=lambda: True)  # paused before any round: the clock stays
    assert c.time == 5 * ms
    c.run(max_cycles=20 * ms, until=lambda: b"before" in p.stdout)
    assert p.stdout == b"before\n" and 20 * ms <= c.time <= 25 * ms
    c.run()
    assert p.stdout == b"before\nafter\n" and c.time >= 30 * ms

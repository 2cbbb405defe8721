"""Timers that signal (kernel/timers.py, kernel/calls/timer.py): alarm, setitimer, POSIX
timers, on the chip and natively (host gcc), in simulated time, across a migration."""

from __future__ import annotations

import pytest
from conftest import Programs, assert_same, run_native, run_shoal

from shoal import Chip
from shoal.errors import ShoalError


def test_timers_as_native(programs: Programs) -> None:
    b = programs["timers"]
    p, _ = run_shoal(b, ["timers"])
    assert_same(p, run_native(b, ["timers"]))


def test_a_timer_finer_than_its_signal_is_taken_counts_overruns(programs: Programs) -> None:
    """A 10 ns POSIX timer (and a 1 us ITIMER_REAL) whose signal stays blocked: its expiries
    are overruns counted when the signal is taken, then it runs again; the host's counts
    (same tolerance) and the chip's agree, and the chip does not spend a host event on each of
    the ~10 M expiries (the run is bounded by pytest's own time, and by a fresh count)."""
    b = programs["timer_tiny"]
    c = Chip.preset("mppa256")
    p = c.spawn(b.elf, ["timer_tiny"])
    c.run()
    assert p.done and p.returncode == 0, p.message
    assert b"overruns ok, timer_getoverrun ok" in p.stdout
    assert c.rounds < 100_000, c.rounds  # (one per expiry would be ~10 M)
    assert_same(p, run_native(b, ["timer_tiny"]))


def test_a_periodic_timer_keeps_simulated_time() -> None:
    """30 expiries of a 1 ms timer take 30 ms of the process's time, to a few microseconds
    (the calls around them), on an idle chip."""
    from conftest import PROGRAMS, SHOAL_FLAGS

    from shoal.toolchain import compile_cached
    elf = compile_cached([PROGRAMS / "timer_mig.c"], SHOAL_FLAGS)
    c = Chip.preset("mppa256")
    p = c.spawn(elf, ["timer_mig", "30", "show"])
    c.run()
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "30 alarms"
    us = int(lines[1].split()[1])
    assert 30_000 <= us <= 30_050, us


@pytest.mark.parametrize("method", ["stopcopy", "postcopy"])
def test_a_timer_goes_with_a_migrated_process(programs: Programs, method: str) -> None:
    b = programs["timer_mig"]
    c = Chip.preset("mppa256", migration=method)
    p = c.spawn(b.elf, ["timer_mig", "30", "show"], cluster=0)
    c.schedule_migration(p.pid, 5, 4_000_000)  # at 10 ms: a third of the way
    c.run()
    assert [m.ok for m in p.migrations] == [True] and p.cluster == 5
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "30 alarms" == run_native(b, ["timer_mig", "30"]).stdout.decode().strip()
    # The process's clock leaves out the move (it goes on from where its image was taken),
    # and so does its timer: the 30 expiries still take 30 ms of its time.
    assert 30_000 <= int(lines[1].split()[1]) <= 30_100


def test_cpu_time_interval_timers_are_accepted_not_refused(tmp_path) -> None:  # noqa: ANN001
    """(They were refused, EINVAL and counted, until timers.py counted CPU time: test_cpu_timers.py.)"""
    src = tmp_path / "virt.c"
    src.write_text('#include <stdio.h>\n#include <errno.h>\n#include <sys/time.h>\n'
                   'int main(void) { struct itimerval it = {{0, 1000}, {0, 1000}};\n'
                   '  int r = setitimer(ITIMER_VIRTUAL, &it, 0); printf("%d %d\\n", r, errno); return 0; }\n')
    from shoal.toolchain import compile_cached
    c = Chip.preset("tiny")
    p = c.spawn(compile_cached([src]), ["virt"])
    c.run()
    assert p.stdout == b"0 0\n"
    assert p.record.unknown_syscalls == {}


def test_tampered_timers_in_an_image_are_one_error() -> None:
    from shoal.kernel import image
    base = {"timers": [[-1, 0, 14, 0, 0, 0, 400000, 400000, 0]]}
    for bad, what in (([[-1, 0, 14, 0, 0, 0, 400000, 400000, 0], [-1, 0, 14, 0, 0, 0, 1, 0, 0]], "twice"),
                      ([[0, 0, 99, 0, 0, 0, 1, 0, 0]], r"timers\[0\]\[2\]"),
                      ([[0, 0, 14, 3, 0, 0, 1, 0, 0]], "notification"),
                      ([[0, 0, 14, 0, 0, 0, -5, 0, 0]], r"timers\[0\]\[6\]"),
                      ([[0, 0, 14]], r"timers\[0\]")):
        meta, pages = _meta_with({"timers": bad})
        with pytest.raises(ShoalError, match=what) as e:
            image.validate(meta, pages)
        assert "\n" not in str(e.value)
    meta, pages = _meta_with(base)
    image.validate(meta, pages)


def _meta_with(extra: dict) -> tuple[dict, list]:
    """A valid image's metadata (a tiny process frozen on the chip), with `extra` keys."""
    from conftest import PROGRAMS, SHOAL_FLAGS

    from shoal.kernel import image
    from shoal.toolchain import compile_cached
    c = Chip.preset("tiny")
    p = c.spawn(compile_cached([PROGRAMS / "timer_mig.c"], SHOAL_FLAGS), ["timer_mig", "1000"])
    c.run(max_cycles=2_000_000)
    data = p.checkpoint(None, stop=True)
    meta, pages = image.check(data)  # the real one is good (and carries its timer)
    assert meta["timers"][0][0] == -1
    return {**meta, **extra}, pages


def test_a_tiny_timer_with_an_ignored_signal_costs_the_host_nothing(programs: Programs) -> None:
    """tests/programs/timer_ignored.c: a 4 ns periodic timer whose signal is ignored was
    rescheduled at every expiry, its signal dropped each time: one host event per 2 cycles
    (a 64 ms program ran 196 s of host time). It now waits while the signal is ignored, as
    Linux 6.11 parks it, and sends it once a handler is set; its overruns count meanwhile."""
    b = programs["timer_ignored"]
    c = Chip.preset("mppa256")
    p = c.spawn(b.elf, ["timer_ignored"])
    c.run()
    assert p.done and p.returncode == 0, p.message
    assert c.rounds < 10_000, c.rounds  # (one per expiry would be ~10 M)
    assert_same(p, run_native(b, ["timer_ignored"]))
    assert b"handled once the mask is down: 1, with overruns >= 2: 1" in p.stdout

"""CPU-time timers (kernel/timers.py): setitimer's ITIMER_VIRTUAL and ITIMER_PROF on the chip
and natively (host gcc) print the same (tests/programs/itimer_cpu.c: signals counted, not run
while asleep, read back, disarmed in a fork's child, EINVAL); they fire at the same simulated
time every run, and an armed one travels with a migrating process."""

from __future__ import annotations

from conftest import Programs, assert_same, run_native, run_shoal

from shoal import Chip


def test_virtual_and_prof_itimers_as_linux(programs: Programs) -> None:
    b = programs["itimer_cpu"]
    p, _ = run_shoal(b, ["itimer_cpu"])
    assert_same(p, run_native(b, ["itimer_cpu"]))
    out = p.stdout.decode()
    assert "vtalrm 3, old interval 10000 us" in out and "prof 2 vtalrm 3" in out
    assert "still > 40 ms left: 1" in out and "child: virtual 0 0" in out
    assert "setitimer(5) = -1 errno 22" in out


def test_cpu_timers_are_deterministic_and_follow_cpu_time(programs: Programs) -> None:
    """Two runs: the same cycles; the process's CPU time when the first SIGVTALRM came is
    10 ms of the model's cycles, not a slice (250 us) later."""
    runs = set()
    for _ in range(2):
        p, c = run_shoal(programs["itimer_cpu"], ["itimer_cpu"])
        runs.add((p.stdout, p.cycles, p.instructions))
    assert len(runs) == 1


def test_an_armed_virtual_timer_travels_with_a_migration(programs: Programs) -> None:
    b = programs["itimer_cpu"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["itimer_cpu"], cluster=1)
    c.run(max_cycles=6_000_000)  # 15 ms in: spinning under the 10 ms virtual timer
    c.migrate(p.pid, 3)
    c.run()
    assert p.returncode == 0, p.message
    assert any(m.ok and m.dst == 3 for m in c.migrations), c.migrations
    assert p.stdout == run_native(b, ["itimer_cpu"]).stdout


def test_posix_timers_on_cpu_clocks_and_overruns_as_linux(programs: Programs) -> None:
    """tests/programs/timer_cpu.c: timer_create on the process's, the calling thread's and
    another thread's CPU-time clock; an absolute expiry already past fires at once; EINVAL and
    EOPNOTSUPP (a clock device's id); a blocked signal's overruns are its si_overrun and what
    timer_getoverrun says once it is taken (0 before)."""
    b = programs["timer_cpu"]
    p, _ = run_shoal(b, ["timer_cpu"])
    assert_same(p, run_native(b, ["timer_cpu"]))
    out = p.stdout.decode()
    assert "after a 30 ms sleep, 10 ms CPU timer: 3 hits" in out and "worker's CPU timer: 8 hits" in out
    assert "absolute past: 5 hits" in out and "timer_create(which 3): errno 95" in out
    assert "before taking it: getoverrun 0\nsi_overrun in [15, 25]: 1, getoverrun the same: 1" in out


def test_a_timer_on_another_process_cpu_clock_is_refused_and_counted(tmp_path) -> None:  # noqa: ANN001
    """(Linux has them; shoal keeps a process's timers with it, not with another's clock.)"""
    src = tmp_path / "other.c"
    src.write_text('#include <stdio.h>\n#include <errno.h>\n#include <time.h>\n#include <unistd.h>\n'
                   '#include <sys/wait.h>\n#include <signal.h>\n'
                   'int main(void) { pid_t c = fork(); if (!c) { sleep(1); return 0; }\n'
                   '  clockid_t id; clock_getcpuclockid(c, &id); timer_t t;\n'
                   '  int r = timer_create(id, 0, &t); printf("%d %d\\n", r, errno); kill(c, 9);\n'
                   '  waitpid(c, 0, 0); return 0; }\n')
    from shoal.toolchain import compile_cached
    c = Chip.preset("tiny")
    p = c.spawn(compile_cached([src]), ["other"])
    c.run()
    assert p.stdout == b"-1 22\n"
    assert p.record.unknown_syscalls == {107: 1}


def test_a_blocked_timer_signal_keeps_its_overruns_across_a_migration(programs: Programs) -> None:
    """timer_cpu.c ends with a 1 ms timer whose signal is blocked for ~20 periods: the timer
    waits meanwhile and counts what it skipped when the signal is taken. Moved in that
    window, those expiries were lost (si_overrun 0 instead of 15-25): an image now carries
    them in the timer's overrun count. Moved at 3 points, by each method: as natively."""
    b = programs["timer_cpu"]
    want = run_native(b, ["timer_cpu"]).stdout
    whole = Chip.preset("mppa256")
    whole.spawn(b.elf, ["timer_cpu"], cluster=0)
    whole.run()
    end = max(r.end_cycle or 0 for r in whole.processes())
    for method in ("stopcopy", "precopy", "postcopy"):
        for eighth in (5, 6, 7):
            c = Chip.preset("mppa256")
            p = c.spawn(b.elf, ["timer_cpu"], cluster=0)
            c.run(max_cycles=end * eighth // 8)
            c.migrate(p.pid, to=4, method=method)
            c.run()
            assert p.stdout == want, (method, eighth)
            assert p.cluster == 4

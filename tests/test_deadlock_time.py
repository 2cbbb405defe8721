"""A process killed as deadlocked is stamped with the time its deadlock was established (the
latest cycle any of its threads reached), not with the host's last action: its simulated time
covers what it ran."""

from __future__ import annotations

import re

from conftest import PROGRAMS, SHOAL_FLAGS, shoal_cli

from shoal import Chip
from shoal.toolchain import compile_cached

DEADLOCK = PROGRAMS / "deadlock_late.c"


def test_a_deadlocked_process_reports_the_time_it_ran() -> None:
    res = shoal_cli("run", "--stats", str(DEADLOCK), "300000")
    err = res.stderr.decode()
    assert res.returncode == 137 and "killed: deadlock" in err and res.stdout == b""
    cycles = int(re.search(r"simulated time : (\d+) cycles", err).group(1))  # type: ignore[union-attr]
    insns = int(re.search(r"instructions   : (\d+)", err).group(1))  # type: ignore[union-attr]
    cpi = 1  # mppa256 (shoal/spec.py)
    assert insns > 1_000_000  # main's loop, nearly all of them on one thread
    assert insns * cpi <= cycles < insns * cpi * 1.1, (cycles, insns)


def test_the_deadlock_time_is_its_own_whatever_else_runs() -> None:
    elf = compile_cached([DEADLOCK], SHOAL_FLAGS)
    work = compile_cached([PROGRAMS / "trace_work.c"], SHOAL_FLAGS)

    def run(with_other: bool) -> tuple[int, int, int]:
        chip = Chip.preset("tiny")
        p = chip.spawn(elf, ["deadlock_late", "100000"], cluster=0)
        other = chip.spawn(work, ["trace_work", "200000"], cluster=1) if with_other else None
        chip.run()
        assert p.signal == 9 and "deadlock" in p.record.message
        if other is not None:
            assert other.returncode == 0 and other.record.end_cycle > p.record.end_cycle
        assert p.cycles is not None and chip.time >= p.record.end_cycle
        return p.cycles, p.instructions, chip.time

    alone, insns, t_alone = run(False)
    assert alone >= insns * Chip.preset("tiny").spec.costs.cpi and t_alone == alone
    busy, insns2, t_busy = run(True)
    assert (busy, insns2) == (alone, insns)  # stamped at its deadlock, not at the other's end
    assert t_busy > t_alone

"""The scheduler's hart lists (sched.Hart, sched.Schedule): `busy_harts`, the harts holding a
thread in index order, and `free_harts`, the others by (clock, index), are what a scan of every
hart would give, after every item the kernels take, while threads start, block, end, exec and freeze."""

from __future__ import annotations

import pytest
from conftest import PROGRAMS, run_native

from shoal import Chip
from shoal.kernel import sched
from shoal.kernel.kernel import Kernel
from shoal.toolchain import compile_cached


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Check both lists after every item of every kernel; how many items were checked."""
    taken = [0]
    real = sched.take

    def take(k: Kernel, key: tuple[int, int, int]) -> None:
        real(k, key)
        s = k.sched
        busy = [h for h in s.harts if h.thread is not None]
        free = sorted((h for h in s.harts if h.thread is None), key=lambda h: (h.clock, h.index))
        assert s.busy_harts == busy, f"cluster {k.cluster}: busy {s.busy_harts} != {busy}"
        assert s.free_harts == free, f"cluster {k.cluster}: free {s.free_harts} != {free}"
        # (the scan the list replaced: the free hart of least clock, the lowest on a tie)
        best = None
        for h in s.harts:
            if h.thread is None and (best is None or h.clock < best.clock):
                best = h
        assert sched._free_hart(k) is best
        taken[0] += 1
    monkeypatch.setattr(sched, "take", take)
    return taken


def test_threads_start_block_and_end(programs, checked: list[int]) -> None:
    b = programs["threads"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["threads", "6"])
    c.run()
    assert p.stdout == run_native(b, ["threads", "6"]).stdout and p.returncode == 0
    assert checked[0] > 30


def test_exec_and_exit_end_threads_on_their_harts(programs, checked: list[int]) -> None:
    """exec and exit_group take threads off harts from inside a slice (the running one's among
    them): the hart's clock moves after that, so its place among the free ones must too."""
    b = programs["fork"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["fork", "exec"])
    c.run()
    assert (p.stdout, p.returncode) == (run_native(b, ["fork", "exec"]).stdout, 0)
    assert checked[0] > 10


def test_a_process_frozen_and_moved_leaves_its_harts(checked: list[int]) -> None:
    c = Chip.preset("mppa256")
    p = c.spawn(compile_cached([PROGRAMS / "mig_threads.c"]), ["mig_threads", "2"])
    c.run()
    assert p.returncode == 0, p.message
    assert p.stderr == b"moved 2 of 2\n"
    assert checked[0] > 100


def test_threads_that_ended_leave_a_running_process(programs) -> None:  # noqa: ANN001
    """A process that makes and joins 400 threads, then sleeps: while it sleeps, the kernel
    holds one thread of it, not 401 (each ended one kept its record and its emulator context
    until the process ended: host memory grew with every thread a server made). Its figures
    still count them all: the same output as natively, 401 threads, the same instructions."""
    b = programs["thread_churn"]
    whole = Chip.preset("mppa256")
    q = whole.spawn(b.elf, ["thread_churn", "400"])
    whole.run()
    assert q.stdout == run_native(b, ["thread_churn", "400"]).stdout
    c = Chip.preset("mppa256")
    p = c.spawn(b.elf, ["thread_churn", "400"])
    c.run(max_cycles=q.record.end_cycle - 2_000_000)  # (5 ms before the end: asleep)
    (proc,) = [x for k in c._backend.kernels for x in k.procs if x.pid == p.pid]
    assert len(proc.threads) == 1
    assert p.record.threads == 401
    c.run()
    assert p.stdout == q.stdout and p.instructions == q.instructions
    assert p.record.threads == q.record.threads == 401

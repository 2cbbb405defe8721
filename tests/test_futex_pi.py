"""Priority-inheritance futexes and robust lists (issue 22, part 5): tests/programs/futex_pi.c, raw
FUTEX_LOCK_PI/TRYLOCK_PI/UNLOCK_PI (hand-over, EDEADLK, EPERM, ESRCH, ETIMEDOUT, EINVAL) and
PTHREAD_PRIO_INHERIT mutexes, prints the same bytes on the chip as the host build."""

from __future__ import annotations

import os

import pytest
from conftest import Programs, assert_same, run_native, run_shoal

from shoal import Chip


def test_pi_futexes_as_native(programs: Programs) -> None:
    b = programs["futex_pi"]
    p, _ = run_shoal(b, ["futex_pi"])
    assert_same(p, run_native(b, ["futex_pi"]))
    assert b"main unlock 0 owner other\nwaiter lock 0 owner me waiters 1\n" in p.stdout
    assert not p.record.unknown_syscalls, p.record.unknown_syscalls


def test_robust_lists_as_native(programs: Programs) -> None:
    """set_robust_list/get_robust_list (EINVAL, ESRCH), the kernel's walk when a thread ends by
    a raw exit (FUTEX_OWNER_DIED, FUTEX_WAITERS kept, a waiter woken, list_op_pending too), and
    robust mutexes, plain and PI (EOWNERDEAD 130, ENOTRECOVERABLE 131, consistent)."""
    b = programs["robust"]
    p, _ = run_shoal(b, ["robust"])
    assert_same(p, run_native(b, ["robust"]))
    assert b"b died 1 waiters 1 tid 0\npending died 1\n" in p.stdout
    assert b"pi 1 lock 130\npi 1 unlock without consistent 0\npi 1 lock again 131\n" in p.stdout


def test_a_circle_of_pi_waiters_is_edeadlk_as_native(programs: Programs) -> None:
    """B waits for L1, whose owner A waits for L2, which B holds: EDEADLK for B, as Linux's
    rt_mutex chain walk (both were killed as deadlocked before)."""
    b = programs["pi_deadlock"]
    p, _ = run_shoal(b, ["pi_deadlock"])
    assert_same(p, run_native(b, ["pi_deadlock"]))
    assert b"B lock L1 -35\n" in p.stdout and p.stdout.endswith(b"done\n")


def test_robust_lists_and_pi_words_at_their_edges_as_native(programs: Programs) -> None:
    """A cyclic robust list ends the thread (the walk is bounded) with each entry marked
    FUTEX_OWNER_DIED; bad words give Linux's errno values."""
    b = programs["robust_edges"]
    p, _ = run_shoal(b, ["robust_edges"])
    assert_same(p, run_native(b, ["robust_edges"]))
    assert b"mode 0 words 40000000 40000000 40000000\n" in p.stdout
    assert b"fx((char *)w + 2, FUTEX_UNLOCK_PI, 0, 0) = -1 1\n" in p.stdout


@pytest.mark.parametrize("how", ["hold", "killed"])
@pytest.mark.parametrize("cluster", [0, 1])
def test_a_shared_robust_mutex_outlives_its_owner_process(programs: Programs, how: str, cluster: int) -> None:
    """A process ends (exit_group, or killed) holding a process-shared robust mutex in a shm
    object: the next process to lock it gets EOWNERDEAD, on its cluster or another (the lists
    were walked only when a thread ended alone: the next owner got 0, the state unmarked)."""
    b = programs["robust_shared"]
    c = Chip.preset("tiny")
    holder = c.spawn(b.elf, ["robust_shared", how, "/rs"], cluster=0)
    c.run()
    taker = c.spawn(b.elf, ["robust_shared", "take", "/rs"], cluster=cluster)
    c.run()
    assert holder.stdout == b"hold lock 0\n"
    expected = b"take lock 130 EOWNERDEAD 1\nconsistent 0\nunlock 0\n"
    assert (taker.stdout, taker.returncode) == (expected, 0), taker.message
    name = f"/rs-{os.getpid()}-{how}-{cluster}"  # the host build, one process after the other
    run_native(b, ["robust_shared", how, name])
    assert run_native(b, ["robust_shared", "take", name]).stdout == expected


@pytest.mark.parametrize("cluster", [0, 1])
def test_a_futex_wake_reaches_another_process_on_a_shared_word(programs: Programs, cluster: int) -> None:
    """FUTEX_WAKE on a word of a shm object wakes a FUTEX_WAIT of another process on the same
    word, on its cluster or another (futexes were keyed by process: the wait ran to its
    5 s timeout), as pthread's process-shared mutexes, condition variables and semaphores need."""
    b = programs["robust_shared"]
    c = Chip.preset("tiny")
    waiter = c.spawn(b.elf, ["robust_shared", "wait", "/fw"], cluster=0)
    waker = c.spawn(b.elf, ["robust_shared", "wake", "/fw"], cluster=cluster)
    c.run()
    assert waiter.stdout == b"wait 0 0 word 1\n", waiter.message
    assert waker.stdout == b"wake 0\n", waker.message
    assert waiter.record.end_cycle < c.spec.cluster.freq_hz  # woken at once, not at its timeout

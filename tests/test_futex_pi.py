"""Priority-inheritance futexes (issue 22, part 5): tests/programs/futex_pi.c, raw
FUTEX_LOCK_PI/TRYLOCK_PI/UNLOCK_PI (hand-over, EDEADLK, EPERM, ESRCH, ETIMEDOUT, EINVAL) and
PTHREAD_PRIO_INHERIT mutexes, prints the same bytes on the chip as the host build."""

from __future__ import annotations

from conftest import Programs, assert_same, run_native, run_shoal


def test_pi_futexes_as_native(programs: Programs) -> None:
    b = programs["futex_pi"]
    p, _ = run_shoal(b, ["futex_pi"])
    assert_same(p, run_native(b, ["futex_pi"]))
    assert b"main unlock 0 owner other\nwaiter lock 0 owner me waiters 1\n" in p.stdout
    assert not p.record.unknown_syscalls, p.record.unknown_syscalls

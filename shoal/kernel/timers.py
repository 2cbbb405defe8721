"""Process timers in simulated time: the real-time interval timer (setitimer's ITIMER_REAL,
and so alarm) and POSIX timers (timer_create), each firing a signal (kernel/signals.py).

A timer is armed as a kernel action at its expiry (Kernel.at); re-arming or deleting it bumps
its generation, so an action of an older arming does nothing. A periodic timer re-arms itself
from its own expiry (no drift). A POSIX timer whose signal is still pending when it fires again
counts an overrun, as on Linux. Timers go with the process in images (remaining time and
interval) and are armed again where it lands; fork does not pass them on, execve ends the
POSIX ones and keeps ITIMER_REAL (Linux's rules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import SIGALRM
from shoal.kernel import signals
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.container import Container
    from shoal.kernel.kernel import Kernel

REAL = -1  # the key of setitimer's ITIMER_REAL among a process's timers (POSIX ids are >= 0)
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID = 0, 1, 4
SI_TIMER = -2
MAX_TIMERS = 256  # POSIX timers a process may hold (host memory stays bounded)


@dataclass
class Timer:
    """One timer of a process: what it sends and when (chip cycles; None: disarmed)."""

    clock: int
    signo: int
    notify: int  # SIGEV_SIGNAL, SIGEV_NONE or SIGEV_THREAD_ID
    tid: int  # the thread of SIGEV_THREAD_ID
    value: int  # sigev_value, given back in si_value
    at: int | None = None
    interval: int = 0  # cycles; 0: fires once
    overrun: int = 0  # expiries lost while the signal was pending (the last firing's count)
    gen: int = 0  # bumped at each (re)arming: an older action finds a newer generation


def real_timer() -> Timer:
    return Timer(clock=0, signo=SIGALRM, notify=SIGEV_SIGNAL, tid=0, value=0)


def arm(k: Kernel, p: Container, key: int, at: int | None, interval: int) -> None:
    """Arm timer `key` of `p` to expire at chip cycle `at` (None: disarm), then every
    `interval` cycles."""
    tm = p.timers[key]
    tm.gen += 1
    tm.at, tm.interval, tm.overrun = at, interval, 0
    if at is not None:
        _schedule(k, p, key, tm)


def _schedule(k: Kernel, p: Container, key: int, tm: Timer) -> None:
    gen, pid = tm.gen, p.pid

    def fire(now: int) -> None:
        q = k.find_proc(pid)
        if q is not p or not p.alive or p.timers.get(key) is not tm or tm.gen != gen:
            return  # re-armed, deleted, or the process ended or moved
        _expire(k, p, key, tm, now)

    assert tm.at is not None
    k.at(tm.at, fire)


def _expire(k: Kernel, p: Container, key: int, tm: Timer, now: int) -> None:
    if tm.notify != SIGEV_NONE:
        if key == REAL:
            i = signals.info(tm.signo, signals.SI_KERNEL)
        else:
            i = signals.info(tm.signo, SI_TIMER, key, tm.overrun, tm.value)
        target = None
        if tm.notify == SIGEV_THREAD_ID:
            target = next((t for t in p.threads if t.tid == tm.tid and t.state.name != "DEAD"), None)
        if _pending(p, target, tm.signo):
            tm.overrun += 1
        else:
            tm.overrun = 0
            signals.post(k, p, target, i, now)
    if tm.interval and p.alive:
        tm.at = (tm.at or now) + tm.interval
        tm.gen += 1
        _schedule(k, p, key, tm)
    else:
        tm.at = None


def _pending(p: Container, target: object, sig: int) -> bool:
    q = target.sig.pending if target is not None else p.sig.pending  # type: ignore[attr-defined]
    return any(i[0] == sig for i in q)


def left(k: Kernel, tm: Timer, now: int) -> int:
    """Cycles until the timer expires (0: disarmed)."""
    return max(1, tm.at - now) if tm.at is not None else 0


def to_meta(k: Kernel, p: Container) -> list[list[int]]:
    """The armed and disarmed timers of a frozen process, for its image: [key, clock, signo,
    notify, tid, value, cycles left (0: disarmed), interval, overrun]."""
    now = p.move.freeze_at or 0
    return [[key, tm.clock, tm.signo, tm.notify, tm.tid, tm.value, left(k, tm, now), tm.interval,
             tm.overrun] for key, tm in sorted(p.timers.items())]


def from_meta(k: Kernel, p: Container, rows: list[list[int]], at: int) -> None:
    """Put the timers back on a restored process and arm them from `at` (its thaw)."""
    for key, clock, signo, notify, tid, value, rest, interval, overrun in rows:
        p.timers[key] = Timer(clock, signo, notify, tid, value, interval=interval, overrun=overrun)
        if rest:
            arm(k, p, key, at + rest, interval)
            p.timers[key].overrun = overrun

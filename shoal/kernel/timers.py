"""Process timers in simulated time: the interval timers (setitimer's ITIMER_REAL, and so
alarm; ITIMER_VIRTUAL and ITIMER_PROF) and POSIX timers (timer_create), each firing a signal
(kernel/signals.py).

A CPU-time timer (ITIMER_VIRTUAL, ITIMER_PROF, a POSIX timer on a CPU-time clock) counts the
process's (or one thread's) CPU cycles as its clocks do (cpu_cycles): its `at` is a value of
that clock, not of the chip's. The scheduler ends a slice of its process when the nearest one
could expire (cpu_left) and fires those that did after each slice (cpu_check): at a
deterministic simulated time, within one instruction's cycles and its stall of the expiry.

A timer is armed as a kernel action at its expiry (Kernel.at); re-arming or deleting it bumps
its generation, so an action of an older arming does nothing. A periodic timer re-arms itself
from its own expiry (no drift). A POSIX timer whose signal is still pending when it fires again
counts an overrun, as on Linux. Timers go with the process in images (remaining time and
interval) and are armed again where it lands; fork does not pass them on, execve ends the
POSIX ones and keeps the interval timers (Linux's rules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import SIGALRM, SIGPROF, SIGVTALRM
from shoal.kernel import signals
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.container import Container, Thread
    from shoal.kernel.kernel import Kernel

REAL, VIRTUAL, PROF = -1, -2, -3  # keys of setitimer's timers among a process's (POSIX ids are >= 0)
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID = 0, 1, 4
SI_TIMER = signals.SI_TIMER
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
    overrun: int = 0  # expiries lost while its signal is pending
    last: int = 0  # those of the last signal taken (timer_getoverrun; signals._taken)
    absolute: bool = False  # armed at an absolute CLOCK_REALTIME time: a clock_settime moves it
    # a periodic timer stopped at `at` while its signal is pending (or it sends none): its
    # expiries since are counted when the signal is taken (rearm), or when asked (left)
    deferred: bool = False
    gen: int = 0  # bumped at each (re)arming: an older action finds a newer generation


CPUCLOCK_PROF, CPUCLOCK_VIRT, CPUCLOCK_SCHED, CPUCLOCK_PERTHREAD = 0, 1, 2, 4
OWN_VIRT, OWN_PROF = ~0 << 3 | CPUCLOCK_VIRT, ~0 << 3 | CPUCLOCK_PROF  # the process's own (pid 0)


def interval_timer(key: int) -> Timer:
    """setitimer's timer `key` (REAL, VIRTUAL or PROF), disarmed."""
    clock, signo = {REAL: (0, SIGALRM), VIRTUAL: (OWN_VIRT, SIGVTALRM), PROF: (OWN_PROF, SIGPROF)}[key]
    return Timer(clock=clock, signo=signo, notify=SIGEV_SIGNAL, tid=0, value=0)


def real_timer() -> Timer:
    return interval_timer(REAL)


def cpu_cycles(k: Kernel, p: Container, x: Thread | None = None, which: int = CPUCLOCK_SCHED) -> int:
    """CPU cycles of process `p` (or of its thread `x`) as clock `which` counts them: its
    instructions and the cycles they stalled on cache misses, the running slice's included;
    PROF adds the kernel's fixed cost of each of its calls."""
    cur = k.sched.current
    live = cur is not None and (cur is x if x is not None else cur.proc is p)
    slice_ = (k.cpu.executed() * k.spec.costs.cpi + k.cpu.stalled()) if live else 0
    if x is not None:
        user = x.instructions * k.spec.costs.cpi + x.stall + slice_
    else:
        user = p.instructions * k.spec.costs.cpi + p.stats.caches[6] + slice_
    if which == CPUCLOCK_PROF:
        user += sum(p.stats.syscalls.values()) * k.spec.costs.syscall_cycles
    return user


def ended_times(k: Kernel, p: Container) -> list[int]:
    """[user, system] cycles of a process that ends, its reaped children's included, for the
    parent that reaps it (Linux adds them to its cutime and cstime: calls/sysinfo.py's times)."""
    user = cpu_cycles(k, p) + p.stats.children[0]
    return [user, sum(p.stats.syscalls.values()) * k.spec.costs.syscall_cycles + p.stats.children[1]]


CpuClock = tuple["Container", "Thread | None", int]  # process, thread (None: the process's), which


def cpu_clock(k: Kernel, t: Thread, clock: int, gettime: bool = True) -> CpuClock | int | None:
    """What CPU-time clock `clock` names (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID or
    a dynamic id): (process, thread or None, which); a pid (> 0) of a process not here (to
    ask); None: no such clock (EINVAL). Linux's lookup_task: a thread's clock only within the
    caller's process; a process's by its pid (or, reading it, any of its thread ids the
    caller's own)."""
    if clock == 2:  # CLOCK_PROCESS_CPUTIME_ID
        return t.proc, None, CPUCLOCK_SCHED
    if clock == 3:  # CLOCK_THREAD_CPUTIME_ID
        return t.proc, t, CPUCLOCK_SCHED
    if clock >= 0 or clock & 3 == 3:
        return None
    which, pid = clock & 3, ~(clock >> 3)
    if clock & CPUCLOCK_PERTHREAD:
        if pid == 0:
            return t.proc, t, which
        x = next((x for x in t.proc.threads if x.tid == pid and x.state.name != "DEAD"), None)
        return (t.proc, x, which) if x is not None else None
    if pid == 0 or pid == t.proc.pid or (gettime and pid == t.tid):
        return t.proc, None, which
    p = next((p for p in k.procs if p.pid == pid and p.alive), None)
    if p is not None:
        return (p, None, which) if p.state == "running" else pid  # (frozen or moving: asked)
    return pid


def cpu_now(k: Kernel, p: Container, clock: int) -> int | None:
    """The value of `p`'s CPU-time clock `clock` (a dynamic id: pid 0, or a thread's); None:
    that thread has ended."""
    which, tid = clock & 3, ~(clock >> 3)
    if not clock & CPUCLOCK_PERTHREAD:
        return cpu_cycles(k, p, None, which)
    x = next((x for x in p.threads if x.tid == tid and x.state.name != "DEAD"), None)
    return cpu_cycles(k, p, x, which) if x is not None else None


def arm(k: Kernel, p: Container, key: int, at: int | None, interval: int) -> None:
    """Arm timer `key` of `p` to expire at chip cycle `at` (None: disarm), then every
    `interval` cycles; a CPU-time timer's `at` is a value of its clock."""
    tm = p.timers[key]
    tm.gen += 1
    tm.at, tm.interval, tm.overrun, tm.absolute, tm.deferred = at, interval, 0, False, False
    if at is not None and tm.clock >= 0:
        _schedule(k, p, key, tm)


def cpu_left(k: Kernel, p: Container) -> int | None:
    """CPU cycles before the nearest CPU-time timer of `p` could expire (None: none armed)."""
    best = None
    for tm in p.timers.values():
        if tm.clock < 0 and tm.at is not None:
            now = cpu_now(k, p, tm.clock)
            if now is not None and (best is None or tm.at - now < best):
                best = tm.at - now
    return None if best is None else max(best, 0)


def cpu_check(k: Kernel, p: Container, now: int) -> None:
    """Fire the CPU-time timers of `p` whose clock reached their expiry (chip cycle `now`);
    a periodic one's expiries missed meanwhile count as overruns, as Linux's bump_cpu_timer."""
    for key, tm in sorted(p.timers.items()):
        if tm.clock >= 0 or tm.at is None:
            continue
        cur = cpu_now(k, p, tm.clock)
        if cur is None or cur < tm.at:
            continue
        missed = (cur - tm.at) // tm.interval if tm.interval else 0
        _signal(k, p, key, tm, now, missed)
        tm.at = tm.at + (missed + 1) * tm.interval if tm.interval and p.alive else None


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
    _signal(k, p, key, tm, now)
    if tm.interval and p.alive:
        if (tm.notify == SIGEV_NONE or _pending(p, _target(p, tm), tm.signo)
                or signals.ignored(p, tm.signo)):
            # As Linux (posixtimer_rearm at dequeue): the expiries while its signal is pending
            # only count overruns, so the timer stops here and rearm() counts them once the
            # signal is taken: a guest's 4 ns interval costs the host nothing meanwhile. So
            # does an ignored signal's (dropped, not pending), as Linux 6.11 parks such a
            # timer until the signal is no longer ignored (unignored() below).
            tm.deferred = True
            return
        tm.at = (tm.at or now) + tm.interval
        tm.gen += 1
        _schedule(k, p, key, tm)
    else:
        tm.at = None


def unignored(k: Kernel, p: Container, sig: int, now: int) -> None:
    """`sig` is no longer ignored (sigaction): the periodic timers parked because their signal
    was dropped send it now (Linux's posixtimer_sig_unignore); once it is taken they count
    what they skipped and run again (rearm)."""
    for key, tm in sorted(p.timers.items()):
        if (tm.signo == sig and tm.deferred and tm.at is not None and tm.notify != SIGEV_NONE
                and not _pending(p, _target(p, tm), sig)):
            _signal(k, p, key, tm, now)


def _caught_up(tm: Timer, now: int) -> int:
    """A deferred timer's expiries after `at` up to `now`; moves `at` to the next one."""
    assert tm.at is not None
    missed = max(now - tm.at, 0) // tm.interval
    tm.at += (missed + 1) * tm.interval
    return missed


def rearm(k: Kernel, p: Container, key: int, now: int) -> None:
    """Timer `key`'s signal was taken at `now` (signals._taken): a deferred timer counts the
    expiries it skipped as overruns and runs again from the next one."""
    tm = p.timers.get(key)
    if tm is None or not tm.deferred or tm.at is None or not p.alive:
        return
    tm.deferred = False
    tm.overrun += _caught_up(tm, now)
    tm.gen += 1
    _schedule(k, p, key, tm)


def _target(p: Container, tm: Timer) -> object:
    if tm.notify == SIGEV_THREAD_ID:
        return next((t for t in p.threads if t.tid == tm.tid and t.state.name != "DEAD"), None)
    return None


def _signal(k: Kernel, p: Container, key: int, tm: Timer, now: int, missed: int = 0) -> None:
    """Send the timer's signal; one still pending counts an overrun instead (with the
    `missed` expiries before this one)."""
    if tm.notify != SIGEV_NONE:
        if key < 0:
            i = signals.info(tm.signo, signals.SI_KERNEL)
        else:
            i = signals.info(tm.signo, SI_TIMER, key, tm.overrun, tm.value)
        target = _target(p, tm)
        if _pending(p, target, tm.signo):
            tm.overrun += 1 + missed
        else:
            tm.overrun = missed
            signals.post(k, p, target, i, now)


def _pending(p: Container, target: object, sig: int) -> bool:
    q = target.sig.pending if target is not None else p.sig.pending  # type: ignore[attr-defined]
    return any(i[0] == sig for i in q)


def left(k: Kernel, tm: Timer, now: int, p: Container | None = None) -> int:
    """Cycles until the timer expires (0: disarmed): chip cycles, or for a CPU-time timer
    (of process `p`) cycles of its clock."""
    if tm.at is None:
        return 0
    now = _clock_now(k, tm, now, p)
    if tm.deferred and tm.at <= now:  # (the next expiry on its grid; no signal goes meanwhile)
        missed = (now - tm.at) // tm.interval
        return max(1, tm.at + (missed + 1) * tm.interval - now)
    return max(1, tm.at - now)


def _clock_now(k: Kernel, tm: Timer, now: int, p: Container | None) -> int:
    """The time of the timer's clock at chip cycle `now` (a CPU-time clock's own cycles)."""
    if tm.clock < 0:
        assert p is not None
        return cpu_now(k, p, tm.clock) or 0
    return now


def to_meta(k: Kernel, p: Container) -> list[list[int]]:
    """The armed and disarmed timers of a frozen process, for its image: [key, clock, signo,
    notify, tid, value, cycles left (0: disarmed), interval, overrun]."""
    now = p.move.freeze_at or 0
    return [[key, tm.clock, tm.signo, tm.notify, tm.tid, tm.value, left(k, tm, now, p), tm.interval,
             tm.overrun + _skipped(k, p, tm, now)] for key, tm in sorted(p.timers.items())]


def _skipped(k: Kernel, p: Container, tm: Timer, now: int) -> int:
    """A deferred timer's expiries up to chip cycle `now`, not yet counted (rearm counts them
    when its signal is taken): an image carries them in its overrun, armed from the next one."""
    if not tm.deferred or tm.at is None:
        return 0
    return max(0, _clock_now(k, tm, now, p) - tm.at) // tm.interval


def from_meta(k: Kernel, p: Container, rows: list[list[int]], at: int) -> None:
    """Put the timers back on a restored process and arm them from `at` (its thaw)."""
    for key, clock, signo, notify, tid, value, rest, interval, overrun in rows:
        p.timers[key] = Timer(clock, signo, notify, tid, value, interval=interval, overrun=overrun)
        if rest:  # (a CPU-time timer's from its clock, which the process's counts carry)
            cpu = cpu_now(k, p, clock) if clock < 0 else at
            arm(k, p, key, (cpu or 0) + rest, interval)
            p.timers[key].overrun = overrun

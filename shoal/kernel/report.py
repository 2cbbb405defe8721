"""Load reports to the policy daemon, and the moves it asks for (the kernel's side).

While policies are on (`period` > 0), each cluster's kernel sends a `load_report` packet to
the policy daemon on the I/O cluster (shoal/daemons/policy.py) at every multiple of the period: its
runnable threads, its free frames, each process's threads and frames (and of these, how many
another process shares copy-on-write: a move frees only the others), and the IKC bytes each
of its processes sent to each peer process since the last report. The period adapts: the
kernel checks every quarter period (no finer than a quantum) and reports at once when the
load changed fast since its last report (a process came or went, runnable threads crossed
the harts or moved by a quarter of them, free frames by a sixteenth), so placement and
balance see a burst of spawns within a quantum, not a period later. The report is a timer of
the cluster (an item at its simulated time, `Kernel.at`), it costs the kernel core a system
call's time plus the copy of what it carries, and the packet costs NoC time by its size.

A report (or check) describes the cluster at exactly its time: while one is armed, slices end at it
(sched.run_slice), as they end at a freeze, so no thread has run past it; a slice cut there
goes on afterwards as if uncut (the cut itself changes nothing; the report's kernel-core
time and packet do, as any kernel work would). A cluster with nothing to say stops
reporting: once it has no process, or nothing at all changed since its last report (every
thread blocked, no packet, no instruction), it sends that report and arms no next one; the
next item it takes (a packet, a woken thread, a spawn) arms it again. So an idle chip still
jumps to its next event, and a deadlock is still found as one (the chip runs out of items).

The daemon's decisions come back as `policy_move` packets: the kernel asks its migration
machinery for the move (kernel/migrate/request.py, by "policy:NAME"); a refusal at once
(the process is moving, or gone) or later (the destination has no room, the move failed)
goes back to the daemon as `policy_refused`, so that it never waits for a move that will not
happen. An `evacuate` packet closes the cluster: it accepts no incoming migration from then on.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from shoal.kernel.container import TState
from shoal.messages import Kind, LoadReport, PolicyMove, PolicyRefused
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet



@dataclass
class Reporter:
    """A kernel's reporting state (one object, so the Kernel grows by one attribute)."""

    period: int = 0  # cycles between reports; 0: off
    armed: bool = False
    at: int = 0  # when the armed report is due: slices end there (sched.run_slice)
    last: tuple = ()  # what the last report saw (to stop when nothing changes)
    sent: dict[tuple[int, int], int] = field(default_factory=dict)  # (pid, peer) -> IKC bytes
    reports: int = 0
    closed: bool = False  # evacuated: no incoming migration is accepted
    due: int = 0  # the next regular report (a multiple of the period)
    seen: tuple = ()  # what the last check saw (a check that sends nothing)
    told: tuple = (0, 0, ())  # (runnable, free frames, live pids) in the last report sent


def count(k: Kernel, pid: int, peer: int, nbytes: int) -> None:
    """IKC bytes sent by process `pid` to process `peer` (counted only while reporting)."""
    r = k.reports
    if r.period:
        key = (pid, peer)
        r.sent[key] = r.sent.get(key, 0) + nbytes


def _runnable(p: object) -> int:
    return sum(1 for t in p.threads if t.state in (TState.READY, TState.RUNNING))  # type: ignore[attr-defined]


def _signature(k: Kernel) -> tuple:
    live = [p for p in k.procs if p.alive]
    return (k.stats.instructions, k.stats.packets_in, k.stats.syscalls, k.frames.free,
            tuple((p.pid, p.state, _runnable(p)) for p in live))


def start(k: Kernel, period: int, at: int) -> None:
    """Reports on (every `period` cycles) or off (0), from `at`."""
    r = k.reports
    r.period = max(0, period)
    if not r.period:
        r.sent.clear()
    wake(k, at)


def wake(k: Kernel, now: int) -> None:
    """An item was taken at `now`: arm the next report if none is armed and something changed
    since the last one (a cluster that never ran a process says nothing)."""
    r = k.reports
    if r.period and not r.armed and (k.procs or r.reports) and _signature(k) != r.last:
        _arm(k, now)


def _step(k: Kernel) -> int:
    """Cycles between checks: a quarter period, but no finer than a quantum (a busy cluster's
    slices end at quanta anyway, so checks there cut nothing more)."""
    r = k.reports
    return max(1, min(r.period, max(k.spec.engine.quantum_cycles, r.period // 4)))


def _arm(k: Kernel, now: int) -> None:
    r = k.reports
    r.armed = True
    step = _step(k)
    r.at = (now // step + 1) * step
    k.at(r.at, lambda t: _tick(k, t))


def _changed(k: Kernel, runnable: int, free: int, pids: tuple) -> bool:
    """The load changed fast since the last report: a process came or went, runnable threads
    crossed the harts or moved by a quarter of them, or free frames by a sixteenth. Then the
    cluster reports at once rather than at the period's end (the period adapts)."""
    r, harts = k.reports, len(k.sched.harts)
    was_runnable, was_free, was_pids = r.told
    return (pids != was_pids or (runnable > harts) != (was_runnable > harts)
            or abs(runnable - was_runnable) >= max(2, harts // 4)
            or abs(free - was_free) >= max(1, k.frames.total // 16))


def _tick(k: Kernel, now: int) -> None:
    """A check: report if the period is due, the load changed fast (_changed) or nothing
    changed since the last check (the last report before going quiet); re-arm unless quiet."""
    r = k.reports
    r.armed = False
    if not r.period:
        return
    live = sorted((p for p in k.procs if p.alive), key=lambda p: p.pid)
    procs = [[p.pid, _runnable(p), sum(1 for t in p.threads if t.state is not TState.DEAD),
              p.aspace.frames_in_use, p.state, p.aspace.shared_frames()] for p in live]
    runnable, free = sum(x[1] for x in procs), k.frames.free - k.migration.reserved_frames
    pids = tuple(p.pid for p in live)
    sig = _signature(k)
    quiet = sig == r.seen
    r.seen = sig
    if now >= r.due or quiet or _changed(k, runnable, free, pids):
        _send(k, now, procs, runnable, free)
        r.told = (runnable, free, pids)
        r.due = (now // r.period + 1) * r.period
        sig = _signature(k)
        r.seen = sig
    if live and not quiet:
        _arm(k, now)  # at once: no slice may start before the next check is armed
    r.last = sig


def _send(k: Kernel, now: int, procs: list, runnable: int, free: int) -> None:
    r = k.reports
    ikc = [[a, b, n] for (a, b), n in sorted(r.sent.items())]
    r.sent = {}
    body = LoadReport(cluster=k.cluster, time=now, harts=len(k.sched.harts), runnable=runnable,
                      free=free, total=k.frames.total, procs=procs, ikc=ikc)
    # The kernel core gathers it: a call's cost plus the copy of what it carries (~16 B an entry).
    costs = k.spec.costs
    cost = costs.syscall_cycles + int(costs.copy_cycles_per_byte * 16 * (5 * len(procs) + 3 * len(ikc)))
    at = now + k.kernel_core(now, cost)
    r.reports += 1
    k.send(k.services_node, body, at=at)


def refuse(k: Kernel, b: PolicyMove, err: int, why: str, at: int) -> None:
    k.send(k.services_node, PolicyRefused(pid=b.pid, dst=b.dst, policy=b.policy, err=err, why=why), at=at)


def failed(k: Kernel, m: object, err: int, at: int) -> None:
    """A move a policy asked for failed after it started (migrate/source.py: fail): tell the daemon."""
    by, reason = m.by, m.reason  # type: ignore[attr-defined]
    if by.startswith("policy:"):
        k.send(k.services_node, PolicyRefused(pid=m.pid, dst=m.dst, policy=by[7:], err=err,  # type: ignore[attr-defined]
                                              why=reason), at=at)


def on_evacuate(k: Kernel, pkt: Packet, at: int) -> None:
    k.reports.closed = True


HANDLERS = {Kind.EVACUATE: on_evacuate}  # policy_move: migrate/request.py

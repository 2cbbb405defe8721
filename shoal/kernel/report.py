"""Load reports to the policy daemon, and the moves it asks for (the kernel's side).

While policies are on (`period` > 0), each cluster's kernel sends a `load_report` packet to
the policy daemon on the I/O cluster (shoal/daemons/policy.py) at every multiple of the period: its
runnable threads, its free frames, each process's threads and frames, and the IKC bytes each
of its processes sent to each peer process since the last report. The report is a timer of
the cluster (an item at its simulated time, `Kernel.at`), it costs the kernel core a system
call's time plus the copy of what it carries, and the packet costs NoC time by its size.

A report describes the cluster at exactly its time: while one is armed, slices end at it
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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoal.kernel.container import TState
from shoal.messages import Kind, LoadReport, PolicyMove, PolicyRefused

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
    return (k.instructions, k.packets_in, k.syscall_total, k.frames.free,
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


def _arm(k: Kernel, now: int) -> None:
    r = k.reports
    r.armed = True
    r.at = (now // r.period + 1) * r.period
    k.at(r.at, lambda t: _tick(k, t))


def _tick(k: Kernel, now: int) -> None:
    r = k.reports
    r.armed = False
    if not r.period:
        return
    live = sorted((p for p in k.procs if p.alive), key=lambda p: p.pid)
    procs = [[p.pid, _runnable(p), sum(1 for t in p.threads if t.state is not TState.DEAD),
              p.aspace.frames_in_use, p.state] for p in live]
    ikc = [[a, b, n] for (a, b), n in sorted(r.sent.items())]
    r.sent = {}
    free = k.frames.free - k.migration.reserved_frames
    body = LoadReport(cluster=k.cluster, time=now, harts=len(k.harts), runnable=sum(x[1] for x in procs),
                      free=free, total=k.frames.total, procs=procs, ikc=ikc)
    # The kernel core gathers it: a call's cost plus the copy of what it carries (~16 B an entry).
    cost = k.spec.syscall_cycles + int(k.spec.copy_cycles_per_byte * 16 * (5 * len(procs) + 3 * len(ikc)))
    at = now + k.kernel_core(now, cost)
    r.reports += 1
    k.send(k.services_node, body, at=at)
    sig = _signature(k)
    if live and sig != r.last:
        _arm(k, now)  # at once: no slice may start before the next report is armed
    r.last = sig


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

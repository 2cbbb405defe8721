"""Automatic migration policies: a daemon on the I/O cluster, fed by load reports.

Each compute cluster's kernel reports every `period` (kernel/report.py): its runnable threads,
free frames, each process's threads and frames, and the IKC bytes its processes sent to each
peer. The policy daemon (a server of the I/O cluster node, daemons/node.py) keeps the latest
report of each cluster, folds in the moves it asked for that have not landed yet (so a stale
report never makes it ask twice), and asks each policy, in the order given, what to move.
Decisions go back as `policy_move` packets to the source cluster's kernel, which asks its
migration machinery (the record's `by` is "policy:NAME", its `why` the policy's reason).

What a policy is, the built-in ones and how a user's is loaded: daemons/policies.py. This file
holds the daemon: its view of the chip and the checks of each policy's answer; the bound on a
user's policy's time (counted in Python steps, not timed) is daemons/policybudget.py.

Everything the daemon does follows from the packets it takes, in their order: deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from shoal.daemons.core import Core, Handler, HostCall
from shoal.daemons.policies import (
    BUILTIN,
    ChipView,
    ClusterView,
    Evacuate,
    Move,
    Policy,
    ProcView,
    policy_name,
)
from shoal.daemons.policybudget import PolicyError, budgeted
from shoal.messages import Evacuate as EvacuateMsg
from shoal.messages import Kind, LoadReport, PolicyMove, PolicyRefused
from shoal.platform.noc import NoC, Packet
from shoal.record import dataclass
from shoal.spec import ChipSpec

# Default report period: 1 ms of simulated time (400,000 cycles at 400 MHz). Linux balances
# its scheduling domains every 1 to a few ms (balance_interval), MOSIX exchanged load every
# second on LANs; on this chip a move of a small process takes ~0.1-1 ms, so reports much
# faster than that would mostly see moves still under way, and much slower ones would leave
# harts idle for long. 16 reports a period cost the daemon core 8% (2,000 cycles each).
PERIOD_US = 1000
NEVER = 1 << 62
# Moves out of one cluster at once: its kernel core builds the images one after another, so
# more in flight only keeps each frozen longer (32 four-threaded processes on one cluster of
# mppa256, 2/4/8/unbounded: makespan 7.43/7.02/7.04/7.29 ms, downtime in all 4.0/6.8/11.7/21.2
# ms). Not a bound per period: each landing asks the policies again at once (moves_landed).
INFLIGHT_PER_SOURCE = 4
TRAFFIC_HALF_LIFE = 8  # periods: locality weighs recent traffic more
STALE_PERIODS = 16  # a move not heard of for this long is forgotten (its source reports anyway)
# A process that has just landed stays put for this many periods (but for an evacuation): a
# policy that keeps asking (a user's, say) cannot starve it by moving it all the time.
MIN_STAY_PERIODS = 2


def _text(obj: object) -> str:
    """Any object as one printable line (for notes: a user's exception may not print)."""
    try:
        s = obj if type(obj) is str else str(obj)
        s = str.__str__(s)  # a plain str, whatever str() gave
    except Exception:  # noqa: BLE001 - a user's object
        return f"<{type(obj).__name__} that cannot be shown>"
    return "".join(ch if ch.isprintable() else "?" for ch in s[:300])


def _plain_move(mv: object, n: int) -> Move:
    """A policy's move as a plain Move of ints and texts, each field read once (a Move
    subclass's properties cannot answer one thing here and another later); ValueError or
    TypeError for a move that can never be right (the policy's bug)."""
    from shoal.kernel.migrate import METHODS
    if not isinstance(mv, Move):
        raise TypeError(f"on_report returned a {type(mv).__name__}, not a Move")
    pid, dst, method, why = mv.pid, mv.dst, mv.method, mv.why
    if type(pid) is not int or pid < 1:
        raise ValueError(f"bad pid {_text(pid)} in a Move")
    if type(dst) is not int or not 0 <= dst < n:
        raise ValueError(f"bad destination {_text(dst)} in a Move (clusters 0..{n - 1})")
    if method is not None:
        known = [m for m in METHODS if type(method) is str and m == str.__str__(method)]
        if not known:
            raise ValueError(f"bad method {_text(method)} in a Move (one of {', '.join(METHODS)})")
        method = known[0]
    text = why if type(why) is str else str(why)  # a __str__ that raises or gives no str: TypeError
    if not isinstance(text, str):
        raise TypeError("Move.why is not text")
    text = "".join(ch if ch.isprintable() else "?" for ch in str.__str__(text)[:200])
    return Move(pid, dst, method, text)


def _proc_shape(p: object) -> tuple:
    return (type(p), p.pid, p.cluster, p.runnable, p.threads, p.frames, p.state,  # type: ignore[attr-defined]
            p.moving, p.growth, p.shared, sorted(vars(p)))  # type: ignore[attr-defined]


def _cluster_shape(c: object) -> tuple:
    return (type(c), c.cluster, c.harts, c.free, c.total, c.time, type(c.procs),  # type: ignore[attr-defined]
            [_proc_shape(p) for p in c.procs], sorted(vars(c)))  # type: ignore[attr-defined]


def _view_shape(v: ChipView) -> tuple:
    return (type(v), type(v.clusters), [_cluster_shape(c) for c in v.clusters], type(v.traffic),
            sorted(v.traffic.items()), v.evacuated, v.now, v.period, v.page_size, sorted(vars(v)))


def _clone_cluster(c: ClusterView) -> ClusterView:
    return ClusterView(c.cluster, c.harts, c.free, c.total,
                       [ProcView(p.pid, p.cluster, p.runnable, p.threads, p.frames, p.state, p.moving,
                                 p.growth, p.shared) for p in c.procs], c.time)


def _clone_view(v: ChipView) -> ChipView:
    out = ChipView([_clone_cluster(c) for c in v.clusters], dict(v.traffic), v.evacuated, v.now,
                   v._noc, v.period)
    return out


@dataclass
class _Pending:
    """A move the policy daemon asked for that has not landed yet."""

    pid: int
    src: int
    dst: int
    policy: str
    asked: int  # cycle
    frames: int


class PolicyDaemon:
    """The daemon's state: latest reports, moves under way, refusals, notes."""

    def __init__(self, spec: ChipSpec) -> None:
        self.spec = spec
        self.noc = NoC(spec)  # the chip's wiring, for hop counts (no traffic goes through it)
        self.policies: list[Policy] = []
        self.period = 0
        self.method = "stopcopy"
        n = spec.compute_clusters
        self.reports: list[ClusterView] = [ClusterView(c, spec.cluster.cores_per_cluster, spec.user_frames,
                                                       spec.user_frames) for c in range(n)]
        self.frames_before: dict[int, int] = {}  # pid -> frames at its previous report
        self.traffic: dict[tuple[int, int], tuple[float, int]] = {}  # pair -> (bytes, as of cycle)
        self.pending: dict[int, _Pending] = {}
        self.refused: dict[tuple[int, int], int] = {}  # (pid, dst) -> dst's free frames then
        self.evacuated: set[int] = set()
        self.placed: dict[int, int] = {}  # pid -> cluster, spawned and not yet reported
        self.names: dict[int, str] = {}  # pid -> its program (placement learns each one's shape)
        self.shapes: dict[str, tuple[int, int]] = {}  # program -> most (runnable, frames) reported
        self.landed_at: dict[int, int] = {}  # pid -> cycle its latest move landed (process manager)
        self.notes: list[str] = []
        self.asked = 0
        self.refusals = 0
        self._now = 0  # the decision being made: its time, and the process manager's locate
        self._where_fn: object = None

    def configure(self, policies: list[Policy], period: int, method: str) -> None:
        self.policies, self.period, self.method = list(policies), period, method

    @property
    def on(self) -> bool:
        return bool(self.policies) or bool(self.evacuated)

    # what comes in ----------------------------------------------------------------------------
    def report(self, b: LoadReport, locate: object) -> ClusterView:
        c = b.cluster
        procs = []
        for pid, runnable, threads, frames, state, shared in b.procs:
            where, alive = locate(pid)  # type: ignore[operator]
            if alive and where != c:
                continue  # it has moved since the report was taken (the process manager knows)
            before = self.frames_before.get(pid, frames)
            self.frames_before[pid] = frames
            procs.append(ProcView(pid, c, runnable, threads, frames, state, growth=frames - before,
                                  shared=shared))
            self.placed.pop(pid, None)
            name = self.names.get(pid)
            if name is not None:
                r0, f0 = self.shapes.get(name, (1, 0))
                self.shapes[name] = (max(r0, runnable), max(f0, frames))
        self.reports[c] = ClusterView(c, b.harts, b.free, b.total, procs, b.time)
        now = b.time
        for a, peer, n in b.ikc:
            key = (min(a, peer), max(a, peer))
            self.traffic[key] = (self._decayed(key, now) + n, now)
        # Moves that have landed, failed or gone stale are no longer under way.
        for pid, m in sorted(self.pending.items()):
            where, alive = locate(pid)  # type: ignore[operator]
            if not alive or where == m.dst or now - m.asked > STALE_PERIODS * max(1, self.period):
                del self.pending[pid]
        for key in [k for k in self.traffic if not all(locate(p)[1] for p in k)]:  # type: ignore[operator]
            del self.traffic[key]  # an ended process talks no more
        for pid in [p for p in self.landed_at if not locate(p)[1]]:  # type: ignore[operator]
            del self.landed_at[pid]
        for pid in [p for p in self.names if not locate(p)[1]]:  # type: ignore[operator]
            del self.names[pid]
        for table in (self.frames_before, self.placed):  # (an ended process is neither)
            for pid in [p for p in table if not locate(p)[1]]:  # type: ignore[operator]
                del table[pid]
        for key in [k for k in self.refused if not locate(k[0])[1]]:  # type: ignore[operator]
            del self.refused[key]
        return self.reports[c]

    def landed(self, pid: int, src: int, dst: int, at: int) -> None:
        """The process manager applied a move of `pid` from `src` to `dst` at `at`."""
        self.landed_at[pid] = at
        m = self.pending.get(pid)
        if m is not None and m.dst == dst:
            del self.pending[pid]
        for p in list(self.reports[src].procs):
            if p.pid == pid:
                self.reports[src].procs.remove(p)
                self.reports[src].free += p.freed
                p.cluster = dst
                self.reports[dst].procs.append(p)
                self.reports[dst].free -= p.frames

    def refusal(self, b: PolicyRefused) -> None:
        """A move was refused or failed: forget it; if the destination was the reason (no room,
        evacuated, a failed transfer), do not ask for it again until the destination frees frames.
        A process that was busy (EBUSY) or gone (ESRCH) may be asked for again at once."""
        self.refusals += 1
        m = self.pending.pop(b.pid, None)
        dst = m.dst if m is not None else b.dst
        if b.err not in (-3, -16):
            self.refused[(b.pid, dst)] = self.reports[dst].free

    def _decayed(self, key: tuple[int, int], now: int) -> float:
        got = self.traffic.get(key)
        if got is None:
            return 0.0
        w, t = got
        half = TRAFFIC_HALF_LIFE * max(1, self.period)
        return w * math.pow(0.5, max(0, now - t) / half)

    # the chip as the policies see it ------------------------------------------------------------
    def view(self, now: int) -> ChipView:
        clusters = [ClusterView(r.cluster, r.harts, r.free, r.total,
                                [ProcView(p.pid, p.cluster, p.runnable, p.threads, p.frames, p.state,
                                          False, p.growth, p.shared) for p in r.procs], r.time)
                    for r in self.reports]
        v = ChipView(clusters, {k: self._decayed(k, now) for k in sorted(self.traffic)},
                     frozenset(self.evacuated), now, self.noc, self.period)
        for pid, m in sorted(self.pending.items()):
            p = v.proc(pid)
            if p is None:
                p = ProcView(pid, m.src, 1, 1, m.frames)
                v.clusters[m.src].procs.append(p)
            v.move(p, m.dst)
        for pid, c in sorted(self.placed.items()):
            if v.proc(pid) is None:
                v.clusters[c].procs.append(self._unreported(pid, c))
        return v

    def _unreported(self, pid: int, c: int, name: str | None = None) -> ProcView:
        """A process not in a report yet, counted as its program was at its largest (one
        runnable thread and no frames for a program never seen): placement must not pile new
        processes on a cluster in the period before their threads show in its report."""
        r, f = self.shapes.get(name or self.names.get(pid, ""), (1, 0))
        return ProcView(pid, c, r, r, f, state="placed")

    def decide(self, report: ClusterView, now: int, locate: object,
               residents: object) -> list[tuple[int, dict]]:
        """Ask every policy; the `policy_move` packets to send, as (cluster, body).
        `locate(pid)` is the process manager's (cluster, alive); `residents(c)` its live pids on c."""
        if not self.policies:
            return []
        self._now, self._where_fn = now, locate
        v = self.view(now)
        # Processes the process manager knows on an evacuated cluster, not yet in a report.
        for c in sorted(self.evacuated):
            for pid in residents(c):  # type: ignore[operator]
                if v.proc(pid) is None and pid not in self.pending:
                    v.clusters[c].procs.append(self._unreported(pid, c))
        out: list[tuple[int, dict]] = []
        per_src: dict[int, int] = {}
        for m in self.pending.values():
            per_src[m.src] = per_src.get(m.src, 0) + 1
        for pol in list(self.policies):
            name = policy_name(pol)  # (read once, within the policy's bound)
            before = _clone_view(v)  # the view as it was, if this policy is switched off
            try:
                moves = self._ask(pol, report, v, before)
            except Exception as e:  # a user's policy: switched off, the run goes on
                self.policies.remove(pol)
                ms = self.spec.cycles_to_seconds(now) * 1e3
                why = _text(e) if isinstance(e, PolicyError) else f"{type(e).__name__}: {_text(e)}"
                self.notes.append(f"policy {name} switched off at {ms:.3f} ms: {why}")
                v = before
                continue
            for mv in moves:
                body = self._check(name, mv, per_src)
                if body is not None:
                    out.append(body)
        return out

    def _ask(self, pol: Policy, report: ClusterView, v: ChipView, before: ChipView) -> list[Move]:
        """`pol`'s moves as plain Moves, after checking that it changed neither the report (it
        is given a copy: the daemon's own never reaches a policy) nor the view other than by
        view.move. A user's policy is run, answer and checks included, within its step bound;
        everything it may have touched is read inside that bound."""
        n = self.spec.compute_clusters
        rep = _clone_cluster(report)
        v._moves.clear()

        def run() -> list[Move]:
            moves = pol.on_report(rep, v)
            if not isinstance(moves, (list, tuple)):
                raise TypeError(f"on_report returned {type(moves).__name__}, not a list of Move")
            plain = [_plain_move(mv, n) for mv in list.__iter__(moves)] if isinstance(moves, list) \
                else [_plain_move(mv, n) for mv in tuple.__iter__(moves)]
            if _cluster_shape(rep) != _cluster_shape(report):
                raise PolicyError("it changed the report it was given")
            expected = _clone_view(before)
            for ci, i, dst in list(v._moves):
                expected.move(expected.clusters[ci].procs[i], dst)
            if _view_shape(expected) != _view_shape(v):
                raise PolicyError("it changed the view it was given other than by view.move")
            return plain
        if type(pol) in BUILTIN.values():
            return run()  # trusted: not counted
        got = budgeted(run)
        return got  # type: ignore[return-value]

    def _check(self, name: str, mv: Move, per_src: dict[int, int]) -> tuple[int, PolicyMove] | None:
        """The packet for a move, or None if it cannot be asked now (the process is moving or
        ended, already there, its source has enough moves under way, the destination is
        evacuated or refused it and has freed nothing since)."""
        src = next((r.cluster for r in self.reports for p in r.procs if p.pid == mv.pid), None)
        if src is None:
            src = self._where(mv.pid)
        if (src is None or mv.dst == src or mv.dst in self.evacuated or mv.pid in self.pending
                or per_src.get(src, 0) >= INFLIGHT_PER_SOURCE):
            return None
        if (src not in self.evacuated
                and self._now - self.landed_at.get(mv.pid, -NEVER) < MIN_STAY_PERIODS * self.period):
            return None  # it has just landed
        refused_at = self.refused.get((mv.pid, mv.dst))
        if refused_at is not None:
            if self.reports[mv.dst].free <= refused_at:
                return None  # refused before, and nothing freed there since
            del self.refused[(mv.pid, mv.dst)]
        frames = next((p.frames for r in self.reports for p in r.procs if p.pid == mv.pid), 0)
        self.pending[mv.pid] = _Pending(mv.pid, src, mv.dst, name, self._now, frames)
        per_src[src] = per_src.get(src, 0) + 1
        self.asked += 1
        return (src, PolicyMove(pid=mv.pid, dst=mv.dst, method=mv.method or self.method, policy=name,
                                why=mv.why))

    def _where(self, pid: int) -> int | None:
        if self._where_fn is None:
            return None
        where, alive = self._where_fn(pid)  # type: ignore[operator]
        return where if alive else None

    # placement of new processes (SHOAL_ANY_CLUSTER) ---------------------------------------------
    def place(self, frames: int, now: int, residents: object, name: str | None = None,
              want: int | None = None, caller: int | None = None) -> int | None:
        """The cluster for a new process of program `name` (`frames` frames in its image) that
        asked for cluster `want` (None: any). `want` keeps it if it has room for it: a hart for
        each thread the program ran at its largest (one if never seen) and its frames. Else
        (or for any) the least loaded open cluster with such room: fewest runnable threads per
        hart, then nearest to `want`, then most free frames, then lowest. With no room
        anywhere, `want` (the caller's choice stands) or, for any, the least loaded open
        cluster. Processes not reported yet count as their program's shape, and the thread
        that asked (on cluster `caller`, blocked until the answer) as runnable. None if
        policies are off and no cluster is evacuated (the process manager then places by
        count)."""
        if not self.on:
            return None
        v = self.view(now)
        for c in v.clusters:
            for pid in residents(c.cluster):  # type: ignore[operator]
                if v.proc(pid) is None:
                    c.procs.append(self._unreported(pid, c.cluster))
        if caller is not None and 0 <= caller < len(v.clusters):
            v.clusters[caller].procs.append(ProcView(0, caller, 1, 1, 0, state="caller"))
        runnable, need = self.shapes.get(name or "", (1, 0))
        need = max(need, frames)

        def room(c: ClusterView) -> bool:
            return c.runnable + runnable <= c.harts and c.free > need
        opened = v.open_clusters()
        if not opened:
            return None
        if want is not None and want not in self.evacuated and room(v.clusters[want]):
            return want
        fits = [c for c in opened if room(c)]
        if not fits:
            if want is not None and want not in self.evacuated:
                return want
            fits = [c for c in opened if c.free > frames] or opened
        near = (lambda c: self.noc.hops(want, c.cluster)) if want is not None else (lambda c: 0)
        best = min(fits, key=lambda c: (c.runnable / c.harts, near(c), -c.free, c.cluster))
        return best.cluster


class PolicyServer:
    """The policy daemon as a server of the I/O cluster node: its packets (load reports,
    refusals), the host's requests, and what the process manager asks of it (placement of a
    new process, moves that landed). It reads locations from the process manager only through
    `locate(pid)` -> (cluster, alive) and `residents(cluster)` -> live pids."""

    def __init__(self, core: Core, locate: Callable[[int], tuple[int, bool]],
                 residents: Callable[[int], list[int]]) -> None:
        self._send = core.send
        self.daemon = PolicyDaemon(core.spec)
        self._locate = locate
        self._residents = residents
        self.packets: dict[Kind, Handler] = {
            Kind.LOAD_REPORT: self.on_load_report, Kind.POLICY_REFUSED: self.on_policy_refused}
        self.host: dict[str, HostCall] = {
            "set_policies": self.set_policies, "evacuate": self.evacuate, "policy_figures": self.figures}

    # the host's side ----------------------------------------------------------------------------
    def set_policies(self, policies: list[Policy], period: int, method: str) -> None:
        self.daemon.configure(policies, period, method)

    def evacuate(self, cluster: int, at: int) -> None:
        """Drain `cluster` from `at` on: it is closed to incoming moves, its processes go."""
        d = self.daemon
        d.evacuated.add(cluster)
        if not any(isinstance(p, Evacuate) for p in d.policies):
            d.policies.append(Evacuate())
        self._send(cluster, EvacuateMsg(cluster=cluster), at)
        self._decide(d.reports[cluster], at)

    def figures(self) -> dict:
        d = self.daemon
        return {"notes": list(d.notes), "asked": d.asked, "refused": d.refusals,
                "evacuated": sorted(d.evacuated), "policies": [policy_name(p) for p in d.policies]}

    # what the process manager asks ----------------------------------------------------------------
    def evacuated(self) -> set[int]:
        """The clusters that take no new process."""
        return self.daemon.evacuated

    def place(self, frames: int, at: int, name: str | None = None, want: int | None = None,
              caller: int | None = None) -> int | None:
        """The cluster for a new process of program `name` and `frames` frames that asked for
        `want` (None: any), asked by a thread on cluster `caller`; None: the process
        manager's choice (policies off)."""
        return self.daemon.place(frames, at, self._residents, name, want, caller)

    def spawned(self, pid: int, cluster: int, name: str = "") -> None:
        if self.daemon.on:
            self.daemon.placed[pid] = cluster
            if name:
                self.daemon.names[pid] = name

    def landed(self, pid: int, src: int, dst: int, at: int) -> None:
        self.daemon.landed(pid, src, dst, at)

    def moves_landed(self, cluster: int, at: int) -> None:
        """Moves to `cluster` landed: the policies may go on (fewer under way)."""
        if self.daemon.on:
            self._decide(self.daemon.reports[cluster], at)

    # packets --------------------------------------------------------------------------------------
    def _decide(self, report: ClusterView, at: int) -> None:
        for src, body in self.daemon.decide(report, at, self._locate, self._residents):
            self._send(src, body, at)

    def on_load_report(self, pkt: Packet, at: int) -> None:
        view = self.daemon.report(pkt.body, self._locate)
        if self.daemon.on:
            self._decide(view, at)

    def on_policy_refused(self, pkt: Packet, at: int) -> None:
        self.daemon.refusal(pkt.body)

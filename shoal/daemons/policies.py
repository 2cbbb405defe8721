"""Automatic migration policies: what a policy is, the built-ins, and loading the user's.

A policy is a small class:

    class Policy:
        name = "mine"
        def on_report(self, report: ClusterView, view: ChipView) -> list[Move]: ...

`report` is the cluster that just reported, `view` the whole chip as the policy daemon
(daemons/policy.py) knows it; the answer is a list of `Move(pid, dst, method=None, why="")`.
Built-ins: `balance`, `locality`, `memory`, `evacuate` (the last is switched on by
`Chip.evacuate`, and also by name). A move may be refused (EBUSY: the process is moving or its
post-copy pages still follow it; ENOMEM: no room at the destination). The daemon then forgets
it, and does not ask for that process and destination again until the destination's free
frames grow: no loop, no process lost (a refused move leaves the process where it was). A
policy that raises (anything, SystemExit included), answers with something that is not a list
of moves (or a move whose `why` cannot be turned into text), changes the report it is given,
changes the view other than by `view.move`, or does not return within
policybudget.POLICY_STEPS Python steps is switched off with a
note (`Chip.policy_notes`), and the run goes on with the others: a researcher's experiment
keeps its other results. A policy's `name` is read once, within the same bound, and shown as
one short printable line (its class's name if it gives no text).
"""

from __future__ import annotations

import importlib.util
from dataclasses import field
from pathlib import Path

from shoal.errors import ShoalError
from shoal.platform.noc import NoC
from shoal.record import dataclass


@dataclass(frozen=True)
class Move:
    """A migration a policy asks for: process `pid` to cluster `dst` by `method` (None: the
    chip's default), and why (shown by `--stats`)."""

    pid: int
    dst: int
    method: str | None = None
    why: str = ""


@dataclass
class ProcView:
    """A process as its cluster's latest load report shows it."""

    pid: int
    cluster: int
    runnable: int  # threads ready or running at the last report
    threads: int
    frames: int  # frames in use (pages and page tables): what it needs where it goes
    state: str = "running"
    moving: bool = False  # a move asked by the daemon has not landed yet
    growth: int = 0  # frames more than at the report before
    shared: int = 0  # of `frames`, those another process maps too (copy-on-write after a fork)

    @property
    def freed(self) -> int:
        """Frames moving it frees where it is: its own (a shared frame stays its sharers')."""
        return self.frames - self.shared


@dataclass
class ClusterView:
    """A cluster as its latest load report shows it."""

    cluster: int
    harts: int
    free: int  # frames free, less those promised to incoming migrations
    total: int
    procs: list[ProcView] = field(default_factory=list)
    time: int = -1  # simulated cycle of its latest report (-1: none yet)

    @property
    def runnable(self) -> int:
        return sum(p.runnable for p in self.procs)


class ChipView:
    """The chip as the daemon knows it (latest reports, with its own moves under way)."""

    def __init__(self, clusters: list[ClusterView], traffic: dict[tuple[int, int], float],
                 evacuated: frozenset[int], now: int, noc: NoC, period: int) -> None:
        self.clusters = clusters
        self.traffic = traffic  # (pid a, pid b), a < b -> recent IKC bytes between them
        self.evacuated = evacuated
        self.now = now
        self.period = period
        self.page_size = noc.spec.cluster.page_size
        self._noc = noc
        self._moves: list[tuple[int, int, int]] = []  # (cluster, index there, dst) of each move()

    def hops(self, a: int, b: int) -> int:
        return self._noc.hops(a, b)

    def proc(self, pid: int) -> ProcView | None:
        for c in self.clusters:
            for p in c.procs:
                if p.pid == pid:
                    return p
        return None

    def open_clusters(self) -> list[ClusterView]:
        """Clusters that may receive work (not evacuated)."""
        return [c for c in self.clusters if c.cluster not in self.evacuated]

    def move(self, p: ProcView, dst: int) -> None:
        """Count `p` (a process of this view) at `dst` from now on (a move asked for): the only
        change a policy may make to the view (the daemon checks)."""
        where = next(((ci, i) for ci, c in enumerate(self.clusters) for i, q in enumerate(c.procs)
                      if q is p), None)
        if where is None:
            raise ValueError(f"view.move: {p!r} is not a process of this view")
        if type(dst) is not int or not 0 <= dst < len(self.clusters):
            raise ValueError(f"view.move: bad destination {dst!r}")
        self._moves.append((*where, dst))
        src = self.clusters[where[0]]
        del src.procs[where[1]]
        src.free += p.freed
        d = self.clusters[dst]
        d.procs.append(p)
        d.free -= p.frames
        p.cluster, p.moving = dst, True


class Policy:
    """Base class of policies: override `on_report`."""

    name = "policy"

    def on_report(self, report: ClusterView, view: ChipView) -> list[Move]:
        return []


class Balance(Policy):
    """Spread runnable threads: move processes off clusters with more runnable threads than
    harts to the least loaded ones, as many at each report as the imbalance needs (bounded
    only by the destinations' room: frames, and the gap rule below). The cheapest go first:
    fewest frames for each runnable thread moved (a process that has just started has few
    pages resident, so its image is small). A move of `t` threads needs a gap of at least 2t
    between source and destination, so a move never makes the reverse move worth doing:
    nothing bounces back unless the load itself changes (and the daemon keeps a process that
    has just landed where it is for two periods)."""

    name = "balance"

    def on_report(self, report: ClusterView, view: ChipView) -> list[Move]:
        out: list[Move] = []
        opened = view.open_clusters()
        for _ in range(8 * len(view.clusters)):
            if len(opened) < 2:
                break
            src = max(opened, key=lambda c: (c.runnable - c.harts, -c.cluster))
            dst = min(opened, key=lambda c: (c.runnable - c.harts, c.cluster))
            if src.runnable <= src.harts or src is dst:
                break
            gap = src.runnable - dst.runnable
            best = None
            for p in sorted(src.procs, key=lambda p: (p.frames / max(1, p.runnable), -p.runnable, p.pid)):
                if (p.moving or p.state == "placed" or p.runnable == 0 or 2 * p.runnable > gap
                        or p.frames >= dst.free):
                    continue
                best = p
                break
            if best is None:
                break
            out.append(Move(best.pid, dst.cluster, why=f"cluster {src.cluster} had {src.runnable} runnable "
                            f"threads for {src.harts} harts, cluster {dst.cluster} {dst.runnable}"))
            view.move(best, dst.cluster)
        return out


class Locality(Policy):
    """Bring processes that exchange much data closer: move a process to the cluster that most
    cuts its recent bytes x hops with its peers, if the cut is at least a quarter of what it
    costs now and more than the move itself costs (its frames x hops: the recent traffic,
    weighed with a half-life of policy.TRAFFIC_HALF_LIFE periods, stands for the traffic to come), and
    the destination has room for its frames and a hart for each of its runnable threads.
    Each move lowers the total bytes x hops of the traffic it saw, so with the traffic
    unchanged no move is ever undone."""

    name = "locality"
    GAIN = 0.25

    def on_report(self, report: ClusterView, view: ChipView) -> list[Move]:
        out: list[Move] = []
        peers: dict[int, list[tuple[int, float]]] = {}
        for (a, b), w in sorted(view.traffic.items()):
            peers.setdefault(a, []).append((b, w))
            peers.setdefault(b, []).append((a, w))
        heavy = sorted(peers, key=lambda pid: (-sum(w for _, w in peers[pid]), pid))
        for pid in heavy:
            p = view.proc(pid)
            if p is None or p.moving:
                continue
            where = [(view.proc(q), w) for q, w in peers[pid]]
            where = [(q.cluster, w) for q, w in where if q is not None]
            if not where:
                continue
            now = sum(w * view.hops(p.cluster, c) for c, w in where)
            best = None
            for c in view.open_clusters():
                if c.cluster == p.cluster or p.frames >= c.free or c.runnable + max(1, p.runnable) > c.harts:
                    continue
                cost = sum(w * view.hops(c.cluster, q) for q, w in where)
                key = (cost, view.hops(p.cluster, c.cluster), c.cluster)
                if best is None or key < best[0]:
                    best = (key, c)
            if best is None or now - best[0][0] < self.GAIN * now or now <= 0:
                continue
            dst = best[1].cluster
            if now - best[0][0] <= p.frames * view.page_size * view.hops(p.cluster, dst):
                continue  # the move would cost the NoC more than it saves
            out.append(Move(pid, dst, why=f"bytes x hops with its peers {now:.0f} -> {best[0][0]:.0f}"))
            view.move(p, dst)
        return out


class Memory(Policy):
    """Move a process off a cluster about to run out of frames: when its free frames fall
    under a low mark (a sixteenth of its memory, or twice what its processes took since the
    last report, whichever is more), the process that grew most (then the one whose move
    frees most: its frames not shared copy-on-write) goes to the cluster with the most free
    frames, if it fits there (all its frames) with the same margin."""

    name = "memory"

    def on_report(self, report: ClusterView, view: ChipView) -> list[Move]:
        out: list[Move] = []
        for c in view.clusters:
            growth = sum(max(0, p.growth) for p in c.procs)
            low = max(c.total // 16, 2 * growth)
            if c.free >= low or c.time < 0:
                continue
            # (what a move frees here: a forked child's frames shared with its parent stay)
            cands = sorted((p for p in c.procs if not p.moving), key=lambda p: (-p.growth, -p.freed, p.pid))
            for p in cands:
                dsts = sorted((d for d in view.open_clusters() if d is not c),
                              key=lambda d: (-d.free, d.cluster))
                if not dsts or dsts[0].free - p.frames - 2 * max(0, p.growth) < dsts[0].total // 16:
                    continue
                out.append(Move(p.pid, dsts[0].cluster, why=f"cluster {c.cluster} had {c.free} free frames "
                                f"(low mark {low}); the process holds {p.frames} (+{p.growth}), "
                                f"{p.freed} its own"))
                view.move(p, dsts[0].cluster)
                break
        return out


class Evacuate(Policy):
    """Drain the evacuated clusters (`Chip.evacuate`): every process there goes to the open
    cluster with the fewest runnable threads per hart that has room for it."""

    name = "evacuate"

    def on_report(self, report: ClusterView, view: ChipView) -> list[Move]:
        out: list[Move] = []
        for c in view.clusters:
            if c.cluster not in view.evacuated:
                continue
            for p in sorted(c.procs, key=lambda p: p.pid):
                if p.moving:
                    continue
                dsts = [d for d in view.open_clusters() if d.free > p.frames]
                if not dsts:
                    continue
                d = min(dsts, key=lambda d: ((d.runnable + max(1, p.runnable)) / d.harts, d.cluster))
                out.append(Move(p.pid, d.cluster, why=f"cluster {c.cluster} is evacuated"))
                view.move(p, d.cluster)
        return out


BUILTIN: dict[str, type[Policy]] = {"balance": Balance, "locality": Locality, "memory": Memory,
                                    "evacuate": Evacuate}


def load(spec: object) -> list[Policy]:
    """Policies from what the user gave: "balance,locality", a "path/file.py:ClassName", a
    Policy (class or instance), or a list of these."""
    if spec is None:
        return []
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    out: list[Policy] = []
    for item in items:
        if isinstance(item, str):
            for part in (s.strip() for s in item.split(",")):
                if part:
                    out.append(_from_name(part))
        elif isinstance(item, type) and issubclass(item, Policy):
            out.append(_instance(item, item.__name__))
        elif isinstance(item, Policy):
            out.append(item)
        else:
            raise ShoalError(f"bad policy {item!r}: a name ({', '.join(BUILTIN)}), FILE.py:CLASS, "
                             "or a shoal.daemons.policies.Policy")
    names = [policy_name(p) for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ShoalError(f"policy {dup[0]!r} given twice")
    return out


def policy_name(pol: Policy) -> str:
    """A policy's `name` as one short printable line, read once within the policy's bound (a
    user's `name` may be a property that raises, loops, exits or changes); its class's name
    if it gives no text."""
    from shoal.daemons.policybudget import PolicyError, budgeted
    if type(pol) in BUILTIN.values():
        return pol.name
    try:  # (object's own lookups: a user's __getattribute__ is not asked)
        got = object.__getattribute__(pol, "__dict__").get("_shoal_name")
    except Exception:  # noqa: BLE001 - no instance dict (__slots__)
        got = None
    if type(got) is str:
        return got  # read before
    try:
        got = budgeted(lambda: getattr(pol, "name", None))
    except PolicyError:
        got = None
    if type(got) is not str or not got:
        got = type.__dict__["__name__"].__get__(type(pol))
    shown = "".join(ch if ch.isprintable() else "?" for ch in str.__str__(got)[:60])
    try:
        object.__setattr__(pol, "_shoal_name", shown)
    except Exception:  # noqa: BLE001 - __slots__: read again next time
        pass
    return shown


def _instance(cls: type, what: str) -> Policy:
    from shoal.daemons.policybudget import PolicyError, budgeted
    try:
        got = budgeted(cls)  # the user's constructor: whatever it raises (SystemExit too), bounded
    except PolicyError as e:
        raise ShoalError(f"policy {what}: cannot create it: {e}") from None
    if not isinstance(got, Policy):
        raise ShoalError(f"policy {what}: not a subclass of shoal.daemons.policies.Policy")
    return got


def _from_name(text: str) -> Policy:
    if text in BUILTIN:
        return BUILTIN[text]()
    if ":" not in text or not text.rsplit(":", 1)[0].endswith(".py"):
        raise ShoalError(f"unknown policy {text!r} (one of {', '.join(BUILTIN)}, or FILE.py:CLASS)")
    path_s, cls_name = text.rsplit(":", 1)
    path = Path(path_s)
    if not path.is_file():
        raise ShoalError(f"policy {text}: no such file {path_s}")
    from shoal.hostfile import MAX_PROGRAM, check_file
    check_file(path, f"policy {text}", MAX_PROGRAM)  # (a 10 GB source is not read)
    spec = importlib.util.spec_from_file_location(f"shoal_user_policy_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ShoalError(f"policy {text}: cannot load {path_s}")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as e:
        raise ShoalError(f"policy {text}: {path_s} line {e.lineno}: {e.msg}") from None
    except Exception as e:  # the user's module
        raise ShoalError(f"policy {text}: {path_s} failed to load: {type(e).__name__}: {e}") from None
    cls = getattr(mod, cls_name, None)
    if not isinstance(cls, type):
        raise ShoalError(f"policy {text}: {path_s} has no class {cls_name}")
    if not issubclass(cls, Policy):
        raise ShoalError(f"policy {text}: {cls_name} is not a subclass of shoal.daemons.policies.Policy")
    return _instance(cls, cls_name)

"""Traces in Chrome's Trace Event Format (opens in ui.perfetto.dev and chrome://tracing).

What a trace holds (timestamps are SIMULATED microseconds, never host time):
    one process track per cluster (and one for the I/O cluster's daemons), one thread track
    per hart ("core"), named with `M` metadata events;
    `X` slices: each thread's running time on its hart (contiguous slices of one thread are
    merged, so how the engine cuts slices does not show), each system call nested inside;
    NoC packets: a one-cycle slice on the sender's "NoC" track when the packet is handed to
    the NoC and one on the receiver's on arrival, joined by a flow (`s`/`f`);
    `C` counters: each cluster's free frames (after every kernel item that changed them) and
    the utilisation of each link leaving a node (busy share per LINK_BUCKET of time); with the
    L1 cache model on (kind "caches"), per core its D- and I-cache misses and stall cycles
    since the start, at the end of each slice that changed them (a chip without the model
    has no such kind, and its trace is what it was before the model);
    each migration as a slice on the "migrations" track whose duration is exactly its
    downtime (freeze at the source to thaw at the destination), with its phases nested
    (freeze, transfer, rebuild, commit) and every public field of its record in `args`; a
    migration that failed (the process went on at its source) is an instant with the reason.

Tracing costs nothing when off: the kernels, the NoC and the backend call a tracer only when
one is attached (`if k.tracer is not None`). Hooks only read; they never change what runs, so
a run gives the same output and cycles with or without a trace. The file is deterministic:
events are sorted by a key of simulated time and track, then written with sorted keys.
A size bound (`limit` events) and filters (clusters, kinds) keep large runs usable; what was
dropped is counted in the file's metadata (and the CLI says so on stderr). The bound holds for
the host's memory too: everything the tracer keeps while the run lasts (events, system calls
waiting for their slice, link-utilisation buckets, migration marks) is counted against it as it
comes, so the tracer holds O(limit + the chip's size) whatever the run does, and the file has
at most `limit` events besides the tracks' names (O(the chip's size)).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoal.errors import ShoalError

if TYPE_CHECKING:
    from shoal.engine.local import LocalBackend
    from shoal.kernel.container import Thread
    from shoal.kernel.kernel import Kernel
    from shoal.kernel.migrate import Migration
    from shoal.platform.noc import Packet
    from shoal.spec import ChipSpec

KINDS = ("slices", "syscalls", "packets", "frames", "links", "migrations", "caches")
DEFAULT_LIMIT = 200_000  # events: ~30 MB of JSON (ui.perfetto.dev opens it well), ~150 MB held on the host
LINK_BUCKET_US = 50  # link utilisation is the busy share of each 50 us of simulated time
NOC_TID = 999  # sorts a node's NoC track after its harts (at most 64)
MIGRATIONS_PID = 1_000_000  # the process track that holds the migrations
MIGRATION_TID = 10_000_000  # + the process's pid: its track among the migrations
CACHE_KEY = NOC_TID + 3  # + the hart: where a core's cache counters sort among a cluster's tracks
CACHE_FIELDS = ("stall_after", "stall_next")  # a migration's, None without the model: left out


def hart_tid(cluster: int, hart: int) -> int:
    """The trace's thread id of a core: unique over the chip (Perfetto keys threads by tid)."""
    return (cluster + 1) * 1000 + hart


def noc_tid(node: int) -> int:
    """The trace's thread id of a node's NoC track."""
    return (node + 1) * 1000 + NOC_TID
PHASES = ("freeze", "transfer", "rebuild", "commit")


class LinkBusy:
    """The NoC links' busy time by bucket of `bucket` cycles, for the utilisation counters."""

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket
        self.busy: dict[tuple[int, int, int], int] = {}  # (from, to, bucket) -> busy cycles
        self.pairs: set[tuple[int, int]] = set()  # (node, bucket) with busy time in `busy`
        self.events = 0  # the counter events _links() will make of `busy`
        self.route: Callable[[int, int], list[tuple[int, int]]] | None = None  # a packet's links


class Tracer:
    """Collects events from the kernels' hooks; `document(chip)` builds the trace."""

    def __init__(self, spec: ChipSpec, limit: int = DEFAULT_LIMIT,
                 clusters: Iterable[int] | None = None, kinds: Iterable[str] | None = None,
                 path: str | Path | None = None) -> None:
        """`path`: where Chip.run() writes the trace (checked now); None: call Chip.write_trace."""
        if path is not None:
            check_path(path)
        self.path = None if path is None else Path(path)
        if limit < 0:
            raise ShoalError(f"bad trace limit {limit}: give a number of events, 0 or more")
        self.spec = spec
        self.limit = limit
        nodes = spec.compute_clusters + 1  # the I/O cluster of the daemons is node `compute_clusters`
        self.clusters = None if clusters is None else sorted(set(clusters))
        for c in self.clusters or []:
            if not 0 <= c < nodes:
                raise ShoalError(f"trace: cluster {c} does not exist (0..{spec.compute_clusters - 1}, "
                                 f"{spec.compute_clusters} for the I/O cluster)")
        # Every NoC node (a route may cross the other I/O clusters' routers): kept or not.
        self._keep = [self.clusters is None or c in self.clusters
                      for c in range(spec.compute_clusters + spec.noc.io_clusters)]
        known = KINDS if spec.cache.caches else tuple(k for k in KINDS if k != "caches")
        self.kinds = known if kinds is None else tuple(k for k in known if k in set(kinds))
        for k in kinds or ():
            if k not in KINDS:
                raise ShoalError(f"trace: unknown kind '{k}' (kinds: {', '.join(KINDS)})")
        self._on = {k: k in self.kinds for k in KINDS}
        self.events: list[tuple[tuple, dict]] = []  # (sort key, event)
        self.dropped: dict[str, int] = {}  # by kind, while the run lasts
        self.dropped_in_file: dict[str, int] | None = None  # with what the last document() cut
        self._open: dict[tuple[int, int], list] = {}  # (cluster, hart) -> the slice being merged
        self._calls: dict[int, list[tuple[dict, int, int]]] = {}  # calls of the running slice
        self._frames: dict[int, int] = {}  # last free-frame count written, by cluster
        self._flows = 0
        self._held = 0  # what is kept now toward `limit`: events, pending calls, link events, marks
        self._pending = 0  # system calls waiting in _calls for their slice
        self._mig_marks: dict[tuple[int, str], int] = {}  # (mid, mark) -> cycle
        self._cores: dict[tuple[int, int], list[int]] = {}  # (cluster, hart) -> D misses, I misses, stall
        self.links = LinkBusy(max(1, LINK_BUCKET_US * spec.cluster.freq_hz // 1_000_000))

    # time ---------------------------------------------------------------------------------------
    def us(self, cycles: int) -> float:
        """Simulated cycles as microseconds, rounded to 0.1 ns by integers (the same on every host)."""
        return (cycles * 10_000_000_000 // self.spec.cluster.freq_hz) / 10_000

    # collecting ---------------------------------------------------------------------------------
    def _room(self, kind: str, n: int = 1) -> bool:
        """Take room for `n` events of `kind` (all or none); False and counted as dropped if
        the bound has no room for them."""
        if self._held + n > self.limit:
            self.dropped[kind] = self.dropped.get(kind, 0) + n
            return False
        self._held += n
        return True

    @property
    def held(self) -> int:
        """How much the tracer keeps now toward its bound (never more than `limit`)."""
        return self._held

    def _add(self, kind: str, key: tuple, ev: dict) -> None:
        if self._room(kind):
            self.events.append((key, ev))

    def slice(self, cluster: int, hart: int, t: Thread, start: int, end: int, n: int) -> None:
        """A hart ran thread `t` from `start` to `end` (cycles), `n` instructions."""
        calls = self._calls.pop(cluster, None)
        if calls:  # made during this slice, so on this hart (an exit may have freed it already)
            self._pending -= len(calls)
            for c in calls:  # their room was taken when they were made
                ev = {**c[0], "tid": hart_tid(cluster, hart)}
                self.events.append(((c[1], cluster, hart, 1, -c[2]), ev))
        if not (self._on["slices"] and self._keep[cluster]) or end <= start:
            return
        cur = self._open.get((cluster, hart))
        if cur is not None and cur[0] is t and cur[2] == start:
            cur[2], cur[3] = end, cur[3] + n  # the same run, cut by the engine: one slice
            return
        self._close(cluster, hart)
        self._open[(cluster, hart)] = [t, start, end, n]

    def _close(self, cluster: int, hart: int) -> None:
        cur = self._open.pop((cluster, hart), None)
        if cur is None:
            return
        t, start, end, n = cur
        ev = {"ph": "X", "pid": cluster, "tid": hart_tid(cluster, hart), "ts": self.us(start),
              "dur": self.us(end - start), "name": f"{t.proc.name} [{t.tid}]", "cat": "slice",
              "args": {"pid": t.proc.pid, "tid": t.tid, "instructions": n}}
        self._add("slices", (start, cluster, hart, 0, -end), ev)

    def syscall(self, k: Kernel, t: Thread, name: str, start: int, end: int) -> None:
        """Thread `t` made system call `name` from `start` to `end` (served, or until it blocked);
        written with the slice it was made in (`slice`), which knows the hart."""
        if not (self._on["syscalls"] and self._keep[k.cluster]) or not self._room("syscalls"):
            return
        self._pending += 1
        ev = {"ph": "X", "pid": k.cluster, "ts": self.us(start), "dur": self.us(end - start),
              "name": name, "cat": "syscall", "args": {"pid": t.proc.pid, "tid": t.tid}}
        self._calls.setdefault(k.cluster, []).append((ev, start, end))

    def frames(self, cluster: int, free: int, at: int) -> None:
        """The cluster's free frames after a kernel item at `at` (written when they change)."""
        if not (self._on["frames"] and self._keep[cluster]) or self._frames.get(cluster) == free:
            return
        self._frames[cluster] = free
        self._add("frames", (at, cluster, NOC_TID + 1, 0, 0),
                  {"ph": "C", "pid": cluster, "tid": 0, "ts": self.us(at), "name": "free frames",
                   "args": {"frames": free}})

    def packet(self, p: Packet) -> None:
        """A NoC packet arrived (or was lost): a send, an arrival and the flow between them."""
        if not (self._on["packets"] and (self._keep[p.src] or self._keep[p.dst])):
            return
        if not self._room("packets", 2 * (self._keep[p.src] + self._keep[p.dst])):
            return  # all of it or nothing: no flow with one end
        self._flows += 1
        fid = self._flows
        lost = " (lost)" if p.failed else ""
        args = {"kind": p.kind, "bytes": p.nbytes, "from": p.src, "to": p.dst, "form": p.form}
        arrival = p.arrival if p.arrival is not None else p.ready
        for node, at, what, ph in ((p.src, p.ready, "send", "s"), (p.dst, arrival, "recv", "f")):
            if not self._keep[node]:
                continue
            key = (at, node, NOC_TID, 2, p.src, p.seq, ph)
            # One cycle long, so that the flow's ends have a slice open at their time to bind to.
            self.events.append((key, {"ph": "X", "pid": node, "tid": noc_tid(node), "ts": self.us(at),
                                       "dur": self.us(1), "name": f"{what} {p.kind}{lost}", "cat": "noc",
                                       "args": args}))
            flow = {"ph": ph, "pid": node, "tid": noc_tid(node), "ts": self.us(at), "name": p.kind,
                    "cat": "noc", "id": fid}
            if ph == "f":
                flow["bp"] = "e"  # bind to the arrival slice that starts here
            self.events.append(((*key, 1), flow))

    def chunk(self, src: int, dst: int, start: int, cycles: int) -> None:
        """A DMA operation of a packet from `src` to `dst` holds every link of its route from
        `start` for `cycles` (the NoC's reservation): counted into the links' busy time."""
        lb = self.links
        if not self._on["links"] or lb.route is None:
            return
        b = lb.bucket
        for a, z in lb.route(src, dst):
            if not self._keep[a]:
                continue
            t, end = start, start + cycles
            while t < end:
                k = t // b
                step = min(end, (k + 1) * b) - t
                t += step
                if (a, k) not in lb.pairs:
                    # A new sample (and the 0 after it, unless the next bucket is busy, which
                    # the previous sample's 0 then is not): its events take room now.
                    n = 1 + ((a, k + 1) not in lb.pairs) - ((a, k - 1) in lb.pairs)
                    if not self._room("links", n):
                        continue
                    lb.pairs.add((a, k))
                    lb.events += n
                lb.busy[(a, z, k)] = lb.busy.get((a, z, k), 0) + step

    def caches(self, cluster: int, hart: int, at: int, misses: tuple[int, int], stall: int) -> None:
        """A slice on the hart ended at `at` with these D and I misses and stall cycles."""
        if not (self._on["caches"] and self._keep[cluster]) or (misses == (0, 0) and not stall):
            return
        c = self._cores.setdefault((cluster, hart), [0, 0, 0])
        c[0] += misses[0]
        c[1] += misses[1]
        c[2] += stall
        self._add("caches", (at, cluster, CACHE_KEY + hart, 0, 0),
                  {"ph": "C", "pid": cluster, "tid": 0, "ts": self.us(at), "name": f"core {hart} L1",
                   "args": {"D misses": c[0], "I misses": c[1], "stall cycles": c[2]}})

    def mig_mark(self, mid: int, mark: str, at: int) -> None:
        """A step of migration `mid` (kernel side): image_sent and acked at the source,
        image_arrived and rebuilt at the destination."""
        if (mid, mark) in self._mig_marks or self._room("migrations"):
            self._mig_marks[(mid, mark)] = at

    # the file ---------------------------------------------------------------------------------
    def _migration(self, m: Migration, out: list[tuple[tuple, dict]]) -> None:
        if m.dst < 0 or not (self._keep[m.src] or self._keep[m.dst]):
            return  # a checkpoint, or filtered out
        if m.state == "failed" and m.ended is not None:  # the process went on at the source
            out.append(((m.ended, MIGRATIONS_PID, m.pid, 0, 0, m.mid),
                        {"ph": "i", "s": "t", "pid": MIGRATIONS_PID, "tid": MIGRATION_TID + m.pid,
                         "ts": self.us(m.ended), "cat": "migration",
                         "name": f"migration to cluster {m.dst} failed",
                         "args": {"reason": m.reason, "src": m.src, "dst": m.dst, "requested": m.requested}}))
            return
        if m.frozen is None or m.thawed is None or not m.ok:
            return
        args: dict[str, Any] = {}
        for f in dataclasses.fields(m):  # every public field, present and future (method, rounds...)
            v = getattr(m, f.name)
            # Host times (wall_seconds) would make two runs' files differ: left out.
            if v is None and f.name in CACHE_FIELDS:
                continue
            if f.repr and "wall" not in f.name and (v is None or isinstance(v, (int, float, str, bool))):
                args[f.name] = v
        args["downtime_cycles"] = m.downtime
        args["downtime_us"] = self.us(m.thawed - m.frozen)
        base = {"pid": MIGRATIONS_PID, "tid": MIGRATION_TID + m.pid, "cat": "migration"}
        out.append(((m.frozen, MIGRATIONS_PID, m.pid, 0, -m.thawed, m.mid),
                    {**base, "ph": "X", "ts": self.us(m.frozen), "dur": self.us(m.thawed - m.frozen),
                     "name": f"migrate pid {m.pid}: cluster {m.src} -> {m.dst}", "args": args}))
        # Live methods: the rounds before the freeze, and the pages that follow the thaw, as
        # slices of their own beside the downtime (the process runs during both).
        if m.rounds and m.requested < m.frozen:
            out.append(((m.requested, MIGRATIONS_PID, m.pid, 0, -m.frozen, m.mid),
                        {**base, "ph": "X", "ts": self.us(m.requested),
                         "dur": self.us(m.frozen - m.requested),
                         "name": f"pre-copy: {m.rounds} rounds", "args": {"switch": m.switch}}))
        if m.postcopy_pages and m.ended is not None and m.ended > m.thawed:
            out.append(((m.thawed, MIGRATIONS_PID, m.pid, 9, -m.ended, m.mid),
                        {**base, "ph": "X", "ts": self.us(m.thawed), "dur": self.us(m.ended - m.thawed),
                         "name": f"post-copy: {m.postcopy_pages} pages follow",
                         "args": {"remote_faults": m.remote_faults, "page_wait_cycles": m.page_wait}}))
        marks = [m.frozen, *(self._mig_marks.get((m.mid, k)) for k in ("image_sent", "image_arrived",
                                                                        "rebuilt")), m.thawed]
        if any(x is None for x in marks) or marks != sorted(marks):  # type: ignore[type-var]
            return  # a step the tracer did not see (attached late): the phases stay unknown
        for i, name in enumerate(PHASES):
            a, z = marks[i], marks[i + 1]
            out.append(((a, MIGRATIONS_PID, m.pid, 1 + i, -z, m.mid),
                        {**base, "ph": "X", "ts": self.us(a), "dur": self.us(z - a),  # type: ignore[operator]
                         "name": name, "args": {"cycles": z - a}}))  # type: ignore[operator]

    def _links(self) -> list[tuple[tuple, dict]]:
        """Link utilisation counters: per node, one series per outgoing link, per bucket,
        back to 0 after the last busy bucket of a run of them."""
        out: list[tuple[tuple, dict]] = []
        per: dict[tuple[int, int], dict[str, float]] = {}
        names: dict[int, set[str]] = {}
        for (a, z, k), busy in sorted(self.links.busy.items()):
            name = f"{self._node(a)}->{self._node(z)}"
            per.setdefault((a, k), {})[name] = round(busy / self.links.bucket, 4)
            names.setdefault(a, set()).add(name)
        for (a, k), series in sorted(per.items()):
            full = {n: series.get(n, 0.0) for n in sorted(names[a])}
            at = k * self.links.bucket
            out.append(((at, a, NOC_TID + 2, 0, 0), {"ph": "C", "pid": a, "tid": 0, "ts": self.us(at),
                                                     "name": "link utilisation", "args": full}))
            if (a, k + 1) not in per:
                end = (k + 1) * self.links.bucket
                out.append(((end, a, NOC_TID + 2, 0, 0),
                            {"ph": "C", "pid": a, "tid": 0, "ts": self.us(end), "name": "link utilisation",
                             "args": {n: 0.0 for n in sorted(names[a])}}))
        return out

    def _node(self, n: int) -> str:
        c = self.spec.compute_clusters
        return f"io{n - c}" if n >= c else f"c{n}"

    def _metadata(self, migrated: Iterable[tuple[int, str]]) -> list[dict]:
        spec = self.spec
        evs: list[dict] = []
        for c in range(spec.compute_clusters + 1):
            if not self._keep[c]:
                continue
            io = c == spec.compute_clusters
            evs.append({"ph": "M", "pid": c, "tid": 0, "name": "process_name",
                        "args": {"name": "I/O cluster 0 (daemons)" if io else f"cluster {c}"}})
            evs.append({"ph": "M", "pid": c, "tid": 0, "name": "process_sort_index",
                        "args": {"sort_index": c}})
            for h in range(0 if io else spec.cluster.cores_per_cluster):
                evs.append({"ph": "M", "pid": c, "tid": hart_tid(c, h), "name": "thread_name",
                            "args": {"name": f"core {h}"}})
            evs.append({"ph": "M", "pid": c, "tid": noc_tid(c), "name": "thread_name",
                        "args": {"name": "NoC (packets sent and received)"}})
        if self._on["migrations"]:
            evs.append({"ph": "M", "pid": MIGRATIONS_PID, "tid": 0, "name": "process_name",
                        "args": {"name": "migrations"}})
            for pid, name in migrated:
                evs.append({"ph": "M", "pid": MIGRATIONS_PID, "tid": MIGRATION_TID + pid,
                            "name": "thread_name", "args": {"name": f"{name} (pid {pid})"}})
        return evs

    def document(self, migrations: list[Migration], names: dict[int, str]) -> dict:
        """The whole trace as a JSON-ready object (events sorted: the same run, the same file)."""
        for key in sorted(self._open):
            self._close(*key)
        evs = list(self.events)
        dropped = dict(self.dropped)  # (the run may go on: a document is taken after each run())
        # Calls whose slice never came (their cluster stopped first) are not written.
        if self._pending:
            dropped["syscalls"] = dropped.get("syscalls", 0) + self._pending
        mig: list[tuple[tuple, dict]] = []
        migrated: list[tuple[int, str]] = []
        if self._on["migrations"]:
            for m in migrations:
                self._migration(m, mig)
            migrated = sorted({(m.pid, names.get(m.pid, "?")) for m in migrations if m.dst >= 0})
        links = self._links() if self._on["links"] else []
        # What is added now shares the room left by the events; migrations (and their tracks'
        # names) come first: they are few and the reason many people open a trace; link
        # counters are cut before them.
        room = max(0, self.limit - len(evs))
        take = min(room, len(mig) + len(migrated))
        kept_names = migrated[:max(0, take - len(mig))]
        evs += mig[:take]
        lost = len(mig) + len(migrated) - take
        room -= take
        evs += links[:room]
        lost_links = max(0, len(links) - room)
        for kind, n in (("migrations", lost), ("links", lost_links)):
            if n:
                dropped[kind] = dropped.get(kind, 0) + n
        self.dropped_in_file = dropped
        evs.sort(key=lambda ke: ke[0])
        meta = {
            "clock": "simulated",
            "timestamps": "simulated microseconds (cycles / freq_hz * 1e6); never host time",
            "chip": self.spec.name, "freq_hz": self.spec.cluster.freq_hz,
            "kinds": list(self.kinds), "clusters": "all" if self.clusters is None else self.clusters,
            "limit": self.limit, "events": len(evs) + len(kept_names),
            "dropped": dict(sorted(dropped.items())), "link_bucket_us": LINK_BUCKET_US,
        }
        if dropped:
            meta["note"] = (f"{sum(dropped.values())} events were dropped by the size bound "
                            f"({self.limit} events): raise it or filter clusters or kinds")
        return {"traceEvents": self._metadata(kept_names) + [e for _, e in evs], "displayTimeUnit": "ns",
                "otherData": meta}

    def write(self, path: str | Path, migrations: list[Migration], names: dict[int, str]) -> dict:
        """Write the trace to `path`; its metadata."""
        import json  # (only when a trace is written)
        doc = self.document(migrations, names)
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        try:
            Path(path).write_text(text)
        except OSError as e:
            raise ShoalError(f"cannot write the trace to {path}: {e.strerror or e}") from None
        return doc["otherData"]


def attach(tracer: Tracer, backend: LocalBackend) -> None:
    """Give the tracer to every hook: the kernels, the NoC, the backend's delivery."""
    for k in backend.kernels:
        k.tracer = tracer
    backend.tracer = tracer
    noc = backend._noc
    noc.tracer = tracer
    routes: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def route(a: int, z: int) -> list[tuple[int, int]]:
        r = routes.get((a, z))
        if r is None:
            r = routes[(a, z)] = noc.route(a, z)
        return r
    tracer.links.route = route


def check_path(path: str | Path) -> None:
    """Refuse a trace path that cannot be written, before the run (not after it)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise ShoalError(f"--trace {path}: is a directory")
        with open(p, "a"):
            pass
    except OSError as e:
        raise ShoalError(f"--trace {path}: {e.strerror or e}") from None


def parse_clusters(text: str) -> list[int]:
    """"0,3,5-7" -> [0, 3, 5, 6, 7]."""
    out: list[int] = []
    try:
        for part in text.split(","):
            a, sep, b = part.strip().partition("-")
            out += list(range(int(a), int(b) + 1)) if sep else [int(a)]
    except ValueError:
        raise ShoalError(f"--trace-clusters {text}: expected cluster numbers such as 0,3,5-7") from None
    return out


def open_trace(backend: LocalBackend, spec: ChipSpec,
               trace: str | Path | Tracer | None) -> tuple[Tracer | None, Path | None]:
    """The tracer a Chip takes (attached) and where it writes; (None, None) for no trace."""
    if trace is None:
        return None, None
    if isinstance(trace, Tracer):
        attach(trace, backend)
        return trace, trace.path
    t = Tracer(spec, path=trace)
    attach(t, backend)
    return t, t.path

"""The network-on-chip: topology, XY routing, and links reserved while a transfer crosses them.

Topology (MPPA-256, de Dinechin et al., ICCS 2013): the compute clusters sit on a 2D torus
(the D-NoC and C-NoC are both 2D tori) and each I/O subsystem attaches to the routers of one
edge. shoal models one torus for data and control alike, with dimension-ordered (XY)
routing that takes the shorter way around each ring (ties go the positive way): the real
chip source-routes, and XY on the torus gives the minimal, deadlock-free routes a routing
table would hold. I/O cluster k attaches to edge k (north, south, west, east) and enters or
leaves the torus at the router of that edge nearest the other end.

Timing of one transfer of B bytes that becomes ready at cycle t:
    start   = first cycle >= t + setup at which every link of the path is free for D cycles
    D       = ceil(B / link_bytes_per_cycle)
    arrival = start + hops * hop_cycles + D
Every link of the path is reserved for [start, start + D) (wormhole switching keeps the
whole path while the packet streams). Bulk transfers move in chunks (one page plus a
header per DMA operation, as Nanvix's portals do); the chunks of flows that share a link
interleave. The engine submits packets as clusters send them and lets the NoC place
chunks only once no earlier one can still come (`advance`), so links are given out in
order of ready time (ties: sending node, then its own order), whatever order the
clusters were simulated in.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field

from shoal.spec import ChipSpec

Link = tuple[int, int]  # (from node, to node)


@dataclass
class LinkState:
    busy: list[tuple[int, int]] = field(default_factory=list)  # sorted, disjoint
    bytes: int = 0
    transfers: int = 0

    def first_fit(self, t: int, d: int) -> int:
        busy = self.busy
        i = bisect.bisect_right(busy, (t, t))
        if i > 0 and busy[i - 1][1] > t:
            i -= 1
        while i < len(busy) and busy[i][0] < t + d:
            t = max(t, busy[i][1])
            i += 1
        return t

    def reserve(self, start: int, end: int) -> None:
        bisect.insort(self.busy, (start, end))

    def prune(self, before: int) -> None:
        i = 0
        while i < len(self.busy) and self.busy[i][1] <= before:
            i += 1
        if i:
            del self.busy[:i]


@dataclass(eq=False)
class Packet:
    """One message or bulk transfer between two nodes; `arrival` is set once scheduled.

    `kind` and `body` say what it means to the receiving kernel or daemon; `data` is the
    payload it carries. Its time on the wire comes from `nbytes`, `chunk` and `header`."""

    src: int
    dst: int
    kind: str
    body: dict
    data: bytes
    nbytes: int  # payload bytes on the wire
    ready: int  # cycle at which the sender hands it to the NoC
    chunk: int  # payload bytes per DMA operation
    header: int  # header bytes added to each chunk on the wire
    confirm: bool = False  # tell the sender when it has been delivered
    seq: int = 0
    start: int | None = None
    arrival: int | None = None
    failed: bool = False


class NoC:
    def __init__(self, spec: ChipSpec) -> None:
        self.spec = spec
        self.w, self.h = spec.mesh_width, spec.mesh_height
        self.ncompute = spec.compute_clusters
        self.nodes = self.ncompute + spec.io_clusters
        self.links: dict[Link, LinkState] = {}
        self.messages = 0
        self.bytes = 0
        self._routes: dict[tuple[int, int], list[Link]] = {}
        self._paths: dict[tuple[int, int], list[LinkState]] = {}
        self.fail_next: dict[str, int] = {}  # test hook: packet kind -> transfers to fail
        # Chunks not yet placed: (ready, src, seq, chunk index, submission number, packet).
        self._pending: list[tuple[int, int, int, int, int, Packet]] = []
        self._submitted = 0

    def inject_failure(self, kind: str, count: int = 1) -> None:
        """Test hook: the next `count` transfers of packets of `kind` fail (a DMA error the
        sender is told of at the time the transfer would have arrived)."""
        self.fail_next[kind] = self.fail_next.get(kind, 0) + count

    # topology -------------------------------------------------------------------
    def xy(self, c: int) -> tuple[int, int]:
        return (c % self.w, c // self.w)

    def node(self, x: int, y: int) -> int:
        return (y % self.h) * self.w + (x % self.w)

    def _ring_steps(self, a: int, b: int, n: int) -> list[int]:
        """Positions visited going from a to b the shorter way round a ring of n."""
        fwd = (b - a) % n
        back = (a - b) % n
        step = 1 if fwd <= back else -1
        return [(a + step * i) % n for i in range(1, min(fwd, back) + 1)]

    def _torus_path(self, a: int, b: int) -> list[int]:
        (ax, ay), (bx, by) = self.xy(a), self.xy(b)
        nodes = [a]
        nodes += [self.node(x, ay) for x in self._ring_steps(ax, bx, self.w)]
        nodes += [self.node(bx, y) for y in self._ring_steps(ay, by, self.h)]
        return nodes

    def _edge_router(self, io: int, toward: int) -> int:
        """Router where I/O cluster `io` meets the torus, nearest compute cluster `toward`."""
        k = (io - self.ncompute) % 4
        x, y = self.xy(toward)
        return [self.node(x, 0), self.node(x, self.h - 1), self.node(0, y), self.node(self.w - 1, y)][k]

    def route(self, src: int, dst: int) -> list[Link]:
        key = (src, dst)
        got = self._routes.get(key)
        if got is not None:
            return got
        if src == dst:
            path = [src]
        elif src < self.ncompute and dst < self.ncompute:
            path = self._torus_path(src, dst)
        elif src >= self.ncompute and dst < self.ncompute:
            path = [src, *self._torus_path(self._edge_router(src, dst), dst)]
        elif src < self.ncompute:
            path = [*self._torus_path(src, self._edge_router(dst, src)), dst]
        else:
            entry = self._edge_router(src, 0)
            path = [src, *self._torus_path(entry, self._edge_router(dst, entry)), dst]
        links = list(zip(path, path[1:], strict=False))
        self._routes[key] = links
        return links

    def hops(self, src: int, dst: int) -> int:
        return len(self.route(src, dst))

    # timing ---------------------------------------------------------------------
    def latency(self, src: int, dst: int, nbytes: int, chunk: int, header: int) -> int:
        """Cycles for a transfer alone on the network (the formula the tests check)."""
        s = self.spec
        n = max(1, -(-nbytes // chunk))
        per = [min(chunk, nbytes - i * chunk) + header for i in range(n)]
        dur = [-(-b // s.noc_link_bytes_per_cycle) for b in per]
        # Chunks go one after another; each pays setup, the last also the path latency.
        return sum(s.noc_setup_cycles + d for d in dur) + self.hops(src, dst) * s.noc_hop_cycles

    def schedule(self, flows: list[Packet]) -> None:
        """Reserve links for `flows` (earliest ready first), setting start and arrival."""
        self.submit(flows)
        self.advance(1 << 62)

    def submit(self, flows: list[Packet]) -> None:
        for f in flows:
            self._submitted += 1
            heapq.heappush(self._pending, (f.ready, f.src, f.seq, 0, self._submitted, f))

    def next_ready(self) -> int | None:
        """Ready time of the earliest chunk not yet placed."""
        return self._pending[0][0] if self._pending else None

    def advance(self, before: int) -> list[Packet]:
        """Place every chunk ready before `before`; return the packets that are now complete
        (their `arrival` set), in the order they were completed."""
        s = self.spec
        heap = self._pending
        done = []
        while heap and heap[0][0] < before:
            ready, src, seq, i, uid, f = heapq.heappop(heap)
            nchunks = max(1, -(-f.nbytes // f.chunk))
            size = min(f.chunk, f.nbytes - i * f.chunk) + f.header
            d = -(-size // s.noc_link_bytes_per_cycle)
            path = self._paths.get((f.src, f.dst))
            if path is None:
                path = self._paths[(f.src, f.dst)] = [self._link(lk) for lk in self.route(f.src, f.dst)]
            t = ready + s.noc_setup_cycles
            moved = True
            while moved:
                moved = False
                for lk in path:
                    t2 = lk.first_fit(t, d)
                    if t2 != t:
                        t, moved = t2, True
            for lk in path:
                lk.reserve(t, t + d)
                lk.bytes += size
                lk.transfers += 1
            self.bytes += size
            if f.start is None:
                f.start = t
            if i + 1 < nchunks:
                heapq.heappush(heap, (t + d, src, seq, i + 1, uid, f))
            else:
                f.arrival = t + d + len(path) * s.noc_hop_cycles
                self.messages += 1
                if self.fail_next.get(f.kind, 0) > 0:
                    self.fail_next[f.kind] -= 1
                    f.failed = True
                done.append(f)
        return done

    def _link(self, lk: Link) -> LinkState:
        st = self.links.get(lk)
        if st is None:
            st = self.links[lk] = LinkState()
        return st

    def prune(self, before: int) -> None:
        for st in self.links.values():
            st.prune(before)

    def min_latency(self) -> int:
        """A lower bound on any packet's time from ready to arrival: the engine's lookahead."""
        s = self.spec
        header = min(s.mailbox_header, s.portal_header)
        return s.noc_setup_cycles + max(1, -(-header // s.noc_link_bytes_per_cycle))

    def messages_sent(self) -> int:
        return self.messages

    def bytes_sent(self) -> int:
        return self.bytes

    def busiest(self) -> tuple[Link, LinkState] | None:
        if not self.links:
            return None
        return max(self.links.items(), key=lambda kv: (kv[1].bytes, kv[0]))

    def name(self, n: int) -> str:
        return f"io{n - self.ncompute}" if n >= self.ncompute else f"c{n}"

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

What a packet carries on the wire (`packet()` below), in three forms:
    mailbox  an IKC mailbox message: Nanvix's fixed format, a 16 B header (which holds its
             addressing) and a 128 B payload whatever the size written
    control  a kernel or daemon message (a request, a reply, a migration step): the header
             and the encoded size of its body and data, in one DMA operation per page
    bulk     a portal-style transfer: the data, cut into page-sized chunks with a header each;
             the first header holds the body (as Nanvix's portal header holds the port, the
             sender and the size), and what of the body does not fit goes before the data
`body_bytes` gives the encoded size of a body (shoal/messages.py) by one fixed rule (a
modelling assumption: a real kernel would lay the same fields out as a C struct): an integer,
bool or None takes 4 bytes, but 8 for the 64-bit operation and migration ids (fields "op" and
"mid", whatever their value) and for any other that does not fit in 32 bits; a float 8; a
string its UTF-8 bytes and bytes their length, each after a 4-byte length; a list or tuple a
4-byte count and its items; a body (or a record inside one) its fields' values, an absent
(UNSET) field nothing (the packet's kind fixes its layout, as a struct's type does, so names
cost nothing).
"""

from __future__ import annotations

import heapq
from dataclasses import field

from msgspec import UNSET, Struct
from msgspec.structs import astuple

from shoal.messages import Body, Kind
from shoal.platform.calendar import Calendar
from shoal.record import dataclass
from shoal.spec import ChipSpec

Link = tuple[int, int]  # (from node, to node)


@dataclass
class LinkState:
    """A NoC link: when it is busy, and what it has carried."""

    cal: Calendar = field(default_factory=Calendar)  # when the link is busy
    bytes: int = 0
    transfers: int = 0


@dataclass(eq=False)
class Packet:
    """One message or bulk transfer between two nodes; `arrival` is set once scheduled.

    `kind` and `body` say what it means to the receiving kernel or daemon; `data` is the
    payload it carries. Its time on the wire comes from `nbytes`, `chunk` and `header`."""

    src: int
    dst: int
    kind: Kind
    body: Body
    data: bytes
    nbytes: int  # payload bytes on the wire
    ready: int  # cycle at which the sender hands it to the NoC
    chunk: int  # payload bytes per DMA operation
    header: int  # header bytes added to each chunk on the wire
    form: str = "control"  # "control", "mailbox" or "bulk" (see packet())
    seq: int = 0
    start: int | None = None
    arrival: int | None = None
    failed: bool = False


WIDE = frozenset({"op", "mid"})  # 64-bit ids


def body_bytes(value: object, key: str = "") -> int:
    """Encoded size of a packet body (the rule is in the module's docstring)."""
    if value is None or isinstance(value, bool):
        return 4
    if isinstance(value, int):
        return 4 if key not in WIDE and -(1 << 31) <= value < (1 << 32) else 8
    if isinstance(value, float):
        return 8
    if isinstance(value, str):
        return 4 + len(value.encode("utf-8", "surrogateescape"))  # (a link target keeps raw bytes)
    if isinstance(value, (bytes, bytearray)):
        return 4 + len(value)
    if isinstance(value, (list, tuple)):
        return 4 + sum(body_bytes(v) for v in value)
    if isinstance(value, Struct):
        return struct_bytes(value)
    raise TypeError(f"a packet body cannot carry {type(value).__name__}")


_NARROW: dict[type, bool] = {}  # body class -> none of its fields is a 64-bit id
_INT_UNSET = frozenset({int, type(UNSET)})
_WIDE_AT: dict[type, tuple[int, ...]] = {}  # body class -> where its 64-bit ids are among its fields


def struct_bytes(body: Struct) -> int:
    """Encoded size of a body or a record in one (its set fields; every packet pays this)."""
    values = astuple(body)
    narrow = _NARROW.get(type(body))
    if narrow is None:
        narrow = _NARROW[type(body)] = not WIDE.intersection(body.__struct_fields__)
        _WIDE_AT[type(body)] = tuple(i for i, k in enumerate(body.__struct_fields__) if k in WIDE)
    # Most bodies are a few small integers (4 bytes each): told in one pass, else field by field.
    if narrow:
        for v in values:
            if type(v) is not int or v < -(1 << 31) or v >= (1 << 32):
                break
        else:
            return 4 * len(values)
    types = set(map(type, values))
    if types <= _INT_UNSET:  # (an answer: a few integers set, an id among them; the rest absent)
        ints = set(values)  # (its integers' range and count told by C loops, not Python ones)
        ints.discard(UNSET)
        if not ints or (min(ints) >= -(1 << 31) and max(ints) < (1 << 32)):
            n = len(values) - values.count(UNSET)
            for i in _WIDE_AT[type(body)]:
                if values[i] is not UNSET:
                    n += 1
            return 4 * n
    n = 0
    for k, v in zip(body.__struct_fields__, values, strict=True):  # (a loop, not sum())
        t = type(v)
        if t is int:
            n += 4 if k not in WIDE and -(1 << 31) <= v < (1 << 32) else 8
        elif v is UNSET:
            continue  # absent: not on the wire
        elif t is bool or v is None:
            n += 4
        else:
            n += body_bytes(v, k)
    return n


def packet(spec: ChipSpec, src: int, dst: int, body: Body, data: bytes, ready: int, form: str) -> Packet:
    """A packet of `form` ("control", "mailbox", "bulk") with its size on the wire; its kind is
    its body's."""
    kind = body.KIND
    ikc = spec.ikc
    if form == "mailbox":
        return Packet(src, dst, kind, body, data, ikc.mailbox_payload, ready, ikc.mailbox_payload,
                      ikc.mailbox_header, form)
    if form == "bulk":
        nbytes = max(0, struct_bytes(body) - ikc.portal_header) + len(data)
        return Packet(src, dst, kind, body, data, nbytes, ready, ikc.portal_chunk, ikc.portal_header, form)
    nbytes = struct_bytes(body) + len(data)
    return Packet(src, dst, kind, body, data, nbytes, ready, ikc.portal_chunk, ikc.mailbox_header, form)


IKC_KINDS = frozenset({Kind.MBX_DATA, Kind.PORTAL_REQ, Kind.PORTAL_GO, Kind.PORTAL_DATA, Kind.SYNC_SIGNAL})


def traffic_class(kind: str) -> str:
    """What a packet is for, in the NoC's bytes x hops figures: ikc (programs talking),
    migration, policy (load reports and decisions), or system (the rest)."""
    if kind in IKC_KINDS:
        return "ikc"
    if kind.startswith("mig_"):
        return "migration"
    if kind.startswith("policy") or kind == "load_report":
        return "policy"
    return "system"


def transfer_cycles(spec: ChipSpec, nbytes: int, chunk: int, header: int, hops: int) -> int:
    """Cycles for a transfer alone on the network: chunks one after another, each paying
    setup and its bytes at the link rate, the last also the path latency."""
    n = max(1, -(-nbytes // chunk))
    per = [max(0, min(chunk, nbytes - i * chunk)) + header for i in range(n)]
    return (sum(spec.noc.noc_setup_cycles + -(-b // spec.noc.noc_link_bytes_per_cycle) for b in per)
            + hops * spec.noc.noc_hop_cycles)


class NoC:
    tracer = None  # a shoal.tools.trace.Tracer while a trace is taken (trace.attach)

    def __init__(self, spec: ChipSpec) -> None:
        self.spec = spec
        self.w, self.h = spec.noc.mesh_width, spec.noc.mesh_height
        self.ncompute = spec.compute_clusters
        self.nodes = self.ncompute + spec.noc.io_clusters
        self.links: dict[Link, LinkState] = {}
        self.messages = 0
        self.bytes = 0
        # Bytes x hops: what traffic costs the network (what placement can cut), by what it is.
        self.byte_hops: dict[str, int] = {}
        self._routes: dict[tuple[int, int], list[Link]] = {}
        self._paths: dict[tuple[int, int], list[LinkState]] = {}
        self._classes: dict[str, str] = {}  # packet kind -> traffic_class(kind)
        self.fail_next: dict[str, int] = {}  # test hook: packet kind -> transfers to fail
        self.delay_next: dict[str, list[int]] = {}  # test hook: packet kind -> extra cycles, in turn
        self.jitter: tuple[int, int, frozenset[str]] | None = None  # test hook: (seed, most, kinds)
        # Chunks not yet placed: (ready, src, seq, chunk index, submission number, packet).
        self._pending: list[tuple[int, int, int, int, int, Packet]] = []
        self._submitted = 0

    def inject_failure(self, kind: str, count: int = 1) -> None:
        """Test hook: the next `count` transfers of packets of `kind` fail (a DMA error the
        sender is told of at the time the transfer would have arrived)."""
        self.fail_next[kind] = self.fail_next.get(kind, 0) + count

    def inject_delay(self, kind: str, cycles: int, count: int = 1) -> None:
        """Test hook: the next `count` transfers of packets of `kind` arrive `cycles` later
        than the links alone would make them (held in a router: later packets may overtake)."""
        self.delay_next.setdefault(kind, []).extend([max(0, cycles)] * count)

    def set_jitter(self, seed: int, most: int, kinds: list[str] | tuple[str, ...]) -> None:
        """Test hook: every transfer of the `kinds` arrives up to `most` cycles late, by a
        pseudo-random amount fixed by `seed` and the packet (its sender and place among the
        sender's packets), so a run is reproducible. For the protocols that must not depend
        on the order their packets arrive in; `most` = 0 switches it off."""
        self.jitter = (seed, most, frozenset(kinds)) if most > 0 else None

    def _late(self, f: Packet) -> int:
        extra = 0
        queue = self.delay_next.get(f.kind)
        if queue:
            extra += queue.pop(0)
            if not queue:  # (spent: packets stop paying for the hook)
                del self.delay_next[f.kind]
        if self.jitter is not None and f.kind in self.jitter[2]:
            seed, most, _ = self.jitter
            h = (seed * 0x9E3779B1 ^ f.src * 0x85EBCA77 ^ f.seq * 0xC2B2AE3D) & 0xFFFFFFFF
            h = (h ^ (h >> 15)) * 0x2C1B3C6D & 0xFFFFFFFF
            extra += (h ^ (h >> 12)) % (most + 1)
        return extra

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
        return transfer_cycles(self.spec, nbytes, chunk, header, self.hops(src, dst))

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
        heap = self._pending
        done: list[Packet] = []
        if not heap or heap[0][0] >= before:
            return done
        s = self.spec
        per_cycle, setup, hop = s.noc.noc_link_bytes_per_cycle, s.noc.noc_setup_cycles, s.noc.noc_hop_cycles
        paths, classes, byte_hops = self._paths, self._classes, self.byte_hops
        tracer = self.tracer
        hooks = bool(self.delay_next or self.jitter is not None or self.fail_next)  # (test hooks)
        pop, push = heapq.heappop, heapq.heappush
        placed = 0
        while heap and heap[0][0] < before:
            ready, src, seq, i, uid, f = pop(heap)
            nbytes, chunk = f.nbytes, f.chunk
            last = nbytes <= (i + 1) * chunk  # (the last chunk; a packet has at least one)
            size = (nbytes - i * chunk if last else chunk) + f.header
            d = -(-size // per_cycle)
            path = paths.get((f.src, f.dst))
            if path is None:
                path = paths[(f.src, f.dst)] = [self._link(lk) for lk in self.route(f.src, f.dst)]
            t = ready + setup
            if len(path) == 1:
                lk = path[0]
                cal = lk.cal
                busy = cal.busy
                # (what the loop below gives for one link; Calendar.first_fit and reserve's
                # usual cases inline: after everything booked, or right after the last run)
                if not busy or busy[-1][1] < t:
                    busy.append((t, t + d))
                elif busy[-1][1] == t and busy[-1][0] < t:
                    busy[-1] = (busy[-1][0], t + d)
                    cal.cuts.append(t)
                else:
                    t = cal.first_fit(t, d)
                    cal.reserve(t, t + d)
                lk.bytes += size
                lk.transfers += 1
            else:
                moved = True
                while moved:
                    moved = False
                    for lk in path:
                        t2 = lk.cal.first_fit(t, d)
                        if t2 != t:
                            t, moved = t2, True
                for lk in path:
                    lk.cal.reserve(t, t + d)
                    lk.bytes += size
                    lk.transfers += 1
            if tracer is not None:
                tracer.chunk(f.src, f.dst, t, d)
            placed += size
            what = classes.get(f.kind)
            if what is None:
                what = classes[f.kind] = traffic_class(f.kind)
            byte_hops[what] = byte_hops.get(what, 0) + size * len(path)
            if f.start is None:
                f.start = t
            if not last:
                push(heap, (t + d, src, seq, i + 1, uid, f))
            else:
                f.arrival = t + d + len(path) * hop
                self.messages += 1
                if hooks:
                    if self.delay_next or self.jitter is not None:
                        f.arrival += self._late(f)
                    if self.fail_next.get(f.kind, 0) > 0:
                        self.fail_next[f.kind] -= 1
                        f.failed = True
                done.append(f)
        self.bytes += placed
        return done

    def _link(self, lk: Link) -> LinkState:
        st = self.links.get(lk)
        if st is None:
            st = self.links[lk] = LinkState()
        return st

    def prune(self, before: int) -> None:
        for st in self.links.values():
            st.cal.prune(before)

    def min_latency(self) -> int:
        """A lower bound on any packet's time from ready to arrival: the engine's lookahead."""
        s = self.spec
        header = min(s.ikc.mailbox_header, s.ikc.portal_header)
        return s.noc.noc_setup_cycles + max(1, -(-header // s.noc.noc_link_bytes_per_cycle))

    def messages_sent(self) -> int:
        return self.messages

    def bytes_sent(self) -> int:
        return self.bytes

    def byte_hops_sent(self) -> dict[str, int]:
        return dict(sorted(self.byte_hops.items()))

    def busiest(self) -> tuple[Link, LinkState] | None:
        if not self.links:
            return None
        return max(self.links.items(), key=lambda kv: (kv[1].bytes, kv[0]))

    def name(self, n: int) -> str:
        return f"io{n - self.ncompute}" if n >= self.ncompute else f"c{n}"

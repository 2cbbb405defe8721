"""Backends: where a chip's nodes live and how they are kept on one clock.

A backend owns the nodes (the compute clusters' kernels and the I/O cluster's daemons) and
the NoC, and offers the host a small interface:
    advance(limit, until)        take every item before simulated cycle `limit`
    call(cluster, request, ...)  a host request served by a cluster's kernel (kernel/host.py)
    daemons(request, ...)        a host request served by the I/O cluster's daemons
    noc(request, ...)            the NoC's figures, and its failure-injection test hook
Answers are plain data, never a node's objects. `LocalBackend` keeps every node in this
Python process; a distributed backend would spread the nodes over ranks and carry the same
requests and the packets that cross ranks (mpi.py). The round rule both follow is in
rounds.py.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from shoal.daemons.console import ConsoleSink
from shoal.daemons.node import IoNode
from shoal.engine.rounds import Requests, next_round, reached, tid_allocator
from shoal.kernel import host, sched
from shoal.kernel.kernel import Kernel
from shoal.kernel.table import new_kernel
from shoal.messages import Kind, NocError
from shoal.platform.noc import NoC, Packet
from shoal.spec import ChipSpec


class LocalBackend(Requests):
    """Every node in this process, advanced one after another in a fixed order."""

    tracer = None  # a shoal.tools.trace.Tracer while a trace is taken (trace.attach)

    def __init__(self, spec: ChipSpec, seed: int, sink: ConsoleSink | None) -> None:
        self.spec = spec
        self.kernels = [new_kernel(spec, c, tid_allocator(c)) for c in range(spec.compute_clusters)]
        self.io = IoNode(spec, spec.compute_clusters, seed, sink)
        self._noc = NoC(spec)
        # No packet arrives sooner than this after it is sent: the lookahead.
        self.lookahead = self._noc.min_latency()
        self.nodes: list[Kernel | IoNode] = [*self.kernels, self.io]
        for n in self.nodes:
            n.lookahead = self.lookahead
        self._seq = 0
        self.rounds = 0  # host-side figure, for benchmarks

    # the host's requests -----------------------------------------------------------------
    def call(self, cluster: int, request: str, *args: Any) -> Any:
        return getattr(host, request)(self.kernels[cluster], *args)

    def gather(self, request: str, *args: Any) -> list[Any]:
        """The same request to every compute cluster, answers in cluster order."""
        return [self.call(c, request, *args) for c in range(len(self.kernels))]


    # one clock ------------------------------------------------------------------------------
    def advance(self, limit: int, until: Callable[[], bool] | None = None) -> None:
        """Take every item of every node that happens before `limit` (or until `until()`)."""
        la = self.lookahead
        nodes = self.nodes
        noc = self._noc
        window = self.spec.engine.window_cycles
        lbs = [n.next_time() for n in nodes]  # kept up to date: only a node's own items move it
        index = {id(n): i for i, n in enumerate(nodes)}

        def deliver(p: Packet) -> int:
            if p.failed or self.tracer is not None:
                return index[id(self._deliver(p))]
            # (_deliver's usual case, inlined: a packet handed to its node, at every packet;
            # node `dst` is nodes[dst], the I/O node's number following the clusters')
            self._seq += 1
            p.seq = self._seq
            nodes[p.dst].deliver(p)
            return p.dst
        # (a kernel's advance called straight, without Kernel.advance's own frame: once a round)
        step = [partial(sched.advance, n) if isinstance(n, Kernel) else n.advance for n in nodes]
        sent = nodes  # nodes that may have packets to hand over: all at first (host requests)
        while True:
            for n in sent:
                if n.outbox:
                    noc.submit(n.outbox)
                    n.outbox = []
            if until is not None and until():
                self.paused_at = reached(lbs, noc, la)
                return
            plan = next_round(lbs, noc, la, limit, deliver)
            if plan is None:
                self.paused_at = reached(lbs, noc, la)
                return
            moves, gvt = plan
            self.rounds += 1
            # Only a node that moves sends (a delivery only queues the packet), so only the
            # outboxes of these are looked at next round (in node order, as before).
            sent = []
            for i, horizon in moves:
                lbs[i] = step[i](horizon, limit, window)
                sent.append(nodes[i])
            if self.rounds % 256 == 0:
                noc.prune(gvt)

    def _deliver(self, p: Packet) -> Kernel | IoNode:
        """A transfer has ended: hand it to its destination, or tell its sender that it
        failed (its DMA engine reports it when the transfer would have ended, with what it
        sent). Returns the node that received something."""
        self._seq += 1
        p.seq = self._seq
        if self.tracer is not None:
            self.tracer.packet(p)
        if p.failed:
            note = Packet(p.dst, p.src, Kind.NOC_ERROR,
                          NocError(kind=p.kind, body=p.body, to=p.dst, data=p.data, form=p.form),
                          b"", 0, p.arrival, 1, 0)
            note.seq, note.arrival = p.seq, p.arrival
            self.nodes[p.src].deliver(note)
            return self.nodes[p.src]
        self.nodes[p.dst].deliver(p)
        return self.nodes[p.dst]

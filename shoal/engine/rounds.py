"""The one clock's round rule, which both backends follow step for step (so that any number of
MPI ranks takes the same items as one process), and the host requests both answer alike.

Synchronisation is conservative (Chandy-Misra-Bryant style, with the NoC's minimum latency
as lookahead). Each round: every node's earliest item is known; the earliest time anything
may still be sent (GVT) is the least of these and of the ready times of chunks not yet on
the links (plus the lookahead, for what those chunks may cause); the NoC places every chunk
ready before GVT, in ready order, and delivers the packets that are complete; then each
node takes its items up to its horizon, the others' earliest time plus the lookahead, since
nothing can reach it sooner. Nodes with nothing before their horizon are not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.kernel import sched
from shoal.platform.noc import NoC, Packet

NEVER = sched.NEVER


def next_round(lbs: list[int], noc: NoC, la: int, limit: int,
               deliver: Callable[[Packet], int]) -> tuple[list[tuple[int, int]], int] | None:
    """One round of the one clock, the rule both backends follow (so that any number of MPI
    ranks takes the same items as one process): the NoC delivers what ends before GVT
    (`deliver` hands a packet over and returns its node's index; `lbs`, the nodes' earliest
    times, is kept up to date), then the nodes that may move, each with its horizon, and GVT.
    None when nothing happens before `limit`."""
    pending = noc._pending  # (NoC.next_ready, inlined: at every round)
    nr = pending[0][0] if pending else None
    low = min(lbs)
    gvt = low if nr is None or nr + la >= low else nr + la
    if nr is not None and nr < gvt:
        for p in noc.advance(gvt):
            j = deliver(p)  # a packet is one more item, at its arrival
            if p.arrival < lbs[j]:
                lbs[j] = p.arrival
        nr = pending[0][0] if pending else None
        low = min(lbs)
    if low >= limit and (nr is None or nr + la >= limit):
        return None
    pend = NEVER if nr is None else nr
    first = lbs.index(low)
    lbs[first] = NEVER  # (a moment: the least of the others, NEVER if none is less)
    second = min(lbs)  # (>= low)
    lbs[first] = low
    # Only nodes with an item before the others' earliest plus the lookahead can move: the
    # first up to the second's time, the others up to the first's (and never past a chunk
    # still to be placed).
    mine = (second if second < pend else pend) + la
    others = (low if low < pend else pend) + la  # (<= mine)
    cut = mine if mine < limit else limit
    if second >= others:  # (the usual case: no other node is below `others`, the list unscanned)
        return ([(first, mine)] if low < cut else []), gvt
    moves = [(i, mine if i == first else others) for i, lb in enumerate(lbs)
             if lb < cut and (lb < others or i == first)]
    return moves, gvt


def reached(lbs: list[int], noc: NoC, la: int) -> int:
    """Where a paused chip is: every node has taken every item before this time, and nothing
    still on the links can reach a node sooner (GVT; NEVER when nothing is left)."""
    nr = noc.next_ready()
    low = min(lbs)
    return low if nr is None or nr + la >= low else nr + la


def tid_allocator(cluster: int) -> Callable[[], int]:
    # Thread ids are made by each cluster's kernel alone (no shared counter), in a range of
    # its own that cannot meet process ids.
    counter = [0]

    def alloc() -> int:
        counter[0] += 1
        return (cluster + 1) << 20 | counter[0]
    return alloc




class Requests:
    """What both backends answer alike: the daemons' host requests (served where the I/O
    node lives, rank 0 under MPI), the NoC's figures and test hooks, the CPU engine in use."""

    io: Any
    _noc: NoC
    paused_at = NEVER  # where the last advance left the chip (`reached`)

    def daemons(self, request: str, *args: Any) -> Any:
        return self.io.request(request, *args)

    def noc(self, request: str, *args: Any) -> Any:
        return getattr(self._noc, request)(*args)

    def output_pending(self, pid: int) -> bool:
        """Console output of `pid` not yet taken by the console daemon: on the links, or
        delivered to the I/O node and not yet taken (a process's writes are handed to the
        links within the advance that makes them)."""
        from shoal.messages import Kind
        if any(p.kind is Kind.CONSOLE and p.body.pid == pid for *_, p in self._noc._pending):
            return True
        return any(p.kind is Kind.CONSOLE and p.body.pid == pid for _, _, p in self.io.stream)

    def cpu_engine(self) -> str:
        from shoal.platform.cpu import engine
        return engine()

"""Pre-copy: S reserves at D while the process runs, then sends rounds of pages (mig_pages,
acknowledged by mig_pages_ack) while it runs on: the first round every page, each later one
the pages dirtied during the one before (the kernel's dirty bits: a clean page is mapped
read-only until its first store, see AddressSpace.start_tracking). It switches over when what
is left fits the downtime limit at the bandwidth the last round saw (QEMU's rule), or after
`max_rounds` rounds or `max_bytes` sent (Xen's caps): then a stop-and-copy whose image carries
only the pages still stale at D (the others are `staged` there). `switch` in the record says
why. Hybrid: one round, then post-copy (postcopy.py) for the pages dirtied during it.
Pre-copy sends again what was dirtied; post-copy sends every page once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shoal.kernel.migrate.cost import stream
from shoal.kernel.migrate.destination import answer, destination_waited, unreserve
from shoal.kernel.migrate.freeze import FREEZE_TIMEOUT
from shoal.kernel.migrate.record import InState, Method, MigState, count_send, find_record
from shoal.kernel.migrate.source import fail, progress, source_waited
from shoal.kernel.migrate.watchdog import arm, disarm, image_trip, send
from shoal.messages import Kind, MigPages, MigRelease

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.kernel.migrate.record import Outgoing
    from shoal.platform.noc import Packet


def send_round(k: Kernel, m: Outgoing, at: int) -> None:
    """Send one pre-copy round: every page the first time, then those dirtied since."""
    p = k.find_proc(m.pid)
    if p is None or not p.alive:
        fail(k, m, None, at, "the process ended during pre-copy", cleanup=MigRelease)
        return
    if m.rounds == 0:  # every page; dirty bits count from here
        p.aspace.take_dirty()
        k.cpu.flush_tlb()  # clean pages are read-only from here until their next store
        m.stale = {va for va, _ in p.aspace.page_list()}
    present = {va for va, _ in p.aspace.page_list()}
    vas = sorted(m.stale & present)
    m.stale = set()
    data = b"".join(p.aspace.page_bytes(va) for va in vas)
    start = stream(k, at, len(data))
    m.rounds += 1
    m.round_sent, m.round_bytes = start, len(data)
    m.pages_sent += len(vas)
    m.bytes_sent += len(data)
    for va in vas:
        count_send(m, va)
    m.at_dst.update(vas)
    send(k, m, m.dst, MigPages(mid=m.mid, round=m.rounds, vas=vas), start, data=data,
          bulk=True)
    arm(k, m, start + image_trip(k.spec, len(data), 0), source_waited)


def on_pages_ack(k: Kernel, pkt: Packet, at: int) -> None:
    """A round is at D: send the next, or switch over (stop-and-copy of the rest, or post-copy)."""
    m = find_record(k, pkt.body.mid)
    if m is None or m.state != MigState.PRECOPY or pkt.body.round != m.rounds:
        return
    p = k.find_proc(m.pid)
    if p is None or not p.alive:
        fail(k, m, None, at, "the process ended during pre-copy", cleanup=MigRelease)
        return
    m.stale |= p.aspace.take_dirty()
    k.cpu.flush_tlb()
    left = len(m.stale & {va for va, _ in p.aspace.page_list()}) * k.spec.cluster.page_size
    bandwidth = m.round_bytes / max(1, at - m.round_sent)  # bytes per cycle, as the round saw it
    if m.method == Method.HYBRID:
        why = "hybrid: one round, then post-copy"
    elif left <= bandwidth * m.limit:
        why = f"the rest ({left} bytes) fits the downtime limit"
    elif m.rounds >= m.max_rounds:
        why = f"round limit ({m.max_rounds} rounds), {left} bytes still dirty"
    elif m.bytes_sent + left > m.max_bytes:
        why = f"byte cap ({m.max_bytes} bytes), {left} bytes still dirty"
    else:
        send_round(k, m, at)
        return
    m.switch, m.state = why, MigState.FREEZING
    disarm(m)
    p.state, p.move.freeze_at = "freezing", at
    k.at(at, lambda now: progress(k, now))
    k.at(at + FREEZE_TIMEOUT + 1, lambda now: progress(k, now))


def on_pages(k: Kernel, pkt: Packet, at: int) -> None:
    """D: a pre-copy round; its pages are kept (in the frames reserved) for the image."""
    e = k.migration.incoming.get(pkt.body.mid)
    if e is None or e.state != InState.RESERVED or pkt.body.round <= e.round:
        if e is not None and (e.state in (InState.REFUSED, InState.DROPPED) or pkt.body.round == e.round):
            answer(k, e, at)
        return
    vas = pkt.body.vas
    size = k.spec.cluster.page_size
    for i, va in enumerate(vas):
        e.staged[va] = pkt.data[i * size:(i + 1) * size]
    need = len(e.staged) + len({va >> 22 for va in e.staged}) + 1
    if need > e.frames:  # the process grew since it asked: more room, or a refusal
        free = k.frames.free - k.migration.reserved_frames
        if need - e.frames > free:
            unreserve(k, e)
            e.state, e.staged = InState.REFUSED, {}
            e.reason = (f"no room on cluster {k.cluster}: the process grew to {need} frames, "
                        f"{free} more are free")
            disarm(e)
            answer(k, e, at)
            return
        k.migration.reserved_frames += need - e.frames
        e.frames = need
    # Each page is copied out as the next arrives; only the last one's copy delays the answer.
    total = math.ceil(k.spec.costs.copy_cycles_per_byte * len(pkt.data))
    tail = math.ceil(k.spec.costs.copy_cycles_per_byte * min(size, len(pkt.data)))
    if total > tail:
        k.kernel_core(max(0, pkt.arrival - (total - tail)), total - tail)
    at += k.kernel_core(at, tail)
    e.round = pkt.body.round
    e.sends[Kind.MIG_PAGES_ACK] = 0  # each round's answer has TRIES tries of its own
    answer(k, e, at)
    arm(k, e, at + image_trip(k.spec, e.nbytes, 0), destination_waited)  # the lease goes on

"""The destination's side of a migration: reserving room, rebuilding the container from
its image, thawing it on the source's commit; answering what it hears with where it stands.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from shoal.errors import ShoalError
from shoal.kernel import image
from shoal.kernel.container import CACHE_WINDOW, CacheWindow
from shoal.kernel.memory import Fault, OutOfFrames
from shoal.kernel.migrate.cost import rebuild_cycles, rebuild_tail
from shoal.kernel.migrate.freeze import thaw
from shoal.kernel.migrate.record import Incoming, InState
from shoal.kernel.migrate.watchdog import TRIES, again, arm, disarm, image_trip, round_trip, send
from shoal.messages import Kind, MigAccept, MigAck, MigDone, MigPagesAck, MigRefuse

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


STREAMS = (Kind.MIG_PAGES_ACK, Kind.MIG_FETCH, Kind.MIG_GOT)  # sent many times by design, not resent
_ANSWER = {InState.RESERVED: Kind.MIG_ACCEPT, InState.REBUILT: Kind.MIG_ACK, InState.RUNNING: Kind.MIG_DONE,
           InState.REFUSED: Kind.MIG_REFUSE, InState.DROPPED: Kind.MIG_REFUSE}




def answer_kind(e: Incoming) -> str | None:
    if e.state == InState.RESERVED and e.round:
        return Kind.MIG_PAGES_ACK
    return _ANSWER.get(e.state)


def answer(k: Kernel, e: Incoming, at: int) -> None:
    """Say (again) where we stand: what S must hear from us next."""
    if e.state == InState.RESERVED and e.round:
        send(k, e, e.src, MigPagesAck(mid=e.mid, round=e.round), at)
    elif e.state == InState.RESERVED:
        send(k, e, e.src, MigAccept(mid=e.mid), at)
    elif e.state == InState.REBUILT:
        send(k, e, e.src, MigAck(mid=e.mid), at)
    elif e.state == InState.RUNNING:
        # For S's record: what we sent more than once, this done included.
        resent = (sum(n - 1 for kind, n in e.sends.items() if kind not in STREAMS)
                  + (1 if e.sends.get(Kind.MIG_DONE) else 0))
        send(k, e, e.src, MigDone(mid=e.mid, thawed=e.thawed, resent=resent, wall=e.wall), at)
    else:
        send(k, e, e.src, MigRefuse(mid=e.mid, reason=e.reason), at)


def on_reserve(k: Kernel, pkt: Packet, at: int) -> None:
    b = pkt.body
    mid, need = b.mid, b.frames
    if mid in k.migration.incoming:
        return  # S sends a reservation once
    e = k.migration.incoming[mid] = Incoming(mid, b.pid, pkt.src, b.bytes)
    free = k.frames.free - k.migration.reserved_frames
    if k.find_proc(b.pid) is not None:
        e.state, e.reason = InState.REFUSED, f"cluster {k.cluster} already runs pid {b['pid']}"
    elif k.reports.closed:
        e.state, e.reason = InState.REFUSED, f"cluster {k.cluster} is evacuated"
    elif need > free:
        e.state = InState.REFUSED
        e.reason = f"no room on cluster {k.cluster}: the process needs {need} frames, {free} are free"
    else:
        k.migration.reserved_frames += need
        e.frames = need
        arm(k, e, at + image_trip(k.spec, e.nbytes, 0), destination_waited)  # the lease, renewed TRIES times
    answer(k, e, at)


def on_query(k: Kernel, pkt: Packet, at: int) -> None:
    e = k.migration.incoming.get(pkt.body.mid)
    if e is not None:  # never heard of it: the reservation is still on its way, or lost
        answer(k, e, at)


def on_image(k: Kernel, pkt: Packet, at: int) -> None:
    mid = pkt.body.mid
    e = k.migration.incoming.get(mid)
    if e is None or e.state != InState.RESERVED:
        if e is not None and e.state == InState.DROPPED:  # S, not committed, must abort
            answer(k, e, at)
        return
    t0 = time.perf_counter()
    unreserve(k, e)
    try:
        meta, pages = image.check(pkt.data, "migration image")
        shape = image.shape(pkt.data, meta, pages)
        for va, flags in meta.get("staged", []):
            if va not in e.staged:
                raise ShoalError(f"the image counts on page {va:#x}, which no pre-copy round brought")
            pages.append((va, flags, e.staged[va]))
        e.staged = {}
        p = image.rebuild(k, meta, pages, at)
    except (ShoalError, OutOfFrames, Fault, KeyError, ValueError) as err:  # any failure rolls back
        e.state, e.reason = InState.REFUSED, f"restore failed on cluster {k.cluster}: {err}"
        e.staged = {}
        disarm(e)
        answer(k, e, at)
        return
    if p.aspace.incoming:  # post-copy: frames for the pages to come, and their tables
        e.remote = True
        coming = [va for va in p.aspace.remote if va not in p.aspace.swap.pages]
        tables = {va >> 22 for va in coming} - {va >> 22 for va, _ in p.aspace.page_list()}
        e.frames = len(coming) + len(tables)
        k.migration.reserved_frames += e.frames
    # Most of the rebuilding went on while the image arrived (see `overlap`): the kernel core
    # was busy then; what is left after the last page delays the answer.
    total, tail = rebuild_cycles(k.spec, shape), rebuild_tail(k.spec, shape)
    if total > tail:
        k.kernel_core(max(0, pkt.arrival - (total - tail)), total - tail)
    at += k.kernel_core(at, tail)
    if k.tracer is not None:
        k.tracer.mig_mark(mid, "image_arrived", pkt.arrival)
        k.tracer.mig_mark(mid, "rebuilt", at)
    # Frozen and ours to hold: packets for it wait here until S decides.
    e.state, e.proc = InState.REBUILT, p
    k.procs.append(p)
    k.migration.moved.pop(p.pid, None)
    e.wall = time.perf_counter() - t0
    answer(k, e, at)
    arm(k, e, at + round_trip(k.spec), destination_waited)


def on_commit(k: Kernel, pkt: Packet, at: int) -> None:
    e = k.migration.incoming.get(pkt.body.mid)
    if e is None:
        return
    if e.state == InState.REBUILT:
        p = e.proc
        assert p is not None
        e.state, e.thawed = InState.RUNNING, at
        e.proc = p if e.remote and not e.postcopy.final_sent else None  # post-copy: its pages still come
        disarm(e)
        k.track(p)
        thaw(k, p, at, 0)
        if k.cpu.caches is not None:  # its lines did not come with it: watch what refilling costs
            p.move.window = e.window = CacheWindow(at + CACHE_WINDOW, at + 2 * CACHE_WINDOW)
        for q in k.migration.held.pop(p.pid, []):
            k.handle(q, at)
    if e.state == InState.RUNNING:  # (again, if S did not hear our done)
        answer(k, e, at)


def unreserve(k: Kernel, e: Incoming, n: int | None = None) -> None:
    n = e.frames if n is None else min(n, e.frames)
    k.migration.reserved_frames -= n
    e.frames -= n


def _drop(k: Kernel, e: Incoming, at: int, reason: str) -> None:
    """Give back what we hold for a migration that S will never commit."""
    if e.state not in (InState.RESERVED, InState.REBUILT):
        return
    unreserve(k, e)
    disarm(e)
    p, e.proc = e.proc, None
    e.state, e.reason = InState.DROPPED, reason
    e.staged = {}
    if p is None:
        return
    k.procs.remove(p)
    k.discard(p)
    for key in [key for key in k.ikc.early_signals if key[0] == p.pid]:
        del k.ikc.early_signals[key]
    k.migration.moved[p.pid] = e.src  # it goes on at S: what came for it here goes there
    for q in k.migration.held.pop(p.pid, []):
        k.handle(q, at)


def on_release(k: Kernel, pkt: Packet, at: int) -> None:
    e = k.migration.incoming.get(pkt.body.mid)
    if e is not None:
        _drop(k, e, at, f"{pkt.kind} from cluster {e.src}")


def _never_heard(e: Incoming, kind: str) -> bool:
    """Every `kind` we sent was lost, and we may send no more: S cannot have heard one."""
    n = e.sends.get(kind, 0)
    return n >= TRIES and e.lost.get(kind, 0) == n


def destination_waited(k: Kernel, e: Incoming, at: int) -> None:
    """No word from S in time: say where we stand again, which S answers. A reservation is
    dropped after TRIES rounds (safe: a late image is refused and S, not committed, aborts);
    a rebuilt copy only if S cannot have heard of it."""
    if e.state not in (InState.RESERVED, InState.REBUILT):
        return
    kind = answer_kind(e)
    assert kind is not None
    if e.sends.get(kind, 0) < TRIES:
        answer(k, e, at)
        lease = e.state == InState.RESERVED
        arm(k, e, at + (image_trip(k.spec, e.nbytes, 0) if lease else round_trip(k.spec)), destination_waited)
    elif e.state == InState.RESERVED:
        _drop(k, e, at, f"the reservation's lease ran out ({TRIES} accepts sent, no image came)")
    elif _never_heard(e, kind):
        _drop(k, e, at, f"cluster {e.src} never got the ack")
    else:  # S may have committed: keep the process frozen rather than risk losing it
        e.reason = f"no word from cluster {e.src} after {TRIES} acks; the copy stays frozen"


def destination_lost(k: Kernel, e: Incoming, kind: str, at: int) -> None:
    if kind is Kind.MIG_ACCEPT and e.state == InState.RESERVED:
        if not again(k, e, e.src, MigAccept(mid=e.mid), at) and _never_heard(e, kind):
            _drop(k, e, at, f"cluster {e.src} never got the accept")
    elif kind is Kind.MIG_ACK and e.state == InState.REBUILT:
        if not again(k, e, e.src, MigAck(mid=e.mid), at) and _never_heard(e, kind):
            _drop(k, e, at, f"cluster {e.src} never got the ack")  # so it cannot have committed
    elif kind in (Kind.MIG_REFUSE, Kind.MIG_DONE, Kind.MIG_PAGES_ACK) and kind == answer_kind(e):
        if e.sends.get(kind, 0) < TRIES:
            answer(k, e, at)  # after the last loss, S's watchdog asks again

"""The source's side of a migration, and the protocol (stop-and-copy; live methods reuse it)
between source S and destination D (destination.py). Every step is a NoC packet billed by what it carries,
and every step costs the kernel core of its cluster time from the timing model (ChipSpec),
queued with the other work there (`Kernel.kernel_core`):
    S  freezes the container, saving each thread's hart context    running -> frozen
       and builds its image, copying each byte into it (while the reservation travels)
    S -> D  mig_reserve (frames needed)  D reserves them for a while (a lease), or refuses
    D -> S  mig_accept | mig_refuse      on a refusal S aborts: thaws it, reason told
    S -> D  mig_image (bulk)             D rebuilds the container, still frozen: it copies each
                                         page and the metadata out of the image, installs each
                                         page-table entry and each thread's context
       The image crosses in page-sized DMA operations, as Nanvix's portals move a page at a
       time: S copies the next page while one is on the wire, D copies each page out as the
       next arrives, so only the first page's copy and the last one's (with the contexts)
       add to the transfer (`overlap`); a kernel core slower than the link would pace it.
    D -> S  mig_ack                      the commit point: S retires its copy, forwards what came
                                         for the process meanwhile, points at D, and tells the
                                         process manager where it lives
    S -> D  mig_commit                   D thaws the process: the downtime ends here
    D -> S  mig_done (thaw time)         S's record ends "done"
Packets that reach S for the process while it is frozen are held, and forwarded after the
commit (or handled at S after an abort); D holds those that reach it before the thaw, and
hands them on once it knows (to the process, or back to S): none lost, none duplicated.

Why a commit message: D cannot know that its ack arrived (the NoC reports failures, never
successes), and a D that thawed on sending the ack would run a second copy whenever S, not
having heard it, resumes the process. So S alone decides, on the ack, and D thaws only on
S's word. Exactly one copy runs: D thaws only on mig_commit, which S sends only once it has
committed; S commits only on an ack that reaches it before it aborted, and never after; S
thaws its own copy only when it aborts. Downtime is from the freeze at S to the thaw at D.
Failures and resends: watchdog.py.
"""

from __future__ import annotations

import bisect
import time
from typing import TYPE_CHECKING

from shoal.abi import EBUSY, EIO, ENOMEM
from shoal.kernel import image, report
from shoal.kernel.container import Container, TState
from shoal.kernel.ikc import MailboxIn, PortalIn
from shoal.kernel.migrate.cost import build_cycles, build_lead, freeze_cycles, rebuild_cycles
from shoal.kernel.migrate.freeze import FREEZE_TIMEOUT, thaw, try_freeze
from shoal.kernel.migrate.postcopy import push_pages
from shoal.kernel.migrate.record import CHECKPOINT, Method, MigState, Outgoing, count_send, find_record
from shoal.kernel.migrate.watchdog import SLACK, TRIES, again, arm, disarm, image_trip, round_trip, send
from shoal.messages import (
    Body,
    Kind,
    MigAbort,
    MigCommit,
    MigImage,
    MigQuery,
    MigRelease,
    MigReserve,
    Moved,
)
from shoal.platform.cpu import REG_PC

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


def progress(k: Kernel, now: int) -> None:
    """Advance every migration this kernel is the source of (called between slices)."""
    for m in list(k.migration.outgoing.values()):
        if m.state != MigState.FREEZING:
            continue
        p = k.find_proc(m.pid)
        if p is None:
            fail(k, m, None, now, "the process ended before it was frozen",
                  cleanup=MigRelease if m.accepted else None)
            continue
        frozen = try_freeze(k, p)
        if frozen is None:
            if now - (p.move.freeze_at if p.move.freeze_at is not None else m.requested) > FREEZE_TIMEOUT:
                fail(k, m, p, now, "a thread stayed in a system call (freeze timed out)", -EBUSY,
                      cleanup=MigRelease if m.accepted else None)  # (pre-copy: D holds room)
            continue
        t0 = time.perf_counter()
        m.frozen = max(m.requested if not m.accepted else p.move.freeze_at or m.requested, frozen)
        p.state = "frozen"
        p.move.freeze_at = m.frozen  # the image says when it was taken
        staged: set[int] = set()
        remote: set[int] = set()
        if m.accepted:  # after pre-copy: what D holds and is still current is left out
            m.stale |= p.aspace.take_dirty()
            p.aspace.stop_tracking()
            staged = m.at_dst - m.stale
            if m.method == Method.HYBRID:
                remote = {va for va, _ in p.aspace.page_list()} - staged
        elif m.method == Method.POSTCOPY and m.dst != CHECKPOINT:
            remote = {va for va, _ in p.aspace.page_list()}
        m.image, m.shape = image.serialize(k, p, staged, remote)
        m.postcopy_pages = len(remote)
        m.pages_sent += m.shape.carried
        for va, _ in p.aspace.page_list():
            if va not in staged and va not in remote:
                count_send(m, va)
        m.bytes, m.pages, m.tables, m.threads = m.shape.nbytes, m.shape.pages, m.shape.tables, m.shape.threads
        # The kernel core saves each hart context, then copies the image together; the
        # reservation asks for room meanwhile, and the image streams out as it is copied.
        at = m.frozen + k.kernel_core(m.frozen, freeze_cycles(k.spec, m.threads))
        if m.dst != CHECKPOINT:  # the rest is copied while the image streams out (on_accept)
            m.image_ready = at + k.kernel_core(at, build_lead(k.spec, m.shape))
        else:  # a checkpoint needs the whole image
            at += k.kernel_core(at, build_cycles(k.spec, m.shape))
            m.state, m.thawed, m.ended, m.reason = MigState.CHECKPOINTED, at, at, "image taken"
            k.migration.outgoing.pop(m.mid, None)
            if m.stop:
                k.kill(p, None, None, "checkpointed", at)
                p.state = "checkpointed"
            else:
                thaw(k, p, at, 0)
            m.wall_seconds += time.perf_counter() - t0
            continue
        if m.accepted:  # D holds room for it since the pre-copy: the image goes now
            m.state = MigState.COPYING
            send_image(k, m, at)
            m.wall_seconds += time.perf_counter() - t0
            continue
        m.state = MigState.RESERVING
        send(k, m, m.dst, MigReserve(mid=m.mid, pid=m.pid, frames=m.shape.frames, bytes=m.bytes), at)
        arm(k, m, at + round_trip(k.spec), source_waited)
        m.wall_seconds += time.perf_counter() - t0


def fail(k: Kernel, m: Outgoing, p: Container | None, at: int, reason: str, err: int = -EIO,
          cleanup: type[MigRelease | MigAbort] | None = None) -> None:
    """Abort before the commit: the process goes on here; D is told to drop what it holds."""
    m.state, m.reason, m.ended = MigState.FAILED, reason, at
    m.settle()
    if m.by.startswith("policy:"):
        report.failed(k, m, err, at)
    k.migration.outgoing.pop(m.mid, None)
    disarm(m)
    if cleanup is not None:
        send(k, m, m.dst, cleanup(mid=m.mid), at)
    if p is not None and p.aspace.touched is not None:
        p.aspace.stop_tracking()
    if p is not None and p.state in ("freezing", "frozen"):
        thaw(k, p, at, err)
        for pkt in k.migration.held.pop(p.pid, []):
            k.handle(pkt, at)
    if p is not None:  # pre-copy ends before the freeze: the caller is still asleep
        for t in p.threads:
            if t.blocked_on == "migrate" and t.state is TState.BLOCKED:
                t.blocked_on = ""
                k.wake(t, at, err)


def source_waited(k: Kernel, m: Outgoing, at: int) -> None:
    """No word from D in time. Ask it (it answers with its last answer); an answer may still be
    on its way on a busy chip, so the watchdog decides nothing until TRIES rounds."""
    if m.state in (MigState.RESERVING, MigState.COPYING, MigState.PRECOPY):
        if again(k, m, m.dst, MigQuery(mid=m.mid), at):
            arm(k, m, at + round_trip(k.spec), source_waited)
        else:
            fail(k, m, k.find_proc(m.pid), at, f"no answer from cluster {m.dst} after "
                  f"{TRIES} questions", cleanup=MigAbort)
    elif m.state == MigState.COMMITTED:
        if again(k, m, m.dst, MigCommit(mid=m.mid), at):
            arm(k, m, at + round_trip(k.spec), source_waited)
        else:
            _unconfirmed(k, m, at)


def _unconfirmed(k: Kernel, m: Outgoing, at: int) -> None:
    """After the commit, D never confirmed: the process is D's; D will ask for its commit."""
    m.state, m.ended = MigState.DONE, at
    m.reason = (f"moved to cluster {m.dst}, which did not confirm the thaw after "
                f"{m.sends.get('mig_commit', 0)} commit messages")
    k.migration.outgoing.pop(m.mid, None)
    disarm(m)
    if m.proc is not None:
        m.proc.state = "migrated"


def source_lost(k: Kernel, m: Outgoing, body: Body, at: int) -> None:
    kind = body.KIND
    if kind is Kind.MIG_RESERVE and m.state == MigState.RESERVING:  # D never heard of it
        fail(k, m, k.find_proc(m.pid), at, "NoC transfer failed (mig_reserve)")
    elif kind is Kind.MIG_IMAGE and m.state == MigState.COPYING:
        fail(k, m, k.find_proc(m.pid), at, "NoC transfer failed (mig_image)", cleanup=MigRelease)
    elif kind is Kind.MIG_PAGES and m.state == MigState.PRECOPY:
        fail(k, m, k.find_proc(m.pid), at, "NoC transfer failed (mig_pages)", cleanup=MigRelease)
    elif kind is Kind.MIG_PAGE:  # post-copy: send it again later (the process waits, never lost)
        if body.push:
            m.pushes -= 1
        for va in body.vas:
            if va in m.in_flight:
                m.in_flight.discard(va)
                bisect.insort(m.remaining, va)
        m.focus = body.vas[0]
        k.at(at + round_trip(k.spec) // SLACK, lambda now: push_pages(k, m, now))
    elif kind is Kind.MIG_COMMIT and m.state == MigState.COMMITTED:
        if again(k, m, m.dst, body, at):
            arm(k, m, at + round_trip(k.spec), source_waited)
    elif kind in (Kind.MIG_RELEASE, Kind.MIG_ABORT):
        again(k, m, m.dst, body, at)  # after the last loss, D asks (and we answer)


def send_image(k: Kernel, m: Outgoing, at: int) -> None:
    """The image streams out as it is built (its first DMA operation may leave at `at`)."""
    assert m.shape is not None
    k.kernel_core(at, build_cycles(k.spec, m.shape) - build_lead(k.spec, m.shape))
    m.bytes_sent += len(m.image)
    send(k, m, m.dst, MigImage(mid=m.mid, pid=m.pid), at, data=m.image, bulk=True)
    if k.tracer is not None:
        k.tracer.mig_mark(m.mid, "image_sent", at)
    arm(k, m, at + image_trip(k.spec, m.bytes, rebuild_cycles(k.spec, m.shape)), source_waited)


def on_refuse(k: Kernel, pkt: Packet, at: int) -> None:
    m = k.migration.outgoing.get(pkt.body.mid)
    if m is not None and (m.state in (MigState.RESERVING, MigState.COPYING, MigState.PRECOPY)
                          or (m.state == MigState.FREEZING and m.accepted)):  # D holds nothing for it now
        fail(k, m, k.find_proc(m.pid), at, pkt.body.reason, -ENOMEM)


def on_ack(k: Kernel, pkt: Packet, at: int) -> None:
    """The commit point: the destination has the process, frozen. It is D's from now on."""
    m = find_record(k, pkt.body.mid)
    if m is None:
        return
    if m.state == MigState.FAILED:  # aborted meanwhile: D must drop its copy
        send(k, m, m.dst, MigAbort(mid=m.mid), at)
    elif m.state == MigState.COMMITTED or (m.state == MigState.DONE and m.thawed is None):
        send(k, m, m.dst, MigCommit(mid=m.mid), at)  # D has not heard our commit
    elif m.state == MigState.COPYING:
        _commit(k, m, at)


def _commit(k: Kernel, m: Outgoing, at: int) -> None:
    t0 = time.perf_counter()
    p = k.find_proc(m.pid)
    assert p is not None
    m.state, m.image, m.proc = MigState.COMMITTED, b"", p
    forward = []
    for ep in p.ikc.values():
        if isinstance(ep, MailboxIn):
            forward += list(ep.held)
            ep.held.clear()
        elif isinstance(ep, PortalIn):
            forward += [req for req, _ in ep.requests]
            ep.requests.clear()
    forward += k.migration.held.pop(p.pid, [])
    k.retire(p, at, keep_memory=m.postcopy_pages > 0)
    p.state = "frozen"  # in transit: no copy runs until D thaws its own
    k.migration.moved[p.pid] = m.dst
    send(k, m, m.dst, MigCommit(mid=m.mid), at)
    arm(k, m, at + round_trip(k.spec), source_waited)
    for q in forward:
        k.forward(q, m.dst, at)
    k.send(k.services_node, Moved(pid=p.pid, cluster=m.dst), at=at)
    if m.postcopy_pages:  # the pages follow: S's copy of them stays until D has them all
        assert m.shape is not None
        m.remaining = sorted(va for va, _ in p.aspace.page_list() if va not in m.at_dst or va in m.stale)
        threads = [t for t in p.threads if t.state is not TState.DEAD]
        m.focus = threads[0].ctx.reg_read(REG_PC) & ~(k.spec.cluster.page_size - 1) if threads else 0
        push_pages(k, m, at)
    m.wall_seconds += time.perf_counter() - t0


def on_done(k: Kernel, pkt: Packet, at: int) -> None:
    m = find_record(k, pkt.body.mid)
    if m is None or not (m.state == MigState.COMMITTED or (m.state == MigState.DONE and m.thawed is None)):
        return
    m.state, m.thawed, m.ended = MigState.DONE, pkt.body.thawed, at
    m.resent += pkt.body.resent
    m.reason = f"moved to cluster {m.dst}" + (f" ({m.resent} packets sent again)" if m.resent else "")
    if m.switch:
        m.reason += f"; pre-copy switched over: {m.switch}"
    m.wall_seconds += pkt.body.wall
    disarm(m)
    if m.proc is not None:
        m.proc.state = "migrated"
    if m.postcopy_pages and not m.pushed_all:
        m.state, m.ended = MigState.POSTCOPY, None  # running at D; its pages still follow
        return
    k.migration.outgoing.pop(m.mid, None)
    m.settle()
    if m.proc is not None:
        k.moved_away(m.proc)
        m.proc = None

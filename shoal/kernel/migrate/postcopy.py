"""Post-copy: S freezes, and the image carries no page, only where each is (`remote`); D thaws
the process at once. A touch of a page not yet there blocks the thread (the faulting
instruction, or the system call, is made again once it is here: mig_fetch, answered first;
await_page); meanwhile S pushes the others (mig_page, PUSH_WINDOW in flight, nearest to the
latest fault first), and D acknowledges each (mig_got). S keeps its copy until D's last
mig_got says every page is in; a page whose transfer failed is sent again later, so a failing
NoC pauses the process instead of losing it. Every page crosses the NoC once.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

from shoal.kernel.container import Thread, TState
from shoal.kernel.memory import OutOfFrames
from shoal.kernel.migrate.cost import stream
from shoal.kernel.migrate.destination import unreserve
from shoal.kernel.migrate.record import Incoming, InState, MigState, Outgoing, count_send, find_record
from shoal.kernel.migrate.watchdog import send
from shoal.messages import UNSET, MigFetch, MigFinal, MigGot, MigPage, UnsetType

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


# Pushes go PUSH_BATCH pages a packet, PUSH_WINDOW packets in flight: enough to keep the link
# and the receiving kernel core busy (one packet's handling overlaps the next's transfer), few
# enough that a fetched page waits behind 16 at most (protocol choices, not hardware figures).
PUSH_WINDOW = 2  # post-copy push packets in flight
PUSH_BATCH = 8  # pages per push packet: the receiving kernel core pays ikc_recv_cycles per packet


def push_pages(k: Kernel, m: Outgoing, at: int) -> None:
    """S: keep PUSH_WINDOW pages on their way, nearest to the latest fault first."""
    while m.pushes < PUSH_WINDOW and m.remaining and m.proc is not None:
        vas = []
        while m.remaining and len(vas) < PUSH_BATCH:
            i = bisect.bisect_left(m.remaining, m.focus)
            if i == len(m.remaining) or (i > 0 and m.focus - m.remaining[i - 1] <= m.remaining[i] - m.focus):
                i -= 1
            vas.append(m.remaining.pop(i))
            m.focus = vas[-1]
        m.pushes += 1
        _send_pages(k, m, sorted(vas), at, push=True)


def _send_pages(k: Kernel, m: Outgoing, vas: list[int], at: int, push: bool) -> None:
    assert m.proc is not None
    data = b"".join(m.proc.aspace.page_bytes(va) for va in vas)
    start = stream(k, at, len(data))
    m.in_flight.update(vas)
    m.pages_sent += len(vas)
    m.bytes_sent += len(data)
    for va in vas:
        count_send(m, va)
    send(k, m, m.dst, MigPage(mid=m.mid, vas=vas, push=push), start, data=data, bulk=True)


def on_fetch(k: Kernel, pkt: Packet, at: int) -> None:
    """S: a thread at D waits for this page: it goes before every other."""
    m = find_record(k, pkt.body.mid)
    va = pkt.body.va
    if m is None or m.proc is None:
        return
    i = bisect.bisect_left(m.remaining, va)
    if i < len(m.remaining) and m.remaining[i] == va:  # else on its way already
        del m.remaining[i]
        m.focus = va
        _send_pages(k, m, [va], at, push=False)


def on_got(k: Kernel, pkt: Packet, at: int) -> None:
    """S: D has these pages; more follow, or (final) D has every page and S's copy goes."""
    m = find_record(k, pkt.body.mid)
    if m is None or m.pushed_all:
        return
    m.in_flight.difference_update(pkt.body.vas)
    if pkt.body.push:
        m.pushes -= 1
    final = pkt.body.final
    if final is UNSET:
        push_pages(k, m, at)
        return
    m.pushed_all = True
    m.remote_faults, m.page_wait = final.faults, final.wait
    m.remaining, m.in_flight = [], set()
    if m.proc is not None:
        k.release_memory(m.proc)
        k.moved_away(m.proc)
        m.proc = None
    if m.state == MigState.POSTCOPY:
        m.state, m.ended = MigState.DONE, at
        m.reason += f"; every page in at cycle {at}" if final.complete else \
            f"; the process ended at cluster {m.dst} before every page came"
        k.migration.outgoing.pop(m.mid, None)
        m.settle()


def on_page(k: Kernel, pkt: Packet, at: int) -> None:
    """D: a page that followed the thaw: in place, its waiting threads go on."""
    e = k.migration.incoming.get(pkt.body.mid)
    if e is None or not e.remote:
        return
    p = e.proc if e.proc is not None and e.proc.alive else None
    size = k.spec.cluster.page_size
    for i, va in enumerate(pkt.body.vas):
        if p is None:
            break
        before = p.aspace.frames_in_use
        try:
            placed = p.aspace.arrive(va, pkt.data[i * size:(i + 1) * size])
        except OutOfFrames:
            k.kill(p, 9, None, f"killed: out of memory (cluster {k.cluster} has no frame for a page "
                   "that followed the migration)", at)
            p = None
            break
        if not placed:
            continue
        unreserve(k, e, p.aspace.frames_in_use - before)
        cost = math.ceil(k.spec.costs.copy_cycles_per_byte * size) + k.spec.costs.pte_install_cycles
        done = at + k.kernel_core(at, cost)
        _wake_waiting(k, e, va, done)
        e.postcopy.requested.discard(va)
        if not p.aspace.incoming:
            _wake_waiting(k, e, ALL_PAGES, done)
    final: MigFinal | UnsetType = UNSET
    if (p is None or not p.aspace.incoming) and not e.postcopy.final_sent:
        e.postcopy.final_sent = True
        unreserve(k, e)
        if e.state == InState.RUNNING:  # (before the thaw, on_commit still needs it)
            e.proc = None
        final = MigFinal(faults=e.postcopy.faults, wait=e.postcopy.page_wait, complete=p is not None)
    send(k, e, e.src, MigGot(mid=e.mid, vas=pkt.body.vas, push=pkt.body.push, final=final), at)



ALL_PAGES = -1  # await_page: wait for every page (a new move waits for the last one's pages)


def _wake_waiting(k: Kernel, e: Incoming, va: int, at: int) -> None:
    for t in e.postcopy.waiting.pop(va, []):
        waited = k.page_came(t, at)
        if va != ALL_PAGES:
            e.postcopy.page_wait += waited


def await_page(k: Kernel, t: Thread, va: int, at: int) -> None:
    """D: thread `t` touched a page still at the source: it sleeps until the page is here."""
    page = va & ~(k.spec.cluster.page_size - 1) if va != ALL_PAGES else ALL_PAGES
    e = next((e for e in k.migration.incoming.values() if e.remote and e.proc is t.proc), None)
    if e is None:  # cannot happen: a remote page belongs to a post-copy under way
        k.kill(t.proc, 11, None, f"killed: page {page:#010x} is elsewhere and no migration brings it", at)
        return
    t.state, t.blocked_on, t.blocked_at = TState.BLOCKED, "page", at
    e.postcopy.waiting.setdefault(page, []).append(t)
    if page == ALL_PAGES:
        return
    e.postcopy.faults += 1
    if page not in e.postcopy.requested:
        e.postcopy.requested.add(page)
        # The kernel core takes the fault and asks the source for the page.
        asked = at + k.kernel_core(at, k.spec.costs.page_fault_cycles)
        send(k, e, e.src, MigFetch(mid=e.mid, va=page), asked)

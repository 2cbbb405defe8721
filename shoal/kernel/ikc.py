"""IKC: mailboxes, portals and sync signals between processes, with Nanvix's semantics.

Endpoints are named by (global pid, port), never by cluster: a process opens an endpoint
of another process by pid, and its kernel asks the process manager where that pid lives;
once the process moves, the endpoint follows it (shoal/kernel/location.py).
Everything that crosses clusters is a NoC packet (even between two processes of one
cluster, which loop back through their router).

- Mailbox: fixed-size messages (a 16 B header + 128 B payload on the wire, whatever the
  size written). A write blocks until the receiving kernel has queued the message (ACK) or
  refused it (NACK: no such endpoint). A full queue holds the sender back until a slot frees.
- Portal: bulk data of any size in page-sized DMA chunks. The writer asks (REQ); data flows
  (DATA) only once the receiver has allowed that writer and posted a read (GO); the writer
  is told how much was taken (DONE).
- Sync: barrier-style signals. ALL_TO_ONE: pids[0] waits until every other pid signalled;
  ONE_TO_ALL: every other pid waits until pids[0] signalled.

A packet's effects become visible to the receiving threads only at its arrival time plus
the kernel's receive cost; a thread that looks earlier waits until then.
"""

from __future__ import annotations

from collections import deque
from dataclasses import field
from typing import TYPE_CHECKING

from shoal.abi import ECONNREFUSED, ECONNRESET, EFAULT
from shoal.kernel import answers
from shoal.kernel.container import Container, Thread
from shoal.kernel.memory import Fault, Missing, OutOfFrames
from shoal.messages import Kind, PortalData, PortalGo, answer_to
from shoal.platform.noc import Packet
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

MAX_PORT = 1 << 16
MAX_ENDPOINTS = 256
ALL_TO_ONE, ONE_TO_ALL = 0, 1


@dataclass(eq=False)
class IkcTables:
    """This cluster's IKC state (`Kernel.ikc`): its input endpoints by type and (pid, port),
    sync signals that came before their endpoint, and portal data held until the receiver
    says GO (by operation)."""

    endpoints: dict[str, dict[tuple[int, int], object]] = field(
        default_factory=lambda: {"mailbox": {}, "portal": {}, "sync": {}})
    early_signals: dict[tuple[int, int], list[tuple[int, int]]] = field(default_factory=dict)
    portal_data: dict[int, bytes] = field(default_factory=dict)


@dataclass(eq=False)
class MailboxIn:
    """An input mailbox: queued messages and waiting readers."""

    port: int
    queue: deque[tuple[int, bytes]] = field(default_factory=deque)  # (visible at, message)
    readers: deque[tuple[Thread, int, int]] = field(default_factory=deque)  # (thread, buf, size)
    held: deque[Packet] = field(default_factory=deque)  # senders held back by a full queue


@dataclass(eq=False)
class PortalIn:
    """An input portal: who may write, the waiting reader, pending requests."""

    port: int
    allowed: int | None = None
    reader: tuple[Thread, int, int, int] | None = None  # (thread, buf, size, since)
    requests: list[tuple[Packet, int]] = field(default_factory=list)  # (REQ, visible at)


@dataclass(eq=False)
class SyncIn:
    """An input sync point: the signals expected and those received."""

    port: int
    expect: tuple[int, ...]
    got: dict[int, deque[int]] = field(default_factory=dict)  # pid -> visible times
    waiter: Thread | None = None


@dataclass(eq=False)
class Remote:
    """An output endpoint: a mailbox or portal of process `pid`, or the targets of a sync."""

    kind: str  # "mailbox", "portal", "sync"
    pids: tuple[int, ...]
    clusters: tuple[int, ...]
    port: int
    gens: dict[int, int] = field(default_factory=dict)  # pid -> generation of its cluster's notice

    def relocate(self, pid: int, cluster: int, gen: int) -> bool:
        """A notice says `pid` lives on `cluster` (container generation `gen`): aim there,
        unless a newer notice came first (see location.py). True if the endpoint changed."""
        if pid not in self.pids or self.gens.get(pid, -1) >= gen:
            return False
        self.gens[pid] = gen
        old = self.clusters
        self.clusters = tuple(cluster if q == pid else c for q, c in zip(self.pids, old, strict=True))
        return self.clusters != old


Endpoint = MailboxIn | PortalIn | SyncIn | Remote


# --- mailboxes ---------------------------------------------------------------------------


def accept_mailbox(k: Kernel, ep: MailboxIn, pkt: Packet, at: int) -> None:
    msg = pkt.data
    if ep.readers:
        t, buf, size = ep.readers.popleft()
        n = min(size, len(msg))
        try:
            t.proc.aspace.write(buf, msg[:n])
        except Missing as m:  # a page held elsewhere: the message is the reader's, kept for its call
            answers.keep(k, t, answers.call_key("mbx", ep.port, buf, size), None, msg, m, at)
        except (Fault, OutOfFrames):  # the reader's buffer went away: EFAULT for it, message kept
            k.wake(t, at, -EFAULT)
            ep.queue.append((at, msg))
        else:
            k.wake(t, at, n)
    else:
        ep.queue.append((at, msg))
    k.reply(pkt, at, ret=len(msg))


def on_mbx_data(k: Kernel, pkt: Packet, at: int) -> None:
    ep = k.ikc.endpoints["mailbox"].get((pkt.body.dst, pkt.body.port))
    if not isinstance(ep, MailboxIn):
        k.reply(pkt, at, ret=-ECONNREFUSED)
    elif len(ep.queue) >= k.spec.ikc.mailbox_slots or ep.held:
        ep.held.append(pkt)
    else:
        accept_mailbox(k, ep, pkt, at)


# --- portals -------------------------------------------------------------------------------


def portal_match(k: Kernel, ep: PortalIn, now: int) -> None:
    if ep.reader is None:
        return
    for i, (req, visible) in enumerate(ep.requests):
        if req.body.src == ep.allowed:
            del ep.requests[i]
            # GO leaves once both the read and the request are there.
            k.send(answer_to(req.body, req.src), PortalGo(op=req.body.op),
                   at=max(now, visible, ep.reader[3]))
            ep.reader = (*ep.reader[:3], -1)  # matched: waiting for DATA
            return


def on_portal_req(k: Kernel, pkt: Packet, at: int) -> None:
    ep = k.ikc.endpoints["portal"].get((pkt.body.dst, pkt.body.port))
    if not isinstance(ep, PortalIn):
        k.reply(pkt, at, ret=-ECONNREFUSED)
        return
    ep.requests.append((pkt, at))
    if ep.reader is not None and ep.reader[3] >= 0:
        portal_match(k, ep, at)


def on_portal_data(k: Kernel, pkt: Packet, at: int) -> None:
    ep = k.ikc.endpoints["portal"].get((pkt.body.dst, pkt.body.port))
    if not isinstance(ep, PortalIn) or ep.reader is None:
        k.reply(pkt, at, ret=-ECONNRESET)
        return
    t, buf, size, _ = ep.reader
    ep.reader = None
    n = min(size, len(pkt.data))
    try:
        t.proc.aspace.write(buf, pkt.data[:n])
    except Missing as m:  # a page held elsewhere: the data is the reader's, kept for its call
        answers.keep(k, t, answers.call_key("portal", ep.port, buf, size), None, pkt.data[:n], m, at)
        k.reply(pkt, at, ret=n)
        return
    except (Fault, OutOfFrames):
        k.wake(t, at, -EFAULT)
        k.reply(pkt, at, ret=-ECONNRESET)
        return
    k.wake(t, at, n)
    k.reply(pkt, at, ret=n)


def on_portal_go(k: Kernel, pkt: Packet, at: int) -> None:
    """The receiver is ready: stream the writer's data (the writer is still blocked)."""
    op = pkt.body.op
    entry = k.packets.pending.get(op)
    if entry is None:
        return
    t = entry[0]
    data = k.ikc.portal_data.pop(t.tid, b"")
    req = entry[2]
    k.send(pkt.src, PortalData(op=op, dst=req.dst, port=req.port), data=data,
           at=at, bulk=True)


# --- sync ------------------------------------------------------------------------------------


def sync_ready_at(ep: SyncIn) -> int | None:
    if all(ep.got[p] for p in ep.expect):
        return max(ep.got[p][0] for p in ep.expect)
    return None


def sync_consume(ep: SyncIn) -> None:
    for p in ep.expect:
        ep.got[p].popleft()


def on_sync_signal(k: Kernel, pkt: Packet, at: int) -> None:
    key = (pkt.body.dst, pkt.body.port)
    ep = k.ikc.endpoints["sync"].get(key)
    if not isinstance(ep, SyncIn):
        if any(p.pid == key[0] for p in k.procs):
            k.ikc.early_signals.setdefault(key, []).append((pkt.body.src, at))
        return
    src = pkt.body.src
    if src not in ep.got:
        return
    ep.got[src].append(at)
    if ep.waiter is not None:
        ready = sync_ready_at(ep)
        if ready is not None:
            sync_consume(ep)
            w, ep.waiter = ep.waiter, None
            k.wake(w, max(ready, at), 0)


# --- closing ----------------------------------------------------------------------------------
def close(k: Kernel, p: Container, fd: int, ep: Endpoint, at: int, err: int) -> None:
    del p.ikc[fd]
    if isinstance(ep, Remote):
        return
    kind = {MailboxIn: "mailbox", PortalIn: "portal", SyncIn: "sync"}[type(ep)]
    k.ikc.endpoints[kind].pop((p.pid, ep.port), None)
    if isinstance(ep, MailboxIn):
        for pkt in ep.held:
            k.reply(pkt, at, ret=-ECONNRESET)
        for t, _, _ in ep.readers:
            if t.proc.alive and t.proc is p and err:
                k.wake(t, at, err)
    elif isinstance(ep, PortalIn):
        for pkt, _ in ep.requests:
            k.reply(pkt, at, ret=-ECONNRESET)
        if ep.reader is not None and err:
            k.wake(ep.reader[0], at, err)
    elif isinstance(ep, SyncIn) and ep.waiter is not None and err:
        k.wake(ep.waiter, at, err)


def close_all(k: Kernel, p: Container, at: int) -> None:
    """A process ends: its endpoints close, and whoever waits on them is told."""
    for fd, ep in sorted(p.ikc.items()):
        close(k, p, fd, ep, at, 0)
    for key in [key for key in k.ikc.early_signals if key[0] == p.pid]:
        del k.ikc.early_signals[key]


HANDLERS = {
    Kind.MBX_DATA: on_mbx_data,
    Kind.PORTAL_REQ: on_portal_req,
    Kind.PORTAL_GO: on_portal_go,
    Kind.PORTAL_DATA: on_portal_data,
    Kind.SYNC_SIGNAL: on_sync_signal,
}

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

import struct
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoal.abi import EBADF, EBUSY, ECONNREFUSED, ECONNRESET, EFAULT, EINVAL, EMFILE, EMSGSIZE
from shoal.kernel import report
from shoal.kernel.container import Container, Thread
from shoal.kernel.memory import Fault, OutOfFrames
from shoal.kernel.syscalls import s32, syscall
from shoal.platform.noc import Packet

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

MAX_PORT = 1 << 16
MAX_ENDPOINTS = 256
ALL_TO_ONE, ONE_TO_ALL = 0, 1


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


def _new_fd(p: Container, ep: Endpoint) -> int:
    for fd in range(MAX_ENDPOINTS):
        if fd not in p.ikc:
            p.ikc[fd] = ep
            return fd
    return -EMFILE


def _get(t: Thread, fd: int, typ: type) -> Endpoint | None:
    ep = t.proc.ikc.get(s32(fd))
    if isinstance(ep, typ):
        return ep
    return None


def _create(k: Kernel, t: Thread, kind: str, port: int, ep: MailboxIn | PortalIn | SyncIn) -> int:
    """Register an input endpoint (pid, port) of `kind` and give its descriptor."""
    if not 0 <= port < MAX_PORT:
        return -EINVAL
    key = (t.proc.pid, port)
    if key in k.endpoints[kind]:
        return -EBUSY
    fd = _new_fd(t.proc, ep)
    if fd >= 0:
        k.endpoints[kind][key] = ep
    return fd


# --- mailboxes ---------------------------------------------------------------------------
@syscall(506, "shoal_mailbox_create")
def sys_mailbox_create(k: Kernel, t: Thread, a: list[int]) -> int:
    return _create(k, t, "mailbox", s32(a[0]), MailboxIn(s32(a[0])))


def _open_remote(k: Kernel, t: Thread, kind: str, pids: list[int], port: int) -> int:
    """Ask the process manager where `pids` live, then make an output endpoint."""
    if not 0 <= port < MAX_PORT or not pids:
        return -EINVAL

    def located(reply: Packet, at: int) -> int:
        if reply.body["err"]:
            return reply.body["err"]
        return _new_fd(t.proc, Remote(kind, tuple(pids), tuple(reply.body["clusters"]), port))
    k.rpc(t, "locate", {"pids": pids}, located)
    return 0  # not reached: rpc blocks the thread


@syscall(507, "shoal_mailbox_open")
def sys_mailbox_open(k: Kernel, t: Thread, a: list[int]) -> int:
    return _open_remote(k, t, "mailbox", [s32(a[0])], s32(a[1]))


@syscall(508, "shoal_mailbox_write")
def sys_mailbox_write(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], Remote)
    if ep is None or ep.kind != "mailbox":
        return -EBADF
    size = a[2]
    if size > k.spec.mailbox_payload:
        return -EMSGSIZE
    data = t.proc.aspace.read(a[1], size)
    report.count(k, t.proc.pid, ep.pids[0], k.spec.mailbox_payload)
    k.rpc_to(t, ep.clusters[0], "mbx_data", {"dst": ep.pids[0], "port": ep.port},
             lambda reply, at: reply.body["ret"], data=data)
    return 0


@syscall(509, "shoal_mailbox_read")
def sys_mailbox_read(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], MailboxIn)
    if ep is None:
        return -EBADF
    buf, size = a[1], a[2]
    t.proc.aspace.translate(buf, "store") if size else None  # EFAULT before waiting
    now = k.now()
    if ep.queue:
        visible, msg = ep.queue.popleft()
        n = min(size, len(msg))
        t.proc.aspace.write(buf, msg[:n])
        _admit_held(k, ep, max(now, visible))
        if visible > now:
            k.block(t, None, visible, timeout_value=n, why="visible")
        return n
    ep.readers.append((t, buf, size))
    k.block(t, None, None, why="mbx_read")
    return 0


def _admit_held(k: Kernel, ep: MailboxIn, at: int) -> None:
    while ep.held and len(ep.queue) < k.spec.mailbox_slots:
        _accept_mailbox(k, ep, ep.held.popleft(), at)


def _accept_mailbox(k: Kernel, ep: MailboxIn, pkt: Packet, at: int) -> None:
    msg = pkt.data
    if ep.readers:
        t, buf, size = ep.readers.popleft()
        n = min(size, len(msg))
        try:
            t.proc.aspace.write(buf, msg[:n])
        except (Fault, OutOfFrames):  # the reader's buffer went away: EFAULT for it, message kept
            k.wake(t, at, -EFAULT)
            ep.queue.append((at, msg))
        else:
            k.wake(t, at, n)
    else:
        ep.queue.append((at, msg))
    k.reply(pkt, at, ret=len(msg))


def on_mbx_data(k: Kernel, pkt: Packet, at: int) -> None:
    ep = k.endpoints["mailbox"].get((pkt.body["dst"], pkt.body["port"]))
    if not isinstance(ep, MailboxIn):
        k.reply(pkt, at, ret=-ECONNREFUSED)
    elif len(ep.queue) >= k.spec.mailbox_slots or ep.held:
        ep.held.append(pkt)
    else:
        _accept_mailbox(k, ep, pkt, at)


# --- portals -------------------------------------------------------------------------------
@syscall(511, "shoal_portal_create")
def sys_portal_create(k: Kernel, t: Thread, a: list[int]) -> int:
    return _create(k, t, "portal", s32(a[0]), PortalIn(s32(a[0])))


@syscall(512, "shoal_portal_allow")
def sys_portal_allow(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], PortalIn)
    if ep is None:
        return -EBADF
    if s32(a[1]) <= 0:
        return -EINVAL
    ep.allowed = s32(a[1])
    _portal_match(k, ep, k.now())
    return 0


@syscall(513, "shoal_portal_read")
def sys_portal_read(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], PortalIn)
    if ep is None:
        return -EBADF
    if ep.allowed is None:
        return -EINVAL  # allow a sender first, or this read could never end
    if ep.reader is not None:
        return -EBUSY
    buf, size = a[1], a[2]
    if size:
        t.proc.aspace.translate(buf, "store")
    ep.reader = (t, buf, size, k.now())
    _portal_match(k, ep, k.now())
    k.block(t, None, None, why="portal_read")
    return 0


def _portal_match(k: Kernel, ep: PortalIn, now: int) -> None:
    if ep.reader is None:
        return
    for i, (req, visible) in enumerate(ep.requests):
        if req.body["src"] == ep.allowed:
            del ep.requests[i]
            # GO leaves once both the read and the request are there.
            k.send(req.body.get("reply_to", req.src), "portal_go", {"op": req.body["op"]},
                   at=max(now, visible, ep.reader[3]))
            ep.reader = (*ep.reader[:3], -1)  # matched: waiting for DATA
            return


def on_portal_req(k: Kernel, pkt: Packet, at: int) -> None:
    ep = k.endpoints["portal"].get((pkt.body["dst"], pkt.body["port"]))
    if not isinstance(ep, PortalIn):
        k.reply(pkt, at, ret=-ECONNREFUSED)
        return
    ep.requests.append((pkt, at))
    if ep.reader is not None and ep.reader[3] >= 0:
        _portal_match(k, ep, at)


def on_portal_data(k: Kernel, pkt: Packet, at: int) -> None:
    ep = k.endpoints["portal"].get((pkt.body["dst"], pkt.body["port"]))
    if not isinstance(ep, PortalIn) or ep.reader is None:
        k.reply(pkt, at, ret=-ECONNRESET)
        return
    t, buf, size, _ = ep.reader
    ep.reader = None
    n = min(size, len(pkt.data))
    try:
        t.proc.aspace.write(buf, pkt.data[:n])
    except (Fault, OutOfFrames):
        k.wake(t, at, -EFAULT)
        k.reply(pkt, at, ret=-ECONNRESET)
        return
    k.wake(t, at, n)
    k.reply(pkt, at, ret=n)


@syscall(514, "shoal_portal_open")
def sys_portal_open(k: Kernel, t: Thread, a: list[int]) -> int:
    return _open_remote(k, t, "portal", [s32(a[0])], s32(a[1]))


@syscall(515, "shoal_portal_write")
def sys_portal_write(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], Remote)
    if ep is None or ep.kind != "portal":
        return -EBADF
    data = t.proc.aspace.read(a[1], a[2]) if a[2] else b""
    k.pending_data[t.tid] = data
    report.count(k, t.proc.pid, ep.pids[0], len(data))
    k.rpc_to(t, ep.clusters[0], "portal_req",
             {"dst": ep.pids[0], "port": ep.port, "src": t.proc.pid, "size": len(data)},
             lambda reply, at: reply.body["ret"])
    return 0


def on_portal_go(k: Kernel, pkt: Packet, at: int) -> None:
    """The receiver is ready: stream the writer's data (the writer is still blocked)."""
    op = pkt.body["op"]
    entry = k.pending.get(op)
    if entry is None:
        return
    t = entry[0]
    data = k.pending_data.pop(t.tid, b"")
    req = entry[2]
    k.send(pkt.src, "portal_data", {"op": op, "dst": req["dst"], "port": req["port"]}, data=data,
           at=at, bulk=True)


# --- sync ------------------------------------------------------------------------------------
def _read_pids(t: Thread, addr: int, n: int) -> list[int] | None:
    """The pid list of a sync; None (EINVAL) if its size is wrong or a pid repeats: each pid
    signals once per round, so a repeated one could never be counted right."""
    if not 1 <= n <= 1024:
        return None
    pids = [s32(v) for v in struct.unpack(f"<{n}I", t.proc.aspace.read(addr, 4 * n))]
    if len(set(pids)) != n:
        return None
    return pids


@syscall(517, "shoal_sync_create")
def sys_sync_create(k: Kernel, t: Thread, a: list[int]) -> int:
    port, mode = s32(a[0]), s32(a[3])
    pids = _read_pids(t, a[1], s32(a[2]))
    me = t.proc.pid
    if pids is None or len(pids) < 2 or mode not in (ALL_TO_ONE, ONE_TO_ALL) or not 0 <= port < MAX_PORT:
        return -EINVAL
    if mode == ALL_TO_ONE:
        if pids[0] != me:
            return -EINVAL
        expect = tuple(pids[1:])
    else:
        if me not in pids[1:]:
            return -EINVAL
        expect = (pids[0],)
    ep = SyncIn(port, expect, {p: deque() for p in expect})
    for src, visible in k.early_signals.get((me, port), []):
        if src in ep.got:
            ep.got[src].append(visible)
    fd = _create(k, t, "sync", port, ep)
    if fd >= 0:
        k.early_signals.pop((me, port), None)
    return fd


@syscall(518, "shoal_sync_open")
def sys_sync_open(k: Kernel, t: Thread, a: list[int]) -> int:
    port, mode = s32(a[0]), s32(a[3])
    pids = _read_pids(t, a[1], s32(a[2]))
    me = t.proc.pid
    if pids is None or len(pids) < 2 or mode not in (ALL_TO_ONE, ONE_TO_ALL):
        return -EINVAL
    if mode == ALL_TO_ONE:
        if me not in pids[1:]:
            return -EINVAL
        targets = [pids[0]]
    else:
        if pids[0] != me:
            return -EINVAL
        targets = pids[1:]
    return _open_remote(k, t, "sync", targets, port)


@syscall(520, "shoal_sync_signal")
def sys_sync_signal(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], Remote)
    if ep is None or ep.kind != "sync":
        return -EBADF
    now = k.now()
    for pid, cluster in zip(ep.pids, ep.clusters, strict=True):
        k.send(cluster, "sync_signal", {"dst": pid, "port": ep.port, "src": t.proc.pid}, at=now)
    return 0


def _sync_ready_at(ep: SyncIn) -> int | None:
    if all(ep.got[p] for p in ep.expect):
        return max(ep.got[p][0] for p in ep.expect)
    return None


def _sync_consume(ep: SyncIn) -> None:
    for p in ep.expect:
        ep.got[p].popleft()


@syscall(519, "shoal_sync_wait")
def sys_sync_wait(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], SyncIn)
    if ep is None:
        return -EBADF
    if ep.waiter is not None:
        return -EBUSY
    ready = _sync_ready_at(ep)
    now = k.now()
    if ready is not None:
        _sync_consume(ep)
        if ready > now:
            k.block(t, None, ready, timeout_value=0, why="visible")
        return 0
    ep.waiter = t
    k.block(t, None, None, why="sync_wait")
    return 0


def on_sync_signal(k: Kernel, pkt: Packet, at: int) -> None:
    key = (pkt.body["dst"], pkt.body["port"])
    ep = k.endpoints["sync"].get(key)
    if not isinstance(ep, SyncIn):
        if any(p.pid == key[0] for p in k.procs):
            k.early_signals.setdefault(key, []).append((pkt.body["src"], at))
        return
    src = pkt.body["src"]
    if src not in ep.got:
        return
    ep.got[src].append(at)
    if ep.waiter is not None:
        ready = _sync_ready_at(ep)
        if ready is not None:
            _sync_consume(ep)
            w, ep.waiter = ep.waiter, None
            k.wake(w, max(ready, at), 0)


# --- closing ----------------------------------------------------------------------------------
def _close(k: Kernel, p: Container, fd: int, ep: Endpoint, at: int, err: int) -> None:
    del p.ikc[fd]
    if isinstance(ep, Remote):
        return
    kind = {MailboxIn: "mailbox", PortalIn: "portal", SyncIn: "sync"}[type(ep)]
    k.endpoints[kind].pop((p.pid, ep.port), None)
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
        _close(k, p, fd, ep, at, 0)
    for key in [key for key in k.early_signals if key[0] == p.pid]:
        del k.early_signals[key]


def _close_call(kind: type, name: str) -> object:
    def close(k: Kernel, t: Thread, a: list[int]) -> int:
        ep = _get(t, a[0], kind)
        if ep is None or isinstance(ep, Remote) and ep.kind != name:
            return -EBADF  # a descriptor of another kind of endpoint
        _close(k, t.proc, s32(a[0]), ep, k.now(), -EBADF)
        return 0
    return close


syscall(510, "shoal_mailbox_close")(_close_call((MailboxIn, Remote), "mailbox"))  # type: ignore[arg-type]
syscall(516, "shoal_portal_close")(_close_call((PortalIn, Remote), "portal"))  # type: ignore[arg-type]
syscall(521, "shoal_sync_close")(_close_call((SyncIn, Remote), "sync"))  # type: ignore[arg-type]


HANDLERS = {
    "mbx_data": on_mbx_data,
    "portal_req": on_portal_req,
    "portal_go": on_portal_go,
    "portal_data": on_portal_data,
    "sync_signal": on_sync_signal,
}

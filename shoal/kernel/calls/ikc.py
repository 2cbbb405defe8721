"""Inter-cluster communication (IKC) calls: mailboxes, portals and sync points (kernel/ikc.py
holds the endpoints and the packets between kernels)."""

from __future__ import annotations

import struct
from collections import deque
from typing import TYPE_CHECKING

from shoal.abi import EBADF, EBUSY, EINVAL, EMFILE, EMSGSIZE
from shoal.kernel import answers, ikc, report
from shoal.kernel.calls.common import s32
from shoal.kernel.container import Container, Thread
from shoal.kernel.memory import PAGE
from shoal.messages import Locate, MbxData, PortalReq, SyncSignal

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


def _new_fd(p: Container, ep: ikc.Endpoint) -> int:
    for fd in range(ikc.MAX_ENDPOINTS):
        if fd not in p.ikc:
            p.ikc[fd] = ep
            return fd
    return -EMFILE


def _get(t: Thread, fd: int, typ: type) -> ikc.Endpoint | None:
    ep = t.proc.ikc.get(s32(fd))
    if isinstance(ep, typ):
        return ep
    return None


def _create(k: Kernel, t: Thread, kind: str, port: int, ep: ikc.MailboxIn | ikc.PortalIn | ikc.SyncIn) -> int:
    """Register an input endpoint (pid, port) of `kind` and give its descriptor."""
    if not 0 <= port < ikc.MAX_PORT:
        return -EINVAL
    key = (t.proc.pid, port)
    if key in k.ikc.endpoints[kind]:
        return -EBUSY
    fd = _new_fd(t.proc, ep)
    if fd >= 0:
        k.ikc.endpoints[kind][key] = ep
    return fd


def sys_mailbox_create(k: Kernel, t: Thread, a: list[int]) -> int:
    return _create(k, t, "mailbox", s32(a[0]), ikc.MailboxIn(s32(a[0])))


def _open_remote(k: Kernel, t: Thread, kind: str, pids: list[int], port: int) -> int:
    """Ask the process manager where `pids` live, then make an output endpoint."""
    if not 0 <= port < ikc.MAX_PORT or not pids:
        return -EINVAL

    def located(reply: Packet, at: int) -> int:
        if reply.body.err:
            return reply.body.err
        return _new_fd(t.proc, ikc.Remote(kind, tuple(pids), tuple(reply.body.clusters), port))
    k.rpc(t, Locate(pids=pids), located)
    return 0  # not reached: rpc blocks the thread


def sys_mailbox_open(k: Kernel, t: Thread, a: list[int]) -> int:
    return _open_remote(k, t, "mailbox", [s32(a[0])], s32(a[1]))


def sys_mailbox_write(k: Kernel, t: Thread, a: list[int]) -> object:
    ep = _get(t, a[0], ikc.Remote)
    if ep is None or ep.kind != "mailbox":
        return -EBADF
    size = a[2]
    if size > k.spec.ikc.mailbox_payload:
        return -EMSGSIZE
    data = t.proc.aspace.read(a[1], size)
    report.count(k, t.proc.pid, ep.pids[0], k.spec.ikc.mailbox_payload)
    return k.rpc_sleep(t, ep.clusters[0], MbxData(dst=ep.pids[0], port=ep.port), _ret, data=data)


def _ret(reply: Packet, at: int) -> int:
    """A mailbox write's result: what its answer says."""
    return reply.body.ret  # type: ignore[attr-defined]


def sys_mailbox_read(k: Kernel, t: Thread, a: list[int]) -> object:
    ep = _get(t, a[0], ikc.MailboxIn)
    if ep is None:
        return -EBADF
    buf, size = a[1], a[2]
    kept = answers.take(t, answers.call_key("mbx", ep.port, buf, size))
    if kept is not None:  # its message came while its buffer's page was away (kernel/answers.py)
        n = min(size, len(kept))
        t.proc.aspace.write(buf, kept[:n])
        t.call.kept = None
        return n
    t.proc.aspace.translate(buf, "store") if size else None  # EFAULT before waiting
    now = k.now()
    if ep.queue:
        visible, msg = ep.queue[0]
        n = min(size, len(msg))
        t.proc.aspace.write(buf, msg[:n])  # (before it is taken: a page away keeps it queued)
        ep.queue.popleft()
        _admit_held(k, ep, max(now, visible))
        if visible > now:
            return k.sleep(t, None, visible, timeout_value=n, why="visible")
        return n
    ep.readers.append((t, buf, size))
    return k.sleep(t, None, None, why="mbx_read")


def _admit_held(k: Kernel, ep: ikc.MailboxIn, at: int) -> None:
    while ep.held and len(ep.queue) < k.spec.ikc.mailbox_slots:
        ikc.accept_mailbox(k, ep, ep.held.popleft(), at)


def sys_portal_create(k: Kernel, t: Thread, a: list[int]) -> int:
    return _create(k, t, "portal", s32(a[0]), ikc.PortalIn(s32(a[0])))


def sys_portal_allow(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], ikc.PortalIn)
    if ep is None:
        return -EBADF
    if s32(a[1]) <= 0:
        return -EINVAL
    ep.allowed = s32(a[1])
    ikc.portal_match(k, ep, k.now())
    return 0


def sys_portal_read(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], ikc.PortalIn)
    if ep is None:
        return -EBADF
    if ep.allowed is None:
        return -EINVAL  # allow a sender first, or this read could never end
    if ep.reader is not None:
        return -EBUSY
    buf, size = a[1], a[2]
    kept = answers.take(t, answers.call_key("portal", ep.port, buf, size))
    if kept is not None:  # its data came while its buffer's page was away (kernel/answers.py)
        t.proc.aspace.write(buf, kept)
        t.call.kept = None
        return len(kept)
    # Every page the data will land in, now: one elsewhere (remote memory, post-copy) makes the
    # call wait for it and run again; at the data's arrival it would be EFAULT.
    for va in range(buf & ~(PAGE - 1), buf + size, PAGE):
        t.proc.aspace.translate(va, "store")
    ep.reader = (t, buf, size, k.now())
    ikc.portal_match(k, ep, k.now())
    k.block(t, None, None, why="portal_read")
    return 0


def sys_portal_open(k: Kernel, t: Thread, a: list[int]) -> int:
    return _open_remote(k, t, "portal", [s32(a[0])], s32(a[1]))


def sys_portal_write(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], ikc.Remote)
    if ep is None or ep.kind != "portal":
        return -EBADF
    data = t.proc.aspace.read(a[1], a[2]) if a[2] else b""
    k.ikc.portal_data[t.tid] = data
    report.count(k, t.proc.pid, ep.pids[0], len(data))
    k.rpc_to(t, ep.clusters[0], PortalReq(dst=ep.pids[0], port=ep.port, src=t.proc.pid, size=len(data)),
             lambda reply, at: reply.body.ret)
    return 0


def _read_pids(t: Thread, addr: int, n: int) -> list[int] | None:
    """The pid list of a sync; None (EINVAL) if its size is wrong or a pid repeats: each pid
    signals once per round, so a repeated one could never be counted right."""
    if not 1 <= n <= 1024:
        return None
    pids = [s32(v) for v in struct.unpack(f"<{n}I", t.proc.aspace.read(addr, 4 * n))]
    if len(set(pids)) != n:
        return None
    return pids


def sys_sync_create(k: Kernel, t: Thread, a: list[int]) -> int:
    port, mode = s32(a[0]), s32(a[3])
    pids = _read_pids(t, a[1], s32(a[2]))
    me = t.proc.pid
    if (pids is None or len(pids) < 2 or mode not in (ikc.ALL_TO_ONE, ikc.ONE_TO_ALL)
            or not 0 <= port < ikc.MAX_PORT):
        return -EINVAL
    if mode == ikc.ALL_TO_ONE:
        if pids[0] != me:
            return -EINVAL
        expect = tuple(pids[1:])
    else:
        if me not in pids[1:]:
            return -EINVAL
        expect = (pids[0],)
    ep = ikc.SyncIn(port, expect, {p: deque() for p in expect})
    for src, visible in k.ikc.early_signals.get((me, port), []):
        if src in ep.got:
            ep.got[src].append(visible)
    fd = _create(k, t, "sync", port, ep)
    if fd >= 0:
        k.ikc.early_signals.pop((me, port), None)
    return fd


def sys_sync_open(k: Kernel, t: Thread, a: list[int]) -> int:
    port, mode = s32(a[0]), s32(a[3])
    pids = _read_pids(t, a[1], s32(a[2]))
    me = t.proc.pid
    if pids is None or len(pids) < 2 or mode not in (ikc.ALL_TO_ONE, ikc.ONE_TO_ALL):
        return -EINVAL
    if mode == ikc.ALL_TO_ONE:
        if me not in pids[1:]:
            return -EINVAL
        targets = [pids[0]]
    else:
        if pids[0] != me:
            return -EINVAL
        targets = pids[1:]
    return _open_remote(k, t, "sync", targets, port)


def sys_sync_signal(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], ikc.Remote)
    if ep is None or ep.kind != "sync":
        return -EBADF
    now = k.now()
    for pid, cluster in zip(ep.pids, ep.clusters, strict=True):
        k.send(cluster, SyncSignal(dst=pid, port=ep.port, src=t.proc.pid), at=now)
    return 0


def sys_sync_wait(k: Kernel, t: Thread, a: list[int]) -> int:
    ep = _get(t, a[0], ikc.SyncIn)
    if ep is None:
        return -EBADF
    if ep.waiter is not None:
        return -EBUSY
    ready = ikc.sync_ready_at(ep)
    now = k.now()
    if ready is not None:
        ikc.sync_consume(ep)
        if ready > now:
            k.block(t, None, ready, timeout_value=0, why="visible")
        return 0
    ep.waiter = t
    k.block(t, None, None, why="sync_wait")
    return 0


def _close_call(kind: type, name: str) -> object:
    def close(k: Kernel, t: Thread, a: list[int]) -> int:
        ep = _get(t, a[0], kind)
        if ep is None or isinstance(ep, ikc.Remote) and ep.kind != name:
            return -EBADF  # a descriptor of another kind of endpoint
        ikc.close(k, t.proc, s32(a[0]), ep, k.now(), -EBADF)
        return 0
    return close


sys_mailbox_close = _close_call((ikc.MailboxIn, ikc.Remote), "mailbox")
sys_portal_close = _close_call((ikc.PortalIn, ikc.Remote), "portal")
sys_sync_close = _close_call((ikc.SyncIn, ikc.Remote), "sync")

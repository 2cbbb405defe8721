"""Freezing containers, and stop-and-copy migration: a protocol between two kernels.

Freeze: a container's threads stop at their next slice boundary. A thread blocked in a
call that can be redone later (futex wait, sleep, mailbox/portal/sync read, waiting for a
child) is backed out: its pc goes back to the ecall, and a timed wait keeps its deadline.
A thread in a call that must finish (a write waiting for its acknowledgement, a request to
a daemon) is let finish first; the container is "freezing" until then.

Migration, source S and destination D (every step a NoC packet):
    S freezes the container and takes its image           running -> freezing -> frozen
    S -> D  mig_reserve (frames needed)     D reserves them, or refuses: S thaws, reason told
    S -> D  mig_image (the image, bulk)     D rebuilds the container, still frozen
    D -> S  mig_ack                         once the NoC confirms the ack was delivered, D
                                            thaws it (the commit point); S frees its copy,
                                            forwards what arrived for it meanwhile, and
                                            tells the process manager where it now lives
    D -> S  mig_done (thaw time)            for S's record
Any failure before the commit point (refusal, a transfer the NoC reports failed) resumes
the process at S and releases D's reservation: no process is ever lost or duplicated.
Packets that reach S for the process while it is frozen are held, and forwarded to D after
the commit (or handled at S after an abort): none lost, none duplicated, order kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoal.errors import ShoalError
from shoal.kernel import image
from shoal.kernel.container import Block, Container, Thread, TState
from shoal.kernel.ikc import MailboxIn, PortalIn, SyncIn
from shoal.kernel.memory import Fault, OutOfFrames
from shoal.kernel.syscalls import EINVAL, ENOMEM, s32, syscall
from shoal.platform.cpu import REG_A, REG_PC
from shoal.platform.noc import Packet

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

EBUSY, EIO = 16, 5
# Blocked calls a freeze may back out and redo: waits, and requests to the daemons that
# only read (a late answer to a backed-out request is dropped).
RESTARTABLE = {"futex", "sleep", "mbx_read", "portal_read", "sync_wait", "rpc:wait",
               "rpc:name_lookup", "rpc:locate", "rpc:open", "rpc:read"}
# Targeted IKC packets: held for a frozen process, forwarded once it has moved.
TARGETED = {"mbx_data", "portal_req", "portal_data", "sync_signal"}
FREEZE_TIMEOUT = 4_000_000  # cycles (10 ms at 400 MHz) a freeze may wait for calls to end


@dataclass(eq=False)
class Migration:
    """The record of one migration, kept by the source kernel."""

    mid: int
    pid: int
    src: int
    dst: int
    requested: int  # simulated cycle of the request
    by: str  # "guest", "host"
    state: str = "freezing"  # freezing, reserving, copying, committed, done, failed
    frozen: int | None = None
    thawed: int | None = None
    ended: int | None = None
    bytes: int = 0
    pages: int = 0
    threads: int = 0
    reason: str = ""
    wall_seconds: float = 0.0  # host time spent on it (never mixed with simulated time)
    caller: Thread | None = field(default=None, repr=False)
    image: bytes = field(default=b"", repr=False)
    stop: bool = False  # checkpoint only: end the process once its image is taken

    @property
    def ok(self) -> bool:
        return self.state in ("committed", "done")

    @property
    def downtime(self) -> int | None:
        """Simulated cycles from freeze to thaw at the destination."""
        return None if self.thawed is None or self.frozen is None else self.thawed - self.frozen

    @property
    def total(self) -> int | None:
        """Simulated cycles from request to the end of the protocol."""
        return None if self.ended is None else self.ended - self.requested


# --- freeze and thaw -----------------------------------------------------------------------------
def try_freeze(k: Kernel, p: Container) -> int | None:
    """Stop what can be stopped; the cycle at which `p` is frozen, or None if not yet."""
    latest = 0
    for h in k.harts:
        t = h.thread
        if t is not None and t.proc is p:
            h.thread = None
            t.state = TState.FROZEN
            latest = max(latest, h.clock)
    for t in [t for t in k.ready if t.proc is p]:
        k.ready.remove(t)
        t.state = TState.FROZEN
        latest = max(latest, t.ready_at)
    done = True
    for t in p.threads:
        if t.state is not TState.BLOCKED:
            continue
        if t.blocked_on == "migrate":
            t.state = TState.FROZEN
        elif t.blocked_on in RESTARTABLE and not _portal_matched(t):
            _back_out(k, t)
        else:
            done = False
    return latest if done else None


def _portal_matched(t: Thread) -> bool:
    """A portal read whose writer was told to go: its data is on the way, let it land."""
    if t.blocked_on != "portal_read":
        return False
    return any(isinstance(ep, PortalIn) and ep.reader is not None and ep.reader[0] is t and ep.reader[3] < 0
               for ep in t.proc.ikc.values())


def _back_out(k: Kernel, t: Thread) -> None:
    """Undo a blocked call so that the thread redoes it when thawed (wherever that is)."""
    if t.blocked_on in ("futex", "sleep"):
        # Kept in the process's own time, which a restore elsewhere carries on.
        t.restart_deadline = None if t.deadline is None else t.deadline - t.proc.clock_offset
    k._unwait(t)
    for ep in t.proc.ikc.values():
        if isinstance(ep, MailboxIn):
            ep.readers = type(ep.readers)(r for r in ep.readers if r[0] is not t)
        elif isinstance(ep, PortalIn) and ep.reader is not None and ep.reader[0] is t:
            ep.reader = None
        elif isinstance(ep, SyncIn) and ep.waiter is t:
            ep.waiter = None
    for op in [op for op, (w, _, _) in k.pending.items() if w is t]:
        del k.pending[op]
    pc = t.ctx.reg_read(REG_PC)
    t.ctx.reg_write(REG_PC, pc - 4)  # back onto the ecall (never compressed)
    if k.cpu.loaded is t.ctx:
        k.cpu.loaded = None
    t.state = TState.FROZEN


def thaw(k: Kernel, p: Container, at: int, caller_result: int) -> None:
    p.state = "running"
    p.freeze_at = None
    for t in p.threads:
        if t.state is TState.FROZEN:
            if t.blocked_on == "migrate":
                t.ctx.reg_write(REG_A[0], caller_result & 0xFFFFFFFF)
            t.blocked_on = ""
            t.state = TState.READY
            t.ready_at = at
            k.ready.append(t)
    if k.cpu.loaded is not None:
        k.cpu.loaded = None


# --- the request -------------------------------------------------------------------------------
CHECKPOINT = -1  # a "migration" whose image goes to a file instead of another cluster


def request(k: Kernel, p: Container, dst: int, at: int, by: str, caller: Thread | None = None,
            stop: bool = False) -> int:
    """Start migrating `p` to cluster `dst` (or checkpointing it if dst is CHECKPOINT, then
    ending it if `stop`); 0, or a negative errno if refused at once."""
    if not (0 <= dst < k.spec.compute_clusters or dst == CHECKPOINT):
        return -EINVAL
    if not p.alive:
        return -EBUSY
    if any(m.pid == p.pid and m.state in ("freezing", "reserving", "copying") for m in k.migrations.values()):
        return -EBUSY
    k._mids += 1
    m = Migration((k.cluster << 32) | k._mids, p.pid, k.cluster, dst, at, by, caller=caller, stop=stop)
    k.migrations[m.mid] = m
    k.migration_log.append(m)
    if dst == k.cluster:  # already there: nothing to move
        m.state, m.frozen, m.thawed, m.ended = "done", at, at, at
        return 0
    p.state = "freezing"
    p.freeze_at = at
    k.at(at, lambda now: progress(k, now))  # the freeze is an item of the cluster at `at`
    return 0


@syscall(530, "shoal_migrate")
def sys_migrate(k: Kernel, t: Thread, a: list[int]) -> int:
    dst = s32(a[0])
    if dst == k.cluster:
        return 0
    err = request(k, t.proc, dst, k.now(), "guest", caller=t)
    if err:
        return err
    # The caller sleeps through the move; it returns 0 at the destination, or the reason the
    # move failed at the source. The rest happens between slices.
    k.block(t, None, None, why="migrate")
    raise Block  # not reached


def progress(k: Kernel, now: int) -> None:
    """Advance every migration this kernel is the source of (called between slices)."""
    for m in list(k.migrations.values()):
        if m.state != "freezing":
            continue
        p = k.find_proc(m.pid)
        if p is None:
            _fail(k, m, None, now, "the process ended before it was frozen")
            continue
        frozen = try_freeze(k, p)
        if frozen is None:
            if now - m.requested > FREEZE_TIMEOUT:
                _fail(k, m, p, now, "a thread stayed in a system call (freeze timed out)", -EBUSY)
            continue
        t0 = time.perf_counter()
        m.frozen = max(m.requested, frozen)
        p.state = "frozen"
        p.freeze_at = m.frozen  # the image says when it was taken
        m.image, m.pages, m.threads = image.serialize(k, p)
        m.bytes = len(m.image)
        if m.dst == CHECKPOINT:
            m.state, m.thawed, m.ended = "checkpointed", m.frozen, m.frozen
            k.migrations.pop(m.mid, None)
            if m.stop:
                k.kill(p, None, None, "checkpointed", m.frozen)
                p.state = "checkpointed"
            else:
                thaw(k, p, m.frozen, 0)
            m.wall_seconds += time.perf_counter() - t0
            continue
        meta, pages = image.check(m.image)
        need = image.frames_needed(meta, pages)
        # Saving each hart context is the only work before the first packet leaves.
        at = m.frozen + k.kernel_core(m.frozen, k.spec.context_switch_cycles * max(1, m.threads))
        m.state = "reserving"
        k.send(m.dst, "mig_reserve", {"mid": m.mid, "pid": m.pid, "frames": need, "bytes": m.bytes},
               at=at)
        m.wall_seconds += time.perf_counter() - t0


def _fail(k: Kernel, m: Migration, p: Container | None, at: int, reason: str, err: int = -EIO) -> None:
    m.state, m.reason, m.ended = "failed", reason, at
    m.image = b""
    k.migrations.pop(m.mid, None)
    if p is not None and p.state in ("freezing", "frozen"):
        thaw(k, p, at, err)
        for pkt in k.held.pop(p.pid, []):
            k.handle(pkt, at)


# --- packets at the source ------------------------------------------------------------------
def on_accept(k: Kernel, pkt: Packet, at: int) -> None:
    m = k.migrations.get(pkt.body["mid"])
    if m is None or m.state != "reserving":
        return
    m.state = "copying"
    k.send(m.dst, "mig_image", {"mid": m.mid, "pid": m.pid}, data=m.image, at=at, bulk=True)


def on_refuse(k: Kernel, pkt: Packet, at: int) -> None:
    m = k.migrations.get(pkt.body["mid"])
    if m is not None and m.state in ("reserving", "copying"):
        _fail(k, m, k.find_proc(m.pid), at, pkt.body["reason"], -ENOMEM)


def on_ack(k: Kernel, pkt: Packet, at: int) -> None:
    """The destination has the process: free the copy here, forward what came meanwhile."""
    m = k.migrations.get(pkt.body["mid"])
    if m is None or m.state != "copying":
        return
    t0 = time.perf_counter()
    p = k.find_proc(m.pid)
    assert p is not None
    m.state, m.image = "committed", b""
    forward = []
    for ep in p.ikc.values():
        if isinstance(ep, MailboxIn):
            forward += list(ep.held)
            ep.held.clear()
        elif isinstance(ep, PortalIn):
            forward += [req for req, _ in ep.requests]
            ep.requests.clear()
    forward += k.held.pop(p.pid, [])
    k.retire(p, at)
    k.moved[p.pid] = m.dst
    for q in forward:
        k.forward(q, m.dst, at)
    k.send(k.services_node, "moved", {"pid": p.pid, "cluster": m.dst}, at=at)
    m.wall_seconds += time.perf_counter() - t0


def on_done(k: Kernel, pkt: Packet, at: int) -> None:
    m = k.migrations.pop(pkt.body["mid"], None)
    if m is not None:
        m.state, m.thawed, m.ended = "done", pkt.body["thawed"], at
        m.wall_seconds += pkt.body["wall"]


def on_abort(k: Kernel, pkt: Packet, at: int) -> None:
    m = k.migrations.get(pkt.body["mid"])
    if m is not None and m.state in ("reserving", "copying"):
        _fail(k, m, k.find_proc(m.pid), at, pkt.body["reason"])


# --- packets at the destination ---------------------------------------------------------------
def on_reserve(k: Kernel, pkt: Packet, at: int) -> None:
    need = pkt.body["frames"]
    free = k.frames.free - k.reserved_frames
    if k.find_proc(pkt.body["pid"]) is not None:
        reason = f"cluster {k.cluster} already runs pid {pkt.body['pid']}"
    elif need > free:
        reason = f"no room on cluster {k.cluster}: the process needs {need} frames, {free} are free"
    else:
        k.reserved_frames += need
        k.incoming[pkt.body["mid"]] = (need, None)
        k.reply_kind(pkt, "mig_accept", at, mid=pkt.body["mid"])
        return
    k.reply_kind(pkt, "mig_refuse", at, mid=pkt.body["mid"], reason=reason)


def on_image(k: Kernel, pkt: Packet, at: int) -> None:
    mid = pkt.body["mid"]
    entry = k.incoming.get(mid)
    if entry is None:
        return
    t0 = time.perf_counter()
    need, _ = entry
    k.reserved_frames -= need
    try:
        p = image.restore(k, pkt.data, at, "migration image")
    except (ShoalError, OutOfFrames, Fault, KeyError, ValueError) as e:  # any failure rolls back
        k.incoming.pop(mid, None)
        k.reply_kind(pkt, "mig_refuse", at, mid=mid, reason=f"restore failed on cluster {k.cluster}: {e}")
        return
    k.incoming[mid] = (0, p)
    # Installing each page's entry and each hart context costs the kernel core a little.
    cost = 16 * len(p.aspace.regions) + k.spec.context_switch_cycles * len(p.threads)
    at += k.kernel_core(at, cost)
    k.incoming_wall[mid] = time.perf_counter() - t0
    k.reply_kind(pkt, "mig_ack", at, mid=mid, confirm=True)


def on_ack_delivered(k: Kernel, mid: int, at: int, src: int) -> None:
    """Commit point: the source now knows we have it. Thaw here."""
    _, p = k.incoming.pop(mid, (0, None))
    if p is None:
        return
    k.adopt(p)
    thaw(k, p, at, 0)
    k.send(src, "mig_done", {"mid": mid, "thawed": at, "wall": k.incoming_wall.pop(mid, 0.0)}, at=at)


def on_ack_failed(k: Kernel, mid: int, at: int, src: int) -> None:
    """The ack never reached the source, which will resume the process: drop our copy."""
    need, p = k.incoming.pop(mid, (0, None))
    k.reserved_frames -= need
    k.incoming_wall.pop(mid, None)
    if p is not None:
        k.discard(p)
    k.send(src, "mig_abort", {"mid": mid, "reason": "the NoC lost the destination's acknowledgement"}, at=at)


def on_release(k: Kernel, pkt: Packet, at: int) -> None:
    need, p = k.incoming.pop(pkt.body["mid"], (0, None))
    k.reserved_frames -= need
    if p is not None:
        k.discard(p)


def on_noc_error(k: Kernel, pkt: Packet, at: int) -> None:
    """A transfer this kernel sent failed (a DMA error, injected by tests)."""
    kind, body = pkt.body["kind"], pkt.body["body"]
    if kind in ("mig_reserve", "mig_image"):
        m = k.migrations.get(body["mid"])
        if m is not None:
            _fail(k, m, k.find_proc(m.pid), at, f"NoC transfer failed ({kind})")
            k.send(m.dst, "mig_release", {"mid": m.mid}, at=at)
    elif kind == "mig_ack":
        on_ack_failed(k, body["mid"], at, pkt.body["to"])
    elif "op" in body and body["op"] in k.pending:
        t, _, _ = k.pending.pop(body["op"])
        k.wake(t, at, -EIO)


def on_noc_delivered(k: Kernel, pkt: Packet, at: int) -> None:
    if pkt.body["kind"] == "mig_ack":
        on_ack_delivered(k, pkt.body["body"]["mid"], at, pkt.body["to"])


HANDLERS = {
    "mig_reserve": on_reserve, "mig_accept": on_accept, "mig_refuse": on_refuse, "mig_image": on_image,
    "mig_ack": on_ack, "mig_done": on_done, "mig_abort": on_abort, "mig_release": on_release,
    "noc_error": on_noc_error, "noc_delivered": on_noc_delivered,
}

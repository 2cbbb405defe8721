"""Freezing containers, and stop-and-copy migration: a protocol between two kernels.

Freeze: a container's threads stop at their next slice boundary. A thread blocked in a
call that can be redone later (futex wait, sleep, mailbox/portal/sync read, waiting for a
child) is backed out: its pc goes back to the ecall, and a timed wait keeps its deadline.
A thread in a call that must finish (a write waiting for its acknowledgement, a request to
a daemon) is let finish first; the container is "freezing" until then.

Migration, source S and destination D. Every step is a NoC packet billed by what it carries,
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
thaws its own copy only when it aborts.

Failures. The NoC tells a sender when one of its transfers failed (a `noc_error` note at the
time it would have arrived), and each side keeps a watchdog (a timer on its own kernel, never
on the NoC) for answers that do not come, its patience SLACK times what the exchange takes
alone in the timing model. A watchdog only asks or says again; it decides nothing until TRIES
rounds have passed, so one that fires early does no harm.
  - A lost mig_reserve or mig_image (before the commit, from S): S aborts at once; after a
    lost image it sends mig_release, so that D drops its reservation.
  - A lost reply (accept, refuse, ack), commit, done, or cleanup (release, abort): its sender
    sends it again, at most TRIES times in all.
  - Each side answers what it hears with where it stands, whatever it sent before: D answers
    S's mig_query (or a repeated commit) with its last answer (accept, ack, done or refuse);
    S answers an accept or ack that comes after it aborted with a release or abort, and an
    ack after its commit with the commit again.
  - S's watchdog, before the commit: mig_query, then after TRIES unanswered questions S aborts
    and sends mig_abort. After the commit: mig_commit again.
  - D's watchdog says its accept or ack again. A reservation is a lease: after TRIES rounds
    with no image D drops it, and refuses a late image (S, not yet committed, aborts). D drops
    a rebuilt copy only on S's word, or when every ack it sent was lost (S cannot have
    committed then).
  - When a side has sent a packet TRIES times in vain it stops, in a final state. S's record
    ends "failed" before the commit (the process runs at S), or "done" with the reason that D
    did not confirm after it (D says its ack again, and S answers with the commit). D drops a
    reservation whose accepts were all lost; a D that S never answers keeps its frozen copy
    rather than risk losing the process.
Downtime is from the freeze at S to the thaw at D.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoal.errors import ShoalError
from shoal.kernel import image
from shoal.kernel.container import Block, Container, Thread, TState
from shoal.kernel.ikc import MailboxIn, PortalIn, SyncIn
from shoal.kernel.image import Shape
from shoal.kernel.memory import Fault, OutOfFrames
from shoal.kernel.syscalls import EINVAL, ENOMEM, s32, syscall
from shoal.platform.cpu import REG_A, REG_PC
from shoal.platform.noc import Packet, transfer_cycles

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.spec import ChipSpec

EBUSY, EIO = 16, 5
# Blocked calls a freeze may back out and redo: waits, and requests to the daemons that
# only read (a late answer to a backed-out request is dropped).
RESTARTABLE = {"futex", "sleep", "console", "mbx_read", "portal_read", "sync_wait", "rpc:wait",
               "rpc:name_lookup", "rpc:locate", "rpc:open", "rpc:read"}
# Targeted IKC packets: held for a frozen process, forwarded once it has moved.
TARGETED = {"mbx_data", "portal_req", "portal_data", "sync_signal"}
FREEZE_TIMEOUT = 4_000_000  # cycles (10 ms at 400 MHz) a freeze may wait for calls to end
# Protocol choices (not hardware figures): how often one packet is sent at most, and how much
# longer than alone on the chip an exchange may take before a watchdog asks again (16: as if
# every compute cluster of the MPPA-256 shared its links and kernel core).
TRIES = 8
SLACK = 16
CONTROL_BYTES = 64  # a bound on the body of a migration control packet, for the watchdogs
ACTIVE = ("freezing", "reserving", "copying", "committed")


@dataclass(eq=False)
class Migration:
    """The record of one migration, kept by the source kernel."""

    mid: int
    pid: int
    src: int
    dst: int
    requested: int  # simulated cycle of the request
    by: str  # "guest", "host"
    state: str = "freezing"  # freezing, reserving, copying, committed; done, failed, checkpointed
    frozen: int | None = None
    thawed: int | None = None
    ended: int | None = None
    bytes: int = 0
    pages: int = 0
    tables: int = 0  # second-level page tables rebuilt at the destination
    threads: int = 0
    reason: str = ""
    resent: int = 0  # packets sent again (lost, or not answered), by either side
    wall_seconds: float = 0.0  # host time spent on it (never mixed with simulated time)
    caller: Thread | None = field(default=None, repr=False)
    image: bytes = field(default=b"", repr=False)
    shape: Shape | None = field(default=None, repr=False)
    image_ready: int = 0  # when the image's first DMA operation may leave (build_lead)
    proc: Container | None = field(default=None, repr=False)  # the copy retired at the commit
    sends: dict[str, int] = field(default_factory=dict, repr=False)
    watchdog: int = field(default=0, repr=False)  # which of its timers counts (later ones win)
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


@dataclass(eq=False)
class Incoming:
    """The destination's side of one migration (kept after it ends, to answer late packets)."""

    mid: int
    pid: int
    src: int
    nbytes: int  # of the image announced
    frames: int = 0  # reserved and not yet used
    state: str = "reserved"  # reserved, rebuilt, running; refused, dropped
    proc: Container | None = None
    thawed: int | None = None
    reason: str = ""
    wall: float = 0.0
    sends: dict[str, int] = field(default_factory=dict)  # packets sent, by kind
    lost: dict[str, int] = field(default_factory=dict)  # of which the NoC reported lost
    watchdog: int = 0  # which of its timers counts (later ones win)


# --- the timing model of a migration ------------------------------------------------------------
def freeze_cycles(spec: ChipSpec, threads: int) -> int:
    """Saving each thread's hart context."""
    return spec.context_switch_cycles * threads


def build_cycles(spec: ChipSpec, shape: Shape) -> int:
    """Copying every byte of the image into it."""
    return math.ceil(spec.copy_cycles_per_byte * shape.nbytes)


def rebuild_cycles(spec: ChipSpec, shape: Shape) -> int:
    """Copying each page and the metadata out of the image, installing each page-table entry
    (one per page, one per second-level table) and each thread's context."""
    copied = shape.meta_bytes + shape.pages * spec.page_size
    return (math.ceil(spec.copy_cycles_per_byte * copied) + spec.pte_install_cycles * shape.ptes
            + spec.context_switch_cycles * shape.threads)


def chunk_wire(spec: ChipSpec) -> int:
    """One page-sized DMA operation of a bulk transfer alone on a link: setup and bytes."""
    size = spec.portal_chunk + spec.portal_header
    return spec.noc_setup_cycles + -(-size // spec.noc_link_bytes_per_cycle)


def overlap(spec: ChipSpec, nbytes: int, total: int, alone: int) -> int:
    """How much of a kernel core's `total` work on an image streams alongside its transfer.
    The image crosses the NoC in page-sized DMA operations (as Nanvix's portals move a page
    at a time); the source copies operation j + 1 while j is on the wire, the destination
    copies operation j out while j + 1 arrives. Only `alone` (the first operation's copy at the
    source; the last one's, the page-table roots and the contexts at the destination) cannot
    overlap, and a kernel core slower than the wire holds the stream back by the difference."""
    chunks = max(1, -(-nbytes // spec.portal_chunk))
    return max(0, min((chunks - 1) * chunk_wire(spec), total - alone))


def build_lead(spec: ChipSpec, shape: Shape) -> int:
    """Cycles of building the image before its first DMA operation may leave."""
    total = build_cycles(spec, shape)
    first = math.ceil(spec.copy_cycles_per_byte * min(spec.portal_chunk, shape.nbytes))
    return total - overlap(spec, shape.nbytes, total, first)


def rebuild_tail(spec: ChipSpec, shape: Shape) -> int:
    """Cycles of rebuilding left once the image's last DMA operation has arrived."""
    total = rebuild_cycles(spec, shape)
    last_bytes = shape.nbytes - (max(1, -(-shape.nbytes // spec.portal_chunk)) - 1) * spec.portal_chunk
    last = (math.ceil(spec.copy_cycles_per_byte * last_bytes) + spec.pte_install_cycles * shape.tables
            + spec.context_switch_cycles * shape.threads)
    return total - overlap(spec, shape.nbytes, total, last)


def _alone(spec: ChipSpec, nbytes: int, bulk: bool = False) -> int:
    """A transfer alone on the chip over the longest route, and its handling at the receiver."""
    hops = spec.mesh_width // 2 + spec.mesh_height // 2 + 2
    header = spec.portal_header if bulk else spec.mailbox_header
    return transfer_cycles(spec, nbytes, spec.portal_chunk, header, hops) + spec.ikc_recv_cycles


# A watchdog's patience: SLACK times the exchange alone on the chip.
def _round_trip(spec: ChipSpec) -> int:
    return SLACK * 2 * _alone(spec, CONTROL_BYTES)


def _image_trip(spec: ChipSpec, nbytes: int, rebuild: int) -> int:
    return SLACK * (_alone(spec, nbytes + CONTROL_BYTES, bulk=True) + rebuild + _alone(spec, CONTROL_BYTES))


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
        # A thread that waits for a hart has not run past the request: being ready later
        # (woken by work that ends after it) does not make the freeze later.
        latest = max(latest, t.ready_at if p.freeze_at is None else min(t.ready_at, p.freeze_at))
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
    if any(m.pid == p.pid and m.state in ACTIVE for m in k.migrations.values()):
        return -EBUSY
    k._mids += 1
    m = Migration((k.cluster << 32) | k._mids, p.pid, k.cluster, dst, at, by, caller=caller, stop=stop)
    k.migrations[m.mid] = m
    k.migration_log.append(m)
    if dst == k.cluster:  # already there: nothing to move
        m.state, m.frozen, m.thawed, m.ended, m.reason = "done", at, at, at, "already there"
        del k.migrations[m.mid]
        return 0
    p.state = "freezing"
    p.freeze_at = at
    k.at(at, lambda now: progress(k, now))  # the freeze is an item of the cluster at `at`
    k.at(at + FREEZE_TIMEOUT + 1, lambda now: progress(k, now))  # and so is its time limit
    return 0


@syscall(530, "shoal_migrate")
def sys_migrate(k: Kernel, t: Thread, a: list[int]) -> int:
    dst = s32(a[0])
    if not 0 <= dst < k.spec.compute_clusters:
        return -EINVAL  # a cluster number; CHECKPOINT (-1) is the host's, never a guest's
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
        m.image, m.shape = image.serialize(k, p)
        m.bytes, m.pages, m.tables, m.threads = m.shape.nbytes, m.shape.pages, m.shape.tables, m.shape.threads
        # The kernel core saves each hart context, then copies the image together; the
        # reservation asks for room meanwhile, and the image streams out as it is copied.
        at = m.frozen + k.kernel_core(m.frozen, freeze_cycles(k.spec, m.threads))
        if m.dst != CHECKPOINT:  # the rest is copied while the image streams out (on_accept)
            m.image_ready = at + k.kernel_core(at, build_lead(k.spec, m.shape))
        else:  # a checkpoint needs the whole image
            at += k.kernel_core(at, build_cycles(k.spec, m.shape))
            m.state, m.thawed, m.ended, m.reason = "checkpointed", at, at, "image taken"
            k.migrations.pop(m.mid, None)
            if m.stop:
                k.kill(p, None, None, "checkpointed", at)
                p.state = "checkpointed"
            else:
                thaw(k, p, at, 0)
            m.wall_seconds += time.perf_counter() - t0
            continue
        m.state = "reserving"
        _send(k, m, m.dst, "mig_reserve", {"mid": m.mid, "pid": m.pid, "frames": m.shape.frames,
                                           "bytes": m.bytes}, at)
        _arm(k, m, at + _round_trip(k.spec))
        m.wall_seconds += time.perf_counter() - t0


# --- sending, resending, watchdogs --------------------------------------------------------------
def _send(k: Kernel, rec: Migration | Incoming, dst: int, kind: str, body: dict, at: int,
          data: bytes = b"", bulk: bool = False) -> None:
    rec.sends[kind] = rec.sends.get(kind, 0) + 1
    k.send(dst, kind, body, data, at, bulk)


def _again(k: Kernel, rec: Migration | Incoming, dst: int, kind: str, body: dict, at: int) -> bool:
    """Send a packet once more, unless it went TRIES times already; True if sent."""
    if rec.sends.get(kind, 0) >= TRIES:
        return False
    if isinstance(rec, Migration):
        rec.resent += 1
    _send(k, rec, dst, kind, body, at)
    return True


def _arm(k: Kernel, rec: Migration | Incoming, at: int) -> None:
    """Set this side's watchdog for `rec` to `at` (a timer of this kernel: an item of the
    cluster at that time, never a packet); an earlier one no longer counts."""
    rec.watchdog += 1
    gen = rec.watchdog
    k.at(at, lambda now: _watchdog(k, rec, gen, now))


def _disarm(rec: Migration | Incoming) -> None:
    rec.watchdog += 1


def _watchdog(k: Kernel, rec: Migration | Incoming, gen: int, now: int) -> None:
    if rec.watchdog != gen:
        return
    if isinstance(rec, Migration):
        _source_waited(k, rec, now)
    else:
        _destination_waited(k, rec, now)


def _record(k: Kernel, mid: int) -> Migration | None:
    """This kernel's record of migration `mid` (under way, or ended)."""
    m = k.migrations.get(mid)
    if m is not None:
        return m
    return next((m for m in reversed(k.migration_log) if m.mid == mid), None)


def on_lost(k: Kernel, kind: str, body: dict, at: int) -> None:
    """A protocol packet this kernel sent was lost (Kernel.on_lost routes it here)."""
    mid = body["mid"]
    m = _record(k, mid) if mid >> 32 == k.cluster else None
    if m is not None:
        _source_lost(k, m, kind, body, at)
    elif mid in k.incoming:
        e = k.incoming[mid]
        e.lost[kind] = e.lost.get(kind, 0) + 1
        _destination_lost(k, e, kind, at)


# --- the source --------------------------------------------------------------------------------
def _fail(k: Kernel, m: Migration, p: Container | None, at: int, reason: str, err: int = -EIO,
          cleanup: str = "") -> None:
    """Abort before the commit: the process goes on here; D is told to drop what it holds."""
    m.state, m.reason, m.ended = "failed", reason, at
    m.image = b""
    k.migrations.pop(m.mid, None)
    _disarm(m)
    if cleanup:
        _send(k, m, m.dst, cleanup, {"mid": m.mid}, at)
    if p is not None and p.state in ("freezing", "frozen"):
        thaw(k, p, at, err)
        for pkt in k.held.pop(p.pid, []):
            k.handle(pkt, at)


def _source_waited(k: Kernel, m: Migration, at: int) -> None:
    """No word from D in time. Ask it (it answers with its last answer); an answer may still be
    on its way on a busy chip, so the watchdog decides nothing until TRIES rounds."""
    if m.state in ("reserving", "copying"):
        if _again(k, m, m.dst, "mig_query", {"mid": m.mid}, at):
            _arm(k, m, at + _round_trip(k.spec))
        else:
            _fail(k, m, k.find_proc(m.pid), at, f"no answer from cluster {m.dst} after "
                  f"{TRIES} questions", cleanup="mig_abort")
    elif m.state == "committed":
        if _again(k, m, m.dst, "mig_commit", {"mid": m.mid}, at):
            _arm(k, m, at + _round_trip(k.spec))
        else:
            _unconfirmed(k, m, at)


def _unconfirmed(k: Kernel, m: Migration, at: int) -> None:
    """After the commit, D never confirmed: the process is D's; D will ask for its commit."""
    m.state, m.ended = "done", at
    m.reason = (f"moved to cluster {m.dst}, which did not confirm the thaw after "
                f"{m.sends.get('mig_commit', 0)} commit messages")
    k.migrations.pop(m.mid, None)
    _disarm(m)
    if m.proc is not None:
        m.proc.state = "migrated"


def _source_lost(k: Kernel, m: Migration, kind: str, body: dict, at: int) -> None:
    if kind == "mig_reserve" and m.state == "reserving":  # D never heard of it
        _fail(k, m, k.find_proc(m.pid), at, "NoC transfer failed (mig_reserve)")
    elif kind == "mig_image" and m.state == "copying":
        _fail(k, m, k.find_proc(m.pid), at, "NoC transfer failed (mig_image)", cleanup="mig_release")
    elif kind == "mig_commit" and m.state == "committed":
        if _again(k, m, m.dst, kind, body, at):
            _arm(k, m, at + _round_trip(k.spec))
    elif kind in ("mig_release", "mig_abort"):
        _again(k, m, m.dst, kind, body, at)  # after the last loss, D asks (and we answer)


def on_accept(k: Kernel, pkt: Packet, at: int) -> None:
    m = _record(k, pkt.body["mid"])
    if m is None:
        return
    if m.state == "reserving":
        m.state = "copying"
        at = max(at, m.image_ready)
        assert m.shape is not None
        k.kernel_core(at, build_cycles(k.spec, m.shape) - build_lead(k.spec, m.shape))
        _send(k, m, m.dst, "mig_image", {"mid": m.mid, "pid": m.pid}, at, data=m.image, bulk=True)
        if k.tracer is not None:
            k.tracer.mig_mark(m.mid, "image_sent", at)
        _arm(k, m, at + _image_trip(k.spec, m.bytes, rebuild_cycles(k.spec, m.shape)))
    elif m.state == "failed":  # aborted meanwhile: D holds a reservation for nothing
        _send(k, m, m.dst, "mig_release", {"mid": m.mid}, at)


def on_refuse(k: Kernel, pkt: Packet, at: int) -> None:
    m = k.migrations.get(pkt.body["mid"])
    if m is not None and m.state in ("reserving", "copying"):  # D holds nothing for it now
        _fail(k, m, k.find_proc(m.pid), at, pkt.body["reason"], -ENOMEM)


def on_ack(k: Kernel, pkt: Packet, at: int) -> None:
    """The commit point: the destination has the process, frozen. It is D's from now on."""
    m = _record(k, pkt.body["mid"])
    if m is None:
        return
    if m.state == "failed":  # aborted meanwhile: D must drop its copy
        _send(k, m, m.dst, "mig_abort", {"mid": m.mid}, at)
    elif m.state == "committed" or (m.state == "done" and m.thawed is None):
        _send(k, m, m.dst, "mig_commit", {"mid": m.mid}, at)  # D has not heard our commit
    elif m.state == "copying":
        _commit(k, m, at)


def _commit(k: Kernel, m: Migration, at: int) -> None:
    t0 = time.perf_counter()
    p = k.find_proc(m.pid)
    assert p is not None
    m.state, m.image, m.proc = "committed", b"", p
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
    p.state = "frozen"  # in transit: no copy runs until D thaws its own
    k.moved[p.pid] = m.dst
    _send(k, m, m.dst, "mig_commit", {"mid": m.mid}, at)
    _arm(k, m, at + _round_trip(k.spec))
    for q in forward:
        k.forward(q, m.dst, at)
    k.send(k.services_node, "moved", {"pid": p.pid, "cluster": m.dst}, at=at)
    m.wall_seconds += time.perf_counter() - t0


def on_done(k: Kernel, pkt: Packet, at: int) -> None:
    m = _record(k, pkt.body["mid"])
    if m is None or not (m.state == "committed" or (m.state == "done" and m.thawed is None)):
        return
    m.state, m.thawed, m.ended = "done", pkt.body["thawed"], at
    m.resent += pkt.body["resent"]
    m.reason = f"moved to cluster {m.dst}" + (f" ({m.resent} packets sent again)" if m.resent else "")
    m.wall_seconds += pkt.body["wall"]
    k.migrations.pop(m.mid, None)
    _disarm(m)
    if m.proc is not None:
        m.proc.state = "migrated"


# --- the destination -----------------------------------------------------------------------------
_ANSWER = {"reserved": "mig_accept", "rebuilt": "mig_ack", "running": "mig_done", "refused": "mig_refuse",
           "dropped": "mig_refuse"}


def _answer(k: Kernel, e: Incoming, at: int) -> None:
    """Say (again) where we stand: what S must hear from us next."""
    if e.state == "reserved":
        _send(k, e, e.src, "mig_accept", {"mid": e.mid}, at)
    elif e.state == "rebuilt":
        _send(k, e, e.src, "mig_ack", {"mid": e.mid}, at)
    elif e.state == "running":
        # For S's record: what we sent more than once, this done included.
        resent = sum(n - 1 for n in e.sends.values()) + (1 if e.sends.get("mig_done") else 0)
        _send(k, e, e.src, "mig_done", {"mid": e.mid, "thawed": e.thawed, "resent": resent, "wall": e.wall},
              at)
    else:
        _send(k, e, e.src, "mig_refuse", {"mid": e.mid, "reason": e.reason}, at)


def on_reserve(k: Kernel, pkt: Packet, at: int) -> None:
    b = pkt.body
    mid, need = b["mid"], b["frames"]
    if mid in k.incoming:
        return  # S sends a reservation once
    e = k.incoming[mid] = Incoming(mid, b["pid"], pkt.src, b["bytes"])
    free = k.frames.free - k.reserved_frames
    if k.find_proc(b["pid"]) is not None:
        e.state, e.reason = "refused", f"cluster {k.cluster} already runs pid {b['pid']}"
    elif need > free:
        e.state = "refused"
        e.reason = f"no room on cluster {k.cluster}: the process needs {need} frames, {free} are free"
    else:
        k.reserved_frames += need
        e.frames = need
        _arm(k, e, at + _image_trip(k.spec, e.nbytes, 0))  # the lease, renewed TRIES times
    _answer(k, e, at)


def on_query(k: Kernel, pkt: Packet, at: int) -> None:
    e = k.incoming.get(pkt.body["mid"])
    if e is not None:  # never heard of it: the reservation is still on its way, or lost
        _answer(k, e, at)


def on_image(k: Kernel, pkt: Packet, at: int) -> None:
    mid = pkt.body["mid"]
    e = k.incoming.get(mid)
    if e is None or e.state != "reserved":
        if e is not None and e.state == "dropped":  # S, not committed, must abort
            _answer(k, e, at)
        return
    t0 = time.perf_counter()
    _unreserve(k, e)
    try:
        meta, pages = image.check(pkt.data, "migration image")
        p = image.rebuild(k, meta, pages, at)
    except (ShoalError, OutOfFrames, Fault, KeyError, ValueError) as err:  # any failure rolls back
        e.state, e.reason = "refused", f"restore failed on cluster {k.cluster}: {err}"
        _disarm(e)
        _answer(k, e, at)
        return
    shape = image.shape(pkt.data, meta, pages)
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
    e.state, e.proc = "rebuilt", p
    k.procs.append(p)
    k.moved.pop(p.pid, None)
    e.wall = time.perf_counter() - t0
    _answer(k, e, at)
    _arm(k, e, at + _round_trip(k.spec))


def on_commit(k: Kernel, pkt: Packet, at: int) -> None:
    e = k.incoming.get(pkt.body["mid"])
    if e is None:
        return
    if e.state == "rebuilt":
        p = e.proc
        assert p is not None
        e.state, e.thawed, e.proc = "running", at, None
        _disarm(e)
        k.all_procs.append(p)
        thaw(k, p, at, 0)
        for q in k.held.pop(p.pid, []):
            k.handle(q, at)
    if e.state == "running":  # (again, if S did not hear our done)
        _answer(k, e, at)


def _unreserve(k: Kernel, e: Incoming) -> None:
    k.reserved_frames -= e.frames
    e.frames = 0


def _drop(k: Kernel, e: Incoming, at: int, reason: str) -> None:
    """Give back what we hold for a migration that S will never commit."""
    if e.state not in ("reserved", "rebuilt"):
        return
    _unreserve(k, e)
    _disarm(e)
    p, e.proc = e.proc, None
    e.state, e.reason = "dropped", reason
    if p is None:
        return
    k.procs.remove(p)
    k.discard(p)
    for key in [key for key in k.early_signals if key[0] == p.pid]:
        del k.early_signals[key]
    k.moved[p.pid] = e.src  # it goes on at S: what came for it here goes there
    for q in k.held.pop(p.pid, []):
        k.handle(q, at)


def on_release(k: Kernel, pkt: Packet, at: int) -> None:
    e = k.incoming.get(pkt.body["mid"])
    if e is not None:
        _drop(k, e, at, f"{pkt.kind} from cluster {e.src}")


def _never_heard(e: Incoming, kind: str) -> bool:
    """Every `kind` we sent was lost, and we may send no more: S cannot have heard one."""
    n = e.sends.get(kind, 0)
    return n >= TRIES and e.lost.get(kind, 0) == n


def _destination_waited(k: Kernel, e: Incoming, at: int) -> None:
    """No word from S in time: say where we stand again, which S answers. A reservation is
    dropped after TRIES rounds (safe: a late image is refused and S, not committed, aborts);
    a rebuilt copy only if S cannot have heard of it."""
    if e.state not in ("reserved", "rebuilt"):
        return
    kind = _ANSWER[e.state]
    if e.sends.get(kind, 0) < TRIES:
        _answer(k, e, at)
        lease = e.state == "reserved"
        _arm(k, e, at + (_image_trip(k.spec, e.nbytes, 0) if lease else _round_trip(k.spec)))
    elif e.state == "reserved":
        _drop(k, e, at, f"the reservation's lease ran out ({TRIES} accepts sent, no image came)")
    elif _never_heard(e, kind):
        _drop(k, e, at, f"cluster {e.src} never got the ack")
    else:  # S may have committed: keep the process frozen rather than risk losing it
        e.reason = f"no word from cluster {e.src} after {TRIES} acks; the copy stays frozen"


def _destination_lost(k: Kernel, e: Incoming, kind: str, at: int) -> None:
    if kind == "mig_accept" and e.state == "reserved":
        if not _again(k, e, e.src, kind, {"mid": e.mid}, at) and _never_heard(e, kind):
            _drop(k, e, at, f"cluster {e.src} never got the accept")
    elif kind == "mig_ack" and e.state == "rebuilt":
        if not _again(k, e, e.src, kind, {"mid": e.mid}, at) and _never_heard(e, kind):
            _drop(k, e, at, f"cluster {e.src} never got the ack")  # so it cannot have committed
    elif kind in ("mig_refuse", "mig_done") and kind == _ANSWER.get(e.state):
        if e.sends.get(kind, 0) < TRIES:
            _answer(k, e, at)  # after the last loss, S's watchdog asks again


HANDLERS = {
    "mig_reserve": on_reserve, "mig_accept": on_accept, "mig_refuse": on_refuse, "mig_image": on_image,
    "mig_ack": on_ack, "mig_commit": on_commit, "mig_done": on_done, "mig_query": on_query,
    "mig_abort": on_release, "mig_release": on_release,
}

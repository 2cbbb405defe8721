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

Live methods, on the same protocol (`method`):
  precopy   S reserves at D while the process runs, then sends rounds of pages (mig_pages,
            acknowledged by mig_pages_ack) while it runs on: the first round every page, each
            later one the pages dirtied during the one before (the kernel's dirty bits: a clean
            page is mapped read-only until its first store, see AddressSpace.start_tracking).
            It switches over when what is left fits the downtime limit at the bandwidth the
            last round saw (QEMU's rule), or after `max_rounds` rounds or `max_bytes` sent
            (Xen's caps): then a stop-and-copy whose image carries only the pages still stale
            at D (the others are `staged` there). `switch` in the record says why.
  postcopy  S freezes, and the image carries no page, only where each is (`remote`); D thaws
            the process at once. A touch of a page not yet there blocks the thread (the
            faulting instruction, or the system call, is made again once it is here: mig_fetch,
            answered first); meanwhile S pushes the others (mig_page, PUSH_WINDOW in flight,
            nearest to the latest fault first), and D acknowledges each (mig_got). S keeps its
            copy until D's last mig_got says every page is in; a page whose transfer failed is
            sent again later, so a failing NoC pauses the process instead of losing it.
  hybrid    one pre-copy round, then post-copy for the pages dirtied during it.
Every page crosses the NoC once in post-copy; pre-copy sends again what was dirtied.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoal.errors import ShoalError
from shoal.kernel import image
from shoal.kernel.container import Block, Container, Thread, TState
from shoal.kernel.ikc import MailboxIn, PortalIn, SyncIn
from shoal.kernel.image import Shape
from shoal.kernel.memory import Fault, Missing, OutOfFrames
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
               "rpc:name_lookup", "rpc:locate", "rpc:fs_read", "rpc:fs_stat", "rpc:fs_getdents",
               "rpc:ipc_wait", "rpc:mq_getattr", "rpc:sem_getvalue"}
# Targeted IKC packets: held for a frozen process, forwarded once it has moved.
TARGETED = {"mbx_data", "portal_req", "portal_data", "sync_signal", "rmem_full"}
FREEZE_TIMEOUT = 4_000_000  # cycles (10 ms at 400 MHz) a freeze may wait for calls to end
# Protocol choices (not hardware figures): how often one packet is sent at most, and how much
# longer than alone on the chip an exchange may take before a watchdog asks again (16: as if
# every compute cluster of the MPPA-256 shared its links and kernel core).
TRIES = 8
SLACK = 16
CONTROL_BYTES = 64  # a bound on the body of a migration control packet, for the watchdogs
ACTIVE = ("freezing", "reserving", "copying", "committed", "precopy", "postcopy")
METHODS = ("stopcopy", "precopy", "postcopy", "hybrid")
# Live migration defaults (protocol choices, not hardware figures). The downtime limit is a
# tenth of a stop-and-copy of 1 MiB on mppa256 (~865 us): a process shoal moves is MiBs where
# QEMU's VMs are GiBs (its default limit is 300 ms). Rounds and bytes: Xen's caps (30 rounds,
# 3x the memory). Post-copy pushes go PUSH_BATCH pages a packet, PUSH_WINDOW packets in
# flight: enough to keep the link and the receiving kernel core busy (one packet's handling
# overlaps the next's transfer), few enough that a fetched page waits behind 16 at most.
DOWNTIME_LIMIT_US = 100
MAX_ROUNDS = 30
MAX_BYTES_FACTOR = 3
STREAMS = ("mig_pages_ack", "mig_fetch", "mig_got")  # sent many times by design, not resent
PUSH_WINDOW = 2  # post-copy push packets in flight
PUSH_BATCH = 8  # pages per push packet: the receiving kernel core pays ikc_recv_cycles per packet


@dataclass(eq=False)
class Migration:
    """The record of one migration, kept by the source kernel."""

    mid: int
    pid: int
    src: int
    dst: int
    requested: int  # simulated cycle of the request
    by: str  # "guest", "host", "policy:NAME" (shoal/policy.py)
    state: str = "freezing"  # freezing, reserving, copying, committed; done, failed, checkpointed
    frozen: int | None = None
    thawed: int | None = None
    ended: int | None = None
    bytes: int = 0
    pages: int = 0
    tables: int = 0  # second-level page tables rebuilt at the destination
    threads: int = 0
    reason: str = ""
    why: str = ""  # a policy's move: why it asked (shoal/policy.py)
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
    # Live migration (see the module's docstring). Figures:
    method: str = "stopcopy"
    rounds: int = 0  # pre-copy rounds sent
    switch: str = ""  # why pre-copy stopped its rounds
    pages_sent: int = 0  # page transfers, rounds, image and post-copy together
    pages_resent: int = 0  # pages sent more than once (dirtied again during pre-copy)
    bytes_sent: int = 0  # bytes of pages and images sent
    remote_faults: int = 0  # post-copy: touches of pages not yet at the destination
    page_wait: int = 0  # post-copy: cycles threads waited for pages, all threads together
    postcopy_pages: int = 0  # pages that followed the thaw
    limit: int = 0  # downtime limit (cycles), and the pre-copy caps
    max_rounds: int = MAX_ROUNDS
    max_bytes: int = 0
    # The source's working state.
    accepted: bool = field(default=False, repr=False)  # D holds a reservation (pre-copy)
    stale: set[int] = field(default_factory=set, repr=False)  # pages D lacks, or has old
    at_dst: set[int] = field(default_factory=set, repr=False)  # pages D has a copy of
    per_page: dict[int, int] = field(default_factory=dict, repr=False)  # sends of each page
    round_sent: int = field(default=0, repr=False)
    round_bytes: int = field(default=0, repr=False)
    remaining: list[int] = field(default_factory=list, repr=False)  # post-copy, in address order
    in_flight: set[int] = field(default_factory=set, repr=False)
    focus: int = field(default=0, repr=False)  # the latest fault: pushes go nearest first
    pushes: int = field(default=0, repr=False)  # push packets in flight
    pushed_all: bool = field(default=False, repr=False)  # D said every page is in

    @property
    def ok(self) -> bool:
        return self.state in ("committed", "done", "postcopy")

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
    round: int = 0  # pre-copy: the last round staged
    staged: dict[int, bytes] = field(default_factory=dict)  # pre-copy pages held for the image
    remote: bool = False  # post-copy: pages follow the thaw
    waiting: dict[int, list[Thread]] = field(default_factory=dict)  # page -> threads
    requested: set[int] = field(default_factory=set)  # pages asked for
    faults: int = 0
    page_wait: int = 0
    final_sent: bool = False


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
    copied = shape.meta_bytes + shape.carried * spec.page_size
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
            stop: bool = False, method: str = "stopcopy", options: dict | None = None) -> int:
    """Start migrating `p` to cluster `dst` by `method` (or checkpointing it if dst is
    CHECKPOINT, then ending it if `stop`); 0, or a negative errno if refused at once.
    `options` may set the live methods' downtime_limit (cycles), max_rounds, max_bytes."""
    if not (0 <= dst < k.spec.compute_clusters or dst == CHECKPOINT) or method not in METHODS:
        return -EINVAL
    if not p.alive:
        return -EBUSY
    if any(m.pid == p.pid and m.state in ACTIVE for m in k.migrations.values()):
        return -EBUSY
    if p.aspace.incoming:  # still receiving its pages from an earlier move
        return -EBUSY
    if dst == CHECKPOINT and p.aspace.rmem:  # a checkpoint carries every page; these are away
        return -EBUSY
    k._mids += 1
    m = Migration((k.cluster << 32) | k._mids, p.pid, k.cluster, dst, at, by, caller=caller, stop=stop,
                  method=method if dst != CHECKPOINT else "stopcopy")
    opts = options or {}
    m.limit = opts.get("downtime_limit", math.ceil(DOWNTIME_LIMIT_US * 1e-6 * k.spec.freq_hz))
    m.max_rounds = opts.get("max_rounds", MAX_ROUNDS)
    m.max_bytes = opts.get("max_bytes", MAX_BYTES_FACTOR * p.aspace.data_frames * k.spec.page_size)
    k.migrations[m.mid] = m
    k.migration_log.append(m)
    if dst == k.cluster:  # already there: nothing to move
        m.state, m.frozen, m.thawed, m.ended, m.reason = "done", at, at, at, "already there"
        del k.migrations[m.mid]
        return 0
    if m.method in ("precopy", "hybrid"):  # reserve first; the process runs on meanwhile
        m.state = "reserving"
        # Watched from now on, so that it keeps step with the protocol (sched.run_slice).
        p.aspace.start_tracking()
        k.cpu.flush_tlb()
        frames = p.aspace.frames_in_use
        _send(k, m, m.dst, "mig_reserve", {"mid": m.mid, "pid": m.pid, "frames": frames,
                                           "bytes": p.aspace.data_frames * k.spec.page_size}, at)
        _arm(k, m, at + _round_trip(k.spec))
        return 0
    p.state = "freezing"
    p.freeze_at = at
    k.at(at, lambda now: progress(k, now))  # the freeze is an item of the cluster at `at`
    k.at(at + FREEZE_TIMEOUT + 1, lambda now: progress(k, now))  # and so is its time limit
    return 0


@syscall(530, "shoal_migrate")
def sys_migrate(k: Kernel, t: Thread, a: list[int]) -> int:
    """shoal_migrate(cluster) and shoal_migrate_by(cluster, method): method 0 is the chip's
    default (stop-and-copy unless set), then 1 stop-and-copy, 2 pre-copy, 3 post-copy, 4 hybrid
    (shoal.h); shoal_migrate passes 0."""
    dst = s32(a[0])
    if not 0 <= dst < k.spec.compute_clusters or a[1] > len(METHODS):
        return -EINVAL  # a cluster number; CHECKPOINT (-1) is the host's, never a guest's
    if dst == k.cluster:
        return 0
    if t.proc.aspace.incoming:  # its pages still follow an earlier move: wait for them, then ask
        raise Missing("load", ALL_PAGES)
    method = METHODS[a[1] - 1] if a[1] else k.default_method
    err = request(k, t.proc, dst, k.now(), "guest", caller=t, method=method)
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
            _fail(k, m, None, now, "the process ended before it was frozen",
                  cleanup="mig_release" if m.accepted else "")
            continue
        frozen = try_freeze(k, p)
        if frozen is None:
            if now - (p.freeze_at if p.freeze_at is not None else m.requested) > FREEZE_TIMEOUT:
                _fail(k, m, p, now, "a thread stayed in a system call (freeze timed out)", -EBUSY,
                      cleanup="mig_release" if m.accepted else "")  # (pre-copy: D holds room)
            continue
        t0 = time.perf_counter()
        m.frozen = max(m.requested if not m.accepted else p.freeze_at or m.requested, frozen)
        p.state = "frozen"
        p.freeze_at = m.frozen  # the image says when it was taken
        staged: set[int] = set()
        remote: set[int] = set()
        if m.accepted:  # after pre-copy: what D holds and is still current is left out
            m.stale |= p.aspace.take_dirty()
            p.aspace.stop_tracking()
            staged = m.at_dst - m.stale
            if m.method == "hybrid":
                remote = {va for va, _ in p.aspace.page_list()} - staged
        elif m.method == "postcopy" and m.dst != CHECKPOINT:
            remote = {va for va, _ in p.aspace.page_list()}
        m.image, m.shape = image.serialize(k, p, staged, remote)
        m.postcopy_pages = len(remote)
        m.pages_sent += m.shape.carried
        for va, _ in p.aspace.page_list():
            if va not in staged and va not in remote:
                _count_send(m, va)
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
        if m.accepted:  # D holds room for it since the pre-copy: the image goes now
            m.state = "copying"
            _send_image(k, m, at)
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
        if kind in ("mig_fetch", "mig_got"):  # post-copy: the process waits; say it again later
            k.at(at + _round_trip(k.spec) // SLACK, lambda now: _send(k, e, e.src, kind, body, now))
        else:
            _destination_lost(k, e, kind, at)


# --- the source --------------------------------------------------------------------------------
def _fail(k: Kernel, m: Migration, p: Container | None, at: int, reason: str, err: int = -EIO,
          cleanup: str = "") -> None:
    """Abort before the commit: the process goes on here; D is told to drop what it holds."""
    m.state, m.reason, m.ended = "failed", reason, at
    m.image = b""
    if m.by.startswith("policy:"):
        from shoal.kernel import report
        report.failed(k, m, err, at)
    k.migrations.pop(m.mid, None)
    _disarm(m)
    if cleanup:
        _send(k, m, m.dst, cleanup, {"mid": m.mid}, at)
    if p is not None and p.aspace.touched is not None:
        p.aspace.stop_tracking()
    if p is not None and p.state in ("freezing", "frozen"):
        thaw(k, p, at, err)
        for pkt in k.held.pop(p.pid, []):
            k.handle(pkt, at)
    if p is not None:  # pre-copy ends before the freeze: the caller is still asleep
        for t in p.threads:
            if t.blocked_on == "migrate" and t.state is TState.BLOCKED:
                t.blocked_on = ""
                k.wake(t, at, err)


def _source_waited(k: Kernel, m: Migration, at: int) -> None:
    """No word from D in time. Ask it (it answers with its last answer); an answer may still be
    on its way on a busy chip, so the watchdog decides nothing until TRIES rounds."""
    if m.state in ("reserving", "copying", "precopy"):
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
    elif kind == "mig_pages" and m.state == "precopy":
        _fail(k, m, k.find_proc(m.pid), at, "NoC transfer failed (mig_pages)", cleanup="mig_release")
    elif kind == "mig_page":  # post-copy: send it again later (the process waits, never lost)
        if body["push"]:
            m.pushes -= 1
        for va in body["vas"]:
            if va in m.in_flight:
                m.in_flight.discard(va)
                bisect.insort(m.remaining, va)
        m.focus = body["vas"][0]
        k.at(at + _round_trip(k.spec) // SLACK, lambda now: _push(k, m, now))
    elif kind == "mig_commit" and m.state == "committed":
        if _again(k, m, m.dst, kind, body, at):
            _arm(k, m, at + _round_trip(k.spec))
    elif kind in ("mig_release", "mig_abort"):
        _again(k, m, m.dst, kind, body, at)  # after the last loss, D asks (and we answer)


def on_accept(k: Kernel, pkt: Packet, at: int) -> None:
    m = _record(k, pkt.body["mid"])
    if m is None:
        return
    if m.state == "reserving" and m.method in ("precopy", "hybrid") and m.shape is None:
        m.state, m.accepted = "precopy", True
        _disarm(m)
        _round(k, m, at)
    elif m.state == "reserving":
        m.state = "copying"
        _send_image(k, m, max(at, m.image_ready))
    elif m.state == "failed":  # aborted meanwhile: D holds a reservation for nothing
        _send(k, m, m.dst, "mig_release", {"mid": m.mid}, at)


def _send_image(k: Kernel, m: Migration, at: int) -> None:
    """The image streams out as it is built (its first DMA operation may leave at `at`)."""
    assert m.shape is not None
    k.kernel_core(at, build_cycles(k.spec, m.shape) - build_lead(k.spec, m.shape))
    m.bytes_sent += len(m.image)
    _send(k, m, m.dst, "mig_image", {"mid": m.mid, "pid": m.pid}, at, data=m.image, bulk=True)
    if k.tracer is not None:
        k.tracer.mig_mark(m.mid, "image_sent", at)
    _arm(k, m, at + _image_trip(k.spec, m.bytes, rebuild_cycles(k.spec, m.shape)))


def on_refuse(k: Kernel, pkt: Packet, at: int) -> None:
    m = k.migrations.get(pkt.body["mid"])
    if m is not None and (m.state in ("reserving", "copying", "precopy")
                          or (m.state == "freezing" and m.accepted)):  # D holds nothing for it now
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
    k.retire(p, at, keep_memory=m.postcopy_pages > 0)
    p.state = "frozen"  # in transit: no copy runs until D thaws its own
    k.moved[p.pid] = m.dst
    _send(k, m, m.dst, "mig_commit", {"mid": m.mid}, at)
    _arm(k, m, at + _round_trip(k.spec))
    for q in forward:
        k.forward(q, m.dst, at)
    k.send(k.services_node, "moved", {"pid": p.pid, "cluster": m.dst}, at=at)
    if m.postcopy_pages:  # the pages follow: S's copy of them stays until D has them all
        assert m.shape is not None
        m.remaining = sorted(va for va, _ in p.aspace.page_list() if va not in m.at_dst or va in m.stale)
        threads = [t for t in p.threads if t.state is not TState.DEAD]
        m.focus = threads[0].ctx.reg_read(REG_PC) & ~(k.spec.page_size - 1) if threads else 0
        _push(k, m, at)
    m.wall_seconds += time.perf_counter() - t0


def on_done(k: Kernel, pkt: Packet, at: int) -> None:
    m = _record(k, pkt.body["mid"])
    if m is None or not (m.state == "committed" or (m.state == "done" and m.thawed is None)):
        return
    m.state, m.thawed, m.ended = "done", pkt.body["thawed"], at
    m.resent += pkt.body["resent"]
    m.reason = f"moved to cluster {m.dst}" + (f" ({m.resent} packets sent again)" if m.resent else "")
    if m.switch:
        m.reason += f"; pre-copy switched over: {m.switch}"
    m.wall_seconds += pkt.body["wall"]
    _disarm(m)
    if m.proc is not None:
        m.proc.state = "migrated"
    if m.postcopy_pages and not m.pushed_all:
        m.state, m.ended = "postcopy", None  # running at D; its pages still follow
        return
    k.migrations.pop(m.mid, None)


# --- the destination -----------------------------------------------------------------------------
_ANSWER = {"reserved": "mig_accept", "rebuilt": "mig_ack", "running": "mig_done", "refused": "mig_refuse",
           "dropped": "mig_refuse"}


def _answer_kind(e: Incoming) -> str | None:
    if e.state == "reserved" and e.round:
        return "mig_pages_ack"
    return _ANSWER.get(e.state)


def _answer(k: Kernel, e: Incoming, at: int) -> None:
    """Say (again) where we stand: what S must hear from us next."""
    if e.state == "reserved" and e.round:
        _send(k, e, e.src, "mig_pages_ack", {"mid": e.mid, "round": e.round}, at)
    elif e.state == "reserved":
        _send(k, e, e.src, "mig_accept", {"mid": e.mid}, at)
    elif e.state == "rebuilt":
        _send(k, e, e.src, "mig_ack", {"mid": e.mid}, at)
    elif e.state == "running":
        # For S's record: what we sent more than once, this done included.
        resent = (sum(n - 1 for kind, n in e.sends.items() if kind not in STREAMS)
                  + (1 if e.sends.get("mig_done") else 0))
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
    elif k.reports.closed:
        e.state, e.reason = "refused", f"cluster {k.cluster} is evacuated"
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
        shape = image.shape(pkt.data, meta, pages)
        for va, flags in meta.get("staged", []):
            if va not in e.staged:
                raise ShoalError(f"the image counts on page {va:#x}, which no pre-copy round brought")
            pages.append((va, flags, e.staged[va]))
        e.staged = {}
        p = image.rebuild(k, meta, pages, at)
    except (ShoalError, OutOfFrames, Fault, KeyError, ValueError) as err:  # any failure rolls back
        e.state, e.reason = "refused", f"restore failed on cluster {k.cluster}: {err}"
        e.staged = {}
        _disarm(e)
        _answer(k, e, at)
        return
    if p.aspace.incoming:  # post-copy: frames for the pages to come, and their tables
        e.remote = True
        coming = [va for va in p.aspace.remote if va not in p.aspace.rmem]
        tables = {va >> 22 for va in coming} - {va >> 22 for va, _ in p.aspace.page_list()}
        e.frames = len(coming) + len(tables)
        k.reserved_frames += e.frames
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
        e.state, e.thawed = "running", at
        e.proc = p if e.remote and not e.final_sent else None  # post-copy: its pages still come
        _disarm(e)
        k.all_procs.append(p)
        thaw(k, p, at, 0)
        for q in k.held.pop(p.pid, []):
            k.handle(q, at)
    if e.state == "running":  # (again, if S did not hear our done)
        _answer(k, e, at)


def _unreserve(k: Kernel, e: Incoming, n: int | None = None) -> None:
    n = e.frames if n is None else min(n, e.frames)
    k.reserved_frames -= n
    e.frames -= n


def _drop(k: Kernel, e: Incoming, at: int, reason: str) -> None:
    """Give back what we hold for a migration that S will never commit."""
    if e.state not in ("reserved", "rebuilt"):
        return
    _unreserve(k, e)
    _disarm(e)
    p, e.proc = e.proc, None
    e.state, e.reason = "dropped", reason
    e.staged = {}
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
    kind = _answer_kind(e)
    assert kind is not None
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
    elif kind in ("mig_refuse", "mig_done", "mig_pages_ack") and kind == _answer_kind(e):
        if e.sends.get(kind, 0) < TRIES:
            _answer(k, e, at)  # after the last loss, S's watchdog asks again



# --- pre-copy ------------------------------------------------------------------------------------
def _count_send(m: Migration, va: int) -> None:
    n = m.per_page.get(va, 0) + 1
    m.per_page[va] = n
    if n == 2:
        m.pages_resent += 1


def _stream(k: Kernel, at: int, nbytes: int) -> int:
    """The kernel core copies `nbytes` of pages out to the NoC: when the first DMA operation
    may leave (the rest is copied while earlier ones are on the wire, as for the image)."""
    spec = k.spec
    total = math.ceil(spec.copy_cycles_per_byte * nbytes)
    first = math.ceil(spec.copy_cycles_per_byte * min(spec.portal_chunk, nbytes))
    lead = total - overlap(spec, nbytes, total, first)
    start = at + k.kernel_core(at, lead)
    k.kernel_core(start, total - lead)
    return start


def _round(k: Kernel, m: Migration, at: int) -> None:
    """Send one pre-copy round: every page the first time, then those dirtied since."""
    p = k.find_proc(m.pid)
    if p is None or not p.alive:
        _fail(k, m, None, at, "the process ended during pre-copy", cleanup="mig_release")
        return
    if m.rounds == 0:  # every page; dirty bits count from here
        p.aspace.take_dirty()
        k.cpu.flush_tlb()  # clean pages are read-only from here until their next store
        m.stale = {va for va, _ in p.aspace.page_list()}
    present = {va for va, _ in p.aspace.page_list()}
    vas = sorted(m.stale & present)
    m.stale = set()
    data = b"".join(p.aspace.page_bytes(va) for va in vas)
    start = _stream(k, at, len(data))
    m.rounds += 1
    m.round_sent, m.round_bytes = start, len(data)
    m.pages_sent += len(vas)
    m.bytes_sent += len(data)
    for va in vas:
        _count_send(m, va)
    m.at_dst.update(vas)
    _send(k, m, m.dst, "mig_pages", {"mid": m.mid, "round": m.rounds, "vas": vas}, start, data=data,
          bulk=True)
    _arm(k, m, start + _image_trip(k.spec, len(data), 0))


def on_pages_ack(k: Kernel, pkt: Packet, at: int) -> None:
    """A round is at D: send the next, or switch over (stop-and-copy of the rest, or post-copy)."""
    m = _record(k, pkt.body["mid"])
    if m is None or m.state != "precopy" or pkt.body["round"] != m.rounds:
        return
    p = k.find_proc(m.pid)
    if p is None or not p.alive:
        _fail(k, m, None, at, "the process ended during pre-copy", cleanup="mig_release")
        return
    m.stale |= p.aspace.take_dirty()
    k.cpu.flush_tlb()
    left = len(m.stale & {va for va, _ in p.aspace.page_list()}) * k.spec.page_size
    bandwidth = m.round_bytes / max(1, at - m.round_sent)  # bytes per cycle, as the round saw it
    if m.method == "hybrid":
        why = "hybrid: one round, then post-copy"
    elif left <= bandwidth * m.limit:
        why = f"the rest ({left} bytes) fits the downtime limit"
    elif m.rounds >= m.max_rounds:
        why = f"round limit ({m.max_rounds} rounds), {left} bytes still dirty"
    elif m.bytes_sent + left > m.max_bytes:
        why = f"byte cap ({m.max_bytes} bytes), {left} bytes still dirty"
    else:
        _round(k, m, at)
        return
    m.switch, m.state = why, "freezing"
    _disarm(m)
    p.state, p.freeze_at = "freezing", at
    k.at(at, lambda now: progress(k, now))
    k.at(at + FREEZE_TIMEOUT + 1, lambda now: progress(k, now))


def on_pages(k: Kernel, pkt: Packet, at: int) -> None:
    """D: a pre-copy round; its pages are kept (in the frames reserved) for the image."""
    e = k.incoming.get(pkt.body["mid"])
    if e is None or e.state != "reserved" or pkt.body["round"] <= e.round:
        if e is not None and (e.state in ("refused", "dropped") or pkt.body["round"] == e.round):
            _answer(k, e, at)
        return
    vas = pkt.body["vas"]
    size = k.spec.page_size
    for i, va in enumerate(vas):
        e.staged[va] = pkt.data[i * size:(i + 1) * size]
    need = len(e.staged) + len({va >> 22 for va in e.staged}) + 1
    if need > e.frames:  # the process grew since it asked: more room, or a refusal
        free = k.frames.free - k.reserved_frames
        if need - e.frames > free:
            _unreserve(k, e)
            e.state, e.staged = "refused", {}
            e.reason = (f"no room on cluster {k.cluster}: the process grew to {need} frames, "
                        f"{free} more are free")
            _disarm(e)
            _answer(k, e, at)
            return
        k.reserved_frames += need - e.frames
        e.frames = need
    # Each page is copied out as the next arrives; only the last one's copy delays the answer.
    total = math.ceil(k.spec.copy_cycles_per_byte * len(pkt.data))
    tail = math.ceil(k.spec.copy_cycles_per_byte * min(size, len(pkt.data)))
    if total > tail:
        k.kernel_core(max(0, pkt.arrival - (total - tail)), total - tail)
    at += k.kernel_core(at, tail)
    e.round = pkt.body["round"]
    e.sends["mig_pages_ack"] = 0  # each round's answer has TRIES tries of its own
    _answer(k, e, at)
    _arm(k, e, at + _image_trip(k.spec, e.nbytes, 0))  # the lease goes on


# --- post-copy ---------------------------------------------------------------------------------
def _push(k: Kernel, m: Migration, at: int) -> None:
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


def _send_pages(k: Kernel, m: Migration, vas: list[int], at: int, push: bool) -> None:
    assert m.proc is not None
    data = b"".join(m.proc.aspace.page_bytes(va) for va in vas)
    start = _stream(k, at, len(data))
    m.in_flight.update(vas)
    m.pages_sent += len(vas)
    m.bytes_sent += len(data)
    for va in vas:
        _count_send(m, va)
    _send(k, m, m.dst, "mig_page", {"mid": m.mid, "vas": vas, "push": push}, start, data=data, bulk=True)


def on_fetch(k: Kernel, pkt: Packet, at: int) -> None:
    """S: a thread at D waits for this page: it goes before every other."""
    m = _record(k, pkt.body["mid"])
    va = pkt.body["va"]
    if m is None or m.proc is None:
        return
    i = bisect.bisect_left(m.remaining, va)
    if i < len(m.remaining) and m.remaining[i] == va:  # else on its way already
        del m.remaining[i]
        m.focus = va
        _send_pages(k, m, [va], at, push=False)


def on_got(k: Kernel, pkt: Packet, at: int) -> None:
    """S: D has these pages; more follow, or (final) D has every page and S's copy goes."""
    m = _record(k, pkt.body["mid"])
    if m is None or m.pushed_all:
        return
    m.in_flight.difference_update(pkt.body["vas"])
    if pkt.body["push"]:
        m.pushes -= 1
    final = pkt.body.get("final")
    if final is None:
        _push(k, m, at)
        return
    m.pushed_all = True
    m.remote_faults, m.page_wait = final["faults"], final["wait"]
    m.remaining, m.in_flight = [], set()
    if m.proc is not None:
        k.release_memory(m.proc)
        m.proc = None
    if m.state == "postcopy":
        m.state, m.ended = "done", at
        m.reason += f"; every page in at cycle {at}" if final["complete"] else \
            f"; the process ended at cluster {m.dst} before every page came"
        k.migrations.pop(m.mid, None)


def on_page(k: Kernel, pkt: Packet, at: int) -> None:
    """D: a page that followed the thaw: in place, its waiting threads go on."""
    e = k.incoming.get(pkt.body["mid"])
    if e is None or not e.remote:
        return
    p = e.proc if e.proc is not None and e.proc.alive else None
    size = k.spec.page_size
    for i, va in enumerate(pkt.body["vas"]):
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
        _unreserve(k, e, p.aspace.frames_in_use - before)
        cost = math.ceil(k.spec.copy_cycles_per_byte * size) + k.spec.pte_install_cycles
        done = at + k.kernel_core(at, cost)
        _wake_waiting(k, e, va, done)
        e.requested.discard(va)
        if not p.aspace.incoming:
            _wake_waiting(k, e, ALL_PAGES, done)
    body: dict = {"mid": e.mid, "vas": pkt.body["vas"], "push": pkt.body["push"]}
    if (p is None or not p.aspace.incoming) and not e.final_sent:
        e.final_sent = True
        _unreserve(k, e)
        if e.state == "running":  # (before the thaw, on_commit still needs it)
            e.proc = None
        body["final"] = {"faults": e.faults, "wait": e.page_wait, "complete": p is not None}
    _send(k, e, e.src, "mig_got", body, at)


ALL_PAGES = -1  # await_page: wait for every page (a new move waits for the last one's pages)


def _wake_waiting(k: Kernel, e: Incoming, va: int, at: int) -> None:
    for t in e.waiting.pop(va, []):
        waited = k.page_came(t, at)
        if va != ALL_PAGES:
            e.page_wait += waited


def await_page(k: Kernel, t: Thread, va: int, at: int) -> None:
    """D: thread `t` touched a page still at the source: it sleeps until the page is here."""
    page = va & ~(k.spec.page_size - 1) if va != ALL_PAGES else ALL_PAGES
    e = next((e for e in k.incoming.values() if e.remote and e.proc is t.proc), None)
    if e is None:  # cannot happen: a remote page belongs to a post-copy under way
        k.kill(t.proc, 11, None, f"killed: page {page:#010x} is elsewhere and no migration brings it", at)
        return
    t.state, t.blocked_on, t.blocked_at = TState.BLOCKED, "page", at
    e.waiting.setdefault(page, []).append(t)
    if page == ALL_PAGES:
        return
    e.faults += 1
    if page not in e.requested:
        e.requested.add(page)
        # The kernel core takes the fault and asks the source for the page.
        asked = at + k.kernel_core(at, k.spec.page_fault_cycles)
        _send(k, e, e.src, "mig_fetch", {"mid": e.mid, "va": page}, asked)


HANDLERS = {
    "mig_reserve": on_reserve, "mig_accept": on_accept, "mig_refuse": on_refuse, "mig_image": on_image,
    "mig_ack": on_ack, "mig_commit": on_commit, "mig_done": on_done, "mig_query": on_query,
    "mig_abort": on_release, "mig_release": on_release,
    "mig_pages": on_pages, "mig_pages_ack": on_pages_ack,
    "mig_page": on_page, "mig_fetch": on_fetch, "mig_got": on_got,
}

"""Scheduling one cluster: its items in simulated-time order, its harts in slices.

A cluster's kernel is a small discrete-event simulator. Its items are
    packet   (arrival)     a NoC packet, handled by the kernel core
    timer    (deadline)    a timed wait ends
    action   (time)        a request from the host, or a step of a freeze
    ready    (ready_at)    a runnable thread takes a free hart
    hart     (clock)       a hart runs its thread's user code for one slice
and it always takes the earliest (ties: in that order, then by hart or sequence number),
but only while its time is below the *horizon* the engine gives it: the time before which
every packet that can still reach this cluster is already in its inbox. However the engine
interleaves clusters, and however far it lets each go, a cluster therefore does the same
things in the same order: its results depend on simulated times only.

User code observes nothing outside the cluster, so a slice may run far past the horizon:
a busy cluster does not wait for its neighbours between system calls. A system call that
observes what packets bring (`OBSERVING` below) is taken inline only if it is the earliest
item and below the horizon; otherwise the thread stops just before its ecall (redone when
the hart's item comes up, at the same simulated time) and the engine lets the others catch
up. Other calls (memory, futex, time, write, ...) see only the cluster and run inline.

Slices model a cluster's harts sharing one CPU emulator: with two or more runnable threads,
harts interleave at `quantum_cycles` aligned to its multiples, and a thread waiting for a
hart gets one at the next boundary (round robin); a lone thread runs in slices of
SOLO_STRETCH quanta. The engine's `window_cycles` only bounds which items one call takes, so
it changes no result. A host limit or a freeze time cuts the slices running there: that is
an event of its own (the cut slices go on from there; docs/design.md, "Host actions").
Long (~580 lines): the cluster's items, their order and the slices are one rule (each
function reads the bounds and lists the others keep); the state is a record (Schedule).
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import field
from operator import attrgetter
from typing import TYPE_CHECKING

from shoal.kernel import migrate, pipes, report, rmem, shm, signals, timers
from shoal.kernel.container import TState
from shoal.kernel.ikc import Remote
from shoal.kernel.memory import PAGE, Missing
from shoal.kernel.stops import Retry, Stop, TrapFault
from shoal.platform.cpu import REG_PC
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.container import Thread
    from shoal.kernel.kernel import Kernel
    from shoal.kernel.memory import AddressSpace
    from shoal.platform.cpu import ClusterCPU

# Enum members read on every item's path as plain globals (on Python 3.11 a member
# looked up on its class costs several times a global).
_BLOCK, _DEAD, _PAGE, _PARK, _RETRY, _SIGNAL, _YIELD = (
    Stop.BLOCK, Stop.DEAD, Stop.PAGE, Stop.PARK, Stop.RETRY, Stop.SIGNAL, Stop.YIELD)
_BLOCKED, _READY, _RUNNING = TState.BLOCKED, TState.READY, TState.RUNNING

SOLO_STRETCH = 64
NEVER = 1 << 62
PACKET, TIMER, ACTION, READY, HART = range(5)
_NONE = (NEVER, 0, 0)

# System calls whose outcome depends on what packets brought, or that change what a packet
# arriving at the same time would find (an endpoint created or closed, a freeze).
OBSERVING = {
    "shoal_mailbox_create", "shoal_mailbox_read", "shoal_mailbox_close",
    "shoal_portal_create", "shoal_portal_allow", "shoal_portal_read", "shoal_portal_close",
    "shoal_sync_create", "shoal_sync_wait", "shoal_sync_close", "shoal_migrate",
}
# Ending a process closes its input endpoints: observing only if it has some.
ENDING = {"exit", "exit_group", "kill", "tkill", "tgkill"}


# (the free harts' order, (clock, index), and the busy harts', index: C getters, as bisect
# calls its key at every probe)
_free_key = attrgetter("clock", "index")
_busy_key = attrgetter("index")


class Hart:
    """A core of the cluster: its clock and the thread on it. The cluster's harts are also
    kept in two lists that the scheduler reads at every item instead of scanning all of them
    (Schedule.busy_harts, those with a thread, in index order, and Schedule.free_harts, the
    others, by (clock, index): a free hart's clock does not move until it takes a thread)."""

    __slots__ = ("index", "clock", "_thread", "slice_end", "busy", "free")

    def __init__(self, index: int, busy: list[Hart] | None = None,
                 free: list[Hart] | None = None) -> None:
        self.index, self.clock = index, 0
        self._thread: Thread | None = None
        self.slice_end: int | None = None  # where the running slice ends (see run_slice)
        self.busy = busy if busy is not None else []
        self.free = free if free is not None else []
        bisect.insort(self.free, self, key=_free_key)

    @property
    def thread(self) -> Thread | None:
        return self._thread

    @thread.setter
    def thread(self, t: Thread | None) -> None:
        if (t is None) != (self._thread is None):
            if t is None:
                self.busy.remove(self)
                bisect.insort(self.free, self, key=_free_key)
            else:
                self.free.remove(self)
                bisect.insort(self.busy, self, key=_busy_key)
        self._thread = t

    def __repr__(self) -> str:
        return (f"Hart(index={self.index}, clock={self.clock}, thread={self._thread!r}, "
                f"slice_end={self.slice_end})")


@dataclass(eq=False, slots=True)
class Schedule:
    """The scheduler's state (`Kernel.sched`): the cluster's items and the running slice."""

    harts: list[Hart]  # (made by `schedule`, with the two lists below)
    busy_harts: list[Hart]  # those with a thread, in index order (Hart.thread's setter)
    free_harts: list[Hart]  # the others, by (clock, index)
    ready: deque[Thread] = field(default_factory=deque)
    sleepers: list[tuple[int, int, Thread]] = field(default_factory=list)  # heap: (deadline, tid, thread)
    futexes: dict[tuple[int, int], list[Thread]] = field(default_factory=dict)  # (pid, addr) -> waiters
    actions: list[tuple[int, int, Callable[[int], None]]] = field(default_factory=list)  # (time, seq, fn)
    seq: int = 0  # actions scheduled so far (their order among equal times)
    item_time: int = 0  # simulated time of the item being taken (take)
    # The engine's bounds for the current advance: items below `horizon` see every packet
    # that can reach this cluster; nothing runs past `limit`.
    horizon: int = NEVER
    limit: int = NEVER
    # The running slice (run_slice): its thread, the hart clock at its start, the kernel
    # cycles charged during it, whether a lone thread runs in one long slice.
    current: Thread | None = None
    now_base: int = 0
    extra: int = 0
    solo: bool = False
    tlb_owner: AddressSpace | None = None  # whose translations the emulator's TLB holds
    # What ended the slice (stops.py): a reason, or the Fault a trap or a failed TLB fill
    # left (its address only the page's: Kernel.kill_for_fault finds the exact one), or the
    # page a system call found elsewhere (post-copy, remote memory) and whether to store.
    stop_reason: Stop | None = None
    fault: TrapFault | None = None
    missing: int = 0
    missing_store: bool = False
    # While a system call is served, its thread's time less `extra` (entry.dispatch): the
    # CPU is stopped in its trap, so Kernel.now need not ask the emulator; and the
    # instructions its charges take from the slice (Kernel.end_trap).
    trap_base: int | None = None
    trap_cut: int = 0


def schedule(harts: int) -> Schedule:
    """A cluster's scheduler: `harts` harts, all free."""
    busy: list[Hart] = []
    free: list[Hart] = []
    return Schedule([Hart(i, busy, free) for i in range(harts)], busy, free)


def _free_hart(k: Kernel) -> Hart | None:
    """The free hart with the least clock (the lowest of those on a tie)."""
    free = k.sched.free_harts
    return free[0] if free else None


def _first_ready(k: Kernel) -> tuple[int, int] | None:
    """(ready_at, position) of the thread that takes the next free hart."""
    best = None
    for i, t in enumerate(k.sched.ready):
        if t.proc.state == "running" and not t.proc.sig.stopped and (best is None or t.ready_at < best[0]):
            best = (t.ready_at, i)
    return best


def next_item(k: Kernel, skip: Hart | None = None, harts: bool = True) -> tuple[int, int, int]:
    """The key (time, class, order) of the earliest item (of the kernel's own, if not
    `harts`); (NEVER, ...) if there is none."""
    s = k.sched
    inbox = k.packets.inbox
    if inbox:
        first = inbox[0]
        best = (first[0], PACKET, first[1])
    else:
        best = _NONE
    sl = s.sleepers
    if sl:
        while sl and (sl[0][2].deadline != sl[0][0] or sl[0][2].state is not _BLOCKED):
            heapq.heappop(sl)
        if sl and (sl[0][0], TIMER, sl[0][1]) < best:
            best = (sl[0][0], TIMER, sl[0][1])
    acts = s.actions
    if acts:
        first = acts[0]
        if (first[0], ACTION, first[1]) < best:
            best = (first[0], ACTION, first[1])
    if s.ready:
        fr = _first_ready(k)
        free = s.free_harts  # (_free_hart, inlined)
        h = free[0] if fr is not None and free else None
        if h is not None:  # (so fr is not None)
            at = fr[0] if fr[0] > h.clock else h.clock  # type: ignore[index]
            if (at, READY, fr[1]) < best:  # type: ignore[index]
                best = (at, READY, fr[1])  # type: ignore[index]
    busy = s.busy_harts
    if not harts or not busy:
        return best
    # The earliest hart that can run (harts are in index order, so on equal clocks the first
    # found wins, as the key's order says); one key built, not one per hart (this runs at
    # every item of a busy cluster).
    cpi = k.spec.costs.cpi
    limit = best[0] - cpi  # a hart whose clock is past this cannot come first
    found = None
    for h in busy:
        if h is skip:
            continue
        t = h._thread
        c = h.clock
        if c > limit:
            continue
        p = t.proc
        # A thread of a process being frozen runs up to the freeze time, not past it.
        if p.state == "running" or (p.state == "freezing" and p.move.freeze_at is not None
                                    and c + cpi <= p.move.freeze_at):
            found, limit = h, c - 1  # (a later hart must have a smaller clock to win)
    if found is not None:
        key = (found.clock + cpi, HART, found.index)
        if key < best:
            return key
    return best


def next_time(k: Kernel) -> int:
    return next_item(k)[0]


def advance(k: Kernel, horizon: int, limit: int, window: int) -> int:
    """Take items in order while their time is below the horizon, the host's limit and the
    engine's window (counted from the first item); the time of the next item."""
    s = k.sched
    key = next_item(k)
    if key[0] >= NEVER:
        return NEVER
    stop = key[0] + window
    if limit < stop:
        stop = limit
    s.horizon, s.limit = horizon, limit
    cal = k.core.calendar
    busy, cuts = cal.busy, cal.cuts
    if (busy and busy[0][1] <= key[0]) or (cuts and cuts[0] <= key[0]):  # (else prune does nothing)
        cal.prune(key[0])  # gaps before now can no longer be used
    migration, reports = k.migration, k.reports
    while key[0] < stop and key[0] < s.horizon:  # (taking an item may lower the horizon)
        take(k, key)
        if k.tracer is not None:
            k.tracer.frames(k.cluster, k.frames.free, key[0])
        if migration.outgoing:
            migrate.progress(k, key[0])
        if reports.period and not reports.armed:
            report.wake(k, key[0])
        key = next_item(k)
    return key[0]


def take(k: Kernel, key: tuple[int, int, int]) -> None:
    s = k.sched
    time, cls, order = key
    s.item_time = time
    if cls == PACKET:
        arrival, _, pkt = heapq.heappop(k.packets.inbox)
        k.stats.packets_in += 1
        # The kernel core takes the interrupt and handles the packet.
        cost = k.spec.ikc.ikc_recv_cycles
        busy = k.core.calendar.busy
        if not busy or busy[-1][1] < arrival:  # (Kernel.kernel_core's first case, inlined)
            busy.append((arrival, arrival + cost))
            k.handle(pkt, arrival + cost)
        else:
            k.handle(pkt, arrival + k.kernel_core(arrival, cost))
    elif cls == TIMER:
        deadline, _, t = heapq.heappop(s.sleepers)
        if t.blocked_on.startswith("rpc:"):  # a request with a deadline: its answer is dropped
            for op in [op for op, (w, _, _) in k.packets.pending.items() if w is t]:
                del k.packets.pending[op]
        if t.blocked_on == "poll":  # poll and select scan once more when their time is up
            pipes.again(k, t, deadline)
        else:
            k.wake(t, deadline, t.timeout_value)
    elif cls == ACTION:
        _, _, fn = heapq.heappop(s.actions)
        fn(time)
    elif cls == READY:
        t = s.ready[order]
        del s.ready[order]
        h = _free_hart(k)
        assert h is not None
        h.thread, h.slice_end = t, None  # (first: it leaves the free harts, kept by clock)
        h.clock = max(h.clock, t.ready_at) + k.spec.costs.context_switch_cycles
        t.state = _RUNNING
    else:
        run_slice(k, s.harts[order])


def run_slice(k: Kernel, h: Hart) -> None:
    """Run the hart's thread from its clock to the end of its slice (or until it blocks,
    stops before an observing call, or reaches the host's limit or its freeze time)."""
    s = k.sched
    t = h._thread
    assert t is not None
    spec = k.spec
    q, cpi = spec.engine.quantum_cycles, spec.costs.cpi
    busy = s.busy_harts  # (the lone thread: no other can run here and none sleeps)
    solo = not s.ready and not s.sleepers and (not busy or (len(busy) == 1 and busy[0] is h))
    grain = q * SOLO_STRETCH if solo else q
    clock, end = h.clock, h.slice_end
    if end is None or clock + cpi > end or (not solo and end - clock > q):
        # The next boundary that leaves room for at least one instruction.
        h.slice_end = end = ((clock + cpi) // grain + 1) * grain
    boundary = True
    cap = s.limit
    p = t.proc
    move = p.move
    if move.freeze_at is not None:
        cap = min(cap, max(move.freeze_at, clock))
    aspace = p.aspace
    if (aspace.touched is not None or ((aspace.remote or aspace.swap.pages) and aspace.incoming)
            or aspace.shm.pages):
        # Under live migration the kernel watches this process's memory (dirty bits) or fills
        # it as pages come: its user code keeps step with the cluster's other items instead of
        # running ahead, so what a round sends or a page brings meets the thread at its time.
        # (Its harts still interleave by quanta, as any: they only share memory.)
        cap = min(cap, max(clock + cpi, min(s.horizon, next_item(k, harts=False)[0])))
    w = move.window
    if w is not None and k.cpu.caches is not None:  # a moved process's windows (_window) end exactly
        cut = w.mid_at if clock < w.mid_at else w.end_at
        if cut >= clock + cpi:  # (room for an instruction, or the slice would never run)
            cap = min(cap, cut)
    if p.timers:  # a CPU-time timer fires when its clock gets there, not a slice later (timers.py)
        left = timers.cpu_left(k, p)
        if left is not None:
            cap = min(cap, clock + max(left, cpi))
    rep = k.reports
    if rep.armed and rep.at > clock:
        cap = min(cap, rep.at)  # a load report sees the cluster at its time (kernel/report.py)
    if cap < end:
        end, boundary = cap, False
    budget = (end - clock) // cpi
    if budget <= 0:
        return
    ts = t.sig
    if ts.pending or p.sig.pending or ts.saved is not None or ts.interrupted is not None:
        got = signals.deliver(k, t, h.clock)  # back to user mode: its signals first
        if got is Stop.YIELD:  # a stop signal stopped the process: the thread leaves its hart
            h.thread, h.slice_end = None, None
            t.state, t.ready_at = TState.READY, h.clock
            s.ready.append(t)
            return
        if got is not None:
            if got is not _DEAD:
                _await_page(k, t, got.addr, got.kind == "store", h.clock)
            if h._thread is t:
                h.thread = None
            h.slice_end = None
            return
    cpu = k.cpu
    if s.tlb_owner is not aspace:
        cpu.flush_tlb()
        s.tlb_owner = aspace
    clock = h.clock  # (a signal's delivery may have moved it)
    s.current, s.now_base, s.extra, s.solo, s.trap_base, s.trap_cut = t, clock, 0, solo, None, 0
    s.stop_reason, s.fault = None, None
    c = cpu.caches
    caches = c is not None
    if caches:
        lines = cpu.lines
        if lines.owner != h.index:  # type: ignore[union-attr]
            lines.use(h.index)  # type: ignore[union-attr]
        c.now_base, c.hart = clock, h.index  # (ClusterCPU.begin_slice, inlined)
    n, spent, err = cpu.run(t.ctx, budget, aspace.root * PAGE)
    if err is not None and k.debugger is not None and k.debugger(k, t):
        err = None  # a debugger's breakpoint: the thread is parked before it (kernel/debug.py)
    s.current, s.solo = None, False
    reason = s.stop_reason
    if reason is _PARK:
        # Stopped before an observing call: the ecall is redone when this hart's item
        # comes up, at the same simulated time (so it is not counted twice).
        n -= 1
        k.cpu.regs.ctx_set(t.ctx, REG_PC, k.cpu.regs.ctx_get(t.ctx, REG_PC) - 4)
        k.cpu.loaded = None
    elif reason is None and s.fault is not None and isinstance(s.fault.what, Retry):
        # Out of frames ahead of an earlier item of the cluster (kernel._fill): the faulting
        # instruction runs again at this time, once the items before it are taken.
        n -= k.cpu.unrun(s.fault.what is Retry.FETCH)
        reason = _RETRY
    elif reason is None and s.fault is not None and isinstance(s.fault.what, Missing):
        # A page elsewhere (post-copy, remote memory): the faulting instruction runs again
        # once it is here, so it is not counted now (the CPU gave back what followed it).
        n -= k.cpu.unrun(s.fault.what.kind == "fetch")
        reason = _PAGE
    elif reason is _PAGE:  # a system call touched such a page: it is made again
        n -= 1
        t.ctx.reg_write(REG_PC, t.ctx.reg_read(REG_PC) - 4)
        k.cpu.loaded = None
    t.instructions += n
    k.stats.instructions += n
    h.clock += n * cpi + s.extra
    if caches:
        misses = _count_caches(k, t, cpu)
        h.clock += cpu.stall
        if t.proc.move.window is not None:
            _window(k, t, cpu.stall)
        if k.tracer is not None:
            k.tracer.caches(k.cluster, h.index, h.clock, misses, cpu.stall)
    if t.proc.timers and t.proc.alive:
        timers.cpu_check(k, t.proc, h.clock)
    if h._thread is None:  # its thread left it in the slice (its process ended or froze):
        free = s.free_harts  # its place among the free harts, kept by clock, moves with it
        free.remove(h)
        bisect.insort(free, h, key=_free_key)
    if k.tracer is not None:
        k.tracer.slice(k.cluster, h.index, t, s.now_base, h.clock, n)
    if reason is _BLOCK:  # (the usual end, as the general case below takes it)
        if h._thread is t:
            h.thread = None
        h.slice_end = None
        return
    if reason is _RETRY:
        s.fault = None
        return
    if reason is _PAGE:
        if s.fault is not None:  # an instruction's (a Missing)
            m = s.fault.what
            _await_page(k, t, m.addr, m.kind == "store", h.clock)  # type: ignore[union-attr]
        else:  # a call's (entry.dispatch)
            _await_page(k, t, s.missing, s.missing_store, h.clock)
        reason = _BLOCK
    if reason is _SIGNAL:
        signals.after_slice(k, t)  # rt_sigreturn's registers
    if reason is None and (err is not None or s.fault is not None):
        got = signals.on_fault(k, t) if err is None or s.fault is not None else False
        if got is True:
            reason = _SIGNAL  # its handler runs next (the frame is built)
        elif got is False:
            k.kill_for_fault(t, h.clock)
            reason = _DEAD
        else:
            _await_page(k, t, got.addr, got.kind == "store", h.clock)
            reason = _BLOCK
    if reason in (_BLOCK, _DEAD, _YIELD):
        if h._thread is t:
            h.thread = None
        h.slice_end = None
        if reason is _DEAD and t.state is TState.DEAD and t.proc.alive:
            drop_thread(t)
        if reason is _YIELD and t.proc.alive:
            t.state, t.ready_at = _READY, h.clock
            s.ready.append(t)
        return
    if reason is None and spent and boundary:
        # The slice ends within a translated block of its boundary; the next one goes to the
        # boundary after (not back to this one for the few instructions left).
        h.slice_end = end + grain
        _round_robin(k, h)


def drop_thread(t: Thread) -> None:
    """A thread that ended while its process runs on leaves it (its counts stay the
    process's): host memory does not grow with the threads a long-running process makes."""
    p = t.proc
    if t in p.threads:
        p.threads.remove(t)
        p.stats.dead_instructions += t.instructions
        p.stats.threads_ended += 1
        p.stats.ended_at = max(p.stats.ended_at, t.blocked_at)


def _count_caches(k: Kernel, t: Thread, cpu: ClusterCPU) -> tuple[int, int]:
    """Add what the L1 model counted in the slice to the thread, its process and the cluster;
    the slice's D-cache and I-cache misses."""
    now = cpu.lines.totals()  # type: ignore[union-attr]
    s, k.stats.cache_seen = k.stats.cache_seen, now
    mine, ours = t.proc.stats.caches, k.stats.caches
    stall = cpu.stall
    # (container.CACHE_COUNTS' order, written out: this runs at every slice; a count that did
    # not move is not touched, as a loop over them would leave it)
    x = now[0] - s[0]
    if x:
        mine[0] += x
        ours[0] += x
    x = now[1] - s[1]
    if x:
        mine[1] += x
        ours[1] += x
    dm = now[2] - s[2]
    if dm:
        mine[2] += dm
        ours[2] += dm
    sm = now[3] - s[3]
    if sm:
        mine[3] += sm
        ours[3] += sm
    x = now[4] - s[4]
    if x:
        mine[4] += x
        ours[4] += x
    im = now[5] - s[5]
    if im:
        mine[5] += im
        ours[5] += im
    if stall:
        mine[6] += stall
        ours[6] += stall
        t.stall += stall
    x = now[6] - s[6]
    if x:
        mine[7] += x
        ours[7] += x
    x = cpu.bank_wait
    if x:
        mine[8] += x
        ours[8] += x
    return (dm + sm, im)


def _window(k: Kernel, t: Thread, stall: int) -> None:
    """A moved process's stall after its thaw (migrate/record.py CacheWindow): the slice's
    stall goes to the window its start lies in (slices are cut at the windows' ends)."""
    w = t.proc.move.window
    assert w is not None
    if k.sched.now_base < w.mid_at:
        w.figures[0] += stall
    elif k.sched.now_base < w.end_at:
        w.figures[1] += stall
    else:
        t.proc.move.window = None


def _await_page(k: Kernel, t: Thread, va: int, store: bool, at: int, in_call: bool | None = None) -> None:
    """The thread needs a page held elsewhere (remote or shared memory, post-copy); `in_call`:
    an answer to its call needs it (kernel/answers.py), else the slice's fault or call says."""
    if va != migrate.ALL_PAGES and va & ~(PAGE - 1) in t.proc.aspace.swap.pages:
        rmem.await_page(k, t, va & ~(PAGE - 1), at)
    elif va != migrate.ALL_PAGES and va & ~(PAGE - 1) in t.proc.aspace.shm.pages:
        shm.await_page(k, t, va & ~(PAGE - 1), store, at, in_call)
    else:
        migrate.await_page(k, t, va, at)


await_page = _await_page  # (kernel/answers.py's way in)


def _round_robin(k: Kernel, h: Hart) -> None:
    """At a quantum boundary, a thread that waits for a hart (none is free) takes this one."""
    if not k.sched.ready or h._thread is None or _free_hart(k) is not None:
        return
    fr = _first_ready(k)
    if fr is None or fr[0] > h.clock:
        return
    t = h._thread
    t.state, t.ready_at, h.thread = _READY, h.clock, None
    k.sched.ready.append(t)


def observe_now(k: Kernel, t: Thread, at: int) -> bool:
    """May the running thread's observing call at `at` be served inline? Only if it is the
    earliest item of the cluster and below the horizon (see the module docstring)."""
    s = k.sched
    if at >= s.horizon:
        return False
    # (at, HART, its hart) against every other item's key, as next_item(k, skip=its hart)
    # would rank them, without building the keys: an item of the kernel's own (class below
    # HART) comes first if its time is not later; another hart if its key is less.
    if k.packets.inbox and k.packets.inbox[0][0] <= at:
        return False
    sl = s.sleepers
    while sl and (sl[0][2].deadline != sl[0][0] or sl[0][2].state is not _BLOCKED):
        heapq.heappop(sl)
    if sl and sl[0][0] <= at:
        return False
    if s.actions and s.actions[0][0] <= at:
        return False
    if s.ready:
        fr = _first_ready(k)
        frees = s.free_harts  # (_free_hart, inlined)
        free = frees[0] if fr is not None and frees else None
        if free is not None and max(fr[0], free.clock) <= at:  # type: ignore[index]
            return False
    cpi = k.spec.costs.cpi
    mine, ties = None, None
    for h in s.busy_harts:  # (one pass: another hart comes first if its next instruction ends
        o = h._thread       # sooner, or as soon on a lower hart)
        if o is t:
            mine = h
            continue
        c = h.clock + cpi
        if c > at:
            continue
        p = o.proc
        if p.state == "running" or (p.state == "freezing" and p.move.freeze_at is not None
                                    and c <= p.move.freeze_at):
            if c < at:
                return False
            ties = h.index if ties is None else min(ties, h.index)
    if mine is None:
        raise AssertionError("the running thread is on no hart")
    return ties is None or ties > mine.index


def observes(t: Thread, name: str) -> bool:
    if name in OBSERVING:
        return True
    if name in ENDING:
        return any(not isinstance(ep, Remote) for ep in t.proc.ikc.values())
    return False

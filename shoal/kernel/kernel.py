"""The microkernel of one cluster: its harts, threads, packets and traps.

A cluster shares no Python state with another: everything between clusters is a packet.
A hart's clock advances by the instructions its thread ran (times CPI) plus the cost of
the kernel services it asked for. The order in which the kernel does things (packets,
timers, slices) is sched.py's; how the engine keeps clusters in step is shoal/engine/'s.
Each part keeps its state in its own record (k.sched, k.packets, k.stats, k.core, k.shm,
k.rmem, k.ikc, k.console, k.pipes, k.migration, k.reports: docs/design.md);
this class keeps identity, frames, processes and the services the parts share (send, rpc,
block, wake, charge, now, at). Long (~630 lines) for those services alone: splitting them
would scatter one object's invariants.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import field
from functools import partial

from msgspec.structs import replace
from unicorn import UC_MEM_FETCH, UC_PROT_EXEC

from shoal.abi import EFAULT, EIO, ETIMEDOUT, INIT_PID, SIGBUS, SIGILL, SIGKILL, SIGSEGV, SIGTRAP
from shoal.kernel import (
    answers,
    console,
    entry,
    faults,
    futexes,
    ikc,
    location,
    migrate,
    pipes,
    report,
    rmem,
    sched,
    shm,
    timers,
)
from shoal.kernel.container import CACHE_COUNTS, Block, Container, ProcStats, Thread, TState
from shoal.kernel.kmem import KernelCore, KernelMemory
from shoal.kernel.loader import Executable, build_stack, load
from shoal.kernel.memory import PAGE, AddressSpace, Fault, FrameAllocator, Missing, OutOfFrames
from shoal.kernel.records import EndedRecords
from shoal.kernel.stops import ASLEEP, SLEEPS, Retry, Stop, TrapFault
from shoal.messages import Body, Console, Exit, Kind, NocError, Reply, Request, Targeted, answer_to
from shoal.platform.cpu import PHYS_BASE, REG_A, REG_PC, REG_SP, STOP_ADDR, ClusterCPU
from shoal.platform.noc import Packet, packet
from shoal.record import dataclass
from shoal.spec import ChipSpec

_warned: list[str] = []


def _no_caches(why: str) -> None:
    """The chip asks for the L1 model but this host cannot run it: say so once, run without."""
    if not _warned:
        _warned.append(why)
        sys.stderr.write(f"shoal: no L1 cache model here ({why}): simulated times count no cache "
                         "misses (--no-caches says so quietly)\n")


# RISC-V exception causes -> (description, signal).
TRAPS = {
    0: ("misaligned instruction fetch", SIGBUS),
    1: ("instruction access fault", SIGSEGV),
    2: ("illegal instruction", SIGILL),
    3: ("breakpoint", SIGTRAP),
    4: ("misaligned load", SIGBUS),
    5: ("load access fault", SIGSEGV),
    6: ("misaligned store", SIGBUS),
    7: ("store access fault", SIGSEGV),
    12: ("instruction page fault", SIGSEGV),
    13: ("load page fault", SIGSEGV),
    15: ("store page fault", SIGSEGV),
}
ECALL_U = 8
MAILBOX_KINDS = frozenset({Kind.MBX_DATA})  # IKC mailbox messages (Nanvix's fixed 16 + 128 B)
Then = Callable[[Packet, int], int]  # what a request's answer gives the thread
Syscall = Callable[["Kernel", Thread, list[int]], object]  # as kernel/calls/common.py's
PacketHandler = Callable[["Kernel", Packet, int], None]
# Enum members read on every packet's and wake's path as plain globals (on Python 3.11 a
# member looked up on its class costs several times a global).
_BLOCKED, _READY, _REPLY, _NOC_ERROR = TState.BLOCKED, TState.READY, Kind.REPLY, Kind.NOC_ERROR
_A0 = REG_A[0]


@dataclass(eq=False, slots=True)
class Packets:
    """Packets in, and the requests whose answer a thread waits for (`Kernel.packets`)."""

    inbox: list[tuple[int, int, Packet]] = field(default_factory=list)  # heap: (arrival, seq, packet)
    pending: dict[int, tuple[Thread, Then, Body]] = field(default_factory=dict)  # op -> waiter
    ops: int = 0  # requests made here (new_op)
    sent: int = 0  # packets sent, for their order on the NoC


@dataclass(eq=False, slots=True)
class ClusterStats:
    """What this kernel did, for the host's records and the load reports (`Kernel.stats`)."""

    syscalls: int = 0
    instructions: int = 0
    packets_in: int = 0
    caches: list[int] = field(default_factory=lambda: [0] * len(CACHE_COUNTS))  # the L1 model's counts
    cache_seen: tuple[int, ...] = (0,) * 7  # the emulator's counts at the end of the last slice
    last_exit: int | None = None
    # Every container here, or moved away from here; those that ended here become records
    # (records.py): `ending` holds them until their last slice's counts are in.
    all_procs: list[Container] = field(default_factory=list)
    ending: list[Container] = field(default_factory=list)
    ended: EndedRecords = field(default_factory=EndedRecords)
    locations: location.Counters = field(default_factory=location.Counters)  # kernel/location.py


class _Lazy:
    """A Kernel's `cpu` or `mem`: made at the first read, then a plain instance attribute (this
    descriptor has no __set__, so the instance's own value wins). Not __getattr__: a class with
    one has every attribute read go through a slower hook, and a kernel's are read at every event."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, k: Kernel | None, owner: type | None = None) -> object:
        if k is None:
            return self
        k._make_cpu()
        return k.__dict__[self.name]


class Kernel:
    tracer = None  # a shoal.tools.trace.Tracer while a trace is taken (hooks in sched, entry, migration)
    debugger = None  # asked about ebreaks that end a slice while GDB is attached (kernel/debug.py)
    cpu: ClusterCPU = _Lazy()  # type: ignore[assignment]  # made on first use
    mem: memoryview = _Lazy()  # type: ignore[assignment]

    def __init__(self, spec: ChipSpec, cluster: int, alloc_tid: Callable[[], int],
                 calls: dict[int, tuple[str, Syscall]], handlers: dict[str, PacketHandler]) -> None:
        self.spec = spec
        self.cluster = cluster
        self.alloc_tid = alloc_tid  # thread ids unique on the chip (the engine's)
        # The system calls by number and the packet handlers by kind (kernel/table.py).
        self.calls = calls
        self.handlers = handlers
        # `cpu` (the cluster's Unicorn instance and physical memory) and `mem` (a view of that
        # memory) are made on first use (`__getattr__`): an idle cluster costs no emulator.
        first = spec.cluster.kernel_reserved // PAGE
        self.frames = FrameAllocator(first, spec.user_frames, spec.kernel.frame_placement)
        # Out of frames: pages go to remote memory, else shared pages (a mapped file's) go home;
        # those first when shared pages fill the cluster but for a few of the processes' own.
        self.frames.reclaim = lambda: (rmem.squeezed(self) and shm.reclaim(self)) or rmem.reclaim(self) \
            or shm.reclaim(self)
        self.procs: list[Container] = []  # the containers this kernel runs now
        # What the engine sees of every node (as of the daemons' IoNode): packets out, and the
        # least time a packet takes on the NoC (send).
        self.outbox: list[Packet] = []
        self.lookahead = 1
        # Each part's own state, in its module's record.
        self.sched = sched.schedule(spec.cluster.cores_per_cluster)
        self.packets = Packets()
        self.stats = ClusterStats()
        self.core = KernelCore()
        self.rmem = rmem.RemoteWaits()
        self.shm = shm.SharedPages()
        self.ikc = ikc.IkcTables()
        self.console = console.ConsoleFlow()
        self.migration = migrate.Bookkeeping()
        self.reports = report.Reporter()  # load reports to the policy daemon (kernel/report.py)
        self.pipes = pipes.PipeTable()

    @property
    def services_node(self) -> int:
        """The I/O cluster running the daemons."""
        return self.spec.compute_clusters

    def _make_cpu(self) -> None:
        """`cpu` and `mem`, made when first asked for (_Lazy). A fresh ClusterCPU is always the
        same (zeroed memory, blank harts), so when it is made changes nothing simulated."""
        cpu = ClusterCPU(self.spec.cluster.memory_per_cluster)
        if self.spec.cache.caches:
            why = cpu.set_caches(self.spec)
            if why:
                _no_caches(why)
            else:  # the kernel core's own traffic, with the same caches (kernel/kmem.py)
                self.core.kmem = KernelMemory(self.spec)
                self.core.kmem.counts = self.core.caches  # (one list: counted once, not copied per call)
        cpu.on_fill = self._fill
        cpu.on_trap = self._trap
        cpu.on_ecall = partial(entry.dispatch_current, self)
        self.cpu = cpu
        self.mem = memoryview(cpu.mem)

    @property
    def has_cpu(self) -> bool:
        """Whether this cluster's emulator has been made (a host-side fact, for tests)."""
        return "cpu" in self.__dict__

    # processes ---------------------------------------------------------------
    def spawn(self, exe: Executable, argv: list[str], envp: list[str], pid: int, seed: int,
              at: int) -> Container:
        """Create a container running `exe`; raises OutOfFrames if it does not fit, ArgsTooBig
        if its arguments do not fit its stack (and then nothing of it is left)."""
        aspace = self.new_aspace()
        proc = Container(pid=pid, name=exe.name, argv=argv, aspace=aspace, cluster=self.cluster,
                         brk_start=exe.brk_start, brk=exe.brk_start, seed=seed,
                         stats=ProcStats(start_cycle=at))
        try:
            load(exe, aspace)
            sp = build_stack(aspace, exe, [a.encode() for a in argv], [e.encode() for e in envp],
                             proc.random_bytes(16), self.spec.limits.stack_limit)
        except (OutOfFrames, Fault):
            aspace.destroy()
            raise OutOfFrames from None
        except BaseException:
            aspace.destroy()  # whatever went wrong, the loaded program's frames go back
            raise
        ctx = self.cpu.new_context()
        ctx.reg_write(REG_PC, exe.entry)
        ctx.reg_write(REG_SP, sp)
        t = Thread(tid=pid, proc=proc, ctx=ctx, ready_at=at)
        proc.threads.append(t)
        self.procs.append(proc)
        self.track(proc)
        self.sched.ready.append(t)
        proc.stats.peak_frames = aspace.frames_in_use
        return proc

    def new_aspace(self) -> AddressSpace:
        """An empty address space on this cluster, told where shared pages live (kernel/shm.py)."""
        a = AddressSpace(self.mem, self.frames, self._on_unmap, self._on_code)
        a.shm.frame = self.shm.frames.get
        a.shm.on_drop = lambda keys: shm.dropped(self, keys, a)
        a.swap.on_drop = lambda copies: rmem.dropped(self, a, copies)
        return a

    def new_thread(self, proc: Container, ctx: object, at: int) -> Thread:
        t = Thread(tid=self.alloc_tid(), proc=proc, ctx=ctx, ready_at=at)
        proc.threads.append(t)
        self.sched.ready.append(t)
        self._end_solo()
        return t

    def _end_solo(self) -> None:
        """Another thread can run now: end the lone thread's long slice here."""
        if self.sched.solo and self.sched.current is not None and self.sched.stop_reason is None:
            self.sched.stop_reason = Stop.PREEMPT
            self.cpu.stop()

    def kill(self, proc: Container, signal: int | None, code: int | None, message: str,
             at: int) -> None:
        """End a container: all its threads, its memory. Other containers are untouched."""
        if not proc.alive:
            return
        ikc.close_all(self, proc, at)
        pipes.close_all(self, proc, at)  # its pipe ends: readers see EOF, writers EPIPE
        if proc.family.ppid == INIT_PID:  # (the host's: no process waits for it; calls/sysinfo.py: times)
            self.send(self.services_node, Exit(pid=proc.pid, code=code, signal=signal), at=at)
        else:
            self.send(self.services_node, Exit(pid=proc.pid, code=code, signal=signal,
                                               times=timers.ended_times(self, proc)), at=at)
        proc.state = "exited" if signal is None else "killed"
        proc.exit.code, proc.exit.signal, proc.exit.message = code, signal, message
        proc.stats.end_cycle = at
        self.stats.last_exit = at if self.stats.last_exit is None else max(self.stats.last_exit, at)
        if proc.aspace.shm.pages:  # other processes see its robust mutexes in shared memory
            for t in proc.threads:  # (Linux walks each thread's list as it ends: EOWNERDEAD)
                if t.state is not TState.DEAD:
                    futexes.robust_walk(self, t)
        for t in proc.threads:
            self._unwait(t)
            t.state = TState.DEAD
        self.sched.ready = deque(t for t in self.sched.ready if t.proc is not proc)
        for op in [op for op, (t, _, _) in self.packets.pending.items() if t.proc is proc]:
            del self.packets.pending[op]
        for t in proc.threads:
            self.ikc.portal_data.pop(t.tid, None)
        for h in self.sched.harts:
            if h.thread is not None and h.thread.proc is proc:
                h.thread = None
        if self.sched.current is not None and self.sched.current.proc is proc:
            self.sched.stop_reason = Stop.DEAD
            self.cpu.stop()
        self._free(proc)
        for table in (self.rmem.waiting, self.rmem.unmapped):  # (the daemon answers none now)
            for key in [key for key in table if key[0] == proc.pid]:
                del table[key]
        for pkt in self.migration.held.pop(proc.pid, []):
            self.handle(pkt, at)  # now refused: the endpoints are gone

    # blocking and waking ----------------------------------------------------------
    def block(self, t: Thread, key: tuple[int, int] | None, deadline: int | None,
              bits: int = 0xFFFFFFFF, timeout_value: int = 0, why: str = "") -> None:
        """Put `t` to sleep and end its call (raises Block); `why` says whether a freeze may
        back the call out and redo it later (futex, sleep, mbx_read, portal_read, sync_wait,
        rpc:wait) or must let it end."""
        self.sleep(t, key, deadline, bits, timeout_value, why)
        raise Block

    def sleep(self, t: Thread, key: tuple[int, int] | None, deadline: int | None,
              bits: int = 0xFFFFFFFF, timeout_value: int = 0, why: str = "") -> object:
        """`block` for a call that returns what this gives (SLEEPS) instead of raising: the
        same sleep, without an exception's cost (its object and a traceback entry for each
        frame it crosses) on the path of the calls that sleep at every message."""
        t.state = _BLOCKED
        t.blocked_at = self.now() if self.sched.current is t else t.ready_at
        t.wait_key, t.wait_bits, t.deadline = key, bits, deadline
        t.timeout_value = timeout_value
        t.blocked_on = why or ("futex" if key is not None else "sleep" if deadline is not None else "wait")
        if key is not None:
            self.sched.futexes.setdefault(key, []).append(t)
        if deadline is not None:
            heapq.heappush(self.sched.sleepers, (deadline, t.tid, t))
        return SLEEPS

    def wake(self, t: Thread, at: int, result: int) -> None:
        if t.wait_key is not None:
            self._unwait(t)
        else:  # (_unwait's case without a futex, inlined: a wake at every message)
            t.deadline = None
        t.state = _READY
        t.ready_at = at if at > t.blocked_at else t.blocked_at  # never before it went to sleep
        cpu = self.cpu
        cpu.regs.ctx_set(t.ctx, _A0, result)
        if cpu.loaded is t.ctx:
            cpu.loaded = None
        s = self.sched
        s.ready.append(t)
        if s.solo:
            self._end_solo()

    def _unwait(self, t: Thread) -> None:
        if t.wait_key is not None:
            q = self.sched.futexes.get(t.wait_key, [])
            if t in q:
                q.remove(t)
            if not q:
                self.sched.futexes.pop(t.wait_key, None)
            t.wait_key = None
        t.deadline = None  # stale heap entries are skipped

    def kernel_core(self, at: int, cost: int) -> int:
        """Serve a call that reaches the kernel core at cycle `at`: it starts in the first gap
        of `cost` cycles at or after `at` (calls queue, as on Nanvix's asymmetric kernel).
        Harts are simulated one after another within a window, so a calendar, not a clock:
        a call made earlier in simulated time but simulated later still fits before. Returns
        the cycles the caller waits and is served."""
        cal = self.core.calendar
        busy = cal.busy
        if not busy or busy[-1][1] < at:  # (Calendar.book's first case, inlined: at every call)
            busy.append((at, at + cost))
            return cost
        last = busy[-1]
        if last[1] == at and last[0] < at and cost > 0:
            # (Calendar.book's second case, inlined: right after the last run, which grows)
            busy[-1] = (last[0], at + cost)
            cal.cuts.append(at)
            return cost
        start = cal.book(at, cost)
        self.core.wait += start - at
        return start + cost - at

    def charge(self, cycles: int) -> None:
        """Kernel work done for the running thread: its clock moves on, and its slice ends
        that much sooner (so a slice never runs past the time it was given)."""
        s = self.sched
        s.extra += cycles
        n = -(-cycles // self.spec.costs.cpi)
        if s.trap_base is not None:  # in a system call: taken from the budget as it ends
            s.trap_cut += n
            return
        cpu = self.cpu
        if cpu.budget is not None:  # (ClusterCPU.shorten, inlined: a call's path takes it twice)
            cpu.budget.left -= n
            cpu._cut += n
        else:
            cpu.shorten(n)

    def end_trap(self) -> None:
        """A system call is over: what it charged ends the slice that much sooner (once, not
        at each charge: the emulator's counters are not asked while the CPU is in its trap)."""
        s = self.sched
        s.trap_base = None
        n = s.trap_cut
        if n:
            s.trap_cut = 0
            cpu = self.cpu
            if cpu.budget is not None:  # (ClusterCPU.shorten, inlined)
                cpu.budget.left -= n
                cpu._cut += n
            else:
                cpu.shorten(n)

    def now(self) -> int:
        """Simulated time of the running thread, mid-slice."""
        s = self.sched
        base = s.trap_base
        if base is not None:  # in a system call: only its charges move the time (entry.py)
            return base + s.extra
        cpu = self.cpu
        b, c = cpu.budget, cpu.caches
        if b is not None and c is not None:  # (executed() and stalled() of the patched CPU, inlined)
            return (s.now_base + (cpu._budget - b.left + b.extra - cpu._cut - c.taken) * self.spec.costs.cpi
                    + c.stall + s.extra)
        return s.now_base + cpu.executed() * self.spec.costs.cpi + cpu.stalled() + s.extra

    # the scheduler (sched.py) -----------------------------------------------------------
    def next_time(self) -> int:
        """Simulated time of this cluster's earliest item (sched.NEVER if it has none)."""
        return sched.next_time(self)

    def advance(self, horizon: int, limit: int, window: int) -> int:
        """Take items up to the horizon; returns the time of the next one."""
        return sched.advance(self, horizon, limit, window)

    def at(self, time: int, fn: Callable[[int], None]) -> None:
        """Do `fn(time)` at simulated `time`, in order with the cluster's other items."""
        self.sched.seq += 1
        heapq.heappush(self.sched.actions, (time, self.sched.seq, fn))

    # packets -------------------------------------------------------------------------
    def send(self, dst: int, body: Body, data: bytes = b"", at: int = 0, bulk: bool = False) -> None:
        """Queue a packet; the engine hands it to the NoC in order of send time. Its size on
        the wire is what it carries (platform/noc.py: packet), except an IKC mailbox message,
        which keeps Nanvix's fixed format."""
        form = "bulk" if bulk else "mailbox" if body.KIND in MAILBOX_KINDS else "control"
        pkt = packet(self.spec, self.cluster, dst, body, data, at, form)
        ps = self.packets
        ps.sent += 1
        pkt.seq = ps.sent  # its place among this cluster's packets (ties on the NoC)
        self.outbox.append(pkt)
        # It may loop back one lookahead later, or an answer come back after two (there and
        # back; the console acknowledges): no item of this cluster's at or past that is taken
        # before the engine has moved the others on.
        h = at + (self.lookahead if dst == self.cluster else 2 * self.lookahead)
        if h < self.sched.horizon:
            self.sched.horizon = h

    def reply(self, pkt: Packet, at: int, **fields: object) -> None:
        """Answer request `pkt` (Reply's fields) to its sender (the original one if the
        packet was forwarded)."""
        body = Reply(op=pkt.body.op, **fields)  # type: ignore[attr-defined,arg-type]
        self.send(answer_to(pkt.body, pkt.src), body, at=at)

    def forward(self, pkt: Packet, dst: int, at: int) -> None:
        """Pass on a packet for a process that moved, keeping who must get the answer."""
        body = replace(pkt.body, reply_to=answer_to(pkt.body, pkt.src))
        self.send(dst, body, pkt.data, at, bulk=pkt.form == "bulk")

    # containers that come and go by migration ----------------------------------------------
    def find_proc(self, pid: int) -> Container | None:
        for p in self.procs:
            if p.pid == pid:
                return p
        return None

    def retire(self, p: Container, at: int, keep_memory: bool = False) -> None:
        """The process now lives elsewhere: free everything it had here, tell nobody (its
        memory stays while post-copy still sends it: `keep_memory`, then release_memory)."""
        p.state = "migrated"
        p.stats.end_cycle = at
        for fd in list(p.ikc):
            ep = p.ikc[fd]
            kind = {ikc.MailboxIn: "mailbox", ikc.PortalIn: "portal", ikc.SyncIn: "sync"}.get(type(ep))
            if kind is not None:
                self.ikc.endpoints[kind].pop((p.pid, ep.port), None)  # type: ignore[attr-defined]
        for key in [key for key in self.ikc.early_signals if key[0] == p.pid]:
            del self.ikc.early_signals[key]
        for t in p.threads:
            self._unwait(t)
        self.sched.ready = deque(t for t in self.sched.ready if t.proc is not p)
        if keep_memory:
            if p in self.procs:
                self.procs.remove(p)
            return
        self._free(p)

    def release_memory(self, p: Container) -> None:
        """Free what a retired process kept for post-copy."""
        self._free(p)

    def _free(self, p: Container) -> None:
        p.stats.peak_frames = max(p.stats.peak_frames, p.aspace.frames_in_use)
        p.aspace.destroy()
        if p.aspace.exec_frames_freed:
            self.cpu.tb_stale = True  # freed code frames may be reused: drop translations
        if self.sched.tlb_owner is p.aspace:
            self.cpu.flush_tlb()
            self.sched.tlb_owner = None
        if p in self.procs:
            self.procs.remove(p)
        # The record of every process this kernel ran (`stats.all_procs`) keeps its threads'
        # counts, not their emulator contexts (a slice that ends the process has its own
        # reference to the one it runs).
        for t in p.threads:
            t.ctx = None
        if p.state in ("exited", "killed"):  # (final: a record once its last slice is counted)
            self.stats.ending.append(p)

    def track(self, p: Container) -> None:
        """`p` is this kernel's from now on, for its record. Processes that ended before
        become plain records first: the slice that ended each is over, so its counts are in
        (done here, so that they are bounded by the processes made, with nothing else to
        watch)."""
        st = self.stats
        if st.ending:
            gone = {id(c) for c in st.ending}
            st.all_procs = [c for c in st.all_procs if id(c) not in gone]
            for c in st.ending:
                st.ended.add(c)
            st.ending = []
        st.all_procs.append(p)

    def moved_away(self, p: Container) -> None:
        """`p` left for good: its destination thawed it and publishes its record (a later
        generation), so this copy's goes (a process moved to and fro would leave one each)."""
        st = self.stats
        st.all_procs = [c for c in st.all_procs if c is not p]

    def adopt(self, p: Container) -> None:
        """A restored container becomes this kernel's."""
        self.procs.append(p)
        self.track(p)
        self.migration.moved.pop(p.pid, None)

    def discard(self, p: Container) -> None:
        """Drop a restored container that never ran here."""
        for ep in p.ikc.values():
            kind = {ikc.MailboxIn: "mailbox", ikc.PortalIn: "portal", ikc.SyncIn: "sync"}.get(type(ep))
            if kind is not None:
                self.ikc.endpoints[kind].pop((p.pid, ep.port), None)  # type: ignore[attr-defined]
        p.aspace.destroy()

    def rpc_to(self, t: Thread, dst: int, body: Request | Targeted, then: Then, data: bytes = b"",
               bulk: bool = False, deadline: int | None = None, timeout_value: int = -ETIMEDOUT) -> None:
        """Send a request for thread `t` and block it; `then(reply, at)` gives its result.
        With a deadline, the thread gives up then with `timeout_value` (a later answer is dropped)."""
        why = self._request(t, dst, body, then, data, bulk)
        self.block(t, None, deadline, timeout_value=timeout_value, why=why)

    def rpc_sleep(self, t: Thread, dst: int, body: Request | Targeted, then: Then,
                  data: bytes = b"") -> object:
        """rpc_to, no deadline, for a call that returns what this gives (SLEEPS: Kernel.sleep)."""
        why = self._request(t, dst, body, then, data, False)
        return self.sleep(t, None, None, timeout_value=-ETIMEDOUT, why=why)

    def _request(self, t: Thread, dst: int, body: Request | Targeted, then: Then, data: bytes,
                 bulk: bool) -> str:
        """Send thread `t`'s request (its answer goes to `then`); why the thread waits."""
        op = self.new_op()
        body = replace(body, op=op, pid=t.proc.pid)
        self.packets.pending[op] = (t, then, body)
        if t.call.kept is not None and answers.answered(t, body) is not None:
            # made again once its answer's page came: the kept answer answers it now
            self.at(self.now(), partial(self._answer_kept, op))
        else:
            self.send(dst, body, data, self.now(), bulk)
        return f"rpc:{body.KIND}"

    def rpc_more(self, t: Thread, body: Request, then: Then, data: bytes, at: int) -> object:
        """From an answer's `then`: another request for `t`, still asleep in the same call
        (a call done in several requests: kernel/files.py); returns ASLEEP for `then`."""
        op = self.new_op()
        body = replace(body, op=op, pid=t.proc.pid)
        self.packets.pending[op] = (t, then, body)
        self.send(self.services_node, body, data, at, bool(data))
        return ASLEEP

    def _answer_kept(self, op: int, at: int) -> None:
        entry = self.packets.pending.pop(op, None)
        if entry is None:  # backed out by a freeze meanwhile: the answer stays kept
            return
        t, then, asked = entry
        kept, t.call.kept = t.call.kept, None
        if kept is None or not t.proc.alive:
            return
        body = replace(kept.body, op=op)  # type: ignore[type-var]
        reply = Packet(self.cluster, self.cluster, _REPLY, body, kept.data, 0, at, 0, 0)
        self._answered(t, then, asked, reply, at)

    def rearm_timer(self, p: Container, key: int, now: int) -> None:
        """A timer's signal was taken (kernel/signals.py): kernel/timers.py's rearm."""
        timers.rearm(self, p, key, now)

    def new_op(self) -> int:
        """A request number unique on the chip (the answer names it)."""
        self.packets.ops += 1
        return (self.cluster << 40) | self.packets.ops

    def rpc(self, t: Thread, body: Request, then: Then, data: bytes = b"") -> None:
        self.rpc_to(t, self.services_node, body, then, data)

    def deliver(self, pkt: Packet) -> None:
        heapq.heappush(self.packets.inbox, (pkt.arrival, pkt.seq, pkt))

    def handle(self, pkt: Packet, at: int) -> None:
        if pkt.kind in migrate.TARGETED:
            pid = pkt.body.dst  # type: ignore[attr-defined]
            if pid in self.migration.moved:
                location.follow(self, pkt, at)
                return
            p = self.find_proc(pid)
            if p is not None and p.state == "frozen":
                self.migration.held.setdefault(pid, []).append(pkt)
                return
            if location.arrived(self, pkt, p, at):
                return
        if pkt.kind is _REPLY:
            self._on_reply(pkt, at)
        elif pkt.kind is _NOC_ERROR:
            self.on_lost(pkt, at)
        else:
            self.handlers[pkt.kind](self, pkt, at)

    def on_lost(self, note: Packet, at: int) -> None:
        """The NoC lost a packet this kernel sent (its DMA engine says so, with what it sent)."""
        lost: NocError = note.body  # type: ignore[assignment]
        kind, body = lost.kind, lost.body
        if kind.startswith("mig_"):
            migrate.on_lost(self, body, at)
        elif kind is not Kind.PORTAL_DATA and getattr(body, "op", None) in self.packets.pending:
            t, _, _ = self.packets.pending.pop(body.op)  # type: ignore[attr-defined]
            self.wake(t, at, -EIO)  # a request of one of its threads: it fails with EIO
        else:
            # Anything else (an answer, a portal's go-ahead or its data, console output, an
            # exit or location notice, a packet passed on for a moved process) is the
            # kernel's own duty: it sends it again.
            self.send(lost.to, body, lost.data, at, bulk=lost.form == "bulk")

    def _on_reply(self, pkt: Packet, at: int) -> None:
        entry = self.packets.pending.pop(pkt.body.op, None)  # type: ignore[attr-defined]
        if entry is None:
            if self.pipes.orphans:  # (a FIFO's end counted for a process that ended meanwhile)
                pipes.orphan(self, pkt, at)
            return  # its thread's process ended meanwhile
        t, then, asked = entry
        self._answered(t, then, asked, pkt, at)

    def _answered(self, t: Thread, then: Then, asked: object, pkt: Packet, at: int) -> None:
        """Thread `t`'s request `asked` has its answer `pkt`: `then` gives the call's result. An
        answer whose page is held elsewhere is kept and the call made again (kernel/answers.py)."""
        self.ikc.portal_data.pop(t.tid, None)
        try:
            result = then(pkt, at)
        except Missing as m:
            if not t.proc.alive or m.addr == migrate.ALL_PAGES:
                return
            result = answers.keep(self, t, answers.key(asked), pkt.body, pkt.data, m, at)  # type: ignore[arg-type]
        except Fault:
            result = -EFAULT
        if result is ASLEEP:
            return  # it waits on (a pipe at its home: kernel/pipes.py)
        if t.proc.alive and t.state is _BLOCKED:
            self.wake(t, at, result)

    def await_page(self, t: Thread, va: int, store: bool, at: int) -> None:
        """An answer to `t`'s call needs page `va`, held elsewhere: the thread, its pc back on
        its ecall, waits for it (kernel/answers.py)."""
        sched.await_page(self, t, va, store, at, in_call=True)

    def page_came(self, t: Thread, at: int) -> int:
        """A thread that waited for a page (post-copy, remote or shared memory) goes on at
        `at`: it makes its instruction or call again (no result is written). Returns the
        cycles it waited, 0 if it no longer waited."""
        if not t.proc.alive or t.state is not TState.BLOCKED or t.blocked_on != "page":
            return 0
        t.blocked_on, t.state, t.ready_at = "", TState.READY, max(at, t.blocked_at)
        self.sched.ready.append(t)
        self._end_solo()
        return max(0, at - t.blocked_at)

    # traps -------------------------------------------------------------------------
    def _fill(self, vaddr: int, access: int) -> tuple[int, int] | None:
        t = self.sched.current
        if t is None:
            return None
        if vaddr >> 12 == STOP_ADDR >> 12:
            # Unicorn looks up code at the stop address when a counted slice ends; let it
            # see the kernel's first frame, all zeros (an illegal instruction), execute-only.
            return (PHYS_BASE, UC_PROT_EXEC)
        aspace = t.proc.aspace
        if aspace.remote:  # (a remote page's touch, the usual fill while paging: no raise)
            m = aspace.remote_fault(vaddr, access)
            if m is not None:
                self.sched.fault = TrapFault(m, 0)
                return None
        before, copies = aspace.faults, aspace.cow_copies
        try:
            got = aspace.fill(vaddr, access)
        except Missing as f:  # a page elsewhere: the thread waits for it (sched.run_slice)
            # Kept without its traceback: its frames lead back to run_slice, which holds the
            # fault, a cycle only the garbage collector would free (once per remote fault).
            self.sched.fault = TrapFault(f.with_traceback(None), 0)
            return None
        except Fault as f:
            self.sched.fault = TrapFault(f.with_traceback(None), SIGSEGV)
            return None
        except OutOfFrames:
            if self.now() >= min(self.sched.horizon, sched.next_item(self, harts=False)[0]):
                # The thread ran ahead of an earlier item of this cluster (a migration's commit,
                # an exit) that may free frames: it faults again at its time, after that item.
                self.sched.fault = TrapFault(Retry.FETCH if access == UC_MEM_FETCH else Retry.DATA, 0)
                return None
            self.sched.fault = TrapFault(f"out of memory (cluster {self.cluster} has no free frame)", SIGKILL)
            return None
        if aspace.faults != before:
            # (a fault is served mid-slice, out of time order with the cluster's other calls:
            # its accesses are not replayed through the kernel core's caches, kernel/kmem.py)
            self.charge(self.spec.costs.page_fault_cycles)
            if aspace.cow_copies != copies:  # a store to a page shared since a fork: its copy
                self.charge(math.ceil(self.spec.costs.copy_cycles_per_byte * PAGE))
            t.proc.stats.peak_frames = max(t.proc.stats.peak_frames, aspace.frames_in_use)
        return got

    def _trap(self, cause: int) -> None:
        t = self.sched.current
        if t is None:
            return
        if cause == ECALL_U:
            entry.dispatch(self, t)
            return
        what, sig = TRAPS.get(cause, (f"exception {cause}", SIGSEGV))
        # Unicorn 2.1 reports every RISC-V trap with pc + 4, whatever the instruction's length
        # (checked for 2- and 4-byte illegal instructions); a failed TLB fill has the exact pc.
        pc = (self.cpu.regs.reg(REG_PC) - 4) & 0xFFFFFFFF
        if pc >> 12 == STOP_ADDR >> 12:  # the kernel's page that _fill lends for the stop address
            what, sig = f"instruction page fault at {pc:#010x}", SIGSEGV
        self.sched.fault = TrapFault(what, sig, pc)
        self.sched.stop_reason = None
        self.cpu.stop()

    def kill_for_fault(self, t: Thread, at: int) -> None:
        f = self.sched.fault
        what, sig, pc = (f.what, f.sig, f.pc) if f is not None else (None, SIGSEGV, None)
        if pc is None:
            pc = t.ctx.reg_read(REG_PC)
        if isinstance(what, Fault):
            addr = faults.exact_address(t, what, pc)
            what = f"{what.kind} {what.reason} at {addr:#010x}"
        elif what is None:  # Unicorn ended the slice with an error and no trap or fill
            what, sig = faults.unexplained(t, pc)
        msg = f"killed: {what}, pc {pc:#010x}" if sig != SIGKILL else f"killed: {what}"
        self.kill(t.proc, sig, None, msg, at)

    def _on_unmap(self) -> None:
        self.cpu.flush_tlb()

    def _on_code(self) -> None:
        """The kernel wrote into (or freed) a frame that holds code: what the CPU translated
        from it is stale. The running slice ends here (a system call's write is followed by
        the guest's fence.i and a jump into the new code), and the next starts with a flush."""
        self.cpu.tb_stale = True
        if self.sched.current is not None and self.sched.stop_reason is None:
            self.sched.stop_reason = Stop.CODE
            self.cpu.stop()

    def output(self, proc: Container, fd: int, data: bytes, at: int) -> None:
        """Standard output and error travel to the console on the I/O cluster, one piece at a
        time (console.py), each counted in flight until the console acknowledges it."""
        if data:
            self.console.inflight += len(data)
            # (a forked child writes to its parent's console stream: its tty)
            tty = proc.family.tty or proc.pid
            self.send(self.services_node, Console(pid=tty, fd=fd), data, at, bulk=True)


"""Signals as Linux delivers them on riscv32: per-process actions, per-thread masks and
pending sets, a process-wide pending set, and handlers run on the guest's stack (or its
alternate stack) in a Linux riscv signal frame.

A signal is *posted* (kill, tkill, a fault, a packet from another cluster) into a pending
list and *delivered* when its thread next returns to user mode: at the start of its next
slice (sched.run_slice), or, for a signal the running thread sends itself or unblocks, at
the end of its call (the call ends the slice: stop reason "signal"). A thread asleep in an
interruptible call (futex, sleep) that a handled signal targets is woken with -EINTR; the
frame then restarts the call instead when Linux would (SA_RESTART, untimed futex waits).

The frame (arch/riscv/kernel/signal.c, uapi asm/{ucontext,sigcontext,ptrace}.h):
    struct rt_sigframe { siginfo_t info (128 B); struct ucontext uc; }
    ucontext: uc_flags, uc_link, uc_stack {ss_sp, ss_flags, ss_size}, uc_sigmask (8 B, then
    padding to the 128 B of a 1024-bit set), and at offset 160 (16-aligned) uc_mcontext:
    pc, x1..x31 (32 words), then the FP state union (f0..f31 as u64, fcsr; 528 B).
The handler returns to a trampoline (`li a7, 139; ecall`: rt_sigreturn) in a page mapped
read+exec into the process at its first handler, as Linux's vDSO holds it.
Long (~500 lines): posting, delivery, the frame and stop/continue act on one per-process
state (masks, pending lists, actions); split, each would reach into the others'.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import (
    EINTR,
    SIGALRM,
    SIGBUS,
    SIGCHLD,
    SIGCONT,
    SIGFPE,
    SIGILL,
    SIGKILL,
    SIGNAL_NAMES,
    SIGSEGV,
    SIGSTOP,
    SIGTRAP,
)
from shoal.kernel import faults
from shoal.kernel.container import TState
from shoal.kernel.memory import PAGE, PROT_EXEC, PROT_READ, USER_TOP, Fault, Missing, OutOfFrames, Region
from shoal.kernel.stops import Stop
from shoal.messages import ChildState, FsLock, PipeRef, PollCancel, PollQuery, SysvCancel
from shoal.platform.cpu import REG_A, REG_PC

if TYPE_CHECKING:
    from shoal.kernel.container import Container, Thread
    from shoal.kernel.kernel import Kernel

SIG_DFL, SIG_IGN = 0, 1
SA_SIGINFO, SA_ONSTACK, SA_RESTART = 4, 0x08000000, 0x10000000
SA_NODEFER, SA_RESETHAND = 0x40000000, 0x80000000
SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = 2048
NSIG = 64
ALL = (1 << NSIG) - 1
UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))
# siginfo codes (asm-generic/siginfo.h)
SI_USER, SI_KERNEL, SI_QUEUE, SI_TIMER, SI_TKILL = 0, 0x80, -1, -2, -6
SEGV_MAPERR, SEGV_ACCERR = 1, 2
BUS_ADRERR = 2  # a nonexistent physical address (a shared page beyond its object's end)
FAULT_SIGNALS = frozenset({SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP})
MAX_QUEUED = 1024  # real-time signals queued per list (Linux's RLIMIT_SIGPENDING is ~this order)

# Default actions (signal(7)). SIGCONT's is to continue a stopped process, which it does
# whatever its action and mask (post); otherwise it is ignored.
DEFAULT_IGNORE = frozenset({17, 18, 23, 28})
DEFAULT_STOP = frozenset({19, 20, 21, 22})  # SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU
DEFAULT_CORE = frozenset({3, 4, 5, 6, 7, 8, 11, 24, 25, 31})
SA_NOCLDSTOP, CLD_STOPPED, CLD_CONTINUED = 1, 5, 6

INFO_SIZE = 128
UC_STACK, UC_SIGMASK, UC_MCONTEXT = 8, 20, 160
FP_STATE = UC_MCONTEXT + 128  # after pc and x1..x31
UC_SIZE = UC_MCONTEXT + 128 + 528
FRAME_SIZE = INFO_SIZE + UC_SIZE
TRAMPOLINE = struct.pack("<II", 0x08B00893, 0x00000073)  # li a7, 139; ecall
# Waits a handled signal cuts short (pipe: kernel/pipes.py; poll: kernel/calls/poll.py;
# rpc:sysv_wait: kernel/calls/sysv.py; rpc:ipc_wait: kernel/calls/ipc.py; rpc:sock_wait: calls/socket.py;
# rpc:fs_lock: record locks, _interrupt_lock).
INTERRUPTIBLE = ("futex", "sleep", "pipe", "poll", "rpc:sysv_wait", "rpc:ipc_wait", "rpc:sock_wait",
                 "rpc:fs_lock")
MMAP_TOP_GAP = 64 << 20  # below the stack, as mmap's (kernel/calls/mman.py)


def bit(sig: int) -> int:
    return 1 << (sig - 1)


def name(sig: int) -> str:
    return SIGNAL_NAMES.get(sig, f"signal {sig}")


def info(sig: int, code: int, w0: int = 0, w1: int = 0, w2: int = 0, errno: int = 0) -> tuple[int, ...]:
    """A siginfo as kept while pending: signo, errno, code and the first three words of the
    union (si_pid, si_uid, si_value; or si_addr)."""
    return (sig, errno, code, w0 & 0xFFFFFFFF, w1 & 0xFFFFFFFF, w2 & 0xFFFFFFFF)


def info_bytes(i: tuple[int, ...]) -> bytes:
    return struct.pack("<iiiIII", *i).ljust(INFO_SIZE, b"\0")


def action(p: Container, sig: int) -> list[int]:
    return p.sig.actions.get(sig) or [SIG_DFL, 0, 0]


def ignored(p: Container, sig: int) -> bool:
    return ignoring(action(p, sig)[0], sig)


def ignoring(handler: int, sig: int) -> bool:
    """Does `handler` (a sigaction's) ignore `sig`: SIG_IGN, or the default of one ignored by default."""
    return handler == SIG_IGN or (handler == SIG_DFL and sig in DEFAULT_IGNORE)


def handled(p: Container, sig: int) -> bool:
    return action(p, sig)[0] not in (SIG_DFL, SIG_IGN)


def _enqueue(q: list[tuple[int, ...]], i: tuple[int, ...]) -> bool:
    """Standard signals are pending once; real-time ones queue (up to MAX_QUEUED)."""
    sig = i[0]
    if sig < 32 and any(x[0] == sig for x in q):
        return True
    if len(q) >= MAX_QUEUED:
        return False
    q.append(i)
    return True


def post(k: Kernel, p: Container, target: Thread | None, i: tuple[int, ...], at: int) -> bool:
    """Send signal info `i` to thread `target` (tkill) or to process `p` (kill); False if a
    real-time signal's queue is full (EAGAIN). The signal is delivered later (see above)."""
    sig = i[0]
    if not p.alive:
        return True
    if sig == SIGKILL:
        k.kill(p, SIGKILL, None, f"killed: {name(sig)}", at)
        return True
    if sig == SIGCONT:
        resume(k, p, at)
    elif sig in DEFAULT_STOP:
        _discard(p, bit(SIGCONT))  # a stop cancels a pending continue, and the reverse
    elif sig == SIGCHLD and i[2] in (CLD_STOPPED, CLD_CONTINUED) and action(p, sig)[1] & SA_NOCLDSTOP:
        return True  # the parent asked not to hear of its children's stops
    live = [t for t in p.threads if t.state is not TState.DEAD]
    if not live:
        return True
    chosen = target
    if chosen is None:  # the main thread if it takes it, else the first that does (Linux's choice)
        chosen = next((t for t in live if not t.sig.mask & bit(sig)), None)
    blockers = [target] if target is not None else live
    if ignored(p, sig) and not all((t.sig.mask | (t.sig.saved or 0)) & bit(sig) for t in blockers):
        return True  # dropped at once, as Linux does when nobody blocks it
    if not _enqueue(target.sig.pending if target is not None else p.sig.pending, i):
        return False
    if chosen is None or chosen.sig.mask & bit(sig):
        return True  # stays pending until unblocked
    if chosen.state is TState.BLOCKED and chosen.blocked_on == "sigwait":
        _end_wait(k, chosen, at)  # rt_sigtimedwait takes it (its mask let it through)
        return True
    if action(p, sig)[0] == SIG_DFL and sig not in DEFAULT_IGNORE:
        _default(k, p, sig, at)  # fatal: the whole process ends now
        return True
    wake(k, chosen, at)
    return True


def wake(k: Kernel, t: Thread, at: int) -> None:
    """A signal `t` takes is pending: make it see it soon."""
    if k.sched.current is t and k.sched.stop_reason is None:
        k.sched.stop_reason = Stop.SIGNAL  # delivered once the call returns (sched.run_slice)
        k.cpu.stop()
    elif t.state is TState.BLOCKED and t.proc.state == "running" and t.blocked_on in INTERRUPTIBLE:
        _interrupt(k, t, at)
    elif t.state is TState.BLOCKED and t.proc.state == "running" and t.blocked_on == "sigsuspend":
        k.wake(t, at, -EINTR)


def take_from(k: Kernel, t: Thread, want: int, now: int) -> tuple[int, ...] | None:
    """Remove and return the lowest pending signal of `want` (rt_sigtimedwait)."""
    best: tuple[int, list, int] | None = None
    for q in (t.sig.pending, t.proc.sig.pending):
        for n, i in enumerate(q):
            if bit(i[0]) & want and (best is None or i[0] < best[0]):
                best = (i[0], q, n)
    return None if best is None else taken(k, t.proc, best[1].pop(best[2]), now)


def taken(k: Kernel, p: Container, i: tuple[int, ...], now: int) -> tuple[int, ...]:
    """A signal taken off its queue: a POSIX timer's carries the overruns counted since it was
    sent (si_overrun), which timer_getoverrun reports from now on (Linux's it_overrun_last).
    A periodic timer that stopped while its signal was pending runs again from here
    (timers.rearm: Linux's posixtimer_rearm at dequeue)."""
    if i[2] != SI_TIMER:
        if i[0] == SIGALRM and i[2] == SI_KERNEL:
            k.rearm_timer(p, -1, now)  # (setitimer's ITIMER_REAL, timers.REAL)
        return i
    tm = p.timers.get(i[3])
    if tm is None:
        return i
    k.rearm_timer(p, i[3], now)
    tm.last, tm.overrun = tm.overrun, 0
    return (*i[:4], tm.last & 0xFFFFFFFF, *i[5:])


def _end_wait(k: Kernel, t: Thread, at: int) -> None:
    assert t.sig.waiting is not None
    want, uinfo = t.sig.waiting
    i = take_from(k, t, want, at)
    if i is None:
        return
    t.sig.waiting = None
    if t.sig.saved is not None:
        t.sig.mask, t.sig.saved = t.sig.saved, None
    try:
        if uinfo:
            t.proc.aspace.write(uinfo, info_bytes(i))
    except (Fault, OutOfFrames):
        pass
    k.wake(t, at, i[0])


def _interrupt_lock(k: Kernel, t: Thread, a0: int, at: int) -> None:
    """A record lock request waits at the file server (F_SETLKW, or a quick one under way):
    ask the server to end it; its answer still comes, EINTR if it was waiting, else what it
    did (a lock granted first is the caller's, as on Linux), so no lock is held unknown. Made
    again with SA_RESTART (Linux's -ERESTARTSYS) unless the answer is not EINTR (calls/io.py)."""
    if t.sig.interrupted is not None:  # asked already
        return
    op = next((op for op, (w, _, _) in k.packets.pending.items() if w is t), None)
    if op is not None:
        k.send(k.services_node, FsLock(handle=0, path="", flags=0, cmd=4, cancel=op, pid=t.proc.pid), at=at)
    t.sig.interrupted = [a0, 1]


def _interrupt(k: Kernel, t: Thread, at: int) -> None:
    """Cut an interruptible wait short: -EINTR now; an untimed futex wait is restartable
    (Linux's -ERESTARTSYS); sleeps and timed waits are not (-ERESTART_RESTARTBLOCK)."""
    ctx = t.ctx
    a0 = ctx.reg_read(REG_A[0])  # type: ignore[attr-defined]
    if t.blocked_on == "rpc:fs_lock":  # (record locks: the file server ends the wait, below)
        _interrupt_lock(k, t, a0, at)
        return
    restartable = t.blocked_on in ("futex", "pipe", "rpc:sock_wait") and t.deadline is None
    if t.blocked_on == "rpc:ipc_wait":  # mq_send/receive, sem_wait: their deadline is absolute
        restartable = True
    if t.blocked_on == "sleep" and t.deadline is not None:
        flags, rem = ctx.reg_read(REG_A[1]), ctx.reg_read(REG_A[3])  # type: ignore[attr-defined]
        if rem and not flags & 1:  # relative clock_nanosleep: the time left goes to *rem
            left = max(0, t.deadline - at) * 1_000_000_000 // k.spec.cluster.freq_hz
            try:
                t.proc.aspace.write(rem, struct.pack("<qii", left // 10**9, left % 10**9, 0))
            except (Fault, OutOfFrames):
                pass
    if t.blocked_on.startswith("rpc:") or t.blocked_on == "poll":  # its answer is dropped; the
        for op in [op for op, (w, _, _) in k.packets.pending.items() if w is t]:  # server forgets
            body = k.packets.pending.pop(op)[2]
            if isinstance(body, PollQuery):  # a poll's query parked at I/O cluster 0
                k.send(k.services_node, PollCancel(pid=t.proc.pid, tid=t.tid, op=op), at=at)
        if t.blocked_on == "rpc:sysv_wait":  # (the IPC daemon drops a thread's old wait when
            k.send(k.services_node, SysvCancel(pid=t.proc.pid, tid=t.tid), at=at)  # it waits anew)
    fifo = t.call.fifo if t.blocked_on == "pipe" else 0
    if fifo:
        t.call.fifo = 0  # a FIFO's open that waited: its end goes (a restart opens anew, as Linux)
        home = fifo >> 24  # (pipes.HOME_SHIFT)
        k.send(home, PipeRef(handle=fifo, readers=0, writers=0, given_up=t.tid), at=at)
    t.sig.interrupted = [a0, int(restartable)]
    k.wake(t, at, -EINTR)


def _default(k: Kernel, p: Container, sig: int, at: int) -> None:
    if sig in DEFAULT_STOP:
        stop(k, p, sig, at)
        return
    what = " (core dumped)" if sig in DEFAULT_CORE else ""
    k.kill(p, sig, None, f"killed: {name(sig)}{what}", at)


def _discard(p: Container, sigs: int) -> None:
    """Drop the pending signals of set `sigs` (process-wide and each thread's)."""
    for q in (p.sig.pending, *(t.sig.pending for t in p.threads)):
        q[:] = [i for i in q if not bit(i[0]) & sigs]


def stop(k: Kernel, p: Container, sig: int, at: int) -> None:
    """A stop signal's default action: every thread of `p` stops where it is (sched takes
    no thread of a stopped process: a running one leaves its hart at the end of its slice
    or call, a blocked one stays in its wait and, woken, waits for a hart until SIGCONT).
    Its parent hears of it (the process manager: WUNTRACED, SIGCHLD with CLD_STOPPED)."""
    _discard(p, bit(SIGCONT) | bit(sig))  # (post queued it before acting on it)
    if p.sig.stopped:
        return
    p.sig.stopped = sig
    s = k.sched
    for h in s.harts:
        t = h.thread
        if t is None or t.proc is not p:
            continue
        if t is s.current:  # stopping itself (raise, kill of its own pid): at the call's end
            if s.stop_reason is None:
                s.stop_reason = Stop.YIELD
                k.cpu.stop()
            continue
        h.thread, h.slice_end = None, None
        t.state, t.ready_at = TState.READY, h.clock
        s.ready.append(t)
    k.send(k.services_node, ChildState(pid=p.pid, signal=sig), at=at)


def resume(k: Kernel, p: Container, at: int) -> None:
    """SIGCONT: pending stop signals go; a stopped process runs again from `at` (its parent
    hears of it: WCONTINUED, SIGCHLD with CLD_CONTINUED)."""
    _discard(p, sum(bit(n) for n in DEFAULT_STOP))
    if not p.sig.stopped:
        return
    p.sig.stopped = 0
    for t in k.sched.ready:
        if t.proc is p and t.ready_at < at:
            t.ready_at = at
    k.send(k.services_node, ChildState(pid=p.pid, signal=0), at=at)


def deliverable(t: Thread) -> bool:
    m = ~t.sig.mask
    return any(bit(i[0]) & m for i in t.sig.pending) or any(bit(i[0]) & m for i in t.proc.sig.pending)


def _take(k: Kernel, t: Thread, at: int) -> tuple[tuple[int, ...], list] | None:
    """The next signal for `t` and its list: the lowest-numbered one it does not block,
    its own first."""
    best: tuple[int, list, int] | None = None
    for q in (t.sig.pending, t.proc.sig.pending):
        for n, i in enumerate(q):
            if not bit(i[0]) & t.sig.mask and (best is None or i[0] < best[0]):
                best = (i[0], q, n)
    if best is None:
        return None
    return taken(k, t.proc, best[1].pop(best[2]), at), best[1]


def deliver(k: Kernel, t: Thread, at: int) -> Stop | Missing | None:
    """At the thread's return to user mode: take each signal it may take now. Returns None
    to run on, Stop.DEAD if the process ended, Stop.YIELD if it stopped (the thread leaves its
    hart), or the Missing page the frame needs (the thread waits for it, the signal stays
    pending)."""
    p = t.proc
    if t.sig.waiting is not None and t.sig.saved is not None:  # rt_sigtimedwait timed out
        t.sig.mask, t.sig.saved, t.sig.waiting = t.sig.saved, None, None
    while (t.sig.pending or p.sig.pending) and deliverable(t):
        got = _take(k, t, at)
        assert got is not None
        i, q = got
        sig = i[0]
        act = action(p, sig)
        if ignoring(act[0], sig):
            continue
        if act[0] == SIG_DFL:
            _default(k, p, sig, at)
            return Stop.YIELD if p.sig.stopped and p.alive else Stop.DEAD
        try:
            frame(k, t, i, act)
        except Missing as m:
            q.insert(0, i)
            return m
        except (Fault, OutOfFrames):
            k.kill(p, SIGSEGV, None, f"killed: {name(SIGSEGV)} (no room for the frame of "
                   f"{name(sig)} on the stack)", at)
            return Stop.DEAD
    t.sig.interrupted = None
    if t.sig.saved is not None:  # rt_sigsuspend's mask ends here
        t.sig.mask, t.sig.saved = t.sig.saved, None
    return None


def frame(k: Kernel, t: Thread, i: tuple[int, ...], act: list[int]) -> None:
    """Build the rt_sigframe for signal info `i` and point the thread at its handler."""
    p = t.proc
    cpu = k.cpu
    regs = cpu.get_regs(t.ctx)
    sig = i[0]
    handler, flags, mask = act
    if t.sig.interrupted is not None:  # the call a signal cut short: EINTR, or made again
        a0, restartable = t.sig.interrupted
        t.sig.interrupted = None
        if restartable and flags & SA_RESTART:
            regs["pc"] = (regs["pc"] - 4) & 0xFFFFFFFF
            regs["x"][9] = a0  # x10 = a0
    sp = regs["x"][1]
    ss_sp, ss_size, ss_flags = t.sig.altstack
    on_alt = ss_size and ss_sp < sp <= ss_sp + ss_size
    if flags & SA_ONSTACK and not ss_flags & SS_DISABLE and not on_alt:
        new = ss_sp + ss_size
    else:
        new = sp
    if on_alt and not ss_sp < sp - FRAME_SIZE <= ss_sp + ss_size:
        raise Fault("store", sp, "alternate signal stack overflow")
    base = (new - FRAME_SIZE) & ~15
    uc = bytearray(UC_SIZE)
    cur_flags = SS_ONSTACK if on_alt else (SS_DISABLE if ss_flags & SS_DISABLE else 0)
    struct.pack_into("<III", uc, UC_STACK, ss_sp, cur_flags | (ss_flags & SS_AUTODISARM), ss_size)
    struct.pack_into("<Q", uc, UC_SIGMASK, t.sig.mask if t.sig.saved is None else t.sig.saved)
    struct.pack_into("<32I", uc, UC_MCONTEXT, regs["pc"], *regs["x"])
    struct.pack_into("<32QI", uc, FP_STATE, *regs["f"], regs["fcsr"])
    tramp = trampoline(p)
    p.aspace.write(base, info_bytes(i) + bytes(uc))
    if flags & SA_ONSTACK and ss_flags & SS_AUTODISARM and not on_alt:
        t.sig.altstack = (0, 0, SS_DISABLE)
    regs["pc"] = handler
    x = regs["x"]
    x[0], x[1] = tramp, base  # ra, sp
    x[9], x[10], x[11] = sig, base, base + INFO_SIZE  # a0, a1 (&info), a2 (&uc)
    cpu.set_regs(t.ctx, regs)
    t.sig.saved = None  # (rt_sigsuspend's) the frame holds the mask to go back to
    t.sig.mask |= mask & ~UNBLOCKABLE
    if not flags & SA_NODEFER:
        t.sig.mask |= bit(sig)
    if flags & SA_RESETHAND:
        p.sig.actions.pop(sig, None)


def trampoline(p: Container) -> int:
    """The rt_sigreturn trampoline's address, its page mapped at first use."""
    if p.sig.tramp:
        return p.sig.tramp
    a = p.aspace
    va = a.find_gap(PAGE, USER_TOP - MMAP_TOP_GAP)
    if va is None:
        raise OutOfFrames
    a.add_region(Region(va, va + PAGE, PROT_READ | PROT_EXEC, "[vdso]"))
    a.write(va, TRAMPOLINE, force=True)
    p.sig.tramp = va
    return va


def sigreturn(k: Kernel, t: Thread, sp: int) -> dict:
    """The registers, mask and alternate stack of the frame at `sp` (rt_sigreturn)."""
    p = t.proc
    uc = p.aspace.read(sp + INFO_SIZE, UC_SIZE)
    w = struct.unpack_from("<32I", uc, UC_MCONTEXT)
    fp = struct.unpack_from("<32QI", uc, FP_STATE)
    t.sig.mask = struct.unpack_from("<Q", uc, UC_SIGMASK)[0] & ~UNBLOCKABLE
    ss_sp, ss_flags, ss_size = struct.unpack_from("<III", uc, UC_STACK)
    cur_sp, cur_size, _ = t.sig.altstack
    if not (cur_size and cur_sp < sp <= cur_sp + cur_size):  # Linux: EPERM on it, ignored
        if ss_flags & SS_DISABLE:
            t.sig.altstack = (0, 0, SS_DISABLE)
        elif ss_flags & ~(SS_ONSTACK | SS_AUTODISARM) == 0 and ss_size >= MINSIGSTKSZ:
            t.sig.altstack = (ss_sp, ss_size, ss_flags & SS_AUTODISARM)
    return {"x": list(w[1:]), "pc": w[0], "f": list(fp[:32]), "fcsr": fp[32]}


def on_fault(k: Kernel, t: Thread) -> bool | Missing:
    """A synchronous fault (k.sched.fault) of `t`: run its handler if it has one and does not
    block it (True; the faulting instruction runs again when the handler returns, as on
    Linux); False: the default action (kill_for_fault). A Missing: the frame's page is
    elsewhere, the thread waits for it (the signal is pending)."""
    if k.sched.fault is None:
        return False
    what, sig, pc = k.sched.fault.what, k.sched.fault.sig, k.sched.fault.pc
    p = t.proc
    if sig not in FAULT_SIGNALS or isinstance(what, Missing) or not handled(p, sig) or t.sig.mask & bit(sig):
        return False
    if pc is None:
        pc = t.ctx.reg_read(REG_PC)  # type: ignore[attr-defined]
    if isinstance(what, Fault):
        addr = faults.exact_address(t, what, pc)
        code = SEGV_MAPERR if p.aspace.find(addr) is None or sig != SIGSEGV else SEGV_ACCERR
    else:
        addr, code = pc, 1  # ILL_ILLOPC, BUS_ADRALN, TRAP_BRKPT
    t.ctx.reg_write(REG_PC, pc)  # type: ignore[attr-defined]
    k.cpu.loaded = None
    i = info(sig, code, addr)
    try:
        frame(k, t, i, action(p, sig))
    except Missing as m:
        t.sig.pending.insert(0, i)
        k.sched.fault = None
        return m
    except (Fault, OutOfFrames):
        return False
    k.sched.fault = None
    return True


def fault_later(t: Thread, sig: int, code: int, addr: int) -> bool:
    """A fault known only after its thread left the hart (a shared page the I/O cluster says
    lies beyond its object's end): queued first, so its handler runs before the instruction
    is made again, as on_fault would. False: the default action (no handler, or the signal
    is blocked: Linux's force_sig_fault kills then too)."""
    if not handled(t.proc, sig) or t.sig.mask & bit(sig):
        return False
    t.sig.pending.insert(0, info(sig, code, addr))
    return True


def after_slice(k: Kernel, t: Thread) -> None:
    """The slice ended for a signal (Stop.SIGNAL): put back what rt_sigreturn read."""
    if t.sig.resume is not None:
        regs, t.sig.resume = t.sig.resume, None
        k.cpu.set_regs(t.ctx, regs)



def to_meta(p: Container, threads: list[Thread]) -> dict:
    """The signal state of a frozen process for its image ({} if it has none)."""
    out: dict = {}
    if p.sig.actions:
        out["actions"] = {str(n): a for n, a in sorted(p.sig.actions.items())}
    if p.sig.pending:
        out["pending"] = [list(i) for i in p.sig.pending]
    if p.sig.tramp:
        out["tramp"] = p.sig.tramp
    if p.sig.stopped:
        out["stopped"] = p.sig.stopped
    ts = {}
    for t in threads:
        if t.sig.mask or t.sig.pending or t.sig.altstack != (0, 0, SS_DISABLE) or t.sig.interrupted \
                or t.sig.saved is not None or t.sig.waiting:
            ts[str(t.tid)] = {"mask": t.sig.mask, "pending": [list(i) for i in t.sig.pending],
                              "alt": list(t.sig.altstack), "interrupted": t.sig.interrupted,
                              "saved": t.sig.saved, "waiting": t.sig.waiting}
    if ts:
        out["threads"] = ts
    return out


def from_meta(p: Container, m: dict) -> None:
    """Put back what to_meta kept (the image is validated: image.py)."""
    p.sig.actions = {int(n): list(a) for n, a in m.get("actions", {}).items()}
    p.sig.pending = [tuple(i) for i in m.get("pending", [])]
    p.sig.tramp = m.get("tramp", 0)
    p.sig.stopped = m.get("stopped", 0)
    for t in p.threads:
        tm = m.get("threads", {}).get(str(t.tid))
        if tm is None:
            continue
        t.sig.mask, t.sig.pending = tm["mask"], [tuple(i) for i in tm["pending"]]
        t.sig.altstack = tuple(tm["alt"])  # type: ignore[assignment]
        t.sig.interrupted, t.sig.saved = tm.get("interrupted"), tm.get("saved")
        t.sig.waiting = tm.get("waiting")

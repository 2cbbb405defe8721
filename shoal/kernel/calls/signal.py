"""Signal calls: rt_sigaction, rt_sigprocmask, rt_sigpending, sigaltstack, rt_sigreturn,
rt_sigsuspend, rt_sigtimedwait, kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo.
Delivery and the frame are kernel/signals.py's. A signal to a process on another cluster
is a `signal` packet relayed by the process manager (it follows a moved process as every
targeted packet does: kernel/location.py); the sender waits for the answer (0, ESRCH,
EINVAL, EAGAIN, EPERM), as kill(2) returns once the signal is queued. The target checks
Linux's permission rule (may_signal). kill of a group or of every process (-1) is fanned out
by the process manager (daemons/sigroups.py); pid 1 is init, the host."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import EAGAIN, EINTR, EINVAL, ENOMEM, EPERM, ESRCH, INIT_PID
from shoal.kernel import location, signals, timers
from shoal.kernel.calls.common import STOPPED, s32
from shoal.kernel.calls.cred import EUID, RUID, SUID
from shoal.kernel.container import Container, Thread, TState
from shoal.kernel.memory import Fault
from shoal.kernel.signals import ALL, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UNBLOCKABLE, bit
from shoal.kernel.stops import Stop
from shoal.messages import UNSET, KillGroup, Kind, Relay, SignalMsg
from shoal.platform.cpu import REG_SP
from shoal.platform.noc import Packet

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
# SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO, SA_EXPOSE_TAGBITS and the four below (UAPI_SA_FLAGS)
SA_FLAGS = (1 | 2 | 4 | 0x800 | signals.SA_ONSTACK | signals.SA_RESTART | signals.SA_NODEFER
            | signals.SA_RESETHAND)


def _sig_ok(sig: int) -> bool:
    return 1 <= sig <= signals.NSIG


def sys_rt_sigaction(k: Kernel, t: Thread, a: list[int]) -> int:
    sig, new, old, setsize = s32(a[0]), a[1], a[2], a[3]
    if setsize != 8 or not _sig_ok(sig) or (new and sig in (signals.SIGKILL, signals.SIGSTOP)):
        return -EINVAL
    p = t.proc
    before = signals.action(p, sig)
    if new:  # struct sigaction on riscv: handler, flags, mask (no restorer)
        h, flags, mask = struct.unpack("<IIQ", p.aspace.read(new, 16))
        flags &= SA_FLAGS  # unknown bits are cleared, as Linux does since 5.11
        if h == signals.SIG_DFL and not flags and not mask:
            p.sig.actions.pop(sig, None)
        else:
            if h not in (signals.SIG_DFL, signals.SIG_IGN):
                signals.trampoline(p)
            p.sig.actions[sig] = [h, flags, mask & ~UNBLOCKABLE]
        if signals.ignored(p, sig):  # pending instances are discarded (POSIX)
            for q in [p.sig.pending, *(x.sig.pending for x in p.threads)]:
                for i in q:
                    if i[0] == sig:  # (a timer stopped while it was pending runs again)
                        signals.taken(k, p, i, k.now())
                q[:] = [i for i in q if i[0] != sig]
        elif signals.ignoring(before[0], sig):
            timers.unignored(k, p, sig, k.now())  # its parked timers send it now
    if old:
        p.aspace.write(old, struct.pack("<IIQ", *before))
    return 0


def _check(k: Kernel, t: Thread) -> None:
    """The mask changed: a signal it unblocked is taken when the call returns."""
    if signals.deliverable(t):
        signals.wake(k, t, k.now())


def sys_rt_sigprocmask(k: Kernel, t: Thread, a: list[int]) -> int:
    how, new, old, size = a[0], a[1], a[2], a[3]
    if size != 8:
        return -EINVAL
    before = t.sig.mask
    if new:
        m = struct.unpack("<Q", t.proc.aspace.read(new, 8))[0] & ~UNBLOCKABLE
        if how == SIG_BLOCK:
            t.sig.mask |= m
        elif how == SIG_UNBLOCK:
            t.sig.mask &= ~m
        elif how == SIG_SETMASK:
            t.sig.mask = m
        else:
            return -EINVAL
    if old:
        t.proc.aspace.write(old, struct.pack("<Q", before))
    _check(k, t)
    return 0


def sys_rt_sigpending(k: Kernel, t: Thread, a: list[int]) -> int:
    if a[1] > 8:
        return -EINVAL
    pend = 0
    for i in [*t.sig.pending, *t.proc.sig.pending]:
        pend |= bit(i[0])
    t.proc.aspace.write(a[0], struct.pack("<Q", pend & t.sig.mask)[:a[1]])
    return 0


def _on_alt(t: Thread, sp: int) -> bool:
    ss_sp, size, _ = t.sig.altstack
    return bool(size) and ss_sp < sp <= ss_sp + size


def sys_sigaltstack(k: Kernel, t: Thread, a: list[int]) -> int:
    new, old = a[0], a[1]
    sp = k.cpu.regs.reg(REG_SP)
    ss_sp, size, flags = t.sig.altstack
    cur = (SS_DISABLE if not size else SS_ONSTACK if _on_alt(t, sp) else 0) | (flags & SS_AUTODISARM)
    if new:
        nsp, nflags, nsize = struct.unpack("<IiI", t.proc.aspace.read(new, 12))
        if _on_alt(t, sp):
            return -EPERM
        mode = nflags & ~SS_AUTODISARM
        if mode not in (0, SS_ONSTACK, SS_DISABLE):
            return -EINVAL
        if mode == SS_DISABLE:
            t.sig.altstack = (0, 0, SS_DISABLE)
        elif nsize < signals.MINSIGSTKSZ:
            return -ENOMEM
        else:
            t.sig.altstack = (nsp, nsize, nflags & SS_AUTODISARM)
    if old:
        t.proc.aspace.write(old, struct.pack("<IiI", ss_sp, cur, size))
    return 0


def sys_rt_sigreturn(k: Kernel, t: Thread, a: list[int]) -> object:
    try:
        t.sig.resume = signals.sigreturn(k, t, k.cpu.regs.reg(REG_SP))
    except Fault as f:
        if f.reason == "page not here yet":
            raise
        k.kill(t.proc, signals.SIGSEGV, None, "killed: SIGSEGV (bad signal frame at rt_sigreturn)", k.now())
        return STOPPED
    k.sched.stop_reason = Stop.SIGNAL  # the registers are put back once the slice has ended (sched.py)
    k.cpu.stop()
    return STOPPED


def sys_rt_sigsuspend(k: Kernel, t: Thread, a: list[int]) -> int:
    """Wait with a temporary mask until a handler runs: -EINTR, and the handler's frame
    saves the caller's mask (restored by its rt_sigreturn)."""
    if a[1] != 8:
        return -EINVAL
    m = struct.unpack("<Q", t.proc.aspace.read(a[0], 8))[0] & ~UNBLOCKABLE
    if t.sig.saved is None:
        t.sig.saved = t.sig.mask
    t.sig.mask = m
    if signals.deliverable(t):
        signals.wake(k, t, k.now())
        return -EINTR
    k.block(t, None, None, why="sigsuspend")
    return 0


def sys_rt_sigtimedwait(k: Kernel, t: Thread, a: list[int]) -> int:
    """Take a pending signal of `set` without running its handler; wait for one (until the
    timeout: EAGAIN) if none is pending."""
    uset, uinfo, uts, size = a[0], a[1], a[2], a[3]
    if size != 8:
        return -EINVAL
    want = struct.unpack("<Q", t.proc.aspace.read(uset, 8))[0] & ~UNBLOCKABLE & ALL
    if t.sig.saved is not None:  # made again after a freeze or a timeout: the mask as it was
        t.sig.mask, t.sig.saved = t.sig.saved, None
    t.sig.waiting = None
    got = signals.take_from(k, t, want, k.now())
    if got is not None:
        if uinfo:
            t.proc.aspace.write(uinfo, signals.info_bytes(got))
        return got[0]
    deadline = None
    if uts:
        from shoal.kernel.calls.common import ns_to_cycles, read_timespec
        ns = read_timespec(t, uts)
        if ns is None:
            return -EINVAL
        deadline = k.now() + ns_to_cycles(k, ns)
        if ns == 0:
            return -EAGAIN
    t.sig.waiting = [want, uinfo]
    if t.sig.saved is None:
        t.sig.saved = t.sig.mask
    t.sig.mask &= ~want  # let them through to this thread (Linux's real_blocked)
    k.block(t, None, deadline, timeout_value=-EAGAIN, why="sigwait")
    return 0


# sending -------------------------------------------------------------------------------------
def _thread(p: Container, tid: int) -> Thread | None:
    return next((x for x in p.threads if x.tid == tid and x.state is not TState.DEAD), None)


def cred(p: Container) -> list[int]:
    """What kill's permission check needs of the sender: [ruid, euid, pid]."""
    return [p.user.ids[RUID], p.user.ids[EUID], p.pid]


def may_signal(sender: list[int] | None, p: Container) -> bool:
    """Linux's kill_ok_by_cred: the kernel's own signals (no sender), one's own process, a
    sender whose real or effective uid is the target's real or saved uid, or root. (Linux
    also lets SIGCONT through within a session; shoal's sessions are the manager's: not here.)"""
    if sender is None or sender[2] == p.pid or sender[1] == 0:
        return True
    ids = p.user.ids
    return bool({sender[0], sender[1]} & {ids[RUID], ids[SUID]})


def post_here(k: Kernel, p: Container, tid: int, i: tuple[int, ...], at: int,
              sender: list[int] | None = None) -> int:
    """Signal info `i` (signal 0: only the checks) to process `p` of this cluster, or to its
    thread `tid` (0: the process), from `sender` (`cred`; None: the kernel); 0 or a
    negative errno."""
    if not 0 <= i[0] <= signals.NSIG:
        return -EINVAL
    target = None
    if tid:
        target = _thread(p, tid)
        if target is None:
            return -ESRCH
    if not may_signal(sender, p):
        return -EPERM
    if i[0] == 0:
        return 0
    return 0 if signals.post(k, p, target, i, at) else -EAGAIN


def _send(k: Kernel, t: Thread, pid: int, tid: int, i: tuple[int, ...]) -> object:
    p = k.find_proc(pid)
    if p is not None and p.state == "running":
        ret = post_here(k, p, tid, i, k.now(), cred(t.proc))
        return STOPPED if not t.proc.alive else ret
    op = k.new_op()
    inner = SignalMsg(dst=pid, tid=tid, info=list(i), op=op, reply_to=k.cluster, cred=cred(t.proc))
    k.packets.pending[op] = (t, lambda pkt, at: pkt.body.ret, inner)
    if p is not None:  # here but being frozen or moved: the packet is held or forwarded
        k.send(k.cluster, inner, at=k.now())
    else:  # elsewhere: the process manager knows where
        k.send(k.services_node, Relay(kind=Kind.SIGNAL, bulk=False, body=inner), at=k.now())
    k.block(t, None, None, why="rpc:signal")
    return 0


def on_signal(k: Kernel, pkt: Packet, at: int) -> None:
    """A signal from another cluster (or held while its process was frozen)."""
    b = pkt.body
    p = k.find_proc(b.dst) or location.restored(k, b.dst)
    sender = None if b.cred is UNSET else list(b.cred)
    ret = -ESRCH if p is None or not p.alive else post_here(k, p, b.tid, tuple(b.info), at, sender)
    if b.op:  # (op 0: a SIGCHLD from the process manager, which waits for no answer)
        k.reply(pkt, at, ret=ret)


def sys_kill(k: Kernel, t: Thread, a: list[int]) -> object:
    pid, sig = s32(a[0]), s32(a[1])
    i = signals.info(sig, signals.SI_USER, t.proc.pid, t.proc.user.ids[RUID])
    if pid == -(1 << 31):
        return -ESRCH  # (-INT_MIN is no pid: Linux's answer)
    if pid <= 0:  # the caller's group (0), group -pid, or every process but init and itself (-1)
        group = -1 if pid == -1 else -pid
        k.rpc(t, KillGroup(pgid=group, info=list(i), cred=cred(t.proc)), lambda reply, at: reply.body.ret)
        return 0
    if pid == INIT_PID:
        # init is the host, as root: it exists (kill(1, 0) is 0) and ignores every signal (Linux
        # drops one that init does not handle), but only root or a real uid 0 may send it one.
        if not 0 <= sig <= signals.NSIG:
            return -EINVAL
        return 0 if 0 in cred(t.proc)[:2] else -EPERM
    return _send(k, t, pid, 0, i)


def sys_tkill(k: Kernel, t: Thread, a: list[int]) -> object:
    tid, sig = s32(a[0]), s32(a[1])
    if tid <= 0:
        return -EINVAL
    for p in k.procs:
        if _thread(p, tid) is not None:
            ret = post_here(k, p, tid, signals.info(sig, signals.SI_TKILL, t.proc.pid, t.proc.user.ids[RUID]),
                            k.now(), cred(t.proc))
            return STOPPED if not t.proc.alive else ret
    return -ESRCH


def sys_tgkill(k: Kernel, t: Thread, a: list[int]) -> object:
    tgid, tid, sig = s32(a[0]), s32(a[1]), s32(a[2])
    if tgid <= 0 or tid <= 0:
        return -EINVAL
    return _send(k, t, tgid, tid, signals.info(sig, signals.SI_TKILL, t.proc.pid, t.proc.user.ids[RUID]))


def _user_info(t: Thread, sig: int, uinfo: int) -> tuple[int, ...]:
    _, errno, code, w0, w1, w2 = struct.unpack("<iiiIII", t.proc.aspace.read(uinfo, 24))
    return (sig, errno, code, w0, w1, w2)


def sys_rt_sigqueueinfo(k: Kernel, t: Thread, a: list[int]) -> object:
    pid, sig = s32(a[0]), s32(a[1])
    i = _user_info(t, sig, a[2])
    if (i[2] >= 0 or i[2] == signals.SI_TKILL) and pid != t.proc.pid:
        return -EPERM  # only the kernel may claim to be kill() or the kernel
    return _send(k, t, pid, 0, i)


def sys_rt_tgsigqueueinfo(k: Kernel, t: Thread, a: list[int]) -> object:
    tgid, tid, sig = s32(a[0]), s32(a[1]), s32(a[2])
    if tgid <= 0 or tid <= 0:
        return -EINVAL
    i = _user_info(t, sig, a[3])
    if (i[2] >= 0 or i[2] == signals.SI_TKILL) and tgid != t.proc.pid:
        return -EPERM
    return _send(k, t, tgid, tid, i)


HANDLERS = {Kind.SIGNAL: on_signal}

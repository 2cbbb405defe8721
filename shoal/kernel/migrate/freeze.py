"""Freezing a container, and thawing it. Its threads stop at their next slice boundary. A
thread blocked in a call that can be redone later (futex wait, sleep, mailbox/portal/sync
read, waiting for a child, a record lock: taking one again is the same, and F_SETLKW may wait
for ever) is backed out: its pc goes back to the ecall, and a timed wait
keeps its deadline. A thread in a call that must finish (a write waiting for its
acknowledgement, a request to a daemon) is let finish first; the container is "freezing"
until then (source.progress tries again between slices).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.kernel import futexes
from shoal.kernel.container import Container, Thread, TState
from shoal.kernel.ikc import MailboxIn, PortalIn, SyncIn
from shoal.messages import FsLock, Kind
from shoal.platform.cpu import REG_A, REG_PC

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


# Blocked calls a freeze may back out and redo: waits, and requests to the daemons that
# only read (a late answer to a backed-out request is dropped).
RESTARTABLE = {"futex", "sleep", "console", "mbx_read", "portal_read", "sync_wait", "rpc:wait",
               "rpc:name_lookup", "rpc:locate", "rpc:fs_read", "rpc:fs_stat", "rpc:fs_getdents",
               "rpc:fs_readlink", "rpc:fs_statfs",
               "rpc:ipc_wait", "rpc:sysv_wait", "rpc:mq_getattr", "rpc:sem_getvalue", "sigsuspend", "sigwait",
               "rpc:sock_wait", "poll", "pipe", "rpc:fs_lock"}
# Targeted IKC packets: held for a frozen process, forwarded once it has moved.
TARGETED = frozenset({Kind.MBX_DATA, Kind.PORTAL_REQ, Kind.PORTAL_DATA, Kind.SYNC_SIGNAL, Kind.RMEM_FULL,
                      Kind.SIGNAL, Kind.REPARENT, Kind.SCHED_OP})
FREEZE_TIMEOUT = 4_000_000  # cycles (10 ms at 400 MHz) a freeze may wait for calls to end
# Protocol choices (not hardware figures): how often one packet is sent at most, and how much


def try_freeze(k: Kernel, p: Container) -> int | None:
    """Stop what can be stopped; the cycle at which `p` is frozen, or None if not yet."""
    latest = 0
    for h in k.sched.harts:
        t = h.thread
        if t is not None and t.proc is p:
            h.thread = None
            t.state = TState.FROZEN
            latest = max(latest, h.clock)
    for t in [t for t in k.sched.ready if t.proc is p]:
        k.sched.ready.remove(t)
        t.state = TState.FROZEN
        # A thread that waits for a hart has not run past the request: being ready later
        # (woken by work that ends after it) does not make the freeze later.
        latest = max(latest, t.ready_at if p.move.freeze_at is None else min(t.ready_at, p.move.freeze_at))
    done = True
    for t in p.threads:
        if t.state is not TState.BLOCKED:
            continue
        if t.blocked_on == "migrate":
            t.state = TState.FROZEN
        elif t.blocked_on in RESTARTABLE and not _portal_matched(t):
            back_out(k, t)
        else:
            done = False
    return latest if done else None


def _portal_matched(t: Thread) -> bool:
    """A portal read whose writer was told to go: its data is on the way, let it land."""
    if t.blocked_on != "portal_read":
        return False
    return any(isinstance(ep, PortalIn) and ep.reader is not None and ep.reader[0] is t and ep.reader[3] < 0
               for ep in t.proc.ikc.values())


def back_out(k: Kernel, t: Thread) -> None:
    """Undo a blocked call so that the thread redoes it when thawed (wherever that is); a
    plain futex wait is not made again but ends as woken (see below)."""
    if (t.blocked_on == "futex" and t.wait_key is not None and t.wait_key[0] < 0
            and not t.wait_key[1] & futexes.PI and t.deadline is None):
        # A wait without a timeout on a shared memory object's word (futexes.key_of: one
        # other processes wake) returns 0 at the thaw: a wake-up Linux allows to be spurious,
        # after which every user of futexes checks its word again. Made again, it could sleep
        # for ever: a FUTEX_WAKE from another process while this one was frozen or on its way
        # found nobody (a wake need not change the word), and a waiter FUTEX_REQUEUE had moved
        # to another word would wait on its first one again. A private word's wakers are this
        # process's threads, frozen with it: that wait is made again, as a timed one is (with
        # its deadline), so that neither ends early at every move (a signal sent to a thread
        # asleep in sem_wait still finds it asleep there: EINTR).
        k._unwait(t)
        t.restart_deadline = None
        t.ctx.reg_write(REG_A[0], 0)
        if k.cpu.loaded is t.ctx:
            k.cpu.loaded = None
        t.state = TState.FROZEN
        return
    if t.blocked_on in ("futex", "sleep", "poll"):
        # Kept in the process's own time, which a restore elsewhere carries on.
        t.restart_deadline = None if t.deadline is None else t.deadline - t.proc.move.clock_offset
    k._unwait(t)
    for ep in t.proc.ikc.values():
        if isinstance(ep, MailboxIn):
            ep.readers = type(ep.readers)(r for r in ep.readers if r[0] is not t)
        elif isinstance(ep, PortalIn) and ep.reader is not None and ep.reader[0] is t:
            ep.reader = None
        elif isinstance(ep, SyncIn) and ep.waiter is t:
            ep.waiter = None
    for op in [op for op, (w, _, _) in k.packets.pending.items() if w is t]:
        del k.packets.pending[op]
        if t.blocked_on == "rpc:fs_lock":  # the server lets the wait go (its answer is dropped)
            k.send(k.services_node, FsLock(handle=0, path="", flags=0, cmd=4, cancel=op, pid=t.proc.pid),
                   at=k.now())
            t.sig.interrupted = None  # (the call is made again whole)
    pc = t.ctx.reg_read(REG_PC)
    t.ctx.reg_write(REG_PC, pc - 4)  # back onto the ecall (never compressed)
    if k.cpu.loaded is t.ctx:
        k.cpu.loaded = None
    t.state = TState.FROZEN


def thaw(k: Kernel, p: Container, at: int, caller_result: int) -> None:
    p.state = "running"
    p.move.freeze_at = None
    for t in p.threads:
        if t.state is TState.FROZEN:
            if t.blocked_on == "migrate":
                t.ctx.reg_write(REG_A[0], caller_result & 0xFFFFFFFF)
            t.blocked_on = ""
            t.state = TState.READY
            t.ready_at = at
            k.sched.ready.append(t)
    if k.cpu.loaded is not None:
        k.cpu.loaded = None

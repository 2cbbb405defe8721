"""The IPC daemon: POSIX message queues and named semaphores, a daemon of I/O cluster 0.

A server of the I/O cluster node (daemons/node.py), reached only through NoC packets from the
kernels (shoal/kernel/calls/ipc.py), so processes on any clusters share them. Names are global to the chip
(a leading `/` is dropped, as Linux and musl do).

- A queue holds at most `maxmsg` messages of at most `msgsize` bytes (given at creation,
  bounded by the ChipSpec's `mq_max_messages` and `mq_max_message_bytes`, which are also the
  defaults, as Linux's /proc/sys/fs/mqueue); messages come out highest priority first, in
  the order they were sent within a priority.
- A semaphore is a counter up to SEM_VALUE_MAX.
- At most `ipc_max_names` queues and semaphores exist at once (ENOSPC), unlinked ones that
  are still open included: an unlinked one lives on for the handles open on it, and goes with
  the last. A process holds at most SEM_NSEMS_MAX semaphore handles (EMFILE, as musl's
  sem_open); its queue handles are its descriptors (the kernel's bound). Lookups are by pid
  and object, never a walk over every handle.
- Every operation here is immediate: it succeeds or answers EAGAIN. Blocking is the kernel's
  (kernel/calls/ipc.py): after EAGAIN it sends `ipc_wait`, answered when the object may have become
  ready (at once if it already is), and then makes the call again. Waiting thus consumes
  nothing, so a freeze may back a wait out, and a wait that times out leaves nothing behind
  but a stale waiter, whose answer its kernel drops.
- Owners and modes as Linux's mqueue file system and musl's /dev/shm semaphores: a new
  queue or semaphore belongs to its maker (fsuid, fsgid) with the mode it gave less the
  umask; a process that is not root opens an existing one only as its mode allows (a queue
  by its access mode, a semaphore for reading and writing, as musl opens its file: EACCES),
  and unlinks only its own (the names' directory is sticky: EPERM, which musl's mq_unlink
  and sem_unlink(3) give as EACCES). Root is never refused.
- Handles belong to pids (global: they follow a migrating process) and are closed when the
  last of them ends or closes it. A fork's child holds its parent's handles too (as Linux's
  child inherits the queue descriptors and the mapping of each named semaphore): the same
  handle numbers, which are in its copy of the parent's memory. A queue handle the daemon
  does not know (an image restored on another chip) is opened again by the queue's name, as
  files are (daemons/files.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import field

from shoal.abi import (
    EACCES,
    EAGAIN,
    EBADF,
    EBUSY,
    EEXIST,
    EINVAL,
    EMFILE,
    EMSGSIZE,
    ENOENT,
    ENOSPC,
    EOVERFLOW,
    EPERM,
    O_ACCMODE,
    O_CREAT,
    O_EXCL,
    SEM_NSEMS_MAX,
    SEM_VALUE_MAX,
)
from shoal.daemons.core import Core, Handler, HostCall
from shoal.daemons.fspaths import may
from shoal.kernel import signals
from shoal.messages import Kind, MqOpen, SemOpen, SignalMsg
from shoal.platform.noc import Packet
from shoal.record import dataclass

SIGEV_SIGNAL = 0  # (struct sigevent's sigev_notify; SIGEV_NONE is 1)
SI_MESGQ = -3  # si_code of a message queue's notification


@dataclass(eq=False)
class Queue:
    """A POSIX message queue held by the IPC daemon."""

    maxmsg: int
    msgsize: int
    msgs: list[tuple[int, int, bytes]] = field(default_factory=list)  # heap of (-prio, seq, data)
    linked: bool = True
    opens: int = 0
    uid: int = 0
    gid: int = 0
    mode: int = 0o600
    waiters: list[tuple[Packet, str]] = field(default_factory=list)  # (ipc_wait request, "recv"/"send")
    # mq_notify's registration: (pid, its cluster then, SIGEV_SIGNAL or SIGEV_NONE, signo, value)
    notifier: tuple[int, int, int, int, int] | None = None


@dataclass(eq=False)
class Sem:
    """A named semaphore held by the IPC daemon."""

    value: int
    linked: bool = True
    opens: int = 0
    uid: int = 0
    gid: int = 0
    mode: int = 0o600
    waiters: list[tuple[Packet, str]] = field(default_factory=list)


def _own(o: Queue | Sem, b: MqOpen | SemOpen) -> None:
    """A new queue or semaphore: its maker's (root's if no cred came), the mode it gave."""
    if isinstance(b.mode, int):
        o.mode = b.mode
    if isinstance(b.cred, tuple):
        o.uid, o.gid = b.cred[0], b.cred[1]


@dataclass
class IpcHandle:
    """An open queue or semaphore: the processes that hold it (its opener, its forked
    children), its object and name."""

    holders: dict[int, None]  # pids, in order
    obj: Queue | Sem
    name: str


class IpcServer:
    def __init__(self, core: Core) -> None:
        self.spec = core.spec
        self.core = core  # (mq_notify's signal goes out through it)
        self.busy = core.busy  # the daemon core's: copying costs its time
        self._reply = core.reply
        self.queues: dict[str, Queue] = {}
        self.sems: dict[str, Sem] = {}
        self.ipc_handles: dict[int, IpcHandle] = {}
        self.ipc_by_pid: dict[int, dict[int, None]] = {}  # pid -> its handles, in order
        self.sem_handle: dict[tuple[int, Sem], int] = {}  # (pid, semaphore) -> its one handle
        self.sems_open: dict[int, int] = {}  # pid -> semaphores it has open
        self.ipc_alive = 0  # queues and semaphores that exist: linked, or unlinked and open
        self.ipc_next = 1
        self.ipc_seq = 0  # order of messages within a priority
        self.packets: dict[Kind, Handler] = {
            Kind.MQ_OPEN: self.on_mq_open, Kind.MQ_CLOSE: self.on_mq_close,
            Kind.MQ_UNLINK: self.on_mq_unlink, Kind.MQ_SEND: self.on_mq_send,
            Kind.MQ_RECEIVE: self.on_mq_receive, Kind.MQ_GETATTR: self.on_mq_getattr,
            Kind.MQ_NOTIFY: self.on_mq_notify,
            Kind.SEM_OPEN: self.on_sem_open, Kind.SEM_CLOSE: self.on_sem_close,
            Kind.SEM_UNLINK: self.on_sem_unlink, Kind.SEM_TRYWAIT: self.on_sem_trywait,
            Kind.SEM_POST: self.on_sem_post, Kind.SEM_GETVALUE: self.on_sem_getvalue,
            Kind.IPC_WAIT: self.on_ipc_wait}
        self.host: dict[str, HostCall] = {}

    def stats(self) -> dict[str, int]:
        return {"mq_queues": len(self.queues), "semaphores": len(self.sems), "ipc_objects": self.ipc_alive}

    def _names_full(self) -> bool:
        return self.ipc_alive >= self.spec.limits.ipc_max_names

    def _new_ipc_handle(self, pid: int, obj: Queue | Sem, name: str) -> int:
        hid = self.ipc_next
        self.ipc_next += 1
        self.ipc_handles[hid] = IpcHandle({}, obj, name)
        self._hold(pid, hid)
        return hid

    def _hold(self, pid: int, hid: int) -> None:
        """`pid` holds handle `hid` (opened it, or was forked by a holder)."""
        h = self.ipc_handles[hid]
        h.holders[pid] = None
        self.ipc_by_pid.setdefault(pid, {})[hid] = None
        if isinstance(h.obj, Sem):
            self.sem_handle[(pid, h.obj)] = hid
            self.sems_open[pid] = self.sems_open.get(pid, 0) + 1
        h.obj.opens += 1

    def _held(self, pid: int, hid: int) -> IpcHandle | None:
        h = self.ipc_handles.get(hid)
        return h if h is not None and pid in h.holders else None

    def _ipc_close(self, pid: int, hid: int) -> None:
        """`pid` lets go of `hid`; the handle goes with its last holder."""
        h = self.ipc_handles[hid]
        del h.holders[pid]
        if not h.holders:
            del self.ipc_handles[hid]
        mine = self.ipc_by_pid.get(pid, {})
        mine.pop(hid, None)
        if not mine:
            self.ipc_by_pid.pop(pid, None)
        if isinstance(h.obj, Sem):
            del self.sem_handle[(pid, h.obj)]
            self.sems_open[pid] -= 1
            if not self.sems_open[pid]:
                del self.sems_open[pid]
        h.obj.opens -= 1
        if isinstance(h.obj, Queue) and h.obj.notifier is not None and h.obj.notifier[0] == pid:
            h.obj.notifier = None  # (Linux: its registration goes when its registrant closes it)
        if not h.obj.linked and not h.obj.opens:
            self._ipc_gone(h.obj)

    def forked(self, parent: int, child: int) -> None:
        """A fork's child holds its parent's handles (the process manager tells)."""
        for hid in list(self.ipc_by_pid.get(parent, {})):
            self._hold(child, hid)

    def _ipc_gone(self, obj: Queue | Sem) -> None:
        """Unlinked and no longer open anywhere: it no longer exists."""
        obj.waiters.clear()
        if isinstance(obj, Queue):
            obj.msgs.clear()
        self.ipc_alive -= 1

    def _ipc_unlinked(self, obj: Queue | Sem) -> None:
        obj.linked = False
        if not obj.opens:
            self._ipc_gone(obj)

    def _queue(self, b: dict) -> tuple[int, Queue] | int:
        h = self._held(b.pid, b.handle)
        if h is not None and isinstance(h.obj, Queue):
            return b.handle, h.obj
        q = self.queues.get(b.name)
        if q is None:
            return -EBADF
        return self._new_ipc_handle(b.pid, q, b.name), q

    def _sem(self, b: dict) -> Sem | None:
        h = self._held(b.pid, b.handle)
        return h.obj if h is not None and isinstance(h.obj, Sem) else None

    def _notify(self, obj: Queue | Sem, what: str, at: int) -> None:
        """Tell the waiters for `what` that it may be ready now (they try again)."""
        keep = []
        for req, w in obj.waiters:
            if w in (what, "poll"):
                self._reply(req, at, ret=0)
            else:
                keep.append((req, w))
        obj.waiters = keep

    def process_ended(self, pid: int, at: int) -> None:
        # (a waiter always waits through a handle of its pid: its objects are those)
        for hid in list(self.ipc_by_pid.get(pid, {})):
            obj = self.ipc_handles[hid].obj
            obj.waiters = [(r, w) for r, w in obj.waiters if r.body.pid != pid]
            self._ipc_close(pid, hid)

    # message queues ---------------------------------------------------------------------------
    def on_mq_open(self, req: Packet, at: int) -> None:
        b = req.body
        name, flags = b.name, b.flags
        q = self.queues.get(name)
        if q is None:
            if not flags & O_CREAT:
                self._reply(req, at, ret=-ENOENT)
                return
            maxmsg, msgsize = b.maxmsg, b.msgsize
            if maxmsg is None:
                maxmsg, msgsize = self.spec.limits.mq_max_messages, self.spec.limits.mq_max_message_bytes
            elif not (0 < maxmsg <= self.spec.limits.mq_max_messages
                      and 0 < msgsize <= self.spec.limits.mq_max_message_bytes):
                self._reply(req, at, ret=-EINVAL)
                return
            if self._names_full():
                self._reply(req, at, ret=-ENOSPC)
                return
            q = self.queues[name] = Queue(maxmsg, msgsize)
            _own(q, b)
            self.ipc_alive += 1
        elif flags & O_CREAT and flags & O_EXCL:
            self._reply(req, at, ret=-EEXIST)
            return
        elif isinstance(b.cred, tuple) and not may(q, b.cred, (4, 2, 6)[flags & O_ACCMODE]):
            self._reply(req, at, ret=-EACCES)
            return
        self._reply(req, at, ret=0, handle=self._new_ipc_handle(b.pid, q, name))

    def on_mq_close(self, req: Packet, at: int) -> None:
        if self._held(req.body.pid, req.body.handle) is not None:
            self._ipc_close(req.body.pid, req.body.handle)

    def on_mq_unlink(self, req: Packet, at: int) -> None:
        q = self.queues.get(req.body.name)
        if q is not None and isinstance(req.body.cred, tuple) and req.body.cred[0] != q.uid:
            self._reply(req, at, ret=-EPERM)
            return
        q = self.queues.pop(req.body.name, None)
        if q is not None:
            self._ipc_unlinked(q)
        self._reply(req, at, ret=0 if q is not None else -ENOENT)

    def on_mq_send(self, req: Packet, at: int) -> None:
        b = req.body
        got = self._queue(b)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, q = got
        if len(req.data) > q.msgsize:
            self._reply(req, at, ret=-EMSGSIZE, handle=hid)
        elif len(q.msgs) >= q.maxmsg:
            self._reply(req, at, ret=-EAGAIN, handle=hid)
        else:
            self.ipc_seq += 1
            heapq.heappush(q.msgs, (-b.prio, self.ipc_seq, req.data))
            at = self._ipc_copy(at, len(req.data))
            self._reply(req, at, ret=0, handle=hid)
            if len(q.msgs) == 1 and q.notifier is not None and not any(w == "recv" for _, w in q.waiters):
                self._mq_notified(q, b.pid, at)  # (a receiver that waits takes it instead)
            self._notify(q, "recv", at)

    def on_mq_receive(self, req: Packet, at: int) -> None:
        b = req.body
        got = self._queue(b)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, q = got
        if b.size < q.msgsize:
            self._reply(req, at, ret=-EMSGSIZE, handle=hid)
        elif not q.msgs:
            self._reply(req, at, ret=-EAGAIN, handle=hid)
        else:
            prio, _, data = heapq.heappop(q.msgs)
            at = self._ipc_copy(at, len(data))
            self._reply(req, at, data=data, bulk=True, ret=len(data), prio=-prio, handle=hid)
            self._notify(q, "send", at)

    def on_mq_notify(self, req: Packet, at: int) -> None:
        """mq_notify: one process at a time is told when a message comes to the empty queue
        (and no receiver waits for it), once: a signal, or nothing (SIGEV_NONE)."""
        b = req.body
        got = self._queue(b)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, q = got
        if b.notify < 0:  # remove: only the registrant's own (another's stays; no error)
            if q.notifier is not None and q.notifier[0] == b.pid:
                q.notifier = None
        elif q.notifier is not None:
            self._reply(req, at, ret=-EBUSY, handle=hid)
            return
        else:
            q.notifier = (b.pid, req.src, b.notify, b.signo, b.value)
        self._reply(req, at, ret=0, handle=hid)

    def _mq_notified(self, q: Queue, sender: int, at: int) -> None:
        assert q.notifier is not None
        pid, cluster, notify, signo, value = q.notifier
        q.notifier = None  # (once: the process registers again for the next)
        if notify == SIGEV_SIGNAL and signo:  # to the process wherever it runs now (relayed if it moved)
            info = signals.info(signo, SI_MESGQ, sender, 0, value)
            self.core.send(cluster, SignalMsg(dst=pid, tid=0, info=list(info), op=0), at)

    def on_mq_getattr(self, req: Packet, at: int) -> None:
        got = self._queue(req.body)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, q = got
        self._reply(req, at, ret=0, attr=[q.maxmsg, q.msgsize, len(q.msgs)], handle=hid)

    def _ipc_copy(self, at: int, nbytes: int) -> int:
        cost = int(nbytes * self.spec.costs.copy_cycles_per_byte)
        return at if cost == 0 else self.busy.book(at, cost) + cost

    # semaphores -------------------------------------------------------------------------------
    def on_sem_open(self, req: Packet, at: int) -> None:
        b = req.body
        name, flags, pid = b.name, b.flags, b.pid
        s = self.sems.get(name)
        hid = self.sem_handle.get((pid, s)) if s is not None else None
        if s is not None and flags & O_CREAT and flags & O_EXCL:
            self._reply(req, at, ret=-EEXIST)
            return
        if s is None and not flags & O_CREAT:
            self._reply(req, at, ret=-ENOENT)
            return
        if s is not None and isinstance(b.cred, tuple) and not may(s, b.cred, 6):
            self._reply(req, at, ret=-EACCES)
            return
        if hid is None and self.sems_open.get(pid, 0) >= SEM_NSEMS_MAX:
            self._reply(req, at, ret=-EMFILE)  # (its unlinked, unclosed ones count too)
            return
        if s is None:
            if self._names_full():
                self._reply(req, at, ret=-ENOSPC)
                return
            s = self.sems[name] = Sem(b.value)
            _own(s, b)
            self.ipc_alive += 1
        # One handle per process and semaphore: sem_open of the same name gives the same sem_t.
        self._reply(req, at, ret=hid if hid is not None else self._new_ipc_handle(pid, s, name))

    def on_sem_close(self, req: Packet, at: int) -> None:
        h = self._held(req.body.pid, req.body.handle)
        if h is None or not isinstance(h.obj, Sem):
            self._reply(req, at, ret=-EINVAL)
            return
        self._ipc_close(req.body.pid, req.body.handle)
        self._reply(req, at, ret=0)

    def on_sem_unlink(self, req: Packet, at: int) -> None:
        s = self.sems.get(req.body.name)
        if s is not None and isinstance(req.body.cred, tuple) and req.body.cred[0] != s.uid:
            self._reply(req, at, ret=-EACCES)  # (sem_unlink(3)'s, as glibc turns unlink's EPERM)
            return
        s = self.sems.pop(req.body.name, None)
        if s is not None:
            self._ipc_unlinked(s)
        self._reply(req, at, ret=0 if s is not None else -ENOENT)

    def on_sem_trywait(self, req: Packet, at: int) -> None:
        s = self._sem(req.body)
        if s is None:
            self._reply(req, at, ret=-EINVAL)
        elif s.value == 0:
            self._reply(req, at, ret=-EAGAIN)
        else:
            s.value -= 1
            self._reply(req, at, ret=0)

    def on_sem_post(self, req: Packet, at: int) -> None:
        s = self._sem(req.body)
        if s is None:
            self._reply(req, at, ret=-EINVAL)
        elif s.value >= SEM_VALUE_MAX:
            self._reply(req, at, ret=-EOVERFLOW)
        else:
            s.value += 1
            self._reply(req, at, ret=0)
            self._notify(s, "sem", at)

    def on_sem_getvalue(self, req: Packet, at: int) -> None:
        s = self._sem(req.body)
        self._reply(req, at, ret=-EINVAL if s is None else 0, value=0 if s is None else s.value)

    # waiting ----------------------------------------------------------------------------------
    # poll and select (daemons/polls.py): Linux's mqueue_poll_file ------------------------------
    def _find(self, pid: int, handle: int, name: str) -> Queue | None:
        h = self._held(pid, handle)
        if h is not None and isinstance(h.obj, Queue):
            return h.obj
        return self.queues.get(name)  # (a handle of an image restored elsewhere: by name)

    def poll_mask(self, pid: int, handle: int, name: str) -> int:
        q = self._find(pid, handle, name)
        if q is None:
            return 0x8 | 0x10  # POLLERR | POLLHUP: gone under the descriptor
        return (0x1 | 0x40 if q.msgs else 0) | (0x4 | 0x100 if len(q.msgs) < q.maxmsg else 0)

    def poll_watch(self, pid: int, handle: int, name: str, req: Packet, at: int) -> Callable[[], None]:
        """Answer `req` when queue `handle` gets or loses a message; the call that forgets it."""
        q = self._find(pid, handle, name)
        if q is not None:
            q.waiters.append((req, "poll"))

        def forget() -> None:
            if q is not None:
                q.waiters = [(r, w) for r, w in q.waiters if r is not req]
        return forget

    def on_ipc_wait(self, req: Packet, at: int) -> None:
        """Answered when `what` may be ready: at once if it is now (or the handle is bad:
        the call made again says why)."""
        b = req.body
        what = b.what
        obj: Queue | Sem | None
        if what == "sem":
            obj = self._sem(b)
            ready = obj is None or obj.value > 0
        else:
            got = self._queue(b)
            obj = None if isinstance(got, int) else got[1]
            ready = obj is None or (bool(obj.msgs) if what == "recv" else len(obj.msgs) < obj.maxmsg)
        if ready or obj is None:
            self._reply(req, at, ret=0)
            return
        # A thread waits once: an earlier wait of it (timed out) is dropped.
        obj.waiters = [(r, w) for r, w in obj.waiters
                       if (r.body.pid, r.body.tid) != (b.pid, b.tid)]
        obj.waiters.append((req, what))

"""The IPC daemon: POSIX message queues and named semaphores, a daemon of I/O cluster 0.

Part of `Services` (shoal/services.py), reached only through NoC packets from the kernels
(shoal/kernel/ipc.py), so processes on any clusters share them. Names are global to the chip
(a leading `/` is dropped, as Linux and musl do).

- A queue holds at most `maxmsg` messages of at most `msgsize` bytes (given at creation,
  bounded by the ChipSpec's `mq_max_messages` and `mq_max_message_bytes`, which are also the
  defaults, as Linux's /proc/sys/fs/mqueue); messages come out highest priority first, in
  the order they were sent within a priority.
- A semaphore is a counter up to SEM_VALUE_MAX.
- At most `ipc_max_names` queues and semaphores exist at once (ENOSPC). An unlinked one lives
  on for the handles still open on it.
- Every operation here is immediate: it succeeds or answers EAGAIN. Blocking is the kernel's
  (kernel/ipc.py): after EAGAIN it sends `ipc_wait`, answered when the object may have become
  ready (at once if it already is), and then makes the call again. Waiting thus consumes
  nothing, so a freeze may back a wait out, and a wait that times out leaves nothing behind
  but a stale waiter, whose answer its kernel drops.
- Handles belong to a pid (global: they follow a migrating process) and are closed when it
  ends. A queue handle the daemon does not know (an image restored on another chip) is opened
  again by the queue's name, as files are (fileserver.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from shoal.platform.calendar import Calendar
from shoal.platform.noc import Packet
from shoal.spec import ChipSpec

ENOENT, EBADF, EAGAIN, EEXIST, EINVAL, ENOSPC, EMSGSIZE, EOVERFLOW = 2, 9, 11, 17, 22, 28, 90, 75
O_ACCMODE, O_WRONLY, O_RDWR, O_CREAT, O_EXCL = 3, 1, 2, 0o100, 0o200
SEM_VALUE_MAX = 0x7FFFFFFF
MQ_PRIO_MAX = 32768


@dataclass
class Queue:
    """A POSIX message queue held by the IPC daemon."""

    maxmsg: int
    msgsize: int
    msgs: list[tuple[int, int, bytes]] = field(default_factory=list)  # heap of (-prio, seq, data)
    linked: bool = True
    opens: int = 0
    waiters: list[tuple[Packet, str]] = field(default_factory=list)  # (ipc_wait request, "recv"/"send")


@dataclass
class Sem:
    """A named semaphore held by the IPC daemon."""

    value: int
    linked: bool = True
    opens: int = 0
    waiters: list[tuple[Packet, str]] = field(default_factory=list)


@dataclass
class IpcHandle:
    """An open queue or semaphore: its owner, object and name."""

    pid: int
    obj: Queue | Sem
    name: str


class IpcServer:
    """Mixed into Services: its `on_mq_*`, `on_sem_*` and `on_ipc_wait` are daemon handlers."""

    spec: ChipSpec
    busy: Calendar

    _reply: Callable[..., None]  # Services' own (a mixin declares what it uses)

    def ipc_init(self) -> None:
        self.queues: dict[str, Queue] = {}
        self.sems: dict[str, Sem] = {}
        self.ipc_handles: dict[int, IpcHandle] = {}
        self.ipc_next = 1
        self.ipc_seq = 0  # order of messages within a priority

    def _names_full(self) -> bool:
        return len(self.queues) + len(self.sems) >= self.spec.ipc_max_names

    def _new_ipc_handle(self, pid: int, obj: Queue | Sem, name: str) -> int:
        hid = self.ipc_next
        self.ipc_next += 1
        self.ipc_handles[hid] = IpcHandle(pid, obj, name)
        obj.opens += 1
        return hid

    def _ipc_close(self, hid: int) -> None:
        h = self.ipc_handles.pop(hid)
        h.obj.opens -= 1

    def _queue(self, b: dict) -> tuple[int, Queue] | int:
        h = self.ipc_handles.get(b["handle"])
        if h is not None and h.pid == b["pid"] and isinstance(h.obj, Queue):
            return b["handle"], h.obj
        q = self.queues.get(b["name"])
        if q is None:
            return -EBADF
        return self._new_ipc_handle(b["pid"], q, b["name"]), q

    def _sem(self, b: dict) -> Sem | None:
        h = self.ipc_handles.get(b["handle"])
        return h.obj if h is not None and h.pid == b["pid"] and isinstance(h.obj, Sem) else None

    def _notify(self, obj: Queue | Sem, what: str, at: int) -> None:
        """Tell the waiters for `what` that it may be ready now (they try again)."""
        keep = []
        for req, w in obj.waiters:
            if w == what:
                self._reply(req, at, ret=0)
            else:
                keep.append((req, w))
        obj.waiters = keep

    def ipc_process_ended(self, pid: int) -> None:
        for hid in [hid for hid, h in self.ipc_handles.items() if h.pid == pid]:
            self._ipc_close(hid)
        for obj in [*self.queues.values(), *self.sems.values()]:
            obj.waiters = [(r, w) for r, w in obj.waiters if r.body["pid"] != pid]

    # message queues ---------------------------------------------------------------------------
    def on_mq_open(self, req: Packet, at: int) -> None:
        b = req.body
        name, flags = b["name"], b["flags"]
        q = self.queues.get(name)
        if q is None:
            if not flags & O_CREAT:
                self._reply(req, at, ret=-ENOENT)
                return
            maxmsg, msgsize = b["maxmsg"], b["msgsize"]
            if maxmsg is None:
                maxmsg, msgsize = self.spec.mq_max_messages, self.spec.mq_max_message_bytes
            elif not (0 < maxmsg <= self.spec.mq_max_messages
                      and 0 < msgsize <= self.spec.mq_max_message_bytes):
                self._reply(req, at, ret=-EINVAL)
                return
            if self._names_full():
                self._reply(req, at, ret=-ENOSPC)
                return
            q = self.queues[name] = Queue(maxmsg, msgsize)
        elif flags & O_CREAT and flags & O_EXCL:
            self._reply(req, at, ret=-EEXIST)
            return
        self._reply(req, at, ret=0, handle=self._new_ipc_handle(b["pid"], q, name))

    def on_mq_close(self, req: Packet, at: int) -> None:
        h = self.ipc_handles.get(req.body["handle"])
        if h is not None and h.pid == req.body["pid"]:
            self._ipc_close(req.body["handle"])
            if not h.obj.linked and not h.obj.opens:
                h.obj.waiters.clear()

    def on_mq_unlink(self, req: Packet, at: int) -> None:
        q = self.queues.pop(req.body["name"], None)
        if q is not None:
            q.linked = False
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
            heapq.heappush(q.msgs, (-b["prio"], self.ipc_seq, req.data))
            at = self._ipc_copy(at, len(req.data))
            self._reply(req, at, ret=0, handle=hid)
            self._notify(q, "recv", at)

    def on_mq_receive(self, req: Packet, at: int) -> None:
        b = req.body
        got = self._queue(b)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, q = got
        if b["size"] < q.msgsize:
            self._reply(req, at, ret=-EMSGSIZE, handle=hid)
        elif not q.msgs:
            self._reply(req, at, ret=-EAGAIN, handle=hid)
        else:
            prio, _, data = heapq.heappop(q.msgs)
            at = self._ipc_copy(at, len(data))
            self._reply(req, at, data=data, bulk=True, ret=len(data), prio=-prio, handle=hid)
            self._notify(q, "send", at)

    def on_mq_getattr(self, req: Packet, at: int) -> None:
        got = self._queue(req.body)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, q = got
        self._reply(req, at, ret=0, attr=[q.maxmsg, q.msgsize, len(q.msgs)], handle=hid)

    def _ipc_copy(self, at: int, nbytes: int) -> int:
        cost = int(nbytes * self.spec.copy_cycles_per_byte)
        return at if cost == 0 else self.busy.book(at, cost) + cost

    # semaphores -------------------------------------------------------------------------------
    def on_sem_open(self, req: Packet, at: int) -> None:
        b = req.body
        name, flags, pid = b["name"], b["flags"], b["pid"]
        s = self.sems.get(name)
        if s is None:
            if not flags & O_CREAT:
                self._reply(req, at, ret=-ENOENT)
                return
            if self._names_full():
                self._reply(req, at, ret=-ENOSPC)
                return
            s = self.sems[name] = Sem(b["value"])
        elif flags & O_CREAT and flags & O_EXCL:
            self._reply(req, at, ret=-EEXIST)
            return
        # One handle per process and semaphore: sem_open of the same name gives the same sem_t.
        hid = next((hid for hid, h in self.ipc_handles.items() if h.pid == pid and h.obj is s), None)
        self._reply(req, at, ret=hid if hid is not None else self._new_ipc_handle(pid, s, name))

    def on_sem_close(self, req: Packet, at: int) -> None:
        h = self.ipc_handles.get(req.body["handle"])
        if h is None or h.pid != req.body["pid"] or not isinstance(h.obj, Sem):
            self._reply(req, at, ret=-EINVAL)
            return
        self._ipc_close(req.body["handle"])
        self._reply(req, at, ret=0)

    def on_sem_unlink(self, req: Packet, at: int) -> None:
        s = self.sems.pop(req.body["name"], None)
        if s is not None:
            s.linked = False
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
    def on_ipc_wait(self, req: Packet, at: int) -> None:
        """Answered when `what` may be ready: at once if it is now (or the handle is bad:
        the call made again says why)."""
        b = req.body
        what = b["what"]
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
                       if (r.body["pid"], r.body["tid"]) != (b["pid"], b["tid"])]
        obj.waiters.append((req, what))

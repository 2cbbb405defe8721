"""poll, ppoll, select and pselect on sockets and POSIX message queues: a server of I/O cluster
0 (kernel/calls/poll.py asks it), next to the socket server and the IPC daemon that hold them.

A `poll_query` lists a thread's socket and queue descriptors (by handle, and a queue's name
too) with the bits its call tests; the answer gives each one's readiness mask (Linux's, see
daemons/sockpoll.py and IpcServer.poll_mask). With `wait`, and none of them ready, the query
is parked on every object it names (their waiter lists, as a blocked call's wait is) and
answered, without masks, when one of them may have changed; the kernel then makes the call
again. A thread has at most one parked query: its next query, a `poll_cancel` of it (its wait
ended by a timeout, a signal or a pipe) or its process's end forgets it.
"""

from __future__ import annotations

from collections.abc import Callable

from shoal.daemons.core import Core, Handler, HostCall
from shoal.messages import Kind
from shoal.platform.noc import Packet

MaskFn = Callable[[int, int, str], int]  # (pid, handle, name) -> mask
WatchFn = Callable[[int, int, str, Packet, int], Callable[[], None]]  # ... req, at -> forget
MAX_ITEMS = 1024  # descriptors in one query (the kernel's RLIMIT_NOFILE bound)


class PollServer:
    def __init__(self, core: Core, masks: dict[str, MaskFn], watches: dict[str, WatchFn]) -> None:
        self._reply = core.reply
        self.masks, self.watches = masks, watches
        # (pid, tid) -> the parked query's op, and what forgets it at each object
        self.parked: dict[tuple[int, int], tuple[int, list[Callable[[], None]]]] = {}
        self.packets: dict[Kind, Handler] = {Kind.POLL_QUERY: self.on_query, Kind.POLL_CANCEL: self.on_cancel}
        self.host: dict[str, HostCall] = {}

    def stats(self) -> dict[str, int]:
        return {"polls_waiting": len(self.parked)}

    def _forget(self, pid: int, tid: int, op: int | None = None) -> None:
        got = self.parked.get((pid, tid))
        if got is not None and op in (None, got[0]):
            del self.parked[(pid, tid)]
            for forget in got[1]:
                forget()

    def on_query(self, req: Packet, at: int) -> None:
        b = req.body
        self._forget(b.pid, b.tid)
        items = [it for it in b.items[:MAX_ITEMS] if it[0] in self.masks]
        if len(items) != len(b.items) or len(b.want) != len(items):
            self._reply(req, at, ret=-22)  # EINVAL: (kernels send only what they hold)
            return
        masks = [self.masks[kind](b.pid, handle, name) for kind, handle, name in items]
        if not b.wait or any(m & w for m, w in zip(masks, b.want, strict=True)):
            self._reply(req, at, ret=0, attr=masks)
            return
        self.parked[(b.pid, b.tid)] = (b.op, [self.watches[kind](b.pid, handle, name, req, at)
                                              for kind, handle, name in items])

    def on_cancel(self, pkt: Packet, at: int) -> None:
        self._forget(pkt.body.pid, pkt.body.tid, pkt.body.op)

    def process_ended(self, pid: int, at: int) -> None:
        for key in [key for key in self.parked if key[0] == pid]:
            self._forget(*key)

"""The I/O cluster node: the daemons' dispatcher, as the engine sees it (shoal/engine/local.py, mpi.py).

It runs the servers of daemons/ on I/O cluster 0 and is reached only through NoC packets.
Each request occupies the daemon core for `service_cycles`, so requests queue. Like a compute
cluster's kernel, the node takes packets in order of arrival, and only below the horizon the
engine gives (see kernel/sched.py); console packets are a stream of their own, taken in order
of arrival without service time (daemons/console.py).

Dispatch is by tables: each server lists the packet kinds it serves (`packets`: kind ->
handler) and the host's requests it answers (`host`: name -> function); the node merges them
into one table of each, and refuses at construction a kind of IO_KINDS nobody serves, a kind
served twice, or a kind outside IO_KINDS. Servers hold no reference to each other: the node
gives each the few calls it needs (the process manager's `locate`/`residents`, the
io_memory used by both memory homes, the calls made when a process ends).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

from shoal.abi import ENOMEM
from shoal.daemons.console import Console, ConsoleSink
from shoal.daemons.core import Handler, HostCall
from shoal.daemons.files import FileServer
from shoal.daemons.ipc import IpcServer
from shoal.daemons.names import NameServer
from shoal.daemons.policy import PolicyServer
from shoal.daemons.polls import PollServer
from shoal.daemons.procman import ProcessManager
from shoal.daemons.rmem import RemoteMemory
from shoal.daemons.shm import SharedMemory
from shoal.daemons.sockets import SocketServer
from shoal.daemons.sysv import SysvServer
from shoal.errors import ShoalError
from shoal.messages import Body, Fork, NocError, Reply
from shoal.messages import Kind as K
from shoal.platform.calendar import Calendar
from shoal.platform.noc import Packet, packet
from shoal.spec import ChipSpec

NEVER = 1 << 62

# The packet kinds the compute clusters' kernels send to the I/O cluster (the protocol): each
# is served by exactly one server. `console` is a stream (Console.streams), the others requests.
IO_KINDS = frozenset({
    K.CONSOLE, K.NOC_ERROR, K.STDIN,
    K.LOCATED, K.MOVED, K.RELAY, K.LOCATE, K.SPAWN, K.REPLY, K.EXIT, K.CHILD_STATE, K.WAIT,
    K.FORK, K.EXEC, K.WAIT_CHILD, K.PGRP, K.KILL_GROUP,
    K.NAME_LINK, K.NAME_LOOKUP, K.NAME_UNLINK,
    K.LOAD_REPORT, K.POLICY_REFUSED,
    K.RMEM_PUT, K.RMEM_FREE, K.RMEM_GET, K.RMEM_DUP,
    K.SHM_OPEN, K.SHM_CLOSE, K.SHM_TRUNCATE, K.SHM_UNLINK, K.SHM_GET, K.SHM_BACK, K.FUTEX_WAKE,
    K.FS_OPEN, K.FS_CLOSE, K.FS_READ, K.FS_WRITE, K.FS_TRUNCATE, K.FS_STAT, K.FS_GETDENTS,
    K.FS_MKDIR, K.FS_UNLINK, K.FS_RENAME, K.FS_SETATTR, K.FS_LINK, K.FS_SYMLINK, K.FS_READLINK,
    K.FS_STATFS, K.FS_FALLOCATE, K.FS_LOCK,
    K.MQ_OPEN, K.MQ_CLOSE, K.MQ_UNLINK, K.MQ_SEND, K.MQ_RECEIVE, K.MQ_GETATTR, K.MQ_NOTIFY,
    K.SEM_OPEN, K.SEM_CLOSE, K.SEM_UNLINK, K.SEM_TRYWAIT, K.SEM_POST, K.SEM_GETVALUE, K.IPC_WAIT,
    K.SYSV_GET, K.SYSV_CTL, K.MSG_SND, K.MSG_RCV, K.SEM_OP, K.SHM_AT, K.SHM_DT, K.SYSV_WAIT, K.SYSV_CANCEL,
    K.SOCK_NEW, K.SOCK_BIND, K.SOCK_LISTEN, K.SOCK_CONNECT, K.SOCK_ACCEPT, K.SOCK_SEND, K.SOCK_RECV,
    K.SOCK_SHUTDOWN, K.SOCK_NAME, K.SOCK_OPT, K.SOCK_REF, K.SOCK_WAIT,
    K.POLL_QUERY, K.POLL_CANCEL,
})


def merge(tables: Iterable[tuple[str, dict[Any, Any]]], what: str) -> dict[Any, Any]:
    """One table from the servers' (server name, table) pairs; a name served twice is an error."""
    out: dict[Any, Any] = {}
    owner: dict[str, str] = {}
    for server, table in tables:
        for name, fn in table.items():
            if name in out:
                raise ShoalError(f"I/O cluster: {what} {str(name)!r} is served by both {owner[name]} "
                                 f"and {server}")
            out[name], owner[name] = fn, server
    return out


class IoNode:
    """The I/O cluster as one node of the engine. 25 attributes, on purpose: the engine's
    interface (queues, outbox, horizon, limit, lookahead, counters: what kernel/sched.py's
    nodes have too), the daemon core's calendar, the eleven servers (one per concern, each owning
    its state: nothing here is daemon state) and the three dispatch tables."""

    def __init__(self, spec: ChipSpec, node: int, seed: int, sink: ConsoleSink | None = None) -> None:
        self.spec = spec
        self.node = node
        self.inbox: list[tuple[int, int, Packet]] = []  # requests: heap of (arrival, seq, packet)
        self.stream: list[tuple[int, int, Packet]] = []  # console packets, the same way
        self.outbox: list[Packet] = []
        self.sent = 0
        self.horizon = self.limit = NEVER
        self.lookahead = 1
        self.busy = Calendar()  # the daemon core's
        self.requests = 0
        # The servers, and the narrow calls they make to each other.
        self.console = Console(self, sink)
        self.names = NameServer(self)
        self.files = FileServer(self)
        self.ipc = IpcServer(self)
        self.rmem = RemoteMemory(self, self._locate, self._io_used)
        self.shm = SharedMemory(self, self._io_used, self.files)
        self.files.sync = self.shm.file_sync  # (read and write of a mapped file: daemons/shm.py)
        self.sysv = SysvServer(self, self.shm.segment_new, self.shm.segment_size, self.shm.segment_attach,
                               self.shm.segment_remove)
        self.sockets = SocketServer(self, self.files.sock_bind, self.files.sock_find)
        self.polls = PollServer(self, {"sock": self.sockets.poll_mask, "mq": self.ipc.poll_mask},
                                {"sock": self.sockets.poll_watch, "mq": self.ipc.poll_watch})
        self.policy = PolicyServer(self, self._locate, self._residents)
        self.procman = ProcessManager(self, seed, self.policy, [
            self.names.process_ended, self.rmem.process_ended, self.files.process_ended,
            self.ipc.process_ended, self.sysv.process_ended, self.shm.process_ended,
            self.sockets.process_ended, self.polls.process_ended],
            self.files.fs.program_at, self._forked, self._fork_memory)
        servers = [("console", self.console), ("procman", self.procman), ("names", self.names),
                   ("policy", self.policy), ("rmem", self.rmem), ("shm", self.shm),
                   ("files", self.files), ("ipc", self.ipc), ("sysv", self.sysv), ("sockets", self.sockets),
                   ("polls", self.polls)]
        self.streams: dict[K, Callable[[Packet], None]] = dict(self.console.streams)
        everything = merge([("console streams", self.streams), ("node", {K.NOC_ERROR: self.on_noc_error}),
                            *((n, s.packets) for n, s in servers)], "packet kind")
        missing, stray = sorted(IO_KINDS - set(everything)), sorted(set(everything) - IO_KINDS)
        if missing:
            raise ShoalError(f"I/O cluster: no server for packet kind {', '.join(missing)}")
        if stray:
            raise ShoalError(f"I/O cluster: packet kind {', '.join(stray)} served but not in IO_KINDS")
        self.handlers: dict[K, Handler] = {k: f for k, f in everything.items() if k not in self.streams}
        self.host: dict[str, HostCall] = merge(
            [("node", {"add_file": self.add_file, "stats": self.stats}), *((n, s.host) for n, s in servers)],
            "host request")

    # the node's own host requests -------------------------------------------------------------
    def add_file(self, name: str, data: bytes) -> None:
        """A read-only file of the chip's image: in the file system, and a program spawn loads."""
        self.files.fs.add_readonly(name, data)
        self.procman.add_image(name, data)

    def stats(self) -> dict[str, int]:
        return {"requests": self.requests, **self.procman.stats(), **self.rmem.stats(),
                **self.files.stats(), **self.ipc.stats(), **self.sysv.stats(), **self.shm.stats(),
                **self.sockets.stats(), **self.polls.stats()}

    def request(self, name: str, *args: Any) -> Any:
        """A host request (backend.daemons): plain data in, plain data out."""
        fn = self.host.get(name)
        if fn is None:
            raise ShoalError(f"I/O cluster: no host request {name!r}")
        return fn(*args)

    # narrow calls between servers -------------------------------------------------------------
    def _locate(self, pid: int) -> tuple[int, bool]:
        return self.procman.locate(pid)

    def _fork_memory(self, fork: Fork, cluster: int, at: int) -> int:
        """Before a fork's child is made: the anonymous shared memory its parent's kernel made
        an object of is adopted (whatever becomes of the fork), and there must be room for
        the child's copies of the parent's pages in remote memory (else -ENOMEM)."""
        if fork.anon:
            self.shm.adopt(fork.anon, fork.pid, cluster, at)
        if fork.rmem and not self.rmem.dup_fits(fork.pid, fork.rmem):
            return -ENOMEM
        return 0

    def _forked(self, parent: int, child: int, fork: Fork, at: int) -> int:
        """A fork's child shares its parent's open files, sockets, message queues and named
        semaphores, shared memory objects and System V attachments, and gets copies of its
        pages in remote memory; returns when the daemon core is done."""
        self.files.forked(parent, child)
        self.sockets.forked(parent, child)
        self.ipc.forked(parent, child)
        self.shm.forked(parent, child)
        self.sysv.forked(parent, child)
        return self.rmem.dup(parent, child, fork.rmem, at) if fork.rmem else at

    def _residents(self, cluster: int) -> list[int]:
        return self.procman.residents(cluster)

    def _io_used(self) -> int:
        """io_memory held by the two memory homes (remote memory's pages and shared pages)."""
        return self.rmem.rmem_bytes + self.shm.shm_bytes

    # the engine's interface -------------------------------------------------------------------
    def deliver(self, pkt: Packet) -> None:
        heapq.heappush(self.stream if pkt.kind in self.streams else self.inbox, (pkt.arrival, pkt.seq, pkt))

    def next_time(self) -> int:
        """Earliest packet to take (a console packet too)."""
        return min(self.inbox[0][0] if self.inbox else NEVER, self.stream[0][0] if self.stream else NEVER)

    def advance(self, horizon: int, limit: int, window: int = 0) -> int:
        """Take packets below the horizon and the limit (as a kernel does; the daemons have
        no slices for `window` to bound); the time of the next one."""
        self.horizon, self.limit = horizon, limit  # the horizon drops as the daemons send
        if self.inbox:  # requests come in order of arrival: earlier gaps are of no use
            self.busy.prune(self.inbox[0][0])
        while True:
            end = min(self.horizon, limit)
            req = self.inbox[0] if self.inbox and self.inbox[0][0] < end else None
            con = self.stream[0] if self.stream and self.stream[0][0] < end else None
            if con is not None and (req is None or con[:2] < req[:2]):
                heapq.heappop(self.stream)
                self.streams[con[2].kind](con[2])
            elif req is not None:
                arrival, _, pkt = heapq.heappop(self.inbox)
                self.requests += 1
                self.handle(pkt, self._serve(arrival))
            else:
                return self.next_time()

    def handle(self, pkt: Packet, at: int) -> None:
        """Serve a request at `at` (its service on the daemon core done)."""
        fn = self.handlers.get(pkt.kind)
        if fn is None:
            raise ShoalError(f"I/O cluster: no server for packet kind {str(pkt.kind)!r} "
                             f"(from cluster {pkt.src})")
        fn(pkt, at)

    def _serve(self, at: int) -> int:
        cost = self.spec.ikc.service_cycles
        return self.busy.book(at, cost) + cost

    # what the servers may do (daemons/core.py) ----------------------------------------------------
    def send(self, dst: int, body: Body, at: int, data: bytes = b"", bulk: bool = False) -> None:
        """A reply or a program on its way; billed by its size (platform/noc.py: packet)."""
        pkt = packet(self.spec, self.node, dst, body, data, at, "bulk" if bulk else "control")
        self.sent += 1
        pkt.seq = self.sent
        self.outbox.append(pkt)
        self.horizon = min(self.horizon, at + 2 * self.lookahead)  # there and back

    def reply(self, req: Packet, at: int, data: bytes = b"", bulk: bool = False, **fields: Any) -> None:
        self.send(req.src, Reply(op=req.body.op, **fields), at, data, bulk)  # type: ignore[attr-defined]

    def on_noc_error(self, note: Packet, at: int) -> None:
        """The NoC lost something the daemons sent (an answer, a program, an acknowledgement):
        a daemon is reliable, it sends it again (a test's injected losses are finite)."""
        b: NocError = note.body  # type: ignore[assignment]
        self.send(b.to, b.body, at, b.data, b.form == "bulk")

"""System daemons on an I/O cluster: process manager, name service, file image, console.

They run as kernel-level daemons of I/O cluster 0 and are reached only through NoC
packets; each request occupies the daemon core for `service_cycles`, so requests queue.
Like a compute cluster's kernel, they take packets in order of arrival, and only below
the horizon the engine gives (see kernel/sched.py).

The console receives every process's standard output and error as packets and passes
them to the host in order of arrival: the interleaving of several processes' output is
a matter of simulated time, the same under any engine or backend. It acknowledges what it
takes to the cluster that sent it (once per ACK_EVERY bytes), which keeps a bounded
window in flight (kernel/console.py).
It keeps what each process wrote for `Process.stdout`/`stderr`, bounded: with a sink (the
CLI streams output to the host) only the last TAIL bytes of each stream; without one, all of
it up to CAPTURE bytes for the whole chip, beyond which the oldest bytes of the largest
stream go (counted in `dropped`). So the host's memory for output never grows with what a
guest writes.

The process manager is the authority on where each process lives; its part in keeping
locations right after migrations (moves applied in order, pointers dropped, packets that
went astray routed or refused) is described in shoal/kernel/location.py.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from shoal.abi import EBADF, EFBIG, ENOSPC
from shoal.fileserver import O_CREAT, O_EXCL, FileServer
from shoal.ipcserver import IpcServer
from shoal.kernel.console import ACK_EVERY
from shoal.kernel.loader import loadable_image
from shoal.kernel.location import REFUSAL
from shoal.platform.calendar import Calendar
from shoal.platform.noc import Packet, packet
from shoal.policy import Evacuate, Policy, PolicyDaemon
from shoal.spec import ChipSpec

ENOENT, ESRCH, EINVAL, EEXIST, ECHILD, EAGAIN, EIO = 2, 3, 22, 17, 10, 11, 5


@dataclass
class ProcRecord:
    """The process manager's record of a process."""

    pid: int
    cluster: int
    name: str
    status: int | None = None  # Linux wait status once ended
    waiters: list[Packet] = field(default_factory=list)
    version: int = 0  # unique; changes with each move applied; stamps the packets relayed
    early_moves: list[Packet] = field(default_factory=list)  # `moved` waiting for its predecessor
    parked: list[Packet] = field(default_factory=list)  # relayed packets waiting for a newer record
    parent: int = 0  # the pid whose shoal_spawn made it (0: the host's); only it may wait
    reaped: bool = False  # its status went to its parent's wait


ConsoleSink = Callable[[int, int, bytes], None]  # (pid, fd, data)
NEVER = 1 << 62
# What the console keeps of each process's output (bytes): with a sink, the tail of each
# stream (enough for an error message or a last screen of results); without, the whole
# output up to a cap per chip (far above what tests and experiments print).
TAIL = 64 * 1024
CAPTURE = 64 * 1024 * 1024


@dataclass
class ShmObject:
    """A shared memory object at its home (kernel/shm.py): its size; the bytes of its pages
    that exist (a page exists once first touched, and counts against io_memory; current
    unless a writer holds it); which clusters hold each page, by grant (a number unique on
    the chip) and mode (one writer or many readers); the requests waiting for each page
    (cluster, for writing?, the grant it held last); the copies being recalled; the pids
    that open or map it (it goes when unlinked and none is left); the clusters told of it."""

    size: int = 0
    pages: dict[int, bytes] = field(default_factory=dict)
    holders: dict[int, dict[int, tuple[int, bool]]] = field(default_factory=dict)
    queue: dict[int, list[tuple[int, bool, int]]] = field(default_factory=dict)
    recalled: set[tuple[int, int]] = field(default_factory=set)
    pids: set[int] = field(default_factory=set)
    linked: bool = True
    seen: set[int] = field(default_factory=set)
    truncating: list[tuple[Packet, set[int]]] = field(default_factory=list)  # (request, pages left)


TRUNCATE = -1  # in a page's queue: an ftruncate that waits for the page to come home


class Services(FileServer, IpcServer):
    def __init__(self, spec: ChipSpec, node: int, seed: int, sink: ConsoleSink | None = None) -> None:
        self.spec = spec
        self.node = node
        self.seed = seed
        self.procs: dict[int, ProcRecord] = {}
        self.names: dict[str, int] = {}
        self.files: dict[str, bytes] = {}
        self.images: dict[str, bytes] = {}  # what a spawn sends: the loadable part of each file
        self.next_pid = 1
        self.inbox: list[tuple[int, int, Packet]] = []  # requests: heap of (arrival, seq, packet)
        self.console: list[tuple[int, int, Packet]] = []  # console packets, the same way
        self.outbox: list[Packet] = []
        self.sent = 0
        self.sink = sink
        self.horizon = self.limit = NEVER
        self.lookahead = 1
        self.output: dict[int, tuple[bytearray, bytearray]] = {}  # pid -> (stdout, stderr)
        self.stdin: dict[int, object] = {}  # pid -> bytes, or a source read when first asked
        self.stdin_pos: dict[int, int] = {}
        self.dropped: dict[int, list[int]] = {}  # pid -> bytes of (stdout, stderr) not kept
        self.kept = 0  # bytes held in `output`
        self.unacked: dict[int, int] = {}  # cluster -> console bytes taken, not yet acknowledged
        self.busy = Calendar()  # the daemon core's
        # Remote memory (kernel/rmem.py): pages kept for processes, by pid (not by cluster: a
        # process that moves fetches them from wherever it runs), within ChipSpec.io_memory,
        # each as (version, bytes); and the requests for a version not here yet, by (pid, page):
        # (version, who asked). A write-back can arrive after the request for it (it waits
        # behind its cluster's DMA engine, or was lost and sent again): the request waits.
        self.rmem: dict[int, dict[int, tuple[int, bytes]]] = {}
        self.rmem_bytes = 0
        self.rmem_asked: dict[tuple[int, int], list[tuple[int, int]]] = {}
        # Pages freed (unmapped) while their last write-back was still on its way: that
        # write-back is dropped when it comes (by version), and forgotten then.
        self.rmem_freed: dict[tuple[int, int], int] = {}
        # Shared memory (kernel/shm.py): objects by name, each the home of its pages (one
        # writer or many readers at a time; a queue of the requests waiting for each page).
        self.shm_names: dict[str, int] = {}
        self.shm_objs: dict[int, ShmObject] = {}
        self.shm_by_pid: dict[int, set[int]] = {}  # pid -> objects it opens or maps
        self.shm_next = 1  # object numbers are never used twice
        self.shm_grants = 0  # grant numbers, unique on the chip
        self.shm_bytes = 0  # pages held here, within io_memory with remote memory's
        self.spawning: dict[int, tuple[Packet, int]] = {}  # load op -> (spawn request, new pid)
        self._ops = 0
        self.requests = 0
        self._versions = 0  # record versions are unique across pids and restores
        self.relayed = 0  # packets routed for kernels that no longer had their process
        self.refused = 0  # ... refused because the process had ended
        self.waited = 0  # ... kept until a newer record (its record was behind)
        self.early_moves = 0  # `moved` packets that arrived before their predecessor
        self.policy = PolicyDaemon(spec)  # automatic migration policies (shoal/policy.py)
        self.fs_init()
        self.ipc_init()

    # host-side boot path (the loader of the chip, before or between runs) -----------------
    def new_pid(self, cluster: int, name: str) -> int:
        pid = self.next_pid
        self.next_pid += 1
        self._record(pid, cluster, name)
        return pid

    def adopt_pid(self, pid: int, cluster: int, name: str) -> None:
        """A restored process keeps its pid; later pids start above it."""
        self._record(pid, cluster, name)
        self.next_pid = max(self.next_pid, pid + 1)

    def _record(self, pid: int, cluster: int, name: str) -> None:
        self._versions += 1  # a packet stamped under an earlier record of this pid is routed anew
        self.procs[pid] = ProcRecord(pid, cluster, name, version=self._versions)

    # locations (shoal/kernel/location.py, steps 3 to 5) -------------------------------------
    def on_located(self, pkt: Packet, at: int) -> None:
        """A kernel says where a process was found for a packet the daemons sent it (only
        rmem_full is sent so): the process manager learns locations from the moves themselves."""

    def on_moved(self, pkt: Packet, at: int) -> None:
        rec = self.procs.get(pkt.body["pid"])
        if rec is None or rec.status is not None:
            self._ack_move(pkt, at)  # nothing will be routed to it any more
            return
        rec.early_moves.append(pkt)
        if pkt.src != rec.cluster:
            self.early_moves += 1
        applied = False
        while True:
            nxt = next((m for m in rec.early_moves if m.src == rec.cluster), None)
            if nxt is None:
                break
            rec.early_moves.remove(nxt)
            self.policy.landed(rec.pid, rec.cluster, nxt.body["cluster"], at)
            rec.cluster = nxt.body["cluster"]
            applied = True
            self._ack_move(nxt, at)
        if applied:
            self._versions += 1
            rec.version = self._versions
            parked, rec.parked = rec.parked, []
            for q in parked:
                self.on_relay(q, at)
            if self.policy.on:  # a move landed: the policies may go on (one fewer under way)
                self._decide(self.policy.reports[rec.cluster], at)

    def _ack_move(self, moved: Packet, at: int) -> None:
        self._send(moved.src, "moved_ack", {"pid": moved.body["pid"], "cluster": moved.body["cluster"]}, at)

    def on_relay(self, pkt: Packet, at: int) -> None:
        """A packet for a pid that was neither at nor pointed to from the cluster it reached."""
        kind, inner = pkt.body["kind"], pkt.body["body"]
        rec = self.procs.get(inner["dst"])
        if rec is None or rec.status is not None:
            self.refused += 1
            err = REFUSAL[kind]
            if err is not None:
                self._send(inner["reply_to"], "reply", {"op": inner["op"], "ret": err}, at)
        elif inner.get("pm_version") == rec.version:
            self.waited += 1
            rec.parked.append(pkt)  # it came back under this very record: wait for a newer one
        else:
            self.relayed += 1
            self._send(rec.cluster, kind, {**inner, "pm_version": rec.version}, at, pkt.data,
                       pkt.body["bulk"])

    def forget(self, pid: int) -> None:
        self.procs.pop(pid, None)

    def add_file(self, name: str, data: bytes) -> None:
        self.fs_add_readonly(name, data)
        self.files[name] = data
        self.images[name] = loadable_image(data)

    # what the host asks of the I/O cluster (plain data in, plain data out) --------------------
    def host_new_pid(self, cluster: int, name: str) -> int:
        return self.new_pid(cluster, name)

    def host_forget(self, pid: int) -> None:
        self.forget(pid)

    def host_add_file(self, name: str, data: bytes) -> None:
        self.add_file(name, data)

    def host_fs_load(self, entries: list[tuple[str, bytes | None]]) -> None:
        self.load_tree(entries)

    def host_fs_tree(self) -> list[tuple[str, bytes | None]]:
        return self.tree()

    def host_adopt_pid(self, pid: int, cluster: int, name: str) -> None:
        self.adopt_pid(pid, cluster, name)

    def host_set_stdin(self, pid: int, data: object) -> None:
        """What the process reads on fd 0: bytes, or the host's stdin read when first asked."""
        self.stdin[pid] = data
        self.stdin_pos[pid] = 0

    def host_running(self, pid: int) -> bool:
        rec = self.procs.get(pid)
        return rec is not None and rec.status is None

    def host_stats(self) -> dict[str, int]:
        return {"requests": self.requests, "relayed": self.relayed, "refused": self.refused,
                "rmem_bytes": self.rmem_bytes,
                "fs_nodes": self.fs_count, "fs_bytes": self.fs_used, "fs_handles": len(self.handles),
                "mq_queues": len(self.queues), "semaphores": len(self.sems), "ipc_objects": self.ipc_alive,
                "shm_objects": len(self.shm_objs), "shm_bytes": self.shm_bytes}

    def host_set_policies(self, policies: list[Policy], period: int, method: str) -> None:
        self.policy.configure(policies, period, method)

    def host_evacuate(self, cluster: int, at: int) -> None:
        """Drain `cluster` from `at` on: it is closed to incoming moves, its processes go."""
        d = self.policy
        d.evacuated.add(cluster)
        if not any(isinstance(p, Evacuate) for p in d.policies):
            d.policies.append(Evacuate())
        self._send(cluster, "evacuate", {"cluster": cluster}, at)
        self._decide(d.reports[cluster], at)

    def host_policy_figures(self) -> dict:
        d = self.policy
        return {"notes": list(d.notes), "asked": d.asked, "refused": d.refusals,
                "evacuated": sorted(d.evacuated), "policies": [p.name for p in d.policies]}

    def host_output(self, pid: int) -> tuple[bytes, bytes]:
        out = self.output.get(pid)
        return (bytes(out[0]), bytes(out[1])) if out is not None else (b"", b"")

    def host_output_dropped(self, pid: int) -> tuple[int, int]:
        d = self.dropped.get(pid, [0, 0])
        return (d[0], d[1])

    # the daemons ------------------------------------------------------------------------------
    def deliver(self, pkt: Packet) -> None:
        heapq.heappush(self.console if pkt.kind == "console" else self.inbox, (pkt.arrival, pkt.seq, pkt))

    def next_time(self) -> int:
        """Earliest packet to take (a console packet too)."""
        return min(self.inbox[0][0] if self.inbox else NEVER, self.console[0][0] if self.console else NEVER)

    def advance(self, horizon: int, limit: int, window: int = 0) -> int:
        """Take packets below the horizon and the limit (as a kernel does; the daemons have
        no slices for `window` to bound); the time of the next one."""
        self.horizon, self.limit = horizon, limit  # the horizon drops as the daemons send
        if self.inbox:  # requests come in order of arrival: earlier gaps are of no use
            self.busy.prune(self.inbox[0][0])
        while True:
            end = min(self.horizon, limit)
            req = self.inbox[0] if self.inbox and self.inbox[0][0] < end else None
            con = self.console[0] if self.console and self.console[0][0] < end else None
            if con is not None and (req is None or con[:2] < req[:2]):
                heapq.heappop(self.console)
                self.on_console(con[2])
            elif req is not None:
                arrival, _, pkt = heapq.heappop(self.inbox)
                self.requests += 1
                getattr(self, "on_" + pkt.kind)(pkt, self._serve(arrival))
            else:
                return self.next_time()

    def on_console(self, pkt: Packet) -> None:
        pid, fd = pkt.body["pid"], pkt.body["fd"]
        out = self.output.setdefault(pid, (bytearray(), bytearray()))
        i = 0 if fd == 1 else 1
        out[i].extend(pkt.data)
        self.kept += len(pkt.data)
        if self.sink is not None:
            self._drop(pid, i, len(out[i]) - TAIL)
        while self.kept > CAPTURE:  # the oldest bytes of the largest stream (lowest pid, fd)
            big = max(((len(o[j]), -p, -j) for p, o in self.output.items() for j in (0, 1)))
            self._drop(-big[1], -big[2], min(big[0], self.kept - CAPTURE))
        # Taken: the sender may send more, told once per ACK_EVERY bytes (kernel/console.py).
        n = self.unacked.get(pkt.src, 0) + len(pkt.data)
        if n >= ACK_EVERY:
            self._send(pkt.src, "console_ack", {"n": n}, pkt.arrival)
            n = 0
        self.unacked[pkt.src] = n
        if self.sink is not None:
            self.sink(pid, fd, pkt.data)

    def _drop(self, pid: int, i: int, n: int) -> None:
        if n > 0:
            del self.output[pid][i][:n]
            self.kept -= n
            self.dropped.setdefault(pid, [0, 0])[i] += n

    def _serve(self, at: int) -> int:
        cost = self.spec.service_cycles
        return self.busy.book(at, cost) + cost

    def _send(self, dst: int, kind: str, body: dict, at: int, data: bytes = b"", bulk: bool = False) -> None:
        """A reply or a program on its way; billed by its size (platform/noc.py: packet)."""
        pkt = packet(self.spec, self.node, dst, kind, body, data, at, "bulk" if bulk else "control")
        self.sent += 1
        pkt.seq = self.sent
        self.outbox.append(pkt)
        self.horizon = min(self.horizon, at + 2 * self.lookahead)  # there and back

    def on_noc_error(self, note: Packet, at: int) -> None:
        """The NoC lost something the daemons sent (an answer, a program, an acknowledgement):
        a daemon is reliable, it sends it again (a test's injected losses are finite)."""
        b = note.body
        self._send(b["to"], b["kind"], b["body"], at, b["data"], b["form"] == "bulk")

    def _reply(self, req: Packet, at: int, data: bytes = b"", bulk: bool = False, **body: object) -> None:
        self._send(req.src, "reply", {"op": req.body["op"], **body}, at, data, bulk)

    # the policy daemon (shoal/policy.py) ------------------------------------------------------
    def _locate(self, pid: int) -> tuple[int, bool]:
        rec = self.procs.get(pid)
        return (-1, False) if rec is None else (rec.cluster, rec.status is None)

    def _residents(self, cluster: int) -> list[int]:
        return [pid for pid, r in sorted(self.procs.items()) if r.cluster == cluster and r.status is None]

    def _decide(self, report: object, at: int) -> None:
        for src, body in self.policy.decide(report, at, self._locate, self._residents):  # type: ignore[arg-type]
            self._send(src, "policy_move", body, at)

    def on_load_report(self, pkt: Packet, at: int) -> None:
        view = self.policy.report(pkt.body, self._locate)
        if self.policy.on:
            self._decide(view, at)

    def on_policy_refused(self, pkt: Packet, at: int) -> None:
        self.policy.refusal(pkt.body)

    def on_stdin(self, req: Packet, at: int) -> None:
        """A read of standard input: the next bytes of what the host gave this pid (none for
        a process the host gave nothing, such as one a guest spawned)."""
        pid, size = req.body["pid"], req.body["size"]
        src = self.stdin.get(pid)
        pos = self.stdin_pos.get(pid, 0)
        data = bytes(src[pos:pos + size]) if src is not None else b""
        self.stdin_pos[pid] = pos + len(data)
        self._reply(req, at, data=data, bulk=True, ret=len(data))

    def on_locate(self, req: Packet, at: int) -> None:
        clusters = []
        for pid in req.body["pids"]:
            rec = self.procs.get(pid)
            if rec is None or rec.status is not None:
                self._reply(req, at, err=-ESRCH)
                return
            clusters.append(rec.cluster)
        self._reply(req, at, err=0, clusters=clusters)

    def on_spawn(self, req: Packet, at: int) -> None:
        b = req.body
        image = self.images.get(b["file"])
        if image is None:
            self._reply(req, at, ret=-ENOENT)
            return
        cluster = b["cluster"]
        shut = self.policy.evacuated
        if cluster in shut:
            cluster = -1  # an evacuated cluster takes no new process: placed as any
        if cluster == -1 and len(shut) >= self.spec.compute_clusters:
            # Every cluster is evacuated: nowhere takes a new process. EAGAIN, as fork(2)
            # answers when the system cannot take another process now; the caller goes on.
            self._reply(req, at, ret=-EAGAIN)
            return
        if cluster == -1:
            # Any: where the load reports say there is most room (policy.py: place); without
            # reports, the cluster with the fewest live processes, lowest first.
            frames = -(-len(image) // self.spec.page_size) if isinstance(image, bytes) else 0
            got = self.policy.place(frames, at, self._residents)
            if got is None:
                load = [0] * self.spec.compute_clusters
                for rec in self.procs.values():
                    if rec.status is None:
                        load[rec.cluster] += 1
                got = min((c for c in range(len(load)) if c not in shut), key=lambda c: (load[c], c))
            cluster = got
        pid = self.new_pid(cluster, b["file"])
        if self.policy.on:
            self.policy.placed[pid] = cluster
        self.procs[pid].parent = b["pid"]
        self._ops += 1
        op = (self.node << 40) | self._ops
        self.spawning[op] = (req, pid)
        # The program itself crosses the NoC to the cluster that will run it.
        self._send(cluster, "load", {"op": op, "newpid": pid, "name": b["file"], "argv": b["argv"],
                                     "seed": self.seed}, at, image, bulk=True)

    def on_reply(self, pkt: Packet, at: int) -> None:
        req, pid = self.spawning.pop(pkt.body["op"])
        ret = pkt.body["ret"]
        if ret < 0:
            self.forget(pid)
        self._reply(req, at, ret=ret)

    def on_exit(self, pkt: Packet, at: int) -> None:
        b = pkt.body
        rec = self.procs.get(b["pid"])
        if rec is None:
            return
        rec.status = (b["signal"] & 0x7F) if b["signal"] is not None else ((b["code"] or 0) & 0xFF) << 8
        for w in rec.waiters:  # the first wait reaps it; as on Linux, the others find no child
            if rec.reaped:
                self._reply(w, at, ret=-ECHILD)
            else:
                rec.reaped = True
                self._reply(w, at, ret=rec.pid, status=rec.status)
        rec.waiters.clear()
        for m in rec.early_moves:
            self._ack_move(m, at)
        for q in rec.parked:
            self.on_relay(q, at)  # refused now
        rec.early_moves, rec.parked = [], []
        for name in [n for n, p in self.names.items() if p == rec.pid]:
            del self.names[name]
        self.rmem_bytes -= sum(len(d) for _, d in self.rmem.pop(rec.pid, {}).values())
        for table in (self.rmem_asked, self.rmem_freed):
            for key in [key for key in table if key[0] == rec.pid]:
                del table[key]
        self.fs_process_ended(rec.pid)
        self.ipc_process_ended(rec.pid)
        self.shm_process_ended(rec.pid, at)

    # remote memory ------------------------------------------------------------------------------
    def on_rmem_put(self, pkt: Packet, at: int) -> None:
        pid, va, ver = pkt.body["pid"], pkt.body["va"], pkt.body["ver"]
        rec = self.procs.get(pid)
        if rec is None or rec.status is not None:
            return  # written back by a process that has ended since: nobody will ask
        freed = self.rmem_freed.get((pid, va))
        if freed is not None:
            if ver <= freed:  # of a page unmapped since
                if ver == freed:
                    del self.rmem_freed[(pid, va)]
                return
            del self.rmem_freed[(pid, va)]
        pages = self.rmem.setdefault(pid, {})
        old = pages.get(va)
        if old is not None and old[0] >= ver:
            return  # an older copy that arrived late: the newer one stays
        grow = len(pkt.data) - (0 if old is None else len(old[1]))
        if self.rmem_bytes + self.shm_bytes + grow > self.spec.io_memory:  # (one memory for both)
            # To the process wherever it is now (it may have moved since it wrote this back).
            self._send(rec.cluster, "rmem_full", {"dst": pid, "va": va}, at)
            return
        self.rmem_bytes += grow
        pages[va] = (ver, pkt.data)
        asked = self.rmem_asked.get((pid, va))
        if asked:
            now = [a for a in asked if a[0] <= ver]
            asked[:] = [a for a in asked if a[0] > ver]
            if not asked:
                del self.rmem_asked[(pid, va)]
            for _, to in now:
                self._send(to, "rmem_page", {"pid": pid, "va": va, "ver": ver}, at, pkt.data, bulk=True)

    def on_rmem_free(self, pkt: Packet, at: int) -> None:
        pid = pkt.body["pid"]
        pages = self.rmem.get(pid, {})
        rec = self.procs.get(pid)
        if rec is None or rec.status is not None:
            return
        for va, ver in pkt.body["pages"]:
            got = pages.get(va)
            if got is not None and got[0] <= ver:
                del pages[va]
                self.rmem_bytes -= len(got[1])
            if got is None or got[0] < ver:
                self.rmem_freed[(pid, va)] = ver  # its write-back is on its way
            asked = self.rmem_asked.get((pid, va))
            if asked:
                asked[:] = [a for a in asked if a[0] > ver]
                if not asked:
                    del self.rmem_asked[(pid, va)]

    def on_rmem_get(self, pkt: Packet, at: int) -> None:
        pid, va, ver = pkt.body["pid"], pkt.body["va"], pkt.body["ver"]
        to = pkt.body.get("reply_to", pkt.src)
        got = self.rmem.get(pid, {}).get(va)
        if got is None or got[0] < ver:  # its write-back is still on its way: answered then
            rec = self.procs.get(pid)
            if rec is not None and rec.status is None:
                self.rmem_asked.setdefault((pid, va), []).append((ver, to))
            return
        self._send(to, "rmem_page", {"pid": pid, "va": va, "ver": got[0]}, at, got[1], bulk=True)

    # shared memory ------------------------------------------------------------------------------
    def on_shm_open(self, req: Packet, at: int) -> None:
        name, flags, pid = req.body["name"], req.body["flags"], req.body["pid"]
        if not name or "/" in name or len(name.encode()) > 255:
            self._reply(req, at, ret=-EINVAL)
            return
        obj = self.shm_names.get(name)
        if obj is not None and flags & O_CREAT and flags & O_EXCL:
            self._reply(req, at, ret=-EEXIST)
        elif obj is None and not flags & O_CREAT:
            self._reply(req, at, ret=-ENOENT)
        elif obj is None and len(self.shm_objs) >= self.spec.ipc_max_names:
            self._reply(req, at, ret=-ENOSPC)  # (tmpfs out of inodes; unlinked, open ones count)
        else:
            if obj is None:
                obj = self.shm_names[name] = self.shm_next
                self.shm_next += 1
                self.shm_objs[obj] = ShmObject()
            self.shm_objs[obj].pids.add(pid)
            self.shm_by_pid.setdefault(pid, set()).add(obj)
            self._reply(req, at, ret=0, obj=obj)

    def on_shm_close(self, pkt: Packet, at: int) -> None:
        """A process no longer opens nor maps the object (its kernel says so)."""
        self._shm_unref(pkt.body["obj"], pkt.body["pid"], at)

    def _shm_unref(self, obj: int, pid: int, at: int) -> None:
        objs = self.shm_by_pid.get(pid)
        if objs is not None:
            objs.discard(obj)
            if not objs:
                del self.shm_by_pid[pid]
        o = self.shm_objs.get(obj)
        if o is not None:
            o.pids.discard(pid)
            self._shm_maybe_free(obj, o, at)

    def shm_process_ended(self, pid: int, at: int) -> None:
        for obj in sorted(self.shm_by_pid.pop(pid, ())):
            o = self.shm_objs.get(obj)
            if o is not None:
                o.pids.discard(pid)
                self._shm_maybe_free(obj, o, at)

    def _shm_maybe_free(self, obj: int, o: ShmObject, at: int) -> None:
        """POSIX: an unlinked object lives while a process opens or maps it, then goes."""
        if o.linked or o.pids:
            return
        del self.shm_objs[obj]
        self.shm_bytes -= len(o.pages) * self.spec.page_size
        for c in sorted(o.seen):  # (what a cluster still holds goes home as it unmaps: dropped)
            self._send(c, "shm_gone", {"obj": obj}, at)

    def on_shm_truncate(self, req: Packet, at: int) -> None:
        obj = req.body["obj"]
        o = self.shm_objs.get(obj)
        length = req.body["length"]
        if o is None:
            self._reply(req, at, ret=-EBADF)
        elif length > self.spec.io_memory:
            self._reply(req, at, ret=-EFBIG)
        else:
            page = self.spec.page_size
            old, o.size = o.size, length
            if length >= old:
                self._reply(req, at, ret=0)
                return
            # Shrinking: the pages past the end (and the last one, whose tail becomes zeros)
            # come home from every cluster first, so that a later touch faults (SIGBUS).
            first = length // page
            wait = {pg for pg in set(o.holders) | set(o.pages) if pg >= first}
            for pg in sorted(wait):
                o.queue.setdefault(pg, []).insert(0, (TRUNCATE, True, 0))
            o.truncating.append((req, wait))
            for pg in sorted(wait):
                self._shm_serve(obj, o, pg, at)
            self._shm_truncated(o, at)

    def _shm_truncated(self, o: ShmObject, at: int) -> None:
        for req, left in [t for t in o.truncating if not t[1]]:
            o.truncating.remove((req, left))
            self._reply(req, at, ret=0)

    def on_shm_unlink(self, req: Packet, at: int) -> None:
        obj = self.shm_names.pop(req.body["name"], None)
        self._reply(req, at, ret=0 if obj is not None else -ENOENT)
        if obj is not None:
            o = self.shm_objs[obj]
            o.linked = False
            self._shm_maybe_free(obj, o, at)

    def on_shm_get(self, pkt: Packet, at: int) -> None:
        obj, pg = pkt.body["obj"], pkt.body["pg"]
        who = pkt.body.get("reply_to", pkt.src)
        o = self.shm_objs.get(obj)
        if o is None:  # (no process opens or maps it: a stale request) nothing is there
            self._send(who, "shm_page", {"obj": obj, "pg": pg, "bus": True}, at)
            return
        o.queue.setdefault(pg, []).append((who, pkt.body["write"], pkt.body.get("have", 0)))
        self._shm_serve(obj, o, pg, at)

    def on_shm_back(self, pkt: Packet, at: int) -> None:
        obj, pg, who = pkt.body["obj"], pkt.body["pg"], pkt.src
        o = self.shm_objs.get(obj)
        held = o.holders.get(pg, {}).get(who) if o is not None else None
        if o is None or held is None or held[0] != pkt.body["gen"]:
            return  # a copy the daemon no longer counts on (a newer grant replaced it)
        del o.holders[pg][who]
        if not o.holders[pg]:
            del o.holders[pg]
        if held[1] and len(pkt.data) == self.spec.page_size and pg in o.pages:
            o.pages[pg] = pkt.data  # the writer's bytes come home
        o.recalled.discard((pg, who))
        self._shm_serve(obj, o, pg, at)

    def _shm_serve(self, obj: int, o: ShmObject, pg: int, at: int) -> None:
        """Grant the waiting requests of page `pg` in order while they fit (one writer or
        many readers); recall the copies that stand in the way of the first that does not."""
        queue = o.queue.get(pg, [])
        page = self.spec.page_size
        while queue:
            who, write, have = queue[0]
            holders = o.holders.get(pg, {})
            mine = holders.get(who)
            if who == TRUNCATE:
                conflicts = set(holders)
            elif pg * page >= o.size:  # beyond the end: SIGBUS (EFAULT in a system call)
                queue.pop(0)
                self._send(who, "shm_page", {"obj": obj, "pg": pg, "bus": True}, at)
                continue
            elif mine is not None and (mine[1] or not write):
                if have < mine[0]:  # granted after it asked: on its way there, it serves
                    queue.pop(0)
                    continue
                return  # it asked without it, so its copy is on its way home: wait for it
            else:  # a writer stands in the way of all; to write, every other copy does
                # (a reader that asks to write gives up nothing: its copy becomes writable)
                conflicts = {c for c, (_, w) in holders.items() if w or write} - {who}
            if conflicts:
                for c in sorted(conflicts):
                    if (pg, c) not in o.recalled:
                        o.recalled.add((pg, c))
                        self._send(c, "shm_recall", {"obj": obj, "pg": pg, "gen": holders[c][0]}, at)
                return
            queue.pop(0)
            if who == TRUNCATE:
                self._shm_cut(o, pg)
                continue
            if pg not in o.pages:  # first touch: the page comes to exist here
                if self.rmem_bytes + self.shm_bytes + page > self.spec.io_memory:
                    self._send(who, "shm_page", {"obj": obj, "pg": pg, "bus": True}, at)  # (tmpfs full)
                    continue
                o.pages[pg] = bytes(page)
                self.shm_bytes += page
            self.shm_grants += 1
            o.holders.setdefault(pg, {})[who] = (self.shm_grants, write)
            o.seen.add(who)
            self._send(who, "shm_page", {"obj": obj, "pg": pg, "write": write, "gen": self.shm_grants},
                       at, o.pages[pg], bulk=True)
        if not queue:
            o.queue.pop(pg, None)
        if o.truncating:
            self._shm_truncated(o, at)

    def _shm_cut(self, o: ShmObject, pg: int) -> None:
        """Page `pg` is home and no cluster holds it: cut it to the object's new size."""
        page = self.spec.page_size
        keep = o.size - pg * page
        if pg in o.pages:
            if keep <= 0:
                del o.pages[pg]
                self.shm_bytes -= page
            elif keep < page:
                o.pages[pg] = o.pages[pg][:keep] + bytes(page - keep)
        for _, left in o.truncating:
            left.discard(pg)

    def on_wait(self, req: Packet, at: int) -> None:
        rec = self.procs.get(req.body["target"])
        if rec is None or rec.parent != req.body["pid"] or rec.reaped:
            self._reply(req, at, ret=-ECHILD)  # only the process that spawned it, and once
        elif rec.status is not None:
            rec.reaped = True
            self._reply(req, at, ret=rec.pid, status=rec.status)
        else:
            rec.waiters.append(req)

    def on_name_link(self, req: Packet, at: int) -> None:
        name = req.body["name"]
        if name in self.names:
            self._reply(req, at, ret=-EEXIST)
        else:
            self.names[name] = req.body["pid"]
            self._reply(req, at, ret=0)

    def on_name_lookup(self, req: Packet, at: int) -> None:
        self._reply(req, at, ret=self.names.get(req.body["name"], -ENOENT))

    def on_name_unlink(self, req: Packet, at: int) -> None:
        name = req.body["name"]
        if self.names.get(name) != req.body["pid"]:
            self._reply(req, at, ret=-ENOENT)
        else:
            del self.names[name]
            self._reply(req, at, ret=0)

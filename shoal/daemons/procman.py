"""The process manager: pids, records, spawn, exit and wait, and where each process lives.

It is the authority on where each process lives; its part in keeping locations right after
migrations (moves applied in order, pointers dropped, packets that went astray routed or
refused) is described in shoal/kernel/location.py. When a process ends it tells the other
servers through the `ended` calls the node gives it (daemons/node.py); placement and moves
that land go to the policy server (daemons/policy.py), its `policy`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Protocol

from msgspec.structs import replace

from shoal.abi import EACCES, EAGAIN, ECHILD, EINVAL, ENOENT, ENOMEM, EPERM, ESRCH, INIT_PID, SIGCHLD, SIGCONT
from shoal.daemons.core import Core, Ended, Handler, HostCall
from shoal.daemons.sigroups import GroupKills
from shoal.kernel import signals
from shoal.kernel.loader import loadable_image
from shoal.kernel.location import REFUSAL
from shoal.messages import UNSET, Fork, ForkLoad, Kind, Load, MovedAck, Reparent, Reply, SignalMsg
from shoal.platform.noc import Packet
from shoal.record import dataclass

P_ALL, P_PID, P_PGID = 0, 1, 2  # waitid's idtype
CLD_EXITED, CLD_KILLED = 1, 2  # siginfo codes of SIGCHLD (a dumped core is never written)
CLD_STOPPED, CLD_CONTINUED = 5, 6


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
    parent: int = INIT_PID  # the pid that forked or spawned it (1: init, the host); only it may wait
    reaped: bool = False  # its status went to its parent's wait
    exit_signal: int = 0  # sent to the parent when it ends (a fork's SIGCHLD; spawn: none)
    pgid: int = 0  # its process group (a fork's is its parent's; others lead their own)
    sid: int = 0  # its session (a fork's is its parent's; others lead their own)
    execed: bool = False  # it has called execve (its parent may no longer setpgid it)
    code: int = 0  # the siginfo code of its end (CLD_EXITED, CLD_KILLED)
    report: tuple[int, int] | None = None  # a stop or continue not yet waited for: (status, code)
    times: list | None = None  # its Exit's CPU times, for the parent that reaps it


@dataclass
class Kin:
    """Parents and children: the index `wait` and an ending parent read (not a scan of every
    process), and the waits not yet answered."""

    children: dict[int, set[int]] = field(default_factory=dict)  # parent pid -> children in `procs`
    waiters: dict[int, list[Packet]] = field(default_factory=dict)  # parent pid -> its wait_child requests


class Placement(Protocol):
    """What the process manager asks of the policy daemon (daemons/policy.py: PolicyServer)."""

    def evacuated(self) -> set[int]: ...
    def place(self, frames: int, at: int, name: str | None = None, want: int | None = None,
              caller: int | None = None) -> int | None: ...
    def spawned(self, pid: int, cluster: int, name: str = "") -> None: ...
    def landed(self, pid: int, src: int, dst: int, at: int) -> None: ...
    def moves_landed(self, cluster: int, at: int) -> None: ...


@dataclass
class Routing:
    """Counts of the packets the process manager routed for kernels that no longer had their
    process."""

    relayed: int = 0  # passed on to where it lives now
    refused: int = 0  # refused because the process had ended
    waited: int = 0  # kept until a newer record (its record was behind)
    early_moves: int = 0  # `moved` packets that arrived before their predecessor


class ProcessManager:
    def __init__(self, core: Core, seed: int, policy: Placement, ended: list[Ended],
                 program_at: Callable[[str, object], bytes | int] | None = None,
                 forked: Callable[[int, int, Fork, int], int] | None = None,
                 fork_memory: Callable[[Fork, int, int], int] | None = None) -> None:
        self.spec = core.spec
        self.node = core.node
        self._send = core.send
        self._reply = core.reply
        self.seed = seed
        self.policy = policy
        self.ended = ended  # the other servers' calls when a process ends, in order
        self.program_at = program_at  # execve: a file of the file server's tree (files.py)
        self.forked = forked  # a fork's child shares its parent's open files, memory objects (node.py)
        self.fork_memory = fork_memory  # what a fork's memory needs first (node.py)
        # Every process alive, and every ended one that its parent may still wait for (a
        # zombie): a record goes once reaped, or at its end when its parent is init (the host),
        # so that the table is as large as what runs, not as all that ever ran.
        self.procs: dict[int, ProcRecord] = {}
        self.kin = Kin()
        self.images: dict[str, bytes] = {}  # what a spawn sends: the loadable part of each file
        self.next_pid = INIT_PID + 1  # pid 1 is init: the host, never a program
        self.spawning: dict[int, tuple[Packet, int]] = {}  # load op -> (spawn request, new pid)
        # load op -> (clusters tried, how to send the load to another): a process placed by the
        # manager that its cluster has no room for (-ENOMEM) is tried on the others
        self.loads: dict[int, tuple[set[int], Callable[[int, int, int], None]]] = {}
        self._ops = 0
        self._versions = 0  # record versions are unique across pids and restores
        self.routing = Routing()  # what became of packets for moved processes
        self.kills = GroupKills(self.node, self.procs, self._send, self._reply, self._new_op)
        self.packets: dict[Kind, Handler] = {
            Kind.LOCATED: self.on_located, Kind.MOVED: self.on_moved, Kind.RELAY: self.on_relay,
            Kind.LOCATE: self.on_locate, Kind.SPAWN: self.on_spawn, Kind.REPLY: self.on_reply,
            Kind.EXIT: self.on_exit, Kind.CHILD_STATE: self.on_child_state, Kind.WAIT: self.on_wait,
            Kind.FORK: self.on_fork, Kind.EXEC: self.on_exec, Kind.WAIT_CHILD: self.on_wait_child,
            Kind.PGRP: self.on_pgrp, Kind.KILL_GROUP: self.kills.on_kill_group}
        self.host: dict[str, HostCall] = {
            "new_pid": self._host_pid, "adopt_pid": self.adopt_pid, "forget": self.forget,
            "running": self.running, "place": self.place}

    # host-side boot path (the loader of the chip, before or between runs) -----------------
    def new_pid(self, cluster: int, name: str) -> int:
        pid = self.next_pid
        self.next_pid += 1
        self._record(pid, cluster, name)
        return pid

    def _host_pid(self, cluster: int, name: str) -> int:
        """A pid for a process the host starts (Chip.spawn): placement counts it from now."""
        pid = self.new_pid(cluster, name)
        self.policy.spawned(pid, cluster, name)
        return pid

    def adopt_pid(self, pid: int, cluster: int, name: str) -> None:
        """A restored process keeps its pid; later pids start above it."""
        self._record(pid, cluster, name)
        self.next_pid = max(self.next_pid, pid + 1)

    def _record(self, pid: int, cluster: int, name: str) -> None:
        self._versions += 1  # a packet stamped under an earlier record of this pid is routed anew
        self.procs[pid] = ProcRecord(pid, cluster, name, version=self._versions, pgid=pid, sid=pid)

    def forget(self, pid: int) -> None:
        rec = self.procs.pop(pid, None)
        if rec is not None:
            self._set_parent(rec, INIT_PID)

    def _set_parent(self, rec: ProcRecord, parent: int) -> None:
        """`rec`'s parent from now on, in the index of children (init's are not indexed: the
        host reaps them silently)."""
        kids = self.kin.children.get(rec.parent)
        if kids is not None:
            kids.discard(rec.pid)
            if not kids:
                del self.kin.children[rec.parent]
        rec.parent = parent
        if parent != INIT_PID:
            self.kin.children.setdefault(parent, set()).add(rec.pid)

    def _reaped(self, rec: ProcRecord) -> None:
        """Its end has been waited for (or nobody can wait for it): its record goes."""
        rec.reaped = True
        if rec.status is not None and self.procs.get(rec.pid) is rec:
            self.forget(rec.pid)

    def _kids(self, parent: int) -> list[ProcRecord]:
        """`parent`'s children (alive, or ended and not yet reaped), by pid."""
        return [self.procs[pid] for pid in sorted(self.kin.children.get(parent, ()))]

    def add_image(self, name: str, data: bytes) -> None:
        self.images[name] = loadable_image(data)

    def running(self, pid: int) -> bool:
        rec = self.procs.get(pid)
        return rec is not None and rec.status is None

    def stats(self) -> dict[str, int]:
        return {"relayed": self.routing.relayed, "refused": self.routing.refused}

    # what the other servers may ask --------------------------------------------------------------
    def locate(self, pid: int) -> tuple[int, bool]:
        """Where `pid` lives and whether it is alive ((-1, False) if unknown)."""
        rec = self.procs.get(pid)
        return (-1, False) if rec is None else (rec.cluster, rec.status is None)

    def residents(self, cluster: int) -> list[int]:
        return [pid for pid, r in sorted(self.procs.items()) if r.cluster == cluster and r.status is None]

    # locations (shoal/kernel/location.py, steps 3 to 5) -------------------------------------
    def on_located(self, pkt: Packet, at: int) -> None:
        """A kernel says where a process was found for a packet the daemons sent it (only
        rmem_full is sent so): the process manager learns locations from the moves themselves."""

    def on_moved(self, pkt: Packet, at: int) -> None:
        rec = self.procs.get(pkt.body.pid)
        if rec is None or rec.status is not None:
            self._ack_move(pkt, at)  # nothing will be routed to it any more
            return
        rec.early_moves.append(pkt)
        if pkt.src != rec.cluster:
            self.routing.early_moves += 1
        applied = False
        while True:
            nxt = next((m for m in rec.early_moves if m.src == rec.cluster), None)
            if nxt is None:
                break
            rec.early_moves.remove(nxt)
            self.policy.landed(rec.pid, rec.cluster, nxt.body.cluster, at)
            rec.cluster = nxt.body.cluster
            applied = True
            self._ack_move(nxt, at)
        if applied:
            self._versions += 1
            rec.version = self._versions
            parked, rec.parked = rec.parked, []
            for q in parked:
                self.on_relay(q, at)
            self.policy.moves_landed(rec.cluster, at)

    def _ack_move(self, moved: Packet, at: int) -> None:
        self._send(moved.src, MovedAck(pid=moved.body.pid, cluster=moved.body.cluster), at)

    def on_relay(self, pkt: Packet, at: int) -> None:
        """A packet for a pid that was neither at nor pointed to from the cluster it reached."""
        kind, inner = pkt.body.kind, pkt.body.body
        rec = self.procs.get(inner.dst)
        if rec is None or rec.status is not None:
            self.routing.refused += 1
            err = REFUSAL[kind]
            if err is not None:
                self._send(inner.reply_to, Reply(op=inner.op, ret=err), at)
        elif inner.pm_version == rec.version:
            self.routing.waited += 1
            rec.parked.append(pkt)  # it came back under this very record: wait for a newer one
        else:
            self.routing.relayed += 1
            self._send(rec.cluster, replace(inner, pm_version=rec.version), at, pkt.data,
                       pkt.body.bulk)

    def on_locate(self, req: Packet, at: int) -> None:
        clusters = []
        for pid in req.body.pids:
            rec = self.procs.get(pid)
            if rec is None or rec.status is not None:
                self._reply(req, at, err=-ESRCH)
                return
            clusters.append(rec.cluster)
        self._reply(req, at, err=0, clusters=clusters)

    # processes come and go --------------------------------------------------------------------------
    def on_spawn(self, req: Packet, at: int) -> None:
        b = req.body
        image = self.images.get(b.file)
        if image is None:
            self._reply(req, at, ret=-ENOENT)
            return
        cluster = b.cluster
        shut = self.policy.evacuated()
        if cluster in shut:
            cluster = -1  # an evacuated cluster takes no new process: placed as any
        if cluster == -1 and len(shut) >= self.spec.compute_clusters:
            # Every cluster is evacuated: nowhere takes a new process. EAGAIN, as fork(2)
            # answers when the system cannot take another process now; the caller goes on.
            self._reply(req, at, ret=-EAGAIN)
            return
        frames = -(-len(image) // self.spec.cluster.page_size) if isinstance(image, bytes) else 0
        if cluster == -1:
            # Any: where the load reports say there is most room (policy.py: place); without
            # reports, the cluster with the fewest live processes, lowest first.
            got = self.policy.place(frames, at, b.file, caller=req.src)
            cluster = got if got is not None else self._fewest(shut)
        else:
            # A named cluster keeps the process unless the policies are on and it has no room
            # for it (no hart for each of its threads): then it starts where there is, before
            # it runs, so it costs no migration (Linux's sched_exec, MOSIX's placement).
            got = self.policy.place(frames, at, b.file, cluster, req.src)
            cluster = cluster if got is None else got
        pid = self.new_pid(cluster, b.file)
        self.policy.spawned(pid, cluster, b.file)
        self._set_parent(self.procs[pid], b.pid)
        op = self._new_op()
        self.spawning[op] = (req, pid)
        # The program itself crosses the NoC to the cluster that will run it.
        # (cwd: the parent's working directory, the child's first; absent: the root)
        load = Load(op=op, newpid=pid, name=b.file, argv=b.argv, seed=self.seed, cwd=b.cwd, ppid=b.pid,
                    user=b.user)
        self._send(cluster, load, at, image, bulk=True)
        if b.cluster == -1 or b.cluster in shut:  # placed here: another may take it
            self.loads[op] = ({cluster}, lambda c, op2, t: self._send(c, replace(load, op=op2), t, image,
                                                                         bulk=True))

    def _fewest(self, shut: set[int], among: list[int] | None = None) -> int:
        """The open cluster (of `among`) with the fewest live processes, lowest first."""
        load = [0] * self.spec.compute_clusters
        for rec in self.procs.values():
            if rec.status is None:
                load[rec.cluster] += 1
        cands = among if among is not None else [c for c in range(len(load)) if c not in shut]
        return min(cands, key=lambda c: (load[c], c))

    def place(self, frames: int, at: int, name: str = "") -> int:
        """A host's request (Chip.mpirun's placed ranks): where a new process of `frames`
        frames would start now, as a spawn to any cluster is placed."""
        shut = self.policy.evacuated()
        got = self.policy.place(frames, at, name or None)
        return got if got is not None else self._fewest(shut)

    def _new_op(self) -> int:
        self._ops += 1
        return (self.node << 40) | self._ops

    def on_reply(self, pkt: Packet, at: int) -> None:
        if self.kills.on_reply(pkt, at):
            return  # a target's answer to kill(0, -pgid or -1) (daemons/sigroups.py)
        got = self.spawning.pop(pkt.body.op, None)
        if got is None:
            return  # a SIGCHLD this manager sent was refused (its parent had just ended)
        req, pid = got
        ret = pkt.body.ret
        retry = self.loads.pop(pkt.body.op, None)
        if ret == -ENOMEM and retry is not None and self._load_elsewhere(req, pid, *retry, at):
            return
        if ret < 0:
            self.forget(pid)
        else:
            rec = self.procs.get(pid)
            if rec is not None and rec.parent != req.body.pid:
                self._reparent(rec, at)  # its parent ended while it was being loaded
        self._reply(req, at, ret=ret)

    def _load_elsewhere(self, req: Packet, pid: int, tried: set[int],
                        send: Callable[[int, int, int], None], at: int) -> bool:
        """The cluster chosen for a new process had no room for it when its image came (a
        migration's frames reserved meanwhile, say): the open cluster with the fewest live
        processes not tried yet takes it instead, as fork's placement would have chosen with
        that known. False when every cluster has been tried (the caller gets -ENOMEM)."""
        shut = self.policy.evacuated()
        others = [c for c in range(self.spec.compute_clusters) if c not in tried and c not in shut]
        rec = self.procs.get(pid)
        if not others or rec is None:
            return False
        cluster = self._fewest(shut, others)
        tried.add(cluster)
        self._versions += 1  # (where it is to be from now: packets routed by its record follow)
        rec.cluster, rec.version = cluster, self._versions
        self.policy.spawned(pid, cluster, rec.name)
        op = self._new_op()
        self.spawning[op] = (req, pid)
        self.loads[op] = (tried, send)
        send(cluster, op, at)
        return True

    def on_exit(self, pkt: Packet, at: int) -> None:
        b = pkt.body
        rec = self.procs.get(b.pid)
        if rec is None:
            return
        rec.status = (b.signal & 0x7F) if b.signal is not None else ((b.code or 0) & 0xFF) << 8
        rec.code = CLD_EXITED if b.signal is None else CLD_KILLED
        rec.times = b.times if b.times is not UNSET else None
        rec.report = None  # (a stop not waited for: the end is what a wait sees now)
        self._child_ended(rec, at)
        for w in rec.waiters:  # the first wait reaps it; as on Linux, the others find no child
            if rec.reaped:
                self._reply(w, at, ret=-ECHILD)
            else:
                rec.reaped = True
                self._reply(w, at, ret=rec.pid, status=rec.status)
        rec.waiters.clear()
        for m in rec.early_moves:
            self._ack_move(m, at)
        parked = rec.parked
        rec.early_moves, rec.parked = [], []
        if rec.reaped or rec.parent == INIT_PID:
            self._reaped(rec)
        for q in parked:
            self.on_relay(q, at)  # refused now
        for tell in self.ended:
            tell(rec.pid, at)

    def on_wait(self, req: Packet, at: int) -> None:
        rec = self.procs.get(req.body.target)
        if rec is None or rec.parent != req.body.pid or rec.reaped:
            self._reply(req, at, ret=-ECHILD)  # only the process that spawned it, and once
        elif rec.status is not None:
            self._reaped(rec)
            self._reply(req, at, ret=rec.pid, status=rec.status)
        else:
            rec.waiters.append(req)

    # fork, exec and wait (kernel/calls/fork.py) -------------------------------------------------
    def on_fork(self, req: Packet, at: int) -> None:
        """A pid for a forked child: built by the caller's kernel (`local`), or placed on another
        cluster, to which its image (the request's data) goes on, as a spawn's program does."""
        b = req.body
        parent = self.procs.get(b.pid)
        cluster = req.src
        err = self.fork_memory(b, req.src, at) if self.fork_memory is not None else 0
        if err < 0:
            self._reply(req, at, ret=err)
            return
        if not b.local:
            shut = self.policy.evacuated()
            others = [c for c in range(self.spec.compute_clusters) if c != req.src and c not in shut]
            if not others:
                self._reply(req, at, ret=-EAGAIN)  # nowhere else takes a process now
                return
            name = parent.name if parent is not None else None
            got = self.policy.place(b.frames, at, name, caller=req.src)
            if got not in others:
                got = self._fewest(shut, others)
            cluster = got
        pid = self.new_pid(cluster, parent.name if parent is not None else "fork")
        child = self.procs[pid]
        self._set_parent(child, b.pid)
        child.exit_signal = b.exit_signal
        child.pgid = parent.pgid if parent is not None else pid
        child.sid = parent.sid if parent is not None else pid
        self.policy.spawned(pid, cluster, child.name)
        if self.forked is not None:
            at = self.forked(b.pid, pid, b, at)
        if b.local:
            self._reply(req, at, ret=pid)
            return
        op = self._new_op()
        self.spawning[op] = (req, pid)
        self._send(cluster, ForkLoad(op=op, newpid=pid), at, req.data, bulk=True)
        self.loads[op] = ({cluster, req.src}, lambda c, op2, t: self._send(c, ForkLoad(op=op2, newpid=pid), t,
                                                                            req.data, bulk=True))

    def on_exec(self, req: Packet, at: int) -> None:
        """execve: the program at `path` in the file server's tree (--fs, and the --file files
        in its root), else the chip's file of that base name (as spawn finds it), crosses the
        NoC back."""
        b = req.body
        got: bytes | int = -ENOENT if self.program_at is None else self.program_at(b.path, b.cred)
        if got == -ENOENT:
            got = self.images.get(req.body.file, -ENOENT)
        elif isinstance(got, bytes):
            got = loadable_image(got)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
        else:
            rec = self.procs.get(req.body.pid)
            if rec is not None:
                rec.execed = True  # (its parent's setpgid on it: EACCES from now on)
            self._reply(req, at, ret=0, data=got, bulk=True)

    def on_pgrp(self, req: Packet, at: int) -> None:
        """getpgid, setpgid, getsid, setsid with Linux's rules: setpgid only on the caller or
        a child of it that has not called execve (EACCES), in the caller's session (EPERM),
        never on a session leader (EPERM), into an existing group of the session or a new one
        named by the target's pid (EPERM); setsid fails for a group leader (EPERM)."""
        b = req.body
        me = self.procs.get(b.pid)
        target = self.procs.get(b.target or b.pid)
        if me is None or target is None or target.status is not None:
            self._reply(req, at, ret=-ESRCH)
            return
        if b.what == 0:
            self._reply(req, at, ret=target.pgid)
        elif b.what == 2:
            self._reply(req, at, ret=target.sid)
        elif b.what == 3:
            if me.pgid == me.pid or any(r.pgid == me.pid and r.status is None for r in self.procs.values()):
                self._reply(req, at, ret=-EPERM)
                return
            me.sid = me.pgid = me.pid
            self._reply(req, at, ret=me.pid)
        else:
            pgid = b.pgid or target.pid
            if pgid < 0:
                self._reply(req, at, ret=-EINVAL)
            elif target is not me and target.parent != me.pid:
                self._reply(req, at, ret=-ESRCH)
            elif target is not me and target.execed:
                self._reply(req, at, ret=-EACCES)
            elif target.sid == target.pid or target.sid != me.sid:
                self._reply(req, at, ret=-EPERM)
            elif pgid != target.pid and not any(r.pgid == pgid and r.sid == me.sid and r.status is None
                                                 for r in self.procs.values()):
                self._reply(req, at, ret=-EPERM)
            else:
                target.pgid = pgid
                self._reply(req, at, ret=0)

    def _matches(self, rec: ProcRecord, req: Packet) -> bool:
        b = req.body
        if rec.parent != b.pid or rec.reaped:
            return False
        if b.idtype == P_PID:
            return rec.pid == b.id
        if b.idtype == P_PGID:
            me = self.procs.get(b.pid)
            return rec.pgid == (b.id or (me.pgid if me is not None else 0))
        return True

    @staticmethod
    def _reportable(rec: ProcRecord, req: Packet) -> bool:
        """Whether wait `req` takes what `rec` has to report: its end (WEXITED), a stop
        (WUNTRACED) or a continue (WCONTINUED) not yet waited for."""
        b = req.body
        if rec.status is not None:
            return b.no_exited is not True
        if rec.report is None:
            return False
        return (b.stopped if rec.report[1] == CLD_STOPPED else b.continued) is True

    def _answer_wait(self, req: Packet, rec: ProcRecord, at: int) -> None:
        if rec.status is None and rec.report is not None:  # a stop or a continue: reported once
            status, code = rec.report
            if req.body.reap:
                rec.report = None
            self._reply(req, at, ret=rec.pid, status=status, code=code)
            return
        if req.body.reap:
            self._reaped(rec)
            if rec.times is not None:  # (the reaper's children's times: calls/sysinfo.py)
                self._reply(req, at, ret=rec.pid, status=rec.status, code=rec.code, times=rec.times)
                return
        self._reply(req, at, ret=rec.pid, status=rec.status, code=rec.code)

    def on_wait_child(self, req: Packet, at: int) -> None:
        """wait4/waitid: the lowest-numbered child that matches and has something to report
        (it ended: a zombie, kept until reaped; it stopped or continued, if asked), 0 with
        WNOHANG while none has, ECHILD if none matches at all."""
        kids = [r for r in self._kids(req.body.pid) if self._matches(r, req)]
        if not kids:
            self._reply(req, at, ret=-ECHILD)
            return
        done = next((r for r in kids if self._reportable(r, req)), None)
        if done is not None:
            self._answer_wait(req, done, at)
        elif req.body.nohang:
            self._reply(req, at, ret=0)
        else:
            self.kin.waiters.setdefault(req.body.pid, []).append(req)

    def on_child_state(self, pkt: Packet, at: int) -> None:
        """A process stopped (a stop signal's default action) or a SIGCONT resumed it: kept for
        its parent's WUNTRACED or WCONTINUED wait, and SIGCHLD (CLD_STOPPED, CLD_CONTINUED) to
        the parent wherever it runs (its kernel drops it under SA_NOCLDSTOP)."""
        b = pkt.body
        rec = self.procs.get(b.pid)
        if rec is None or rec.status is not None:
            return
        rec.report = ((b.signal << 8) | 0x7F, CLD_STOPPED) if b.signal else (0xFFFF, CLD_CONTINUED)
        parent = self.procs.get(rec.parent)
        if parent is None or parent.status is not None:
            return
        info = signals.info(SIGCHLD, rec.report[1], rec.pid, 0, b.signal or SIGCONT)
        self._send(parent.cluster, SignalMsg(dst=parent.pid, tid=0, info=list(info), op=0,
                                             reply_to=self.node, pm_version=parent.version), at)
        self._tell_waiters(parent.pid, rec, at)

    def _tell_waiters(self, parent: int, rec: ProcRecord, at: int) -> None:
        waiting = self.kin.waiters.get(parent, [])
        for w in list(waiting):
            if self._matches(rec, w) and self._reportable(rec, w):
                waiting.remove(w)
                self._answer_wait(w, rec, at)
                if rec.reaped or (rec.status is None and rec.report is None):
                    break  # taken

    def _child_ended(self, rec: ProcRecord, at: int) -> None:
        """Tell the parent (SIGCHLD wherever it runs: a signal packet routed by pid) and answer
        its waits; the ended process's own children are adopted by init (pid 1, the host, which
        reaps them silently) and their kernels are told, so that getppid() answers 1."""
        self.kin.waiters.pop(rec.pid, None)
        loading = {pid for _, pid in self.spawning.values()}  # told once loaded (on_reply)
        for r in self._kids(rec.pid):
            self._set_parent(r, INIT_PID)
            if r.status is not None:
                self._reaped(r)  # a zombie init takes: nobody else will wait for it
            elif r.pid not in loading:
                self._reparent(r, at)
        parent = self.procs.get(rec.parent)
        if parent is None or parent.status is not None:
            return
        if rec.exit_signal:
            info = signals.info(rec.exit_signal, rec.code, rec.pid, 0,
                                rec.status >> 8 if rec.code == CLD_EXITED else rec.status & 0x7F)
            self._send(parent.cluster, SignalMsg(dst=parent.pid, tid=0, info=list(info), op=0,
                                                 reply_to=self.node, pm_version=parent.version), at)
        self._tell_waiters(parent.pid, rec, at)

    def _reparent(self, rec: ProcRecord, at: int) -> None:
        """A packet routed by pid (as SIGCHLD is): it follows a process that moves. No
        reply_to: nothing answers it, and its arrival then sends the manager no location notice."""
        self._send(rec.cluster, Reparent(dst=rec.pid, ppid=INIT_PID, pm_version=rec.version), at)

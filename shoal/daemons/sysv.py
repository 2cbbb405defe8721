"""System V IPC: message queues, semaphore sets and shared segments, a server of I/O cluster 0.
(Long, ~540 lines: the three kinds share keys, identifiers, waits and permissions here.)

Reached only through NoC packets from the kernels (kernel/calls/sysv.py), so processes on
any clusters share them. As Linux's ipc/{msg,sem,shm}.c, with its defaults:

- Keys: IPC_PRIVATE always makes a new object; another key finds the object made with it
  (IPC_CREAT makes one if none, IPC_EXCL refuses one that exists). Identifiers are
  `seq * 32768 + index`, the lowest free index and a sequence number per kind, so a removed
  object's identifier is not valid again (EINVAL) until the sequence wraps.
- Permissions as Linux's (daemons/sysvperm.py): get of an existing key, IPC_STAT, semctl's
  reads and writes, msgsnd, msgrcv, semop and shmat by the mode bits (EACCES); IPC_SET,
  IPC_RMID and SHM_LOCK by owner or creator (EPERM); only root raises msg_qbytes past MSGMNB.
  Root (euid 0) is never refused.
- Bounds (host memory): at most `ipc_max_names` objects of each kind; SEMMSL semaphores a
  set and SEMMNS on the chip; messages of MSGMAX bytes, MSGMNB bytes a queue by default, and
  MSG_POOL bytes queued on the whole chip (each message counts 64 bytes more): a sender
  beyond it waits as for a full queue. Segments are shared memory objects without a name
  (daemons/shm.py): their pages count against io_memory as shm_open's do, SHMMAX is
  io_memory.
- Every operation here is immediate (done, or EAGAIN when it would wait). Blocking is the
  kernel's, as for POSIX queues (daemons/ipc.py): after EAGAIN it sends `sysv_wait`,
  answered when the object changed (or at once if the call may succeed now), and makes the
  call again; a wait answered -EIDRM means the object was removed meanwhile. A waiter
  records the semaphore operation it waits on, so GETNCNT and GETZCNT count it, until its
  deadline or its `sysv_cancel` (interrupted by a signal).
- SEM_UNDO adjustments are kept by pid (so they follow a migrating process) and applied
  when the process ends, clamped to [0, SEMVMX] as Linux does; SETVAL and SETALL clear them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from shoal.abi import (
    E2BIG,
    EACCES,
    EAGAIN,
    EEXIST,
    EFBIG,
    EIDRM,
    EINVAL,
    ENOENT,
    ENOMSG,
    ENOSPC,
    EPERM,
    ERANGE,
)
from shoal.daemons.core import Core, Handler, HostCall
from shoal.daemons.sysvperm import EXEC, READ, WRITE, creator, cred_of, ipcperms, owner_ok
from shoal.messages import Kind
from shoal.platform.noc import Packet
from shoal.record import dataclass

IPC_CREAT, IPC_EXCL, IPC_NOWAIT = 0o1000, 0o2000, 0o4000
IPC_RMID, IPC_SET, IPC_STAT = 0, 1, 2
GETPID, GETVAL, GETALL, GETNCNT, GETZCNT, SETVAL, SETALL = 11, 12, 13, 14, 15, 16, 17
SHM_LOCK, SHM_UNLOCK, SHM_DEST = 11, 12, 0o1000
SHM_RDONLY, SHM_EXEC = 0o10000, 0o100000
MSG_NOERROR, MSG_EXCEPT = 0o10000, 0o20000
SEM_UNDO = 0x1000
MSGMAX, MSGMNB, MSG_POOL, MSG_OVERHEAD = 8192, 16384, 16 << 20, 64
SEMMSL, SEMMNS, SEMOPM, SEMVMX = 32000, 32000, 500, 32767
SEQ = 32768
EPOCH_S = 1_767_225_600  # the guests' wall clock starts there (kernel/calls/common.py)


@dataclass(eq=False)
class Obj:
    """What every System V object has: its key, owner and mode (ipc_perm), change time,
    sequence number, and the waits of threads on it (sysv_wait requests)."""

    key: int
    mode: int
    seq: int
    ctime: int
    uid: int = 0
    gid: int = 0
    cuid: int = 0
    cgid: int = 0
    waiters: list[Packet] = field(default_factory=list)

    def perm(self) -> list[int]:  # ipc64_perm: key, uid, gid, cuid, cgid, mode, seq
        return [self.key, self.uid, self.gid, self.cuid, self.cgid, self.mode, self.seq]


@dataclass(eq=False)
class MsgQueue(Obj):
    """A System V message queue (msgget)."""

    msgs: list[tuple[int, bytes]] = field(default_factory=list)  # (mtype, text), in order sent
    cbytes: int = 0
    qbytes: int = MSGMNB
    lspid: int = 0
    lrpid: int = 0
    stime: int = 0
    rtime: int = 0


@dataclass(eq=False)
class SemSet(Obj):
    """A System V semaphore set (semget)."""

    vals: list[int] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)  # the last process to change each
    otime: int = 0


@dataclass(eq=False)
class Segment(Obj):
    """A System V shared memory segment (shmget)."""

    size: int = 0
    obj: int = 0  # its shared memory object (daemons/shm.py)
    cpid: int = 0
    lpid: int = 0
    atime: int = 0
    dtime: int = 0
    atts: dict[int, int] = field(default_factory=dict)  # pid -> attachments
    removed: bool = False


Kinds = {"msg": MsgQueue, "sem": SemSet, "shm": Segment}


class SysvServer:
    def __init__(self, core: Core, shm_new: Callable[[], int | None], shm_size: Callable[[int, int], None],
                 shm_attach: Callable[[int, int], None], shm_remove: Callable[[int, int], None]) -> None:
        self.spec = core.spec
        self._reply = core.reply
        self.shm_new, self.shm_size = shm_new, shm_size
        self.shm_attach, self.shm_remove = shm_attach, shm_remove
        self.objs: dict[str, dict[int, Obj]] = {w: {} for w in Kinds}  # index -> object
        self.keys: dict[str, dict[int, int]] = {w: {} for w in Kinds}  # key -> index
        self.seqs = {w: 0 for w in Kinds}
        self.sems_used = 0
        self.msg_pool = 0  # bytes queued on the chip (with MSG_OVERHEAD a message)
        self.undo: dict[int, dict[int, dict[int, int]]] = {}  # pid -> sem id -> num -> adj
        self.by_obj: dict[int, int] = {}  # shared object -> segment id
        self.packets: dict[Kind, Handler] = {
            Kind.SYSV_GET: self.on_get, Kind.SYSV_CTL: self.on_ctl, Kind.MSG_SND: self.on_msgsnd,
            Kind.MSG_RCV: self.on_msgrcv, Kind.SEM_OP: self.on_semop, Kind.SHM_AT: self.on_shmat,
            Kind.SHM_DT: self.on_shmdt, Kind.SYSV_WAIT: self.on_wait, Kind.SYSV_CANCEL: self.on_cancel}
        self.host: dict[str, HostCall] = {}

    def stats(self) -> dict[str, int]:
        return {f"sysv_{w}": len(objs) for w, objs in self.objs.items()}

    def _secs(self, at: int) -> int:
        return EPOCH_S + at // self.spec.cluster.freq_hz

    def _find(self, what: str, ident: int) -> Obj | None:
        if ident < 0:
            return None
        o = self.objs[what].get(ident % SEQ)
        return o if o is not None and o.seq == ident // SEQ else None

    def _id(self, what: str, o: Obj) -> int:
        return o.seq * SEQ + next(i for i, x in self.objs[what].items() if x is o)

    def _remove(self, what: str, ident: int, o: Obj, at: int) -> None:
        """The identifier goes; its waiters are told (EIDRM)."""
        del self.objs[what][ident % SEQ]
        if self.keys[what].get(o.key) == ident % SEQ:
            del self.keys[what][o.key]
        for req in o.waiters:
            self._reply(req, at, ret=-EIDRM)
        o.waiters.clear()
        if isinstance(o, MsgQueue):
            self.msg_pool -= sum(len(t) + MSG_OVERHEAD for _, t in o.msgs)
        elif isinstance(o, SemSet):
            self.sems_used -= len(o.vals)
            for sets in self.undo.values():
                sets.pop(ident, None)
        elif isinstance(o, Segment):
            self.by_obj.pop(o.obj, None)
            self.shm_remove(o.obj, at)

    def _notify(self, o: Obj, at: int, what: str | None = None) -> None:
        """Tell the waiters (for `what`) that the object changed: they try again."""
        keep = []
        for req in o.waiters:
            if what is None or req.body.what == what:
                self._reply(req, at, ret=0)
            else:
                keep.append(req)
        o.waiters = keep

    def process_ended(self, pid: int, at: int) -> None:
        for what in ("msg", "sem"):
            for o in self.objs[what].values():
                o.waiters = [r for r in o.waiters if r.body.pid != pid]
        for ident, adjs in sorted(self.undo.pop(pid, {}).items()):
            s = self._find("sem", ident)
            if isinstance(s, SemSet) and any(adjs.values()):
                for num, adj in adjs.items():
                    s.vals[num] = min(max(s.vals[num] + adj, 0), SEMVMX)
                    s.pids[num] = pid
                s.otime = self._secs(at)
                self._notify(s, at)
        for seg in [s for s in self.objs["shm"].values() if pid in s.atts]:  # type: ignore[attr-defined]
            self._detach(seg, pid, seg.atts[pid], at)  # type: ignore[arg-type]

    # get --------------------------------------------------------------------------------------
    def on_get(self, req: Packet, at: int) -> None:
        b = req.body
        what, key, flags, size = b.what, b.key, b.flags, b.size
        index = self.keys[what].get(key) if key else None
        if index is not None:
            o = self.objs[what][index]
            if flags & IPC_CREAT and flags & IPC_EXCL:
                self._reply(req, at, ret=-EEXIST)
            elif isinstance(o, SemSet) and size > len(o.vals):
                self._reply(req, at, ret=-EINVAL)
            elif isinstance(o, Segment) and size > o.size:
                self._reply(req, at, ret=-EINVAL)
            elif not ipcperms(o, cred_of(b.cred), flags):
                self._reply(req, at, ret=-EACCES)
            else:
                self._reply(req, at, ret=o.seq * SEQ + index)
            return
        if key and not flags & IPC_CREAT:
            self._reply(req, at, ret=-ENOENT)
            return
        if what == "sem" and size == 0 or what == "shm" and not 1 <= size <= self.spec.rmem.io_memory:
            self._reply(req, at, ret=-EINVAL)
            return
        objs = self.objs[what]
        if len(objs) >= self.spec.limits.ipc_max_names or what == "sem" and self.sems_used + size > SEMMNS:
            self._reply(req, at, ret=-ENOSPC)
            return
        seq = self.seqs[what]
        self.seqs[what] = (seq + 1) % (1 << 16)
        o: Obj
        if what == "msg":
            o = MsgQueue(key, flags & 0o777, seq, self._secs(at))
        elif what == "sem":
            o = SemSet(key, flags & 0o777, seq, self._secs(at), vals=[0] * size, pids=[0] * size)
            self.sems_used += size
        else:
            obj = self.shm_new()
            if obj is None:
                self._reply(req, at, ret=-ENOSPC)
                return
            self.shm_size(obj, size)
            o = Segment(key, flags & 0o777, seq, self._secs(at), size=size, obj=obj, cpid=b.pid)
        o.uid, o.gid = o.cuid, o.cgid = creator(b.cred)
        index = next(i for i in range(len(objs) + 1) if i not in objs)
        objs[index] = o
        if key:
            self.keys[what][key] = index
        if isinstance(o, Segment):
            self.by_obj[o.obj] = o.seq * SEQ + index
        self._reply(req, at, ret=o.seq * SEQ + index)

    # control ----------------------------------------------------------------------------------
    def on_ctl(self, req: Packet, at: int) -> None:
        b = req.body
        o = self._find(b.what, b.id)
        if o is None:
            self._reply(req, at, ret=-EINVAL)
            return
        cmd, cred = b.cmd, cred_of(b.cred)
        if cmd in (IPC_RMID, IPC_SET) or isinstance(o, Segment) and cmd in (SHM_LOCK, SHM_UNLOCK):
            if not owner_ok(o, cred):
                self._reply(req, at, ret=-EPERM)
                return
        elif cmd == IPC_STAT or isinstance(o, SemSet) and cmd in (GETPID, GETVAL, GETALL, GETNCNT, GETZCNT):
            if not ipcperms(o, cred, READ):
                self._reply(req, at, ret=-EACCES)
                return
        elif isinstance(o, SemSet) and cmd == SETALL and not ipcperms(o, cred, WRITE):
            self._reply(req, at, ret=-EACCES)
            return
        if cmd == IPC_RMID:
            if isinstance(o, Segment):  # goes with its last attachment (shmctl(2))
                o.removed, o.mode = True, o.mode | SHM_DEST
                if self.keys["shm"].get(o.key) == b.id % SEQ:
                    del self.keys["shm"][o.key]
                o.key = 0
                o.ctime = self._secs(at)
                if not o.atts:
                    self._remove("shm", b.id, o, at)
            else:
                self._remove(b.what, b.id, o, at)
            self._reply(req, at, ret=0)
        elif cmd == IPC_SET:
            uid, gid, mode, qbytes = (list(b.vals) + [0] * 4)[:4]
            if isinstance(o, MsgQueue):
                if qbytes <= 0:  # (msg_qbytes is unsigned: a "negative" one is too large)
                    self._reply(req, at, ret=-EINVAL)
                    return
                if qbytes > MSGMNB and cred is not None:  # (CAP_SYS_RESOURCE's)
                    self._reply(req, at, ret=-EPERM)
                    return
                o.qbytes = qbytes
                self._notify(o, at, "send")
            o.uid, o.gid, o.mode = uid, gid, (o.mode & ~0o777) | (mode & 0o777)
            o.ctime = self._secs(at)
            self._reply(req, at, ret=0)
        elif cmd == IPC_STAT:
            self._reply(req, at, ret=0, st=o.perm() + self._stat(o))
        elif isinstance(o, SemSet):
            self._semctl(req, o, at)
        elif isinstance(o, Segment) and cmd in (SHM_LOCK, SHM_UNLOCK):
            self._reply(req, at, ret=0)  # (nothing is ever swapped out: nothing to lock)
        else:
            self._reply(req, at, ret=-EINVAL)

    def _stat(self, o: Obj) -> list[int]:
        if isinstance(o, MsgQueue):
            return [o.stime, o.rtime, o.ctime, o.cbytes, len(o.msgs), o.qbytes, o.lspid, o.lrpid]
        if isinstance(o, SemSet):
            return [o.otime, o.ctime, len(o.vals)]
        assert isinstance(o, Segment)
        return [o.size, o.atime, o.dtime, o.ctime, o.cpid, o.lpid, sum(o.atts.values())]

    def _semctl(self, req: Packet, s: SemSet, at: int) -> None:
        b = req.body
        cmd, num, n = b.cmd, b.num, len(s.vals)
        if cmd == GETALL:
            self._reply(req, at, ret=0, st=list(s.vals))
        elif cmd == SETALL:
            if len(b.vals) != n:
                self._reply(req, at, ret=-EINVAL)
            elif any(not 0 <= v <= SEMVMX for v in b.vals):
                self._reply(req, at, ret=-ERANGE)
            else:
                s.vals[:] = b.vals
                self._set(s, b.id, range(n), b.pid, at)
                self._reply(req, at, ret=0)
        elif cmd not in (GETPID, GETVAL, GETNCNT, GETZCNT, SETVAL):
            self._reply(req, at, ret=-EINVAL)
        elif not 0 <= num < n:
            self._reply(req, at, ret=-EINVAL)
        elif cmd == GETVAL:
            self._reply(req, at, ret=s.vals[num])
        elif cmd == GETPID:
            self._reply(req, at, ret=s.pids[num])
        elif cmd in (GETNCNT, GETZCNT):
            self._reply(req, at, ret=self._count(s, num, cmd == GETZCNT, at))
        elif not ipcperms(s, cred_of(b.cred), WRITE):  # SETVAL (Linux: after the number)
            self._reply(req, at, ret=-EACCES)
        elif not 0 <= b.vals[0] <= SEMVMX:
            self._reply(req, at, ret=-ERANGE)
        else:
            s.vals[num] = b.vals[0]
            self._set(s, b.id, (num,), b.pid, at)
            self._reply(req, at, ret=0)

    def _set(self, s: SemSet, ident: int, nums: range | tuple[int], pid: int, at: int) -> None:
        """SETVAL, SETALL: the values changed; every process's adjustments of them go."""
        for num in nums:
            s.pids[num] = pid
            for sets in self.undo.values():
                sets.get(ident, {}).pop(num, None)
        s.ctime = self._secs(at)
        self._notify(s, at)

    def _count(self, s: SemSet, num: int, zero: bool, at: int) -> int:
        """Threads waiting on semaphore `num`: for it to be 0, or to grow (the operation of
        their semop that cannot proceed, as Linux counts since 4.x)."""
        count = 0
        for req in s.waiters:
            w = req.body
            if w.until is not None and w.until <= at:
                continue  # timed out (its kernel gave up): no longer waiting
            blocked = _blocking(s.vals, w.sops)
            if blocked is not None and blocked[0] == num and (blocked[1] == 0) == zero:
                count += 1
        return count

    # messages ---------------------------------------------------------------------------------
    def on_msgsnd(self, req: Packet, at: int) -> None:
        b = req.body
        q = self._find("msg", b.id)
        if not isinstance(q, MsgQueue):
            self._reply(req, at, ret=-EINVAL)
            return
        n = len(req.data)
        if not ipcperms(q, cred_of(b.cred), WRITE):
            self._reply(req, at, ret=-EACCES)
            return
        if not self._fits(q, n):
            self._reply(req, at, ret=-EAGAIN)
            return
        q.msgs.append((b.mtype, req.data))
        q.cbytes += n
        self.msg_pool += n + MSG_OVERHEAD
        q.lspid, q.stime = b.pid, self._secs(at)
        self._reply(req, at, ret=0)
        self._notify(q, at, "recv")

    def _fits(self, q: MsgQueue, n: int) -> bool:
        return (q.cbytes + n <= q.qbytes and len(q.msgs) + 1 <= q.qbytes
                and self.msg_pool + n + MSG_OVERHEAD <= MSG_POOL)

    def on_msgrcv(self, req: Packet, at: int) -> None:
        b = req.body
        q = self._find("msg", b.id)
        if not isinstance(q, MsgQueue):
            self._reply(req, at, ret=-EINVAL)
            return
        if not ipcperms(q, cred_of(b.cred), READ):
            self._reply(req, at, ret=-EACCES)
            return
        i = _pick(q.msgs, b.mtype, bool(b.flags & MSG_EXCEPT))
        if i is None:
            self._reply(req, at, ret=-ENOMSG)
            return
        mtype, text = q.msgs[i]
        if len(text) > b.size and not b.flags & MSG_NOERROR:
            self._reply(req, at, ret=-E2BIG)
            return
        del q.msgs[i]
        q.cbytes -= len(text)
        full = self.msg_pool + MSGMAX + MSG_OVERHEAD > MSG_POOL
        self.msg_pool -= len(text) + MSG_OVERHEAD
        q.lrpid, q.rtime = b.pid, self._secs(at)
        text = text[:b.size]
        self._reply(req, at, ret=len(text), data=(mtype & 0xFFFFFFFF).to_bytes(4, "little") + text,
                    bulk=True)
        for other in self.objs["msg"].values() if full else (q,):  # (the chip's pool had no room)
            self._notify(other, at, "send")

    # semaphores -------------------------------------------------------------------------------
    def on_semop(self, req: Packet, at: int) -> None:
        b = req.body
        s = self._find("sem", b.id)
        if not isinstance(s, SemSet):
            self._reply(req, at, ret=-EINVAL)
            return
        if any(num >= len(s.vals) for num, _, _ in b.sops):
            self._reply(req, at, ret=-EFBIG)
            return
        if not ipcperms(s, cred_of(b.cred), WRITE if any(op for _, op, _ in b.sops) else READ):
            self._reply(req, at, ret=-EACCES)
            return
        vals, undo = list(s.vals), self.undo.get(b.pid, {}).get(b.id, {})
        adj = dict(undo)
        for num, op, flg in b.sops:
            v = vals[num] + op
            if op == 0 and vals[num] != 0 or v < 0:  # `value`: it would wait (no IPC_NOWAIT)
                self._reply(req, at, ret=-EAGAIN, value=0 if flg & IPC_NOWAIT else 1)
                return
            if v > SEMVMX:
                self._reply(req, at, ret=-ERANGE)
                return
            if flg & SEM_UNDO:
                adj[num] = adj.get(num, 0) - op
                if not -SEMVMX - 1 <= adj[num] <= SEMVMX:
                    self._reply(req, at, ret=-ERANGE)
                    return
            vals[num] = v
        changed = vals != s.vals
        s.vals[:] = vals
        for num, _, _ in b.sops:
            s.pids[num] = b.pid
        if adj != undo:
            self.undo.setdefault(b.pid, {})[b.id] = adj
        s.otime = self._secs(at)
        self._reply(req, at, ret=0)
        if changed:
            self._notify(s, at)

    # shared segments --------------------------------------------------------------------------
    def on_shmat(self, req: Packet, at: int) -> None:
        b = req.body
        seg = self._find("shm", b.id)
        if not isinstance(seg, Segment):
            self._reply(req, at, ret=-EINVAL)
            return
        f = b.flags if isinstance(b.flags, int) else 0
        want = READ | (0 if f & SHM_RDONLY else WRITE) | (EXEC if f & SHM_EXEC else 0)
        if not ipcperms(seg, cred_of(b.cred), want):
            self._reply(req, at, ret=-EACCES)
            return
        seg.atts[b.pid] = seg.atts.get(b.pid, 0) + 1
        seg.lpid, seg.atime = b.pid, self._secs(at)
        self.shm_attach(seg.obj, b.pid)
        self._reply(req, at, ret=seg.size, obj=seg.obj)

    def on_shmdt(self, pkt: Packet, at: int) -> None:
        ident = self.by_obj.get(pkt.body.obj)
        seg = self._find("shm", ident) if ident is not None else None
        if isinstance(seg, Segment) and pkt.body.pid in seg.atts:
            self._detach(seg, pkt.body.pid, 1, at)

    def forked(self, parent: int, child: int) -> None:
        """A fork's child has its parent's attachments (shm_nattch counts them, as Linux's)."""
        for seg in self.objs["shm"].values():
            n = seg.atts.get(parent)  # type: ignore[attr-defined]
            if n:
                seg.atts[child] = n  # type: ignore[attr-defined]

    def _detach(self, seg: Segment, pid: int, n: int, at: int) -> None:
        seg.atts[pid] -= n
        if seg.atts[pid] <= 0:
            del seg.atts[pid]
        seg.lpid, seg.dtime = pid, self._secs(at)
        if seg.removed and not seg.atts:
            self._remove("shm", self._id("shm", seg), seg, at)

    # waiting ----------------------------------------------------------------------------------
    def on_wait(self, req: Packet, at: int) -> None:
        b = req.body
        o = self._find("msg" if b.what != "sem" else "sem", b.id)
        if o is None:  # its call found it, so it was removed since (as if it had waited)
            self._reply(req, at, ret=-EIDRM)
            return
        if isinstance(o, SemSet):
            ready = any(num >= len(o.vals) for num, _, _ in b.sops) or _blocking(o.vals, b.sops) is None
        else:
            assert isinstance(o, MsgQueue)
            ready = bool(o.msgs) if b.what == "recv" else self._fits(o, b.size)
        if ready:
            self._reply(req, at, ret=0)
            return
        o.waiters = [r for r in o.waiters if (r.body.pid, r.body.tid) != (b.pid, b.tid)]
        o.waiters.append(req)

    def on_cancel(self, pkt: Packet, at: int) -> None:
        who = (pkt.body.pid, pkt.body.tid)
        for what in ("msg", "sem"):
            for o in self.objs[what].values():
                o.waiters = [r for r in o.waiters if (r.body.pid, r.body.tid) != who]


def _pick(msgs: list[tuple[int, bytes]], mtype: int, except_: bool) -> int | None:
    """msgrcv's choice: the first message (0), the first of type `mtype` (or, MSG_EXCEPT,
    not of it), or the first of the lowest type at most -mtype."""
    if mtype == 0:
        return 0 if msgs else None
    if mtype > 0:
        return next((i for i, (t, _) in enumerate(msgs) if (t != mtype) == except_), None)
    best = None
    for i, (t, _) in enumerate(msgs):
        if t <= -mtype and (best is None or t < msgs[best][0]):
            best = i
    return best


def _blocking(vals: list[int], sops: list) -> tuple[int, int] | None:
    """The (semaphore, operation) that keeps semop `sops` from proceeding now, or None."""
    vals = list(vals)
    for num, op, _ in sops:
        if op == 0 and vals[num] != 0 or vals[num] + op < 0:
            return num, op
        vals[num] = min(vals[num] + op, SEMVMX)
    return None

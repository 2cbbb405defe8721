"""The shared-memory home: POSIX shared memory objects and their pages (kernel/shm.py).

Objects by name, each the home of its pages: one writer or many readers at a time, a queue
of the requests waiting for each page, grants numbered uniquely on the chip. Pages held here
count against ChipSpec.rmem.io_memory with the remote-memory home's (`io_used`).

Anonymous MAP_SHARED memory becomes an object when its process forks (kernel/forkmem.py):
the caller's kernel numbers it (`anon_object`: unique on the chip without a round trip) and
keeps the pages it has as their writer; the Fork request tells the home (`adopt`), with no
name, so that it goes once no process maps it. A packet about such an object that overtakes
the Fork request on the NoC waits here for it (`early`).

A file mapped by mmap (MAP_SHARED or MAP_PRIVATE, kernel/calls/mman.py) is an object too, one
per file (`by_ino`), whose home store is the file itself (the file server's node, on this
I/O cluster): a page is read from the file when granted (zeros past its end; SIGBUS for a
page wholly past it, whatever the file's size is then), and a writer's page that comes home
is written into the file (up to its end). The object holds the file open while any process
maps it, and goes once none does and no cluster holds a page. The file server's read and
write of such a file wait for the copies that conflict to come home (`file_sync`: a read
for the writers' copies, a write for all), so read() and write() see and are seen by every
mapping, on any cluster; so do ftruncate and a punched hole (waiting for every copy of what
they change); open's O_TRUNC only recalls them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Protocol

from shoal.abi import EBADF, EEXIST, EFBIG, EINVAL, ENOENT, ENOSPC, O_CREAT, O_EXCL
from shoal.daemons.core import Core, Handler, HostCall
from shoal.kernel.shm import ANON, ANON_BITS, ANON_MAX
from shoal.messages import UNSET, Kind, ShmGone, ShmPage, ShmRecall
from shoal.platform.noc import Packet
from shoal.record import dataclass


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
    ino: int = 0  # a mapped file's object: the file's node (its pages are the file's bytes)
    io: list[tuple[Callable[[int], None], set[int]]] = field(default_factory=list)  # file_sync's


TRUNCATE = -1  # in a page's queue: an ftruncate that waits for the page to come home
FILEIO = -2  # in a page's queue: the file server's read or write of the file (file_sync)


class FileBacking(Protocol):
    """What the file server lends the objects of mapped files (daemons/files.py)."""

    def map_open(self, pid: int, handle: int, path: str, flags: int) -> int:
        ...  # the node of the open file, held open (or -errno)

    def map_release(self, ino: int) -> None:
        ...

    def map_data(self, ino: int, at: int | None = None) -> bytearray:
        ...  # the file's bytes (`at`: they are changed then)


class SharedMemory:
    def __init__(self, core: Core, io_used: Callable[[], int], files: FileBacking) -> None:
        self.spec = core.spec
        self.files = files
        self.by_ino: dict[int, int] = {}  # a mapped file's object, by the file's node
        self._send = core.send
        self._reply = core.reply
        self.io_used = io_used  # bytes of io_memory held, here and by the remote-memory home
        self.shm_names: dict[str, int] = {}
        self.shm_objs: dict[int, ShmObject] = {}
        self.shm_by_pid: dict[int, set[int]] = {}  # pid -> objects it opens or maps
        self.shm_next = 1  # object numbers are never used twice
        self.shm_grants = 0  # grant numbers, unique on the chip
        self.shm_bytes = 0  # pages held here, within io_memory with remote memory's
        # Kernels' objects (anon_object): by cluster, all up to `low` adopted, and those above
        # it adopted already; packets for one not adopted yet, held until it is.
        self.anon_low: dict[int, int] = {}
        self.anon_above: dict[int, set[int]] = {}
        self.early: dict[int, list[Packet]] = {}
        self.packets: dict[Kind, Handler] = {
            Kind.SHM_OPEN: self.on_shm_open, Kind.SHM_CLOSE: self.on_shm_close,
            Kind.SHM_TRUNCATE: self.on_shm_truncate, Kind.SHM_UNLINK: self.on_shm_unlink,
            Kind.SHM_GET: self.on_shm_get, Kind.SHM_BACK: self.on_shm_back,
            Kind.FUTEX_WAKE: self.on_futex_wake}
        self.host: dict[str, HostCall] = {}

    def stats(self) -> dict[str, int]:
        return {"shm_objects": len(self.shm_objs), "shm_bytes": self.shm_bytes}

    def on_shm_open(self, req: Packet, at: int) -> None:
        name, flags, pid = req.body.name, req.body.flags, req.body.pid
        if req.body.file is not UNSET:
            self._open_file(req, at)
            return
        if not name or "/" in name or len(name.encode()) > 255:
            self._reply(req, at, ret=-EINVAL)
            return
        obj = self.shm_names.get(name)
        if obj is not None and flags & O_CREAT and flags & O_EXCL:
            self._reply(req, at, ret=-EEXIST)
        elif obj is None and not flags & O_CREAT:
            self._reply(req, at, ret=-ENOENT)
        elif obj is None and len(self.shm_objs) >= self.spec.limits.ipc_max_names:
            self._reply(req, at, ret=-ENOSPC)  # (tmpfs out of inodes; unlinked, open ones count)
        else:
            if obj is None:
                obj = self.shm_names[name] = self.shm_next
                self.shm_next += 1
                self.shm_objs[obj] = ShmObject()
            self.shm_objs[obj].pids.add(pid)
            self.shm_by_pid.setdefault(pid, set()).add(obj)
            self._reply(req, at, ret=0, obj=obj)

    def _open_file(self, req: Packet, at: int) -> None:
        """mmap of an open file: the file's object (made at its first mapping)."""
        handle, path, flags = req.body.file
        pid = req.body.pid
        ino = self.files.map_open(pid, handle, path, flags)
        if ino < 0:
            self._reply(req, at, ret=ino)
            return
        obj = self.by_ino.get(ino)
        if obj is None:
            obj = self.by_ino[ino] = self.shm_next
            self.shm_next += 1
            self.shm_objs[obj] = ShmObject(linked=False, ino=ino)
        else:
            self.files.map_release(ino)  # (the object holds the file open once)
        self.shm_objs[obj].pids.add(pid)
        self.shm_by_pid.setdefault(pid, set()).add(obj)
        self._reply(req, at, ret=0, obj=obj)

    def file_sync(self, ino: int, start: int, end: int, write: bool, then: Callable[[int], None] | None,
                  at: int) -> bool:
        """The file server is to read (`write` False) or change bytes [start, end) of file `ino`:
        True if no cluster holds a copy of those pages that stands in the way (a writer's, or
        for a change any); else they are recalled and False: `then(at)` is called once they
        are home (with None, the copies are only recalled: a truncate goes on at once)."""
        obj = self.by_ino.get(ino)
        o = self.shm_objs.get(obj) if obj is not None else None
        if o is None:
            return True
        page = self.spec.cluster.page_size
        first, last = start // page, -(-end // page)
        wait = {pg for pg, held in o.holders.items()
                if first <= pg < last and (write or any(w for _, w in held.values()))}
        if not wait:
            return True
        for pg in sorted(wait):
            o.queue.setdefault(pg, []).insert(0, (FILEIO, write, 0))
        if then is not None:
            o.io.append((then, wait))
        for pg in sorted(wait):
            self._shm_serve(obj, o, pg, at)  # type: ignore[arg-type]
        return then is None

    def _file_page(self, o: ShmObject, pg: int) -> bytes:
        """Page `pg` of a mapped file as the file has it now (zeros past its end)."""
        page = self.spec.cluster.page_size
        got = bytes(self.files.map_data(o.ino)[pg * page:(pg + 1) * page])
        return got + bytes(page - len(got))

    def _size(self, o: ShmObject) -> int:
        return len(self.files.map_data(o.ino)) if o.ino else o.size

    # System V segments (daemons/sysv.py): objects without a name, removed by IPC_RMID --------
    def segment_new(self) -> int | None:
        """A new nameless object (its size is set by `segment_size`); None if none is left."""
        if len(self.shm_objs) >= self.spec.limits.ipc_max_names:
            return None
        obj = self.shm_next
        self.shm_next += 1
        self.shm_objs[obj] = ShmObject()
        return obj

    def segment_size(self, obj: int, size: int) -> None:
        self.shm_objs[obj].size = size

    def segment_attach(self, obj: int, pid: int) -> None:
        """`pid` maps the object (its kernel says when it no longer does: shm_close)."""
        self.shm_objs[obj].pids.add(pid)
        self.shm_by_pid.setdefault(pid, set()).add(obj)

    def segment_remove(self, obj: int, at: int) -> None:
        """As an unlink: it goes once no process maps it."""
        o = self.shm_objs.get(obj)
        if o is not None:
            o.linked = False
            self._shm_maybe_free(obj, o, at)

    # anonymous shared memory a fork shares (kernel/forkmem.py) -------------------------
    def adopt(self, anon: list, pid: int, cluster: int, at: int) -> None:
        """Kernel `cluster` made object `obj` of `npages` pages of `pid`'s anonymous shared
        memory and holds pages `held` for writing: their bytes are there (its grant is 0, so
        every later grant is newer), the others are zeros until touched. They count against
        io_memory as a writer's pages do (the home takes them back on recall), even beyond."""
        obj, npages, held = anon
        c, n = (obj & ~ANON) >> ANON_BITS, obj & ANON_MAX
        above = self.anon_above.setdefault(c, set())
        above.add(n)
        low = self.anon_low.get(c, 0)
        while low + 1 in above:
            low += 1
            above.discard(low)
        self.anon_low[c] = low
        page = self.spec.cluster.page_size
        o = self.shm_objs[obj] = ShmObject(size=npages * page, linked=False, pids={pid})
        self.shm_by_pid.setdefault(pid, set()).add(obj)
        for pg in held:
            o.pages[pg] = bytes(page)
            o.holders[pg] = {cluster: (0, True)}
        self.shm_bytes += len(held) * page
        if held:
            o.seen.add(cluster)
        for pkt in self.early.pop(obj, []):  # (in the order they came)
            self.packets[pkt.kind](pkt, at)

    def _early(self, pkt: Packet, obj: int) -> bool:
        """A packet about a kernel's object not adopted yet (it overtook the Fork request):
        held. An object adopted and freed since is not held for (stale)."""
        if obj < ANON or obj in self.shm_objs:
            return False
        c, n = (obj & ~ANON) >> ANON_BITS, obj & ANON_MAX
        if n <= self.anon_low.get(c, 0) or n in self.anon_above.get(c, ()):
            return False
        self.early.setdefault(obj, []).append(pkt)
        return True

    def forked(self, parent: int, child: int) -> None:
        """A fork's child opens and maps what its parent does."""
        objs = self.shm_by_pid.get(parent)
        if objs:
            self.shm_by_pid[child] = set(objs)
            for obj in objs:
                o = self.shm_objs.get(obj)
                if o is not None:
                    o.pids.add(child)

    def on_futex_wake(self, pkt: Packet, at: int) -> None:
        """A wake of waiters on a word of the object that its sender's cluster did not all
        satisfy: passed on to the other clusters that hold or held its pages (a waiter read
        the word there first), not to every cluster (a stopped waiter, still counted by the
        lock, would have each unlock cost every cluster a packet)."""
        o = self.shm_objs.get(pkt.body.obj)
        if o is None:
            return  # (freed, or not adopted yet: no cluster but the sender's can have waiters)
        for c in sorted(o.seen - {pkt.src}):
            self._send(c, pkt.body, at)

    def on_shm_close(self, pkt: Packet, at: int) -> None:
        """A process no longer opens nor maps the object (its kernel says so)."""
        if self._early(pkt, pkt.body.obj):
            return
        self._shm_unref(pkt.body.obj, pkt.body.pid, at)

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

    def process_ended(self, pid: int, at: int) -> None:
        for obj in sorted(self.shm_by_pid.pop(pid, ())):
            o = self.shm_objs.get(obj)
            if o is not None:
                o.pids.discard(pid)
                self._shm_maybe_free(obj, o, at)

    def _shm_maybe_free(self, obj: int, o: ShmObject, at: int) -> None:
        """POSIX: an unlinked object lives while a process opens or maps it, then goes (a
        mapped file's once its written pages are home too: they go into the file)."""
        if o.linked or o.pids or o.ino and o.holders:
            return
        del self.shm_objs[obj]
        if o.ino:
            del self.by_ino[o.ino]
            self.files.map_release(o.ino)
        self.shm_bytes -= len(o.pages) * self.spec.cluster.page_size
        for c in sorted(o.seen):  # (what a cluster still holds goes home as it unmaps: dropped)
            self._send(c, ShmGone(obj=obj), at)

    def on_shm_truncate(self, req: Packet, at: int) -> None:
        obj = req.body.obj
        o = self.shm_objs.get(obj)
        length = req.body.length
        if o is None:
            self._reply(req, at, ret=-EBADF)
        elif length > self.spec.rmem.io_memory:
            self._reply(req, at, ret=-EFBIG)
        else:
            page = self.spec.cluster.page_size
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
        obj = self.shm_names.pop(req.body.name, None)
        self._reply(req, at, ret=0 if obj is not None else -ENOENT)
        if obj is not None:
            o = self.shm_objs[obj]
            o.linked = False
            self._shm_maybe_free(obj, o, at)

    def on_shm_get(self, pkt: Packet, at: int) -> None:
        obj, pg = pkt.body.obj, pkt.body.pg
        who = pkt.src
        o = self.shm_objs.get(obj)
        if o is None and self._early(pkt, obj):
            return
        if o is None:  # (no process opens or maps it: a stale request) nothing is there
            self._send(who, ShmPage(obj=obj, pg=pg, bus=True), at)
            return
        o.queue.setdefault(pg, []).append((who, pkt.body.write, pkt.body.have))
        self._shm_serve(obj, o, pg, at)

    def on_shm_back(self, pkt: Packet, at: int) -> None:
        obj, pg, who = pkt.body.obj, pkt.body.pg, pkt.src
        o = self.shm_objs.get(obj)
        if o is None and self._early(pkt, obj):
            return
        held = o.holders.get(pg, {}).get(who) if o is not None else None
        if o is None or held is None or held[0] != pkt.body.gen:
            return  # a copy the daemon no longer counts on (a newer grant replaced it)
        del o.holders[pg][who]
        if not o.holders[pg]:
            del o.holders[pg]
        page = self.spec.cluster.page_size
        if held[1] and len(pkt.data) == page and o.ino:  # a mapped file's: into the file, to its end
            data = self.files.map_data(o.ino, at)
            keep = max(0, min(page, len(data) - pg * page))
            data[pg * page:pg * page + keep] = pkt.data[:keep]
        elif held[1] and len(pkt.data) == page and pg in o.pages:
            o.pages[pg] = pkt.data  # the writer's bytes come home
        o.recalled.discard((pg, who))
        self._shm_serve(obj, o, pg, at)
        if o.ino and not o.pids and not o.holders:
            self._shm_maybe_free(obj, o, at)

    def _shm_serve(self, obj: int, o: ShmObject, pg: int, at: int) -> None:
        """Grant the waiting requests of page `pg` in order while they fit (one writer or
        many readers); recall the copies that stand in the way of the first that does not."""
        queue = o.queue.get(pg, [])
        page = self.spec.cluster.page_size
        while queue:
            who, write, have = queue[0]
            holders = o.holders.get(pg, {})
            mine = holders.get(who)
            if who == TRUNCATE or who == FILEIO and write:
                conflicts = set(holders)
            elif who == FILEIO:
                conflicts = {c for c, (_, w) in holders.items() if w}
            elif pg * page >= self._size(o):  # beyond the end: SIGBUS (EFAULT in a system call)
                queue.pop(0)
                self._send(who, ShmPage(obj=obj, pg=pg, bus=True), at)
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
                        self._send(c, ShmRecall(obj=obj, pg=pg, gen=holders[c][0]), at)
                return
            queue.pop(0)
            if who == TRUNCATE:
                self._shm_cut(o, pg)
                continue
            if who == FILEIO:
                self._file_io_done(o, pg, at)
                continue
            if o.ino:  # a mapped file's page: the file's bytes now
                self.shm_grants += 1
                o.holders.setdefault(pg, {})[who] = (self.shm_grants, write)
                o.seen.add(who)
                self._send(who, ShmPage(obj=obj, pg=pg, write=write, gen=self.shm_grants),
                           at, self._file_page(o, pg), bulk=True)
                continue
            if pg not in o.pages:  # first touch: the page comes to exist here
                if self.io_used() + page > self.spec.rmem.io_memory:
                    self._send(who, ShmPage(obj=obj, pg=pg, bus=True), at)  # (tmpfs full)
                    continue
                o.pages[pg] = bytes(page)
                self.shm_bytes += page
            self.shm_grants += 1
            o.holders.setdefault(pg, {})[who] = (self.shm_grants, write)
            o.seen.add(who)
            self._send(who, ShmPage(obj=obj, pg=pg, write=write, gen=self.shm_grants),
                       at, o.pages[pg], bulk=True)
        if not queue:
            o.queue.pop(pg, None)
        if o.truncating:
            self._shm_truncated(o, at)

    def _file_io_done(self, o: ShmObject, pg: int, at: int) -> None:
        """Page `pg` of a mapped file is home (as file_sync wanted): the file server's reads
        and writes that waited for nothing else go on."""
        for then, left in list(o.io):
            left.discard(pg)
            if not left:
                o.io.remove((then, left))
                then(at)

    def _shm_cut(self, o: ShmObject, pg: int) -> None:
        """Page `pg` is home and no cluster holds it: cut it to the object's new size."""
        page = self.spec.cluster.page_size
        keep = o.size - pg * page
        if pg in o.pages:
            if keep <= 0:
                del o.pages[pg]
                self.shm_bytes -= page
            elif keep < page:
                o.pages[pg] = o.pages[pg][:keep] + bytes(page - keep)
        for _, left in o.truncating:
            left.discard(pg)


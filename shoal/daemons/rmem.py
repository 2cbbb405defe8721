"""The remote-memory home: pages the compute clusters evict, kept for them (kernel/rmem.py).

Pages are kept for processes, by pid (not by cluster: a process that moves fetches them from
wherever it runs), within ChipSpec.rmem.io_memory (one memory with the shared-memory home's
pages: `io_used`), each as (version, bytes). A write-back can arrive after the request for
it (it waits behind its cluster's DMA engine, or was lost and sent again): the request waits.
Where a process lives and whether it is alive is the process manager's (`locate`).
A fork's child gets copies of its parent's pages (`dup`: the Fork request's list, and
`rmem_dup` for pages that went out while its answer came), made here by the daemon core; a
copy of a write-back still on its way is made when it comes.
"""

from __future__ import annotations

from collections.abc import Callable

from shoal.daemons.core import Core, Handler, HostCall
from shoal.messages import Kind, RmemFull, RmemPage
from shoal.platform.noc import Packet


class RemoteMemory:
    def __init__(self, core: Core, locate: Callable[[int], tuple[int, bool]],
                 io_used: Callable[[], int]) -> None:
        self.spec = core.spec
        self._send = core.send
        self.locate = locate
        self.io_used = io_used  # bytes of io_memory held, here and by the shared-memory home
        self.rmem: dict[int, dict[int, tuple[int, bytes]]] = {}
        self.rmem_bytes = 0
        # The requests for a version not here yet, by (pid, page): (version, who asked).
        self.rmem_asked: dict[tuple[int, int], list[tuple[int, int]]] = {}
        # Pages freed (unmapped) while their last write-back was still on its way: that
        # write-back is dropped when it comes (by version), and forgotten then.
        self.rmem_freed: dict[tuple[int, int], int] = {}
        # Copies a fork's child waits for (the parent's write-back is on its way), by
        # (parent, page): (version, child) each.
        self.rmem_dups: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self.busy = core.busy  # the daemon core's: copying costs its time
        self.packets: dict[Kind, Handler] = {
            Kind.RMEM_PUT: self.on_rmem_put, Kind.RMEM_FREE: self.on_rmem_free,
            Kind.RMEM_GET: self.on_rmem_get, Kind.RMEM_DUP: self.on_rmem_dup}
        self.host: dict[str, HostCall] = {}

    def stats(self) -> dict[str, int]:
        return {"rmem_bytes": self.rmem_bytes}

    def process_ended(self, pid: int, at: int) -> None:
        self.rmem_bytes -= sum(len(d) for _, d in self.rmem.pop(pid, {}).values())
        for table in (self.rmem_asked, self.rmem_freed):
            for key in [key for key in table if key[0] == pid]:
                del table[key]
        # (copies owed to it go; those it owes a child stay, served by the write-back to come)
        for key in [key for key, dups in self.rmem_dups.items() if any(c == pid for _, c in dups)]:
            self.rmem_dups[key] = [d for d in self.rmem_dups[key] if d[1] != pid]
            if not self.rmem_dups[key]:
                del self.rmem_dups[key]

    # fork (kernel/calls/fork.py) --------------------------------------------------------------
    def dup_fits(self, pid: int, pages: list) -> bool:
        """Is there room in io_memory for a child's copies of these pages of `pid`?"""
        have = self.rmem.get(pid, {})
        page = self.spec.cluster.page_size
        need = sum(len(have[va][1]) if va in have else page for va, _ in pages)
        return self.io_used() + need <= self.spec.rmem.io_memory

    def dup(self, pid: int, child: int, pages: list, at: int) -> int:
        """The child's copies of its parent's pages, each at the version the parent's image
        lists (or a later one); one whose write-back is still on its way is copied when it
        comes. Returns when the daemon core is done copying."""
        have = self.rmem.get(pid, {})
        nbytes = 0
        for va, ver in pages:
            got = have.get(va)
            if got is not None and got[0] >= ver:
                nbytes += len(got[1])
                self._give(child, va, got[0], got[1], at)
            else:
                self.rmem_dups.setdefault((pid, va), []).append((ver, child))
        cost = int(nbytes * self.spec.costs.copy_cycles_per_byte)
        return at if cost == 0 else self.busy.book(at, cost) + cost

    def _give(self, pid: int, va: int, ver: int, data: bytes, at: int) -> None:
        """Keep `data` as page `va` of `pid` (a fork's copy) and answer who waits for it."""
        pages = self.rmem.setdefault(pid, {})
        old = pages.get(va)
        if old is not None and old[0] >= ver:
            return
        self.rmem_bytes += len(data) - (0 if old is None else len(old[1]))
        pages[va] = (ver, data)
        self._answer(pid, va, ver, data, at)

    def _answer(self, pid: int, va: int, ver: int, data: bytes, at: int) -> None:
        asked = self.rmem_asked.get((pid, va))
        if asked:
            now = [a for a in asked if a[0] <= ver]
            asked[:] = [a for a in asked if a[0] > ver]
            if not asked:
                del self.rmem_asked[(pid, va)]
            for _, to in now:
                self._send(to, RmemPage(pid=pid, va=va, ver=ver), at, data, bulk=True)

    def on_rmem_dup(self, pkt: Packet, at: int) -> None:
        """Pages a forked child's parent evicted while the fork's answer came."""
        b = pkt.body
        if not self.locate(b.child)[1]:
            return
        if not self.dup_fits(b.pid, b.pages):
            self._send(self.locate(b.child)[0], RmemFull(dst=b.child, va=b.pages[0][0]), at)
            return
        self.dup(b.pid, b.child, b.pages, at)

    def _dups(self, pid: int, va: int, ver: int, data: bytes, at: int) -> None:
        """A write-back of `pid` came: the copies its forked children wait for are made."""
        dups = self.rmem_dups.get((pid, va))
        if not dups:
            return
        now = [d for d in dups if d[0] <= ver]
        dups[:] = [d for d in dups if d[0] > ver]
        if not dups:
            del self.rmem_dups[(pid, va)]
        for _, child in now:
            if self.locate(child)[1]:
                self._give(child, va, ver, data, at)

    def on_rmem_put(self, pkt: Packet, at: int) -> None:
        pid, va, ver = pkt.body.pid, pkt.body.va, pkt.body.ver
        if self.rmem_dups:  # (first: the parent may have unmapped it or ended since its fork)
            self._dups(pid, va, ver, pkt.data, at)
        where, alive = self.locate(pid)
        if not alive:
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
        if self.io_used() + grow > self.spec.rmem.io_memory:  # (one memory for both)
            # To the process wherever it is now (it may have moved since it wrote this back).
            self._send(where, RmemFull(dst=pid, va=va), at)
            return
        self.rmem_bytes += grow
        pages[va] = (ver, pkt.data)
        self._answer(pid, va, ver, pkt.data, at)

    def on_rmem_free(self, pkt: Packet, at: int) -> None:
        pid = pkt.body.pid
        pages = self.rmem.get(pid, {})
        if not self.locate(pid)[1]:
            return
        for va, ver in pkt.body.pages:
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
        pid, va, ver = pkt.body.pid, pkt.body.va, pkt.body.ver
        to = pkt.src
        got = self.rmem.get(pid, {}).get(va)
        if got is None or got[0] < ver:  # its write-back is still on its way: answered then
            if self.locate(pid)[1]:
                self.rmem_asked.setdefault((pid, va), []).append((ver, to))
            return
        self._send(to, RmemPage(pid=pid, va=va, ver=got[0]), at, got[1], bulk=True)

"""The remote-memory home: pages the compute clusters evict, kept for them (kernel/rmem.py).

Pages are kept for processes, by pid (not by cluster: a process that moves fetches them from
wherever it runs), within ChipSpec.rmem.io_memory (one memory with the shared-memory home's
pages: `io_used`), each as (version, bytes). A write-back can arrive after the request for
it (it waits behind its cluster's DMA engine, or was lost and sent again): the request waits.
Where a process lives and whether it is alive is the process manager's (`locate`).
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
        self.packets: dict[Kind, Handler] = {
            Kind.RMEM_PUT: self.on_rmem_put, Kind.RMEM_FREE: self.on_rmem_free,
            Kind.RMEM_GET: self.on_rmem_get}
        self.host: dict[str, HostCall] = {}

    def stats(self) -> dict[str, int]:
        return {"rmem_bytes": self.rmem_bytes}

    def process_ended(self, pid: int, at: int) -> None:
        self.rmem_bytes -= sum(len(d) for _, d in self.rmem.pop(pid, {}).values())
        for table in (self.rmem_asked, self.rmem_freed):
            for key in [key for key in table if key[0] == pid]:
                del table[key]

    def on_rmem_put(self, pkt: Packet, at: int) -> None:
        pid, va, ver = pkt.body.pid, pkt.body.va, pkt.body.ver
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
        asked = self.rmem_asked.get((pid, va))
        if asked:
            now = [a for a in asked if a[0] <= ver]
            asked[:] = [a for a in asked if a[0] > ver]
            if not asked:
                del self.rmem_asked[(pid, va)]
            for _, to in now:
                self._send(to, RmemPage(pid=pid, va=va, ver=ver), at, pkt.data, bulk=True)

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

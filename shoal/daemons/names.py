"""The name service: a process links a name to its pid; others look it up (shoal_name_*)."""

from __future__ import annotations

from shoal.abi import EEXIST, ENOENT
from shoal.daemons.core import Core, Handler, HostCall
from shoal.messages import Kind
from shoal.platform.noc import Packet


class NameServer:
    def __init__(self, core: Core) -> None:
        self._reply = core.reply
        self.names: dict[str, int] = {}
        self.packets: dict[Kind, Handler] = {
            Kind.NAME_LINK: self.on_name_link, Kind.NAME_LOOKUP: self.on_name_lookup,
            Kind.NAME_UNLINK: self.on_name_unlink}
        self.host: dict[str, HostCall] = {}

    def process_ended(self, pid: int, at: int) -> None:
        for name in [n for n, p in self.names.items() if p == pid]:
            del self.names[name]

    def on_name_link(self, req: Packet, at: int) -> None:
        name = req.body.name
        if name in self.names:
            self._reply(req, at, ret=-EEXIST)
        else:
            self.names[name] = req.body.pid
            self._reply(req, at, ret=0)

    def on_name_lookup(self, req: Packet, at: int) -> None:
        self._reply(req, at, ret=self.names.get(req.body.name, -ENOENT))

    def on_name_unlink(self, req: Packet, at: int) -> None:
        name = req.body.name
        if self.names.get(name) != req.body.pid:
            self._reply(req, at, ret=-ENOENT)
        else:
            del self.names[name]
            self._reply(req, at, ret=0)

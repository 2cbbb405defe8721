"""What a daemon server may ask of the I/O cluster node that runs it (daemons/node.py).

A server owns its state and its tables (`packets`: kind -> handler; `host`: request ->
function); to act it has only this: the chip's spec, the node's number, the daemon core's
calendar (to book copying time), and sending (a packet, or the reply to a request).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from shoal.messages import Body
from shoal.platform.calendar import Calendar
from shoal.platform.noc import Packet
from shoal.spec import ChipSpec

Handler = Callable[[Packet, int], None]  # a request taken at cycle `at` (its service done)
HostCall = Callable[..., Any]  # plain data in, plain data out
Ended = Callable[[int, int], None]  # (pid, at): a process ended


class Core(Protocol):
    spec: ChipSpec
    node: int
    busy: Calendar

    def send(self, dst: int, body: Body, at: int, data: bytes = b"", bulk: bool = False) -> None:
        ...

    def reply(self, req: Packet, at: int, data: bytes = b"", bulk: bool = False, **fields: Any) -> None:
        ...

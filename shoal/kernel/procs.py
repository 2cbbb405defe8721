"""Calls that need the system daemons (process manager, name service; files: files.py).

Each is a request over the NoC to the I/O cluster and a blocked thread until the reply
comes back, as on Nanvix, where these services are servers reached through mailboxes.
The packets a kernel receives from the daemons (a program to load) are handled here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import E2BIG, ENOEXEC, ENOMEM
from shoal.errors import ShoalError
from shoal.kernel.loader import ArgsTooBig, parse_elf
from shoal.kernel.memory import OutOfFrames
from shoal.platform.noc import Packet

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

MAX_NAME = 64
MAX_ARGS = 64


# --- packets from the daemons --------------------------------------------------------------
def on_load(k: Kernel, pkt: Packet, at: int) -> None:
    """The process manager sends a program to start here; answer with the outcome."""
    b = pkt.body
    try:
        exe = parse_elf(pkt.data, b["name"])
        k.spawn(exe, b["argv"], [], b["newpid"], b["seed"], at)
        ret = b["newpid"]
    except ArgsTooBig:
        ret = -E2BIG
    except ShoalError:
        ret = -ENOEXEC
    except OutOfFrames:
        ret = -ENOMEM
    k.reply(pkt, at, ret=ret)


HANDLERS = {"load": on_load}

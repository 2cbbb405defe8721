"""What the process manager asks of a kernel: a program to load here (its calls, spawn and
wait, are in kernel/calls/shoal.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import E2BIG, ENOEXEC, ENOMEM, INIT_PID
from shoal.errors import ShoalError
from shoal.kernel.loader import ArgsTooBig, parse_elf
from shoal.kernel.memory import OutOfFrames
from shoal.messages import Kind
from shoal.platform.noc import Packet

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

# --- packets from the daemons --------------------------------------------------------------
def on_load(k: Kernel, pkt: Packet, at: int) -> None:
    """The process manager sends a program to start here; answer with the outcome."""
    b = pkt.body
    try:
        exe = parse_elf(pkt.data, b.name)
        p = k.spawn(exe, b.argv, [], b.newpid, b.seed, at)
        p.fs.cwd = b.cwd or "/"  # inherited
        p.family.ppid = b.ppid or INIT_PID  # its spawner (getppid)
        if b.user:  # the spawner's ids and groups (absent: root's)
            p.user.ids, p.user.groups = list(b.user[:8]), list(b.user[8:])
        ret = b.newpid
    except ArgsTooBig:
        ret = -E2BIG
    except ShoalError:
        ret = -ENOEXEC
    except OutOfFrames:
        ret = -ENOMEM
    k.reply(pkt, at, ret=ret)


HANDLERS = {Kind.LOAD: on_load}

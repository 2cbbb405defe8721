"""Calls that need the system daemons (process manager, name service; files: files.py).

Each is a request over the NoC to the I/O cluster and a blocked thread until the reply
comes back, as on Nanvix, where these services are servers reached through mailboxes.
The packets a kernel receives from the daemons (a program to load) are handled here too.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import E2BIG, ECHILD, EINVAL, ENAMETOOLONG, ENOENT, ENOEXEC, ENOMEM
from shoal.errors import ShoalError
from shoal.kernel.container import Thread
from shoal.kernel.loader import ArgsTooBig, parse_elf
from shoal.kernel.memory import OutOfFrames
from shoal.kernel.syscalls import s32, syscall
from shoal.platform.noc import Packet

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

MAX_NAME = 64
MAX_ARGS = 64


def _user_path(t: Thread, addr: int) -> str | int:
    raw = t.proc.aspace.read_cstr(addr, 4096)
    if not raw:
        return -ENOENT
    name = raw.decode(errors="replace").rsplit("/", 1)[-1]
    if len(name) > 255:
        return -ENAMETOOLONG
    return name


@syscall(500, "shoal_cluster")
def sys_cluster(k: Kernel, t: Thread, a: list[int]) -> int:
    return k.cluster


@syscall(501, "shoal_clusters")
def sys_clusters(k: Kernel, t: Thread, a: list[int]) -> int:
    return k.spec.compute_clusters


@syscall(502, "shoal_spawn")
def sys_spawn(k: Kernel, t: Thread, a: list[int]) -> int:
    name = _user_path(t, a[0])
    if isinstance(name, int):
        return name
    argv: list[str] = []
    if a[1]:
        for i in range(MAX_ARGS + 1):
            ptr = struct.unpack("<I", t.proc.aspace.read(a[1] + 4 * i, 4))[0]
            if ptr == 0:
                break
            if i == MAX_ARGS:
                return -EINVAL
            argv.append(t.proc.aspace.read_cstr(ptr, 4096).decode(errors="replace"))
    cluster = s32(a[2])
    if cluster < -1 or cluster >= k.spec.compute_clusters:
        return -EINVAL
    k.rpc(t, "spawn", {"file": name, "argv": argv or [name], "cluster": cluster},
          lambda reply, at: reply.body["ret"])
    return 0


@syscall(503, "shoal_wait")
def sys_wait(k: Kernel, t: Thread, a: list[int]) -> int:
    pid, status = s32(a[0]), a[1]
    if pid <= 0:
        return -EINVAL
    if pid == t.proc.pid:
        return -ECHILD  # waiting for oneself would never end

    def done(reply: Packet, at: int) -> int:
        if reply.body["ret"] > 0 and status:
            t.proc.aspace.write(status, struct.pack("<i", reply.body["status"]))
        return reply.body["ret"]
    if status:
        t.proc.aspace.translate(status, "store")  # EFAULT now rather than after the wait
    k.rpc(t, "wait", {"target": pid}, done)
    return 0


def _name(t: Thread, addr: int) -> str | int:
    raw = t.proc.aspace.read_cstr(addr, 4096)
    if not raw:
        return -EINVAL
    if len(raw) > MAX_NAME:
        return -ENAMETOOLONG
    return raw.decode(errors="replace")


def _name_call(kind: str) -> object:
    """name_link, name_lookup, name_unlink: one request to the name service each."""
    def call(k: Kernel, t: Thread, a: list[int]) -> int:
        name = _name(t, a[0])
        if isinstance(name, int):
            return name
        k.rpc(t, kind, {"name": name}, lambda reply, at: reply.body["ret"])
        return 0
    return call


for _num, _kind in ((504, "name_link"), (505, "name_lookup"), (522, "name_unlink")):
    syscall(_num, f"shoal_{_kind}")(_name_call(_kind))  # type: ignore[arg-type]


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

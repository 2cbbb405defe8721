"""shoal's own calls (500-530, shoal.h): where am I, spawn and wait (the process manager), names
(the name service), and a move of the caller (kernel/migrate/)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from shoal.abi import ECHILD, EINVAL, ENAMETOOLONG, ENOENT
from shoal.kernel import migrate
from shoal.kernel.calls.common import s32
from shoal.kernel.container import Block, Thread
from shoal.kernel.memory import Missing
from shoal.messages import UNSET, NameLink, NameLookup, NameUnlink, Spawn, Wait

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


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


def sys_cluster(k: Kernel, t: Thread, a: list[int]) -> int:
    return k.cluster


def sys_clusters(k: Kernel, t: Thread, a: list[int]) -> int:
    return k.spec.compute_clusters


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
    # No argv: the path as the caller gave it is argv[0] (the file is found by its base name).
    # The child starts where its parent is (absent: the root).
    u = t.proc.user  # (the child is the caller's, not root's: spawn grants no privilege)
    body = Spawn(file=name, argv=argv or [t.proc.aspace.read_cstr(a[0], 4096).decode(errors="replace")],
                 cluster=cluster, cwd=t.proc.fs.cwd if t.proc.fs.cwd != "/" else UNSET,
                 user=[*u.ids, *u.groups] if any(u.ids) or u.groups else UNSET)
    k.rpc(t, body, lambda reply, at: reply.body.ret)
    return 0


def sys_wait(k: Kernel, t: Thread, a: list[int]) -> int:
    pid, status = s32(a[0]), a[1]
    if pid <= 0:
        return -EINVAL
    if pid == t.proc.pid:
        return -ECHILD  # waiting for oneself would never end

    def done(reply: Packet, at: int) -> int:
        if reply.body.ret > 0 and status:
            t.proc.aspace.write(status, struct.pack("<i", reply.body.status))
        return reply.body.ret
    if status:
        t.proc.aspace.translate(status, "store")  # EFAULT now rather than after the wait
    k.rpc(t, Wait(target=pid), done)
    return 0


def _name(t: Thread, addr: int) -> str | int:
    raw = t.proc.aspace.read_cstr(addr, 4096)
    if not raw:
        return -EINVAL
    if len(raw) > MAX_NAME:
        return -ENAMETOOLONG
    return raw.decode(errors="replace")


def _name_call(make: type[NameLink | NameLookup | NameUnlink]) -> object:
    """name_link, name_lookup, name_unlink: one request to the name service each."""
    def call(k: Kernel, t: Thread, a: list[int]) -> int:
        name = _name(t, a[0])
        if isinstance(name, int):
            return name
        k.rpc(t, make(name=name), lambda reply, at: reply.body.ret)
        return 0
    return call


sys_name_link = _name_call(NameLink)
sys_name_lookup = _name_call(NameLookup)
sys_name_unlink = _name_call(NameUnlink)


def sys_migrate(k: Kernel, t: Thread, a: list[int]) -> int:
    """shoal_migrate(cluster) and shoal_migrate_by(cluster, method): method 0 is the chip's
    default (stop-and-copy unless set), then 1 stop-and-copy, 2 pre-copy, 3 post-copy, 4 hybrid
    (shoal.h); shoal_migrate passes 0."""
    dst = s32(a[0])
    if not 0 <= dst < k.spec.compute_clusters or a[1] > len(migrate.METHODS):
        return -EINVAL  # a cluster number; CHECKPOINT (-1) is the host's, never a guest's
    if dst == k.cluster:
        return 0
    if t.proc.aspace.incoming:  # its pages still follow an earlier move: wait for them, then ask
        raise Missing("load", migrate.ALL_PAGES)
    method = migrate.METHODS[a[1] - 1] if a[1] else k.migration.default_method
    err = migrate.request(k, t.proc, dst, k.now(), "guest", method=method)
    if err:
        return err
    # The caller sleeps through the move; it returns 0 at the destination, or the reason the
    # move failed at the source. The rest happens between slices.
    k.block(t, None, None, why="migrate")
    raise Block  # not reached

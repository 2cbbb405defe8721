"""A process's user and groups as Linux keeps them: real, effective, saved and file-system ids
(`Container.user.ids`, [ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid]) and supplementary groups,
each kept as a signed 32-bit number (uid_t 4294967294 as -2; -1, (uid_t)-1, is never an id),
with the set*id family's rules (an effective uid of 0 stands for CAP_SETUID/CAP_SETGID/CAP_CHOWN);
chown's family asks the file server, which applies chown's rule with the caller's fsuid, fsgid
and groups. Every process starts as root (uid and gid 0), as README says; a fork inherits its
parent's ids, execve keeps them, and they travel in the process's image (migration, restore).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import EINVAL, EPERM
from shoal.kernel.calls.common import s32

if TYPE_CHECKING:
    from shoal.kernel.container import Thread
    from shoal.kernel.kernel import Kernel

RUID, EUID, SUID, FSUID = 0, 1, 2, 3
GID = 4  # the group ids follow at the same offsets
NGROUPS_MAX = 65536
KEEP = -1  # (uid_t)-1: leave this one as it is


def _priv(t: Thread) -> bool:
    return t.proc.user.ids[EUID] == 0


def _id(v: int) -> int:
    return s32(v)


def _commits(fn: Callable[..., int]) -> Callable[..., int]:
    """Linux's commit_creds: a change of the effective or file-system user or group id clears
    the parent-death signal (PR_SET_PDEATHSIG)."""
    def wrapped(t: Thread, *args: int) -> int:
        c = t.proc.user.ids
        before = (c[EUID], c[FSUID], c[GID + EUID], c[GID + FSUID])
        ret = fn(t, *args)
        if (c[EUID], c[FSUID], c[GID + EUID], c[GID + FSUID]) != before:
            t.proc.family.pdeathsig = 0
        return ret
    return wrapped


@_commits
def _setid(t: Thread, base: int, v: int) -> int:
    """setuid / setgid: all of them when privileged, else the effective one to the real or
    saved one."""
    v, c = _id(v), t.proc.user.ids
    if v == KEEP:
        return -EINVAL
    if _priv(t):
        c[base:base + 4] = [v] * 4
    elif v in (c[base + RUID], c[base + SUID]):
        c[base + EUID] = c[base + FSUID] = v
    else:
        return -EPERM
    return 0


@_commits
def _setreid(t: Thread, base: int, r: int, e: int) -> int:
    r, e, c = _id(r), _id(e), t.proc.user.ids
    old_r, old_e, old_s = c[base + RUID], c[base + EUID], c[base + SUID]
    if not _priv(t) and (r != KEEP and r not in (old_r, old_e)
                         or e != KEEP and e not in (old_r, old_e, old_s)):
        return -EPERM
    new_r = old_r if r == KEEP else r
    new_e = old_e if e == KEEP else e
    if r != KEEP or e != KEEP and e != old_r:
        c[base + SUID] = new_e
    c[base + RUID], c[base + EUID], c[base + FSUID] = new_r, new_e, new_e
    return 0


@_commits
def _setresid(t: Thread, base: int, r: int, e: int, s: int) -> int:
    want, c = [_id(r), _id(e), _id(s)], t.proc.user.ids
    have = c[base:base + 3]
    if not _priv(t) and any(v != KEEP and v not in have for v in want):
        return -EPERM
    for i, v in enumerate(want):
        if v != KEEP:
            c[base + i] = v
    c[base + FSUID] = c[base + EUID]
    return 0


def _getresid(t: Thread, base: int, a: list[int]) -> int:
    c = t.proc.user.ids
    for i in range(3):  # (a bad address: the memory fault is EFAULT, kernel/entry.py)
        t.proc.aspace.write(a[i], struct.pack("<I", c[base + i] & 0xFFFFFFFF))
    return 0


@_commits
def _setfsid(t: Thread, base: int, v: int) -> int:
    """setfsuid / setfsgid: the old value, always; the new one only when allowed."""
    v, c = _id(v), t.proc.user.ids
    old = c[base + FSUID]
    if v != KEEP and (_priv(t) or v in c[base:base + 4]):
        c[base + FSUID] = v
    return old


def sys_getuid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.proc.user.ids[RUID]


def sys_geteuid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.proc.user.ids[EUID]


def sys_getgid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.proc.user.ids[GID + RUID]


def sys_getegid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.proc.user.ids[GID + EUID]


def sys_setuid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setid(t, 0, a[0])


def sys_setgid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setid(t, GID, a[0])


def sys_setreuid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setreid(t, 0, a[0], a[1])


def sys_setregid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setreid(t, GID, a[0], a[1])


def sys_setresuid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setresid(t, 0, a[0], a[1], a[2])


def sys_setresgid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setresid(t, GID, a[0], a[1], a[2])


def sys_getresuid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _getresid(t, 0, a)


def sys_getresgid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _getresid(t, GID, a)


def sys_setfsuid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setfsid(t, 0, a[0])


def sys_setfsgid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _setfsid(t, GID, a[0])


def sys_getgroups(k: Kernel, t: Thread, a: list[int]) -> int:
    size, groups = s32(a[0]), t.proc.user.groups
    if size < 0:
        return -EINVAL
    if size == 0:
        return len(groups)
    if size < len(groups):
        return -EINVAL
    if groups:
        t.proc.aspace.write(a[1], struct.pack(f"<{len(groups)}I", *(g & 0xFFFFFFFF for g in groups)))
    return len(groups)


def sys_setgroups(k: Kernel, t: Thread, a: list[int]) -> int:
    size = s32(a[0])
    if not _priv(t):
        return -EPERM
    if not 0 <= size <= NGROUPS_MAX:
        return -EINVAL
    raw = t.proc.aspace.read(a[1], 4 * size) if size else b""
    gids = sorted(struct.unpack(f"<{size}I", raw))  # as Linux's groups_sort: unsigned, repeats kept
    if gids and gids[-1] == 0xFFFFFFFF:  # (gid_t)-1 names no group
        return -EINVAL
    t.proc.user.groups = [s32(g) for g in gids]
    return 0


def chown_cred(t: Thread) -> tuple[int, int, tuple[int, ...]]:
    """What the file server weighs a chown by: fsuid, fsgid, supplementary groups."""
    c = t.proc.user.ids
    return c[FSUID], c[GID + FSUID], tuple(t.proc.user.groups)


def as_user(t: Thread) -> dict:
    """A file request's `cred` when the caller is not root (the file server then checks its
    permissions, daemons/fsperm.py); nothing for root, whose requests are never refused."""
    c = t.proc.user.ids
    if c[FSUID] == 0:
        return {}
    return {"cred": (c[FSUID], c[GID + FSUID], tuple(t.proc.user.groups))}


def ipc_as_user(t: Thread) -> dict:
    """A System V request's `cred` (daemons/sysvperm.py): euid, egid (a new object's owner),
    fsgid (Linux's in_group_p), groups; nothing for a process whose euid and egid are 0."""
    c = t.proc.user.ids
    if c[EUID] == 0 and c[GID + EUID] == 0:
        return {}
    return {"cred": (c[EUID], c[GID + EUID], c[GID + FSUID], tuple(t.proc.user.groups))}

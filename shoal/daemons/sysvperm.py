"""Permission checks of System V IPC objects (daemons/sysv.py) as Linux's ipc/util.c makes
them, for a caller that is not root.

A request from a process whose effective uid and gid are 0 carries no `cred` and is never
refused (root's CAP_IPC_OWNER and CAP_SYS_ADMIN); one from another process carries (euid,
egid, fsgid, groups). `ipcperms`: the owner's or the creator's bits if the euid is either,
else the group's if the owner's or creator's group is the caller's (fsgid or a supplementary
group: in_group_p), else the others': each asked bit must be there (EACCES). `owner_ok`:
IPC_SET, IPC_RMID, SHM_LOCK are the owner's or the creator's (EPERM). A new object's owner
and creator are the caller's euid and egid.
"""

from __future__ import annotations

from typing import Protocol

IpcCred = tuple[int, int, int, tuple[int, ...]]  # euid, egid, fsgid, groups
READ, WRITE, EXEC = 0o444, 0o222, 0o111  # S_IRUGO, S_IWUGO, S_IXUGO


class Perm(Protocol):
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int


def cred_of(raw: object) -> IpcCred | None:
    """A request's `cred` (UNSET for root) as the checks take it; None: never refused."""
    if not isinstance(raw, (tuple, list)) or raw[0] == 0:
        return None
    return raw  # type: ignore[return-value]


def ipcperms(o: Perm, cred: IpcCred | None, flag: int) -> bool:
    """Linux's ipcperms: `flag` asks bits in any of the three classes (0o600, S_IRUGO, ...)."""
    if cred is None:
        return True
    euid, _, fsgid, groups = cred
    requested = (flag >> 6 | flag >> 3 | flag) & 0o7
    granted = o.mode
    if euid in (o.cuid, o.uid):
        granted >>= 6
    elif fsgid in (o.cgid, o.gid) or o.cgid in groups or o.gid in groups:
        granted >>= 3
    return not requested & ~granted & 0o7


def owner_ok(o: Perm, cred: IpcCred | None) -> bool:
    """IPC_SET, IPC_RMID (ipcctl_obtain_check), SHM_LOCK/SHM_UNLOCK: owner, creator or root."""
    return cred is None or cred[0] in (o.uid, o.cuid)


def creator(raw: object) -> tuple[int, int]:
    """The owner and creator of a new object: the caller's euid and egid (root's: 0, 0)."""
    return (raw[0], raw[1]) if isinstance(raw, (tuple, list)) else (0, 0)  # type: ignore[index]

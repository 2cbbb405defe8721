"""Permission checks of the file server for a process that is not root (Linux's
generic_permission; search permission on the directories on the way: fspaths.walk).

A request from a process whose file-system uid is 0 carries no `cred` and is never refused
(root's capabilities); one from another process carries (fsuid, fsgid, groups), and: opening
needs read or write permission on the file as its access mode and O_TRUNC ask; making or
removing a name needs write and search permission on the directory, and in a sticky directory
(/tmp) only the file's or the directory's owner may remove or rename it (EPERM); chmod is the
owner's (EPERM); a new node belongs to the caller (its group: the directory's if that is
set-group-ID); execve needs the file's execute bit (fstree.program_at), chdir and fchdir
search permission on the directory, connect write permission on the socket's file,
utimensat ownership (EPERM) or, to set both times to now, write permission (EACCES).
"""

from __future__ import annotations

from shoal.daemons.fspaths import Cred, Node, may

R, W, X = 4, 2, 1
__all__ = ["Cred", "may"]


def may_change(parent: Node, cred: Cred) -> bool:
    """A name may be made or removed in `parent`: write and search permission."""
    return may(parent, cred, W | X)


def sticky_ok(parent: Node, node: Node, cred: Cred) -> bool:
    """In a sticky directory only the file's or the directory's owner removes or renames it."""
    return not parent.mode & 0o1000 or cred[0] in (node.uid, parent.uid)


def own_new(node: Node, parent: Node, cred: Cred) -> None:
    node.uid = cred[0]
    node.gid = parent.gid if parent.mode & 0o2000 else cred[1]
    if node.is_dir and parent.mode & 0o2000:
        node.mode |= 0o2000

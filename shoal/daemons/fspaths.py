"""The file system's shapes: path rules and limits, nodes, handles (the numbers are abi.py's).

Shared by the file server (daemons/files.py), the kernel's file calls (kernel/files.py) and
the host's directory copies (shoal/hostfs.py).
"""

from __future__ import annotations

from dataclasses import field
from typing import Protocol

from shoal.abi import EACCES, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR
from shoal.abi import NAME_MAX as MAX_COMPONENT
from shoal.record import dataclass

# A call's own path is at most PATH_MAX (the kernel checks the guest's string, as Linux); the
# absolute path it names after the working directory or a dirfd may be longer (Linux has no
# limit there: a tree any depth deep is walked by relative names). This bound only keeps one
# request's host memory finite: 4096 directories with 255-byte names.
MAX_TREE_PATH = 1 << 20

ROOT = 1
Cred = tuple[int, int, tuple[int, ...]]  # a caller that is not root: fsuid, fsgid, groups
MAXSYMLINKS = 40  # links followed in one path (Linux's), then ELOOP


@dataclass
class Node:
    """A file, directory or symbolic link (`target` set) of the file server's tree."""

    ino: int
    is_dir: bool
    parent: int
    mode: int
    data: bytearray = field(default_factory=bytearray)
    children: dict[str, int] = field(default_factory=dict)  # in the order they were made
    readonly: bool = False  # a --file
    names: int = 1  # names in the tree (hard links); a file without one lives on while open
    opens: int = 0
    mtime: int = 0  # cycles: the data's last change
    target: str | None = None  # a symbolic link's
    atime: int = 0  # set by utimensat only (reads do not move it: as a noatime mount)
    ctime: int = 0  # the node's last change: data, names, mode, owner, times
    uid: int = 0
    gid: int = 0
    sock: bool = False  # an AF_UNIX socket's name (bind): daemons/sockets.py finds it by inode
    anon: bool = False  # memfd_create's: in no directory from the start (no link, as Linux's)
    fifo: bool = False  # a named pipe (mknod S_IFIFO): an open meets its pipe (kernel/fifos.py)
    pipe: int = 0  # a FIFO's pipe handle once opened (its home: the first opener's cluster)

    def touch(self, at: int) -> None:
        """The data or the entries changed at `at`: modification and change times."""
        self.mtime = self.ctime = at

    @property
    def linked(self) -> bool:
        return self.names > 0


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in a tree the host gives or takes (hostfs.py): its target."""

    target: str


@dataclass(frozen=True)
class Fifo:
    """A named pipe in a tree the host gives or takes (hostfs.py): only its permission bits
    travel (a FIFO holds no data while nobody has it open; the host's is never opened)."""

    mode: int = 0o644


class Executable(bytes):
    """A file's contents from a tree the host gives (hostfs.py) whose file had its owner's
    execute bit: it is 0755 in the chip's tree (other files 0644), so users may execve it."""


def link_inside(where: str, target: str, absolute_ok: bool) -> str | None:
    """The target of a link in directory `where` (relative to the tree's root; '' is the root)
    as a relative path that cannot lead outside the tree, or None. Safe by construction: `..`
    only at the start, no more of them than `where` is deep, then names only (each a file,
    a directory, or a link that obeys this rule too), so even through links that point back
    up the walk stays inside. An absolute target (the guest's root is the tree's) is made
    relative if `absolute_ok`; a host's absolute target names the host's paths: None."""
    depth = len([p for p in where.split("/") if p])
    if target.startswith("/"):
        if not absolute_ok:
            return None
        parts = [p for p in target.split("/") if p not in ("", ".")]
        if ".." in parts:
            return None
        return "/".join([".."] * depth + parts) or "."
    parts = [p for p in target.split("/") if p not in ("", ".")]
    ups = 0
    while ups < len(parts) and parts[ups] == "..":
        ups += 1
    if ups > depth or ".." in parts[ups:] or not target:
        return None
    return "/".join(parts) or "."


@dataclass
class Handle:
    """An open file: its owner, node and flags, and the processes that share it by fork."""

    pid: int
    ino: int
    flags: int
    sharers: set[int] = field(default_factory=set)


def nbytes(name: str) -> int:
    """A name's length as Linux counts it: bytes of its UTF-8 encoding (what the host gets)."""
    return len(name.encode("utf-8", "surrogatepass"))


class Owned(Protocol):
    uid: int
    gid: int
    mode: int


def may(node: Owned, cred: Cred, want: int) -> bool:
    """The owner's, the group's or the others' bits of `node` give `cred` all of `want` (4 read,
    2 write, 1 search or execute): Linux's generic_permission for a caller that is not root
    (a file's, or a POSIX queue's or semaphore's, daemons/ipc.py)."""
    uid, gid, groups = cred
    shift = 6 if uid == node.uid else 3 if node.gid == gid or node.gid in groups else 0
    return (node.mode >> shift) & want == want


def walk(nodes: dict[int, Node], path: str, follow: bool,
         cred: Cred | None = None) -> tuple[Node | None, str, Node | None] | int:
    """Resolve absolute `path` as Linux does: `..` is the directory's parent (after a link
    too), a symbolic link met on the way is followed (relative to its directory, or from the
    root), at most MAXSYMLINKS of them (ELOOP); the last one only if `follow` (or the path
    ends with a slash). Gives (directory, last name, node): the node None if the directory
    has no such name (where a create makes it); for a path that ends on a directory by `.`,
    `..` or the root, (None, "", that directory). Components are checked against
    MAX_COMPONENT as they are met, in Linux's order. For a `cred` that is not root's, every
    directory a name (`.` and `..` too) is looked up in needs search permission: EACCES
    (Linux's may_lookup, before the name is looked at; ENOTDIR first for a file)."""
    if len(path) > MAX_TREE_PATH // 4 and nbytes(path) > MAX_TREE_PATH:
        return -ENAMETOOLONG
    follow = follow or path.endswith("/")
    if cred is not None and cred[0] == 0:
        cred = None
    todo = [part for part in reversed(path.split("/")) if part]
    cur = nodes[ROOT]
    hops = 0
    while todo:
        part = todo.pop()
        if not cur.is_dir:
            return -ENOTDIR
        if cred is not None and not may(cur, cred, 1):
            return -EACCES
        if part == ".":
            continue
        if part == "..":
            cur = nodes[cur.parent]
            continue
        if too_long(part):
            return -ENAMETOOLONG
        ino = cur.children.get(part)
        more = any(p != "." for p in todo)
        if ino is None:
            return (cur, part, None) if not todo else -ENOENT  # ("missing/.": ENOENT too)
        node = nodes[ino]
        if node.target is not None and (todo or follow):
            hops += 1
            if hops > MAXSYMLINKS:
                return -ELOOP
            if not node.target:
                return -ENOENT
            if node.target.startswith("/"):
                cur = nodes[ROOT]
            todo.extend(p for p in reversed(node.target.split("/")) if p)
            continue
        if not more:
            if todo and not node.is_dir:  # "file/."
                return -ENOTDIR
            if todo and cred is not None and not may(node, cred, 1):  # "dir/.": a lookup in dir
                return -EACCES
            return cur, part, node
        cur = node
    return None, "", cur


def bad_name(name: str) -> str | None:
    """Why the tree cannot hold `name` (None if it can): the host must be able to hold what
    the chip does, so names are what Linux takes, in UTF-8."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        return "not a file name"
    try:
        raw = name.encode()
    except UnicodeEncodeError:
        return "not UTF-8"
    if len(raw) > MAX_COMPONENT:
        return f"a name longer than {MAX_COMPONENT} bytes"
    return None



def too_long(name: str) -> bool:
    return len(name) > MAX_COMPONENT // 4 and nbytes(name) > MAX_COMPONENT

"""The file server's tree (daemons/files.py serves requests on it): nodes by inode number,
names in directories, the limits on nodes and bytes, and the host's trees in and out."""

from __future__ import annotations

from shoal.abi import (
    DT_DIR,
    DT_FIFO,
    DT_LNK,
    DT_REG,
    DT_SOCK,
    EACCES,
    EBUSY,
    EFBIG,
    ENAMETOOLONG,
    ENOENT,
    ENOSPC,
    ENOTDIR,
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFREG,
    S_IFSOCK,
)
from shoal.abi import PATH_MAX as MAX_PATH
from shoal.daemons.fspaths import (
    ROOT,
    Cred,
    Executable,
    Fifo,
    Node,
    Symlink,
    bad_name,
    may,
    nbytes,
    too_long,
    walk,
)
from shoal.spec import LimitSpec


def as_cred(cred: object) -> Cred | None:
    """A request's `cred` (UNSET for root) as fspaths.walk takes it."""
    return cred if isinstance(cred, tuple) else None  # type: ignore[return-value]


class FsTree:
    """A writable tree of files, directories and links, with the --file files in its root."""

    def __init__(self, limits: LimitSpec) -> None:
        self.limits = limits
        self.nodes: dict[int, Node] = {ROOT: Node(ROOT, True, ROOT, 0o755)}
        # Whose the tree is (`set_owner`): its root and what the host gives (--fs) are the chip's
        # user's, as a user's files in their own directory; /tmp and the --file files are root's.
        self.owner = (0, 0)
        self.next_ino = ROOT + 1
        self.fs_used = 0  # bytes of writable file data
        self.fs_count = 0  # writable nodes (files and directories, not the root nor the made /tmp)
        # /tmp, as on Linux (mode 1777), made here; not counted against fs_max_files. A --fs
        # tree with its own tmp replaces it; the host's tree gets it back only if not empty.
        self.auto_tmp: int | None = self.new(self.nodes[ROOT], "tmp", True, 0o1777, 0).ino  # type: ignore[union-attr]
        self.fs_count = 0

    def lookup(self, parts: list[str]) -> Node | int:
        node = self.nodes[ROOT]
        for part in parts:
            if not node.is_dir:
                return -ENOTDIR
            if too_long(part):
                return -ENAMETOOLONG
            ino = node.children.get(part)
            if ino is None:
                return -ENOENT
            node = self.nodes[ino]
        return node

    def resolve(self, path: str, follow: bool = True, cred: object = None) -> Node | int:
        """The node at `path` (links followed, the last one only if `follow`), looked up as
        `cred` may (a request's: UNSET or None for root, see fspaths.walk)."""
        got = walk(self.nodes, path, follow, as_cred(cred))
        if isinstance(got, int):
            return got
        _, _, node = got
        if node is None:
            return -ENOENT
        if path.endswith("/") and not node.is_dir:
            return -ENOTDIR
        return node

    def parent(self, path: str, cred: object = None) -> tuple[Node, str, Node | None] | int:
        """The directory that holds (or would hold) `path`, the last component (not followed)
        and what it names. A path that ends by `.` or `..` names its directory by that
        directory's own name (-EBUSY for the root)."""
        got = walk(self.nodes, path.rstrip("/") or "/", False, as_cred(cred))
        if isinstance(got, int):
            return got
        d, name, node = got
        if d is not None:
            return d, name, node
        assert node is not None
        if node.ino == ROOT:
            return -EBUSY
        up = self.nodes[node.parent]
        name = next(n for n, i in up.children.items() if i == node.ino)  # (a directory has one name)
        return up, name, node

    def path_of(self, node: Node) -> str:
        """A directory's absolute path (its one name at each level)."""
        parts: list[str] = []
        while node.ino != ROOT:
            up = self.nodes[node.parent]
            parts.append(next(n for n, i in up.children.items() if i == node.ino))
            node = up
        return "/" + "/".join(reversed(parts))

    def new(self, parent: Node, name: str, is_dir: bool, mode: int, at: int) -> Node | int:
        if self.fs_count >= self.limits.fs_max_files:
            return -ENOSPC
        node = Node(self.next_ino, is_dir, parent.ino, mode & 0o7777, mtime=at, atime=at, ctime=at)
        self.next_ino += 1
        self.nodes[node.ino] = node
        parent.children[name] = node.ino
        parent.touch(at)
        self.fs_count += 1
        return node

    def new_anon(self, mode: int, at: int) -> Node | int:
        """A file in no directory (memfd_create): it lives while open, as an unlinked one."""
        if self.fs_count >= self.limits.fs_max_files:
            return -ENOSPC
        node = Node(self.next_ino, False, ROOT, mode & 0o7777, names=0, mtime=at, atime=at, ctime=at,
                    anon=True)
        self.next_ino += 1
        self.nodes[node.ino] = node
        self.fs_count += 1
        return node

    def free_node(self, node: Node) -> None:
        """Free a node once it is neither in the tree nor open."""
        if node.names or node.opens or node.ino == ROOT:
            return
        del self.nodes[node.ino]
        if node.ino == self.auto_tmp:
            self.auto_tmp = None
        elif not node.readonly:
            self.fs_count -= 1
            self.fs_used -= len(node.data)

    def resize(self, node: Node, size: int) -> int:
        """Make a writable file `size` bytes long, within the limits; 0 or -errno."""
        if size > self.limits.fs_max_file_bytes:
            return -EFBIG
        grow = size - len(node.data)
        if grow > 0 and self.fs_used + grow > self.limits.fs_total_bytes:
            return -ENOSPC
        if grow > 0:
            node.data.extend(bytes(grow))
        else:
            del node.data[size:]
        self.fs_used += grow
        return 0

    def stat(self, node: Node) -> list[int]:
        if node.target is not None:  # a link: its target's length, all permissions (as Linux)
            return [node.ino, S_IFLNK | 0o777, nbytes(node.target), node.names, node.mtime,
                    node.atime, node.ctime, node.uid, node.gid]
        kind = S_IFDIR if node.is_dir else S_IFSOCK if node.sock else S_IFIFO if node.fifo else S_IFREG
        mode = kind | node.mode
        size = 4096 if node.is_dir else len(node.data)
        nlink = (2 + sum(self.nodes[c].is_dir for c in node.children.values())) if node.is_dir \
            else node.names
        return [node.ino, mode, size, nlink, node.mtime, node.atime, node.ctime, node.uid, node.gid]

    @staticmethod
    def dtype(node: Node) -> int:
        return DT_DIR if node.is_dir else DT_LNK if node.target is not None else DT_SOCK if node.sock \
            else DT_FIFO if node.fifo else DT_REG

    def drop_name(self, parent: Node, name: str, node: Node, at: int) -> None:
        """`name` in `parent` goes; the node with its last name (and last open handle)."""
        del parent.children[name]
        parent.touch(at)
        node.names -= 1
        node.ctime = at
        if node.names:
            self.fs_count -= 1  # (each further name counted as a node: tmpfs's)
        else:
            self.free_node(node)

    def program_at(self, path: str, cred: object = None) -> bytes | int:
        """execve (the process manager asks): the bytes of the file at absolute `path`, or
        -errno as Linux's exec gives it (ENOENT, ENOTDIR; EACCES for a directory, for a way
        through a directory `cred` may not search, and for a file without `cred`'s execute
        bit: no read permission is needed, as Linux). Root is not refused a file without
        any x bit (Linux's EACCES): as before users, root runs what is there. A FIFO or a socket:
        EACCES (not a regular file, as Linux's)."""
        node = self.resolve(path, cred=cred)
        if isinstance(node, int):
            return node
        if node.is_dir or node.fifo or node.sock or isinstance(cred, tuple) and not may(node, cred, 1):  # type: ignore[arg-type]
            return -EACCES
        return bytes(node.data)

    def set_owner(self, uid: int, gid: int) -> None:
        """The tree's owner (the chip's user, api.Chip, before any --fs tree is loaded): the
        root and the host's files are its."""
        self.owner = (uid, gid)
        root = self.nodes[ROOT]
        root.uid, root.gid = uid, gid

    def add_readonly(self, name: str, data: bytes) -> None:
        root = self.nodes[ROOT]
        old = root.children.get(name)
        if old is not None:
            node = self.nodes[old]
            if not node.readonly:
                raise ValueError(f"{name} is already in the file system")
            node.data = bytearray(data)
            return
        # (read-only, and runnable by every user: spawn and execve load programs from them)
        node = Node(self.next_ino, False, ROOT, 0o555, bytearray(data), readonly=True)
        self.next_ino += 1
        self.nodes[node.ino] = node
        root.children[name] = node.ino

    def load(self, entries: list[tuple[str, bytes | Symlink | Fifo | None]]) -> None:
        """Fill the tree: (path, contents) for files, (path, None) for directories, (path,
        Symlink) for symbolic links (hostfs.py checked they stay inside), (path, Fifo) for
        named pipes, parents first.
        The host checked the limits; a clash with a --file, or a name the host could
        not hold again (see `bad_name`), is refused. Paths may be longer than MAX_PATH (a
        tree a guest made by renaming comes back so); only a call's path is limited."""
        dirs: dict[str, Node] = {"": self.nodes[ROOT]}
        for path, data in entries:
            where, _, name = path.rpartition("/")
            why = bad_name(name)
            if why is not None:
                raise ValueError(f"{path!r}: {why}")
            parent = dirs.get(where)
            if parent is None:
                got = self.lookup(where.split("/"))
                if isinstance(got, int) or not got.is_dir:
                    raise ValueError(f"{path}: its directory is missing")
                parent = got
            if path == "tmp" and self.auto_tmp is not None:  # the host's own tmp replaces shoal's
                del parent.children[name]
                self.nodes[self.auto_tmp].names = 0
                self.free_node(self.nodes[self.auto_tmp])
            if name in parent.children:
                raise ValueError(f"{path} is already in the file system")
            x = data is None or isinstance(data, Executable)  # (the host's file had an x bit)
            node = self.new(parent, name, data is None, 0o755 if x else 0o644, 0)
            if isinstance(node, int):
                raise ValueError(f"more than {self.limits.fs_max_files} files")
            node.uid, node.gid = self.owner
            if isinstance(data, Symlink):
                if not data.target or nbytes(data.target) >= MAX_PATH:
                    raise ValueError(f"{path}: a link's target must be 1 to {MAX_PATH - 1} bytes")
                node.target = data.target
                node.mode = 0o777
            elif isinstance(data, Fifo):
                node.fifo, node.mode = True, data.mode & 0o7777
            elif data is None:
                dirs[path] = node
                if path == "tmp":
                    node.mode = 0o1777  # (a host's own tmp too: every user may write there,
                    node.uid = node.gid = 0  # and root's, as Linux's /tmp)
            else:
                if self.resize(node, len(data)) < 0:
                    raise ValueError(f"{path}: over the file system's limits")
                node.data[:] = data

    def export(self) -> list[tuple[str, bytes | Symlink | Fifo | None]]:
        """The writable tree, parents first (the --file files are not part of it): a
        symbolic link as a Symlink, each name of a file with several (hard links) as a file
        of its own. Walked with a stack, not recursion: a tree may be as deep as fs_max_files."""
        out: list[tuple[str, bytes | Symlink | Fifo | None]] = []
        stack = [("", iter(self.nodes[ROOT].children.items()))]
        while stack:
            prefix, children = stack[-1]
            step = next(children, None)
            if step is None:
                stack.pop()
                continue
            name, ino = step
            child = self.nodes[ino]
            if child.readonly or child.sock or (ino == self.auto_tmp and not child.children):
                continue  # (a socket's name means nothing on the host)
            path = prefix + name
            out.append((path, None if child.is_dir else Symlink(child.target) if child.target is not None
                        else Fifo(child.mode) if child.fifo else bytes(child.data)))
            if child.is_dir:
                stack.append((path + "/", iter(child.children.items())))
        return out

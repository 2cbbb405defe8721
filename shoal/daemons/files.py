"""The file server: a writable file system with directories, a daemon of I/O cluster 0.

A server of the I/O cluster node (daemons/node.py), reached only through NoC packets from the
kernels (shoal/kernel/files.py). Files live in the I/O cluster's memory as a tree of nodes (a RAM
disk, as Nanvix's Minix file system on the MPPA-256's I/O cluster):

- Files the host gives with `--file` / `Chip.add_file` sit in the root, read-only (EROFS
  for anything that would change them); spawn still loads programs from them.
- `--fs DIR` fills the tree from a host directory before the run (`load_tree`) and the
  host takes the final tree back afterwards (`tree`).
- An open file is a server-side object: a handle owned by a pid (global, so it survives a
  migration; the handles of a process that ends are closed). The offset and open flags live
  with the descriptor in the process (they travel in its image); each request names the
  handle, the offset, and the file's path. A handle the server does not know (an image
  restored on another chip, or after the original process ended) is opened again by its
  path, read-only flags kept: files travel by name between chips.
- An unlinked file stays readable and writable through the handles still open on it.
- Limits are ChipSpec data: `fs_max_files` nodes (files and directories; ENOSPC),
  `fs_max_file_bytes` per file (EFBIG), `fs_total_bytes` of file data (ENOSPC). A write
  that does not fit whole writes what fits (a short count), as Linux does.
- Work costs daemon-core time: a request `service_cycles`, plus `copy_cycles_per_byte` per
  byte moved in or out of a file. Directory entries are listed in the order they were made
  (deterministic; programs that compare listings sort them, as they must on Linux).
"""

from __future__ import annotations

import struct

from shoal.abi import (
    DT_DIR,
    DT_LNK,
    DT_REG,
    DT_SOCK,
    EACCES,
    EADDRINUSE,
    EBUSY,
    ECONNREFUSED,
    EEXIST,
    EFBIG,
    EINVAL,
    EISDIR,
    ELOOP,
    ENAMETOOLONG,
    ENOENT,
    ENOSPC,
    ENOTDIR,
    ENOTEMPTY,
    ENXIO,
    EOPNOTSUPP,
    EPERM,
    EROFS,
    MAX_IO,
    O_ACCMODE,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_TRUNC,
    S_IFDIR,
    S_IFLNK,
    S_IFREG,
    S_IFSOCK,
)
from shoal.abi import PATH_MAX as MAX_PATH
from shoal.daemons.core import Core, Handler, HostCall
from shoal.daemons.fslinks import LinkCalls
from shoal.daemons.fslocks import LockCalls
from shoal.daemons.fspaths import ROOT, Handle, Node, Symlink, bad_name, nbytes, too_long, walk
from shoal.daemons.fsperm import R, W, may, may_change, own_new, sticky_ok
from shoal.messages import UNSET, Kind
from shoal.platform.noc import Packet


class FileServer(LinkCalls, LockCalls):
    def __init__(self, core: Core) -> None:
        self.spec = core.spec
        self.busy = core.busy  # the daemon core's: copying costs its time
        self._reply = core.reply
        self.nodes: dict[int, Node] = {ROOT: Node(ROOT, True, ROOT, 0o755)}
        self.next_ino = ROOT + 1
        self.handles: dict[int, Handle] = {}
        self.next_handle = 1
        self.fs_used = 0  # bytes of writable file data
        self.fs_count = 0  # writable nodes (files and directories, not the root nor the made /tmp)
        # /tmp, as on Linux (mode 1777), made here; not counted against fs_max_files. A --fs
        # tree with its own tmp replaces it; the host's tree gets it back only if not empty.
        self.auto_tmp: int | None = self._new(self.nodes[ROOT], "tmp", True, 0o1777, 0).ino
        self.fs_count = 0
        self.packets: dict[Kind, Handler] = {
            Kind.FS_OPEN: self.on_fs_open, Kind.FS_CLOSE: self.on_fs_close,
            Kind.FS_READ: self.on_fs_read, Kind.FS_WRITE: self.on_fs_write,
            Kind.FS_TRUNCATE: self.on_fs_truncate, Kind.FS_STAT: self.on_fs_stat,
            Kind.FS_GETDENTS: self.on_fs_getdents, Kind.FS_MKDIR: self.on_fs_mkdir,
            Kind.FS_UNLINK: self.on_fs_unlink, Kind.FS_RENAME: self.on_fs_rename,
            Kind.FS_SETATTR: self.on_fs_setattr, Kind.FS_LINK: self.on_fs_link,
            Kind.FS_SYMLINK: self.on_fs_symlink, Kind.FS_READLINK: self.on_fs_readlink,
            Kind.FS_STATFS: self.on_fs_statfs, Kind.FS_FALLOCATE: self.on_fs_fallocate,
            Kind.FS_LOCK: self.on_fs_lock}
        self._lock_init()
        self.host: dict[str, HostCall] = {"fs_load": self.load_tree, "fs_tree": self.tree}

    def stats(self) -> dict[str, int]:
        return {"fs_nodes": self.fs_count, "fs_bytes": self.fs_used, "fs_handles": len(self.handles)}

    # helpers -----------------------------------------------------------------------------
    def _work(self, at: int, nbytes: int) -> int:
        """Copying `nbytes` in or out of a file on the daemon core after `at`."""
        cost = int(nbytes * self.spec.copy_cycles_per_byte)
        return at if cost == 0 else self.busy.book(at, cost) + cost

    def _lookup(self, parts: list[str]) -> Node | int:
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

    def _resolve(self, path: str, follow: bool = True) -> Node | int:
        """The node at `path` (links followed, the last one only if `follow`)."""
        got = walk(self.nodes, path, follow)
        if isinstance(got, int):
            return got
        _, _, node = got
        if node is None:
            return -ENOENT
        if path.endswith("/") and not node.is_dir:
            return -ENOTDIR
        return node

    def _parent(self, path: str) -> tuple[Node, str, Node | None] | int:
        """The directory that holds (or would hold) `path`, the last component (not followed)
        and what it names. A path that ends by `.` or `..` names its directory by that
        directory's own name (-EBUSY for the root)."""
        got = walk(self.nodes, path.rstrip("/") or "/", False)
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

    def _path_of(self, node: Node) -> str:
        """A directory's absolute path (its one name at each level)."""
        parts: list[str] = []
        while node.ino != ROOT:
            up = self.nodes[node.parent]
            parts.append(next(n for n, i in up.children.items() if i == node.ino))
            node = up
        return "/" + "/".join(reversed(parts))

    def _new(self, parent: Node, name: str, is_dir: bool, mode: int, at: int) -> Node | int:
        if self.fs_count >= self.spec.fs_max_files:
            return -ENOSPC
        node = Node(self.next_ino, is_dir, parent.ino, mode & 0o7777, mtime=at, atime=at, ctime=at)
        self.next_ino += 1
        self.nodes[node.ino] = node
        parent.children[name] = node.ino
        parent.touch(at)
        self.fs_count += 1
        return node

    def _free_node(self, node: Node) -> None:
        """Free a node once it is neither in the tree nor open."""
        if node.names or node.opens or node.ino == ROOT:
            return
        del self.nodes[node.ino]
        if node.ino == self.auto_tmp:
            self.auto_tmp = None
        elif not node.readonly:
            self.fs_count -= 1
            self.fs_used -= len(node.data)

    def _resize(self, node: Node, size: int) -> int:
        """Make a writable file `size` bytes long, within the limits; 0 or -errno."""
        if size > self.spec.fs_max_file_bytes:
            return -EFBIG
        grow = size - len(node.data)
        if grow > 0 and self.fs_used + grow > self.spec.fs_total_bytes:
            return -ENOSPC
        if grow > 0:
            node.data.extend(bytes(grow))
        else:
            del node.data[size:]
        self.fs_used += grow
        return 0

    def _handle(self, b: dict) -> tuple[int, Handle] | int:
        """The handle a request names, opened again by its path if this server does not
        know it (see the module's docstring)."""
        hid = b.handle
        h = self.handles.get(hid)
        if h is not None and (h.pid == b.pid or b.pid in h.sharers):
            return hid, h
        node = self._resolve(b.path)
        if isinstance(node, int):
            return node
        return self._open_handle(b.pid, node, b.flags & ~(O_CREAT | O_EXCL | O_TRUNC))

    def _open_handle(self, pid: int, node: Node, flags: int) -> tuple[int, Handle]:
        hid = self.next_handle
        self.next_handle += 1
        h = Handle(pid, node.ino, flags)
        self.handles[hid] = h
        node.opens += 1
        return hid, h

    def _close_handle(self, hid: int, at: int) -> None:
        h = self.handles.pop(hid, None)
        if h is not None:
            self.locks_handle_closed(hid, h.ino, at)
            node = self.nodes[h.ino]
            node.opens -= 1
            self._free_node(node)

    def process_ended(self, pid: int, at: int) -> None:
        self.locks_process_ended(pid, at)
        for hid in [hid for hid, h in self.handles.items() if h.pid == pid or pid in h.sharers]:
            self._let_go(hid, pid, at)

    def _let_go(self, hid: int, pid: int, at: int) -> None:
        """`pid` closes handle `hid`: it goes when no process that shares it is left."""
        h = self.handles[hid]
        h.sharers.discard(pid)
        if h.pid == pid:
            if not h.sharers:
                self._close_handle(hid, at)
                return
            h.pid = min(h.sharers)
            h.sharers.discard(h.pid)

    def forked(self, parent: int, child: int) -> None:
        """A fork's child shares its parent's open files (the process manager tells)."""
        for h in self.handles.values():
            if h.pid == parent or parent in h.sharers:
                h.sharers.add(child)

    def _stat(self, node: Node) -> list[int]:
        if node.target is not None:  # a link: its target's length, all permissions (as Linux)
            return [node.ino, S_IFLNK | 0o777, nbytes(node.target), node.names, node.mtime,
                    node.atime, node.ctime, node.uid, node.gid]
        mode = (S_IFDIR if node.is_dir else S_IFSOCK if node.sock else S_IFREG) | node.mode
        size = 4096 if node.is_dir else len(node.data)
        nlink = (2 + sum(self.nodes[c].is_dir for c in node.children.values())) if node.is_dir \
            else node.names
        return [node.ino, mode, size, nlink, node.mtime, node.atime, node.ctime, node.uid, node.gid]

    @staticmethod
    def _dtype(node: Node) -> int:
        return DT_DIR if node.is_dir else DT_LNK if node.target is not None else DT_SOCK if node.sock \
            else DT_REG

    def _drop_name(self, parent: Node, name: str, node: Node, at: int) -> None:
        """`name` in `parent` goes; the node with its last name (and last open handle)."""
        del parent.children[name]
        parent.touch(at)
        node.names -= 1
        node.ctime = at
        if node.names:
            self.fs_count -= 1  # (each further name counted as a node: tmpfs's)
        else:
            self._free_node(node)

    # the host's side ----------------------------------------------------------------------
    def program_at(self, path: str) -> bytes | int:
        """execve (the process manager asks): the bytes of the file at absolute `path`, or
        -errno as Linux's exec gives it (ENOENT, ENOTDIR; EACCES for a directory). Modes are not
        enforced (a --fs tree's files are 0644 here: the host's modes are not carried), so
        no execute bit is asked for."""
        node = self._resolve(path)
        if isinstance(node, int):
            return node
        if node.is_dir:
            return -EACCES
        return bytes(node.data)

    def fs_add_readonly(self, name: str, data: bytes) -> None:
        root = self.nodes[ROOT]
        old = root.children.get(name)
        if old is not None:
            node = self.nodes[old]
            if not node.readonly:
                raise ValueError(f"{name} is already in the file system")
            node.data = bytearray(data)
            return
        node = Node(self.next_ino, False, ROOT, 0o444, bytearray(data), readonly=True)
        self.next_ino += 1
        self.nodes[node.ino] = node
        root.children[name] = node.ino

    def load_tree(self, entries: list[tuple[str, bytes | Symlink | None]]) -> None:
        """Fill the tree: (path, contents) for files, (path, None) for directories, (path,
        Symlink) for symbolic links (hostfs.py checked they stay inside), parents first.
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
                got = self._lookup(where.split("/"))
                if isinstance(got, int) or not got.is_dir:
                    raise ValueError(f"{path}: its directory is missing")
                parent = got
            if path == "tmp" and self.auto_tmp is not None:  # the host's own tmp replaces shoal's
                del parent.children[name]
                self.nodes[self.auto_tmp].names = 0
                self._free_node(self.nodes[self.auto_tmp])
            if name in parent.children:
                raise ValueError(f"{path} is already in the file system")
            node = self._new(parent, name, data is None, 0o755 if data is None else 0o644, 0)
            if isinstance(node, int):
                raise ValueError(f"more than {self.spec.fs_max_files} files")
            if isinstance(data, Symlink):
                if not data.target or nbytes(data.target) >= MAX_PATH:
                    raise ValueError(f"{path}: a link's target must be 1 to {MAX_PATH - 1} bytes")
                node.target = data.target
                node.mode = 0o777
            elif data is None:
                dirs[path] = node
                if path == "tmp":
                    node.mode = 0o1777  # (a host's own tmp too: every user may write there)
            else:
                if self._resize(node, len(data)) < 0:
                    raise ValueError(f"{path}: over the file system's limits")
                node.data[:] = data

    def tree(self) -> list[tuple[str, bytes | Symlink | None]]:
        """The writable tree, parents first (the --file files are not part of it): a
        symbolic link as a Symlink, each name of a file with several (hard links) as a file
        of its own. Walked with a stack, not recursion: a tree may be as deep as fs_max_files."""
        out: list[tuple[str, bytes | Symlink | None]] = []
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
            out.append((path, None if child.is_dir else Symlink(child.target)
                        if child.target is not None else bytes(child.data)))
            if child.is_dir:
                stack.append((path + "/", iter(child.children.items())))
        return out

    # AF_UNIX names (daemons/sockets.py, on the same I/O cluster) ------------------------------
    def sock_bind(self, path: str, mode: int, at: int) -> int:
        """bind: a socket node at `path` (its inode), EADDRINUSE if the name exists."""
        got = self._parent(path)
        if isinstance(got, int):
            return -EADDRINUSE if got == -EBUSY else got
        parent, name, old = got
        if old is not None:
            return -EADDRINUSE
        if parent.readonly:
            return -EROFS
        node = self._new(parent, name, False, mode, at)
        if isinstance(node, int):
            return node
        node.sock = True
        return node.ino

    def sock_find(self, path: str) -> int:
        """connect, sendto: the inode of the socket at `path`; ECONNREFUSED for a file that is no socket."""
        node = self._resolve(path)
        if isinstance(node, int):
            return node
        return node.ino if node.sock else -ECONNREFUSED

    # requests from the kernels --------------------------------------------------------------
    def on_fs_open(self, req: Packet, at: int) -> None:
        """open: links followed, the last one unless O_NOFOLLOW (ELOOP) or O_CREAT|O_EXCL
        (EEXIST); O_CREAT through a dangling link makes its target, as Linux. A directory's
        answer carries its path without links (the kernel's descriptor keeps it: fchdir)."""
        b = req.body
        flags, path = b.flags, b.path
        acc = flags & O_ACCMODE
        excl = flags & O_CREAT and flags & O_EXCL
        got = walk(self.nodes, path, not (excl or flags & O_NOFOLLOW))
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        parent, name, node = got
        err = 0
        if node is None:
            if not flags & O_CREAT:
                err = -ENOENT
            elif path.endswith("/"):
                err = -EISDIR
            elif parent is not None and parent.readonly:
                err = -EROFS
            elif parent is not None and b.cred is not UNSET and not may_change(parent, b.cred):
                err = -EACCES
            else:
                assert parent is not None
                node = self._new(parent, name, False, b.mode, at)
                err = node if isinstance(node, int) else 0
                if not err and b.cred is not UNSET:
                    own_new(node, parent, b.cred)  # type: ignore[arg-type]
        elif excl:
            err = -EEXIST
        elif node.target is not None:
            err = -ELOOP  # O_NOFOLLOW on a link
        elif node.sock:
            err = -ENXIO  # a socket is not opened (Linux's answer)
        elif flags & O_DIRECTORY and not node.is_dir or path.endswith("/") and not node.is_dir:
            err = -ENOTDIR
        elif node.is_dir and (acc != 0 or flags & (O_TRUNC | O_CREAT)):
            err = -EISDIR
        elif node.readonly and (acc != 0 or flags & O_TRUNC):
            err = -EROFS
        elif b.cred is not UNSET and not may(node, b.cred, (R if acc != 1 else 0) | (
                W if acc in (1, 2) or flags & O_TRUNC else 0)):
            err = -EACCES
        elif flags & O_TRUNC and node.data:  # as Linux, even opened read-only
            err = self._resize(node, 0)
            node.touch(at)
        if err or isinstance(node, int) or node is None:
            self._reply(req, at, ret=err)
            return
        hid, _ = self._open_handle(b.pid, node, flags)
        real = self._path_of(node).encode() if node.is_dir else b""
        self._reply(req, at, data=real, ret=0, handle=hid, dir=node.is_dir)

    def on_fs_close(self, req: Packet, at: int) -> None:
        h = self.handles.get(req.body.handle)
        if h is not None and (h.pid == req.body.pid or req.body.pid in h.sharers):
            self._let_go(req.body.handle, req.body.pid, at)  # one way: no answer

    def on_fs_read(self, req: Packet, at: int) -> None:
        b = req.body
        found = self._open_node(req, at)
        if found is None:
            return
        hid, node = found
        if node.is_dir:
            self._reply(req, at, ret=-EISDIR, handle=hid)
            return
        off, n = b.offset, min(b.size, MAX_IO)
        data = bytes(node.data[off:off + n])
        at = self._work(at, len(data))
        self._reply(req, at, data=data, bulk=True, ret=len(data), handle=hid)

    def on_fs_write(self, req: Packet, at: int) -> None:
        b = req.body
        found = self._open_node(req, at)
        if found is None:
            return
        hid, node = found
        if node.readonly:
            self._reply(req, at, ret=-EROFS, handle=hid)
            return
        data = req.data
        off = len(node.data) if b.append else b.offset
        end = off + len(data)
        if end > len(node.data):
            limit = min(self.spec.fs_max_file_bytes,
                        len(node.data) + self.spec.fs_total_bytes - self.fs_used)
            if off >= limit and data:
                err = -EFBIG if off >= self.spec.fs_max_file_bytes else -ENOSPC
                self._reply(req, at, ret=err, handle=hid)
                return
            end = min(end, limit)
            data = data[:end - off]
            if end > len(node.data):
                self._resize(node, end)
        node.data[off:end] = data
        node.touch(at)
        at = self._work(at, len(data))
        self._reply(req, at, ret=len(data), offset=end, handle=hid)

    def on_fs_truncate(self, req: Packet, at: int) -> None:
        b = req.body
        found = self._open_node(req, at)
        if found is None:
            return
        hid, node = found
        err = -EINVAL if node.is_dir else -EROFS if node.readonly else self._resize(node, b.length)
        node.touch(at)
        self._reply(req, at, ret=err, handle=hid)

    def _open_node(self, req: Packet, at: int) -> tuple[int, Node] | None:
        """The node of the open file a request names by handle, with the handle it used; None
        once an error has been answered."""
        got = self._handle(req.body)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return None
        hid, h = got
        return hid, self.nodes[h.ino]

    def _target(self, req: Packet, at: int) -> tuple[int, Node] | None:
        """The node a request names by handle or by path (following links unless `nofollow`),
        with the handle it used (0: by path); None once an error has been answered."""
        b = req.body
        if b.handle is not None:
            return self._open_node(req, at)
        node = self._resolve(b.path, follow=b.nofollow is not True)
        if isinstance(node, int):
            self._reply(req, at, ret=node)
            return None
        return 0, node

    def on_fs_stat(self, req: Packet, at: int) -> None:
        """By handle (fstat, lseek's SEEK_END) or by path (stat)."""
        b = req.body
        found = self._target(req, at)
        if found is None:
            return
        hid, node = found
        if b.real is True and node.is_dir:  # chdir: the path without links
            self._reply(req, at, data=self._path_of(node).encode(), ret=0, st=self._stat(node), handle=hid)
        elif b.access is True:  # access(2) wants to know about the read-only (--file) files too
            self._reply(req, at, ret=0, st=self._stat(node), handle=hid, ro=node.readonly)
        else:
            self._reply(req, at, ret=0, st=self._stat(node), handle=hid)

    def on_fs_setattr(self, req: Packet, at: int) -> None:
        """chmod (the permission bits), chown (owner and group, with Linux's rule: only root
        gives a file away; its owner may give it a group it is in) and utimensat (access and
        modification times), by handle or by path; each sets the change time. The read-only
        --file files refuse them (EROFS)."""
        b = req.body
        found = self._target(req, at)
        if found is None:
            return
        hid, node = found
        owner = b.uid is not UNSET and (b.uid != -1 or b.gid != -1)
        if node.readonly and (b.mode is not UNSET or b.mtime is not UNSET or b.atime is not UNSET
                              or owner):
            self._reply(req, at, ret=-EROFS, handle=hid)
            return
        if node.target is not None and b.mode is not UNSET:
            # (a link's mode is 0777 for good: fchmodat2's AT_SYMLINK_NOFOLLOW, as Linux)
            self._reply(req, at, ret=-EOPNOTSUPP, handle=hid)
            return
        if b.mode is not UNSET and b.cred is not UNSET and b.cred[0] not in (0, node.uid):
            self._reply(req, at, ret=-EPERM, handle=hid)  # chmod: the owner's (or root's)
            return
        if b.uid is not UNSET:
            euid, egid, groups = b.cred
            root = euid == 0
            if not root and (b.uid not in (-1, node.uid) or b.gid not in (-1, node.gid) and (
                    euid != node.uid or b.gid != egid and b.gid not in groups)):
                self._reply(req, at, ret=-EPERM, handle=hid)
                return
            if b.uid != -1:
                node.uid = b.uid
            if b.gid != -1:
                node.gid = b.gid
            if owner and not node.is_dir:  # Linux drops set-user-ID, and set-group-ID if group-executable
                node.mode &= ~(0o6000 if node.mode & 0o010 else 0o4000)
        if b.mode is not UNSET:
            node.mode = b.mode & 0o7777
        if b.mtime is not UNSET:
            node.mtime = b.mtime
        if b.atime is not UNSET:
            node.atime = b.atime
        node.ctime = at
        self._reply(req, at, ret=0, handle=hid)

    def on_fs_getdents(self, req: Packet, at: int) -> None:
        """linux_dirent64 records from entry `offset` on (0 is `.`, 1 is `..`), as many as fit."""
        b = req.body
        found = self._open_node(req, at)
        if found is None:
            return
        hid, node = found
        if not node.is_dir:
            self._reply(req, at, ret=-ENOTDIR, handle=hid)
            return
        entries = [(".", node.ino, DT_DIR), ("..", node.parent, DT_DIR)]
        entries += [(name, ino, self._dtype(self.nodes[ino])) for name, ino in node.children.items()]
        out = bytearray()
        i = b.offset
        while i < len(entries):
            name, ino, kind = entries[i]
            raw = name.encode()
            reclen = (19 + len(raw) + 1 + 7) & ~7
            if len(out) + reclen > b.size:
                break
            rec = bytearray(reclen)
            struct.pack_into("<QqHB", rec, 0, ino, i + 1, reclen, kind)
            rec[19:19 + len(raw)] = raw
            out += rec
            i += 1
        if not out and i < len(entries):
            self._reply(req, at, ret=-EINVAL, handle=hid)  # the buffer holds not even one entry
            return
        at = self._work(at, len(out))
        self._reply(req, at, data=bytes(out), bulk=True, ret=len(out), offset=i, handle=hid)

    def on_fs_mkdir(self, req: Packet, at: int) -> None:
        got = self._parent(req.body.path)
        if isinstance(got, int):
            self._reply(req, at, ret=-EEXIST if got == -EBUSY else got)
            return
        parent, name, old = got
        if old is not None:  # (a link too, dangling or not: Linux's EEXIST)
            self._reply(req, at, ret=-EEXIST)
            return
        cred = req.body.cred
        if cred is not UNSET and not may_change(parent, cred):
            self._reply(req, at, ret=-EACCES)
            return
        node = self._new(parent, name, True, req.body.mode, at)
        if not isinstance(node, int) and cred is not UNSET:
            own_new(node, parent, cred)
        self._reply(req, at, ret=node if isinstance(node, int) else 0)

    def on_fs_unlink(self, req: Packet, at: int) -> None:
        """unlink drops one name (a link's own, never its target's); rmdir an empty directory."""
        b = req.body
        got = self._parent(b.path)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        parent, name, node = got
        if node is None:
            self._reply(req, at, ret=-ENOENT)
            return
        err = 0
        if b.rmdir:
            err = -ENOTDIR if not node.is_dir else -ENOTEMPTY if node.children else 0
        elif node.is_dir:
            err = -EISDIR
        if node.readonly:
            err = -EROFS
        elif not err and b.cred is not UNSET:
            err = -EACCES if not may_change(parent, b.cred) else 0
            err = err or (-EPERM if not sticky_ok(parent, node, b.cred) else 0)
        if not err:
            self._drop_name(parent, name, node, at)
        self._reply(req, at, ret=err)

    def on_fs_rename(self, req: Packet, at: int) -> None:
        b = req.body
        self._reply(req, at, ret=self._rename(b.old, b.new, b.noreplace, at, b.cred))

    def _rename(self, old: str, new: str, noreplace: bool, at: int, cred: object = UNSET) -> int:
        """Names move, not what they name: a link is renamed, never followed."""
        src = self._parent(old)
        dst = self._parent(new)
        if isinstance(src, int):
            return src
        if isinstance(dst, int):
            return dst
        (sp, sname, node), (dp, dname, t) = src, dst
        if node is None:
            return -ENOENT
        if node.readonly:
            return -EROFS
        if cred is not UNSET:  # write and search on both directories; the sticky rule on both names
            if not may_change(sp, cred) or not may_change(dp, cred):  # type: ignore[arg-type]
                return -EACCES
            if not sticky_ok(sp, node, cred) or t is not None and not sticky_ok(dp, t, cred):  # type: ignore[arg-type]
                return -EPERM
        # A directory may not move below itself.
        d = dp
        while node.is_dir:
            if d.ino == node.ino:
                return -EINVAL
            if d.ino == ROOT:
                break
            d = self.nodes[d.parent]
        if t is node:
            return 0  # (the same name, or two hard links of one file: nothing, as Linux)
        if t is not None:
            if noreplace:
                return -EEXIST
            if t.readonly:
                return -EROFS
            if t.is_dir and not node.is_dir:
                return -EISDIR
            if node.is_dir and not t.is_dir:
                return -ENOTDIR
            if t.is_dir and t.children:
                return -ENOTEMPTY
            self._drop_name(dp, dname, t, at)
        del sp.children[sname]
        dp.children[dname] = node.ino
        if node.is_dir:
            node.parent = dp.ino
        sp.touch(at)
        dp.touch(at)
        node.ctime = at
        return 0

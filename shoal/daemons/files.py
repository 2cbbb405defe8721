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
    DT_REG,
    EACCES,
    EBUSY,
    EEXIST,
    EFBIG,
    EINVAL,
    EISDIR,
    ENAMETOOLONG,
    ENOENT,
    ENOSPC,
    ENOTDIR,
    ENOTEMPTY,
    EROFS,
    MAX_IO,
    O_ACCMODE,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_TRUNC,
    S_IFDIR,
    S_IFREG,
)
from shoal.daemons.core import Core, Handler, HostCall
from shoal.daemons.fspaths import ROOT, Handle, Node, bad_name, split, too_long
from shoal.messages import UNSET, Kind
from shoal.platform.noc import Packet


class FileServer:
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
            Kind.FS_SETATTR: self.on_fs_setattr}
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

    def _resolve(self, path: str) -> Node | int:
        parts = split(path)
        return parts if isinstance(parts, int) else self._lookup(parts)

    def _parent(self, path: str) -> tuple[Node, str] | int:
        """The directory that holds (or would hold) `path`, and the last component."""
        parts = split(path)
        if isinstance(parts, int):
            return parts
        if not parts:
            return -EBUSY  # the root itself
        d = self._lookup(parts[:-1])
        if isinstance(d, int):
            return d
        if not d.is_dir:
            return -ENOTDIR
        if too_long(parts[-1]):
            return -ENAMETOOLONG
        return d, parts[-1]

    def _new(self, parent: Node, name: str, is_dir: bool, mode: int, at: int) -> Node | int:
        if self.fs_count >= self.spec.fs_max_files:
            return -ENOSPC
        node = Node(self.next_ino, is_dir, parent.ino, mode & 0o7777, mtime=at)
        self.next_ino += 1
        self.nodes[node.ino] = node
        parent.children[name] = node.ino
        parent.mtime = at
        self.fs_count += 1
        return node

    def _free_node(self, node: Node) -> None:
        """Free a node once it is neither in the tree nor open."""
        if node.linked or node.opens or node.ino == ROOT:
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

    def _close_handle(self, hid: int) -> None:
        h = self.handles.pop(hid, None)
        if h is not None:
            node = self.nodes[h.ino]
            node.opens -= 1
            self._free_node(node)

    def process_ended(self, pid: int, at: int) -> None:
        for hid in [hid for hid, h in self.handles.items() if h.pid == pid or pid in h.sharers]:
            self._let_go(hid, pid)

    def _let_go(self, hid: int, pid: int) -> None:
        """`pid` closes handle `hid`: it goes when no process that shares it is left."""
        h = self.handles[hid]
        h.sharers.discard(pid)
        if h.pid == pid:
            if not h.sharers:
                self._close_handle(hid)
                return
            h.pid = min(h.sharers)
            h.sharers.discard(h.pid)

    def forked(self, parent: int, child: int) -> None:
        """A fork's child shares its parent's open files (the process manager tells)."""
        for h in self.handles.values():
            if h.pid == parent or parent in h.sharers:
                h.sharers.add(child)

    def _stat(self, node: Node) -> list[int]:
        mode = (S_IFDIR if node.is_dir else S_IFREG) | node.mode
        size = 4096 if node.is_dir else len(node.data)
        nlink = (2 + sum(self.nodes[c].is_dir for c in node.children.values())) if node.is_dir \
            else int(node.linked)
        return [node.ino, mode, size, nlink, node.mtime]

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

    def load_tree(self, entries: list[tuple[str, bytes | None]]) -> None:
        """Fill the tree: (path, contents) for files, (path, None) for directories, parents
        first. The host checked the limits; a clash with a --file, or a name the host could
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
                self.nodes[self.auto_tmp].linked = False
                self._free_node(self.nodes[self.auto_tmp])
            if name in parent.children:
                raise ValueError(f"{path} is already in the file system")
            node = self._new(parent, name, data is None, 0o755 if data is None else 0o644, 0)
            if isinstance(node, int):
                raise ValueError(f"more than {self.spec.fs_max_files} files")
            if data is None:
                dirs[path] = node
            else:
                if self._resize(node, len(data)) < 0:
                    raise ValueError(f"{path}: over the file system's limits")
                node.data[:] = data

    def tree(self) -> list[tuple[str, bytes | None]]:
        """The writable tree, parents first (the --file files are not part of it). Walked
        with a stack, not recursion: a tree may be as deep as fs_max_files."""
        out: list[tuple[str, bytes | None]] = []
        stack = [("", iter(self.nodes[ROOT].children.items()))]
        while stack:
            prefix, children = stack[-1]
            step = next(children, None)
            if step is None:
                stack.pop()
                continue
            name, ino = step
            child = self.nodes[ino]
            if child.readonly or (ino == self.auto_tmp and not child.children):
                continue
            path = prefix + name
            out.append((path, None if child.is_dir else bytes(child.data)))
            if child.is_dir:
                stack.append((path + "/", iter(child.children.items())))
        return out

    # requests from the kernels --------------------------------------------------------------
    def on_fs_open(self, req: Packet, at: int) -> None:
        b = req.body
        flags, path = b.flags, b.path
        acc = flags & O_ACCMODE
        node = self._resolve(path)
        if isinstance(node, int):
            if node != -ENOENT or not flags & O_CREAT:
                self._reply(req, at, ret=node)
                return
            got = self._parent(path)
            if isinstance(got, int):
                self._reply(req, at, ret=got)
                return
            parent, name = got
            if parent.readonly:
                self._reply(req, at, ret=-EROFS)
                return
            node = self._new(parent, name, False, b.mode, at)
            if isinstance(node, int):
                self._reply(req, at, ret=node)
                return
        elif flags & O_CREAT and flags & O_EXCL:
            self._reply(req, at, ret=-EEXIST)
            return
        else:
            err = 0
            if flags & O_DIRECTORY and not node.is_dir:
                err = -ENOTDIR
            elif node.is_dir and (acc != 0 or flags & (O_TRUNC | O_CREAT)):
                err = -EISDIR
            elif node.readonly and (acc != 0 or flags & O_TRUNC):
                err = -EROFS
            elif flags & O_TRUNC and node.data:  # as Linux, even opened read-only
                err = self._resize(node, 0)
                node.mtime = at
            if err:
                self._reply(req, at, ret=err)
                return
        hid, _ = self._open_handle(b.pid, node, flags)
        self._reply(req, at, ret=0, handle=hid, dir=node.is_dir)

    def on_fs_close(self, req: Packet, at: int) -> None:
        h = self.handles.get(req.body.handle)
        if h is not None and (h.pid == req.body.pid or req.body.pid in h.sharers):
            self._let_go(req.body.handle, req.body.pid)  # one way: no answer

    def on_fs_read(self, req: Packet, at: int) -> None:
        b = req.body
        got = self._handle(b)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, h = got
        node = self.nodes[h.ino]
        if node.is_dir:
            self._reply(req, at, ret=-EISDIR, handle=hid)
            return
        off, n = b.offset, min(b.size, MAX_IO)
        data = bytes(node.data[off:off + n])
        at = self._work(at, len(data))
        self._reply(req, at, data=data, bulk=True, ret=len(data), handle=hid)

    def on_fs_write(self, req: Packet, at: int) -> None:
        b = req.body
        got = self._handle(b)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, h = got
        node = self.nodes[h.ino]
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
        node.mtime = at
        at = self._work(at, len(data))
        self._reply(req, at, ret=len(data), offset=end, handle=hid)

    def on_fs_truncate(self, req: Packet, at: int) -> None:
        b = req.body
        got = self._handle(b)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, h = got
        node = self.nodes[h.ino]
        err = -EINVAL if node.is_dir else -EROFS if node.readonly else self._resize(node, b.length)
        node.mtime = at
        self._reply(req, at, ret=err, handle=hid)

    def on_fs_stat(self, req: Packet, at: int) -> None:
        """By handle (fstat, lseek's SEEK_END) or by path (stat)."""
        b = req.body
        hid = 0
        if b.handle is not None:
            got = self._handle(b)
            if isinstance(got, int):
                self._reply(req, at, ret=got)
                return
            hid, h = got
            node: Node | int = self.nodes[h.ino]
        else:
            node = self._resolve(b.path)
        if isinstance(node, int):
            self._reply(req, at, ret=node)
            return
        if b.access is True:  # access(2) wants to know about the read-only (--file) files too
            self._reply(req, at, ret=0, st=self._stat(node), handle=hid, ro=node.readonly)
        else:
            self._reply(req, at, ret=0, st=self._stat(node), handle=hid)

    def on_fs_setattr(self, req: Packet, at: int) -> None:
        """chmod (the permission bits) and utimensat (the modification time; shoal keeps one
        time for a file: access and change times read the same), by handle or by path. The
        read-only --file files refuse both (EROFS)."""
        b = req.body
        hid = 0
        if b.handle is not None:
            got = self._handle(b)
            if isinstance(got, int):
                self._reply(req, at, ret=got)
                return
            hid, h = got
            node: Node | int = self.nodes[h.ino]
        else:
            node = self._resolve(b.path)
        if isinstance(node, int):
            self._reply(req, at, ret=node)
            return
        if node.readonly:
            self._reply(req, at, ret=-EROFS, handle=hid)
            return
        if b.mode is not UNSET:
            node.mode = b.mode & 0o7777
        if b.mtime is not UNSET:
            node.mtime = b.mtime
        self._reply(req, at, ret=0, handle=hid)

    def on_fs_getdents(self, req: Packet, at: int) -> None:
        """linux_dirent64 records from entry `offset` on (0 is `.`, 1 is `..`), as many as fit."""
        b = req.body
        got = self._handle(b)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        hid, h = got
        node = self.nodes[h.ino]
        if not node.is_dir:
            self._reply(req, at, ret=-ENOTDIR, handle=hid)
            return
        entries = [(".", node.ino, DT_DIR), ("..", node.parent, DT_DIR)]
        entries += [(name, ino, DT_DIR if self.nodes[ino].is_dir else DT_REG)
                    for name, ino in node.children.items()]
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
        parent, name = got
        if name in parent.children:
            self._reply(req, at, ret=-EEXIST)
            return
        node = self._new(parent, name, True, req.body.mode, at)
        self._reply(req, at, ret=node if isinstance(node, int) else 0)

    def on_fs_unlink(self, req: Packet, at: int) -> None:
        b = req.body
        got = self._parent(b.path)
        if isinstance(got, int):
            self._reply(req, at, ret=got)
            return
        parent, name = got
        ino = parent.children.get(name)
        if ino is None:
            self._reply(req, at, ret=-ENOENT)
            return
        node = self.nodes[ino]
        err = 0
        if b.rmdir:
            err = -ENOTDIR if not node.is_dir else -ENOTEMPTY if node.children else 0
        elif node.is_dir:
            err = -EISDIR
        if node.readonly:
            err = -EROFS
        if not err:
            del parent.children[name]
            parent.mtime = at
            node.linked = False
            self._free_node(node)
        self._reply(req, at, ret=err)

    def on_fs_rename(self, req: Packet, at: int) -> None:
        b = req.body
        self._reply(req, at, ret=self._rename(b.old, b.new, b.noreplace, at))

    def _rename(self, old: str, new: str, noreplace: bool, at: int) -> int:
        src = self._parent(old)
        dst = self._parent(new)
        if isinstance(src, int):
            return src
        if isinstance(dst, int):
            return dst
        (sp, sname), (dp, dname) = src, dst
        ino = sp.children.get(sname)
        if ino is None:
            return -ENOENT
        node = self.nodes[ino]
        if node.readonly:
            return -EROFS
        # A directory may not move below itself.
        d = dp
        while node.is_dir:
            if d.ino == node.ino:
                return -EINVAL
            if d.ino == ROOT:
                break
            d = self.nodes[d.parent]
        target = dp.children.get(dname)
        if target == ino:
            return 0
        if target is not None:
            if noreplace:
                return -EEXIST
            t = self.nodes[target]
            if t.readonly:
                return -EROFS
            if t.is_dir and not node.is_dir:
                return -EISDIR
            if node.is_dir and not t.is_dir:
                return -ENOTDIR
            if t.is_dir and t.children:
                return -ENOTEMPTY
            del dp.children[dname]
            t.linked = False
            self._free_node(t)
        del sp.children[sname]
        dp.children[dname] = ino
        node.parent = dp.ino
        sp.mtime = dp.mtime = at
        return 0

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
- A mapped file (mmap) is also a shared memory object of the shared-memory home on this
  I/O cluster (daemons/shm.py), which holds it open while mapped (`map_*`). A read of it
  waits for the mappings' written pages to come home, a write (ftruncate, a punched hole)
  for every mapped copy of the pages it changes (`sync`): read() and write() are coherent
  with every mapping. open's O_TRUNC recalls the copies without waiting.
"""

from __future__ import annotations

import struct

from shoal.abi import (
    DT_DIR,
    EACCES,
    EADDRINUSE,
    EBADF,
    EBUSY,
    ECONNREFUSED,
    EEXIST,
    EFBIG,
    EINVAL,
    EISDIR,
    ELOOP,
    ENOENT,
    ENOSPC,
    ENOTDIR,
    ENOTEMPTY,
    ENXIO,
    EOPNOTSUPP,
    EPERM,
    EROFS,
    MAX_IO,
    MEMFD_PREFIX,
    O_ACCMODE,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_TRUNC,
)
from shoal.daemons.core import Core, Handler, HostCall
from shoal.daemons.fslinks import LinkCalls
from shoal.daemons.fslocks import LockCalls
from shoal.daemons.fsmap import MapCalls, Sync
from shoal.daemons.fspaths import ROOT, Handle, Node, walk
from shoal.daemons.fsperm import R, W, X, may, may_change, own_new, sticky_ok
from shoal.daemons.fstree import FsTree, as_cred
from shoal.kernel.pipes import FIFO_BIT, HOME_SHIFT
from shoal.messages import UNSET, Kind, answer_to
from shoal.platform.noc import Packet


class FileServer(LinkCalls, LockCalls, MapCalls):
    """The requests on files and the open files (handles); the tree itself is an FsTree."""

    def __init__(self, core: Core) -> None:
        self.spec = core.spec
        self.busy = core.busy  # the daemon core's: copying costs its time
        self._reply = core.reply
        self.fs = FsTree(core.spec.limits)  # the tree of files (fstree.py)
        self.handles: dict[int, Handle] = {}  # the open files
        self.next_handle = 1
        self.fifo_pipes = 0  # FIFOs given a pipe so far (the low bits of its handle)
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
        self.sync: Sync | None = None  # the shared-memory home's file_sync (daemons/fsmap.py)
        self._lock_init()
        self.host: dict[str, HostCall] = {"fs_load": self.fs.load, "fs_tree": self.fs.export,
                                            "fs_owner": self.fs.set_owner}

    def stats(self) -> dict[str, int]:
        return {"fs_nodes": self.fs.fs_count, "fs_bytes": self.fs.fs_used, "fs_handles": len(self.handles)}

    # helpers -----------------------------------------------------------------------------
    def _work(self, at: int, nbytes: int) -> int:
        """Copying `nbytes` in or out of a file on the daemon core after `at`."""
        cost = int(nbytes * self.spec.costs.copy_cycles_per_byte)
        return at if cost == 0 else self.busy.book(at, cost) + cost

    def _handle(self, b: dict) -> tuple[int, Handle] | int:
        """The handle a request names, opened again by its path if this server does not
        know it (see the module's docstring)."""
        hid = b.handle
        h = self.handles.get(hid)
        if h is not None and (h.pid == b.pid or b.pid in h.sharers):
            return hid, h
        if b.path.startswith(MEMFD_PREFIX):
            return -EBADF  # a memfd's file has no name: not on this chip (a restored image)
        node = self.fs.resolve(b.path)
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
            node = self.fs.nodes[h.ino]
            node.opens -= 1
            self.fs.free_node(node)

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

    # AF_UNIX names (daemons/sockets.py, on the same I/O cluster) ------------------------------
    def sock_bind(self, path: str, mode: int, at: int, cred: object = None) -> int:
        """bind: a socket node at `path` (its inode), EADDRINUSE if the name exists."""
        got = self.fs.parent(path, cred)
        if isinstance(got, int):
            return -EADDRINUSE if got == -EBUSY else got
        parent, name, old = got
        if old is not None:
            return -EADDRINUSE
        if parent.readonly:
            return -EROFS
        if cred is not None and cred is not UNSET and not may_change(parent, cred):  # type: ignore[arg-type]
            return -EACCES
        node = self.fs.new(parent, name, False, mode, at)
        if isinstance(node, int):
            return node
        if cred is not None and cred is not UNSET:
            own_new(node, parent, cred)  # type: ignore[arg-type]
        node.sock = True
        return node.ino

    def sock_find(self, path: str, cred: object = None) -> int:
        """connect, sendto: the inode of the socket at `path`; ECONNREFUSED for a file that is
        no socket; EACCES without write permission on it (Linux's unix_find_bsd)."""
        node = self.fs.resolve(path, cred=cred)
        if isinstance(node, int):
            return node
        if isinstance(cred, tuple) and not may(node, cred, W):
            return -EACCES
        return node.ino if node.sock else -ECONNREFUSED

    # requests from the kernels --------------------------------------------------------------
    def on_fs_open(self, req: Packet, at: int) -> None:
        """open: links followed, the last one unless O_NOFOLLOW (ELOOP) or O_CREAT|O_EXCL
        (EEXIST); O_CREAT through a dangling link makes its target, as Linux. A directory's
        answer carries its path without links (the kernel's descriptor keeps it: fchdir)."""
        b = req.body
        if b.anon is True:  # memfd_create: a file with no name, as if unlinked at once
            node = self.fs.new_anon(b.mode, at)
            if isinstance(node, int):
                self._reply(req, at, ret=node)
                return
            if b.cred is not UNSET:
                node.uid, node.gid = b.cred[0], b.cred[1]  # type: ignore[index]
            hid, _ = self._open_handle(b.pid, node, b.flags)
            self._reply(req, at, ret=0, handle=hid, dir=False)
            return
        flags, path = b.flags, b.path
        acc = flags & O_ACCMODE
        excl = flags & O_CREAT and flags & O_EXCL
        got = walk(self.fs.nodes, path, not (excl or flags & O_NOFOLLOW), as_cred(b.cred))
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
                node = self.fs.new(parent, name, False, b.mode, at)
                err = node if isinstance(node, int) else 0
                if not err and b.cred is not UNSET:
                    own_new(node, parent, b.cred)  # type: ignore[arg-type]
                if not err and b.fifo is True:  # mknod(S_IFIFO): made, not opened
                    node.fifo = True  # type: ignore[union-attr]
                    self._reply(req, at, ret=0, handle=0, dir=False)
                    return
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
            err = self.fs.resize(node, 0)
            node.touch(at)
            if self.sync is not None:  # (mapped copies past the end are recalled)
                self.sync(node.ino, 0, 1 << 62, True, None, at)
        if err or isinstance(node, int) or node is None:
            self._reply(req, at, ret=err)
            return
        if node.fifo:  # no handle here: the opener meets the others at the FIFO's pipe, whose
            # home is the cluster of the FIFO's first opener, for the node's life (kernel/fifos.py)
            if not node.pipe:
                self.fifo_pipes += 1
                node.pipe = (answer_to(b, req.src) << HOME_SHIFT) | FIFO_BIT | self.fifo_pipes
            self._reply(req, at, ret=0, handle=0, dir=False, obj=node.pipe)
            return
        hid, _ = self._open_handle(b.pid, node, flags)
        real = self.fs.path_of(node).encode() if node.is_dir else b""
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
        if not self._synced(node, off, off + n, False, lambda now: self._read(req, hid, node, now), at):
            return
        self._read(req, hid, node, at)

    def _read(self, req: Packet, hid: int, node: Node, at: int) -> None:
        off, n = req.body.offset, min(req.body.size, MAX_IO)
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
        off = len(node.data) if b.append else b.offset
        # (from the old end if it grows: a mapped page's bytes past the end are not the file's)
        if not self._synced(node, min(off, len(node.data)), off + len(req.data), True,
                            lambda now: self._write(req, hid, node, now), at):
            return
        self._write(req, hid, node, at)

    def _write(self, req: Packet, hid: int, node: Node, at: int) -> None:
        b, data = req.body, req.data
        off = len(node.data) if b.append else b.offset
        end = off + len(data)
        if end > len(node.data):
            limit = min(self.spec.limits.fs_max_file_bytes,
                        len(node.data) + self.spec.limits.fs_total_bytes - self.fs.fs_used)
            if off >= limit and data:
                err = -EFBIG if off >= self.spec.limits.fs_max_file_bytes else -ENOSPC
                self._reply(req, at, ret=err, handle=hid)
                return
            end = min(end, limit)
            data = data[:end - off]
            if end > len(node.data):
                self.fs.resize(node, end)
        node.data[off:end] = data
        node.touch(at)
        at = self._work(at, len(data))
        self._reply(req, at, ret=len(data), offset=end, handle=hid)

    def on_fs_truncate(self, req: Packet, at: int) -> None:
        """ftruncate (by handle: a directory is EINVAL) or truncate (by path: EISDIR, and
        write permission for a caller that is not root, EACCES), as Linux."""
        b = req.body
        found = self._target(req, at)
        if found is None:
            return
        hid, node = found
        by_path = b.handle is None
        if node.is_dir:
            err = -EISDIR if by_path else -EINVAL
        elif node.fifo or node.sock:
            err = -EINVAL  # (not a regular file: vfs_truncate's answer)
        elif node.readonly:
            err = -EROFS
        elif by_path and isinstance(b.cred, tuple) and not may(node, b.cred, W):
            err = -EACCES
        elif not self._synced(node, min(len(node.data), b.length), 1 << 62, True,
                              lambda now: self.on_fs_truncate(req, now), at):
            return  # (mapped copies of what it cuts or grows come home first, then once more)
        else:
            err = self.fs.resize(node, b.length)
        if not err:
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
        return hid, self.fs.nodes[h.ino]

    def _target(self, req: Packet, at: int) -> tuple[int, Node] | None:
        """The node a request names by handle or by path (following links unless `nofollow`),
        with the handle it used (0: by path); None once an error has been answered."""
        b = req.body
        if b.handle is not None:
            return self._open_node(req, at)
        node = self.fs.resolve(b.path, follow=b.nofollow is not True, cred=b.cred)
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
        if b.real is True and node.is_dir and isinstance(b.cred, tuple) and not may(node, b.cred, X):
            self._reply(req, at, ret=-EACCES, handle=hid)  # chdir: search permission on it
        elif b.real is True and node.is_dir:  # chdir: the path without links
            real = self.fs.path_of(node).encode()
            self._reply(req, at, data=real, ret=0, st=self.fs.stat(node), handle=hid)
        elif b.access is True:  # access(2) wants to know about the read-only (--file) files too
            self._reply(req, at, ret=0, st=self.fs.stat(node), handle=hid, ro=node.readonly)
        else:
            self._reply(req, at, ret=0, st=self.fs.stat(node), handle=hid)

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
        if (b.mtime is not UNSET or b.atime is not UNSET) and isinstance(b.cred, tuple) and (
                b.cred[0] not in (0, node.uid)):  # utimensat: the owner's; to now, a writer's too
            err = -EPERM if b.touch is not True else 0 if may(node, b.cred, W) else -EACCES
            if err:
                self._reply(req, at, ret=err, handle=hid)
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
        entries += [(name, ino, self.fs.dtype(self.fs.nodes[ino])) for name, ino in node.children.items()]
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
        got = self.fs.parent(req.body.path, req.body.cred)
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
        node = self.fs.new(parent, name, True, req.body.mode, at)
        if not isinstance(node, int) and cred is not UNSET:
            own_new(node, parent, cred)
        self._reply(req, at, ret=node if isinstance(node, int) else 0)

    def on_fs_unlink(self, req: Packet, at: int) -> None:
        """unlink drops one name (a link's own, never its target's); rmdir an empty directory."""
        b = req.body
        got = self.fs.parent(b.path, b.cred)
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
            self.fs.drop_name(parent, name, node, at)
        self._reply(req, at, ret=err)

    def on_fs_rename(self, req: Packet, at: int) -> None:
        b = req.body
        self._reply(req, at, ret=self._rename(b.old, b.new, b.noreplace, at, b.cred))

    def _rename(self, old: str, new: str, noreplace: bool, at: int, cred: object = UNSET) -> int:
        """Names move, not what they name: a link is renamed, never followed."""
        src = self.fs.parent(old, cred)
        dst = self.fs.parent(new, cred)
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
            d = self.fs.nodes[d.parent]
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
            self.fs.drop_name(dp, dname, t, at)
        del sp.children[sname]
        dp.children[dname] = node.ino
        if node.is_dir:
            node.parent = dp.ino
        sp.touch(at)
        dp.touch(at)
        node.ctime = at
        return 0

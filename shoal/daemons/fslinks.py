"""The file server's links, statfs and fallocate (a part of daemons/files.py's FileServer).

Hard links: a node has `names`; each name past the first counts as a node against
fs_max_files (tmpfs's rule: a name pins memory), at most LINK_MAX (EMLINK). Symbolic links are
nodes with a `target`, followed by fspaths.walk (MAXSYMLINKS, then ELOOP).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EACCES, EBUSY, EEXIST, EFBIG, EINVAL, EMLINK, ENOENT, ENOSPC, EPERM, EROFS, LINK_MAX
from shoal.daemons.fspaths import Node
from shoal.daemons.fsperm import may_change, own_new
from shoal.messages import UNSET

if TYPE_CHECKING:
    from shoal.daemons.files import FileServer
    from shoal.platform.noc import Packet

STATFS_BLOCK = 4096  # statfs's block size (f_bsize, f_frsize): a page, as tmpfs
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02


class LinkCalls:
    def on_fs_link(self: FileServer, req: Packet, at: int) -> None:
        """linkat: a new name for a file (a link itself unless `follow`), or for an open one
        (`handle`: AT_EMPTY_PATH). Each name counts as a node against fs_max_files (tmpfs's
        rule: a name pins memory); at most LINK_MAX names (EMLINK); directories refuse (EPERM)."""
        b = req.body
        if b.handle is not None:
            got = self._handle(b)
            if isinstance(got, int):
                self._reply(req, at, ret=got)
                return
            node: Node | int = self.fs.nodes[got[1].ino]
            if isinstance(node, Node) and not node.names:
                node = -ENOENT  # (an unlinked file gets no name back, as Linux)
        else:
            node = self.fs.resolve(b.old, follow=b.follow, cred=b.cred)
        if isinstance(node, int):
            self._reply(req, at, ret=node)
            return
        dst = self.fs.parent(b.new, b.cred)
        if isinstance(dst, int):
            self._reply(req, at, ret=-EEXIST if dst == -EBUSY else dst)
            return
        dp, dname, there = dst
        err = 0
        if there is not None or b.new.endswith("/"):
            err = -EEXIST if there is not None else -ENOENT
        elif node.is_dir:
            err = -EPERM
        elif node.readonly or dp.readonly:
            err = -EROFS
        elif b.cred is not UNSET and not may_change(dp, b.cred):
            err = -EACCES
        elif node.names >= LINK_MAX:
            err = -EMLINK
        elif self.fs.fs_count >= self.spec.limits.fs_max_files:
            err = -ENOSPC
        if not err:
            dp.children[dname] = node.ino
            dp.touch(at)
            node.names += 1
            node.ctime = at
            self.fs.fs_count += 1
        self._reply(req, at, ret=err)

    def on_fs_symlink(self: FileServer, req: Packet, at: int) -> None:
        """symlinkat: a link holding `target` as given (not checked: it may dangle)."""
        b = req.body
        dst = self.fs.parent(b.path, b.cred)
        if isinstance(dst, int):
            self._reply(req, at, ret=-EEXIST if dst == -EBUSY else dst)
            return
        dp, name, there = dst
        if there is not None:
            self._reply(req, at, ret=-EEXIST)
            return
        if b.cred is not UNSET and not may_change(dp, b.cred):
            self._reply(req, at, ret=-EACCES)
            return
        node = self.fs.new(dp, name, False, 0o777, at)
        if isinstance(node, Node):
            node.target = b.target
            if b.cred is not UNSET:
                own_new(node, dp, b.cred)
                node.mode = 0o777
        self._reply(req, at, ret=node if isinstance(node, int) else 0)

    def on_fs_readlink(self: FileServer, req: Packet, at: int) -> None:
        """readlinkat: the link's target (the kernel cuts it to the caller's buffer)."""
        node = self.fs.resolve(req.body.path, follow=False, cred=req.body.cred)
        if isinstance(node, int):
            self._reply(req, at, ret=node)
        elif node.target is None:
            self._reply(req, at, ret=-EINVAL)
        else:
            raw = node.target.encode("utf-8", "surrogateescape")
            self._reply(req, at, data=raw, bulk=True, ret=len(raw))

    def on_fs_statfs(self: FileServer, req: Packet, at: int) -> None:
        """statfs: [block size, blocks, free blocks, files, free files] from the limits."""
        b = req.body
        hid = 0
        if b.handle is not None:
            got = self._handle(b)
            if isinstance(got, int):
                self._reply(req, at, ret=got)
                return
            hid = got[0]
        else:
            node = self.fs.resolve(b.path, cred=b.cred)
            if isinstance(node, int):
                self._reply(req, at, ret=node)
                return
        sp = self.spec.limits
        blocks = sp.fs_total_bytes // STATFS_BLOCK
        free = max(0, sp.fs_total_bytes - self.fs.fs_used) // STATFS_BLOCK
        attr = [STATFS_BLOCK, blocks, free, sp.fs_max_files, max(0, sp.fs_max_files - self.fs.fs_count)]
        self._reply(req, at, ret=0, attr=attr, handle=hid)

    def on_fs_fallocate(self: FileServer, req: Packet, at: int) -> None:
        """fallocate: mode 0 makes the file at least offset+length long (zeros), within
        fs_max_file_bytes (EFBIG) and fs_total_bytes (ENOSPC); KEEP_SIZE only checks the
        room (nothing is reserved: the RAM disk has no blocks); PUNCH_HOLE|KEEP_SIZE zeroes
        the range. The kernel checked the mode and the descriptor."""
        b = req.body
        found = self._open_node(req, at)
        if found is None:
            return
        hid, node = found
        end = b.offset + b.length
        err = 0
        if node.readonly:
            err = -EROFS
        elif end > self.spec.limits.fs_max_file_bytes:
            err = -EFBIG
        elif b.mode & FALLOC_FL_PUNCH_HOLE:
            stop = min(end, len(node.data))
            if b.offset < stop and not self._synced(node, b.offset, stop, True,
                                                     lambda now: self.on_fs_fallocate(req, now), at):
                return  # (mapped copies of the hole come home first, then once more)
            if b.offset < stop:
                node.data[b.offset:stop] = bytes(stop - b.offset)
                node.touch(at)
        elif end > len(node.data):
            if end - len(node.data) > self.spec.limits.fs_total_bytes - self.fs.fs_used:
                err = -ENOSPC
            elif not b.mode & FALLOC_FL_KEEP_SIZE:
                if not self._synced(node, len(node.data), end, True,
                                    lambda now: self.on_fs_fallocate(req, now), at):
                    return  # (a mapped page's bytes past the old end are not the file's)
                err = self.fs.resize(node, end)
                node.touch(at)
        self._reply(req, at, ret=err, handle=hid)

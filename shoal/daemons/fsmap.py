"""The file server's side of mapped files, a part of daemons/files.py's FileServer: a mapped
file is a shared memory object of the shared-memory home on the same I/O cluster
(daemons/shm.py), which holds the file open while mapped (`map_*`) and tells whether a read
or a change of the file must wait for the mappings' copies to come home (`sync`, its
file_sync: daemons/node.py sets it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import ENODEV

if TYPE_CHECKING:
    from shoal.daemons.files import FileServer
    from shoal.daemons.fspaths import Node

# (ino, start, end, write, then, at) -> True to go on now; else `then(at)` once the mappings
# allow (with `then` None, the copies are only recalled)
Sync = Callable[[int, int, int, bool, Callable[[int], None] | None, int], bool]


class _Named:
    """A request's fields that name an open file (for _handle, from a mapping's request)."""

    def __init__(self, handle: int, pid: int, path: str, flags: int) -> None:
        self.handle, self.pid, self.path, self.flags = handle, pid, path, flags


class MapCalls:
    def map_open(self: FileServer, pid: int, handle: int, path: str, flags: int) -> int:
        """mmap of an open file: its node, held open until map_release; -errno for a handle
        `pid` does not hold that cannot be opened again, or a directory (ENODEV)."""
        got = self._handle(_Named(handle, pid, path, flags))
        if isinstance(got, int):
            return got
        node = self.fs.nodes[got[1].ino]
        if node.is_dir or node.sock:
            return -ENODEV
        node.opens += 1
        return node.ino

    def map_release(self: FileServer, ino: int) -> None:
        node = self.fs.nodes.get(ino)
        if node is not None:
            node.opens -= 1
            self.fs.free_node(node)

    def map_data(self: FileServer, ino: int, at: int | None = None) -> bytearray:
        """A mapped file's bytes; `at`: a mapping's page is written into them then."""
        node = self.fs.nodes[ino]
        if at is not None:
            node.touch(at)
        return node.data

    def _synced(self: FileServer, node: Node, start: int, end: int, write: bool,
                then: Callable[[int], None], at: int) -> bool:
        """May a read (write: a change) of bytes [start, end) go on now? Else `then` runs
        once the mappings' copies in the way are home."""
        return self.sync is None or node.is_dir or self.sync(node.ino, start, end, write, then, at)


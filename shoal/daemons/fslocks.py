"""The file server's record locks (fcntl F_GETLK/F_SETLK/F_SETLKW and the open file
description's F_OFD_*), a part of daemons/files.py's FileServer, so processes on any clusters
see one lock table per file, as on Linux.

- A lock is [owner, start, end, type, pid] on a node (end exclusive, INF: to the end of any
  size). A POSIX lock's owner is its process (pid > 0); an OFD lock's is its open file
  description, the server's handle (-handle), which dup and fork share.
- Two locks conflict when their owners differ, their ranges meet and one is a write lock. An
  owner's new lock replaces what it held in the range (and merges with touching locks of the
  same type), F_UNLCK cuts the range out: Linux's rules.
- F_SETLKW waits here: its answer is held back until the lock is granted (retried whenever a
  lock on the file goes), or EDEADLK at once when the holder waits, through a chain of
  waiting owners, for a lock the caller holds (Linux's check, MAX_DEADLK_ITERATIONS owners
  deep). A handled signal ends the wait: the kernel asks (CANCEL), the server answers EINTR
  if it still holds the request back (else the lock was granted first, and the call returns
  0, as on Linux when the lock wins the race).
- The server holds LOCKS_MAX locks at most (ENOLCK past it, as Linux when lock memory runs
  out): a guest's locks cost the host memory, and each request a scan of the file's locks.
- A process's POSIX locks on a file go when it closes any descriptor of that file (the
  kernel says so: FsLock `drop`) and when it ends; an OFD lock when its handle closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EAGAIN, EDEADLK, EINTR, ENOLCK, OFFSET_MAX, lock_range

if TYPE_CHECKING:
    from shoal.daemons.files import FileServer
    from shoal.platform.noc import Packet

F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
INF = OFFSET_MAX + 1  # a lock's end when it runs to the end of any size (l_len 0)
MAX_DEADLK_ITERATIONS = 10  # Linux's: how far F_SETLKW follows owners that wait for owners
LOCKS_MAX = 4096  # locks one file server holds (ENOLCK past it): the host's memory and time bounded
GET, SET, SETW, DROP, CANCEL = 0, 1, 2, 3, 4


def _conflict(a: list[int], owner: int, start: int, end: int, type_: int) -> bool:
    return a[0] != owner and a[1] < end and start < a[2] and F_WRLCK in (a[3], type_)


class LockCalls:
    def _lock_init(self: FileServer) -> None:
        self.locks: dict[int, list[list[int]]] = {}  # ino -> its locks
        # held-back F_SETLKW requests: (req, ino, owner, start, end, type, pid)
        self.lock_waits: list[tuple[Packet, int, int, int, int, int, int]] = []

    def on_fs_lock(self: FileServer, req: Packet, at: int) -> None:
        b = req.body
        if b.cmd == DROP:  # one way: a process closed a descriptor of the file
            h = self.handles.get(b.handle)
            if h is not None:
                self._unlock_owner(h.ino, b.pid, at)
            return
        if b.cmd == CANCEL:  # one way: a signal cut the F_SETLKW short, unless granted already
            w = next((w for w in self.lock_waits if w[0].body.op == b.cancel and w[6] == b.pid), None)
            if w is not None:
                self.lock_waits.remove(w)
                self._reply(w[0], at, ret=-EINTR)
            return
        found = self._open_node(req, at)
        if found is None:
            return
        hid, node = found
        rng = lock_range({0: 0, 1: b.offset, 2: len(node.data)}[b.whence], b.start, b.length)
        if isinstance(rng, int):
            self._reply(req, at, ret=rng, handle=hid)
            return
        start, end = rng
        owner = -hid if b.ofd else b.pid
        pid = -1 if b.ofd else b.pid  # what F_GETLK reports: -1 for an OFD lock, as Linux
        held = self.locks.get(node.ino, [])
        if b.cmd == GET:
            c = next((x for x in held if _conflict(x, owner, start, end, b.type)), None)
            st = [F_UNLCK] if c is None else [c[3], c[1], 0 if c[2] == INF else c[2] - c[1], c[4]]
            self._reply(req, at, ret=0, st=st, handle=hid)
            return
        if b.type == F_UNLCK:
            self._cut(node.ino, owner, start, end)
            self._reply(req, at, ret=self._bounded(node.ino, held), handle=hid)
            self._retry_locks(node.ino, at)
            return
        blockers = [x for x in held if _conflict(x, owner, start, end, b.type)]
        if not blockers:
            self._grant(node.ino, owner, start, end, b.type, pid)
            self._reply(req, at, ret=self._bounded(node.ino, held), handle=hid)
            return
        if b.cmd == SET:
            self._reply(req, at, ret=-EAGAIN, handle=hid)
            return
        if owner > 0 and any(self._waits_for(x[0], owner) for x in blockers):
            self._reply(req, at, ret=-EDEADLK, handle=hid)
            return
        self.lock_waits.append((req, node.ino, owner, start, end, b.type, b.pid))  # (b.pid: whose wait)

    def _waits_for(self: FileServer, holder: int, owner: int) -> bool:
        """Does `holder` wait, through a chain of waiting owners, for a lock `owner` holds?
        (Linux's posix_locks_deadlock: POSIX owners only, MAX_DEADLK_ITERATIONS steps.)"""
        for _ in range(MAX_DEADLK_ITERATIONS + 1):
            w = next((w for w in self.lock_waits if w[2] == holder and holder > 0), None)
            if w is None:
                return False
            _, ino, who, start, end, type_, _ = w
            x = next((x for x in self.locks.get(ino, []) if _conflict(x, who, start, end, type_)), None)
            if x is None:
                return False
            if x[0] == owner:
                return True
            holder = x[0]
        return False

    def _bounded(self: FileServer, ino: int, before: list[list[int]]) -> int:
        """0, or ENOLCK with the file's locks as `before` when the change (a lock, or an unlock
        that splits one) took the server past LOCKS_MAX: as Linux out of lock memory."""
        if sum(map(len, self.locks.values())) <= LOCKS_MAX:
            return 0
        if before:
            self.locks[ino] = before
        else:
            self.locks.pop(ino, None)
        return -ENOLCK

    def _cut(self: FileServer, ino: int, owner: int, start: int, end: int) -> None:
        out: list[list[int]] = []
        for x in self.locks.get(ino, []):
            if x[0] != owner or x[2] <= start or end <= x[1]:
                out.append(x)
                continue
            if x[1] < start:
                out.append([x[0], x[1], start, x[3], x[4]])
            if end < x[2]:
                out.append([x[0], end, x[2], x[3], x[4]])
        if out:
            self.locks[ino] = sorted(out, key=lambda x: (x[1], x[0]))
        else:
            self.locks.pop(ino, None)

    def _grant(self: FileServer, ino: int, owner: int, start: int, end: int, type_: int, pid: int) -> None:
        self._cut(ino, owner, start, end)
        held = self.locks.setdefault(ino, [])
        for x in [x for x in held if x[0] == owner and x[3] == type_ and x[1] <= end and start <= x[2]]:
            start, end = min(start, x[1]), max(end, x[2])  # touching locks of one type merge
            held.remove(x)
        held.append([owner, start, end, type_, pid])
        held.sort(key=lambda x: (x[1], x[0]))

    def _retry_locks(self: FileServer, ino: int, at: int) -> None:
        """Locks on `ino` went: grant the held-back F_SETLKW requests that now fit, in order."""
        waits, self.lock_waits = self.lock_waits, []
        for w in waits:
            req, wino, owner, start, end, type_, pid = w
            held = self.locks.get(ino, [])
            if wino == ino and not any(_conflict(x, owner, start, end, type_) for x in held):
                self._grant(ino, owner, start, end, type_, -1 if owner < 0 else pid)
                self._reply(req, at, ret=0)
            else:
                self.lock_waits.append(w)

    def _unlock_owner(self: FileServer, ino: int, owner: int, at: int) -> None:
        if any(x[0] == owner for x in self.locks.get(ino, [])):
            self._cut(ino, owner, 0, INF)
            self._retry_locks(ino, at)

    def locks_process_ended(self: FileServer, pid: int, at: int) -> None:
        self.lock_waits = [w for w in self.lock_waits if w[6] != pid]
        for ino in [ino for ino, held in self.locks.items() if any(x[0] == pid for x in held)]:
            self._unlock_owner(ino, pid, at)

    def locks_handle_closed(self: FileServer, hid: int, ino: int, at: int) -> None:
        self.lock_waits = [w for w in self.lock_waits if w[2] != -hid]
        self._unlock_owner(ino, -hid, at)

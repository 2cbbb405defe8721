"""`shoal run --fs DIR`: a host directory copied into the file server before the run, and the
final tree written back afterwards (to DIR, or to `--fs-out DIR`), so results come home.

Host side only: it reads and writes host files and hands plain data to `Chip.load_fs` and
takes it from `Chip.fs_tree` (shoal/daemons/files.py holds the tree on the chip). Regular
files, directories and symbolic links that stay inside DIR are copied (a relative target, `..`
only at its start and no higher than the tree's root: fspaths.link_inside); a FIFO comes in
as a guest FIFO of the same permission bits (fspaths.Fifo: only lstat'ed, never opened; the
guest's is a pipe of the chip, not a way to the host's readers or writers); anything else in
DIR (a link that leads outside or is absolute, a device, a socket), a name that is not
UTF-8, or a tree over the chip's limits is refused with one line. A file whose owner may
execute it comes as fspaths.Executable (0755 on the chip, so a user may execve it; else
0644). A host file with several names comes in as one file per name. On the way back the
guest's links are written as host links by the same rule (an absolute target made relative
to DIR); one that would lead outside is not written (counted as lost, below); a guest
file's second name is written as a copy; a guest FIFO is made by os.mkfifo (which opens
nothing; one already there as a FIFO is left, given the guest's permission bits).

Both ways walk with a stack (a tree may be as deep as fs_max_files) and reach every entry
through directory descriptors, one name at a time, never following a symbolic link
(`_Dirs`): the length of DIR's own path and the host's PATH_MAX do not matter, and a tree
the guest made with paths longer than PATH_MAX comes home whole. The chip refuses, at the
guest's call, names the host could not hold (over 255 bytes of UTF-8: ENAMETOOLONG).

The write-back never writes into an existing inode: a file that changed is written under a
temporary name in its directory and renamed over the old one (a hard link in DIR to a file
outside stays untouched; the new file keeps the old one's permission bits). It removes or
replaces only what the guest had: an entry of the tree read from DIR at the start that the
guest removed or changed (a FIFO or a device is never opened; a link is removed, never
followed). Nothing else on the host is touched: `--fs-out` must name a new or empty directory
(or DIR itself), checked before the run, and an entry that appeared in DIR during the run is
left as it is (named as lost if the guest's tree has an entry of that name). An entry the host
refuses (its file system takes shorter names, a disk full) does not stop the rest: everything
else is written, then one line names what was lost (`ShoalError`).
"""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from shoal.daemons.fspaths import Executable, Fifo, Symlink, bad_name, link_inside
from shoal.errors import ShoalError
from shoal.spec import ChipSpec

Tree = list[tuple[str, bytes | Symlink | Fifo | None]]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO opens without waiting


def _why(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


def _show(path: str | bytes, limit: int = 160) -> str:
    """A host path for a message: bytes that are not UTF-8 escaped, a long one shortened."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    text = raw.decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[:limit // 2] + "..." + text[-limit // 2:]


class _Dirs:
    """Descriptors of the directories under one root, keyed by relative path ('' is the root),
    each opened from its parent's (openat, O_NOFOLLOW). At most CAP stay open, the least
    recently used closed first and opened again if needed, so that a deep tree does not use
    a descriptor per level."""

    CAP = 64

    def __init__(self, root_fd: int) -> None:
        self.root = root_fd
        self.fds: OrderedDict[str, int] = OrderedDict()

    def get(self, rel: str) -> int:
        if not rel:
            return self.root
        fd = self.fds.get(rel)
        if fd is not None:
            self.fds.move_to_end(rel)
            return fd
        up, _, name = rel.rpartition("/")
        todo = [name]
        while up and up not in self.fds:  # the nearest open ancestor
            up, _, name = up.rpartition("/")
            todo.append(name)
        fd = self.get(up)
        for name in reversed(todo):
            up = f"{up}/{name}" if up else name
            fd = os.open(name, _DIR, dir_fd=fd)
            self.fds[up] = fd
            while len(self.fds) > self.CAP:
                os.close(self.fds.popitem(last=False)[1])
        return fd

    def forget(self, rel: str) -> None:
        """`rel` and everything under it are gone (removed or renamed)."""
        for key in [k for k in self.fds if k == rel or k.startswith(rel + "/")]:
            os.close(self.fds.pop(key))

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        os.close(self.root)


def _lstat(fd: int, name: str) -> os.stat_result:
    return os.stat(name, dir_fd=fd, follow_symlinks=False)


def _read_file(fd: int, name: str) -> bytes | None:
    """A regular file's contents through `fd`; None if `name` is not one (now)."""
    try:
        f = os.open(name, _FILE, dir_fd=fd)
    except OSError:
        return None
    try:
        st = os.fstat(f)
        if not stat.S_ISREG(st.st_mode):
            return None
        parts = []
        while chunk := os.read(f, 1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(f)


def read_host_tree(root: str | Path, spec: ChipSpec, flag: str = "--fs") -> Tree:
    """The tree under `root`: (relative path, contents or None for a directory), parents
    first, names in sorted order."""
    root = Path(root)
    try:  # (O_DIRECTORY: a FIFO given as DIR is refused, not waited on)
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise ShoalError(f"{flag} {root}: {_why(e)}") from None
    dirs = _Dirs(root_fd)
    out: Tree = []
    total = 0

    def where(rel: str) -> str:
        return _show(os.path.join(os.fsencode(root), os.fsencode(rel)))

    rel = ""
    try:
        stack: list[tuple[str, list[str]]] = [("", sorted(os.listdir(root_fd), reverse=True))]
        while stack:
            prefix, names = stack[-1]
            if not names:
                stack.pop()
                continue
            name = names.pop()
            rel = prefix + name
            why = bad_name(name)
            if why == "not UTF-8":
                raise ShoalError(f"{flag} {where(rel)}: a name that is not UTF-8 (the chip's names are)")
            if why is not None:  # a host that takes longer names than Linux
                raise ShoalError(f"{flag} {where(rel)}: {why}")
            if len(out) >= spec.limits.fs_max_files:
                raise ShoalError(f"{flag} {root}: more than {spec.limits.fs_max_files} files and directories "
                                 "(the chip's fs_max_files)")
            fd = dirs.get(prefix.rstrip("/"))
            st = _lstat(fd, name)
            if stat.S_ISDIR(st.st_mode):
                out.append((rel, None))
                stack.append((rel + "/", sorted(os.listdir(dirs.get(rel)), reverse=True)))
            elif stat.S_ISREG(st.st_mode):
                if st.st_size > spec.limits.fs_max_file_bytes:
                    raise ShoalError(f"{flag} {where(rel)}: {st.st_size} bytes, more than the chip's "
                                     f"fs_max_file_bytes ({spec.limits.fs_max_file_bytes})")
                total += st.st_size
                if total > spec.limits.fs_total_bytes:
                    raise ShoalError(f"{flag} {root}: more than the chip's fs_total_bytes "
                                     f"({spec.limits.fs_total_bytes}) of files")
                data = _read_file(fd, name)
                if data is None:
                    raise ShoalError(f"{flag} {where(rel)}: not a regular file any more")
                out.append((rel, Executable(data) if st.st_mode & stat.S_IXUSR else data))
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(name, dir_fd=fd)
                if link_inside(prefix, target, absolute_ok=False) is None:
                    raise ShoalError(f"{flag} {where(rel)}: a symbolic link leading outside the tree "
                                     f"({_show(target)})")
                try:
                    target.encode()
                except UnicodeEncodeError:
                    raise ShoalError(f"{flag} {where(rel)}: a link's target that is not UTF-8") from None
                out.append((rel, Symlink(target)))
            elif stat.S_ISFIFO(st.st_mode):
                out.append((rel, Fifo(stat.S_IMODE(st.st_mode))))
            else:
                raise ShoalError(f"{flag} {where(rel)}: not a regular file, directory, symbolic link or FIFO")
    except OSError as e:
        raise ShoalError(f"{flag} {where(rel)}: {_why(e)}") from None
    finally:
        dirs.close()
    return out


def check_out_dir(out: str | Path, flag: str = "--fs-out", source: str | Path | None = None) -> None:
    """Refuse, before the run, a place the tree could not be written to, or whose contents
    are not the chip's to replace: an existing directory must be empty, unless it is
    `source` (the --fs directory the tree was read from)."""
    p = Path(out)
    if p.is_symlink() or p.exists() and not p.is_dir():
        raise ShoalError(f"{flag} {_show(str(p))}: not a directory")
    if not p.exists():
        if not p.parent.is_dir():
            raise ShoalError(f"{flag} {_show(str(p))}: its parent directory does not exist")
        return
    if source is not None and os.path.samefile(p, source):
        return
    try:
        with os.scandir(p) as it:
            full = next(it, None) is not None
    except OSError as e:
        raise ShoalError(f"{flag} {_show(str(p))}: {_why(e)}") from None
    if full:
        raise ShoalError(f"{flag} {_show(str(p))}: not empty (the final tree goes to a new or empty "
                         "directory; shoal replaces nothing it did not read)")


def _remove(fd: int, name: str, is_dir: bool, at: str = "", known: set[str] | None = None) -> None:
    """Remove `name` in the directory open on `fd`, and all under it (a stack, no recursion;
    nothing opened but directories, no link followed). With `known` (paths relative to the
    tree's root; `name` is at `at` in it), only what is in it: anything else stays, and its
    directory then cannot be removed (OSError)."""
    if not is_dir:
        os.unlink(name, dir_fd=fd)
        return
    base = _join(at, name)
    sub = _Dirs(os.open(name, _DIR, dir_fd=fd))
    try:
        stack = [""]  # directories under `name` to empty, then remove (after their children)
        emptied: set[str] = set()
        while stack:
            rel = stack[-1]
            if rel in emptied:
                stack.pop()
                if rel:
                    sub.forget(rel)
                    up, _, last = rel.rpartition("/")
                    os.rmdir(last, dir_fd=sub.get(up))
                continue
            emptied.add(rel)
            dfd = sub.get(rel)
            for entry in os.listdir(dfd):
                if known is not None and _join(_join(base, rel) if rel else base, entry) not in known:
                    continue  # not the guest's: left, and its directory with it
                if stat.S_ISDIR(_lstat(dfd, entry).st_mode):
                    stack.append(f"{rel}/{entry}" if rel else entry)
                else:
                    os.unlink(entry, dir_fd=dfd)
    finally:
        sub.close()
    os.rmdir(name, dir_fd=fd)


def _replace(fd: int, name: str, make: Callable[[str], object],
             fill: Callable[[str], None] | None = None) -> None:
    """Make a new entry with `make(tmp)` under a free temporary name in the directory open on
    `fd`, complete it with `fill(tmp)`, then rename it over `name` (so nothing is ever written
    through what was there); on any failure the temporary entry is removed."""
    for i in range(1 << 20):
        tmp = f".shoal-tmp-{i}"
        try:
            make(tmp)
            break
        except FileExistsError:
            continue
    else:
        raise OSError(0, "no free temporary name")
    try:
        if fill is not None:
            fill(tmp)
        os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=fd)
        except OSError:
            pass
        raise


def _write_file(fd: int, name: str, data: bytes, old: os.stat_result | None) -> None:
    """`name` holds `data`: left alone if it already does, else written under a temporary
    name and renamed into place (never through the existing inode, which may be a hard link
    to a file outside the tree)."""
    if old is not None and stat.S_ISREG(old.st_mode) and old.st_size == len(data) \
            and _read_file(fd, name) == data:
        return
    mode = stat.S_IMODE(old.st_mode) if old is not None and stat.S_ISREG(old.st_mode) else None
    opened: list[int] = []

    def make(tmp: str) -> None:
        opened.append(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                              0o666, dir_fd=fd))

    def fill(_: str) -> None:
        f = opened[0]
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(f, view):]
            if mode is not None:
                os.fchmod(f, mode)
        finally:
            os.close(f)
    _replace(fd, name, make, fill)


def _write_link(fd: int, name: str, target: str, old: os.stat_result | None) -> None:
    """`name` is a symbolic link to `target`: left alone if it already is, else made under
    a temporary name and renamed into place (whatever was there is replaced, never followed)."""
    if old is not None and stat.S_ISLNK(old.st_mode) and os.readlink(name, dir_fd=fd) == target:
        return
    _replace(fd, name, lambda tmp: os.symlink(target, tmp, dir_fd=fd))


def _write_fifo(fd: int, name: str, mode: int, old: os.stat_result | None) -> None:
    """`name` is a FIFO with permission bits `mode`: one already there is kept (only its
    bits set: chmod opens nothing), else one is made under a temporary name and renamed
    into place. Neither is ever opened (an open would wait for a host writer or reader)."""
    if old is not None and stat.S_ISFIFO(old.st_mode):
        if stat.S_IMODE(old.st_mode) != mode:
            os.chmod(name, mode, dir_fd=fd, follow_symlinks=False)
        return
    _replace(fd, name, lambda tmp: os.mkfifo(tmp, 0o600, dir_fd=fd),
             lambda tmp: os.chmod(tmp, mode, dir_fd=fd, follow_symlinks=False))


def write_host_tree(tree: Tree, out: str | Path, before: Tree | None = None) -> None:
    """Write `tree` to `out`: files whose contents differ are replaced (the rest are left
    untouched), and what the guest removed is removed: an entry of `before` (the tree read
    from `out` at the start, for --fs DIR; none for a new or empty --fs-out) not in `tree`.
    Nothing else in `out` is removed or replaced. What the host refuses is skipped, the rest
    written; then a ShoalError names what was lost."""
    root = Path(out)
    known = {p for p, _ in before or ()}
    try:
        os.mkdir(root)
    except FileExistsError:
        pass
    want: dict[str, dict[str, bytes | Symlink | Fifo | None]] = {"": {}}  # directory -> its entries
    for path, data in tree:
        where, _, name = path.rpartition("/")
        want[where][name] = data
        if data is None:
            want[path] = {}
    lost = 0
    first = ("", "")  # the first entry lost, and why

    def lose(path: str, why: str, n: int = 1) -> None:
        nonlocal lost, first
        if not lost:
            first = (path, why)
        lost += n

    def below(rel: str) -> int:
        """Entries of the tree under directory `rel`."""
        n, todo = 0, [rel]
        while todo:
            d = todo.pop()
            for name, data in want[d].items():
                n += 1
                if data is None:
                    todo.append(_join(d, name))
        return n

    dirs = _Dirs(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    try:
        stack = [""]
        while stack:
            rel = stack.pop()
            entries = want[rel]
            try:
                fd = dirs.get(rel)
                names = os.listdir(fd)
            except OSError as e:  # (made or checked just before: gone meanwhile)
                lose(rel, _why(e), below(rel))
                continue
            have: dict[str, os.stat_result] = {}
            for name in names:
                try:
                    have[name] = _lstat(fd, name)
                except FileNotFoundError:
                    pass  # gone meanwhile
            for name, st in list(have.items()):
                is_dir = stat.S_ISDIR(st.st_mode)
                path = _join(rel, name)
                if path not in known:  # the host's own, not the guest's: never removed nor replaced
                    if name in entries and not (is_dir and entries[name] is None):
                        lose(path, "it was put there on the host during the run: left as it is",
                             1 + (below(path) if entries[name] is None else 0))
                        del have[name]
                        entries = {**entries}
                        del entries[name]
                    continue
                if name not in entries or (entries[name] is None) != is_dir:
                    try:
                        if is_dir:
                            dirs.forget(path)
                        _remove(fd, name, is_dir, rel, known)
                        del have[name]
                    except OSError as e:
                        if name not in entries:  # (else writing it fails and counts it)
                            lose(path, f"could not remove it: {_why(e)}")
            subdirs = []
            for name, data in entries.items():
                path = _join(rel, name)
                st = have.get(name)
                try:
                    if isinstance(data, Symlink):
                        safe = link_inside(rel, data.target, absolute_ok=True)
                        if safe is None:
                            lose(path, f"a symbolic link leading outside the tree ({_show(data.target)})")
                        else:
                            _write_link(fd, name, safe, st)
                        continue
                    if isinstance(data, Fifo):
                        _write_fifo(fd, name, data.mode, st)
                        continue
                    if data is not None:
                        _write_file(fd, name, data, st)
                        continue
                    if st is None or not stat.S_ISDIR(st.st_mode):
                        os.mkdir(name, 0o755, dir_fd=fd)
                    subdirs.append(path)
                except OSError as e:
                    lose(path, _why(e), 1 + (below(path) if data is None else 0))
            stack.extend(reversed(subdirs))
    finally:
        dirs.close()
    if lost:
        raise ShoalError(f"{lost} {'entry' if lost == 1 else 'entries'} of the file system could not "
                         f"be written to {_show(str(root))} (the rest were): {_show(first[0])}: {first[1]}")


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name

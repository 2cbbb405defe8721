"""`shoal run --fs DIR`: a host directory copied into the file server before the run, and the
final tree written back afterwards (to DIR, or to `--fs-out DIR`), so results come home.

Host side only: it reads and writes host files and hands plain data to `Chip.load_fs` and
takes it from `Chip.fs_tree` (shoal/fileserver.py holds the tree on the chip). Only regular
files and directories are copied; anything else in DIR (a symbolic link, a device, a socket)
is refused with one line, as is a tree over the chip's limits.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from shoal.errors import ShoalError
from shoal.spec import ChipSpec

Tree = list[tuple[str, bytes | None]]


def read_host_tree(root: str | Path, spec: ChipSpec, flag: str = "--fs") -> Tree:
    """The tree under `root`: (relative path, contents or None for a directory), parents
    first, names in sorted order."""
    root = Path(root)
    try:
        st = os.stat(root)
    except OSError as e:
        raise ShoalError(f"{flag} {root}: {(e.strerror or str(e)).lower()}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ShoalError(f"{flag} {root}: not a directory")
    out: Tree = []
    total = 0

    def walk(d: Path, prefix: str) -> None:
        nonlocal total
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            raise ShoalError(f"{flag} {d}: {(e.strerror or str(e)).lower()}") from None
        for name in names:
            p = d / name
            rel = prefix + name
            st = os.lstat(p)
            if len(out) >= spec.fs_max_files:
                raise ShoalError(f"{flag} {root}: more than {spec.fs_max_files} files and directories "
                                 "(the chip's fs_max_files)")
            if stat.S_ISDIR(st.st_mode):
                out.append((rel, None))
                walk(p, rel + "/")
            elif stat.S_ISREG(st.st_mode):
                if st.st_size > spec.fs_max_file_bytes:
                    raise ShoalError(f"{flag} {p}: {st.st_size} bytes, more than the chip's "
                                     f"fs_max_file_bytes ({spec.fs_max_file_bytes})")
                total += st.st_size
                if total > spec.fs_total_bytes:
                    raise ShoalError(f"{flag} {root}: more than the chip's fs_total_bytes "
                                     f"({spec.fs_total_bytes}) of files")
                try:
                    out.append((rel, p.read_bytes()))
                except OSError as e:
                    raise ShoalError(f"{flag} {p}: {(e.strerror or str(e)).lower()}") from None
            else:
                raise ShoalError(f"{flag} {p}: not a regular file or directory")
    walk(root, "")
    return out


def check_out_dir(out: str | Path, flag: str = "--fs-out") -> None:
    """Refuse, before the run, a place the tree could not be written to."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ShoalError(f"{flag} {p}: not a directory")
    if not p.exists() and not p.parent.is_dir():
        raise ShoalError(f"{flag} {p}: its parent directory does not exist")


def write_host_tree(tree: Tree, out: str | Path) -> None:
    """Make `out` hold exactly `tree`: what is not in it is removed, files whose contents
    differ are written (the rest are left untouched)."""
    root = Path(out)
    root.mkdir(exist_ok=True)
    want = {path: data for path, data in tree}
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        for name in list(dirnames):
            full = Path(dirpath) / name
            if prefix + name not in want or want[prefix + name] is not None or full.is_symlink():
                if full.is_symlink():
                    full.unlink()
                else:
                    shutil.rmtree(full)
                dirnames.remove(name)
        for name in filenames:
            full = Path(dirpath) / name
            if prefix + name not in want or want[prefix + name] is None or full.is_symlink():
                full.unlink()
    for path, data in tree:
        full = root / path
        if data is None:
            full.mkdir(exist_ok=True)
        elif not full.exists() or full.read_bytes() != data:
            full.write_bytes(data)

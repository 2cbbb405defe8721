"""shoal's own bytecode cache, for when Python is told not to write one.

With PYTHONDONTWRITEBYTECODE set (as on many shared and CI machines) an editable install
compiles every one of shoal's ~50 modules on every start: ~0.2 s of each `shoal run`, more
than most programs' run time. shoal already keeps what it builds (ELFs, its Unicorn) in its
cache directory; this keeps its compiled modules there too, outside the source tree, so the
user's wish (no `__pycache__` beside the sources) is kept. Only `shoal.*` modules are
concerned; everything else imports as Python decides. A cache that cannot be written is
ignored. Entries are checked against the source's mtime (ns) and size and the interpreter's
magic number, as CPython checks its own. Public APIs only: a meta-path finder and a source
loader of importlib's.
"""

import marshal
import os
import sys
from importlib.machinery import PathFinder, SourceFileLoader
from importlib.util import MAGIC_NUMBER


def _root() -> str:
    # toolchain.cache_dir()/bytecode, without importing it (pathlib costs ~10 ms);
    # SHOAL_PYCACHE moves it alone (tests do, to keep the built Unicorn where it is)
    base = os.environ.get("SHOAL_PYCACHE") or os.path.join(
        os.environ.get("SHOAL_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "shoal"),
        "bytecode")
    return os.path.join(base, sys.implementation.cache_tag or "none")


def _store(path: str, data) -> None:  # noqa: ANN001 (a function giving the bytes)
    """Write a cache entry whole or not at all (a concurrent start reads the old one or the
    new one); a cache that cannot be written is only slower."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data())
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass


class _Loader(SourceFileLoader):
    root = ""

    def get_code(self, fullname: str):  # type: ignore[override]
        src = self.path
        try:
            st = os.stat(src)
        except OSError:
            return super().get_code(fullname)
        head = MAGIC_NUMBER + st.st_mtime_ns.to_bytes(8, "little") + st.st_size.to_bytes(8, "little")
        entry = self.root + os.path.abspath(src) + "c"
        try:
            with open(entry, "rb") as f:
                data = f.read()
            if data[:len(head)] == head:
                return marshal.loads(memoryview(data)[len(head):])
        except (OSError, ValueError, EOFError, TypeError):
            pass
        code = super().get_code(fullname)
        _store(entry, lambda: head + marshal.dumps(code))
        return code


class _Finder:
    @staticmethod
    def find_spec(fullname: str, path=None, target=None):  # noqa: ANN001, ANN205
        if path is None or not fullname.startswith("shoal."):
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is SourceFileLoader and spec.origin:
            spec.loader = _Loader(fullname, spec.origin)
        return spec


def install() -> None:
    """Serve shoal's modules from the cache when Python writes no bytecode of its own."""
    if not sys.dont_write_bytecode or any(f is _Finder for f in sys.meta_path):
        return
    _Loader.root = _root()
    sys.meta_path.insert(0, _Finder)

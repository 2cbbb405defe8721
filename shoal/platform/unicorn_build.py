"""shoal's own build of Unicorn: the pinned release, from its PyPI source, with shoal's patch.

Why: Unicorn 2.1.4 calls a C helper at every block start and after every guest load and
store (`helper_check_exit_request`), and offers no cheap exact instruction count (its own
count calls a helper before every instruction; a block hook is a helper call per block).
`shoal/native/unicorn-budget.patch` puts the exit check inline again and adds an opt-in
instruction budget that each translated block decrements at entry (`UC_CTL_INSN_BUDGET`).
This module builds `libunicorn` for RISC-V only, once, with pip's `cmake` and zig's C
compiler (the `ziglang` package), and caches it under shoal's cache directory; the Unicorn
Python binding then runs on it (`install`). Unicorn is GPL-2: what is built here is
Unicorn's source plus a patch that is itself under Unicorn's terms.

The source is the release's sdist, cached next to the build; when it is missing it is
fetched with `pip download` (PyPI) and checked against a pinned SHA-256. If anything fails
(no network, no compiler) `library()` says why and shoal runs on the stock wheel instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from shoal.sha import sha256

VERSION = "2.1.4"
SDIST = f"unicorn-{VERSION}.tar.gz"
SDIST_SHA256 = "00567a70e323f749b419cd86bee4f9115beab7ebba32194581c090cbb7c59cff"
PATCH = Path(__file__).parent.parent / "native" / "unicorn-budget.patch"
LIB_NAME = "libunicorn.so.2"
UC_CTL_INSN_BUDGET = 15  # the control the patch adds, after UC_CTL_CONTEXT_MODE
UC_CTL_CACHES = 16  # and the L1 cache model's
BUDGET_BLOCKS, BUDGET_EXACT = 1, 2
CACHE_MAX_LINES = 4096  # UC_CACHE_MAX_LINES: sets x ways of one cache
CACHE_MAX_BANKS, BANK_HARTS = 32, 64  # UC_CACHE_MAX_BANKS, UC_BANK_HARTS


class BuildError(Exception):
    """The patched library cannot be had; the message says why, in one line."""


class InsnBudget(ctypes.Structure):
    """`uc_insn_budget` of the patched unicorn.h."""
    _fields_ = [("left", ctypes.c_int64), ("start", ctypes.c_int64), ("extra", ctypes.c_uint64),
                ("stopped", ctypes.c_uint32), ("mode", ctypes.c_uint32)]


class CacheGeom(ctypes.Structure):
    """`uc_cache_geom`: one cache's shape and policy."""
    _fields_ = [("sets", ctypes.c_uint32), ("ways", ctypes.c_uint32), ("fifo", ctypes.c_uint32),
                ("write_alloc", ctypes.c_uint32), ("miss_cycles", ctypes.c_uint64)]


class CacheCounts(ctypes.Structure):
    """`uc_cache_counts`: accesses and misses since the library started."""
    _fields_ = [("reads", ctypes.c_uint64), ("writes", ctypes.c_uint64),
                ("read_misses", ctypes.c_uint64), ("write_misses", ctypes.c_uint64)]


class UcCaches(ctypes.Structure):
    """`uc_caches` of the patched unicorn.h: the live L1 model of the running hart."""
    _fields_ = [("on", ctypes.c_uint32), ("line_shift", ctypes.c_uint32), ("cpi", ctypes.c_uint32),
                ("pad", ctypes.c_uint32), ("d", CacheGeom), ("i", CacheGeom),
                ("stall", ctypes.c_uint64), ("taken", ctypes.c_uint64), ("carry", ctypes.c_uint64),
                ("dc", CacheCounts), ("ic", CacheCounts),
                ("dtags", ctypes.c_uint64 * CACHE_MAX_LINES), ("itags", ctypes.c_uint64 * CACHE_MAX_LINES),
                ("banks", ctypes.c_uint32), ("bank_shift", ctypes.c_uint32), ("bank_busy", ctypes.c_uint64),
                ("mem_base", ctypes.c_uint64), ("now_base", ctypes.c_uint64), ("quantum", ctypes.c_uint64),
                ("hart", ctypes.c_uint32), ("pad2", ctypes.c_uint32),
                ("bank_wait", ctypes.c_uint64), ("bank_waits", ctypes.c_uint64),
                ("bank_q", (ctypes.c_uint64 * 2) * CACHE_MAX_BANKS),
                ("bank_n", (ctypes.c_uint32 * 2) * CACHE_MAX_BANKS),
                ("bank_h", ((ctypes.c_uint32 * BANK_HARTS) * 2) * CACHE_MAX_BANKS)]


def apply_patch(text: str, root: Path) -> None:
    """Apply a unified diff (as `git diff` writes it) below `root`, exactly: every hunk's
    context must match where the diff says (no fuzz), or BuildError."""
    files = re.split(r"^diff --git .*\n", text, flags=re.M)[1:]
    for chunk in files:
        m = re.search(r"^\+\+\+ b/(\S+)$", chunk, flags=re.M)
        if m is None:
            raise BuildError("malformed patch: a file without a +++ line")
        path = root / m.group(1)
        if re.search(r"^--- /dev/null$", chunk, flags=re.M):  # a new file
            path.parent.mkdir(parents=True, exist_ok=True)
            old = []
        else:
            old = path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
        out: list[str] = []
        pos = 0
        for h in re.finditer(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@.*\n((?:[ +\-\\].*\n?)*)", chunk,
                             flags=re.M):
            start = int(h.group(1)) - 1
            if h.group(1) == "0":
                start = 0
            out.extend(old[pos:start])
            pos = start
            for line in h.group(2).split("\n"):
                if not line or line.startswith("\\"):
                    continue
                tag, body = line[0], line[1:]
                if tag in " -":
                    if pos >= len(old) or old[pos] != body:
                        raise BuildError(f"patch does not apply to {m.group(1)} at line {pos + 1}")
                    pos += 1
                if tag in " +":
                    out.append(body)
        out.extend(old[pos:])
        path.write_text("\n".join(out), encoding="utf-8", errors="surrogateescape")


def _tag() -> str:
    from shoal.toolchain import file_tag
    return file_tag(PATCH, f"{VERSION} {sys.platform} build-2")


def _run(cmd: list[str], cwd: Path, log: Path, what: str) -> None:
    import subprocess
    with open(log, "ab") as f:
        f.write(f"$ {' '.join(cmd)}\n".encode())
        f.flush()
        try:
            r = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
        except OSError as e:
            raise BuildError(f"{what}: {e}") from None
    if r.returncode != 0:
        raise BuildError(f"{what} failed (exit {r.returncode}; see {log})")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time (two test processes may start at once); the others wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sdist(where: Path, log: Path) -> Path:
    """The release's source archive: cached, else from PyPI through pip; checked."""
    import tempfile
    tar = where / SDIST
    if not tar.exists():
        with tempfile.TemporaryDirectory(dir=where) as tmp:
            _run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                  "-q", "-d", tmp, f"unicorn=={VERSION}"], where, log,
                 "downloading Unicorn's source with pip")
            got = Path(tmp) / SDIST
            if not got.exists():
                raise BuildError(f"pip did not fetch {SDIST}")
            got.replace(tar)
    if sha256(tar.read_bytes()).hexdigest() != SDIST_SHA256:
        tar.unlink()
        raise BuildError(f"{SDIST} does not have the pinned SHA-256")
    return tar


def _tools(where: Path) -> tuple[str, dict[str, str]]:
    """cmake (pip's) and zig as the C compiler, archiver and ranlib (through small scripts:
    CMake wants a compiler that is one executable)."""
    import shutil
    try:
        import cmake  # type: ignore[import-untyped]
        cm = str(Path(cmake.CMAKE_BIN_DIR) / "cmake")
    except ImportError:
        cm = shutil.which("cmake") or ""
    if not cm or not Path(cm).exists():
        raise BuildError("cmake is not installed (pip install cmake)")
    try:
        import ziglang  # type: ignore[import-untyped]
    except ImportError:
        raise BuildError("the ziglang package is not installed") from None
    zig = Path(ziglang.__file__).parent / "zig"
    tools = {}
    for t in ("cc", "ar", "ranlib"):
        w = where / f"zig-{t}"
        w.write_text(f'#!/bin/sh\nexec "{zig}" {t} "$@"\n')
        w.chmod(0o755)
        tools[t] = str(w)
    return cm, tools


def _extract(t: object, work: Path) -> None:
    """Unpack the sdist (its SHA-256 checked) under `work`: with tarfile's "data" filter where
    Python has it (3.11.4 on; Debian 12's python3 is 3.11.2, which lacks it), else only
    directories and regular files whose names stay under `work` (what an sdist holds)."""
    import tarfile
    assert isinstance(t, tarfile.TarFile)
    if hasattr(tarfile, "data_filter"):
        t.extractall(work, filter="data")
        return
    safe = []
    for m in t.getmembers():
        dest = (work / m.name).resolve()
        if not (m.isdir() or m.isfile()) or not dest.is_relative_to(work.resolve()):
            raise BuildError(f"the Unicorn sdist holds {m.name!r}, which is not a plain file under its root")
        safe.append(m)
    t.extractall(work, members=safe)


def build(out: Path) -> None:
    """Build the patched library into `out` (a temporary name first, then an atomic rename)."""
    import shutil
    import tarfile
    import tempfile
    root = out.parent
    log = root / "build.log"
    log.write_text("")
    tar = _sdist(root.parent, log)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        with tarfile.open(tar) as t:
            _extract(t, work)
        src = work / f"unicorn-{VERSION}" / "src"
        apply_patch(PATCH.read_text(), src)
        cm, tools = _tools(work)
        bdir = work / "build"
        cfg = [cm, "-S", str(src), "-B", str(bdir), "-DCMAKE_BUILD_TYPE=Release",
               "-DUNICORN_ARCH=riscv", "-DUNICORN_BUILD_TESTS=OFF", "-DUNICORN_INSTALL=OFF",
               f"-DCMAKE_C_COMPILER={tools['cc']}", f"-DCMAKE_AR={tools['ar']}",
               f"-DCMAKE_RANLIB={tools['ranlib']}"]
        _run(cfg, src, log, "configuring Unicorn")
        _run([cm, "--build", str(bdir), "--target", "unicorn", "-j", str(os.cpu_count() or 2)],
             src, log, "building Unicorn")
        tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
        shutil.copyfile(bdir / LIB_NAME, tmp)
        tmp.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


_state: tuple[Path | None, str] | None = None


def library() -> tuple[Path | None, str]:
    """(path of the patched library, "") once built (now or before), or (None, why not).
    SHOAL_CPU=stock skips it."""
    global _state
    if _state is None:
        if os.environ.get("SHOAL_CPU", "") == "stock":
            _state = (None, "SHOAL_CPU=stock")
            return _state
        from shoal.toolchain import cache_dir
        lib = cache_dir() / "unicorn" / _tag() / LIB_NAME
        if lib.exists():  # the common case: built before (nothing else is imported for it)
            _state = (lib, "")
            return _state
        import tarfile  # (the build's modules only when there is a build to do)
        failed = lib.parent / "FAILED"  # a failed build is not retried by every process
        try:
            if not lib.exists():
                with _locked(lib.parent.parent / "build.lock"):
                    if failed.exists():
                        raise BuildError(f"{failed.read_text().strip()} (delete {failed} to retry)")
                    if not lib.exists():
                        lib.parent.mkdir(parents=True, exist_ok=True)
                        try:
                            build(lib)
                        except (BuildError, OSError, tarfile.TarError) as e:
                            failed.write_text(_why(e) + "\n")
                            raise
            _state = (lib, "")
        except (BuildError, OSError, tarfile.TarError) as e:
            _state = (None, _why(e))
    return _state


def _why(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


_installed: ctypes.CDLL | None = None


def preload() -> None:
    """Before the Unicorn binding is first imported: when the patched library is already
    built, let the binding load it directly (its LIBUNICORN_PATH) instead of the stock
    wheel's 24 MB library, which `install` would replace at once. Never builds anything;
    without a built library, or with SHOAL_CPU=stock or the user's own LIBUNICORN_PATH, the
    binding loads what it always does."""
    if ("unicorn.unicorn_py3.unicorn" in sys.modules or os.environ.get("LIBUNICORN_PATH")
            or os.environ.get("SHOAL_CPU", "") == "stock" or _state is not None):
        return
    from shoal.toolchain import cache_dir
    lib = cache_dir() / "unicorn" / _tag() / LIB_NAME
    if not lib.exists():
        return
    os.environ["LIBUNICORN_PATH"] = str(lib.parent)
    try:
        import unicorn  # noqa: F401
    finally:
        del os.environ["LIBUNICORN_PATH"]


def install() -> ctypes.CDLL | None:
    """Make the Unicorn binding call the patched library (before any Uc is made); the
    library, or None if shoal runs on the stock one. Idempotent."""
    global _installed
    if _installed is not None:
        return _installed
    path, _ = library()
    if path is None:
        return None
    import unicorn.unicorn_py3.unicorn as binding
    if getattr(binding.uclib, "_name", None) == str(path):  # loaded so by `preload`
        _installed = binding.uclib
        return _installed
    lib = ctypes.CDLL(str(path))
    getattr(binding, "__set_lib_prototypes")(lib)
    binding.uclib = lib
    _installed = lib
    return lib

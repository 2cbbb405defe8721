"""shoal's hot modules as C extensions: Cython's translation of their unchanged source, built
once with zig's C compiler and kept in shoal's cache.

Why: a message between clusters, a remote page fault or a system call passes through a few
hundred Python calls of the scheduler, the kernel's entry, the NoC and the rounds, and the
interpreter's dispatch of those calls is most of a message's host time (perf: 91% of samples in
the interpreter). Cython compiles the same source to C calls: the same objects, the same
semantics, without the bytecode loop (an IKC message 93 -> 58 us of host CPU when measured).

Behaviour does not depend on it: the source is the same, Cython keeps Python's semantics (the
`annotation_typing` directive is off, so annotations stay annotations), and tests/test_compiled.py
runs programs both ways and compares outputs, simulated figures and traces byte for byte.

How: `install()` (at `import shoal`) puts a finder first on sys.meta_path that serves each module
of MODULES from <cache>/compiled/<python tag>/<module>.<key>.so, where the key hashes the
module's source and this build's recipe: an edited source has a new key and is never served
stale. Missing ones are built then (two at a time, under a lock; about a minute for all on a
small machine), once per source. When they cannot be built (no Cython, no Python headers, a
compiler error) the modules import from source as before and `state()` says why; a failure is
remembered (a FAILED file) and not retried by every start. A start that finds another one
building goes on from source. SHOAL_COMPILED=0 turns it all off (pure-Python tracebacks, a
debugger's line steps).

Only modules without `__file__` lookups belong in MODULES (a compiled module's file is in the
cache). This module imports only the standard library: it runs before any other of shoal's.
"""

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader
from importlib.util import spec_from_file_location

# (hashlib, subprocess, sysconfig, threads: imported only when there is something to hash or
# build; a start that finds everything built reads one memo and stats the sources, ~0.3 ms)

# The modules on the per-event path (profiles of an IKC stream, remote paging, system calls,
# futexes and an MPI ping-pong); the ~70 others of those layers were measured compiled too: no
# gain there.
MODULES = (
    "shoal.engine.local", "shoal.engine.rounds",
    "shoal.kernel.sched", "shoal.kernel.entry", "shoal.kernel.kernel", "shoal.kernel.kmem",
    "shoal.kernel.memory", "shoal.kernel.ikc", "shoal.kernel.rmem",
    "shoal.kernel.calls.ikc", "shoal.kernel.calls.time", "shoal.kernel.calls.common",
    "shoal.kernel.calls.futex", "shoal.kernel.futexes", "shoal.kernel.calls.io",
    "shoal.kernel.location", "shoal.kernel.report", "shoal.kernel.container", "shoal.kernel.shm",
    "shoal.platform.cpu", "shoal.platform.noc", "shoal.platform.calendar", "shoal.platform.l1",
    "shoal.platform.hart",
    "shoal.daemons.node", "shoal.daemons.rmem",
)

# What the key covers besides the source: change it when the flags or directives change.
DIRECTIVES = ("binding=True", "annotation_typing=False", "language_level=3")
# zig's cc builds for this machine's CPU unless told, and a cache may be shared by hosts (a home
# directory on a cluster's nodes): these and the native helpers (platform/native.py) target the
# architecture's baseline, so that another host never meets an illegal instruction (Unicorn's
# own build already did).
PORTABLE_CPU: tuple[str, ...] = {"x86_64": ("-march=x86_64",)}.get(  # (zig's name; elsewhere: native)
    os.uname().machine, ())
CFLAGS = ("-O2", "-g0", "-fPIC", "-shared", "-fwrapv", "-fno-strict-aliasing", "-DNDEBUG",
          *PORTABLE_CPU)
RECIPE = f"{sys.version}|{EXTENSION_SUFFIXES[0]}|{DIRECTIVES}|{CFLAGS}|1"

_served: dict[str, str] = {}  # module -> its built extension, for the finder
_state = "not installed"


def state() -> str:
    """How shoal's hot modules run: "compiled", or "interpreted (why)"."""
    return _state


def _root() -> str:
    # toolchain.cache_dir()/compiled, without importing it (it imports pathlib)
    base = os.environ.get("SHOAL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "shoal")
    return os.path.join(base, "compiled", sys.implementation.cache_tag or "none")


def _source(name: str) -> str:
    base = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(base, *name.split(".")[1:]) + ".py"


def _targets(root: str) -> dict[str, str]:
    """Each module's extension path in the cache, keyed by SHA-256 of its source and the
    recipe. The keys are remembered by each source's path, mtime (ns) and size, as CPython
    checks its bytecode, so a start stats the sources instead of hashing them."""
    memo_path = os.path.join(root, "keys")
    stamp = {n: _stamp(n) for n in MODULES}
    try:
        with open(memo_path, encoding="utf-8") as f:
            memo = dict(line.rstrip("\n").rsplit(" ", 1) for line in f if " " in line)
    except (OSError, ValueError):
        memo = {}
    keys = {n: memo.get(stamp[n]) for n in MODULES}
    if None in keys.values():
        import hashlib
        for n in MODULES:
            if keys[n] is None:
                with open(_source(n), "rb") as f:
                    keys[n] = hashlib.sha256(f.read() + RECIPE.encode()).hexdigest()[:16]
        try:  # whole or not at all (a concurrent start reads the old memo or the new one)
            os.makedirs(root, exist_ok=True)
            tmp = f"{memo_path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(f"{stamp[n]} {keys[n]}\n" for n in MODULES)
            os.replace(tmp, memo_path)
        except OSError:
            pass  # (a cache that cannot be written: the build below says so)
    return {n: os.path.join(root, f"{n}.{keys[n]}.so") for n in MODULES}


def _stamp(name: str) -> str:
    path = _source(name)
    st = os.stat(path)
    return f"{path}|{st.st_mtime_ns}|{st.st_size}|{RECIPE}".replace(" ", "_").replace("\n", "_")


class _Finder:
    @staticmethod
    def find_spec(fullname: str, path=None, target=None):  # noqa: ANN001, ANN205
        so = _served.get(fullname)
        if so is None:
            return None
        return spec_from_file_location(fullname, so, loader=ExtensionFileLoader(fullname, so))


def install() -> None:
    """Serve the compiled modules (building the missing ones first), or leave them to the
    source; never raises. Before any module of MODULES is imported."""
    global _state
    if any(f is _Finder for f in sys.meta_path):
        return
    if os.environ.get("SHOAL_COMPILED", "1") == "0":
        _state = "interpreted (SHOAL_COMPILED=0)"
        return
    try:
        root = _root()
        targets = _targets(root)
        missing = {n: so for n, so in targets.items() if not os.path.exists(so)}
        if missing:
            why = _build_locked(root, missing)
            if why:
                _state = f"interpreted ({why})"
                return
    except OSError as e:
        _state = f"interpreted ({e.strerror or e})"
        return
    _served.update(targets)
    sys.meta_path.insert(0, _Finder)
    _state = "compiled"


def _build_locked(root: str, missing: dict[str, str]) -> str:
    """Build what is missing; "" when done, else why not."""
    import fcntl
    import hashlib
    os.makedirs(root, exist_ok=True)
    failed = os.path.join(root, "FAILED." + hashlib.sha256(
        "".join(sorted(missing.values())).encode()).hexdigest()[:16])
    if os.path.exists(failed):
        with open(failed, encoding="utf-8", errors="replace") as f:
            return f"{f.read().strip()}; delete {failed} to retry"
    with open(os.path.join(root, "build.lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return "another start is building them"
        try:
            for name in os.listdir(root):  # an interrupted build's pieces (no other is running)
                if ".so." in name:
                    os.unlink(os.path.join(root, name))
            missing = {n: so for n, so in missing.items() if not os.path.exists(so)}
            why = _build(root, missing) if missing else ""
            if why:
                with open(failed, "w", encoding="utf-8") as f:
                    f.write(why + "\n")
            return why
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(root: str, missing: dict[str, str]) -> str:
    import sysconfig
    from concurrent.futures import ThreadPoolExecutor
    include = sysconfig.get_path("include")
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"no Python headers in {include}"
    try:
        import Cython  # noqa: F401
    except ImportError:
        return "Cython is not installed"
    if sys.stderr is not None and sys.stderr.isatty():
        print(f"shoal: compiling {len(missing)} of its modules with Cython, once "
              "(about a minute; SHOAL_COMPILED=0 skips it)", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        whys = list(pool.map(lambda item: _build_one(*item, include), missing.items()))
    return next((w for w in whys if w), "")


def _build_one(name: str, so: str, include: str) -> str:
    import subprocess
    tmp = f"{so}.{os.getpid()}"
    c_file = tmp + ".c"
    cython = [sys.executable, "-c", "import sys; from Cython.Compiler.Main import setuptools_main;"
              " sys.exit(setuptools_main())", "-3", "--module-name", name,
              *(a for d in DIRECTIVES for a in ("-X", d)), "-o", c_file, _source(name)]
    cc = [sys.executable, "-m", "ziglang", "cc", *CFLAGS, "-I", include, "-o", tmp, c_file]
    try:
        for cmd in (cython, cc):
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                first = next((ln for ln in r.stdout.decode(errors="replace").splitlines()
                              if "rror" in ln), f"exit status {r.returncode}")
                return f"building {name} failed: {first.strip()[:200]}"
        # (builds of earlier sources stay: another checkout sharing the cache may use them;
        # only editing a hot module makes one, ~1.5 MB)
        os.replace(tmp, so)
        return ""
    except OSError as e:
        return f"building {name} failed: {e}"
    finally:
        for p in (tmp, c_file):
            try:
                os.unlink(p)
            except OSError:
                pass

"""The C toolchain: zig's clang for riscv32-linux-musl, static, with shoal's headers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from shoal.errors import ShoalError

INCLUDE_DIR = Path(__file__).parent / "include"
TARGET = ["-target", "riscv32-linux-musl", "-static"]
DEFAULT_FLAGS = ["-O2", "-g0"]


def cache_dir() -> Path:
    base = os.environ.get("SHOAL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "shoal")
    return Path(base)


def cc(args: list[str]) -> int:
    """`shoal cc ARGS...`: the compiler's own exit status; its messages go to stderr.

    Without an -O option it builds with -O2: zig builds musl in the program's optimisation
    mode, and unoptimised musl's allocator needs about twice the memory (a 1 MiB malloc no
    longer fits a 2 MiB cluster). An explicit -O0 still gets gcc's default."""
    if not any(a.startswith("-O") for a in args):
        args = ["-O2", *args]
    cmd = [sys.executable, "-m", "ziglang", "cc", *TARGET, "-I", str(INCLUDE_DIR), *args]
    try:
        return subprocess.run(cmd).returncode
    except OSError as e:
        raise ShoalError(f"cannot start the C compiler: {e}") from None


def compile_cached(sources: list[Path], flags: list[str] | None = None) -> Path:
    """Compile C sources to a static RV32 ELF once; later calls reuse the cached binary."""
    flags = DEFAULT_FLAGS if flags is None else flags
    h = hashlib.sha256()
    for part in [*TARGET, *flags]:
        h.update(part.encode() + b"\0")
    for hdr in sorted(INCLUDE_DIR.glob("*.h")):
        h.update(hdr.read_bytes())
    for src in sources:
        try:
            h.update(src.read_bytes())
        except OSError as e:
            raise ShoalError(f"{src}: {e.strerror.lower() if e.strerror else e}") from None
    out = cache_dir() / f"{sources[0].stem}-{h.hexdigest()[:16]}.elf"
    if out.exists():
        return out
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(out.parent, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        why = (e.strerror or str(e)).lower()
        raise ShoalError(f"cannot use {out.parent} as the compile cache: {why} "
                         "(set SHOAL_CACHE to a writable directory)") from None
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    cmd = [sys.executable, "-m", "ziglang", "cc", *TARGET, "-I", str(INCLUDE_DIR), *flags,
           *map(str, sources), "-o", str(tmp)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise ShoalError(f"compiling {' '.join(map(str, sources))} failed")
    tmp.replace(out)
    return out

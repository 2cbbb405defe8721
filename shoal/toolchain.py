"""The C toolchain: zig's clang for riscv32-linux-musl, static, with shoal's headers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shoal.errors import ShoalError
from shoal.sha import sha256

INCLUDE_DIR = Path(__file__).parent / "include"
# POSIX named semaphores served by the IPC daemon (shoal/lib/shoal_sem.c says why): put in front
# of musl's sem_* by the linker's --wrap (unnamed ones go on to musl). The library is an archive,
# so a program that uses no semaphore links nothing of it: its loaded image is as without it.
SEM_LIB = Path(__file__).parent / "lib" / "shoal_sem.c"
# MPI for guests (shoal/include/mpi.h), likewise an archive: linked only into programs that call it.
MPI_LIB = Path(__file__).parent / "lib" / "shoal_mpi.c"
# Parts that shoal_mpi.c #includes (one translation unit): they count in the archive's key.
MPI_PARTS = tuple(Path(__file__).parent / "lib" / f for f in ("shoal_mpi_nbc.c", "shoal_mpi_extra.c"))
WRAPPED = ("sem_open", "sem_close", "sem_unlink", "sem_wait", "sem_trywait", "sem_timedwait",
           "sem_post", "sem_getvalue")
WRAP_FLAG = "-Wl," + ",".join(f"--wrap={f}" for f in WRAPPED)
NO_LINK = ("-c", "-S", "-E", "-M", "-MM", "-fsyntax-only", "--version", "-v", "--help")
TARGET = ["-target", "riscv32-linux-musl", "-static"]
DEFAULT_FLAGS = ["-O2", "-g0"]
# zig cc picks a zig build mode from the -O level and gives the program that mode's meaning,
# not gcc's: release modes (-O1 and up) define NDEBUG, so every assert() is off; Debug (-O0)
# adds UBSan that aborts where gcc's code wraps or shifts, and -fstack-protector-strong;
# release modes also add -Werror=date-time (a program using __DATE__ no longer compiles), and
# -Ofast drops -ffast-math. These undo that, put before the user's flags so that theirs (-DNDEBUG,
# -fsanitize=..., -fstack-protector, -Wdate-time, -ffp-contract=...) still win. They change no
# build mode, so the musl that zig built for the mode is reused.
GCC_MEANING = ["-UNDEBUG", "-fno-sanitize=undefined", "-fno-stack-protector", "-Wno-date-time"]
# gcc forms fused multiply-adds (fmadd.d, one rounding for a*b+c) only when optimising at -O2,
# -O3, -Os, and then across statements too (-ffp-contract=fast in GNU C, off for -std=cNN);
# clang's default ("on") fuses within one expression at every level, -O0 included.


def _opt_level(args: list[str]) -> str:
    """The -O level in force, as gcc reads ARGS: the last -O wins, bare -O is -O1, none is -O0."""
    level = "0"
    for a in args:
        if a.startswith("-O"):
            level = a[2:] or "1"
    return level


def _iso_c(args: list[str]) -> bool:
    """Whether ARGS ask for strict ISO C (-std=c11, -ansi...), where gcc contracts no FP."""
    iso = False
    for a in args:
        if a.startswith("-std="):
            iso = a[5:].startswith(("c", "iso9899"))
        elif a == "-ansi":
            iso = True
    return iso


def driver_args(args: list[str]) -> list[str]:
    """ARGS for zig cc, with gcc's meaning for them and -O2 when no -O is given (see cc)."""
    if not any(a.startswith("-O") for a in args):
        args = ["-O2", *args]
    # gcc's bare -O is -O1, and its -Og optimises too (it defines __OPTIMIZE__; clang's -Og is
    # -O1): zig reads both as its Debug mode (and links a Debug musl, 3 to 10 times the text).
    args = ["-O1" if a in ("-O", "-Og") else a for a in args]
    level = _opt_level(args)
    fuses = level in ("s", "z", "fast") or (level.isdigit() and int(level) >= 2)  # -O9 is -O3
    contract = "fast" if fuses and not _iso_c(args) else "off"
    extra = ["-ffast-math"] if level == "fast" else []
    return [*GCC_MEANING, f"-ffp-contract={contract}", *extra, *args]


def cache_dir() -> Path:
    base = os.environ.get("SHOAL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "shoal")
    return Path(base)


def file_tag(path: Path, salt: str) -> str:
    """The first 16 hex digits of SHA-256(the file's bytes + salt): the key of what shoal builds
    from it. Remembered under the cache directory by the file's path, mtime (ns) and size, as
    CPython checks its bytecode, so a start reads a few bytes instead of hashing the file."""
    st = path.stat()
    key = f"{os.path.abspath(path)}\n{st.st_mtime_ns} {st.st_size}\n{salt}\n"
    memo = cache_dir() / "tags" / f"{path.name}.tag"
    try:
        got = memo.read_text()
        if got.startswith(key) and len(got) == len(key) + 16:
            return got[len(key):]
    except (OSError, UnicodeDecodeError):
        pass
    tag = sha256(path.read_bytes() + salt.encode()).hexdigest()[:16]
    try:  # whole or not at all (a concurrent start reads the old memo or the new one)
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        tmp.write_text(key + tag)
        tmp.replace(memo)
    except OSError:
        pass  # (a cache that cannot be written is only slower)
    return tag


def cc(args: list[str]) -> int:
    """`shoal cc ARGS...`: the compiler's own exit status; its messages go to stderr.

    Without an -O option it builds with -O2: zig builds musl in the program's optimisation
    mode, and unoptimised musl's allocator needs about twice the memory (a 1 MiB malloc no
    longer fits a 2 MiB cluster). An explicit -O0 still gets gcc's default. Flags mean what
    gcc's mean (driver_args): assert() stays on unless -DNDEBUG, no UBSan traps at -O0."""
    args = driver_args(args)
    links = not any(a in NO_LINK for a in args) and any(not a.startswith("-") for a in args)
    cmd = [sys.executable, "-m", "ziglang", "cc", *TARGET, "-I", str(INCLUDE_DIR), *args,
           *(_link_extra() if links else [])]
    import subprocess  # (here: a run needs only cache_dir from this module)
    try:
        return subprocess.run(cmd).returncode
    except OSError as e:
        raise ShoalError(f"cannot start the C compiler: {e}") from None


def _link_extra() -> list[str]:
    return [str(mpi_archive()), str(sem_archive()), WRAP_FLAG]


def _writable_cache(d: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not os.access(d, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        why = (e.strerror or str(e)).lower()
        raise ShoalError(f"cannot use {d} as the compile cache: {why} "
                         "(set SHOAL_CACHE to a writable directory)") from None


def sem_archive() -> Path:
    """shoal_sem.c built once into a static archive (cached by its contents)."""
    return _archive(SEM_LIB, "libshoalsem")


MPI_LIB_FLAGS = ["-ffunction-sections", "-fdata-sections", "-fno-asynchronous-unwind-tables",
                 "-fno-unwind-tables"]


def mpi_archive() -> Path:
    """shoal_mpi.c built once into a static archive (cached by its contents and headers).
    A section per function and no unwind tables: the link keeps only what the program calls
    (zig's linker collects unused sections), and the loader maps text whole, so every rank
    is ~6 pages smaller (pol_mpi: 104 KiB of text and data to 79 KiB)."""
    return _archive(MPI_LIB, "libshoalmpi", (INCLUDE_DIR / "mpi.h", INCLUDE_DIR / "shoal.h", *MPI_PARTS),
                    MPI_LIB_FLAGS)


def _archive(lib: Path, stem: str, headers: tuple[Path, ...] = (), flags: list[str] | None = None) -> Path:
    src = lib.read_bytes() + b"".join(h.read_bytes() for h in headers)
    h = sha256(src + " ".join(TARGET + (flags or [])).encode()).hexdigest()[:16]
    out = cache_dir() / f"{stem}-{h}.a"
    if out.exists():
        return out
    _writable_cache(out.parent)
    obj = out.with_suffix(f".tmp{os.getpid()}.o")
    tmp = out.with_suffix(f".tmp{os.getpid()}.a")
    import subprocess
    for cmd in ([sys.executable, "-m", "ziglang", "cc", "-target", TARGET[1], "-O2", "-g0", *(flags or []),
                 "-I", str(INCLUDE_DIR), "-c", str(lib), "-o", str(obj)],
                [sys.executable, "-m", "ziglang", "ar", "rcs", str(tmp), str(obj)]):
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            sys.stderr.write(res.stderr)
            raise ShoalError(f"building {lib.name} failed")
    obj.unlink()
    tmp.replace(out)
    return out


def compile_cached(sources: list[Path], flags: list[str] | None = None) -> Path:
    """Compile C sources to a static RV32 ELF once; later calls reuse the cached binary."""
    flags = driver_args(DEFAULT_FLAGS if flags is None else flags)
    h = sha256()
    for part in [*TARGET, *flags, *MPI_LIB_FLAGS]:
        h.update(part.encode() + b"\0")
    for hdr in [*sorted(INCLUDE_DIR.glob("*.h")), SEM_LIB, MPI_LIB, *MPI_PARTS]:
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
           *map(str, sources), *_link_extra(), "-o", str(tmp)]
    import subprocess
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise ShoalError(f"compiling {' '.join(map(str, sources))} failed")
    tmp.replace(out)
    return out

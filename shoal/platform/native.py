"""How a cluster's emulator counts instructions, and the native helpers it uses.

Simulated time is instructions x CPI, so the count must be exact. Three ways, the first that
is available (`engine()` says which runs; SHOAL_CPU=stock skips the first):
1. shoal's patched Unicorn (platform/unicorn_build.py, native/unicorn-budget.patch): each
   translated block subtracts its instruction count from a budget in the CPU state at entry,
   in the generated code, and leaves before it runs when the budget would go negative (the
   slice's first block always runs). No call per block at all.
2. stock Unicorn with a block hook in native code (native/blockcount.c, built once with
   zig's compiler): it counts each block's instructions and stops the slice when its budget
   is spent, with the same rule. A C call per block.
3. Unicorn's own count, which calls a helper before every instruction: Unicorn does not
   expose its running counter, so shoal finds it once in Unicorn's engine struct (by running
   a known number of instructions and looking for the count) and reads it with ctypes.
All three count the same instructions, so results do not depend on which runs.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from pathlib import Path

from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV32, Uc
from unicorn.unicorn_py3 import unicorn as binding

from shoal._compiled import PORTABLE_CPU  # (the architecture's baseline: a cache may be shared)
from shoal.platform import unicorn_build
from shoal.platform.hart import REG_A, REG_PC, STOP_ADDR

_counter_offset: int | None = None
_native: ctypes.CDLL | None | bool = None  # False: tried and unavailable


class Slicer(ctypes.Structure):
    """`struct shoal_slicer` of native/blockcount.c: one slice in one call."""
    _fields_ = [("uc", ctypes.c_void_p), ("restore", ctypes.c_void_p), ("save", ctypes.c_void_p),
                ("reg_read", ctypes.c_void_p), ("start", ctypes.c_void_p), ("until", ctypes.c_uint64),
                ("pc_reg", ctypes.c_int32), ("pc", ctypes.c_uint32)]


class NativeCounter(ctypes.Structure):
    _fields_ = [("executed", ctypes.c_uint64), ("budget", ctypes.c_uint64),
                ("mem", ctypes.c_void_p), ("mem_size", ctypes.c_uint64),
                ("phys_base", ctypes.c_uint32), ("root", ctypes.c_uint32),
                ("stop", ctypes.c_void_p), ("stopping", ctypes.c_uint32), ("misses", ctypes.c_uint32),
                ("last_va", ctypes.c_uint32), ("last_size", ctypes.c_uint32), ("last_n", ctypes.c_uint64)]


class Counting:
    """The way one emulator counts (above): the native page-walk state its hooks share, and
    the handles of the way in use (the native slice, the block hook's give-back, or
    Unicorn's own counter)."""

    def __init__(self, uc: Uc, handle: int, patched: bool, lib: ctypes.CDLL | None,
                 mem: int, mem_size: int, phys_base: int) -> None:
        # Page walks in native code (the TLB fill of present pages; on stock Unicorn also the
        # block hook's count) read the running container's page table through this struct.
        self.native: NativeCounter | None = None
        if lib is not None:
            self.native = NativeCounter(mem=mem, mem_size=mem_size, phys_base=phys_base,
                                        stop=ctypes.cast(binding.uclib.uc_emu_stop, ctypes.c_void_p).value)
        self.hooked = False  # the block hook counts (stock Unicorn)
        self.slice = None  # the native slice (patched library with the native helpers)
        self.give_back = None
        self.counter: ctypes.c_uint64 | None = None
        if patched:
            if lib is not None:
                fn = binding.uclib

                def addr(f: object) -> int | None:
                    return ctypes.cast(f, ctypes.c_void_p).value
                self.slicer = Slicer(uc=handle, restore=addr(fn.uc_context_restore),
                                     save=addr(fn.uc_context_save), reg_read=addr(fn.uc_reg_read),
                                     start=addr(fn.uc_emu_start), until=STOP_ADDR, pc_reg=REG_PC)
                # (a pointer of its own, no declared argument types: called with a pointer
                # object, the saved state's c_void_p and a bool, which ctypes passes as they
                # are, without a from_param call each, at every slice)
                self.slice = lib._FuncPtr(("shoal_slice", lib))
                self.slice.restype = ctypes.c_int
                self.slicer_ref = ctypes.pointer(self.slicer)
        elif lib is not None:
            self.give_back = lib.shoal_give_back
            self.hooked = True
        else:
            self.counter = ctypes.c_uint64.from_address(handle + _find_counter_offset())


def engine() -> str:
    """Which way instructions are counted (a line of `--stats`)."""
    path, why = unicorn_build.library()
    if path is not None:
        return "patched unicorn (inline budget)"
    if _load_native() is not None:
        return f"stock unicorn + block hook ({why})"
    return f"stock unicorn + its own count ({why})"


def _load_native() -> ctypes.CDLL | None:
    """Build (once, cached) and load the native block counter; None if that is impossible."""
    global _native
    if _native is None:
        from shoal.toolchain import cache_dir, file_tag
        src = Path(__file__).parent.parent / "native" / "blockcount.c"
        tag = file_tag(src, f"{sys.version} {PORTABLE_CPU}")
        lib = cache_dir() / "native" / f"blockcount-{tag}.so"
        try:
            if not lib.exists():
                _build_native(src, lib)
            _native = ctypes.CDLL(str(lib))
        except OSError:
            _native = False
    return _native or None


def native_library() -> ctypes.CDLL | None:
    """native/blockcount.c, loaded (None where it cannot be built): also the kernel core's
    cache replay (kernel/kmem.py), with its argument types declared."""
    lib = _load_native()
    if lib is not None and lib.shoal_kmem_serve.restype is not None:
        # (addresses as plain integers: ctypes converts them fastest)
        lib.shoal_kmem_serve.argtypes = [ctypes.c_void_p]
        lib.shoal_kmem_serve.restype = None
        lib.shoal_kmem_serve_inval.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.shoal_kmem_serve_inval.restype = None
        lib.shoal_kmem_replay.argtypes = [ctypes.c_void_p, *[ctypes.c_uint32] * 4, ctypes.c_void_p,
                                          ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p]
        lib.shoal_kmem_replay.restype = None
        lib.shoal_swap_lines.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_uint32] * 2
        lib.shoal_swap_lines.restype = None
        lib.shoal_swap_lines_at.argtypes = [ctypes.c_void_p]
        lib.shoal_swap_lines_at.restype = None
    return lib


def _build_native(src: Path, lib: Path) -> None:
    """Compile blockcount.c with zig's compiler; OSError if that fails."""
    import subprocess  # (only for the build: a run with the library built needs none)
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".tmp{os.getpid()}")
    try:
        subprocess.run([sys.executable, "-m", "ziglang", "cc", "-shared", "-fPIC", "-O2", *PORTABLE_CPU,
                        "-o", str(tmp), str(src)], check=True, capture_output=True)
    except subprocess.CalledProcessError as e:
        raise OSError(f"building {src.name} failed (exit {e.returncode})") from None
    tmp.replace(lib)


def _find_counter_offset() -> int:
    """Offset of Unicorn's running instruction counter inside its engine struct."""
    global _counter_offset
    if _counter_offset is not None:
        return _counter_offset
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
    uc.mem_map(0x10000, 0x1000)
    uc.mem_write(0x10000, struct.pack("<II", 0x00150513, 0xFFDFF06F))  # addi a0,a0,1; j .-4
    handle = uc._uch.value if hasattr(uc._uch, "value") else uc._uch
    found = None
    for magic in (0x2345671, 0x1234567):  # the smaller second run proves a reset
        uc.reg_write(REG_A[0], 0)
        uc.emu_start(0x10000, STOP_ADDR, count=magic)
        raw = ctypes.string_at(handle, 1 << 14)
        # Unicorn keeps `emu_counter` right before `emu_count`; the counter ends at count + 1.
        hits = {off - 8 for off in range(8, len(raw) - 8, 8)
                if struct.unpack_from("<QQ", raw, off - 8) == (magic + 1, magic)}
        found = hits if found is None else found & hits
    if not found or len(found) != 1:
        raise RuntimeError("cannot locate Unicorn's instruction counter; is unicorn==2.1.4 installed?")
    _counter_offset = found.pop()
    return _counter_offset

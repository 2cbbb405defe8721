"""A cluster's harts: one Unicorn RV32GC instance shared by all of them.

Unicorn instances cost several MB each, so the harts of a cluster take turns on one
instance; a hart's state is a Unicorn context saved and restored around each slice.

Translation: the kernel keeps real Sv32 page tables in cluster memory, but Unicorn runs in
its "virtual TLB" mode and asks the kernel (`tlb_fill`) on every TLB miss. Unicorn 2.1's own
Sv32 walker cannot be used for demand paging: it reports a page fault with the pc of the
*next* instruction, so the faulting one could not be restarted. Filling the TLB from the
kernel's tables gives demand paging without restarts, and lets the kernel keep A/D bits.

Instruction counting (simulated time is instructions x CPI, so it must be exact). Three
ways, the first that is available (`engine()` says which runs; SHOAL_CPU=stock skips the
first):
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
import mmap
import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path

from unicorn import (
    UC_ARCH_RISCV,
    UC_CTL_IO_READ,
    UC_CTL_IO_WRITE,
    UC_CTL_TLB_FLUSH,
    UC_ERR_FETCH_UNMAPPED,
    UC_HOOK_BLOCK,
    UC_HOOK_INTR,
    UC_HOOK_TLB_FILL,
    UC_MODE_RISCV32,
    UC_PROT_ALL,
    UC_TLB_VIRTUAL,
    Uc,
    UcError,
)
from unicorn import riscv_const as rv
from unicorn.unicorn_py3 import unicorn as binding
from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC, uc_hook_h

from shoal.platform import unicorn_build
from shoal.platform.unicorn_build import InsnBudget, UcCaches
from shoal.spec import ChipSpec

PHYS_BASE = 0x8000_0000
# emu_start needs an address at which to stop; user space ends below it, so reaching it
# is impossible for a correct program (the kernel treats it as a fetch fault).
STOP_ADDR = 0xFFFF_FFF0

REG_PC = rv.UC_RISCV_REG_PC
REG_SP = rv.UC_RISCV_REG_SP
REG_TP = rv.UC_RISCV_REG_TP
REG_RA = rv.UC_RISCV_REG_RA
REG_A = [rv.UC_RISCV_REG_A0 + i for i in range(8)]
REG_X = [rv.UC_RISCV_REG_X0 + i for i in range(32)]
REG_F = [rv.UC_RISCV_REG_F0 + i for i in range(32)]
MSTATUS_FS_DIRTY = 3 << 13
_EIGHT_LOW_WORDS = struct.Struct("<" + "I4x" * 8)  # eight 64-bit slots, the low 32 bits of each
# A hart's state in get_regs/set_regs order: x1-x31, pc, f0-f31, fcsr.
_ALL_REGS = [*REG_X[1:], REG_PC, *REG_F, rv.UC_RISCV_REG_FCSR]

_counter_offset: int | None = None
_native: ctypes.CDLL | None | bool = None  # False: tried and unavailable


class Slicer(ctypes.Structure):
    """`struct shoal_slicer` of native/blockcount.c: one slice in one call."""
    _fields_ = [("uc", ctypes.c_void_p), ("restore", ctypes.c_void_p), ("save", ctypes.c_void_p),
                ("reg_read", ctypes.c_void_p), ("start", ctypes.c_void_p), ("until", ctypes.c_uint64),
                ("pc_reg", ctypes.c_int32), ("pc", ctypes.c_uint32)]


class TrapRegs(ctypes.Structure):
    """`struct shoal_trap` of native/blockcount.c: a0-a7 read at an ecall's trap."""
    _fields_ = [("read_batch", ctypes.c_void_p), ("py", ctypes.c_void_p), ("ids", ctypes.c_int32 * 8),
                ("ptrs", ctypes.c_void_p * 8), ("vals", ctypes.c_uint64 * 8), ("status", ctypes.c_int32)]


class NativeCounter(ctypes.Structure):
    _fields_ = [("executed", ctypes.c_uint64), ("budget", ctypes.c_uint64),
                ("mem", ctypes.c_void_p), ("mem_size", ctypes.c_uint64),
                ("phys_base", ctypes.c_uint32), ("root", ctypes.c_uint32),
                ("stop", ctypes.c_void_p), ("stopping", ctypes.c_uint32), ("misses", ctypes.c_uint32),
                ("last_va", ctypes.c_uint32), ("last_size", ctypes.c_uint32), ("last_n", ctypes.c_uint64)]


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
        tag = file_tag(src, sys.version)
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
        lib.shoal_kmem_replay.argtypes = [ctypes.c_void_p, *[ctypes.c_uint32] * 4, ctypes.c_void_p,
                                          ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p]
        lib.shoal_kmem_replay.restype = None
        lib.shoal_swap_lines.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_uint32] * 2
        lib.shoal_swap_lines.restype = None
    return lib


def _build_native(src: Path, lib: Path) -> None:
    """Compile blockcount.c with zig's compiler; OSError if that fails."""
    import subprocess  # (only for the build: a run with the library built needs none)
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".tmp{os.getpid()}")
    try:
        subprocess.run([sys.executable, "-m", "ziglang", "cc", "-shared", "-fPIC", "-O2",
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


class ClusterCPU:
    """The harts and the physical memory of one cluster."""

    def __init__(self, memory_bytes: int) -> None:
        self.mem = mmap.mmap(-1, memory_bytes)
        self.size = memory_bytes
        self._cbuf = (ctypes.c_char * memory_bytes).from_buffer(self.mem)
        patched = unicorn_build.install() is not None  # before the first Uc of this process
        self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
        self.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        self.uc.mem_map_ptr(PHYS_BASE, memory_bytes, UC_PROT_ALL, ctypes.addressof(self._cbuf))
        handle = self.uc._uch.value if hasattr(self.uc._uch, "value") else self.uc._uch
        self.budget: InsnBudget | None = None
        # The L1 model (set_caches): the live state is the running hart's; each hart's lines
        # are kept in `_lines` while another runs.
        self.caches: UcCaches | None = None
        self.stall = 0  # cycles the last slice stalled on cache misses
        self.bank_wait = 0  # of which waiting for a memory bank
        self._lines: dict[int, ctypes.Array] = {}
        self._line_addr: dict[int, int] = {}  # (their addresses)
        self._line_at: tuple[int, int, int, int] | None = None  # the live lines' addresses, sizes
        self._line_owner: int | None = None
        self._nd = self._ni = 0
        lib = native_library()
        self._swap = lib.shoal_swap_lines if lib is not None else None  # (use_lines_of, natively)
        # Page walks in native code (the TLB fill of present pages; on stock Unicorn also the
        # block hook's count) read the running container's page table through this struct.
        self.native: NativeCounter | None = None
        if lib is not None:
            self.native = NativeCounter(mem=ctypes.addressof(self._cbuf), mem_size=memory_bytes,
                                        phys_base=PHYS_BASE,
                                        stop=ctypes.cast(binding.uclib.uc_emu_stop, ctypes.c_void_p).value)
        self._hooked = False  # the block hook counts (stock Unicorn)
        self._slice = None  # the native slice (patched library with the native helpers)
        if patched:
            self.uc.ctl(unicorn_build.UC_CTL_INSN_BUDGET, UC_CTL_IO_WRITE,
                        ctypes.c_int(unicorn_build.BUDGET_BLOCKS))
            ptr = ctypes.POINTER(InsnBudget)()
            self.uc.ctl(unicorn_build.UC_CTL_INSN_BUDGET, UC_CTL_IO_READ, ctypes.byref(ptr))
            self.budget = ptr.contents
            self._cut = 0  # instructions `shorten` took off the running slice's budget
            if lib is not None:
                fn = binding.uclib

                def addr(f: object) -> int | None:
                    return ctypes.cast(f, ctypes.c_void_p).value
                self._slicer = Slicer(uc=handle, restore=addr(fn.uc_context_restore),
                                      save=addr(fn.uc_context_save), reg_read=addr(fn.uc_reg_read),
                                      start=addr(fn.uc_emu_start), until=STOP_ADDR, pc_reg=REG_PC)
                self._slice = lib.shoal_slice
                self._slice.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
                self._slice.restype = ctypes.c_int
                self._slicer_ref = ctypes.addressof(self._slicer)
        elif lib is not None:
            self._give_back = lib.shoal_give_back
            self._native_hook(UC_HOOK_BLOCK, lib.shoal_block_hook)
            self._hooked = True
        else:
            self._counter = ctypes.c_uint64.from_address(handle + _find_counter_offset())
        # Every hart starts from this state: U-mode, FPU on (mstatus.FS), all registers zero.
        self.uc.reg_write(rv.UC_RISCV_REG_MSTATUS, MSTATUS_FS_DIRTY)
        self.uc.reg_write(rv.UC_RISCV_REG_PRIV, 0)
        self.blank = self.uc.context_save()
        self.loaded: object | None = None
        self.tb_stale = False
        self.on_fill: Callable[[int, int], tuple[int, int] | None] | None = None
        self.on_trap: Callable[[int], None] | None = None
        if lib is not None:
            # Tried first: the kernel's fill (below) sees only what this one leaves to it.
            self._native_hook(UC_HOOK_TLB_FILL, lib.shoal_tlb_fill)
        self.uc.hook_add(UC_HOOK_TLB_FILL, self._fill)
        # The trap hook straight to the kernel (every system call comes this way): the
        # binding's hook_add would add two Python calls per trap. Its exception rule is kept:
        # a hook's exception is kept for `run` to raise, and the emulation stops.
        uc = self.uc

        def trap(_handle: object, cause: int, _ud: object) -> None:
            try:
                self.on_trap(cause)  # type: ignore[misc]
            except BaseException as e:
                if uc._hook_exception is None:
                    uc._hook_exception = e
                uc.emu_stop()
        self._trap_cb = HOOK_INTR_CFUNC(trap)  # (kept alive as long as the emulator)
        hook, user = ctypes.cast(self._trap_cb, ctypes.c_void_p), None
        self._trap_regs: TrapRegs | None = None
        if lib is not None:  # a0-a7 read in native code before the hook runs (blockcount.c)
            tr = self._trap_regs = TrapRegs(read_batch=ctypes.cast(binding.uclib.uc_reg_read_batch,
                                                                   ctypes.c_void_p).value,
                                            py=hook.value, ids=(ctypes.c_int32 * 8)(*REG_A))
            base = ctypes.addressof(tr) + TrapRegs.vals.offset
            tr.ptrs = (ctypes.c_void_p * 8)(*[base + 8 * i for i in range(8)])
            hook = ctypes.cast(lib.shoal_trap_hook, ctypes.c_void_p)
            user = ctypes.c_void_p(ctypes.addressof(tr))
            self._trap_vals = (ctypes.c_char * 64).from_address(base)
        hh = uc_hook_h()
        err = binding.uclib.uc_hook_add(uc._uch, ctypes.byref(hh), UC_HOOK_INTR, hook, user,
                                        ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise UcError(err)
        # a0-a7 in one call into Unicorn (a system call's number and arguments): reading
        # them one by one through the Python binding costs ~2 us each.
        self._args_ids = (ctypes.c_int * 8)(*REG_A)
        self._args_vals = (ctypes.c_uint64 * 8)()
        base = ctypes.addressof(self._args_vals)
        self._args_ptrs = (ctypes.c_void_p * 8)(*[base + 8 * i for i in range(8)])
        self._all_ids = (ctypes.c_int * len(_ALL_REGS))(*_ALL_REGS)
        self._all_vals = (ctypes.c_uint64 * len(_ALL_REGS))()
        base = ctypes.addressof(self._all_vals)
        self._all_ptrs = (ctypes.c_void_p * len(_ALL_REGS))(*[base + 8 * i for i in range(len(_ALL_REGS))])
        self._val = ctypes.c_uint64(0)
        self._val_ptr = ctypes.cast(ctypes.pointer(self._val), ctypes.c_void_p)

    def set_caches(self, spec: ChipSpec) -> str:
        """Model the spec's L1 caches from now on; "" or why they cannot be modelled here."""
        if self.budget is None:
            return "the L1 cache model needs shoal's patched Unicorn"
        ptr = ctypes.POINTER(UcCaches)()
        self.uc.ctl(unicorn_build.UC_CTL_CACHES, UC_CTL_IO_READ, ctypes.byref(ptr))
        c = ptr.contents
        c.line_shift = spec.cache_line.bit_length() - 1
        c.cpi = spec.cpi
        fifo = int(spec.cache_replacement == "fifo")
        for g, kind in ((c.d, "dcache"), (c.i, "icache")):
            g.sets, g.ways, g.fifo = spec.cache_sets(kind), getattr(spec, f"{kind}_ways"), fifo
            g.miss_cycles = getattr(spec, f"{kind}_miss_cycles")
        c.d.write_alloc = int(spec.dcache_write_allocate)
        c.banks, c.bank_busy, c.quantum = spec.memory_banks, spec.bank_busy_cycles, spec.quantum_cycles
        c.mem_base = ctypes.addressof(self._cbuf)
        contiguous = spec.memory_per_cluster // max(1, spec.memory_banks)
        row = spec.cache_line if spec.bank_mapping == "interleaved" else contiguous
        c.bank_shift = row.bit_length() - 1
        try:
            self.uc.ctl(unicorn_build.UC_CTL_CACHES, UC_CTL_IO_WRITE, ctypes.c_int(1))
        except UcError:
            return "the L1 cache model needs an x86-64 Linux host"
        self.caches = c
        self._counts = (ctypes.c_uint64 * 8).from_address(ctypes.addressof(c.dc))  # dc, ic: adjacent
        self._line_at = None
        self._nd, self._ni = c.d.sets * c.d.ways, c.i.sets * c.i.ways
        return ""

    def use_lines_of(self, hart: int) -> None:
        """Make `hart`'s cache lines the live ones (harts take turns on one emulator)."""
        c = self.caches
        if c is None or self._line_owner == hart:
            return
        # Addresses and sizes fixed once (a thread waking from a page fault takes another
        # hart nearly every time: this runs at most slices).
        at = self._line_at
        if at is None:
            at = self._line_at = (ctypes.addressof(c.dtags), ctypes.addressof(c.itags),
                                  self._nd * 8, self._ni * 8)
        d, i, nd, ni = at
        if self._swap is not None:  # (the same copies in one native call)
            mine = self._line_addr.get(hart)
            if mine is None:
                mine = self._new_lines(hart)
            keep = self._line_addr[self._line_owner] if self._line_owner is not None else None
            self._swap(d, i, keep, mine, self._nd, self._ni)
            self._line_owner = hart
            return
        memmove = ctypes.memmove
        if self._line_owner is not None:
            keep = self._line_addr[self._line_owner]
            memmove(keep, d, nd)
            memmove(keep + nd, i, ni)
        mine = self._line_addr.get(hart)
        if mine is None:
            mine = self._new_lines(hart)
        memmove(d, mine, nd)
        memmove(i, mine + nd, ni)
        self._line_owner = hart

    def _new_lines(self, hart: int) -> int:
        """A hart's own lines, all empty, kept while another hart runs; their address."""
        n = self._nd + self._ni
        self._lines[hart] = buf = (ctypes.c_uint64 * n)(*([1] * n))  # 1: no line
        self._line_addr[hart] = ctypes.addressof(buf)
        return self._line_addr[hart]

    def cache_counts(self) -> tuple[int, int, int, int, int, int, int]:
        """Since the emulator began: loads, stores, load misses, store misses, I-cache line
        fetches, I-cache misses, misses that waited for their memory bank."""
        c = self.caches
        if c is None:
            return (0, 0, 0, 0, 0, 0, 0)
        v = self._counts[:]  # dc (reads, writes, read misses, write misses), then ic's: one copy
        return (v[0], v[1], v[2], v[3], v[4], v[6], c.bank_waits)

    def begin_slice(self, clock: int, hart: int) -> None:
        """The running hart and its simulated clock at the slice's start (for the banks)."""
        c = self.caches
        c.now_base, c.hart = clock, hart  # type: ignore[union-attr]

    def stalled(self) -> int:
        """Cycles the running slice has stalled so far."""
        c = self.caches
        return c.stall if c is not None else 0

    def _native_hook(self, kind: int, fn: object) -> None:
        hh = uc_hook_h()
        err = binding.uclib.uc_hook_add(self.uc._uch, ctypes.byref(hh), kind,
                                        ctypes.cast(fn, ctypes.c_void_p),
                                        ctypes.cast(ctypes.byref(self.native), ctypes.c_void_p),
                                        ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise UcError(err)

    def _fill(self, uc: Uc, vaddr: int, access: int, entry: object, _ud: object) -> bool:
        got = self.on_fill(vaddr, access)  # type: ignore[misc]
        if got is None:
            return False
        entry.paddr, entry.perms = got  # type: ignore[attr-defined]
        return True

    def new_context(self) -> object:
        ctx = self.uc.context_save()
        self.uc.context_restore(self.blank)
        self.uc.context_update(ctx)
        self.loaded = None
        return ctx

    def get_regs(self, ctx: object) -> dict:
        """A hart state as plain data: x1-x31, pc, f0-f31 (raw 64-bit), fcsr.
        Unicorn 2.1.4 reads and writes CSRs of a saved context wrongly (writing fcsr into
        one corrupts the host heap), so the state goes through the live CPU instead."""
        uc = self.uc
        uc.context_restore(ctx)
        self.loaded = ctx
        # One call into Unicorn for the 65 registers (one by one they cost ~2 us each).
        ctypes.memset(self._all_vals, 0, ctypes.sizeof(self._all_vals))
        err = binding.uclib.uc_reg_read_batch(uc._uch, self._all_ids, self._all_ptrs, len(_ALL_REGS))
        if err:
            raise UcError(err)
        v = list(self._all_vals)
        m = 0xFFFFFFFF
        return {"x": [w & m for w in v[:31]], "pc": v[31] & m, "f": v[32:64], "fcsr": v[64] & m}

    def set_regs(self, ctx: object, regs: dict) -> None:
        uc = self.uc
        uc.context_restore(self.blank)
        vals = [*regs["x"], regs["pc"], *regs["f"], regs["fcsr"]]
        if len(vals) != len(_ALL_REGS):
            raise ValueError("a hart state has 31 x, pc, 32 f and fcsr")
        for i, w in enumerate(vals):
            self._all_vals[i] = w & 0xFFFFFFFFFFFFFFFF
        err = binding.uclib.uc_reg_write_batch(uc._uch, self._all_ids, self._all_ptrs, len(_ALL_REGS))
        if err:
            raise UcError(err)
        uc.context_update(ctx)
        self.loaded = ctx

    def executed(self) -> int:
        """Instructions run so far in the current slice (the trapping one included)."""
        b = self.budget
        if b is not None:
            c = self.caches
            return self._budget - b.left + b.extra - self._cut - (c.taken if c is not None else 0)
        if self._hooked:
            return self.native.executed  # type: ignore[union-attr]
        return self._counter.value

    def run(self, ctx: object, budget: int, root: int) -> tuple[int, bool, UcError | None]:
        """Run the hart state `ctx` for at most `budget` instructions (whole blocks), with the
        page table at byte offset `root` of cluster memory; save the state back. Returns
        the exact number of instructions run and whether the budget ended the slice."""
        uc = self.uc
        if self.tb_stale:
            uc.ctl_flush_tb()
            self.tb_stale = False
        err = None
        nc = self.native
        b = self.budget
        self._budget = budget
        if b is not None:
            b.left, self._cut = budget, 0
        c = self.caches
        if c is not None:
            c.stall = c.taken = c.carry = c.bank_wait = 0
        if nc is not None:
            nc.root = root
        if self._slice is not None:
            # The same steps as below, in one call into native code (blockcount.c).
            load = self.loaded is not ctx
            self.loaded = ctx
            uc._hook_exception = None
            status = self._slice(self._slicer_ref, ctx._context, load)  # type: ignore[attr-defined]
            if status:
                err = UcError(status)
            elif uc._hook_exception is not None:
                raise uc._hook_exception  # a hook's own exception, as the binding raises it
            if err is None and self._slicer.pc == STOP_ADDR:
                err = UcError(UC_ERR_FETCH_UNMAPPED)
            if c is not None:
                self.stall, self.bank_wait = c.stall, c.bank_wait
                return (budget - b.left + b.extra - self._cut - c.taken, bool(b.stopped), err)  # type: ignore[union-attr]
            return (budget - b.left + b.extra - self._cut, bool(b.stopped), err)  # type: ignore[union-attr]
        if self.loaded is not ctx:
            uc.context_restore(ctx)
            self.loaded = ctx
        if self._hooked:
            nc.executed, nc.budget, nc.stopping, nc.last_size = 0, budget, 0, 0  # type: ignore[union-attr]
        try:
            uc.emu_start(self.reg(REG_PC), STOP_ADDR, count=0 if self._hooked or b is not None else budget)
        except UcError as e:
            err = e
        if err is not None and self._hooked:
            # A failed TLB fill inside a block: what came after it did not run.
            self._give_back(ctypes.byref(nc), ctypes.c_uint32(self.reg(REG_PC)))
        if err is None and self.reg(REG_PC) == STOP_ADDR:
            err = UcError(UC_ERR_FETCH_UNMAPPED)  # the guest jumped to the stop address itself
        uc.context_update(ctx)
        if b is not None:
            taken = 0
            if c is not None:
                self.stall, taken, self.bank_wait = c.stall, c.taken, c.bank_wait
            return (budget - b.left + b.extra - self._cut - taken, bool(b.stopped), err)
        if self._hooked:
            return (nc.executed, bool(nc.stopping), err)  # type: ignore[union-attr]
        n = self._counter.value
        return (min(n, budget), n >= self._budget, err)

    def unrun(self, fetch: bool) -> int:
        """After a restartable fault ended a slice: the counted instructions that run again.
        Whatever followed the faulting instruction in its block was already given back (by
        the patched Unicorn, or by `run` on the block hook's count); the faulting load or
        store itself counted and runs again. A fault on fetching a block: nothing counted."""
        return 0 if fetch else 1

    def shorten(self, n: int) -> None:
        """Take `n` instructions off the running slice's budget (kernel work took their time)."""
        if self.budget is not None:
            self.budget.left -= n
            self._cut += n
        elif self._hooked:
            self.native.budget = max(0, self.native.budget - n)
        else:
            self._budget -= n
            if self._counter.value >= self._budget:
                self.uc.emu_stop()

    def flush_tlb(self) -> None:
        self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)

    def stop(self) -> None:
        binding.uclib.uc_emu_stop(self.uc._uch)

    def syscall_regs(self) -> list[int]:
        """a0..a7 of the running hart (a7 is the call number), in its ecall's trap."""
        tr = self._trap_regs
        if tr is not None:  # (read by the native trap hook as the ecall trapped)
            if tr.status:
                raise UcError(tr.status)
            return list(_EIGHT_LOW_WORDS.unpack_from(self._trap_vals))
        err = binding.uclib.uc_reg_read_batch(self.uc._uch, self._args_ids, self._args_ptrs, 8)
        if err:
            raise UcError(err)
        return list(_EIGHT_LOW_WORDS.unpack_from(self._args_vals))

    def ctx_set(self, ctx: object, r: int, v: int) -> None:
        """Write an integer register of a saved hart state (a woken thread's result)."""
        self._val.value = v & 0xFFFFFFFF
        err = binding.uclib.uc_context_reg_write(ctx._context, r, self._val_ptr)  # type: ignore[attr-defined]
        if err:
            raise UcError(err)

    def ctx_get(self, ctx: object, r: int) -> int:
        """Read an integer register of a saved hart state."""
        self._val.value = 0
        err = binding.uclib.uc_context_reg_read(ctx._context, r, self._val_ptr)  # type: ignore[attr-defined]
        if err:
            raise UcError(err)
        return self._val.value & 0xFFFFFFFF

    def reg(self, r: int) -> int:
        self._val.value = 0
        err = binding.uclib.uc_reg_read(self.uc._uch, r, self._val_ptr)
        if err:
            raise UcError(err)
        return self._val.value & 0xFFFFFFFF

    def set_reg(self, r: int, v: int) -> None:
        self._val.value = v & 0xFFFFFFFF
        err = binding.uclib.uc_reg_write(self.uc._uch, r, self._val_ptr)
        if err:
            raise UcError(err)

"""A cluster's harts: one Unicorn RV32GC instance shared by all of them.

Unicorn instances cost several MB each, so the harts of a cluster take turns on one
instance; a hart's state is a Unicorn context saved and restored around each slice. Its
parts: how instructions are counted (platform/native.py), the registers (platform/hart.py),
each hart's L1 lines (platform/l1.py).

Translation: the kernel keeps real Sv32 page tables in cluster memory, but Unicorn runs in
its "virtual TLB" mode and asks the kernel (`tlb_fill`) on every TLB miss. Unicorn 2.1's own
Sv32 walker cannot be used for demand paging: it reports a page fault with the pc of the
*next* instruction, so the faulting one could not be restarted. Filling the TLB from the
kernel's tables gives demand paging without restarts, and lets the kernel keep A/D bits.
"""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Callable

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
from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC, uc_hook_h, uc_tlb_entry

from shoal import _interrupt
from shoal.abi import CAUSE_ECALL_U
from shoal.errors import HostLimit
from shoal.platform import unicorn_build
from shoal.platform.hart import (
    _ALL_REGS,
    MSTATUS_FS_DIRTY,
    REG_A,
    REG_F,
    REG_PC,
    REG_RA,
    REG_SP,
    REG_TP,
    REG_X,
    STOP_ADDR,
    Registers,
)
from shoal.platform.l1 import HartLines, configure
from shoal.platform.native import Counting, engine, native_library
from shoal.platform.unicorn_build import InsnBudget, UcCaches
from shoal.spec import ChipSpec

# (the registers' names and the native helpers, where the kernel has always found them)
__all__ = ["PHYS_BASE", "REG_A", "REG_F", "REG_PC", "REG_RA", "REG_SP", "REG_TP", "REG_X", "STOP_ADDR",
           "_ALL_REGS", "ClusterCPU", "engine", "native_library"]

PHYS_BASE = 0x8000_0000
TCG_BUFFER = 32 << 20  # bytes of translated code one cluster's emulator keeps (then it starts over)


# uc_cb_tlbfill_t, with the entry as an address (written in place, no pointer object made).
_FILL_CFUNC = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int,
                               ctypes.c_void_p, ctypes.c_void_p)


def _room_for(nbytes: int) -> None:
    """HostLimit (one line) if a `ulimit -v` leaves less address space than a cluster's
    emulator needs: QEMU's own allocation failure would exit the host with a line of its own."""
    import resource
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return
    try:
        with open("/proc/self/status") as f:
            used = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return
    if used + nbytes + (64 << 20) > limit:  # (and some room for the rest of the host)
        raise HostLimit(f"the host's address space limit (ulimit -v: {limit >> 20} MiB, {used >> 20} MiB "
                         f"used) leaves no room for one more cluster's emulator ({nbytes >> 20} MiB)")


class ClusterCPU:
    """The harts and the physical memory of one cluster."""

    def __init__(self, memory_bytes: int) -> None:
        _room_for(memory_bytes + TCG_BUFFER)
        self.mem = mmap.mmap(-1, memory_bytes)
        self.size = memory_bytes
        self._cbuf = (ctypes.c_char * memory_bytes).from_buffer(self.mem)
        patched = unicorn_build.install() is not None  # before the first Uc of this process
        self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
        # Before the first control that initialises it: Unicorn's default is 1 GiB of address
        # space per emulator for translated code, 16+ GiB for a chip; under a `ulimit -v` QEMU
        # then printed one line of its own and exit(1)ed the host mid-run.
        self.uc.ctl_set_tcg_buffer_size(TCG_BUFFER)
        self.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        self.uc.mem_map_ptr(PHYS_BASE, memory_bytes, UC_PROT_ALL, ctypes.addressof(self._cbuf))
        handle = self.uc._uch.value if hasattr(self.uc._uch, "value") else self.uc._uch
        self.budget: InsnBudget | None = None
        # The L1 model (set_caches): the live state is the running hart's; `lines` keeps each
        # hart's lines while another runs.
        self.caches: UcCaches | None = None
        self.lines: HartLines | None = None
        self.stall = 0  # cycles the last slice stalled on cache misses
        self.bank_wait = 0  # of which waiting for a memory bank
        lib = native_library()
        self.count = Counting(self.uc, handle, patched, lib, ctypes.addressof(self._cbuf), memory_bytes,
                              PHYS_BASE)
        if patched:
            self.uc.ctl(unicorn_build.UC_CTL_INSN_BUDGET, UC_CTL_IO_WRITE,
                        ctypes.c_int(unicorn_build.BUDGET_BLOCKS))
            ptr = ctypes.POINTER(InsnBudget)()
            self.uc.ctl(unicorn_build.UC_CTL_INSN_BUDGET, UC_CTL_IO_READ, ctypes.byref(ptr))
            self.budget = ptr.contents
            self._cut = 0  # instructions `shorten` took off the running slice's budget
        elif self.count.hooked:
            self._native_hook(UC_HOOK_BLOCK, lib.shoal_block_hook)  # type: ignore[union-attr]
        # Every hart starts from this state: U-mode, FPU on (mstatus.FS), all registers zero.
        self.uc.reg_write(rv.UC_RISCV_REG_MSTATUS, MSTATUS_FS_DIRTY)
        self.uc.reg_write(rv.UC_RISCV_REG_PRIV, 0)
        self.blank = self.uc.context_save()
        self.loaded: object | None = None
        self.tb_stale = False
        self.on_fill: Callable[[int, int], tuple[int, int] | None] | None = None
        self.on_trap: Callable[[int], None] | None = None
        self.on_ecall: Callable[[], None] | None = None  # (an ecall from user mode: the kernel's entry)
        if lib is not None:
            # Tried first: the kernel's fill (below) sees only what this one leaves to it.
            self._native_hook(UC_HOOK_TLB_FILL, lib.shoal_tlb_fill)
        self.regs = Registers(self.uc._uch)
        self._hook_kernel(lib)

    def _hook_kernel(self, lib: ctypes.CDLL | None) -> None:
        """The trap hook and the kernel's TLB fill straight to the kernel (every system call,
        every page fault and every remote page's touch comes this way): the binding's hook_add
        would add two Python calls and a ctypes object per call. Its exception rule is kept: a
        hook's exception is kept for `run` to raise, and the emulation stops."""
        uc = self.uc

        def fill(_handle: object, vaddr: int, access: int, entry: int, _ud: object) -> bool:
            try:
                got = self.on_fill(vaddr, access)  # type: ignore[misc]
                if got is None:
                    return False
                slot = uc_tlb_entry.from_address(entry)
                slot.paddr, slot.perms = got
                return True
            except BaseException as e:
                if uc._hook_exception is None:
                    uc._hook_exception = e
                uc.emu_stop()
                return False
        self._fill_cb = _FILL_CFUNC(fill)  # (kept alive as long as the emulator)
        self._native_hook(UC_HOOK_TLB_FILL, self._fill_cb, None)

        def trap(_handle: object, cause: int, _ud: object) -> None:
            try:
                if cause == CAUSE_ECALL_U and self.on_ecall is not None:
                    self.on_ecall()  # (a system call: straight to the kernel's entry)
                else:
                    self.on_trap(cause)  # type: ignore[misc]
            except BaseException as e:
                if uc._hook_exception is None:
                    uc._hook_exception = e
                uc.emu_stop()
        self._trap_cb = HOOK_INTR_CFUNC(trap)  # (kept alive as long as the emulator)
        _interrupt.callback(fill.__code__)  # (a Ctrl-C is raised once they have returned)
        _interrupt.callback(trap.__code__)
        hook, user = ctypes.cast(self._trap_cb, ctypes.c_void_p), None
        if lib is not None:  # a0-a7 read in native code before the hook runs (blockcount.c)
            read_batch = ctypes.cast(binding.uclib.uc_reg_read_batch, ctypes.c_void_p).value
            user = ctypes.c_void_p(self.regs.trap_hook(read_batch, hook.value))
            hook = ctypes.cast(lib.shoal_trap_hook, ctypes.c_void_p)
        hh = uc_hook_h()
        err = binding.uclib.uc_hook_add(uc._uch, ctypes.byref(hh), UC_HOOK_INTR, hook, user,
                                        ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise UcError(err)

    def set_caches(self, spec: ChipSpec) -> str:
        """Model the spec's L1 caches from now on; "" or why they cannot be modelled here."""
        if self.budget is None:
            return "the L1 cache model needs shoal's patched Unicorn"
        ptr = ctypes.POINTER(UcCaches)()
        self.uc.ctl(unicorn_build.UC_CTL_CACHES, UC_CTL_IO_READ, ctypes.byref(ptr))
        c = ptr.contents
        configure(c, spec, ctypes.addressof(self._cbuf))
        try:
            self.uc.ctl(unicorn_build.UC_CTL_CACHES, UC_CTL_IO_WRITE, ctypes.c_int(1))
        except UcError:
            return "the L1 cache model needs an x86-64 Linux host"
        self.caches = c
        lib = native_library()
        self.lines = HartLines(c, lib.shoal_swap_lines_at if lib is not None else None)
        return ""

    def begin_slice(self, clock: int, hart: int) -> None:
        """The running hart and its simulated clock at the slice's start (for the banks)."""
        c = self.caches
        c.now_base, c.hart = clock, hart  # type: ignore[union-attr]

    def stalled(self) -> int:
        """Cycles the running slice has stalled so far."""
        c = self.caches
        return c.stall if c is not None else 0

    def _native_hook(self, kind: int, fn: object, user: object = ...) -> None:
        """Add hook `fn` (a C function or callback), with the native struct as its user data
        unless `user` is given."""
        if user is ...:
            user = ctypes.cast(ctypes.byref(self.count.native), ctypes.c_void_p)
        hh = uc_hook_h()
        err = binding.uclib.uc_hook_add(self.uc._uch, ctypes.byref(hh), kind,
                                        ctypes.cast(fn, ctypes.c_void_p), user,
                                        ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise UcError(err)

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
        self.uc.context_restore(ctx)
        self.loaded = ctx
        v = self.regs.read_all()
        m = 0xFFFFFFFF
        return {"x": [w & m for w in v[:31]], "pc": v[31] & m, "f": v[32:64], "fcsr": v[64] & m}

    def set_regs(self, ctx: object, regs: dict) -> None:
        uc = self.uc
        uc.context_restore(self.blank)
        self.regs.write_all([*regs["x"], regs["pc"], *regs["f"], regs["fcsr"]])
        uc.context_update(ctx)
        self.loaded = ctx

    def executed(self) -> int:
        """Instructions run so far in the current slice (the trapping one included)."""
        b = self.budget
        if b is not None:
            c = self.caches
            return self._budget - b.left + b.extra - self._cut - (c.taken if c is not None else 0)
        if self.count.hooked:
            return self.count.native.executed  # type: ignore[union-attr]
        return self.count.counter.value  # type: ignore[union-attr]

    def run(self, ctx: object, budget: int, root: int) -> tuple[int, bool, UcError | None]:
        """Run the hart state `ctx` for at most `budget` instructions (whole blocks), with the
        page table at byte offset `root` of cluster memory; save the state back. Returns
        the exact number of instructions run and whether the budget ended the slice."""
        if _interrupt.pending:  # a Ctrl-C that came inside a hook (shoal/_interrupt.py)
            _interrupt.take()
        uc = self.uc
        if self.tb_stale:
            uc.ctl_flush_tb()
            self.tb_stale = False
        err = None
        count = self.count
        nc = count.native
        b = self.budget
        self._budget = budget
        if b is not None:
            b.left, self._cut = budget, 0
        c = self.caches
        if c is not None:
            c.stall = c.taken = c.carry = c.bank_wait = 0
        if nc is not None:
            nc.root = root
        if count.slice is not None:
            # The same steps as below, in one call into native code (blockcount.c).
            load = self.loaded is not ctx
            self.loaded = ctx
            uc._hook_exception = None
            status = count.slice(count.slicer_ref, ctx._context, load)  # type: ignore[attr-defined]
            if uc._hook_exception is not None:
                # A hook's own exception (a kernel bug), even when the emulation also ended in
                # error: it is the cause (a failed fill is its consequence), not a guest fault.
                raise uc._hook_exception
            if status:
                err = UcError(status)
            if err is None and count.slicer.pc == STOP_ADDR:
                err = UcError(UC_ERR_FETCH_UNMAPPED)
            if c is not None:
                self.stall, self.bank_wait = c.stall, c.bank_wait
                return (budget - b.left + b.extra - self._cut - c.taken, bool(b.stopped), err)  # type: ignore[union-attr]
            return (budget - b.left + b.extra - self._cut, bool(b.stopped), err)  # type: ignore[union-attr]
        if self.loaded is not ctx:
            uc.context_restore(ctx)
            self.loaded = ctx
        hooked, reg = count.hooked, self.regs.reg
        if hooked:
            nc.executed, nc.budget, nc.stopping, nc.last_size = 0, budget, 0, 0  # type: ignore[union-attr]
        try:
            uc.emu_start(reg(REG_PC), STOP_ADDR, count=0 if hooked or b is not None else budget)
        except UcError as e:
            if uc._hook_exception is not None:  # a hook that failed made the status: its error wins
                raise uc._hook_exception from None
            err = e
        if err is not None and hooked:
            # A failed TLB fill inside a block: what came after it did not run.
            count.give_back(ctypes.byref(nc), ctypes.c_uint32(reg(REG_PC)))  # type: ignore[misc]
        if err is None and reg(REG_PC) == STOP_ADDR:
            err = UcError(UC_ERR_FETCH_UNMAPPED)  # the guest jumped to the stop address itself
        uc.context_update(ctx)
        if err is not None and uc._hook_exception is not None:
            raise uc._hook_exception  # (the binding raises the UcError instead: the cause first)
        if b is not None:
            taken = 0
            if c is not None:
                self.stall, taken, self.bank_wait = c.stall, c.taken, c.bank_wait
            return (budget - b.left + b.extra - self._cut - taken, bool(b.stopped), err)
        if hooked:
            return (nc.executed, bool(nc.stopping), err)  # type: ignore[union-attr]
        n = count.counter.value  # type: ignore[union-attr]
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
        elif self.count.hooked:
            nc = self.count.native
            nc.budget = max(0, nc.budget - n)  # type: ignore[union-attr]
        else:
            self._budget -= n
            if self.count.counter.value >= self._budget:  # type: ignore[union-attr]
                self.uc.emu_stop()

    def flush_tlb(self) -> None:
        self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)

    def stop(self) -> None:
        binding.uclib.uc_emu_stop(self.uc._uch)

    def stop_after_trap(self) -> None:
        """End the slice once the ecall's trap hook returns (the native hook stops it then,
        where there is one: one call into Unicorn from Python less). Only from that hook."""
        tr = self.regs.trap
        if tr is not None:
            tr.stop = 1
        else:
            self.stop()

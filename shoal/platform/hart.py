"""A hart's registers: their numbers, and reading and writing them (the running hart's, or a
saved hart state's) in as few calls into Unicorn as possible: through the Python binding each
register costs ~2 us."""

from __future__ import annotations

import ctypes
import struct

from unicorn import UcError
from unicorn import riscv_const as rv
from unicorn.unicorn_py3 import unicorn as binding

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


class TrapRegs(ctypes.Structure):
    """`struct shoal_trap` of native/blockcount.c: a0-a7 read at an ecall's trap."""
    _fields_ = [("read_batch", ctypes.c_void_p), ("py", ctypes.c_void_p), ("ids", ctypes.c_int32 * 8),
                ("ptrs", ctypes.c_void_p * 8), ("vals", ctypes.c_uint64 * 8), ("status", ctypes.c_int32),
                ("put", ctypes.c_int32), ("write", ctypes.c_void_p), ("ret", ctypes.c_uint64),
                ("stop", ctypes.c_int32), ("pad", ctypes.c_int32), ("emu_stop", ctypes.c_void_p)]


def _slots(ids: list[int]) -> tuple[ctypes.Array, ctypes.Array, ctypes.Array]:
    """Register ids, a value slot for each and the slots' addresses, for uc_reg_*_batch."""
    vals = (ctypes.c_uint64 * len(ids))()
    base = ctypes.addressof(vals)
    ptrs = (ctypes.c_void_p * len(ids))(*[base + 8 * i for i in range(len(ids))])
    return (ctypes.c_int * len(ids))(*ids), vals, ptrs


class Registers:
    """The registers of one emulator's harts."""

    def __init__(self, uch: object) -> None:
        self.uch = uch  # the emulator's handle
        self.args = _slots(REG_A)  # a0-a7: a system call's number and arguments
        self.all = _slots(_ALL_REGS)  # a whole hart state (get_regs/set_regs)
        self.val = ctypes.c_uint64(0)
        self.val_ptr = ctypes.cast(ctypes.pointer(self.val), ctypes.c_void_p)
        # A saved state's register read and write (at every wake) through pointers of their
        # own without declared argument types: their arguments are ctypes objects and a small
        # int, passed as they are instead of through from_param each.
        lib = binding.uclib
        self._ctx_write = lib._FuncPtr(("uc_context_reg_write", lib))
        self._ctx_read = lib._FuncPtr(("uc_context_reg_read", lib))
        # a0-a7 as the native trap hook read them when an ecall trapped (None: read here)
        self.trap: TrapRegs | None = None
        self.trap_vals: ctypes.Array | None = None

    def trap_hook(self, read_batch: int | None, py: int | None) -> int:
        """Let the native trap hook read a0-a7 before it calls `py`; its user data."""
        write = ctypes.cast(binding.uclib.uc_reg_write, ctypes.c_void_p).value
        stop = ctypes.cast(binding.uclib.uc_emu_stop, ctypes.c_void_p).value
        tr = self.trap = TrapRegs(read_batch=read_batch, py=py, ids=(ctypes.c_int32 * 8)(*REG_A),
                                  write=write, emu_stop=stop)
        base = ctypes.addressof(tr) + TrapRegs.vals.offset
        tr.ptrs = (ctypes.c_void_p * 8)(*[base + 8 * i for i in range(8)])
        self.trap_vals = (ctypes.c_char * 64).from_address(base)
        return ctypes.addressof(tr)

    def read_all(self) -> list[int]:
        """The running hart's 65 registers (_ALL_REGS order), in one call."""
        ids, vals, ptrs = self.all
        ctypes.memset(vals, 0, ctypes.sizeof(vals))
        err = binding.uclib.uc_reg_read_batch(self.uch, ids, ptrs, len(_ALL_REGS))
        if err:
            raise UcError(err)
        return list(vals)

    def write_all(self, words: list[int]) -> None:
        """Set the running hart's 65 registers (_ALL_REGS order), in one call."""
        ids, vals, ptrs = self.all
        if len(words) != len(_ALL_REGS):
            raise ValueError("a hart state has 31 x, pc, 32 f and fcsr")
        for i, w in enumerate(words):
            vals[i] = w & 0xFFFFFFFFFFFFFFFF
        err = binding.uclib.uc_reg_write_batch(self.uch, ids, ptrs, len(_ALL_REGS))
        if err:
            raise UcError(err)

    def syscall_regs(self) -> list[int]:
        """a0..a7 of the running hart (a7 is the call number), in its ecall's trap."""
        tr = self.trap
        if tr is not None:  # (read by the native trap hook as the ecall trapped)
            if tr.status:
                raise UcError(tr.status)
            return list(_EIGHT_LOW_WORDS.unpack_from(self.trap_vals))  # type: ignore[arg-type]
        ids, vals, ptrs = self.args
        err = binding.uclib.uc_reg_read_batch(self.uch, ids, ptrs, 8)
        if err:
            raise UcError(err)
        return list(_EIGHT_LOW_WORDS.unpack_from(vals))

    def set_result(self, v: int) -> None:
        """a0 of the running hart, in its ecall's trap: written by the native trap hook once
        the kernel's hook returns, where there is one."""
        tr = self.trap
        if tr is not None:
            tr.ret = v & 0xFFFFFFFF
            tr.put = 1
        else:
            self.set_reg(REG_A[0], v)

    def ctx_set(self, ctx: object, r: int, v: int) -> None:
        """Write an integer register of a saved hart state (a woken thread's result)."""
        self.val.value = v & 0xFFFFFFFF
        err = self._ctx_write(ctx._context, r, self.val_ptr)  # type: ignore[attr-defined]
        if err:
            raise UcError(err)

    def ctx_get(self, ctx: object, r: int) -> int:
        """Read an integer register of a saved hart state."""
        self.val.value = 0
        err = self._ctx_read(ctx._context, r, self.val_ptr)  # type: ignore[attr-defined]
        if err:
            raise UcError(err)
        return self.val.value & 0xFFFFFFFF

    def reg(self, r: int) -> int:
        """A register of the running hart."""
        self.val.value = 0
        err = binding.uclib.uc_reg_read(self.uch, r, self.val_ptr)
        if err:
            raise UcError(err)
        return self.val.value & 0xFFFFFFFF

    def set_reg(self, r: int, v: int) -> None:
        """Write a register of the running hart."""
        self.val.value = v & 0xFFFFFFFF
        err = binding.uclib.uc_reg_write(self.uch, r, self.val_ptr)
        if err:
            raise UcError(err)

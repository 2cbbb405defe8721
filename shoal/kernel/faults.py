"""What a killed program did wrong, said exactly: the address of a faulting access, the
trap that Unicorn reports only as an error.

Unicorn asks the kernel for a translation page by page, so a failed fill knows the page,
not the address; the faulting instruction (at the exact pc) and the registers it used give
the address, as the hardware's stval would. Decoded: the loads, stores and atomics of
RV32GC, compressed forms included. Anything else keeps the page's address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import C_EBREAK, EBREAK, SIGSEGV, SIGTRAP
from shoal.kernel.memory import PAGE, Fault
from shoal.platform.cpu import REG_SP, REG_X, STOP_ADDR

if TYPE_CHECKING:
    from shoal.kernel.container import Thread



def _sext(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


def _insn(t: Thread, pc: int) -> int | None:
    """The instruction at `pc` (16 or 32 bits), or None if it cannot be read."""
    try:
        lo = int.from_bytes(t.proc.aspace.read(pc, 2), "little")
        if lo & 3 != 3:
            return lo
        return lo | int.from_bytes(t.proc.aspace.read(pc + 2, 2), "little") << 16
    except Exception:  # noqa: BLE001 - a message, never a second fault
        return None


def _x(t: Thread, r: int) -> int:
    return t.ctx.reg_read(REG_X[r]) if r else 0


def _access_address(t: Thread, i: int) -> int | None:
    """The address a load, store or atomic `i` accesses, from the thread's registers."""
    if i & 3 == 3:
        op, rs1 = i & 0x7F, (i >> 15) & 31
        if op in (0x03, 0x07):  # loads, FP loads: I-type offset
            return _x(t, rs1) + _sext(i >> 20, 12)
        if op in (0x23, 0x27):  # stores, FP stores: S-type offset
            return _x(t, rs1) + _sext(((i >> 25) << 5) | ((i >> 7) & 31), 12)
        if op == 0x2F:  # atomics: the address is rs1
            return _x(t, rs1)
        return None
    quad, f3 = i & 3, i >> 13
    if quad == 0 and f3 in (1, 2, 3, 5, 6, 7):  # c.fld c.lw c.flw c.fsd c.sw c.fsw
        rs1 = 8 + ((i >> 7) & 7)
        if f3 in (2, 3, 6, 7):  # word: uimm[5:3] at 12:10, [2] at 6, [6] at 5
            off = ((i >> 10) & 7) << 3 | ((i >> 6) & 1) << 2 | ((i >> 5) & 1) << 6
        else:  # double: uimm[5:3] at 12:10, [7:6] at 6:5
            off = ((i >> 10) & 7) << 3 | ((i >> 5) & 3) << 6
        return _x(t, rs1) + off
    if quad == 2 and f3 in (1, 2, 3):  # c.fldsp c.lwsp c.flwsp
        if f3 == 1:
            off = ((i >> 12) & 1) << 5 | ((i >> 5) & 3) << 3 | ((i >> 2) & 7) << 6
        else:
            off = ((i >> 12) & 1) << 5 | ((i >> 4) & 7) << 2 | ((i >> 2) & 3) << 6
        return t.ctx.reg_read(REG_SP) + off
    if quad == 2 and f3 in (5, 6, 7):  # c.fsdsp c.swsp c.fswsp
        if f3 == 5:
            off = ((i >> 10) & 7) << 3 | ((i >> 7) & 7) << 6
        else:
            off = ((i >> 9) & 15) << 2 | ((i >> 7) & 3) << 6
        return t.ctx.reg_read(REG_SP) + off
    return None


def exact_address(t: Thread, f: Fault, pc: int) -> int:
    """The address that faulted, within the page the failed fill names."""
    if f.kind == "fetch":
        cands = [pc, pc + 2]  # an instruction may straddle the page boundary
    else:
        i = _insn(t, pc)
        a = _access_address(t, i) if i is not None else None
        cands = [] if a is None else [a & 0xFFFFFFFF]
        if a is not None:  # an access that straddles the page boundary faults on the next
            cands.append((a & ~(PAGE - 1)) + PAGE & 0xFFFFFFFF)
    for a in cands:
        if a // PAGE == f.addr // PAGE:
            return a
    return f.addr


def unexplained(t: Thread, pc: int) -> tuple[str, int]:
    """Unicorn stopped with an error and reported no trap: an ebreak (Unicorn does not pass
    breakpoints to the trap hook) or a jump to the address where slices stop."""
    if pc == STOP_ADDR:
        return f"instruction page fault at {pc:#010x}", SIGSEGV
    i = _insn(t, pc)
    if i in (EBREAK, C_EBREAK):
        return "breakpoint", SIGTRAP
    return "unhandled CPU exception", SIGSEGV

"""The kernel's side of the GDB stub (shoal/tools/gdbstub.py): what a debugger may ask of a cluster.

The host asks through `host.debug(k, op, ...)` like any other request, only while the chip
is paused, and gets plain data back: where a process lives, its threads, a thread's
registers, memory through the process's page tables. Memory reads never populate a page
(an untouched anonymous page reads as zeros, as the guest would see it), so a debugger that
looks around does not change the frames the process uses or what it is charged later.
Writes go through the page tables whatever the page's protection (breakpoints go into code),
and drop what the CPU translated, since it may come from the frame just written.

A breakpoint is an `ebreak` written into the code. Unicorn ends the slice with an error on
an ebreak (it reaches no trap hook); the kernel then asks the debugger attached to it
(`Kernel.debugger`, set by the stub on every kernel, so that it follows the process when it
migrates). If the breakpoint is the debugger's, the thread stops before the ebreak exactly
as before an observing call (`park`: its pc goes back, the ebreak is not counted, the
hart's item is redone at the same simulated time) and the kernel stops taking items, so
that the engine pauses the chip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shoal.kernel.memory import _PHYS_PPN, PAGE, PTE_D, PTE_V, USER_TOP, Fault, OutOfFrames
from shoal.kernel.stops import Stop

if TYPE_CHECKING:
    from shoal.kernel.container import Container
    from shoal.kernel.kernel import Kernel



def _proc(k: Kernel, pid: int) -> Container | None:
    for p in k.procs:
        if p.pid == pid and p.alive:
            return p
    return None


def where(k: Kernel, pid: int) -> int:
    """The generation of `pid`'s live container here (a moved process has a higher one at
    its new cluster), or -1."""
    p = _proc(k, pid)
    return -1 if p is None else p.move.generation


def threads(k: Kernel, pid: int) -> list[int]:
    p = _proc(k, pid)
    return [] if p is None else [t.tid for t in p.threads if t.state.value != "dead"]


def regs(k: Kernel, pid: int, tid: int) -> dict | None:
    """x1-x31, pc, f0-f31 (raw 64-bit), fcsr of a thread (its saved hart state)."""
    t = _thread(k, pid, tid)
    return None if t is None else k.cpu.get_regs(t.ctx)


def set_regs(k: Kernel, pid: int, tid: int, values: dict) -> bool:
    t = _thread(k, pid, tid)
    if t is None:
        return False
    k.cpu.set_regs(t.ctx, values)
    return True


def _thread(k: Kernel, pid: int, tid: int) -> Any:
    p = _proc(k, pid)
    if p is None:
        return None
    return next((t for t in p.threads if t.tid == tid and t.state.value != "dead"), None)


def _page(p: Container, va: int) -> int | None:
    """Byte offset in cluster memory of the page of `va` if it is present (never populates)."""
    a = p.aspace
    if va >= USER_TOP:
        return None
    w = a._pte(va, create=False)
    pte = a._words[w] if w is not None else 0
    if not pte & PTE_V:
        return None
    return ((pte >> 10) - _PHYS_PPN) * PAGE


def read(k: Kernel, pid: int, va: int, n: int) -> bytes | None:
    """`n` bytes at `va` as the process sees them; None if some byte is not mapped."""
    p = _proc(k, pid)
    if p is None:
        return None
    a = p.aspace
    out = bytearray()
    while n > 0:
        m = min(n, PAGE - (va & (PAGE - 1)))
        page = va & ~(PAGE - 1)
        off = _page(p, va)
        if off is None and a.shm.pages and page in a.shm.pages and a.shm.frame is not None:
            held = a.shm.frame(a.shm.pages[page])  # a shared page this cluster holds
            off = None if held is None else held[0] * PAGE
        if off is not None:
            o = off + (va & (PAGE - 1))
            out += k.mem[o:o + m]
        elif a.remote and page in a.remote or a.shm.pages and page in a.shm.pages:
            return None  # its bytes are elsewhere (remote memory, a post-copy's source, the
            # shared-memory home): unreadable here, never shown as zeros
        elif a.find(va) is not None:
            out += bytes(m)  # mapped, never touched: zeros (demand paging)
        else:
            return None
        va, n = va + m, n - m
    return bytes(out)


def write(k: Kernel, pid: int, va: int, data: bytes) -> bool:
    """Write into the process's memory whatever the page's protection (a breakpoint goes into
    code); the page is marked dirty, as a store would. False if some byte is not mapped."""
    p = _proc(k, pid)
    if p is None:
        return False
    a = p.aspace
    while data:
        m = min(len(data), PAGE - (va & (PAGE - 1)))
        off = _page(p, va)
        if off is None:
            try:
                a.translate(va, "load")  # mapped, never touched: give it its frame first
            except (Fault, OutOfFrames):
                return False
            off = _page(p, va)
            assert off is not None
        w = a._pte(va, create=False)
        assert w is not None
        a._words[w] |= PTE_D
        o = off + (va & (PAGE - 1))
        k.mem[o:o + m] = data[:m]
        va, data = va + m, data[m:]
    k.cpu.tb_stale = True  # the CPU may have translated the old bytes
    return True


def attach(k: Kernel, hook: Any) -> None:
    """`hook(k, thread)` is asked about every breakpoint trap on this cluster (None: detach)."""
    k.debugger = hook


def park(k: Kernel) -> None:
    """The running thread stops before its ebreak (sched.run_slice undoes the pc and the
    count, as for an observing call) and the cluster takes no more items in this advance."""
    k.sched.stop_reason = Stop.PARK
    k.sched.horizon = 0


OPS = {"where": where, "threads": threads, "regs": regs, "set_regs": set_regs, "read": read,
       "write": write, "attach": attach}


def debug(k: Kernel, op: str, *args: Any) -> Any:
    return OPS[op](k, *args)

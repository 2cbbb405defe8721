"""The system-call entry: from the ecall trap to the call's function in the kernel's table
(`Kernel.calls`, built by kernel/table.py) and back into a0.

A call gets the kernel, the calling thread and its six arguments; it returns the value for a0
(negative errno on error) or raises Block (a call on a hot path returns SLEEPS instead:
Kernel.sleep). Any number not in the table returns -ENOSYS and is counted, so a user can see
what is missing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shoal.abi import EFAULT, ENOMEM, ENOSYS
from shoal.kernel import console, sched
from shoal.kernel.calls.common import STOPPED
from shoal.kernel.container import Block, Thread
from shoal.kernel.memory import PAGE, Fault, Missing, OutOfFrames
from shoal.kernel.stops import SLEEPS, Stop
from shoal.platform.cpu import REG_A
from shoal.platform.hart import _EIGHT_LOW_WORDS

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

# Enum members read on every item's path as plain globals (on Python 3.11 a member
# looked up on its class costs several times a global).
_BLOCK, _PAGE, _PARK = Stop.BLOCK, Stop.PAGE, Stop.PARK

def _page_copy(k: Kernel) -> int:
    return math.ceil(k.spec.costs.copy_cycles_per_byte * PAGE)


def dispatch_current(k: Kernel) -> None:
    """The ecall trap of the running thread (none: nothing to do), as Kernel._trap would
    call `dispatch` for it: the CPU's hook calls this straight, one frame less per call."""
    t = k.sched.current
    if t is not None:
        dispatch(k, t)


def dispatch(k: Kernel, t: Thread) -> None:
    """Called from the ecall trap: the pc already points past the ecall. (The kernel's
    helpers a call takes every time, Kernel.now, kernel_core, end_trap and the result's
    write, are inlined here: this runs at every system call.)"""
    cpu = k.cpu
    regs_of = cpu.regs
    tr = regs_of.trap
    if tr is not None and not tr.status:  # (Registers.syscall_regs' usual case, inlined)
        regs = list(_EIGHT_LOW_WORDS.unpack_from(regs_of.trap_vals))  # type: ignore[arg-type]
    else:
        regs = regs_of.syscall_regs()
    num = regs[7]
    entry = k.calls.get(num)
    s = k.sched
    costs = k.spec.costs
    cpi = costs.cpi
    b, c = cpu.budget, cpu.caches
    if b is not None and c is not None and s.trap_base is None:  # (Kernel.now, inlined)
        start = (s.now_base + (cpu._budget - b.left + b.extra - cpu._cut - c.taken) * cpi
                 + c.stall + s.extra)
    else:
        start = k.now()  # (the CPU is stopped in its trap: this holds until the call charges time)
    # With the kernel core's caches modelled (kernel/kmem.py) every call observes: its accesses
    # meet the cache state that the cluster's earlier calls left, so calls are served in the
    # order of simulated time, whatever order the harts were simulated in.
    core = k.core
    km = core.kmem
    if (entry is not None and (km is not None or sched.observes(t, entry[0])
                               or console.must_observe(k, t, entry[0], regs))
            and not sched.observe_now(k, t, start)):
        s.stop_reason = _PARK  # redone once every packet it could see is here (sched.py)
        cpu.stop_after_trap()
        return
    args = regs[:6]
    # From here until the call returns, the thread's time moves only by what is charged
    # (Kernel.charge adds to `extra` what it will take from the budget): Kernel.now adds
    # `extra` to this base instead of reading the emulator's counts (end_trap ends that).
    s.trap_base = start - s.extra
    cost = costs.syscall_cycles
    cal = core.calendar
    busy = cal.busy
    # (Kernel.kernel_core's first case, inlined; strict as Calendar.book's: a booking that
    # touches the last one joins its run, there)
    if not busy or busy[-1][1] < start:
        busy.append((start, start + cost))
        served = cost
    else:
        served = k.kernel_core(start, cost)
        t.proc.stats.kcore_wait += served - cost
    s.extra += served  # (Kernel.charge in a call, inlined: taken from the slice as it ends)
    s.trap_cut += -(-served // cpi)
    k.stats.syscalls += 1
    p = t.proc
    if entry is None:
        p.stats.unknown_syscalls[num] += 1
        p.stats.syscalls[f"#{num}"] += 1
        regs_of.set_reg(REG_A[0], -ENOSYS)
        if k.tracer is not None:
            k.tracer.syscall(k, t, f"#{num}", start, k.now())
        k.end_trap()
        return
    name, fn = entry
    p.stats.syscalls[name] += 1
    ret = None
    aspace = p.aspace
    copies = aspace.cow_copies
    try:
        ret = fn(k, t, args)
        if ret is SLEEPS:  # (Kernel.sleep: as Block below, without its exception)
            s.stop_reason = _BLOCK
            if tr is not None:
                tr.stop = 1
            else:
                cpu.stop()
            return
    except Missing as m:
        # A page elsewhere (post-copy migration, remote memory): the call waits for it and is
        # made again from the start (sched.run_slice puts the pc back on the ecall).
        s.missing, s.missing_store = m.addr, m.kind == "store"
        s.stop_reason = _PAGE
        cpu.stop_after_trap()
        return
    except Fault:
        ret = -EFAULT
    except OutOfFrames:
        ret = -ENOMEM
    except Block:
        s.stop_reason = _BLOCK
        if tr is not None:  # (ClusterCPU.stop_after_trap, inlined)
            tr.stop = 1
        else:
            cpu.stop()
        return
    finally:
        # A deadline kept across a freeze belongs to the call that was backed out, which is
        # the first one the thread makes after the thaw: gone once that call has run (not when
        # it waits for a post-copy page and is made again: it keeps its deadline for that).
        if aspace.cow_copies != copies:  # its stores into pages shared since a fork copied them
            k.charge((aspace.cow_copies - copies) * (costs.page_fault_cycles + _page_copy(k)))
        if s.stop_reason is not _PAGE:
            t.restart_deadline = None
            if km is not None:  # the kernel core's own loads, stores and fetches (kmem.py)
                new = ret if name == "clone" and type(ret) is int and ret > 0 else None
                p = t.proc  # (counted as kernel mode for the process and the cluster)
                stall = km.serve(name, p.pid, t.tid, new, p.stats.kcaches)
                if stall:  # (Kernel.now, kernel_core's first two cases and charge, inlined)
                    at = s.trap_base + s.extra  # type: ignore[operator]
                    busy = core.calendar.busy
                    if not busy or busy[-1][1] < at:  # (strict: see above)
                        busy.append((at, at + stall))
                        served = stall
                    elif busy[-1][1] == at and busy[-1][0] < at:  # (the last run grows)
                        busy[-1] = (busy[-1][0], at + stall)
                        core.calendar.cuts.append(at)
                        served = stall
                    else:
                        served = k.kernel_core(at, stall)
                    s.extra += served
                    s.trap_cut += -(-served // cpi)
        if k.tracer is not None:
            k.tracer.syscall(k, t, name, start, k.now())
        # (Kernel.end_trap, inlined)
        s.trap_base = None
        n = s.trap_cut
        if n:
            s.trap_cut = 0
            if b is not None:
                b.left -= n
                cpu._cut += n
            else:
                cpu.shorten(n)
    if ret is STOPPED:
        return
    if tr is not None:  # (Registers.set_result, inlined)
        tr.ret = ret & 0xFFFFFFFF  # type: ignore[operator]
        tr.put = 1
    else:
        regs_of.set_result(ret)  # type: ignore[arg-type]

"""The system-call entry: from the ecall trap to the call's function in the kernel's table
(`Kernel.calls`, built by kernel/table.py) and back into a0.

A call gets the kernel, the calling thread and its six arguments; it returns the value for a0
(negative errno on error) or raises Block. Any number not in the table returns -ENOSYS and is
counted, so a user can see what is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EFAULT, ENOMEM, ENOSYS
from shoal.kernel import console, sched
from shoal.kernel.calls.common import STOPPED
from shoal.kernel.container import Block, Thread
from shoal.kernel.memory import Fault, Missing, OutOfFrames
from shoal.kernel.stops import Stop
from shoal.platform.cpu import REG_A

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


def dispatch(k: Kernel, t: Thread) -> None:
    """Called from the ecall trap: the pc already points past the ecall."""
    cpu = k.cpu
    regs = cpu.regs.syscall_regs()
    num = regs[7]
    entry = k.calls.get(num)
    start = k.now()  # (the CPU is stopped in its trap: this holds until the call charges time)
    # With the kernel core's caches modelled (kernel/kmem.py) every call observes: its accesses
    # meet the cache state that the cluster's earlier calls left, so calls are served in the
    # order of simulated time, whatever order the harts were simulated in.
    if (entry is not None and (k.core.kmem is not None or sched.observes(t, entry[0])
                               or console.must_observe(k, t, entry[0], regs))
            and not sched.observe_now(k, t, start)):
        k.sched.stop_reason = Stop.PARK  # redone once every packet it could see is here (sched.py)
        cpu.stop()
        return
    args = regs[:6]
    cost = k.spec.costs.syscall_cycles
    served = k.kernel_core(start, cost)
    t.proc.stats.kcore_wait += served - cost
    k.charge(served)
    k.stats.syscalls += 1
    if entry is None:
        t.proc.stats.unknown_syscalls[num] += 1
        t.proc.stats.syscalls[f"#{num}"] += 1
        cpu.regs.set_reg(REG_A[0], -ENOSYS)
        if k.tracer is not None:
            k.tracer.syscall(k, t, f"#{num}", start, k.now())
        return
    name, fn = entry
    t.proc.stats.syscalls[name] += 1
    ret = None
    try:
        ret = fn(k, t, args)
    except Missing as m:
        # A page elsewhere (post-copy migration, remote memory): the call waits for it and is
        # made again from the start (sched.run_slice puts the pc back on the ecall).
        k.sched.missing, k.sched.missing_store = m.addr, m.kind == "store"
        k.sched.stop_reason = Stop.PAGE
        cpu.stop()
        return
    except Fault:
        ret = -EFAULT
    except OutOfFrames:
        ret = -ENOMEM
    except Block:
        k.sched.stop_reason = Stop.BLOCK
        cpu.stop()
        return
    finally:
        # A deadline kept across a freeze belongs to the call that was backed out, which is
        # the first one the thread makes after the thaw: gone once that call has run (not when
        # it waits for a post-copy page and is made again: it keeps its deadline for that).
        if k.sched.stop_reason is not Stop.PAGE:
            t.restart_deadline = None
            if k.core.kmem is not None:  # the kernel core's own loads, stores and fetches (kmem.py)
                new = ret if name == "clone" and type(ret) is int and ret > 0 else None
                stall = k.kernel_traffic(t, name, new)
                if stall:
                    k.charge(k.kernel_core(k.now(), stall))
        if k.tracer is not None:
            k.tracer.syscall(k, t, name, start, k.now())
    if ret is STOPPED:
        return
    cpu.regs.set_reg(REG_A[0], ret)

"""Why a slice ended (`Kernel.sched.stop_reason`) and what a trap or a TLB fill left behind
(`Kernel.sched.fault`): written by the calls, traps and fills, read by sched.run_slice."""

from __future__ import annotations

from enum import StrEnum

from shoal.kernel.memory import Fault, Missing
from shoal.record import dataclass


class Stop(StrEnum):
    """A reason to end the running slice before its budget."""

    PARK = "park"  # an observing call (or a breakpoint) waits for its turn: redone later
    PAGE = "page"  # a call touched a page held elsewhere: made again once it is here
    BLOCK = "block"  # the thread sleeps
    DEAD = "dead"  # the thread or its process ended
    YIELD = "yield"  # sched_yield with others ready; or its process stopped (a stop signal)
    RETRY = "retry"  # out of frames ahead of an earlier item: the instruction runs again
    SIGNAL = "signal"  # a handler's frame was built, or rt_sigreturn's registers come back
    PREEMPT = "preempt"  # another thread can run: the lone thread's long slice ends
    CODE = "code"  # the kernel wrote into code: translations are stale


# What a reply's handler returns when it put its thread to sleep again (kernel._on_reply).
ASLEEP = object()
# What a system call returns once Kernel.sleep put its thread to sleep: as raising Block
# (entry.dispatch ends the slice alike), without an exception's cost on the hot calls.
SLEEPS = object()


class Retry(StrEnum):
    """Out of frames ahead of an earlier item of the cluster (Kernel._fill): the faulting
    access is taken again at its time; a fetch gives back its instruction differently."""

    DATA = "retry"
    FETCH = "retry-fetch"


@dataclass(frozen=True, slots=True)
class TrapFault:
    """A synchronous fault of the running thread: what happened (a text, the memory Fault of
    a failed fill, whose address is only the page's, a Missing page, or a Retry), the
    signal it raises (0: none) and the faulting pc when the trap knew it."""

    what: str | Fault | Missing | Retry
    sig: int
    pc: int | None = None

"""What a kernel publishes about a process (`ProcessRecord`), and the records of processes that
ended, kept within a bound.

A process that ends leaves a record: its exit, its times, its counts. The host reads them
(`Chip.processes`, a Process handle, `--stats`), so they outlive the process; but a guest that
forks in a loop would make them grow with every process it ever made. So an ended container
becomes its plain record (its memory, threads and tables let go), and of those made by guests
only the latest ENDED_KEPT per cluster are kept; older ones are folded into counts (how many,
how many were killed, their instructions). A process the host started (Chip.spawn, restore) is
always kept: the host holds its handle.
"""

from __future__ import annotations

from collections import deque
from dataclasses import field
from typing import TYPE_CHECKING

from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.container import Container

ENDED_KEPT = 4096  # records of ended guest-made processes kept per cluster (~1 KB each)


@dataclass(frozen=True)
class ProcessRecord:
    """What a kernel publishes about a process it runs or ran (simulated figures)."""

    pid: int
    name: str
    cluster: int
    state: str  # running, freezing, frozen, exited, killed, migrated, checkpointed
    exit_code: int | None
    signal: int | None
    message: str
    start_cycle: int
    end_cycle: int | None
    instructions: int
    threads: int
    syscalls: dict[str, int]
    unknown_syscalls: dict[int, int]
    peak_frames: int
    kcore_wait: int
    generation: int
    rmem_faults: int = 0  # touches of pages in remote memory (kernel/rmem.py)
    evictions: int = 0  # pages sent there
    page_wait: int = 0  # cycles its threads waited for them (and shared pages), all threads
    shm_faults: int = 0  # touches of shared pages held by another cluster (kernel/shm.py)
    caches: tuple[int, ...] = ()  # the L1 model's counts (container.CACHE_COUNTS), if it runs
    kernel_caches: tuple[int, ...] = ()  # the kernel core's caches, serving it (kernel/kmem.py)

    @property
    def alive(self) -> bool:
        return self.state in ("running", "freezing", "frozen")


def process_record(c: Container) -> ProcessRecord:
    s = c.stats
    peak = max(s.peak_frames, c.aspace.frames_in_use) if c.alive else s.peak_frames
    return ProcessRecord(c.pid, c.name, c.cluster, c.state, c.exit.code, c.exit.signal, c.exit.message,
                         s.start_cycle, s.end_cycle, c.instructions, len(c.threads) + s.threads_ended,
                         dict(s.syscalls), dict(s.unknown_syscalls), peak, s.kcore_wait, c.move.generation,
                         s.rmem_faults, s.evictions, s.page_wait, s.shm_faults,
                         tuple(s.caches) if any(s.caches) else (), tuple(s.kcaches) if any(s.kcaches) else ())



@dataclass(eq=False, slots=True)
class EndedRecords:
    """The records of the processes that ended on a cluster (`ClusterStats.ended`)."""

    keep: set[int] = field(default_factory=set)  # pids the host holds handles on (host.keep_record)
    host: list[ProcessRecord] = field(default_factory=list)  # theirs: all kept
    guests: deque[ProcessRecord] = field(default_factory=deque)  # the latest ENDED_KEPT
    folded: int = 0  # older guest-made ones, counted only
    folded_killed: int = 0
    folded_instructions: int = 0

    def add(self, c: Container) -> None:
        """`c` has ended and will not change: its record from now on."""
        r = process_record(c)
        if c.pid in self.keep:
            self.host.append(r)
            return
        self.guests.append(r)
        if len(self.guests) > ENDED_KEPT:
            old = self.guests.popleft()
            self.folded += 1
            self.folded_killed += old.signal is not None
            self.folded_instructions += old.instructions

    def records(self) -> list[ProcessRecord]:
        return [*self.host, *self.guests]

"""The records of a migration: the source's (`Migration`, published to the host by
kernel/host.py) and the destination's (`Incoming`, kept by the kernel only); the protocol's
defaults. See docs/design.md, "Containers and migration".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shoal.kernel.container import Container, Thread
    from shoal.kernel.image import Shape
    from shoal.kernel.kernel import Kernel


EBUSY, EIO = 16, 5
CHECKPOINT = -1  # a "migration" whose image goes to a file instead of another cluster
ACTIVE = ("freezing", "reserving", "copying", "committed", "precopy", "postcopy")
METHODS = ("stopcopy", "precopy", "postcopy", "hybrid")
# Live migration defaults (protocol choices, not hardware figures). The downtime limit is a
# tenth of a stop-and-copy of 1 MiB on mppa256 (~865 us): a process shoal moves is MiBs where
# QEMU's VMs are GiBs (its default limit is 300 ms). Rounds and bytes: Xen's caps (30 rounds,
# 3x the memory). Post-copy pushes go PUSH_BATCH pages a packet, PUSH_WINDOW packets in
# flight: enough to keep the link and the receiving kernel core busy (one packet's handling
# overlaps the next's transfer), few enough that a fetched page waits behind 16 at most.
DOWNTIME_LIMIT_US = 100
MAX_ROUNDS = 30
MAX_BYTES_FACTOR = 3


@dataclass(eq=False)
class Migration:
    """The record of one migration, kept by the source kernel."""

    mid: int
    pid: int
    src: int
    dst: int
    requested: int  # simulated cycle of the request
    by: str  # "guest", "host", "policy:NAME" (shoal/policy.py)
    state: str = "freezing"  # freezing, reserving, copying, committed; done, failed, checkpointed
    frozen: int | None = None
    thawed: int | None = None
    ended: int | None = None
    bytes: int = 0
    pages: int = 0
    tables: int = 0  # second-level page tables rebuilt at the destination
    threads: int = 0
    reason: str = ""
    why: str = ""  # a policy's move: why it asked (shoal/policy.py)
    resent: int = 0  # packets sent again (lost, or not answered), by either side
    wall_seconds: float = 0.0  # host time spent on it (never mixed with simulated time)
    caller: Thread | None = field(default=None, repr=False)
    image: bytes = field(default=b"", repr=False)
    shape: Shape | None = field(default=None, repr=False)
    image_ready: int = 0  # when the image's first DMA operation may leave (build_lead)
    proc: Container | None = field(default=None, repr=False)  # the copy retired at the commit
    sends: dict[str, int] = field(default_factory=dict, repr=False)
    watchdog: int = field(default=0, repr=False)  # which of its timers counts (later ones win)
    stop: bool = False  # checkpoint only: end the process once its image is taken
    # Live migration (see the module's docstring). Figures:
    method: str = "stopcopy"
    rounds: int = 0  # pre-copy rounds sent
    switch: str = ""  # why pre-copy stopped its rounds
    pages_sent: int = 0  # page transfers, rounds, image and post-copy together
    pages_resent: int = 0  # pages sent more than once (dirtied again during pre-copy)
    bytes_sent: int = 0  # bytes of pages and images sent
    remote_faults: int = 0  # post-copy: touches of pages not yet at the destination
    page_wait: int = 0  # post-copy: cycles threads waited for pages, all threads together
    postcopy_pages: int = 0  # pages that followed the thaw
    limit: int = 0  # downtime limit (cycles), and the pre-copy caps
    max_rounds: int = MAX_ROUNDS
    max_bytes: int = 0
    # The source's working state.
    accepted: bool = field(default=False, repr=False)  # D holds a reservation (pre-copy)
    stale: set[int] = field(default_factory=set, repr=False)  # pages D lacks, or has old
    at_dst: set[int] = field(default_factory=set, repr=False)  # pages D has a copy of
    per_page: dict[int, int] = field(default_factory=dict, repr=False)  # sends of each page
    round_sent: int = field(default=0, repr=False)
    round_bytes: int = field(default=0, repr=False)
    remaining: list[int] = field(default_factory=list, repr=False)  # post-copy, in address order
    in_flight: set[int] = field(default_factory=set, repr=False)
    focus: int = field(default=0, repr=False)  # the latest fault: pushes go nearest first
    pushes: int = field(default=0, repr=False)  # push packets in flight
    pushed_all: bool = field(default=False, repr=False)  # D said every page is in

    @property
    def ok(self) -> bool:
        return self.state in ("committed", "done", "postcopy")

    @property
    def downtime(self) -> int | None:
        """Simulated cycles from freeze to thaw at the destination."""
        return None if self.thawed is None or self.frozen is None else self.thawed - self.frozen

    @property
    def total(self) -> int | None:
        """Simulated cycles from request to the end of the protocol."""
        return None if self.ended is None else self.ended - self.requested


@dataclass(eq=False)
class Incoming:
    """The destination's side of one migration (kept after it ends, to answer late packets)."""

    mid: int
    pid: int
    src: int
    nbytes: int  # of the image announced
    frames: int = 0  # reserved and not yet used
    state: str = "reserved"  # reserved, rebuilt, running; refused, dropped
    proc: Container | None = None
    thawed: int | None = None
    reason: str = ""
    wall: float = 0.0
    sends: dict[str, int] = field(default_factory=dict)  # packets sent, by kind
    lost: dict[str, int] = field(default_factory=dict)  # of which the NoC reported lost
    watchdog: int = 0  # which of its timers counts (later ones win)
    round: int = 0  # pre-copy: the last round staged
    staged: dict[int, bytes] = field(default_factory=dict)  # pre-copy pages held for the image
    remote: bool = False  # post-copy: pages follow the thaw
    waiting: dict[int, list[Thread]] = field(default_factory=dict)  # page -> threads
    requested: set[int] = field(default_factory=set)  # pages asked for
    faults: int = 0
    page_wait: int = 0
    final_sent: bool = False


def find_record(k: Kernel, mid: int) -> Migration | None:
    """This kernel's record of migration `mid` (under way, or ended)."""
    m = k.migrations.get(mid)
    if m is not None:
        return m
    return next((m for m in reversed(k.migration_log) if m.mid == mid), None)


def count_send(m: Migration, va: int) -> None:
    n = m.per_page.get(va, 0) + 1
    m.per_page[va] = n
    if n == 2:
        m.pages_resent += 1

"""The records of a migration and their states: the source's record (`Migration`, what the
host reads: Chip.migrations, Process.migrations, traces, the CLI), the source's working state
beside it (`Outgoing`), the destination's (`Incoming`, the kernel's only); the protocol's
defaults. See docs/design.md, "Containers and migration".
"""

from __future__ import annotations

from dataclasses import field, fields
from enum import StrEnum
from typing import TYPE_CHECKING

from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.container import CacheWindow, Container, Thread
    from shoal.kernel.image import Shape
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


class MigState(StrEnum):
    """A migration's state at the source; published as these strings (`m.state == "done"`)."""

    RESERVING = "reserving"  # asked the destination for room (live methods: before the freeze)
    PRECOPY = "precopy"  # pre-copy rounds, the process running
    FREEZING = "freezing"  # waiting for its threads to stop
    COPYING = "copying"  # the image on its way
    COMMITTED = "committed"  # the destination has it; waiting for the thaw's word
    POSTCOPY = "postcopy"  # running at the destination, its pages following
    DONE = "done"
    FAILED = "failed"  # went on at the source
    CHECKPOINTED = "checkpointed"  # a checkpoint's image is taken


class InState(StrEnum):
    """A migration's state at the destination."""

    RESERVED = "reserved"  # frames held for it (a lease)
    REBUILT = "rebuilt"  # the copy is here, frozen, until the source's commit
    RUNNING = "running"  # thawed
    REFUSED = "refused"
    DROPPED = "dropped"  # the reservation or the copy given back


class Method(StrEnum):
    """How a migration moves the pages (the package's docstring; precopy.py, postcopy.py)."""

    STOPCOPY = "stopcopy"
    PRECOPY = "precopy"
    POSTCOPY = "postcopy"
    HYBRID = "hybrid"


CHECKPOINT = -1  # a "migration" whose image goes to a file instead of another cluster
ACTIVE = (MigState.FREEZING, MigState.RESERVING, MigState.COPYING, MigState.COMMITTED, MigState.PRECOPY,
          MigState.POSTCOPY)
METHODS = tuple(Method)  # shoal_migrate_by's method n is METHODS[n - 1]
# Live migration defaults (protocol choices, not hardware figures). The downtime limit is a
# tenth of a stop-and-copy of 1 MiB on mppa256 (~865 us): a process shoal moves is MiBs where
# QEMU's VMs are GiBs (its default limit is 300 ms). Rounds and bytes: Xen's caps (30 rounds,
# 3x the memory).
DOWNTIME_LIMIT_US = 100
MAX_ROUNDS = 30
MAX_BYTES_FACTOR = 3


@dataclass(eq=False)
class Migration:
    """The record of one migration, as the host sees it (kernel/host.py copies it out of the
    source's Outgoing). Flat on purpose, 35 figures: each is read as `m.<name>` by users and
    tests, and the trace takes every public one as an argument of the migration's slice."""

    mid: int
    pid: int
    src: int
    dst: int
    requested: int  # simulated cycle of the request
    by: str  # "guest", "host", "policy:NAME" (shoal/daemons/policy.py)
    state: MigState = MigState.FREEZING
    frozen: int | None = None
    thawed: int | None = None
    ended: int | None = None
    bytes: int = 0
    pages: int = 0
    tables: int = 0  # second-level page tables rebuilt at the destination
    threads: int = 0
    reason: str = ""
    why: str = ""  # a policy's move: why it asked (shoal/daemons/policies.py)
    resent: int = 0  # packets sent again (lost, or not answered), by either side
    wall_seconds: float = 0.0  # host time spent on it (never mixed with simulated time)
    image_ready: int = 0  # when the image's first DMA operation may leave (build_lead)
    sends: dict[str, int] = field(default_factory=dict, repr=False)  # packets sent, by kind
    stop: bool = False  # checkpoint only: end the process once its image is taken
    # Live migration (precopy.py, postcopy.py). Figures:
    method: Method = Method.STOPCOPY
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
    # The L1 model (None when it is off): the moved process's stall cycles, all threads, in
    # the first CACHE_WINDOW cycles after the thaw (its caches at the destination start cold)
    # and in the CACHE_WINDOW cycles after those (warm again): the refill's cost is about the
    # difference. Measured at the destination (host.py cache_windows; joined by Chip.migrations);
    # cut short if the process ends or moves on within them.
    stall_after: int | None = None
    stall_next: int | None = None

    @property
    def ok(self) -> bool:
        return self.state in (MigState.COMMITTED, MigState.DONE, MigState.POSTCOPY)

    @property
    def downtime(self) -> int | None:
        """Simulated cycles from freeze to thaw at the destination."""
        return None if self.thawed is None or self.frozen is None else self.thawed - self.frozen

    @property
    def total(self) -> int | None:
        """Simulated cycles from request to the end of the protocol."""
        return None if self.ended is None else self.ended - self.requested


@dataclass(eq=False)
class Outgoing(Migration):
    """The source kernel's migration: the record, and the working state only the kernel sees."""

    image: bytes = field(default=b"", repr=False)
    shape: Shape | None = field(default=None, repr=False)
    proc: Container | None = field(default=None, repr=False)  # the copy retired at the commit
    watchdog: int = field(default=0, repr=False)  # which of its timers counts (later ones win)
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

    def settle(self) -> None:
        """It has ended: its record stays (Chip.migrations), its working state goes (the
        pages' sets, the image; a process moved to and fro would keep one each)."""
        self.image, self.shape = b"", None
        self.stale, self.at_dst, self.per_page = set(), set(), {}
        self.remaining, self.in_flight = [], set()

    def record(self) -> Migration:
        """A copy of the record alone, for the host."""
        got = Migration(**{f.name: getattr(self, f.name) for f in fields(Migration)})
        got.sends = dict(self.sends)
        return got


@dataclass(eq=False, slots=True)
class PageWaits:
    """Post-copy at the destination (postcopy.py): the pages its threads wait for."""

    waiting: dict[int, list[Thread]] = field(default_factory=dict)  # page -> threads
    requested: set[int] = field(default_factory=set)  # pages asked for
    faults: int = 0
    page_wait: int = 0  # cycles its threads waited, all together
    final_sent: bool = False  # the source was told every page is in


@dataclass(eq=False)
class Incoming:
    """The destination's side of one migration (kept after it ends, to answer late packets):
    its protocol state, the pre-copy pages it stages, the post-copy pages it waits for."""

    mid: int
    pid: int
    src: int
    nbytes: int  # of the image announced
    frames: int = 0  # reserved and not yet used
    state: InState = InState.RESERVED
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
    postcopy: PageWaits = field(default_factory=PageWaits)
    window: CacheWindow | None = None  # the process's stall after the thaw (Migration.stall_after)


@dataclass(eq=False)
class Bookkeeping:
    """A kernel's migrations (`Kernel.migration`): records of the moves it started (by mid,
    and all in order), packets held for its frozen processes, forwarding pointers for
    processes that left (pid -> cluster), frames promised to incoming ones, their records."""

    outgoing: dict[int, Outgoing] = field(default_factory=dict)
    log: list[Outgoing] = field(default_factory=list)
    ids: int = 0  # the last migration id it gave (the cluster's number above it)
    held: dict[int, list[Packet]] = field(default_factory=dict)
    moved: dict[int, int] = field(default_factory=dict)
    reserved_frames: int = 0
    incoming: dict[int, Incoming] = field(default_factory=dict)
    default_method: str = "stopcopy"  # of shoal_migrate, which names none (Chip's `migration`)


def find_record(k: Kernel, mid: int) -> Outgoing | None:
    """This kernel's record of migration `mid` (under way, or ended)."""
    m = k.migration.outgoing.get(mid)
    if m is not None:
        return m
    return next((m for m in reversed(k.migration.log) if m.mid == mid), None)


def count_send(m: Outgoing, va: int) -> None:
    """One more send of page `va`; the second counts it as resent."""
    n = m.per_page.get(va, 0) + 1
    m.per_page[va] = n
    if n == 2:
        m.pages_resent += 1

"""The three migration experiments of the Nanvix work, on shoal's chip.

1. tour: a multi-threaded process migrates itself around every compute cluster, its data
   checked at the end against a value computed here.
2. downtime versus threads and versus pages in use (a sleeping process, moved from outside).
3. contention: n processes on clusters 0..n-1 all move to clusters 8..8+n-1 at once.
4. live migration: stop-and-copy, pre-copy, post-copy and hybrid on a 1 MiB process whose hot
   set (pages rewritten all along) grows from none to all of it.

Every figure is simulated time from the timing model; host wall time is reported apart.
Reference (the seed's prototype on the MPPA-256 at 400 MHz, nicolasvanz/TCC-experiments):
downtime 19.6 ms with 1 thread and no page, about +1.05 ms per thread and +0.52 ms per page,
and about 113 ms for each of 1 to 8 simultaneous migrations.
"""

from __future__ import annotations

from pathlib import Path

from shoal.api import Chip
from shoal.errors import ShoalError
from shoal.kernel.migrate import Migration
from shoal.record import dataclass
from shoal.spec import ChipSpec

PROGRAMS = Path(__file__).parent / "programs"
SEED_BASE_MS, SEED_THREAD_MS, SEED_PAGE_MS = 19.6, 1.05, 0.52
MIGRATE_AT = 24_000_000  # 60 ms at 400 MHz: the process has touched its pages and sleeps
HOLD_MS = "100"  # how long the process sleeps after touching its pages
# The experiments' largest process (the tour: 64 pages of data, 5 stacks, its tables) takes
# about 100 frames; with room for the allocator's own, a cluster needs this many.
MIN_FRAMES = 128

ChipRef = ChipSpec | str


def _spec(chip: ChipRef) -> ChipSpec:
    return chip if isinstance(chip, ChipSpec) else ChipSpec.load(chip)


def check_chip(spec: ChipSpec, what: str) -> None:
    """Refuse, in one sentence, a chip on which the experiments cannot run."""
    if spec.compute_clusters < 2:
        raise ShoalError(f"{what} migrates between clusters: chip {spec.name} has only "
                         f"{spec.compute_clusters} compute cluster (give a mesh of at least 2)")
    if spec.user_frames < MIN_FRAMES:
        raise ShoalError(f"{what} needs {MIN_FRAMES} user frames per cluster: chip {spec.name} has "
                         f"{spec.user_frames} (memory_per_cluster - kernel_reserved)")


def seed_downtime_ms(threads: int, pages: int) -> float:
    """The prototype's downtime, by its own linear fit (for comparison only)."""
    return SEED_BASE_MS + SEED_THREAD_MS * (threads - 1) + SEED_PAGE_MS * pages


@dataclass
class Point:
    threads: int
    pages: int  # pages the process touched itself (the image also carries stacks, tables)
    image_pages: int
    bytes: int
    downtime: int  # cycles, simulated
    limit: int  # cycles: bytes / link bandwidth + path latency (the NoC's physical limit)
    total: int
    wall_seconds: float  # host

    def as_row(self, spec: ChipSpec) -> dict:
        us = 1e6 / spec.cluster.freq_hz
        return {"threads": self.threads, "pages": self.pages, "image_pages": self.image_pages,
                "bytes": self.bytes, "downtime_us": round(self.downtime * us, 1),
                "noc_limit_us": round(self.limit * us, 1),
                "ratio_to_limit": round(self.downtime / self.limit, 3),
                "total_us": round(self.total * us, 1),
                "seed_downtime_ms": round(seed_downtime_ms(self.threads, self.pages), 2),
                "host_wall_ms": round(self.wall_seconds * 1e3, 2)}


def _limit(chip: Chip, m: Migration) -> int:
    s = chip.spec
    return -(-m.bytes // s.noc.noc_link_bytes_per_cycle) + chip.hops(m.src, m.dst) * s.noc.noc_hop_cycles


def downtime_point(pages: int, threads: int, chip_name: ChipRef = "mppa256", src: int = 0,
                   dst: int = 1) -> Point:
    chip = Chip(_spec(chip_name))
    p = chip.spawn(PROGRAMS / "hold.c", ["hold", str(pages), str(threads), HOLD_MS], cluster=src)
    chip.schedule_migration(p.pid, dst, MIGRATE_AT)
    chip.run()
    m = p.migrations[0]
    if not m.ok or p.returncode != 0 or m.downtime is None or m.total is None:
        why = m.reason or p.message
        raise ShoalError(f"migration with {pages} pages and {threads} threads failed: {why}")
    return Point(threads, pages, m.pages, m.bytes, m.downtime, _limit(chip, m), m.total, m.wall_seconds)


def contention(n: int, pages: int, chip_name: ChipRef = "mppa256") -> list[Point]:
    """n processes on clusters 0..n-1 all migrate to clusters half..half+n-1 at the same time."""
    chip = Chip(_spec(chip_name))
    half = chip.spec.compute_clusters // 2
    procs = [chip.spawn(PROGRAMS / "hold.c", ["hold", str(pages), "1", HOLD_MS], cluster=i) for i in range(n)]
    for i, p in enumerate(procs):
        chip.schedule_migration(p.pid, half + i, MIGRATE_AT)
    chip.run()
    out = []
    for p in procs:
        m = p.migrations[0]
        if not m.ok or p.returncode != 0 or m.downtime is None or m.total is None:
            raise ShoalError(f"simultaneous migration failed: {m.reason or p.message}")
        out.append(Point(1, pages, m.pages, m.bytes, m.downtime, _limit(chip, m), m.total, m.wall_seconds))
    return out


def tour_checksum(pages: int, hops: int) -> int:
    data = bytearray((i * 7 + (i >> 12)) & 0xFF for i in range(pages * 4096))
    bump = sum(h + 1 for h in range(hops + 1)) & 0xFF
    for i in range(0, pages * 4096, 64):
        data[i] = (data[i] + bump) & 0xFF
    s = 0
    for b in data:
        s = (s * 31 + b) & (2**64 - 1)
    return s


def tour(pages: int = 64, threads: int = 4, chip_name: ChipRef = "mppa256",
         trace: str | Path | None = None) -> tuple[Chip, object, bool]:
    chip = Chip(_spec(chip_name), trace=trace)
    p = chip.spawn(PROGRAMS / "tour.c", ["tour", str(pages), str(threads)])
    chip.run()
    hops = chip.spec.compute_clusters
    want = f"tour {hops} hops of {hops}, back on cluster 0, checksum {tour_checksum(pages, hops)}\n"
    return chip, p, p.stdout.decode(errors="replace") == want and p.returncode == 0


# --- live migration: the four methods side by side (the live-migration issue) -----------------
METHODS = ("stopcopy", "precopy", "postcopy", "hybrid")
LIVE_PAGES = 256  # 1 MiB of data (less on a chip whose clusters hold less: live_pages)
LIVE_AT = 3_000_000  # 7.5 ms at 400 MHz: the data is written, the hot set is being rewritten
LIVE_WORK = 8_000_000  # instructions of rounds after the start (about 20 ms alone): past any move


def live_pages(spec: ChipSpec) -> int:
    """The data of the live-migration process: 1 MiB, or what fits beside its stack and tables."""
    return max(1, min(LIVE_PAGES, spec.user_frames - 96))


def live_rounds(hot: int) -> int:
    """Rounds of hotset.c that keep it busy for about LIVE_WORK instructions: a round rewrites
    a quarter of each hot page's words (~1100 instructions a page) and thinks ~12000."""
    return max(4, LIVE_WORK // (hot * 1100 + 12000))


@dataclass
class LivePoint:
    method: str
    hot: int  # pages of the hot set, rewritten all along
    ok: bool  # the process's output is the one it gives when not moved
    m: Migration
    slowdown: int  # cycles its run took longer than unmoved (simulated)
    limit: int  # cycles its pages alone take on a NoC link (the physical limit)
    extra_stall: int = 0  # cache stall cycles more than unmoved (the L1 model; 0 without it)

    def as_row(self, spec: ChipSpec) -> dict:
        us = 1e6 / spec.cluster.freq_hz
        m = self.m
        return {"method": self.method, "hot_pages": self.hot, "ok": self.ok,
                "downtime_us": round((m.downtime or 0) * us, 1),
                "total_us": round((m.total or 0) * us, 1), "noc_limit_us": round(self.limit * us, 1),
                "bytes_sent": m.bytes_sent, "pages": m.pages, "pages_sent": m.pages_sent,
                "pages_resent": m.pages_resent, "rounds": m.rounds, "postcopy_pages": m.postcopy_pages,
                "remote_faults": m.remote_faults, "page_wait_us": round(m.page_wait * us, 1),
                "slowdown_us": round(self.slowdown * us, 1),
                "stall_after_move": "" if m.stall_after is None else m.stall_after,
                "extra_stall_cycles": self.extra_stall, "switch": m.switch,
                "host_wall_ms": round(m.wall_seconds * 1e3, 2)}


def _hotset(chip: Chip, hot: int) -> object:
    pages = live_pages(chip.spec)
    return chip.spawn(PROGRAMS / "hotset.c", ["hotset", str(pages), str(hot), str(live_rounds(hot))])


def live_points(hot: int, chip_name: ChipRef = "mppa256", methods: tuple[str, ...] = METHODS,
                dst: int = 1) -> list[LivePoint]:
    """hotset.c (1 MiB, `hot` pages rewritten all along) moved at LIVE_AT by each method."""
    spec = _spec(chip_name)
    hot = min(hot, live_pages(spec))
    alone = Chip(spec)
    ref = _hotset(alone, hot)
    alone.run()
    if ref.returncode != 0 or ref.record.end_cycle is None:
        raise ShoalError(f"hotset with {hot} hot pages failed: {ref.message}")
    out = []
    for method in methods:
        chip = Chip(spec)
        p = _hotset(chip, hot)
        chip.schedule_migration(p.pid, dst, LIVE_AT, method)
        chip.run()
        m = p.migrations[0]
        if not m.ok or m.downtime is None or m.total is None:
            raise ShoalError(f"{method} migration with {hot} hot pages failed: {m.reason or p.message}")
        s = chip.spec
        limit = (-(-m.pages * s.cluster.page_size // s.noc.noc_link_bytes_per_cycle)
                 + chip.hops(m.src, m.dst) * s.noc.noc_hop_cycles)
        ok = p.stdout == ref.stdout and p.returncode == 0
        extra = (p.record.caches or (0,) * 7)[6] - (ref.record.caches or (0,) * 7)[6]
        slow = (p.record.end_cycle or 0) - ref.record.end_cycle
        out.append(LivePoint(method, hot, ok, m, slow, limit, extra))
    return out

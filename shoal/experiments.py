"""The three migration experiments of the Nanvix work, on shoal's chip.

1. tour: a multi-threaded process migrates itself around every compute cluster, its data
   checked at the end against a value computed here.
2. downtime versus threads and versus pages in use (a sleeping process, moved from outside).
3. contention: n processes on clusters 0..n-1 all move to clusters 8..8+n-1 at once.

Every figure is simulated time from the timing model; host wall time is reported apart.
Reference (the seed's prototype on the MPPA-256 at 400 MHz, nicolasvanz/TCC-experiments):
downtime 19.6 ms with 1 thread and no page, about +1.05 ms per thread and +0.52 ms per page,
and about 113 ms for each of 1 to 8 simultaneous migrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shoal.engine import Chip
from shoal.errors import ShoalError
from shoal.kernel.migration import Migration
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
        us = 1e6 / spec.freq_hz
        return {"threads": self.threads, "pages": self.pages, "image_pages": self.image_pages,
                "bytes": self.bytes, "downtime_us": round(self.downtime * us, 1),
                "noc_limit_us": round(self.limit * us, 1),
                "ratio_to_limit": round(self.downtime / self.limit, 3),
                "total_us": round(self.total * us, 1),
                "seed_downtime_ms": round(seed_downtime_ms(self.threads, self.pages), 2),
                "host_wall_ms": round(self.wall_seconds * 1e3, 2)}


def _limit(chip: Chip, m: Migration) -> int:
    s = chip.spec
    return -(-m.bytes // s.noc_link_bytes_per_cycle) + chip.hops(m.src, m.dst) * s.noc_hop_cycles


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

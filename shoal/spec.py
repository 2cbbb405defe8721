"""ChipSpec: every parameter of an emulated chip, as data, in one place, by component.

Over 500 lines because the presets' values carry their sources beside them (docs/parameters.md
is generated from these comments). Parameters that model the real Kalray MPPA-256 carry their
public source; parameters that are modelling choices of shoal (not measured on hardware) say so.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from shoal.errors import ShoalError
from shoal.record import dataclass

KIB = 1024
MIB = 1024 * 1024


# The parameters by component, one small record each (as gem5 has a SimObject per component).
# A field keeps its name in its record, so a chip file's flat keys map to one record each
# (GROUPS) and `spec.<group>.<key>` reads it.


@dataclass(frozen=True)
class NocSpec:
    """The mesh of compute clusters, the I/O clusters on its edges and the network between them."""

    # Compute clusters form a mesh_width x mesh_height grid.
    mesh_width: int
    mesh_height: int
    io_clusters: int
    # Network-on-chip (see platform/noc.py for the model and its derivation).
    noc_link_bytes_per_cycle: int
    noc_hop_cycles: int
    noc_setup_cycles: int


@dataclass(frozen=True)
class ClusterSpec:
    """A compute cluster: its harts, clock, local memory and that memory's banks."""

    # User harts per compute cluster; the kernel core is extra and services system calls.
    cores_per_cluster: int
    kernel_cores: int
    memory_per_cluster: int
    # Local memory the microkernel keeps for itself (code, data, stacks); the rest is frames.
    kernel_reserved: int
    page_size: int
    freq_hz: int
    # The cluster's memory banks: how many, how addresses map to them, a refill's occupancy.
    memory_banks: int
    bank_mapping: str
    bank_busy_cycles: int


@dataclass(frozen=True)
class CacheSpec:
    """Each core's L1 caches (the model in platform/cpu.py)."""

    icache_bytes: int
    dcache_bytes: int
    cache_line: int
    # The L1 cache model (platform/cpu.py): on or off, shape, policy and miss costs.
    caches: bool
    icache_ways: int
    dcache_ways: int
    cache_replacement: str
    dcache_write_allocate: bool
    icache_miss_cycles: int
    dcache_miss_cycles: int

    def sets(self, kind: str) -> int:
        """Sets of the "icache" or the "dcache"."""
        return getattr(self, f"{kind}_bytes") // (self.cache_line * getattr(self, f"{kind}_ways"))


@dataclass(frozen=True)
class KernelSpec:
    """How the microkernel lays out its own state and picks frames."""

    # The kernel's own memory traffic (kernel/kmem.py): how its per-thread state is laid out.
    kernel_layout: str
    kernel_invalidations: bool
    # How the frame allocator picks a free frame (kernel/memory.py): "lowest" first, or
    # "scattered" (a fixed permutation: consecutive allocations land far apart).
    frame_placement: str


@dataclass(frozen=True)
class CostSpec:
    """What the kernel's work costs."""

    # Timing model, in simulated cycles of the cluster clock.
    cpi: int
    syscall_cycles: int
    copy_cycles_per_byte: float
    page_fault_cycles: int
    context_switch_cycles: int
    pte_install_cycles: int


@dataclass(frozen=True)
class IkcSpec:
    """Inter-kernel communication: mailboxes, portals and what receiving and serving cost."""

    # IKC (Nanvix's inter-kernel communication).
    mailbox_payload: int
    mailbox_header: int
    mailbox_slots: int
    portal_chunk: int
    portal_header: int
    ikc_recv_cycles: int
    service_cycles: int


@dataclass(frozen=True)
class EngineSpec:
    """The grains at which the emulation interleaves harts and clusters."""

    # The harts of a cluster share one CPU emulator and interleave at this grain (a model
    # choice: it bounds how far one hart's thread runs ahead of another's).
    quantum_cycles: int
    # Engine: the most simulated time one cluster advances before the engine looks at the
    # others again. It changes host speed only, never a result.
    window_cycles: int


@dataclass(frozen=True)
class RmemSpec:
    """Remote memory on the I/O cluster and how a compute cluster evicts to it."""

    # Remote memory (kernel/rmem.py): bytes of the I/O cluster's memory that keep pages
    # evicted from compute clusters, and how a cluster picks the pages to evict.
    io_memory: int
    page_replacement: str


@dataclass(frozen=True)
class LimitSpec:
    """Per-process limits and the daemons' capacities."""

    # Per-process limits (Linux defaults that musl expects).
    stack_limit: int
    # The file server and the IPC daemon on I/O cluster 0 (shoal/daemons/files.py, shoal/daemons/ipc.py).
    fs_max_files: int
    fs_max_file_bytes: int
    fs_total_bytes: int
    mq_max_messages: int
    mq_max_message_bytes: int
    ipc_max_names: int


@dataclass(frozen=True, init=False)
class ChipSpec:
    """A chip's parameters by component, each with its source (docs/parameters.md). Made from
    records, or from parameters by their flat names (a chip file's keys), or both: flat names
    change what the records give, so `dataclasses.replace(spec, cpi=2)` works as it always has."""

    name: str
    noc: NocSpec
    cluster: ClusterSpec
    cache: CacheSpec
    kernel: KernelSpec
    costs: CostSpec
    ikc: IkcSpec
    engine: EngineSpec
    rmem: RmemSpec
    limits: LimitSpec

    def __init__(self, name: str, noc: NocSpec | None = None, cluster: ClusterSpec | None = None,
                 cache: CacheSpec | None = None, kernel: KernelSpec | None = None,
                 costs: CostSpec | None = None, ikc: IkcSpec | None = None, engine: EngineSpec | None = None,
                 rmem: RmemSpec | None = None, limits: LimitSpec | None = None, **params: object) -> None:
        given = {"noc": noc, "cluster": cluster, "cache": cache, "kernel": kernel, "costs": costs,
                 "ikc": ikc, "engine": engine, "rmem": rmem, "limits": limits}
        parts: dict[str, dict[str, object]] = {g: {} for g in GROUPS}
        for key, value in params.items():
            if key not in GROUP_OF:
                raise TypeError(f"ChipSpec has no parameter {key!r}")
            parts[GROUP_OF[key]][key] = value
        object.__setattr__(self, "name", name)
        for group, cls in GROUPS.items():
            rec = given[group]
            if rec is None:
                rec = cls(**parts[group])  # (every field of the record given by name)
            elif parts[group]:
                rec = dataclasses.replace(rec, **parts[group])
            object.__setattr__(self, group, rec)

    def replace(self, **changes: object) -> ChipSpec:
        """This spec with some parameters changed, by their flat names (`name` too)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def param(self, key: str) -> object:
        """A parameter by its flat name (a chip file's key)."""
        return self.name if key == "name" else getattr(getattr(self, GROUP_OF[key]), key)

    @property
    def compute_clusters(self) -> int:
        return self.noc.mesh_width * self.noc.mesh_height

    @property
    def user_frames(self) -> int:
        c = self.cluster
        return (c.memory_per_cluster - c.kernel_reserved) // c.page_size

    def cycles_to_seconds(self, cycles: int) -> float:
        return cycles / self.cluster.freq_hz

    @staticmethod
    def preset(name: str) -> ChipSpec:
        try:
            return PRESETS[name]
        except KeyError:
            known = ", ".join(sorted(PRESETS))
            raise ShoalError(f"unknown chip preset {_short(repr(name))} (known: {known})") from None

    @staticmethod
    def load(ref: str | Path) -> ChipSpec:
        """A preset name, or a TOML file whose keys override a base preset (`base = "tiny"`)."""
        ref = str(ref)
        if ref in PRESETS:
            return PRESETS[ref]
        path = Path(ref)
        if not path.suffix == ".toml":
            known = ", ".join(sorted(PRESETS))
            raise ShoalError(f"unknown chip '{ref}': give a preset ({known}) or a .toml file")
        import tomllib  # (only for chip files: a preset needs no TOML parser)

        from shoal.hostfile import read_file
        if not path.exists():
            raise ShoalError(f"chip file not found: {path}")
        raw = read_file(path, f"chip file {path}", CHIP_FILE_MAX)  # (a FIFO or /dev/zero: one line)
        try:
            data = tomllib.loads(raw.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ShoalError(f"chip file {path}: bad TOML: {' '.join(str(e).split())}") from None
        return ChipSpec.from_dict(data, f"file {path}")

    @staticmethod
    def from_dict(data: dict, where: str) -> ChipSpec:
        """A spec from a chip file's keys (a `[chip]` table or top-level keys), checked. A key
        may also sit in a table named after its record (`[noc]` `mesh_width = 4`)."""
        if "chip" in data:
            rest = sorted(k for k in data if k != "chip")
            if rest:  # (they were dropped without a word: `base` among them ran another chip)
                raise ShoalError(f"chip {where}: key '{_short(rest[0])}' outside the [chip] table")
            data = data["chip"]
            if not isinstance(data, dict):
                raise ShoalError(f"chip {where}: 'chip' must be a table of keys ([chip])")
        data = dict(data)
        for group in GROUPS:
            table = data.pop(group, None)
            if table is None:
                continue
            if not isinstance(table, dict):
                raise ShoalError(f"chip {where}: '{group}' must be a table of {group}'s keys")
            for key, value in table.items():
                if GROUP_OF.get(key) != group:
                    raise ShoalError(f"chip {where}: unknown key '{group}.{_short(key)}'")
                if key in data:
                    raise ShoalError(f"chip {where}: '{key}' given twice")
                data[key] = value
        base_name = data.pop("base", "mppa256")
        if not isinstance(base_name, str):
            raise ShoalError(f"chip {where}: 'base' must be a preset name (a string)")
        base = ChipSpec.preset(base_name)
        for key, value in list(data.items()):
            if key not in _TYPES:
                raise ShoalError(f"chip {where}: unknown key '{_short(key)}'")
            want = _TYPES[key]
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                data[key] = value = float(value)
            if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
                raise ShoalError(f"chip {where}: '{key}' must be {_KIND[want]}, not {_describe(value)}")
        spec = base.replace(**data)
        spec.validate(where)
        return spec

    def validate(self, where: str) -> None:
        """Every field in its range (BOUNDS), then what the fields must satisfy together.
        A chip that passes boots, runs and migrates: no division by zero, no time running
        backwards, no queue that can never take a message, no host that runs out of memory."""
        for key, (lo, hi, why) in BOUNDS.items():
            v = self.param(key)
            if isinstance(v, float) and not math.isfinite(v):
                raise ShoalError(f"chip {where}: '{key}' must be a finite number, not {v}")
            if not lo <= v <= hi:
                raise ShoalError(f"chip {where}: '{key}' = {_short(repr(v))} is out of range "
                                 f"{_num(lo)}..{_num(hi)} ({why})")
        if not self.name or not self.name.isprintable() or len(self.name) > 64:
            raise ShoalError(f"chip {where}: 'name' must be 1 to 64 printable characters")
        for key, allowed in CHOICES.items():
            if self.param(key) not in allowed:
                raise ShoalError(f"chip {where}: '{key}' = {_short(repr(self.param(key)))} "
                                 f"must be one of {', '.join(allowed)}")
        c, noc = self.cluster, self.noc
        row = c.memory_per_cluster // max(1, c.memory_banks)
        if c.memory_banks and c.bank_mapping == "contiguous" and (
                c.memory_per_cluster % c.memory_banks or row & (row - 1)):
            raise ShoalError(f"chip {where}: memory_per_cluster / memory_banks must be a power of "
                             "two for a contiguous bank mapping")
        if self.cache.caches:
            self._check_caches(where)
        checks = [
            (self.compute_clusters <= MAX_CLUSTERS,
             f"mesh {noc.mesh_width}x{noc.mesh_height} has {self.compute_clusters} compute clusters; "
             f"at most {MAX_CLUSTERS} (each costs the host a CPU emulator and its memory)"),
            (self.compute_clusters * c.memory_per_cluster <= MAX_CHIP_MEMORY,
             f"{self.compute_clusters} clusters x memory_per_cluster is more than "
             f"{MAX_CHIP_MEMORY >> 30} GiB of host memory"),
            (c.memory_per_cluster % c.page_size == 0, "memory_per_cluster must be whole pages"),
            (c.kernel_reserved < c.memory_per_cluster, "kernel_reserved must leave user memory"),
            (self.user_frames >= 8, "too little user memory (need 8 frames)"),
            (self.costs.cpi * 4 <= self.engine.quantum_cycles,
             "cpi must be at most a quarter of quantum_cycles"),
            (self.ikc.mailbox_payload < self.ikc.portal_chunk,
             "mailbox_payload must be below portal_chunk (the NoC tells bulk transfers by their chunk)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ShoalError(f"chip {where}: {msg}")


    def _check_caches(self, where: str) -> None:
        line = self.cache.cache_line
        if line & (line - 1):
            raise ShoalError(f"chip {where}: 'cache_line' = {line} must be a power of two")
        for kind in ("icache", "dcache"):
            size, ways = getattr(self.cache, f"{kind}_bytes"), getattr(self.cache, f"{kind}_ways")
            sets = size // (line * ways) if line * ways else 0
            if sets < 1 or sets * line * ways != size or sets & (sets - 1):
                raise ShoalError(f"chip {where}: '{kind}_bytes' = {size} must be a power of two "
                                 f"number of sets of {ways} ways x {line} B lines")
            if sets * ways > CACHE_MAX_LINES:
                raise ShoalError(f"chip {where}: the {kind} has {sets * ways} lines; the model "
                                 f"holds at most {CACHE_MAX_LINES} (a larger cache_line helps)")


# Each record by its attribute on ChipSpec, and each parameter's record.
GROUPS: dict[str, type] = {f.name: globals()[str(f.type)] for f in dataclasses.fields(ChipSpec)[1:]}
GROUP_OF: dict[str, str] = {f.name: g for g, cls in GROUPS.items() for f in dataclasses.fields(cls)}


def _flat(group: str, key: str) -> property:
    return property(lambda self: getattr(getattr(self, group), key),
                    doc=f"`{group}.{key}` by its flat name (users' scripts; shoal reads the records)")


# Reading a parameter by its flat name (`spec.cpi`) works for users' scripts, as properties: a
# class with __getattr__ has every attribute read go through a slower hook (CPython's
# slot_tp_getattr_hook), and shoal reads `spec.<record>` at every event.
for _key, _group in GROUP_OF.items():
    if not hasattr(ChipSpec, _key) and _key not in GROUPS and _key != "name":
        setattr(ChipSpec, _key, _flat(_group, _key))


def parameters() -> list[dataclasses.Field]:
    """Every parameter (`name`, then each record's fields), as a chip file names them."""
    return [dataclasses.fields(ChipSpec)[0], *(f for cls in GROUPS.values() for f in dataclasses.fields(cls))]


_TYPES: dict[str, type] = {f.name: {"float": float, "str": str, "bool": bool}.get(str(f.type), int)
                           for f in parameters()}
_KIND = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}

CHIP_FILE_MAX = 1 << 20  # bytes of a chip file: a few dozen keys need a few KiB

# Host limits: each compute cluster costs the host one CPU emulator (~4.6 MB) and its memory.
MAX_CLUSTERS = 256  # a 16x16 mesh
MAX_CHIP_MEMORY = 8 << 30
CYCLES = 10**9  # any single cost above 2.5 s at 400 MHz is a typo, not a model

# The range of every numeric field, with why: (least, most, reason). validate() checks all.
BOUNDS: dict[str, tuple[float, float, str]] = {
    "mesh_width": (1, 64, "compute clusters per row"),
    "mesh_height": (1, 64, "compute clusters per column"),
    "io_clusters": (1, 8, "the daemons live on I/O cluster 0; four edges, two networks"),
    "cores_per_cluster": (1, 64, "user harts per cluster"),
    "kernel_cores": (1, 1, "one kernel core serves the system calls"),
    "memory_per_cluster": (4096, 1 << 30, "bytes of local memory, at most 1 GiB"),
    "kernel_reserved": (0, 1 << 30, "bytes"),
    "page_size": (4096, 4096, "Sv32 pages are 4096 bytes"),
    "freq_hz": (1_000_000, 10**10, "1 MHz to 10 GHz"),
    "icache_bytes": (0, 1 << 30, "bytes"),
    "dcache_bytes": (0, 1 << 30, "bytes"),
    "cache_line": (4, 4096, "bytes"),
    "icache_ways": (1, 64, "lines per set"),
    "dcache_ways": (1, 64, "lines per set"),
    "icache_miss_cycles": (0, 10**6, "a cost must not be negative"),
    "dcache_miss_cycles": (0, 10**6, "a cost must not be negative"),
    "memory_banks": (0, 32, "banks of a cluster's memory (0: no bank model)"),
    "bank_busy_cycles": (1, 4096, "cycles a refill keeps its bank"),
    "cpi": (1, 1000, "cycles per instruction"),
    "syscall_cycles": (0, CYCLES, "a cost must not be negative"),
    "copy_cycles_per_byte": (0, 10**6, "a cost must not be negative"),
    "page_fault_cycles": (0, CYCLES, "a cost must not be negative"),
    "context_switch_cycles": (0, CYCLES, "a cost must not be negative"),
    "pte_install_cycles": (0, CYCLES, "a cost must not be negative"),
    "noc_link_bytes_per_cycle": (1, 1 << 16, "a link moves at least a byte per cycle"),
    "noc_hop_cycles": (0, CYCLES, "a latency must not be negative: packets would arrive before they leave"),
    "noc_setup_cycles": (0, CYCLES, "a latency must not be negative: packets would arrive before they leave"),
    "mailbox_payload": (1, 1 << 16, "bytes in a mailbox message"),
    "mailbox_header": (0, 1 << 16, "bytes"),
    "mailbox_slots": (1, 1 << 16, "a mailbox must hold at least one message"),
    "portal_chunk": (2, 1 << 20, "bytes per portal operation"),
    "portal_header": (0, 1 << 16, "bytes"),
    "ikc_recv_cycles": (0, CYCLES, "a cost must not be negative"),
    "service_cycles": (0, CYCLES, "a cost must not be negative"),
    "quantum_cycles": (1000, CYCLES, "how far one hart runs ahead of another"),
    "window_cycles": (1000, CYCLES, "how far one cluster runs per round"),
    "stack_limit": (64 * 1024, 1 << 30, "bytes; the stack sits below 3 GiB"),
    "io_memory": (0, 4 << 30, "bytes of remote memory; the host keeps what is used"),
    "fs_max_files": (1, 1 << 20, "files and directories the file server holds"),
    "fs_max_file_bytes": (0, 1 << 30, "bytes; files live in the I/O cluster's 1 GiB DDR"),
    "fs_total_bytes": (0, 1 << 30, "bytes; files live in the I/O cluster's 1 GiB DDR"),
    "mq_max_messages": (1, 1 << 16, "a queue must hold at least one message"),
    "mq_max_message_bytes": (1, 1 << 20, "bytes"),
    "ipc_max_names": (1, 1 << 16, "queues and semaphores that exist at once"),
}
PAGE_REPLACEMENT = ("clock", "fifo")
CACHE_REPLACEMENT = ("lru", "fifo")
KERNEL_LAYOUTS = ("uarea", "scattered")
BANK_MAPPINGS = ("interleaved", "contiguous")
FRAME_PLACEMENT = ("lowest", "scattered")
# The allowed values of every string parameter but the name; validate() checks all.
CHOICES: dict[str, tuple[str, ...]] = {
    "page_replacement": PAGE_REPLACEMENT, "cache_replacement": CACHE_REPLACEMENT,
    "bank_mapping": BANK_MAPPINGS, "kernel_layout": KERNEL_LAYOUTS, "frame_placement": FRAME_PLACEMENT}
CACHE_MAX_LINES = 4096  # lines of one cache the model holds (its native tag array)


def _num(v: float) -> str:
    return f"{v:,}".replace(",", "_") if isinstance(v, int) and v >= 10**4 else f"{v:g}"


def _short(text: str, n: int = 40) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return text if len(text) <= n else text[:n] + "..."


def _describe(value: object) -> str:
    kinds = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "an array",
             dict: "a table"}
    return kinds.get(type(value), type(value).__name__)


MPPA256 = ChipSpec(
    name="mppa256",
    noc=NocSpec(
        # 16 compute clusters; Nanvix numbers them as a 4x4 set of NoC nodes
        # (nanvix/hal include/arch/processor/bostan/noc.h: 24 nodes = 8 I/O + 16 compute).
        mesh_width=4,
        mesh_height=4,
        # Nanvix on the MPPA-256 uses 2 I/O clusters (each with 1 GiB DDR).
        io_clusters=2,
        # Link bandwidth, derived: Penna et al. (ERAD-RS 2019) measured ~1450 MB/s for portals
        # from one I/O cluster to 16 compute clusters with 1 MB blocks. Taken as the rate one
        # transfer stream sustains, it bounds a link: 4 B/cycle at 400 MHz = 1600 MB/s, with
        # per-page headers and DMA setup taking the other ~10% (one 1 MiB transfer here: ~1.3 GB/s).
        # The model attaches an I/O cluster to the 4 routers of its edge, so its aggregate to many
        # clusters can exceed that figure (bench/ikc.py measures it).
        noc_link_bytes_per_cycle=4,
        # Per-hop router latency: no public source gives it; an assumption of a few cycles,
        # as in NoC routers of the period. It matters little next to setup and software costs.
        noc_hop_cycles=6,
        # DMA setup per transfer (descriptor write, route header): assumption, 0.5 us.
        noc_setup_cycles=200,
    ),
    cluster=ClusterSpec(
        # 16 PE cores + 1 resource-manager core per cluster (de Dinechin et al., ICCS 2013;
        # Nanvix runs its kernel on the resource-manager core).
        cores_per_cluster=16,
        kernel_cores=1,
        # 2 MiB SRAM per compute cluster (nanvix/hal include/arch/cluster/k1b-cluster/memory.h).
        memory_per_cluster=2 * MIB,
        # Modelling choice: 256 KiB for the microkernel image, its pools and 17 kernel stacks.
        # Nanvix itself keeps only 512 KiB for user memory; shoal gives user code 1.75 MiB so that
        # a process with 1 MiB of data fits, as the migration experiments need.
        kernel_reserved=256 * KIB,
        # 4 KiB pages (Nanvix on k1b).
        page_size=4096,
        # 400 MHz, K1B_CLUSTER_FREQ in nanvix/hal include/arch/cluster/k1b-cluster/timer.h
        # (Kalray rated Bostan at up to 600-800 MHz; 400 MHz matches the seed's experiments).
        freq_hz=400_000_000,
        # The cluster's 2 MiB of memory in 16 independent banks, with interleaved or contiguous
        # address mapping (de Dinechin et al., HPEC 2013; nanvix/hal k1b-cluster). Assumptions
        # (not public): banks interleave by cache line, a 64 B refill keeps its bank 8 cycles
        # (8 B per cycle), and a miss waits as in a queue whose load is what the other cores asked
        # of its bank in the previous quantum (platform/cpu.py). 0 banks: no bank model.
        memory_banks=16,
        bank_mapping="interleaved",
        bank_busy_cycles=8,
    ),
    cache=CacheSpec(
        # 8 KiB I- and D-caches per core with 64 B lines (nanvix/hal include/arch/core/k1b/cache.h).
        icache_bytes=8 * KIB,
        dcache_bytes=8 * KIB,
        cache_line=64,
        # Modelling choice: the caches are simulated (timing only: data always comes from memory);
        # `caches = false` in a chip file (or --no-caches) for speed.
        caches=True,
        # Assumption (not public for the k1b): 2 ways, so index + offset = the 4 KiB page offset.
        icache_ways=2,
        dcache_ways=2,
        # Assumption (not public): least recently used.
        cache_replacement="lru",
        # The D-cache is write-through with a write buffer (nanvix/hal k1b/cache.h; de Dinechin et
        # al., HPEC 2013); assumption: a store miss does not fill the line, and the write buffer
        # never fills (stores never stall).
        dcache_write_allocate=False,
        # Assumption (not public): a miss refills 64 B from the cluster's memory at 8 B per cycle
        # after 4 cycles of latency, 12 cycles, for instructions and data alike.
        icache_miss_cycles=12,
        dcache_miss_cycles=12,
    ),
    kernel=KernelSpec(
        # Modelling choice: the kernel keeps a process's per-thread state in one area per process,
        # the "user area" of the seed (Nanvix since; "scattered": one global array per subsystem,
        # Nanvix before). Its accesses go through the kernel core's caches (kernel/kmem.py).
        kernel_layout="uarea",
        # As Nanvix on the k1b (no coherence): the kernel invalidates its D-cache when it creates a
        # thread, around IKC calls and when it allocates a frame (nanvix/microkernel).
        kernel_invalidations=True,
        # Modelling choice: the lowest free frame first (deterministic; shoal's only order before).
        # "scattered" stands for a long-running system's fragmented free list, for experiments
        # (bit-reversed frame order: consecutive pages land on one cache colour).
        frame_placement="lowest",
    ),
    costs=CostSpec(
        # Modelling choice: one cycle per instruction (the k1b is an in-order VLIW core).
        cpi=1,
        # Modelling choices, not measured: trap + dispatch on the kernel core, copy cost between
        # user and kernel buffers, zero-filling a 4 KiB frame (64 B lines, 1 line per ~1 cycle
        # plus overhead), and saving/restoring one hart context. Migration uses the same figures:
        # freezing saves each thread's hart context, building an image copies each of its bytes,
        # rebuilding copies each page and the metadata out of it and installs each thread's context.
        syscall_cycles=400,
        copy_cycles_per_byte=0.25,
        page_fault_cycles=1200,
        context_switch_cycles=300,
        # Modelling choice, not measured: installing one Sv32 page-table entry while rebuilding an
        # address space (index the table, store the entry, count the frame: ~16 instructions at CPI 1).
        pte_install_cycles=16,
    ),
    ikc=IkcSpec(
        # Nanvix IKC: a mailbox message is a 16 B header + 128 B payload; a portal moves at most
        # one page (+16 B header) per operation (nanvix/hal target/kalray/mppa256/{mailbox,portal}.h).
        # Kernel and daemon control packets (requests, replies, migration steps) carry the same
        # 16 B header before what they hold (platform/noc.py: packet).
        mailbox_payload=128,
        mailbox_header=16,
        # Receive queue depth per mailbox before senders are held back: a modelling choice.
        mailbox_slots=16,
        # Nanvix's portal format (see mailbox_payload): one page per operation, a 16 B header each.
        portal_chunk=4096,
        portal_header=16,
        # Kernel work on the receiving side of a NoC message (interrupt, copy-out, wake-up).
        # Calibrated so that a kernel-level mailbox round trip between neighbours lands in the
        # 16-25 us that Penna et al. measured for 120 B messages (see bench/ikc.py).
        ikc_recv_cycles=2400,
        # Service time of a request to a system daemon on an I/O cluster: an assumption.
        service_cycles=2000,
    ),
    engine=EngineSpec(
        # Modelling choice: harts of a cluster interleave at 250 us at 400 MHz at worst (most
        # interleave at their system calls); a lone thread runs in slices 64 times longer.
        quantum_cycles=100_000,
        # Engine choice: how far a cluster runs before the engine looks at the others again.
        window_cycles=100_000,
    ),
    rmem=RmemSpec(
        # The MPPA-256's I/O subsystems each drive a DDR3 controller (de Dinechin et al., "A
        # clustered manycore processor architecture for embedded and accelerated applications",
        # HPEC 2013), 1 GiB on the boards Nanvix ran on (see io_clusters); Nanvix's RMem keeps its
        # pages there. One I/O cluster's 1 GiB serves remote memory here; the host holds only the
        # pages actually evicted.
        io_memory=1 << 30,
        # Nanvix's RMem client cache offers FIFO and NFU; shoal's default approximates LRU with
        # the accessed bit (second chance), its alternative is FIFO.
        page_replacement="clock",
    ),
    limits=LimitSpec(
        stack_limit=8 * MIB,
        # Modelling choices for the file server's RAM disk (Nanvix keeps its Minix file system on a
        # RAM disk of the I/O cluster): 4096 files and directories, 16 MiB per file, 64 MiB in all,
        # a small part of the I/O cluster's 1 GiB DDR (and of the host's memory).
        fs_max_files=4096,
        fs_max_file_bytes=16 * MIB,
        fs_total_bytes=64 * MIB,
        # Linux's defaults for POSIX message queues (/proc/sys/fs/mqueue: msg_max 10, msgsize_max
        # 8192, queues_max 256), also used for the named semaphores that exist at once.
        mq_max_messages=10,
        mq_max_message_bytes=8192,
        ipc_max_names=256,
    ),
)

TINY = MPPA256.replace(
    name="tiny",
    mesh_width=2,
    mesh_height=2,
    io_clusters=1,
    cores_per_cluster=4,
    memory_per_cluster=1 * MIB,
    kernel_reserved=64 * KIB,
    # Small, so that a program that allocates without end meets its limit soon in tests.
    io_memory=16 * MIB,
    # A chip for quick runs and tests: no cache model (the MPPA-256 presets have it).
    caches=False,
)

# Bigger chips with the MPPA-256's cluster design, for studies past 16 clusters. These are
# EXTRAPOLATIONS, not products: the same clusters (16 + 1 cores, 2 MiB), links and costs on a
# larger torus; no such Kalray part exists. 8x8: 64 clusters, 1024 user cores (host: ~0.2 GB);
# 16x16: 256 clusters, 4096 user cores (host: ~0.75 GB, about 1.5 s to boot).
MPPA_8X8 = MPPA256.replace(name="mppa-8x8", mesh_width=8, mesh_height=8)
MPPA_16X16 = MPPA256.replace(name="mppa-16x16", mesh_width=16, mesh_height=16)

PRESETS: dict[str, ChipSpec] = {"mppa256": MPPA256, "tiny": TINY, "mppa-8x8": MPPA_8X8,
                                "mppa-16x16": MPPA_16X16}

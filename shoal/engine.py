"""The chip: its clusters' kernels and the I/O cluster's daemons on one simulated clock.

Each node (a compute cluster's kernel, the daemons) takes its own items in order of
simulated time (kernel/sched.py). The engine keeps them in step conservatively: a node
goes on only up to the time before which nothing more can reach it (`_advance`), so a
packet is seen exactly at its arrival whatever the others are doing, host actions happen
at exactly the time asked, an idle chip jumps to its next item, and a lone busy cluster
runs in long slices. Results depend on simulated times only: not on `window_cycles`, nor
on the order in which the host simulates the nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shoal.errors import ShoalError
from shoal.kernel import image, migration, sched
from shoal.kernel.container import Container
from shoal.kernel.kernel import SIGKILL, Kernel
from shoal.kernel.loader import Executable, parse_elf
from shoal.kernel.memory import OutOfFrames
from shoal.kernel.migration import Migration
from shoal.platform.noc import NoC, Packet
from shoal.services import Services
from shoal.spec import ChipSpec


@dataclass
class Process:
    """What the caller holds for a program on the chip; it follows the process when it moves."""

    pid: int
    chip: Chip = field(repr=False)

    @property
    def container(self) -> Container:
        """The process's container where it lives now (or where it ended)."""
        return self.chip._container(self.pid)

    def migrate(self, to: int) -> Migration:
        """Ask for a stop-and-copy move to cluster `to`; it happens during the next run()."""
        return self.chip.migrate(self.pid, to)

    def checkpoint(self, path: str | Path | None = None, stop: bool = False) -> bytes:
        """Freeze now, take the image (and write it to `path`); then go on, or end if `stop`."""
        return self.chip.checkpoint(self.pid, path, stop)

    @property
    def name(self) -> str:
        return self.container.name

    @property
    def cluster(self) -> int:
        return self.container.cluster

    @property
    def done(self) -> bool:
        return not self.container.alive

    @property
    def exit_code(self) -> int | None:
        return self.container.exit_code

    @property
    def signal(self) -> int | None:
        return self.container.signal

    @property
    def message(self) -> str:
        return self.container.message

    @property
    def returncode(self) -> int | None:
        """As a shell sees it: the exit code, or 128 + signal for a killed process."""
        c = self.container
        if c.alive:
            return None
        return c.exit_code if c.signal is None else 128 + c.signal

    @property
    def stdout(self) -> bytes:
        """Everything it wrote that has reached the console, on every cluster it ran on."""
        return bytes(self.chip.services.output.get(self.pid, (b"", b""))[0])

    @property
    def stderr(self) -> bytes:
        return bytes(self.chip.services.output.get(self.pid, (b"", b""))[1])

    @property
    def instructions(self) -> int:
        return self.container.instructions

    @property
    def cycles(self) -> int | None:
        """Simulated cycles from spawn to exit."""
        c = self.container
        return None if c.end_cycle is None or not self.done else c.end_cycle - c.start_cycle

    @property
    def migrations(self) -> list[Migration]:
        return [m for m in self.chip.migrations if m.pid == self.pid]


def load_program(program: str | Path | bytes | Executable, name: str | None = None) -> Executable:
    """An Executable from a parsed one, ELF bytes, an ELF path, or a C file (compiled, cached)."""
    if isinstance(program, Executable):
        return program
    if isinstance(program, bytes):
        return parse_elf(program, name or "program")
    path = Path(program)
    if path.suffix == ".c":
        from shoal.toolchain import compile_cached
        elf = compile_cached([path])
        return parse_elf(elf.read_bytes(), name or path.stem)
    try:
        image = path.read_bytes()
    except FileNotFoundError:
        raise ShoalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ShoalError(f"{path}: is a directory") from None
    except PermissionError:
        raise ShoalError(f"{path}: permission denied") from None
    return parse_elf(image, name or path.name)


NEVER = sched.NEVER
RETRY_CYCLES = 4000  # a scheduled migration that finds its process still moving asks again


class Chip:
    def __init__(self, spec: ChipSpec, seed: int = 0,
                 sink: Callable[[int, int, bytes], None] | None = None) -> None:
        """`sink(pid, fd, data)` receives console output as it reaches the I/O cluster."""
        self.spec = spec
        self.seed = seed
        self.kernels = [Kernel(spec, c, self._tid_allocator(c)) for c in range(spec.compute_clusters)]
        self.noc = NoC(spec)
        self.services = Services(spec, spec.compute_clusters, seed, sink)
        # The lookahead: no packet arrives sooner than this after it is sent.
        self.lookahead = self.noc.min_latency()
        for n in (*self.kernels, self.services):
            n.lookahead = self.lookahead
        self.time = 0  # simulated cycles: every cluster has done everything before it
        self.procs: list[Process] = []
        self._seq = 0
        self._scheduled: list[tuple[int, int, int, int]] = []  # (cycle, order, pid, cluster)
        self._orders = 0
        self.wall_seconds = 0.0  # host time spent in run(); never mixed with simulated time
        self.rounds = 0  # engine rounds (host-side figure, for benchmarks)

    @classmethod
    def preset(cls, name: str, **kw: object) -> Chip:
        return cls(ChipSpec.load(name), **kw)  # type: ignore[arg-type]

    @staticmethod
    def _tid_allocator(cluster: int) -> Callable[[], int]:
        # Thread ids are made by each cluster's kernel alone (no shared counter), in a range
        # of its own that cannot meet process ids.
        counter = [0]

        def alloc() -> int:
            counter[0] += 1
            return (cluster + 1) << 20 | counter[0]
        return alloc

    @property
    def seconds(self) -> float:
        """Simulated time so far, in seconds."""
        return self.spec.cycles_to_seconds(self.time)

    def spawn(self, program: str | Path | bytes | Executable, argv: list[str] | None = None,
              cluster: int = 0, stdin: bytes = b"", env: list[str] | None = None) -> Process:
        if not 0 <= cluster < len(self.kernels):
            raise ShoalError(f"cluster {cluster} does not exist (this chip has clusters "
                             f"0..{len(self.kernels) - 1})")
        exe = load_program(program)
        argv = [exe.name] if argv is None else list(argv)
        if not argv:
            argv = [exe.name]
        # The chip's loader: the process manager gives the pid, the cluster's kernel the rest.
        pid = self.services.new_pid(cluster, exe.name)
        try:
            c = self.kernels[cluster].spawn(exe, argv, env or [], pid, self.seed, stdin, self.time)
        except OutOfFrames:
            self.services.forget(pid)
            raise ShoalError(f"{exe.name}: cluster {cluster} has no memory for the program") from None
        p = Process(c.pid, self)
        self.procs.append(p)
        return p

    def add_file(self, name: str, data: bytes) -> None:
        """Put a read-only file in the chip's file image (guests open and spawn it by name)."""
        self.services.add_file(name, data)

    def run(self, max_cycles: int | None = None) -> None:
        """Run until every process has ended, or for `max_cycles` of simulated time."""
        start = time.perf_counter()
        try:
            limit = NEVER if max_cycles is None else self.time + max(0, max_cycles)
            while True:
                at = self._scheduled[0][0] if self._scheduled else NEVER
                if at >= limit:
                    self._advance(limit)
                    break
                # A host action happens at exactly its time: everything before it first.
                self._advance(max(at, self.time))
                self.time = max(at, self.time)
                self._issue_scheduled()
            if limit < NEVER:
                self.time = limit
            else:
                ends = [k.last_exit for k in self.kernels if k.last_exit is not None]
                self.time = max([self.time, *ends])
                if any(k.procs for k in self.kernels):
                    self._deadlock()
        finally:
            self.wall_seconds += time.perf_counter() - start

    def _advance(self, limit: int, until: Callable[[], bool] | None = None) -> None:
        """Take every item of every cluster that happens before `limit` (or until `until()`).

        Conservative synchronisation: the earliest time any node may still send something
        is the least of the nodes' next items and of the chunks the NoC has yet to place
        (plus the lookahead); chunks ready before that go on the links, in order; a node
        may then go on up to the others' earliest time plus the lookahead (its horizon),
        since nothing can reach it sooner. A node with nothing to do costs nothing."""
        la = self.lookahead
        nodes: list[Kernel | Services] = [*self.kernels, self.services]
        window = self.spec.window_cycles
        lbs = [n.next_time() for n in nodes]  # kept up to date: only a node's own items move it
        index = {id(n): i for i, n in enumerate(nodes)}
        while until is None or not until():
            for n in nodes:
                if n.outbox:
                    self.noc.submit(n.outbox)
                    n.outbox = []
            nr = self.noc.next_ready()
            gvt = min(min(lbs), NEVER if nr is None else nr + la)
            if nr is not None and nr < gvt:
                for p in self.noc.advance(gvt):
                    for dst in self._deliver(p):
                        j = index[id(dst)]
                        lbs[j] = dst.next_time()
                nr = self.noc.next_ready()
            if min(lbs) >= limit and (nr is None or nr + la >= limit):
                return
            pend = NEVER if nr is None else nr
            first = min(range(len(nodes)), key=lbs.__getitem__)
            second = min((lb for i, lb in enumerate(lbs) if i != first), default=NEVER)
            self.rounds += 1
            for i, n in enumerate(nodes):
                if lbs[i] >= limit:
                    continue
                horizon = min(second if i == first else lbs[first], pend) + la
                if lbs[i] < horizon:
                    if n is self.services:
                        self.services.advance(horizon, limit)
                    else:
                        n.advance(horizon, limit, window)
                    lbs[i] = n.next_time()
            if self.rounds % 256 == 0:
                self.noc.prune(gvt)

    def _deliver(self, p: Packet) -> list[Kernel | Services]:
        """A transfer has ended: hand it to its destination, or tell its sender it failed.
        Returns the nodes that received something."""
        self._seq += 1
        p.seq = self._seq
        if p.failed or p.confirm:
            # The sender's DMA engine reports the outcome where the transfer ended.
            note = Packet(p.dst, p.src, "noc_error" if p.failed else "noc_delivered",
                          {"kind": p.kind, "body": p.body, "to": p.dst}, b"", 0, p.arrival, 1, 0)
            self._seq += 1
            note.seq, note.arrival = self._seq, p.arrival
            self._node(p.src).deliver(note)
            if p.failed:
                return [self._node(p.src)]
            self._node(p.dst).deliver(p)
            return [self._node(p.src), self._node(p.dst)]
        self._node(p.dst).deliver(p)
        return [self._node(p.dst)]

    def _node(self, n: int) -> Kernel | Services:
        return self.services if n == self.services.node else self.kernels[n]

    def _deadlock(self) -> None:
        for k in self.kernels:
            for c in list(k.procs):
                k.kill(c, SIGKILL, None, "killed: deadlock (every thread is blocked and nothing "
                       "can wake it)", self.time)

    def processes(self) -> list[Container]:
        """Every process the chip has run or runs, spawned by the host or by guests, by pid
        (its current container: where it lives now, or where it ended)."""
        pids = sorted({c.pid for k in self.kernels for c in k.all_procs})
        return [self._container(pid) for pid in pids]

    def _incarnations(self, pid: int) -> list[Container]:
        got = [c for k in self.kernels for c in k.all_procs if c.pid == pid]
        return sorted(got, key=lambda c: c.generation)

    def _container(self, pid: int) -> Container:
        got = self._incarnations(pid)
        if not got:
            raise ShoalError(f"no process {pid} on this chip")
        return got[-1]

    def _kernel_of(self, pid: int) -> Kernel:
        c = self._container(pid)
        if not c.alive:
            raise ShoalError(f"process {pid} has ended ({c.state})")
        return self.kernels[c.cluster]

    # migration, checkpoint, restore (host side) -------------------------------------------------
    @property
    def migrations(self) -> list[Migration]:
        """Every migration and checkpoint asked for, in the order asked (simulated time)."""
        return sorted((m for k in self.kernels for m in k.migration_log), key=lambda m: (m.requested, m.mid))

    def migrate(self, pid: int, to: int, at: int | None = None) -> Migration:
        """Move process `pid` to cluster `to` (stop-and-copy over the NoC), at simulated cycle
        `at` (default: now); carried out while the chip runs. Returns its record."""
        k = self._kernel_of(pid)
        if not 0 <= to < len(self.kernels):
            last = len(self.kernels) - 1
            raise ShoalError(f"cluster {to} does not exist (this chip has clusters 0..{last})")
        err = migration.request(k, self._container(pid), to, self.time if at is None else at, "host")
        if err:
            raise ShoalError(f"process {pid} cannot migrate now (error {-err})")
        return k.migration_log[-1]

    def schedule_migration(self, pid: int, to: int, at: int) -> None:
        """Migrate process `pid` to cluster `to` when simulated time reaches cycle `at`."""
        if not 0 <= to < len(self.kernels):
            last = len(self.kernels) - 1
            raise ShoalError(f"cluster {to} does not exist (this chip has clusters 0..{last})")
        self._orders += 1
        self._scheduled.append((at, self._orders, pid, to))
        self._scheduled.sort()

    def _issue_scheduled(self) -> None:
        """Hand the migrations due now to their processes' kernels (the chip is at `at`)."""
        while self._scheduled and self._scheduled[0][0] <= self.time:
            at, _, pid, to = self._scheduled.pop(0)
            c = self._container(pid)
            if not c.alive:
                continue
            if c.state != "running":  # still moving from an earlier request: ask again soon
                self._orders += 1
                self._scheduled.append((at + RETRY_CYCLES, self._orders, pid, to))
                self._scheduled.sort()
                continue
            migration.request(self.kernels[c.cluster], c, to, at, "host")

    def checkpoint(self, pid: int, path: str | Path | None = None, stop: bool = False) -> bytes:
        """Freeze process `pid`, take its image (write it to `path`); it goes on unless `stop`."""
        k = self._kernel_of(pid)
        err = migration.request(k, self._container(pid), migration.CHECKPOINT, self.time, "host", stop=stop)
        if err:
            raise ShoalError(f"process {pid} cannot be checkpointed now (error {-err})")
        m = k.migration_log[-1]
        # Threads in calls that must finish delay the freeze: run the chip until it is done.
        self._advance(NEVER, until=lambda: m.state != "freezing")
        self.time = max(self.time, m.frozen or 0)
        if m.state != "checkpointed":
            raise ShoalError(f"checkpoint of process {pid} failed: {m.reason}")
        data, m.image = m.image, b""
        if path is not None:
            try:
                Path(path).write_bytes(data)
            except OSError as e:
                raise ShoalError(f"cannot write {path}: {e.strerror or e}") from None
        return data

    def restore(self, source: str | Path | bytes, cluster: int = 0) -> Process:
        """Load a checkpoint image on `cluster` (of this chip, whatever chip took it) and
        let it run from where it was frozen."""
        if not 0 <= cluster < len(self.kernels):
            raise ShoalError(f"cluster {cluster} does not exist (this chip has clusters "
                             f"0..{len(self.kernels) - 1})")
        where = "image" if isinstance(source, bytes) else str(source)
        if isinstance(source, bytes):
            data = source
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as e:
                raise ShoalError(f"{source}: {e.strerror or e}") from None
        meta, pages = image.check(data, where)
        pid = meta["pid"]
        if pid in self.services.procs and self.services.procs[pid].status is None:
            raise ShoalError(f"{where}: pid {pid} is already running on this chip")
        k = self.kernels[cluster]
        if image.frames_needed(meta, pages) > k.frames.free - k.reserved_frames:
            raise ShoalError(f"{where}: cluster {cluster} has no room for it "
                             f"({image.frames_needed(meta, pages)} frames needed, {k.frames.free} free)")
        c = image.restore(k, data, self.time, where, rebase=True)
        c.start_cycle = self.time  # its simulated time on this chip starts now
        k.adopt(c)
        migration.thaw(k, c, self.time, 0)
        self.services.adopt_pid(pid, cluster, c.name)
        p = Process(pid, self)
        self.procs.append(p)
        return p

    @property
    def instructions(self) -> int:
        return sum(k.instructions for k in self.kernels)

    @property
    def syscalls(self) -> int:
        return sum(k.syscall_total for k in self.kernels)

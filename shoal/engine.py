"""The chip: its clusters' kernels advancing in lockstep windows of simulated cycles.

Every cluster runs the same window [T, T + W) before any runs the next, so whatever one
cluster later sends another arrives at a window boundary, the same on every run. When no
hart of any cluster has work before some future cycle, the engine jumps straight there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shoal.errors import ShoalError
from shoal.kernel import image, migration
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
        """Everything it wrote, on every cluster it ran on."""
        return b"".join(bytes(c.stdout) for c in self.chip._incarnations(self.pid))

    @property
    def stderr(self) -> bytes:
        return b"".join(bytes(c.stderr) for c in self.chip._incarnations(self.pid))

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


SOLO_STRETCH = 64


class Chip:
    def __init__(self, spec: ChipSpec, seed: int = 0,
                 sink: Callable[[Container, int, bytes], None] | None = None) -> None:
        self.spec = spec
        self.seed = seed
        self.kernels = [Kernel(spec, c, self._tid_allocator(c), sink)
                        for c in range(spec.compute_clusters)]
        self.noc = NoC(spec)
        self.services = Services(spec, spec.compute_clusters, seed)
        self.time = 0  # simulated cycles at the start of the next window
        self.procs: list[Process] = []
        self._seq = 0
        self._scheduled: list[tuple[int, int, int, int]] = []  # (cycle, order, pid, cluster)
        self.wall_seconds = 0.0  # host time spent in run(); never mixed with simulated time
        self.windows = 0

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
        """Run until every process has ended (or `max_cycles` of simulated time pass)."""
        start = time.perf_counter()
        try:
            self._run(max_cycles)
        finally:
            self.wall_seconds += time.perf_counter() - start

    def _run(self, max_cycles: int | None, steps: int | None = None) -> None:
        w = self.spec.window_cycles
        start_time = self.time
        limit = None if max_cycles is None else self.time + max_cycles
        while any(k.procs for k in self.kernels) or self._in_flight():
            if steps is not None:
                if steps == 0:
                    return
                steps -= 1
            nexts = [k.next_event() for k in self.kernels]
            events = [e for e in nexts if e is not None]
            svc = self.services.next_event()
            if svc is not None:
                events.append(svc)
            if self._scheduled and events:
                events.append(self._scheduled[0][0])  # a scheduled migration is an event too
            if not events:
                self._deadlock()
                return
            first = min(events)
            # Windows stay aligned to multiples of window_cycles, so threads interleave at
            # the same instants whatever else the chip is doing.
            self.time = max(self.time, first - first % w)
            if limit is not None and self.time >= limit:
                return
            busy = [k for k, e in zip(self.kernels, nexts, strict=True) if e is not None]
            if svc is not None:
                busy.append(None)
            # A lone runnable thread on the whole chip has nobody to keep in step with: give
            # it a longer window (fewer slices, same simulated result).
            solo = len(busy) == 1 and busy[0] is not None and busy[0].solo() and not busy[0].inbox
            end = self.time + (w * SOLO_STRETCH if solo else w)
            if limit is not None:
                end = min(end, limit)
            if self._scheduled and self._scheduled[0][0] < end:
                end = min(end, self.time + w)  # one request per window, at its own time
            self._issue_scheduled(end)
            nexts = [k.next_event() for k in self.kernels]
            for k, e in zip(self.kernels, nexts, strict=True):
                if e is not None and e < end:
                    k.run_window(self.time, end)
            self._exchange(end)
            self.time = end
            self.windows += 1
        # Idle from the last exit on: the chip's clock stops there, not at the window's end.
        ends = [k.last_exit for k in self.kernels if k.last_exit is not None]
        if ends and not any(k.procs for k in self.kernels):
            self.time = max(start_time, max(ends))

    def _exchange(self, end: int) -> None:
        """At a window's end: move the packets, and let the kernels and daemons handle those
        that arrived before the end, until none is left. Handlers run no user code, so a
        protocol of several steps (a migration, a daemon's answer) completes within the
        window when its simulated times fit, instead of one step per window."""
        for _ in range(1000):
            outs = [p for k in self.kernels for p in k.outbox]
            for k in self.kernels:
                k.outbox.clear()
            self._route(outs)
            self.services.run_window(end)
            outs = self.services.outbox
            self.services.outbox = []
            self._route(outs)
            due = [k for k in self.kernels if k.inbox and k.inbox[0][0] < end]
            for k in due:
                k.process_inbox(end)
            if not due and not any(k.outbox for k in self.kernels):
                return

    def _in_flight(self) -> bool:
        return bool(self.services.inbox) or any(k.inbox for k in self.kernels)

    def _route(self, packets: list[Packet]) -> None:
        """Hand a window's packets to the NoC (earliest first) and to their destinations."""
        if not packets:
            return
        for p in packets:
            self._seq += 1
            p.seq = self._seq
        self.noc.schedule(packets)
        for p in packets:
            if p.failed:
                # The sender's DMA engine reports the failure when the transfer would have ended.
                note = Packet(p.dst, p.src, "noc_error", {"kind": p.kind, "body": p.body, "to": p.dst},
                              b"", 0, p.arrival, 1, 0)
                self._seq += 1
                note.seq, note.arrival = self._seq, p.arrival
                self._node(p.src).deliver(note)
                continue
            self._node(p.dst).deliver(p)

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
        self._scheduled.append((at, len(self._scheduled), pid, to))
        self._scheduled.sort()

    def _issue_scheduled(self, end: int) -> None:
        keep = []
        for item in self._scheduled:
            at, _, pid, to = item
            c = self._container(pid)
            if at >= end or not c.alive:
                if at >= end:
                    keep.append(item)
                continue
            if c.state != "running":  # still moving from an earlier request: ask again later
                keep.append(item)
                continue
            migration.request(self.kernels[c.cluster], c, to, max(at, self.time), "host")
        self._scheduled = keep

    def checkpoint(self, pid: int, path: str | Path | None = None, stop: bool = False) -> bytes:
        """Freeze process `pid`, take its image (write it to `path`); it goes on unless `stop`."""
        k = self._kernel_of(pid)
        err = migration.request(k, self._container(pid), migration.CHECKPOINT, self.time, "host", stop=stop)
        if err:
            raise ShoalError(f"process {pid} cannot be checkpointed now (error {-err})")
        m = k.migration_log[-1]
        while m.state == "freezing":
            self._run(None, steps=1)
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
        c = image.restore(k, data, self.time, where)
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

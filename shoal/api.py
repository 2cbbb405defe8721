"""The chip: its clusters' kernels and the I/O cluster's daemons on one simulated clock.

Each node (a compute cluster's kernel, the daemons) takes its own items in order of
simulated time (kernel/sched.py). The engine keeps them in step conservatively: a node
goes on only up to the time before which nothing more can reach it (engine/rounds.py), so a
packet is seen exactly at its arrival whatever the others are doing, host actions happen
at exactly the time asked, an idle chip jumps to its next item, and a lone busy cluster
runs in long slices. Results depend on simulated times only: not on `window_cycles`, nor
on the order in which the host simulates the nodes.

Long (~600 lines) because it is the whole public API in one place (Chip, Process and their
records), which the README documents class by class; the work behind it is elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from shoal.abi import EBUSY, EOPNOTSUPP
from shoal.engine.local import LocalBackend
from shoal.engine.rounds import NEVER
from shoal.errors import ShoalError
from shoal.kernel import image
from shoal.kernel.host import ClusterRecord, ProcessRecord
from shoal.kernel.loader import Executable, parse_elf
from shoal.kernel.migrate import METHODS, Migration, MigState
from shoal.record import dataclass
from shoal.spec import ChipSpec

CHILDREN = "it has children it has not waited for (their waits stay on its cluster)"
ON_CHIP = "it holds a pipe or a socket, which live on this chip, not in an image"

if TYPE_CHECKING:
    from shoal.daemons.fspaths import Fifo, Symlink
    from shoal.tools.trace import Tracer

# The method of migrations that do not name one (the host's and the guest's shoal_migrate);
# a Chip's `migration` argument overrides it.
DEFAULT_METHOD = "stopcopy"
RETRY_CYCLES = 4000  # a scheduled migration that finds its process still moving asks again


@dataclass
class Process:
    """What the caller holds for a program on the chip; it follows the process when it moves.
    Every figure is read from what the kernels and daemons publish (simulated time)."""

    pid: int
    chip: Chip = field(repr=False)

    @property
    def record(self) -> ProcessRecord:
        """The latest record of the process: where it lives now, or where it ended."""
        return self.chip._record(self.pid)

    def migrate(self, to: int, method: str | None = None, **options: float) -> MigrationView:
        """Ask for a move to cluster `to` by `method` (stopcopy, precopy, postcopy, hybrid);
        it happens as the chip runs. Options of the live methods: downtime_limit_us,
        max_rounds, max_bytes (see kernel/migrate/record.py for their defaults)."""
        return self.chip.migrate(self.pid, to, method, **options)

    def checkpoint(self, path: str | Path | None = None, stop: bool = False) -> bytes:
        """Freeze now, take the image (and write it to `path`); then go on, or end if `stop`."""
        return self.chip.checkpoint(self.pid, path, stop)

    def kill(self, signal: int = 9) -> None:
        """End the process now (simulated time), as `signal`'s default action would."""
        self.chip.kill(self.pid, signal)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def cluster(self) -> int:
        return self.record.cluster

    @property
    def done(self) -> bool:
        """The process ended and everything it wrote is in `stdout` and `stderr` (a run
        stopped as soon as its kernel had ended it, `run(until=lambda: p.done)`, gave the
        output without its last packets, still on the NoC)."""
        return not self.record.alive and not self.chip._backend.output_pending(self.pid)

    @property
    def exit_code(self) -> int | None:
        return self.record.exit_code

    @property
    def signal(self) -> int | None:
        return self.record.signal

    @property
    def message(self) -> str:
        return self.record.message

    @property
    def returncode(self) -> int | None:
        """As a shell sees it: the exit code, or 128 + signal for a killed process."""
        r = self.record
        if r.alive:
            return None
        return r.exit_code if r.signal is None else 128 + r.signal

    @property
    def stdout(self) -> bytes:
        """What it wrote that has reached the console, on every cluster it ran on. Bounded
        (daemons/console.py): a chip with a sink (the CLI streams output) keeps only the last 64 KiB
        of each stream; without one, everything up to 64 MiB for the whole chip, beyond which
        the oldest bytes of the largest stream go (`output_dropped` counts them)."""
        return self.chip._backend.daemons("output", self.pid)[0]

    @property
    def output_dropped(self) -> tuple[int, int]:
        """Bytes of (stdout, stderr) written but no longer kept (see `stdout`)."""
        return self.chip._backend.daemons("output_dropped", self.pid)

    @property
    def stderr(self) -> bytes:
        return self.chip._backend.daemons("output", self.pid)[1]

    @property
    def instructions(self) -> int:
        return self.record.instructions

    @property
    def syscalls(self) -> dict[str, int]:
        return self.record.syscalls

    @property
    def cycles(self) -> int | None:
        """Simulated cycles from spawn to exit."""
        r = self.record
        return None if r.end_cycle is None or r.alive else r.end_cycle - r.start_cycle

    @property
    def migrations(self) -> list[Migration]:
        return [m for m in self.chip.migrations if m.pid == self.pid]


class MigrationView:
    """A migration asked for by the host: its record as the kernels publish it, read anew
    at each access (it changes while the chip runs)."""

    def __init__(self, chip: Chip, mid: int) -> None:
        self._chip, self.mid = chip, mid

    def __getattr__(self, name: str) -> object:
        for m in self._chip.migrations:
            if m.mid == self.mid:
                return getattr(m, name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"MigrationView(mid={self.mid}, state={self.state})"


def load_program(program: str | Path | bytes | Executable, name: str | None = None) -> Executable:
    """An Executable from a parsed one, ELF bytes, an ELF path, or a C file (compiled, cached)."""
    if isinstance(program, Executable):
        return program
    if isinstance(program, bytes):
        return parse_elf(program, name or "program")
    from shoal.hostfile import MAX_PROGRAM, check_file, read_file
    path = Path(program)
    if path.suffix == ".c":
        from shoal.toolchain import compile_cached
        check_file(path, str(path), MAX_PROGRAM)  # a FIFO or /dev/zero named x.c is not compiled
        elf = compile_cached([path])
        return parse_elf(read_file(elf, str(elf), MAX_PROGRAM), name or path.stem)
    # Type and size are checked before reading: whatever the user names, memory stays bounded.
    return parse_elf(read_file(path, str(path), MAX_PROGRAM), name or path.name)


def make_backend(spec: ChipSpec, seed: int, sink: Callable[[int, int, bytes], None] | None,
                 name: str | None) -> LocalBackend:
    """The backend called `name` (local, mpi; by default $SHOAL_BACKEND, else local)."""
    import os
    name = name or os.environ.get("SHOAL_BACKEND") or "local"
    if name == "local":
        return LocalBackend(spec, seed, sink)
    if name == "mpi":
        from shoal.engine.mpi import MPIBackend
        return MPIBackend(spec, seed, sink)  # type: ignore[return-value]
    raise ShoalError(f"unknown backend {name!r} (local or mpi)")



MPI_ENV = ("SHOAL_MPI_RANK", "SHOAL_MPI_SIZE", "SHOAL_MPI_JOB")


def env_arg(env: list[str] | None) -> list[str]:
    """A guest's environment as given: "NAME=VALUE" strings (a name, no NUL anywhere)."""
    out = []
    for e in env or []:
        if not isinstance(e, str) or "\0" in e or not e.partition("=")[0] or "=" not in e:
            raise ShoalError(f"bad environment entry {e!r}: NAME=VALUE (a name, no NUL byte)")
        out.append(e)
    return out

# Whose a chip's programs and files are unless told (`Chip(user=)`, `--user`): a user, not root,
# as a program on Linux runs; 1000 is the first user id Debian, Ubuntu and Fedora give (a
# choice, not a measurement). Root (0, 0) is one argument away.
DEFAULT_USER = (1000, 1000)


def user_arg(user: object) -> tuple[int, int]:
    """A (uid, gid) pair as Chip and spawn take it, checked."""
    if (not isinstance(user, tuple) or len(user) != 2
            or not all(type(v) is int and 0 <= v < (1 << 32) - 1 for v in user)):
        raise ShoalError(f"bad user {user!r}: a uid and a gid, 0 to 4294967294")
    return user  # type: ignore[return-value]


class Chip:
    """A chip: its clusters' kernels and the I/O cluster's daemons, on one simulated clock.
    The host side only sends requests to them and reads what they publish."""

    def __init__(self, spec: ChipSpec, seed: int = 0,
                 sink: Callable[[int, int, bytes], None] | None = None,
                 migration: str | None = None,
                 trace: str | Path | Tracer | None = None,
                 policy: object = None, policy_period_us: float | None = None,
                 backend: str | None = None, user: tuple[int, int] = DEFAULT_USER) -> None:
        """`sink(pid, fd, data)` receives console output as it reaches the I/O cluster;
        `migration` is the method of moves that name none (stopcopy unless set); `trace` (a
        path, or a Tracer with its limits and filters) takes a Perfetto trace, written at the
        end of every run() (shoal/tools/trace.py). `policy` switches on automatic migration policies
        (shoal/daemons/policies.py): "balance,locality", names, Policy classes or instances, or
        "FILE.py:CLASS"; their load reports come every `policy_period_us` of simulated time
        (daemons/policy.py: PERIOD_US by default). `backend` is "local" (every node in this process) or
        "mpi" (the clusters spread over MPI ranks: shoal/engine/mpi.py); by default
        $SHOAL_BACKEND, else local. `user` (uid, gid) owns the file tree's root and the --fs
        files, and is whom programs run as unless spawn names another (DEFAULT_USER: 1000, 1000;
        (0, 0) for root)."""
        self.spec = spec
        self.user = user_arg(user)
        self.seed = seed
        self.migration = migration or DEFAULT_METHOD
        if self.migration not in METHODS:
            raise ShoalError(f"unknown migration method {self.migration!r} (one of {', '.join(METHODS)})")
        self._backend = make_backend(spec, seed, sink, backend)
        if trace is not None and not isinstance(self._backend, LocalBackend):
            raise ShoalError("a trace is taken with the in-process backend only (not with MPI ranks)")
        self._backend.gather("set_method", self.migration)
        self._backend.daemons("fs_owner", *self.user)
        self.time = 0  # simulated cycles: every cluster has done everything before it
        self.procs: list[Process] = []
        self._scheduled: list[tuple] = []  # (cycle, order, pid, cluster, method, options)
        # Scheduled migrations the process's kernel refused when their time came (no move,
        # no record of one): (pid, cycle asked for, cluster, why), for the command to say.
        self.refused_moves: list[tuple[int, int, int, str]] = []
        self._orders = 0
        self.wall_seconds = 0.0  # host time spent in run(); never mixed with simulated time
        self.tracer: Tracer | None = None
        self.trace_path: Path | None = None
        if trace is not None:  # (shoal/tools/trace.py only for a traced chip)
            from shoal.tools.trace import open_trace
            self.tracer, self.trace_path = open_trace(self._backend, spec, trace)
        from shoal.daemons.policies import load as load_policies
        from shoal.daemons.policy import PERIOD_US
        period_us = PERIOD_US if policy_period_us is None else policy_period_us
        if (not isinstance(period_us, (int, float)) or isinstance(period_us, bool)
                or not 1 <= period_us <= 1e9):
            raise ShoalError(f"bad policy period {period_us!r}: microseconds from 1 to 1e9")
        self.policy_period = int(period_us * 1e-6 * spec.cluster.freq_hz)
        self._reporting = False
        pols = load_policies(policy)
        if pols:
            self._backend.daemons("set_policies", pols, self.policy_period, self.migration)
            self._report_on()

    def _report_on(self) -> None:
        if not self._reporting:
            self._reporting = True
            self._backend.gather("set_reporting", self.policy_period, self.time)

    @classmethod
    def preset(cls, name: str, **kw: object) -> Chip:
        return cls(ChipSpec.load(name), **kw)  # type: ignore[arg-type]

    @property
    def seconds(self) -> float:
        """Simulated time so far, in seconds."""
        return self.spec.cycles_to_seconds(self.time)

    @property
    def cpu_engine(self) -> str:
        """How guest instructions run and are counted on this host (see platform/cpu.py)."""
        return self._backend.cpu_engine()

    @property
    def rounds(self) -> int:
        """Rounds of the engine so far (a host-side figure, for benchmarks)."""
        return self._backend.rounds

    def _cluster_arg(self, cluster: int) -> None:
        n = self.spec.compute_clusters
        if not 0 <= cluster < n:
            raise ShoalError(f"cluster {cluster} does not exist (this chip has clusters 0..{n - 1})")

    def spawn(self, program: str | Path | bytes | Executable, argv: list[str] | None = None,
              cluster: int = 0, stdin: bytes = b"", env: list[str] | None = None,
              user: tuple[int, int] | None = None) -> Process:
        """Start a program on `cluster` now (the chip's loader, asked by the host). Its
        environment is `env` ("NAME=VALUE" strings, in order), empty by default; it runs as
        `user` (uid, gid), the chip's user by default."""
        self._cluster_arg(cluster)
        env = env_arg(env)
        user = self.user if user is None else user_arg(user)
        if self._reporting and cluster in self.policy_figures()["evacuated"]:
            raise ShoalError(f"cluster {cluster} is evacuated: it takes no new process")
        exe = load_program(program)
        argv = [exe.name] if argv is None else list(argv)
        if not argv:
            argv = [exe.name]
        # The process manager gives the pid, the cluster's kernel does the rest.
        pid = self._backend.daemons("new_pid", cluster, exe.name)
        try:
            self._backend.call(cluster, "spawn", exe, argv, env, pid, self.seed, self.time, tuple(user))
        except ShoalError:
            self._backend.daemons("forget", pid)
            raise
        self._backend.daemons("set_stdin", pid, stdin)  # served by the console daemon
        return self._handle(pid)

    def _handle(self, pid: int) -> Process:
        """The host's handle on `pid`: every kernel keeps its record when it ends there."""
        self._backend.gather("keep_record", pid)
        p = Process(pid, self)
        self.procs.append(p)
        return p

    def mpirun(self, program: str | Path | bytes | Executable, n: int, argv: list[str] | None = None,
               ppc: int = 1, stdin: bytes = b"", env: list[str] | None = None) -> list[Process]:
        """Start an MPI job of `n` ranks of `program` (built against shoal's mpi.h), `ppc` per
        compute cluster: rank r on cluster (r // ppc) mod the cluster count; `ppc=0` places
        each rank by load as a spawn to SHOAL_ANY_CLUSTER is (with policies on, by the load
        reports and the program's shape: a hart for each of its threads; else on the cluster
        with the fewest processes). Each rank is its
        own container and learns its rank, the size and the job from its environment
        (SHOAL_MPI_RANK, SHOAL_MPI_SIZE, SHOAL_MPI_JOB); rank 0 reads `stdin`, as under
        mpiexec. Returns the ranks in rank order; run them with shoal.tools.mpirun.run_job."""
        for what, v, low, top in (("rank count", n, 1, 4096), ("ranks per cluster", ppc, 0, 4096)):
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= top:
                raise ShoalError(f"bad {what} {v!r}: {low} (placed by load) to {top}" if low == 0
                                 else f"bad {what} {v!r}: {low} to {top}")
        exe = load_program(program)
        self._jobs = getattr(self, "_jobs", 0) + 1
        frames = -(-sum(s.memsz for s in exe.segments) // self.spec.cluster.page_size)
        ranks = []
        for r in range(n):
            extra = [f"SHOAL_MPI_RANK={r}", f"SHOAL_MPI_SIZE={n}", f"SHOAL_MPI_JOB={self._jobs}"]
            where = (r // ppc) % self.spec.compute_clusters if ppc else \
                self._backend.daemons("place", frames, self.time, exe.name)
            # (the job's own variables win over the caller's of the same name)
            own = [e for e in env_arg(env) if e.partition("=")[0] not in MPI_ENV]
            ranks.append(self.spawn(exe, argv, cluster=where,
                                    stdin=stdin if r == 0 else b"", env=[*own, *extra]))
        return ranks

    def add_file(self, name: str, data: bytes) -> None:
        """Put a read-only file in the chip's file image (guests open and spawn it by name)."""
        try:
            self._backend.daemons("add_file", name, data)
        except ValueError as e:
            raise ShoalError(f"file {name}: {e}") from None

    def load_fs(self, entries: list[tuple[str, bytes | Symlink | Fifo | None]]) -> None:
        """Fill the file server's writable tree: (path, contents) for a file (0644; 0755 if the
        contents are an fspaths.Executable), (path, None) for a directory, (path,
        Symlink(target)) for a symbolic link, (path, Fifo(mode)) for a named pipe, relative to
        the root, parents first (`read_host_tree` makes them).
        Refused with one line (ShoalError) beyond the chip's limits or over a --file."""
        try:
            self._backend.daemons("fs_load", entries)
        except ValueError as e:
            raise ShoalError(f"file system: {e}") from None

    def fs_tree(self) -> list[tuple[str, bytes | Symlink | Fifo | None]]:
        """The file server's writable tree now, as `load_fs` takes it."""
        return self._backend.daemons("fs_tree")

    def inject_failure(self, kind: str, count: int = 1) -> None:
        """Test hook: the next `count` NoC transfers of packets of `kind` fail (their sender's
        DMA engine is told so where the transfer would have arrived)."""
        self._backend.noc("inject_failure", kind, count)

    def inject_delay(self, kind: str, cycles: int, count: int = 1) -> None:
        """Test hook: the next `count` NoC transfers of packets of `kind` arrive `cycles` of
        simulated time later than the links make them (so that later packets overtake)."""
        self._backend.noc("inject_delay", kind, cycles, count)

    def noc_jitter(self, seed: int, most: int, kinds: list[str] | tuple[str, ...]) -> None:
        """Test hook: every NoC transfer of the `kinds` arrives up to `most` cycles late, by an
        amount fixed by `seed` and the packet (reproducible); `most` = 0 switches it off."""
        self._backend.noc("set_jitter", seed, most, list(kinds))

    def run(self, max_cycles: int | None = None, until: Callable[[], bool] | None = None) -> None:
        """Run until every process has ended, or for `max_cycles` of simulated time; `until()`,
        asked between rounds, pauses the chip early (a debugger stopped it: gdbstub.py)."""
        start = time.perf_counter()
        try:
            limit = NEVER if max_cycles is None else self.time + max(0, max_cycles)
            acted = self.time  # the last host action that reached a live process
            while True:
                at = self._scheduled[0][0] if self._scheduled else NEVER
                if at >= limit:
                    self._backend.advance(limit, until)
                    if until is not None and until():
                        self._paused(limit, acted)
                        return
                    break
                # A host action happens at exactly its time: everything before it first.
                self._backend.advance(max(at, self.time), until)
                if until is not None and until():
                    self._paused(max(at, self.time), acted)
                    return
                self.time = max(at, self.time)
                if self._issue_scheduled():
                    acted = self.time
            if limit < NEVER:
                self.time = limit
            else:
                # The chip's clock stops at its last event (not at a host action that found
                # every process ended).
                ends = [e for e in self._backend.gather("last_exit") if e is not None]
                self.time = max([acted, *ends])
                if any(r.alive for r in self.processes()):
                    # A deadlock: the clock stops where the last of them ran (host/deadlock).
                    stuck = [e for e in self._backend.gather("deadlock_time") if e is not None]
                    self.time = max([self.time, *stuck])
                    for c in range(self.spec.compute_clusters):
                        self._backend.call(c, "deadlock", self.time)
        finally:
            self.wall_seconds += time.perf_counter() - start
        if self.trace_path is not None:
            self.write_trace(self.trace_path)

    def _paused(self, limit: int, acted: int) -> None:
        """`until()` paused the run: the chip's clock moves to where it stopped (so that a
        later run(max_cycles=...) counts from there): the latest time a cluster got to, but
        never past where every cluster has done everything before (the engine's `reached`),
        the run's limit, nor back."""
        got = max([acted, *self._backend.gather("reached")])
        self.time = max(self.time, min(self._backend.paused_at, limit, got))

    def write_trace(self, path: str | Path) -> dict:
        """Write the trace taken so far (Chip(trace=...)) to `path`; its metadata."""
        if self.tracer is None:
            raise ShoalError("this chip takes no trace: give Chip(..., trace=PATH)")
        names = {r.pid: r.name for r in self.processes()}
        return self.tracer.write(path, self.migrations, names)

    # what the kernels publish -------------------------------------------------------------------
    def processes(self) -> list[ProcessRecord]:
        """Every process the chip has run or runs, spawned by the host or by guests, by pid
        (its latest record: where it lives now, or where it ended); of the ended ones made by
        guests, the latest few thousand per cluster (`folded_processes` counts the others)."""
        latest: dict[int, ProcessRecord] = {}
        for recs in self._backend.gather("processes"):
            for r in recs:
                if r.pid not in latest or r.generation > latest[r.pid].generation:
                    latest[r.pid] = r
        return [latest[pid] for pid in sorted(latest)]

    def folded_processes(self) -> dict[str, int]:
        """Processes made by guests that ended and whose records `processes()` no longer lists
        (the latest few thousand per cluster are kept: kernel/records.py), summed: how many,
        how many were killed, their instructions."""
        got = self._backend.gather("ended_processes")
        return {"processes": sum(g[0] for g in got), "killed": sum(g[1] for g in got),
                "instructions": sum(g[2] for g in got)}

    def _record(self, pid: int) -> ProcessRecord:
        for r in self.processes():
            if r.pid == pid:
                return r
        raise ShoalError(f"no process {pid} on this chip")

    def clusters(self) -> list[ClusterRecord]:
        """Each compute cluster's figures: harts, frames (free, reserved), what runs there."""
        return self._backend.gather("cluster")

    def noc_stats(self) -> dict:
        """The NoC's figures: transfers, bytes, the busiest link, bytes x hops by what the traffic
        is for (simulated traffic)."""
        b = self._backend
        top = b.noc("busiest")
        out = {"messages": b.noc("messages_sent"), "bytes": b.noc("bytes_sent"), "busiest": None,
               "byte_hops": b.noc("byte_hops_sent")}  # bytes x hops: ikc, migration, policy, system
        if top is not None:
            (a, z), st = top
            out["busiest"] = {"link": f"{b.noc('name', a)}->{b.noc('name', z)}", "bytes": st.bytes,
                              "transfers": st.transfers}
        return out

    def daemon_stats(self) -> dict[str, int]:
        """The I/O cluster's daemons: requests served, packets relayed to a moved process or
        refused for an ended one."""
        return self._backend.daemons("stats")

    def hops(self, src: int, dst: int) -> int:
        """NoC hops between two clusters (the model's XY route on the torus)."""
        return self._backend.noc("hops", src, dst)

    @property
    def instructions(self) -> int:
        return sum(r.instructions for r in self.clusters())

    @property
    def syscalls(self) -> int:
        return sum(r.syscalls for r in self.clusters())

    # migration, checkpoint, restore (host side) -------------------------------------------------
    @property
    def migrations(self) -> list[Migration]:
        """Every migration and checkpoint asked for, in the order asked (simulated time)."""
        got = [m for ms in self._backend.gather("migrations") for m in ms]
        if self.spec.cache.caches:  # what the caches cost each moved process, measured where it went
            windows = {mid: w for ws in self._backend.gather("cache_windows") for mid, w in ws.items()}
            for m in got:
                if m.mid in windows:
                    m.stall_after, m.stall_next = windows[m.mid]
        return sorted(got, key=lambda m: (m.requested, m.mid))

    def _live(self, pid: int) -> ProcessRecord:
        r = self._record(pid)
        if not r.alive:
            raise ShoalError(f"process {pid} has ended ({r.state})")
        return r

    def _method_args(self, method: str, options: dict) -> dict:
        """Check a migration method and its options; the options as the kernels take them."""
        if method not in METHODS:
            raise ShoalError(f"unknown migration method {method!r} (one of {', '.join(METHODS)})")
        out: dict = {}
        for key, value in options.items():
            if key not in ("downtime_limit_us", "max_rounds", "max_bytes"):
                raise ShoalError(f"unknown migration option {key!r} (downtime_limit_us, max_rounds, "
                                 "max_bytes)")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1e15:
                raise ShoalError(f"bad migration option {key}={value!r}: a number from 0")
            if key == "downtime_limit_us":
                out["downtime_limit"] = int(value * 1e-6 * self.spec.cluster.freq_hz)
            else:
                out[key] = int(value)
        return out

    def migrate(self, pid: int, to: int, method: str | None = None, **options: float) -> MigrationView:
        """Move process `pid` to cluster `to` over the NoC by `method` (stopcopy, precopy,
        postcopy, hybrid), from now on; carried out while the chip runs. Returns a view of
        its record."""
        r = self._live(pid)
        self._cluster_arg(to)
        method = method or self.migration
        opts = self._method_args(method, options)
        got = self._backend.call(r.cluster, "migrate", pid, to, self.time, method, opts)
        if got == -EBUSY:
            raise ShoalError(f"process {pid} cannot migrate now (error {EBUSY}): an earlier move is "
                             "still under way (or its pages still follow it)")
        if got == -EOPNOTSUPP:
            raise ShoalError(f"process {pid} cannot migrate: {CHILDREN}")
        if got < 0:
            raise ShoalError(f"process {pid} cannot migrate now (error {-got})")
        return MigrationView(self, got)

    def kill(self, pid: int, signal: int = 9) -> None:
        """End process `pid` at the chip's current time, as `signal`'s default action would."""
        if not 1 <= signal <= 64:
            raise ShoalError(f"bad signal {signal} (1..64)")
        r = self._live(pid)
        if r.state != "running":
            raise ShoalError(f"process {pid} is being moved or frozen ({r.state}); kill it once it runs")
        self._backend.call(r.cluster, "kill", pid, signal, self.time)

    def schedule_migration(self, pid: int, to: int, at: int, method: str | None = None,
                           **options: float) -> None:
        """Migrate process `pid` to cluster `to` by `method` when simulated time reaches
        cycle `at`."""
        self._cluster_arg(to)
        method = method or self.migration
        opts = self._method_args(method, options)
        self._record(pid)  # an unknown pid is refused now, not at every later run()
        if not isinstance(at, int) or not 0 <= at < NEVER:
            raise ShoalError(f"bad migration time {at!r}: cycles from 0 to {NEVER - 1}")
        self._orders += 1
        self._scheduled.append((at, self._orders, pid, to, method, opts))
        self._scheduled.sort(key=lambda s: s[:2])

    def evacuate(self, cluster: int, at: int | None = None) -> None:
        """Drain `cluster` (now, or when simulated time reaches cycle `at`): every process there
        moves elsewhere (the `evacuate` policy, shoal/daemons/policies.py), none moves or is placed there
        afterwards, and none is lost."""
        self._cluster_arg(cluster)
        if at is not None and (not isinstance(at, int) or not 0 <= at < NEVER):
            raise ShoalError(f"bad evacuation time {at!r}: cycles from 0 to {NEVER - 1}")
        if self.spec.compute_clusters < 2:
            raise ShoalError("a chip with one compute cluster cannot evacuate it")
        if at is None or at <= self.time:
            self._report_on()
            self._backend.daemons("evacuate", cluster, self.time)
            return
        self._orders += 1
        self._scheduled.append((at, self._orders, None, cluster, "evacuate", {}))
        self._scheduled.sort(key=lambda s: s[:2])

    def policy_figures(self) -> dict:
        """The policy daemon's figures: notes (a policy switched off, and why), moves asked,
        refused, evacuated clusters, policies on."""
        return self._backend.daemons("policy_figures")

    @property
    def policy_notes(self) -> list[str]:
        return self.policy_figures()["notes"]

    def policy_moves(self) -> list[Migration]:
        """The migrations the policies asked for (record `by` is "policy:NAME", `why` says why)."""
        return [m for m in self.migrations if m.by.startswith("policy:")]

    def _issue_scheduled(self) -> bool:
        """Hand the migrations due now to their processes' kernels (the chip is at `at`);
        whether any reached a live process."""
        acted = False
        while self._scheduled and self._scheduled[0][0] <= self.time:
            at, order, pid, to, method, opts = self._scheduled.pop(0)
            if pid is None:  # an evacuation (Chip.evacuate)
                self._report_on()
                self._backend.daemons("evacuate", to, self.time)
                continue
            r = self._record(pid)
            if not r.alive:
                continue
            acted = True
            if r.state == "running":
                got = self._backend.call(r.cluster, "migrate", pid, to, max(at, self.time), method, opts)
                if got < 0 and got != -EBUSY:
                    why = CHILDREN if got == -EOPNOTSUPP else f"error {-got}"
                    self.refused_moves.append((pid, at, to, why))
                if got != -EBUSY:
                    continue
            # Still moving from an earlier request (or receiving its pages): ask again soon,
            # keeping its place among the requests (a later one must not overtake it).
            self._scheduled.append((max(at, self.time) + RETRY_CYCLES, order, pid, to, method, opts))
            self._scheduled.sort(key=lambda s: s[:2])
        return acted

    def checkpoint(self, pid: int, path: str | Path | None = None, stop: bool = False) -> bytes:
        """Freeze process `pid`, take its image (write it to `path`); it goes on unless `stop`."""
        r = self._live(pid)
        mid = self._backend.call(r.cluster, "checkpoint", pid, self.time, stop)
        if mid < 0:
            why = " (it is moving, or keeps pages in remote memory)" if mid == -EBUSY else ""
            if mid == -EOPNOTSUPP:
                raise ShoalError(f"process {pid} cannot be checkpointed: {ON_CHIP}, or {CHILDREN}")
            raise ShoalError(f"process {pid} cannot be checkpointed now (error {-mid}){why}")
        view = MigrationView(self, mid)
        # Threads in calls that must finish delay the freeze: run the chip until it is done.
        self._backend.advance(NEVER, until=lambda: view.state != MigState.FREEZING)
        self.time = max(self.time, view.frozen or 0)
        if view.state != MigState.CHECKPOINTED:
            raise ShoalError(f"checkpoint of process {pid} failed: {view.reason}")
        data = self._backend.call(r.cluster, "take_image", mid)
        if path is not None:
            try:
                Path(path).write_bytes(data)
            except OSError as e:
                raise ShoalError(f"cannot write {path}: {e.strerror or e}") from None
        return data

    def restore(self, source: str | Path | bytes, cluster: int = 0, stdin: bytes = b"") -> Process:
        """Load a checkpoint image on `cluster` (of this chip, whatever chip took it) and
        let it run from where it was frozen; `stdin` is what it reads on fd 0 from now on
        (an image carries no input: the host gives it, as to a program it starts)."""
        self._cluster_arg(cluster)
        where = "image" if isinstance(source, bytes) else str(source)
        if isinstance(source, bytes):
            data = source
        else:  # no larger than an image this chip could hold (kernel/image.py), checked first
            from shoal.hostfile import read_file
            data = read_file(source, str(source), image.max_bytes(self.spec))
        meta, _ = image.check(data, where)  # the metadata is checked once, here and on the cluster
        pid = meta["pid"]
        # A pid names one process on a chip, for good: a second copy (the same image restored
        # twice, or a process that had this pid, even one that ended) would share its handle,
        # records and output.
        prior = next((r for r in self.processes() if r.pid == pid), None)
        if prior is not None or self._backend.daemons("running", pid):
            state = prior.state if prior is not None else "running"
            raise ShoalError(f"{where}: pid {pid} is already on this chip ({state})")
        self._backend.call(cluster, "restore", data, self.time, where)
        self._backend.daemons("adopt_pid", pid, cluster, meta["name"])
        self._backend.daemons("set_stdin", pid, stdin)
        return self._handle(pid)

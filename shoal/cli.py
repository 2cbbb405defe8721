"""The `shoal` command: cc, run, checkpoint, restore, bench, demo, mpirun. Bad input gets one
line on stderr and a non-zero exit. Long (~740 lines): each subcommand's options, their checks
and its report; the work is the API's (shoal/api.py) and the tools'."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shoal.errors import ShoalError

if TYPE_CHECKING:
    from shoal.spec import ChipSpec


def _cache_lines(counts: tuple[int, ...], instructions: int, cpi: int) -> list[str]:
    """The L1 model's line of --stats (none when the model is off)."""
    if not counts:
        return []
    loads, stores, lm, sm, _fetches, fm, stall, waits, wait = counts

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.2f}%" if b else "-"
    banks = f", {wait} of them waiting for a memory bank ({waits} misses)" if waits else ""
    return [f"  L1 caches      : D {loads} loads ({pct(lm, loads)} miss), {stores} stores "
            f"({pct(sm, stores)} miss); I {fm} misses ({pct(fm, instructions)} of instructions); "
            f"stalled {stall} cycles ({pct(stall, instructions * cpi + stall)} of its threads' "
            f"time){banks}"]


def _stats(chip: object, proc: object) -> str:
    from shoal.api import Chip, Process
    assert isinstance(chip, Chip) and isinstance(proc, Process)
    c = proc.record
    spec = chip.spec
    cyc = proc.cycles or 0
    calls = ", ".join(f"{n} {k}" for k, n in sorted(c.syscalls.items(), key=lambda kv: (-kv[1], kv[0])))
    unknown = ", ".join(f"#{n} x{k}" for n, k in sorted(c.unknown_syscalls.items())) or "none"
    mips = proc.instructions / chip.wall_seconds / 1e6 if chip.wall_seconds > 0 else 0.0
    lines = [
        f"shoal stats for {proc.name} (pid {proc.pid}) on cluster {proc.cluster} of {spec.name}",
        f"  simulated time : {cyc} cycles = {spec.cycles_to_seconds(cyc) * 1e3:.3f} ms "
        f"at {spec.freq_hz / 1e6:g} MHz",
        f"  instructions   : {proc.instructions} (guest, all threads)",
        f"  threads        : {c.threads}",
        f"  syscalls       : {sum(c.syscalls.values())} ({calls or 'none'})",
        f"  unknown calls  : {unknown} (answered -ENOSYS; a known call refused for an "
        "unsupported flag is counted here too)",
        f"  kernel queueing: {c.kcore_wait} cycles (calls waiting for the cluster's kernel core)",
        f"  peak memory    : {c.peak_frames} frames = {c.peak_frames * spec.page_size // 1024} KiB "
        f"(pages and page tables)",
        f"  shared memory  : {c.shm_faults} faults on pages another cluster held",
        f"  remote memory  : {c.rmem_faults} page faults, {c.evictions} pages evicted to the I/O "
        f"cluster; threads waited {c.page_wait} cycles = {spec.cycles_to_seconds(c.page_wait) * 1e6:.1f} us "
        f"simulated for pages",
        *_cache_lines(c.caches, proc.instructions, spec.cpi),
        *_kernel_cache_lines(c.kernel_caches),
        f"  host wall time : {chip.wall_seconds:.3f} s ({mips:.1f} guest MIPS on the host)",
        f"  cpu            : {chip.cpu_engine}",
    ]
    noc = chip.noc_stats()
    top = noc["busiest"]
    if top is not None:
        lines.append(f"  NoC            : {noc['messages']} transfers, {noc['bytes']} bytes sent; "
                     f"busiest link {top['link']} ({top['bytes']} bytes, {top['transfers']} transfers)")
    d = chip.daemon_stats()
    if d["fs_nodes"] or d["mq_queues"] or d["semaphores"]:
        lines.append(f"  file system    : {d['fs_nodes']} files and directories, {d['fs_bytes']} bytes, "
                     f"{d['fs_handles']} open; {d['mq_queues']} message queues, {d['semaphores']} semaphores")
    for m in proc.migrations:
        if m.dst < 0:
            continue
        if m.ok:
            dt = m.downtime or 0
            total = "unfinished" if m.total is None else f"{m.total} cycles"
            lines.append(f"  migration      : cluster {m.src} -> {m.dst} at cycle {m.requested}: downtime "
                         f"{dt} cycles = {spec.cycles_to_seconds(dt) * 1e6:.1f} us simulated, total "
                         f"{total}, {m.bytes} bytes, {m.pages} pages, {m.threads} threads; "
                         f"host {m.wall_seconds * 1e3:.2f} ms")
            wait = spec.cycles_to_seconds(m.page_wait) * 1e6
            if m.src == m.dst:  # already there: nothing moved, no method to speak of
                continue
            lines.append(f"    method       : {m.method}, {m.rounds} pre-copy rounds, {m.pages_sent} pages "
                         f"sent ({m.pages_resent} more than once, {m.bytes_sent} bytes), {m.postcopy_pages} "
                         f"after the thaw, {m.remote_faults} remote page faults, threads waited "
                         f"{m.page_wait} cycles = {wait:.1f} us simulated for pages"
                         + (f"; switched over: {m.switch}" if m.switch else ""))
        else:
            lines.append(f"  migration      : cluster {m.src} -> {m.dst} at cycle {m.requested}: "
                         f"{m.state}: {m.reason}")
    lines += _policy_stats(chip)
    others = [c for c in chip.processes() if c.pid != proc.pid]
    for c2 in others:
        how = (f"exit {c2.exit_code}" if c2.signal is None else c2.message) if not c2.alive else "running"
        lines.append(f"  process {c2.pid:<6} : {c2.name} on cluster {c2.cluster}, {how}, "
                     f"{c2.instructions} instructions")
    return "\n".join(lines) + "\n"


def _policy_stats(chip: object) -> list[str]:
    """Each policy's moves: how many, their downtime, and each one with its reason."""
    from shoal.api import Chip
    assert isinstance(chip, Chip)
    moves = chip.policy_moves()
    fig = chip.policy_figures()
    if not moves and not fig["policies"]:
        return []
    spec = chip.spec
    lines = [f"  policies       : {', '.join(fig['policies']) or 'none left'}; {fig['asked']} moves asked, "
             f"{fig['refused']} refused" + (f"; evacuated {fig['evacuated']}" if fig["evacuated"] else "")]
    by: dict[str, list] = {}
    for m in moves:
        by.setdefault(m.by[7:], []).append(m)
    for name, ms in sorted(by.items()):
        down = sum(m.downtime or 0 for m in ms if m.ok)
        ok = sum(1 for m in ms if m.ok)
        lines.append(f"  policy {name:<8}: {len(ms)} migrations ({ok} done), total downtime {down} cycles = "
                     f"{spec.cycles_to_seconds(down) * 1e6:.1f} us simulated")
        for m in ms:
            what = m.state if m.ok else f"{m.state}: {m.reason}"
            lines.append(f"    pid {m.pid}: cluster {m.src} -> {m.dst} at "
                         f"{spec.cycles_to_seconds(m.requested) * 1e3:.3f} ms ({what}): {m.why}")
    return lines


def _spec(args: argparse.Namespace) -> ChipSpec:
    """The chip of --chip, without its cache model under --no-caches."""
    from shoal.spec import ChipSpec
    spec = ChipSpec.load(args.chip)
    if getattr(args, "no_caches", False) and spec.caches:
        import dataclasses
        spec = dataclasses.replace(spec, caches=False)
    return spec


def _kernel_cache_lines(counts: tuple[int, ...]) -> list[str]:
    """The kernel core's caches while it served the process (kernel/kmem.py)."""
    if not counts:
        return []
    loads, stores, lm, sm, fetches, fm, stall = counts[:7]
    d, dm = loads + stores, lm + sm
    return [f"  kernel L1      : D {d} accesses ({100 * dm / max(1, d):.2f}% miss), I {fetches} line "
            f"fetches ({100 * fm / max(1, fetches):.2f}% miss); stalled {stall} cycles (modelled "
            "kernel structures, kernel/kmem.py)"]


def cmd_run(args: argparse.Namespace) -> int:
    from shoal.api import Chip

    spec = _spec(args)

    period = None if args.policy_period is None else _time_arg(args.policy_period, spec) / spec.freq_hz * 1e6
    chip = Chip(spec, seed=args.seed, sink=_sink, trace=_tracer(args, spec), policy=args.policy,
                policy_period_us=period)
    for f in args.file:
        name, data = _file(f)
        chip.add_file(name, data)
    fs_out = _fs_in(chip, args, spec)
    moves = [(m, *_migration_arg(m, spec)) for m in args.migrate]
    for text in args.evacuate:
        at, cluster = _evacuate_arg(text, spec)
        chip.evacuate(cluster, at=at)
    stub = None
    if args.gdb is not None:
        from shoal.tools.gdbstub import GdbStub
        stub = GdbStub(chip, args.gdb)  # listening before the program loads: a busy port fails first
    proc = chip.spawn(args.program, [_progname(args.program), *args.args], cluster=args.cluster,
                      stdin=StdinSource(), env=args.env, user=_user_arg(args.user))  # type: ignore[arg-type]
    for _, at, to, method in moves:
        chip.schedule_migration(proc.pid, to, at, method)
    if stub is not None:
        stub.serve(proc.pid)  # the program stays at its entry until GDB lets it go
    else:
        chip.run()
    end = proc.record.end_cycle
    for text, at, _, _ in moves:
        if end is not None and at >= end and not any(m.requested == at for m in proc.migrations):
            sys.stderr.write(f"shoal: --migrate {text}: the program had ended at cycle {end} "
                             f"({spec.cycles_to_seconds(end) * 1e3:.3f} ms); not moved\n")
    _trace_note(chip)
    code = _finish(chip, proc, args.stats)
    _fs_home(chip, fs_out)  # last: what it could not write is the run's last line (exit 2)
    return code


def cmd_mpirun(args: argparse.Namespace) -> int:
    """`shoal mpirun -n N prog`: N ranks, each a container (Chip.mpirun); output prefixless as
    it reaches the console (interleaved in simulated time); status as mpiexec's."""
    from shoal.api import Chip
    from shoal.tools.mpirun import run_job

    spec = _spec(args)
    period = None if args.policy_period is None else _time_arg(args.policy_period, spec) / spec.freq_hz * 1e6
    chip = Chip(spec, seed=args.seed, sink=_sink, trace=_tracer(args, spec), policy=args.policy,
                policy_period_us=period)
    for f in args.file:
        chip.add_file(*_file(f))
    moves = []
    for text in args.migrate:  # [RANK@]AT:CLUSTER[:METHOD]
        rank, _, spec_text = text.rpartition("@")
        if rank and not (rank.isdigit() and int(rank) < args.n):
            raise ShoalError(f"--migrate {text}: '{rank}' is not a rank of the job (0..{args.n - 1})")
        moves.append((int(rank or 0), *_migration_arg(spec_text, spec)))
    ranks = chip.mpirun(args.program, args.n, [_progname(args.program), *args.args], ppc=args.ppc,
                        stdin=StdinSource(), env=args.env)  # type: ignore[arg-type]
    for rank, at, to, method in moves:
        chip.schedule_migration(ranks[rank].pid, to, at, method)
    end = run_job(chip, ranks)
    _trace_note(chip)
    line = end.line(ranks)
    if line is not None:
        sys.stderr.write(f"shoal: {line}\n")
    for m in chip.migrations:
        if m.state == "failed":
            sys.stderr.write(f"shoal: migration of pid {m.pid} from cluster {m.src} to {m.dst} failed: "
                             f"{m.reason}; it went on at cluster {m.src}\n")
    if args.stats:
        sys.stderr.write(_stats(chip, ranks[0]))
    return end.status(ranks)


def _fs_in(chip: object, args: argparse.Namespace, spec: object) -> str | None:
    """--fs DIR: the chip's file system starts as a copy of DIR; where the final tree goes
    (DIR, or --fs-out), checked before the run; None without either option."""
    fs_out = args.fs_out or args.fs
    if fs_out is not None:
        from shoal.tools.hostfs import check_out_dir, read_host_tree
        if args.fs is not None:
            chip.load_fs(read_host_tree(args.fs, spec))  # type: ignore[attr-defined, arg-type]
        check_out_dir(fs_out, "--fs-out" if args.fs_out else "--fs")
    return fs_out


def _fs_home(chip: object, fs_out: str | None) -> None:
    """The final tree of the chip's file system, written where --fs/--fs-out said."""
    if fs_out is None:
        return
    from shoal.tools.hostfs import write_host_tree
    try:
        write_host_tree(chip.fs_tree(), fs_out)  # type: ignore[attr-defined]
    except OSError as e:
        why = (e.strerror or str(e)).lower()
        raise ShoalError(f"writing the file system to {fs_out}: {why}") from None


def _fs_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--fs", metavar="DIR", help="start the chip's writable file system from a copy of "
                   "the host directory DIR, and write its final tree back to DIR at the end")
    q.add_argument("--fs-out", metavar="DIR", help="write the final tree of the chip's file system to "
                   "DIR instead (made to hold exactly that tree)")


def _tracer(args: argparse.Namespace, spec: object) -> object:
    """The Tracer that --trace and its filters ask for (shoal/tools/trace.py), or None."""
    if args.trace is None:
        return None
    from shoal.tools.trace import Tracer, parse_clusters
    kinds = None if args.trace_kinds is None else [k.strip() for k in args.trace_kinds.split(",")
                                                   if k.strip()]
    clusters = None if args.trace_clusters is None else parse_clusters(args.trace_clusters)
    return Tracer(spec, limit=args.trace_limit, clusters=clusters, kinds=kinds, path=args.trace)  # type: ignore[arg-type]


def _trace_note(chip: object) -> None:
    tr = getattr(chip, "tracer", None)
    dropped = None if tr is None else tr.dropped if tr.dropped_in_file is None else tr.dropped_in_file
    if dropped:
        n = sum(dropped.values())
        sys.stderr.write(f"shoal: trace: {n} events dropped (limit {tr.limit} events; "  # type: ignore[union-attr]
                         f"{', '.join(f'{k} {v}' for k, v in sorted(dropped.items()))}); "
                         "raise --trace-limit or use --trace-clusters/--trace-kinds\n")


# shoal/tools/trace.py's KINDS and DEFAULT_LIMIT, here so that building the parser does not import
# the tracer (tests/test_startup.py checks they agree).
TRACE_KINDS = ("slices", "syscalls", "packets", "frames", "links", "migrations", "caches")
TRACE_LIMIT = 200_000


def _trace_args(q: argparse.ArgumentParser) -> None:
    DEFAULT_LIMIT, KINDS = TRACE_LIMIT, TRACE_KINDS  # noqa: N806
    q.add_argument("--trace", metavar="FILE.json", help="write a trace (Chrome Trace Event format, "
                   "simulated time) for ui.perfetto.dev or chrome://tracing")
    q.add_argument("--trace-limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"keep at most N events (default {DEFAULT_LIMIT}); the rest are counted as dropped")
    q.add_argument("--trace-clusters", metavar="LIST", help="trace only these clusters (0,3,5-7)")
    q.add_argument("--trace-kinds", metavar="LIST", help=f"trace only these kinds ({','.join(KINDS)})")


class OutputError(ShoalError):
    """The host's stdout or stderr took no more of the program's output."""


def _sink(pid: int, fd: int, data: bytes) -> None:
    text = sys.stdout if fd == 1 else sys.stderr
    name = "standard output" if fd == 1 else "standard error"
    if text is None:
        raise OutputError(f"cannot write the program's output: {name} is closed")
    try:
        stream = text.buffer
        stream.write(data)
        stream.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise OutputError(f"cannot write the program's output to {name}: {why}") from None


class StdinSource:
    """The host's stdin, read only as far as a guest reads it: a program that never reads
    stdin never waits on it, and one that reads an endless stream (`< /dev/zero`) costs the
    host only the bytes of the read in hand. A read is filled whole unless stdin ends, however
    the host's pipe happens to deliver, so that runs are the same for the same input. Reads
    come in order (the console daemon's position only moves forward)."""

    CHUNK = 1 << 16

    def __init__(self) -> None:
        self._buf = bytearray()  # bytes from offset `_base` on, not yet taken
        self._base = 0
        self._eof = False
        self._ok: bool | None = None

    def _fill(self, stop: int) -> None:
        if self._ok is None:
            try:
                self._ok = sys.stdin is not None and not sys.stdin.isatty()
                fd = sys.stdin.fileno() if self._ok else -1
            except (OSError, ValueError, AttributeError):
                self._ok, fd = False, -1
            self._fd = fd
            self._eof = not self._ok
        while not self._eof and self._base + len(self._buf) < stop:
            try:
                b = os.read(self._fd, min(self.CHUNK, stop - self._base - len(self._buf)))
            except OSError as e:
                raise ShoalError(f"cannot read standard input: {e.strerror or e}") from None
            if not b:
                self._eof = True
            self._buf += b

    def __getitem__(self, key: slice) -> bytes:
        start, stop = key.start or 0, key.stop if key.stop is not None else 1 << 62
        if start > self._base:  # taken: forget it
            del self._buf[:start - self._base]
            self._base = start
        self._fill(stop)
        return bytes(self._buf[start - self._base:stop - self._base])


def _finish(chip: object, proc: object, stats: bool) -> int:
    from shoal.api import Chip, Process
    assert isinstance(chip, Chip) and isinstance(proc, Process)
    for c in chip.processes():
        if c.signal is not None:
            sys.stderr.write(f"shoal: {c.name} (pid {c.pid}) {c.message}\n")
    for m in chip.migrations:
        if m.state == "failed":
            sys.stderr.write(f"shoal: migration of pid {m.pid} from cluster {m.src} to {m.dst} failed: "
                             f"{m.reason}; it went on at cluster {m.src}\n")
    for note in chip.policy_notes:
        sys.stderr.write(f"shoal: {note}\n")
    if stats:
        sys.stderr.write(_stats(chip, proc))
    return proc.returncode or 0


# The longest simulated time the CLI takes: one day (3.5e13 cycles at 400 MHz), far beyond
# any run a host can finish, and far below the engine's end of time (2**62 cycles).
MAX_SECONDS = 86_400
UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _time_arg(text: str, spec: object) -> int:
    """Simulated time: cycles, or a number with a unit (s, ms, us, ns); from 0 to a day."""
    from shoal.spec import ChipSpec
    assert isinstance(spec, ChipSpec)
    limit = MAX_SECONDS * spec.freq_hz
    bad = (f"bad time '{text}': give cycles, or a number with s, ms, us or ns, from 0 to "
           f"{MAX_SECONDS} s ({int(limit)} cycles)")
    unit = next((u for u in ("ns", "us", "ms", "s") if text.endswith(u)), None)
    try:
        if unit is not None:
            v = float(text[:-len(unit)]) * UNITS[unit] * spec.freq_hz
        else:
            v = int(text)
    except (ValueError, OverflowError):
        raise ShoalError(bad) from None
    # Compared as they are (no conversion of a huge integer to float): NaN fails v == v.
    if v != v or v < 0 or v > limit or (unit is not None and text[0] == "-"):
        raise ShoalError(bad)
    return int(v)


def _evacuate_arg(text: str, spec: object) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) != 2:
        raise ShoalError(f"--evacuate {text}: expected AT:CLUSTER (for example 2ms:5)")
    try:
        cluster = int(parts[1])
    except ValueError:
        raise ShoalError(f"--evacuate {text}: '{parts[1]}' is not a cluster number") from None
    return (_time_arg(parts[0], spec), cluster)


def _migration_arg(text: str, spec: object) -> tuple[int, int, str]:
    from shoal.kernel.migrate import METHODS

    text = text.encode("unicode_escape").decode()  # the error stays one line, whatever was typed
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ShoalError(f"--migrate {text}: expected AT:CLUSTER[:METHOD] (for example 2ms:5 or "
                         "2ms:5:precopy)")
    at, cluster = parts[:2]
    method = parts[2] if len(parts) == 3 else "stopcopy"
    if method not in METHODS:
        raise ShoalError(f"--migrate {text}: unknown method '{method}' (one of {', '.join(METHODS)})")
    try:
        to = int(cluster)
    except ValueError:
        raise ShoalError(f"--migrate {text}: '{cluster}' is not a cluster number") from None
    return (_time_arg(at, spec), to, method)


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from shoal.api import Chip

    spec = _spec(args)
    chip = Chip(spec, seed=args.seed, sink=_sink)
    for f in args.file:
        chip.add_file(*_file(f))
    fs_out = _fs_in(chip, args, spec)
    proc = chip.spawn(args.program, [_progname(args.program), *args.args], cluster=args.cluster,
                      stdin=StdinSource())
    at = _time_arg(args.at, spec)
    chip.run(max_cycles=at)
    if proc.done:
        raise ShoalError(f"{proc.name} ended (at cycle {proc.record.end_cycle}) before cycle {at}: "
                         "nothing to checkpoint")
    data = proc.checkpoint(args.output, stop=True)
    _fs_home(chip, fs_out)  # the files as they were when the image was taken
    m = proc.migrations[-1]
    sys.stderr.write(f"shoal: checkpointed {proc.name} (pid {proc.pid}) at cycle {m.frozen} to "
                     f"{args.output} ({len(data)} bytes, {m.pages} pages, {m.threads} threads)\n")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from shoal.api import Chip

    spec = _spec(args)
    chip = Chip(spec, seed=args.seed, sink=_sink, trace=_tracer(args, spec))
    for f in args.file:
        chip.add_file(*_file(f))
    fs_out = _fs_in(chip, args, spec)
    proc = chip.restore(args.image, cluster=args.cluster, stdin=StdinSource())
    chip.run()
    _trace_note(chip)
    code = _finish(chip, proc, args.stats)
    _fs_home(chip, fs_out)  # last: what it could not write is the run's last line (exit 2)
    return code


# The largest --file: 64 MiB, far above what a cluster's memory holds (2 MiB on mppa256), so
# it refuses only what no guest could load, and devices such as /dev/zero that never end.
MAX_FILE = 64 * 1024 * 1024


def _file(path: str) -> tuple[str, bytes]:
    """A --file: known to guests by its base name; a .c file is compiled first (cached)."""
    from pathlib import Path

    from shoal.hostfile import check_file, read_file
    from shoal.toolchain import compile_cached
    p = Path(path)
    if p.suffix == ".c":  # (a FIFO named x.c would block the compiler: checked first)
        check_file(p, f"--file {path}", MAX_FILE)
        elf = compile_cached([p])
        return (p.stem, read_file(elf, str(elf), MAX_FILE))
    return (p.name, read_file(p, f"--file {path}", MAX_FILE))


def _progname(path: str) -> str:
    """argv[0]: the program's path as typed, as a shell gives it on Linux (a C source: the
    path of the program it would build, without `.c`)."""
    return path[:-2] if path.endswith(".c") and len(path) > 2 else path


def cmd_cc(args: list[str]) -> int:
    from shoal.toolchain import cc
    if not args:
        raise ShoalError("usage: shoal cc SRC... -o OUT [flags]")
    return cc(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from shoal.experiments.demo import demo
    return demo(args.chip, args.trace)


class _Parser(argparse.ArgumentParser):
    """Bad options get one line (`shoal: run: ...`), as every other refusal."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ShoalError(f"{self.prog.removeprefix('shoal').strip() or 'usage'}: {message} "
                         f"(see shoal {self.prog.removeprefix('shoal').strip()} --help)".replace("  ", " "))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with only="run", the same parser for `shoal run` alone,
    without building the others (a few ms of every start: argparse looks its messages'
    translations up on disk for each parser)."""
    p = _Parser(prog="shoal", description="shoal: a distributed OS for lightweight "
                                "manycores, on an emulated MPPA-256-like chip")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("cc", help="compile C for the chip (zig cc, riscv32-linux-musl, static)",
                   add_help=False)
    if only in (None, "run"):
        _run_parser(sub)
    if only in (None, "checkpoint", "restore", "bench", "demo"):
        _other_parsers(sub)
    if only is None:
        _mpirun_parser(sub)
    return p


def _mpirun_parser(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("mpirun", help="run an MPI program (mpi.h) as N ranks, each a container")
    m.add_argument("-n", "-np", dest="n", type=int, required=True, help="number of ranks")
    m.add_argument("--ppc", type=int, default=1, help="ranks per compute cluster (default 1; rank r "
                   "runs on cluster (r // PPC) mod the clusters); 0: each rank placed by load (with "
                   "--policy: a hart for each of its threads, by the load reports)")
    m.add_argument("--chip", default="mppa256", help="preset (mppa256, tiny) or a .toml file")
    m.add_argument("--no-caches", action="store_true", help="do not simulate the L1 caches")
    m.add_argument("--stats", action="store_true", help="print rank 0's figures and the others' lines")
    m.add_argument("--seed", type=int, default=0, help="seed for getrandom and AT_RANDOM")
    m.add_argument("--file", action="append", default=[], metavar="PATH", help="as for run")
    _env_args(m)
    m.add_argument("--migrate", action="append", default=[], metavar="[RANK@]AT:CLUSTER[:METHOD]",
                   help="migrate RANK (default 0) to CLUSTER at simulated time AT; repeatable")
    m.add_argument("--policy", metavar="LIST", help="automatic migration policies, as for run")
    m.add_argument("--policy-period", metavar="TIME", help="simulated time between load reports")
    _trace_args(m)
    _mpi_args(m)
    m.add_argument("program")
    m.add_argument("args", nargs=argparse.REMAINDER)


def _user_arg(text: str) -> tuple[int, int]:
    """--user UID[:GID] (GID: UID's number again, as a user's own group)."""
    uid, _, gid = text.partition(":")
    try:
        out = (int(uid), int(gid or uid))
    except ValueError:
        raise ShoalError(f"bad --user {text!r}: UID[:GID], numbers") from None
    if not all(0 <= v < (1 << 32) - 1 for v in out):
        raise ShoalError(f"bad --user {text!r}: ids from 0 to 4294967294")
    return out


def _env_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-E", "--env", action="append", default=[], metavar="NAME=VALUE",
                   help="put NAME=VALUE in the program's environment (empty by default), as "
                   "qemu-user's -E; repeatable")


def _run_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="run a static RV32 ELF (or a .c file) on the chip")
    r.add_argument("--chip", default="mppa256", help="preset (mppa256, tiny) or a .toml file")
    r.add_argument("--no-caches", action="store_true", help="do not simulate the L1 caches (faster on "
                   "the host; simulated time then counts no cache misses)")
    r.add_argument("--cluster", type=int, default=0, help="compute cluster to run on")
    r.add_argument("--stats", action="store_true", help="print simulated and host figures")
    r.add_argument("--seed", type=int, default=0, help="seed for getrandom and AT_RANDOM")
    _env_args(r)
    r.add_argument("--user", default="0", metavar="UID[:GID]",
                   help="run the program as this user and group (root, 0:0, by default); a user "
                   "that is not root gets Linux's permission checks on files")
    r.add_argument("--file", action="append", default=[], metavar="PATH",
                   help="add a read-only file to the chip's file image, known to guests by its base "
                   "name (they can open and spawn it); repeatable; a .c file is compiled first")
    _fs_args(r)
    r.add_argument("--migrate", action="append", default=[], metavar="AT:CLUSTER[:METHOD]",
                   help="migrate the program to CLUSTER at simulated time AT (cycles, or with a "
                   "unit: 2ms, 500us) by METHOD: stopcopy (the default), precopy, postcopy or "
                   "hybrid; repeatable")
    r.add_argument("--policy", metavar="LIST", help="automatic migration policies: balance, locality, "
                   "memory, evacuate, or FILE.py:CLASS (a subclass of shoal.daemons.policies.Policy), "
                   "comma-separated")
    r.add_argument("--policy-period", metavar="TIME", help="simulated time between load reports "
                   "(default 1ms)")
    r.add_argument("--evacuate", action="append", default=[], metavar="AT:CLUSTER",
                   help="drain CLUSTER at simulated time AT: its processes move elsewhere, none goes "
                   "there afterwards; repeatable")
    _trace_args(r)
    _mpi_args(r)
    r.add_argument("--gdb", type=int, metavar="PORT", help="wait for GDB (gdb-multiarch: target remote "
                   ":PORT) and serve the remote protocol for the program; 0 picks a free port")
    r.add_argument("program")
    r.add_argument("args", nargs=argparse.REMAINDER)


def _other_parsers(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("checkpoint", help="run a program until a simulated time, then write its "
                       "image to a file and stop")
    for q in (c,):
        q.add_argument("--chip", default="mppa256")
        q.add_argument("--no-caches", action="store_true")
        q.add_argument("--cluster", type=int, default=0)
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--file", action="append", default=[], metavar="PATH")
        _fs_args(q)
    c.add_argument("--at", required=True, help="simulated time: cycles, or with a unit (2ms)")
    c.add_argument("-o", "--output", required=True, help="image file to write")
    c.add_argument("program")
    c.add_argument("args", nargs=argparse.REMAINDER)
    rs = sub.add_parser("restore", help="load a checkpoint image on a cluster and run it to its end")
    rs.add_argument("--chip", default="mppa256")
    rs.add_argument("--no-caches", action="store_true")
    rs.add_argument("--cluster", type=int, default=0)
    rs.add_argument("--seed", type=int, default=0)
    rs.add_argument("--file", action="append", default=[], metavar="PATH")
    _fs_args(rs)
    rs.add_argument("--stats", action="store_true")
    _trace_args(rs)
    rs.add_argument("image")
    b = sub.add_parser("bench", help="measurements: `shoal bench migration|policy|locality|mpi --out DIR` "
                       "(CSV and plots)")
    b.add_argument("what", choices=["migration", "policy", "locality", "mpi"])
    b.add_argument("--out", required=True, help="directory for the CSV files and PNG plots")
    b.add_argument("--chip", default="mppa256")
    b.add_argument("--quick", action="store_true", help="fewer points")
    d = sub.add_parser("demo", help="run the demo: programs on every cluster, and migration experiments")
    d.add_argument("--chip", default="mppa256")
    d.add_argument("--trace", metavar="FILE.json", help="trace step (0) of the demo (16 clusters at "
                   "work, then one migration) to FILE.json")
    _mpi_args(d)


def _wants_mpi(argv: list[str]) -> bool:
    """This process is one of the MPI backend's ranks: started by `--ranks` ($SHOAL_MPI_RANKS),
    or by the user's own mpiexec with `--backend mpi` (an option of shoal's, not of the program)."""
    if os.environ.get("SHOAL_MPI_RANKS"):
        return True
    if not any(a.startswith("--backend") for a in argv) or "-h" in argv or "--help" in argv:
        return False  # (no parse: it costs every start a few ms)
    try:
        args = build_parser(argv[0] if argv[0] == "run" else None).parse_args(argv)
    except ShoalError:
        return False  # refused in one line by rank 0's parse, as in one process
    return getattr(args, "backend", "local") == "mpi"


def _mpi_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--ranks", type=int, metavar="N", help="spread the chip's clusters over N MPI ranks "
                   "on this host (mpiexec of the [mpi] extra); the results are the same")
    q.add_argument("--backend", choices=["local", "mpi"], default="local",
                   help="mpi: this process is a rank of the user's own `mpiexec -n N python -m shoal ...`")


def _no_mpi_options(args: argparse.Namespace) -> None:
    """What works in one process only."""
    if getattr(args, "trace", None):
        raise ShoalError("--trace works with the in-process backend only (not with --ranks or --backend mpi)")
    if getattr(args, "gdb", None) is not None:
        raise ShoalError("--gdb works with the in-process backend only (not with --ranks or --backend mpi)")


def main(argv: Sequence[str] | None = None) -> int:
    """The `shoal` command (argv: sys.argv[1:] unless given); its exit status."""
    if argv is not None:
        return _ranked(list(argv))
    try:
        code = _ranked(sys.argv[1:])
    finally:
        # The process ends next. Its objects need no cyclic collection: frozen, the one
        # Python runs at exit skips them (~10 ms of every run).
        import gc
        gc.freeze()
    return code


def _ranked(argv: list[str]) -> int:
    """`_main`, or under the MPI backend: rank 0 runs it, the other ranks serve rank 0."""
    if argv and argv[0] in ("run", "demo", "mpirun") and _wants_mpi(argv):
        from shoal.engine import mpi as mpibackend
        try:
            rank = mpibackend.rank_role()
        except ShoalError as e:
            sys.stderr.write(f"shoal: {e}\n")
            return 2
        if rank != 0:
            return mpibackend.serve()
        os.environ["SHOAL_BACKEND"] = "mpi"  # every chip of this run (the demo makes several)
        code = _main(argv)
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        mpibackend.report_status(code)
        return code
    return _main(argv)


def _main(argv: list[str]) -> int:
    try:
        if argv and argv[0] == "cc":
            return cmd_cc(argv[1:])
        args = build_parser(argv[0] if argv and argv[0] == "run" else None).parse_args(argv)
        if getattr(args, "ranks", None) is not None or os.environ.get("SHOAL_BACKEND") == "mpi":
            _no_mpi_options(args)
            if getattr(args, "ranks", None) is not None and not os.environ.get("SHOAL_MPI_RANKS"):
                from shoal.engine.mpi import launch
                from shoal.spec import ChipSpec
                return launch(argv, args.ranks, ChipSpec.load(args.chip).compute_clusters)
        if args.cmd == "run":
            return cmd_run(args)
        if args.cmd == "mpirun":
            return cmd_mpirun(args)
        if args.cmd == "checkpoint":
            return cmd_checkpoint(args)
        if args.cmd == "restore":
            return cmd_restore(args)
        if args.cmd == "bench":
            from pathlib import Path

            if args.what == "policy":
                from shoal.experiments.benchpolicy import bench_policy
                return bench_policy(Path(args.out), args.quick)
            if args.what == "locality":
                from shoal.experiments.benchlocality import bench_locality
                return bench_locality(Path(args.out), args.chip, args.quick)
            if args.what == "mpi":
                from shoal.experiments.benchmpi import bench_mpi
                return bench_mpi(Path(args.out), args.chip, args.quick)
            from shoal.experiments.benchmig import bench_migration
            return bench_migration(Path(args.out), args.chip, args.quick)
        return cmd_demo(args)
    except OutputError as e:
        _silence_stdout()
        sys.stderr.write(f"shoal: {e}\n")
        return 1
    except ShoalError as e:
        sys.stderr.write(f"shoal: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("shoal: interrupted\n")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    """What is left in stdout's buffer can never be written: send it to /dev/null, so that
    Python's own flush at exit prints no second complaint."""
    try:
        fd = sys.stdout.fileno() if sys.stdout is not None else -1
    except (OSError, ValueError, AttributeError):
        return
    if fd >= 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


if __name__ == "__main__":
    sys.exit(main())

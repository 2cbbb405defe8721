"""Each `shoal` command: it makes a chip from the options, runs it and reports (report.py);
the options' values (simulated times, migrations, files) are checked here, one line each."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TYPE_CHECKING

from shoal.cli.hostio import StdinSource, sink
from shoal.cli.report import finish, stats_text, trace_note
from shoal.errors import ShoalError

if TYPE_CHECKING:
    from shoal.spec import ChipSpec


def _spec(args: argparse.Namespace) -> ChipSpec:
    """The chip of --chip, without its cache model under --no-caches."""
    from shoal.spec import ChipSpec
    spec = ChipSpec.load(args.chip)
    if getattr(args, "no_caches", False) and spec.cache.caches:
        spec = spec.replace(caches=False)
    return spec


def cmd_run(args: argparse.Namespace) -> int:
    from shoal.api import Chip

    spec = _spec(args)

    freq = spec.cluster.freq_hz
    period = None if args.policy_period is None else _time_arg(args.policy_period, spec) / freq * 1e6
    chip = Chip(spec, seed=args.seed, sink=sink, trace=_tracer(args, spec), policy=args.policy,
                policy_period_us=period, **_user_arg(args.user))
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
                      stdin=StdinSource(), env=args.env)  # type: ignore[arg-type]
    for _, at, to, method in moves:
        chip.schedule_migration(proc.pid, to, at, method)
    if stub is not None:
        stub.serve(proc.pid)  # the program stays at its entry until GDB lets it go
    else:
        chip.run()
    end = proc.record.end_cycle
    for text, at, to, _ in moves:
        if end is not None and at >= end and not any(m.requested == at for m in proc.migrations):
            sys.stderr.write(f"shoal: --migrate {text}: the program had ended at cycle {end} "
                             f"({spec.cycles_to_seconds(end) * 1e3:.3f} ms); not moved\n")
        _refused(chip, text, proc.pid, at, to)
    trace_note(chip)
    code = finish(chip, proc, args.stats)
    _fs_home(chip, fs_out)  # last: what it could not write is the run's last line (exit 2)
    return code


def cmd_mpirun(args: argparse.Namespace) -> int:
    """`shoal mpirun -n N prog`: N ranks, each a container (Chip.mpirun); output prefixless as
    it reaches the console (interleaved in simulated time); status as mpiexec's."""
    from shoal.api import Chip
    from shoal.tools.mpirun import run_job

    spec = _spec(args)
    freq = spec.cluster.freq_hz
    period = None if args.policy_period is None else _time_arg(args.policy_period, spec) / freq * 1e6
    chip = Chip(spec, seed=args.seed, sink=sink, trace=_tracer(args, spec), policy=args.policy,
                policy_period_us=period, **_user_arg(args.user))
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
    trace_note(chip)
    for text, (rank, at, to, _) in zip(args.migrate, moves, strict=True):
        _refused(chip, text, ranks[rank].pid, at, to)
    line = end.line(ranks)
    if line is not None:
        sys.stderr.write(f"shoal: {line}\n")
    for m in chip.migrations:
        if m.state == "failed":
            sys.stderr.write(f"shoal: migration of pid {m.pid} from cluster {m.src} to {m.dst} failed: "
                             f"{m.reason}; it went on at cluster {m.src}\n")
    if args.stats:
        sys.stderr.write(stats_text(chip, ranks[0]))
    return end.status(ranks)


def _refused(chip: object, text: str, pid: int, at: int, to: int) -> None:
    """One line for a --migrate its process's kernel refused when its time came (it has
    children it has not waited for): it went on where it was."""
    for who, when, dst, why in chip.refused_moves:  # type: ignore[attr-defined]
        if (who, when, dst) == (pid, at, to):
            sys.stderr.write(f"shoal: --migrate {text}: not moved: {why}\n")
            return


def _fs_in(chip: object, args: argparse.Namespace, spec: object) -> tuple[str, list] | None:
    """--fs DIR: the chip's file system starts as a copy of DIR; where the final tree goes
    (DIR, or --fs-out: a new or empty directory) and what was there before (what the guest
    may remove: the tree read from DIR when the final tree goes back to it), checked before
    the run; None without either option."""
    fs_out = args.fs_out or args.fs
    if fs_out is None:
        return None
    from shoal.tools.hostfs import check_out_dir, read_host_tree
    tree: list = []
    if args.fs is not None:
        tree = read_host_tree(args.fs, spec)  # type: ignore[arg-type]
        chip.load_fs(tree)  # type: ignore[attr-defined]
    check_out_dir(fs_out, "--fs-out" if args.fs_out else "--fs", args.fs)
    back_home = args.fs is not None and os.path.isdir(fs_out) and os.path.samefile(fs_out, args.fs)
    return fs_out, tree if back_home else []


def _fs_home(chip: object, fs_out: tuple[str, list] | None) -> None:
    """The final tree of the chip's file system, written where --fs/--fs-out said."""
    if fs_out is None:
        return
    from shoal import _interrupt
    from shoal.tools.hostfs import write_host_tree
    out, before = fs_out
    try:
        with _interrupt.held():  # a Ctrl-C now waits for the whole tree (then stops the run: 130)
            write_host_tree(chip.fs_tree(), out, before)  # type: ignore[attr-defined]
    except OSError as e:
        why = (e.strerror or str(e)).lower()
        raise ShoalError(f"writing the file system to {out}: {why}") from None


def _tracer(args: argparse.Namespace, spec: object) -> object:
    """The Tracer that --trace and its filters ask for (shoal/tools/trace.py), or None."""
    if args.trace is None:
        return None
    from shoal.tools.trace import Tracer, parse_clusters
    kinds = None if args.trace_kinds is None else [k.strip() for k in args.trace_kinds.split(",")
                                                   if k.strip()]
    clusters = None if args.trace_clusters is None else parse_clusters(args.trace_clusters)
    return Tracer(spec, limit=args.trace_limit, clusters=clusters, kinds=kinds, path=args.trace)  # type: ignore[arg-type]


# The longest simulated time the CLI takes: one day (3.5e13 cycles at 400 MHz), far beyond
# any run a host can finish, and far below the engine's end of time (2**62 cycles).
MAX_SECONDS = 86_400


UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _time_arg(text: str, spec: object) -> int:
    """Simulated time: cycles, or a number with a unit (s, ms, us, ns); from 0 to a day."""
    from shoal.spec import ChipSpec
    assert isinstance(spec, ChipSpec)
    limit = MAX_SECONDS * spec.cluster.freq_hz
    bad = (f"bad time '{text}': give cycles, or a number with s, ms, us or ns, from 0 to "
           f"{MAX_SECONDS} s ({int(limit)} cycles)")
    unit = next((u for u in ("ns", "us", "ms", "s") if text.endswith(u)), None)
    try:
        if unit is not None:
            v = float(text[:-len(unit)]) * UNITS[unit] * spec.cluster.freq_hz
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
    chip = Chip(spec, seed=args.seed, sink=sink, **_user_arg(args.user))
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
    chip = Chip(spec, seed=args.seed, sink=sink, trace=_tracer(args, spec), **_user_arg(args.user))
    for f in args.file:
        chip.add_file(*_file(f))
    fs_out = _fs_in(chip, args, spec)
    proc = chip.restore(args.image, cluster=args.cluster, stdin=StdinSource())
    chip.run()
    trace_note(chip)
    code = finish(chip, proc, args.stats)
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


def _user_arg(text: str | None) -> dict:
    """--user UID[:GID] (GID: UID's number again, as a user's own group; `root` is 0:0), as
    Chip's keyword; nothing without it (the chip's default user)."""
    if text is None:
        return {}
    if text == "root":
        return {"user": (0, 0)}
    m = re.fullmatch(r"([0-9]+)(?::([0-9]+))?", text, re.ASCII)  # (int() takes " 5", "1_000")
    if m is None:
        raise ShoalError(f"bad --user {text!r}: UID[:GID], numbers, or root")
    out = (int(m[1]), int(m[2] or m[1]))
    if not all(0 <= v < (1 << 32) - 1 for v in out):
        raise ShoalError(f"bad --user {text!r}: ids from 0 to 4294967294")
    return {"user": out}

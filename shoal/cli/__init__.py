"""The `shoal` command: cc, run, checkpoint, restore, bench, demo, mpirun. Bad input gets one
line on stderr and a non-zero exit. Here: which command runs, in one process or as a rank of
the MPI backend; the options are in parser.py, each command in commands.py, what a run
reports in report.py, the host's stdin and stdout in hostio.py. The work is the API's
(shoal/api.py) and the tools'."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from shoal.cli.commands import cmd_cc, cmd_checkpoint, cmd_demo, cmd_mpirun, cmd_restore, cmd_run
from shoal.cli.hostio import OutputError
from shoal.cli.parser import TRACE_KINDS, TRACE_LIMIT, build_parser
from shoal.errors import HostLimit, ShoalError

__all__ = ["TRACE_KINDS", "TRACE_LIMIT", "build_parser", "main"]


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
    from shoal import _interrupt
    _interrupt.interruptible()  # (since shoal's first import, a Ctrl-C ended at once)
    try:
        code = _ranked(sys.argv[1:])
        _interrupt.take()  # (one that came in the run's last slice)
    except KeyboardInterrupt:  # outside _main's own catch (an MPI rank's start, say)
        sys.stderr.write("shoal: interrupted\n")
        code = 130
    finally:
        _interrupt.quiet()  # the status is known: a Ctrl-C from here on ends at once, in one line
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
                from shoal.engine.launch import launch
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
    except HostLimit as e:
        sys.stderr.write(f"shoal: {e}; the run is stopped\n")
        return 1
    except MemoryError:  # (a `ulimit -v` below what the run keeps: remote memory is io_memory)
        sys.stderr.write("shoal: the host ran out of memory (its ulimit -v, or RAM); the run is stopped\n")
        return 1
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

"""The `shoal` command's options: one parser per command, each refusal one line."""

from __future__ import annotations

import argparse

from shoal.errors import ShoalError


def _fs_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--fs", metavar="DIR", help="start the chip's writable file system from a copy of "
                   "the host directory DIR, and write its final tree back to DIR at the end")
    q.add_argument("--fs-out", metavar="DIR", help="write the final tree of the chip's file system to "
                   "DIR instead (a new or empty directory: shoal replaces nothing it did not read)")


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
    _user_args(m)
    m.add_argument("--migrate", action="append", default=[], metavar="[RANK@]AT:CLUSTER[:METHOD]",
                   help="migrate RANK (default 0) to CLUSTER at simulated time AT; repeatable")
    m.add_argument("--policy", metavar="LIST", help="automatic migration policies, as for run")
    m.add_argument("--policy-period", metavar="TIME", help="simulated time between load reports")
    _trace_args(m)
    _mpi_args(m)
    m.add_argument("program")
    m.add_argument("args", nargs=argparse.REMAINDER)


def _user_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", metavar="UID[:GID]",
                   help="run as this user and group, who owns the chip's file tree (1000:1000 by "
                   "default, a user without privileges: Linux's permission checks apply; 0 or "
                   "root for root)")


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
    _user_args(r)
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
        _user_args(q)
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
    _user_args(rs)
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


def _mpi_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--ranks", type=int, metavar="N", help="spread the chip's clusters over N MPI ranks "
                   "on this host (mpiexec of the [mpi] extra); the results are the same")
    q.add_argument("--backend", choices=["local", "mpi"], default="local",
                   help="mpi: this process is a rank of the user's own `mpiexec -n N python -m shoal ...`")

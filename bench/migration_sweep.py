"""Migrate every process of shoal's own test programs at many moments, by every method, and
check that each program still prints what it prints unmoved: issue 19's "migrations lose
nothing", as a sweep rather than a few chosen cases.

    python bench/migration_sweep.py [--chip mppa256|tiny] [--only NAME,...] [--moments M]
                                    [--out bench/results]

For each program (tests/programs/NAME.c with the arguments its tests use), one unmoved run
gives the reference output and the cycle T its last process ends at. Then, for each of M-1
moments i*T/M (M = 8 unless told: a finer sweep finds narrower windows: 60 moments found an
O_APPEND write that a move made twice, which 8 missed) and each method (stop-and-copy,
pre-copy, post-copy), a fresh chip runs to that moment, one running process (taken in turn; the
first that may move) moves to another cluster, and the run goes to its end: the root process's
output and exit status must be the reference's, and the run must end. On `tiny` (1 MiB
clusters) the programs' pages go to remote memory too. Every run is simulated, so every result
is the same at every run.

Some programs' outputs depend on timing or placement that a move changes, as they would
under Linux with a slow process (TIMING below, each with the reason): a different output of
theirs is reported, not counted as a failure; a run that does not end always is. Writes
OUT/migration_sweep_CHIP.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE.parent / "tests" / "programs"
sys.path.insert(0, str(HERE.parent / "tests"))

CASES: list[tuple[str, list[str]]] = [
    ("sockets", ["pair"]), ("sockets", ["unix"]), ("sockets", ["dgram"]), ("sockets", ["inet"]),
    ("sockets", ["prefork"]), ("sockets", ["nonblock"]), ("sockets", ["pair", "far"]),
    ("sockets", ["inet", "far"]), ("sock_bigsend", ["sock", "600"]), ("sock_bigsend", ["pipe", "600"]),
    ("sysv", ["basic"]), ("sysv", ["fork"]), ("fifo", ["together"]), ("fifo", ["apart"]),
    ("pipes2", ["together"]), ("pipes2", ["apart"]), ("poll", ["wait"]), ("pollsock", ["together"]),
    ("pollsock", ["apart"]), ("pollapart", []), ("signals", ["basic"]), ("signals", ["eintr"]),
    ("signals", ["masks"]), ("signals", ["altstack"]), ("signals", ["cancel"]), ("reclock", []),
    ("reclock_chain", []), ("reclock_signal", []), ("fork_shm", []), ("ipc", []), ("sendfile", []),
    ("mq_intr", []), ("fork_named_ipc", []), ("shm_atomic", []), ("shm_private", []),
    ("fork_shared_anon", []), ("fork_shared_tight", []), ("futex_requeue", []), ("futex_transit", ["wake"]),
    ("futex_transit", ["requeue"]), ("robust", []), ("robust_edges", []), ("threads", []),
    ("mig_threads", []), ("mem_threads", []), ("thread_churn", ["200"]), ("stopcont", []), ("pgrp", []),
    ("orphan", []), ("pdeathsig", []), ("child_times", []), ("fork", []), ("fork_many", []),
    ("fork_spread", ["50000"]), ("fork_console", []), ("fork_hold", []), ("spawn_ids", []), ("cow", []),
    ("memfd", []), ("mmap_file", []), ("mmap_mix", []), ("answer_away", []), ("copyfile", []),
    ("bigio", []), ("files", []), ("posixipcperm", []), ("timer_cpu", []), ("itimer_cpu", []),
    ("timer_tiny", []), ("timer_ignored", []), ("clock", []), ("clock_set", []), ("cpuclock", []),
    ("sched_thread", []), ("prio_remote", []), ("sync", []),
]
# Outputs a move may change, as a slow process would under Linux (not counted as failures).
TIMING = {
    "futex_requeue": "counts waiters a wake finds; a moved child is on another cluster, where "
                     "the program's own docstring says counts are not exact; and it may hang: "
                     "it assumes its waiters never wake spuriously (Linux allows it, and a "
                     "move wakes a waiter on a shared word so: its 'ready' count then races "
                     "with the parent's reset) and that 20 ms naps put the child to sleep",
    "sched_thread": "threads on different harts run up to a quantum apart, so one may see what "
                    "another wrote later in simulated time (docs/design.md, the scheduler)",
    "futex_transit": "FUTEX_CMP_REQUEUE counts the waiters on the caller's cluster (as shoal's "
                     "FUTEX_WAKE does): a child moved before it is elsewhere ('requeued: 0'); "
                     "it is still woken and the run ends",
}
MAY_HANG = {"futex_requeue"}  # (see its reason: a run of it that does not end is not counted)
METHODS = ("stopcopy", "precopy", "postcopy")


def sweep(chip: str, name: str, args: list[str], eighths: tuple[int, ...] = tuple(range(1, 8)),
          methods: tuple[str, ...] = METHODS, parts: int = 8) -> dict:
    """Move a process of the program at i/`parts` of its run for each i of `eighths` (named
    for the default 8), by each method."""
    from conftest import SHOAL_FLAGS

    from shoal import Chip
    from shoal.toolchain import compile_cached

    elf = compile_cached([PROGRAMS / f"{name}.c"], SHOAL_FLAGS)
    argv = [name, *args]
    c = Chip.preset(chip)
    p = c.spawn(elf, argv, cluster=0)
    c.run()
    want = (p.stdout, p.returncode)
    end = max(r.end_cycle or 0 for r in c.processes())
    n = c.spec.compute_clusters
    runs, moved, bad = 0, 0, []
    for i in eighths:
        for method in methods:
            c = Chip.preset(chip)
            p = c.spawn(elf, argv, cluster=0)
            c.run(max_cycles=end * i // parts)
            cands = [r for r in c.processes() if r.state == "running"]
            who = None
            for j in range(len(cands)):
                r = cands[(i + j) % len(cands)]
                try:
                    c.migrate(r.pid, to=(r.cluster + 1) % n, method=method)
                except Exception:  # noqa: BLE001  (a process that may not move now: the next)
                    continue
                who = r.pid
                break
            c.run(max_cycles=end * 50 + 10_000_000)
            runs += 1
            moved += who is not None
            if not p.done or (p.stdout, p.returncode) != want:
                bad.append({"eighth": i, "of": parts, "method": method, "moved": who, "ended": p.done,
                            "stdout": p.stdout.decode(errors="replace")[-400:]})
    return {"program": name, "args": args, "sim_end_cycle": end, "runs": runs, "moved": moved,
            "differ": bad, "timing": TIMING.get(name)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chip", default="mppa256")
    ap.add_argument("--only", default="", help="comma-separated program names (default: all)")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--moments", type=int, default=8,
                    help="move at i/MOMENTS of each run, i = 1 .. MOMENTS-1 (default 8: eighths)")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    t0 = time.perf_counter()
    results = []
    for name, args in CASES:
        if only and name not in only:
            continue
        r = sweep(a.chip, name, args, tuple(range(1, a.moments)), parts=a.moments)
        results.append(r)
        hung = sum(not d["ended"] for d in r["differ"]) if name not in MAY_HANG else 0
        verdict = ("ok" if not r["differ"] else "HUNG" if hung else "timing" if r["timing"] else "DIFFER")
        print(f"{verdict:6} {name} {' '.join(args)}: {r['moved']} of {r['runs']} runs moved a process,"
              f" {len(r['differ'])} differ", flush=True)
    failures = [r for r in results if r["differ"] and not r["timing"]
                or r["program"] not in MAY_HANG and any(not d["ended"] for d in r["differ"])]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"migration_sweep_{a.chip}.json"
    path.write_text(json.dumps({"chip": a.chip, "programs": len(results),
                                "runs": sum(r["runs"] for r in results),
                                "failures": len(failures), "host_wall_s": time.perf_counter() - t0,
                                "results": results}, indent=1))
    print(f"{len(failures)} programs differ or hang after a move (timing-dependent outputs apart); "
          f"wrote {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

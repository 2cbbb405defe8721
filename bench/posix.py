"""shoal POSIX benchmark: fork+exit+wait and a pipe round trip, one cluster vs two.

    python bench/posix.py [--quick] [--out bench/results]

Writes OUT/posix.json. bench/programs/posix.c on cluster 0 of mppa256 forks N children that
_exit at once, each waited for (`fork` mode), or forks one child and makes N one-byte round
trips with it through two pipes (`pipe` mode). "together": the children are built on the
parent's cluster; "apart": a filler child forked first takes cluster 0's memory but 128 KiB,
so that every later fork is placed on another cluster from a migration image, as shoal places
a fork that has no room (the pipes stay on cluster 0; the child's ends reach them over the
NoC). The guest times its loop with CLOCK_MONOTONIC: simulated time under shoal. The host
cost is Chip.run's wall time with N against a run with N = 0 (marginal, per operation). The
same ELF under qemu-riscv32 is the peer for host time (its CLOCK_MONOTONIC is the host's; qemu
forks a host process, so it has no "apart").

Simulated time (fields named sim_*) and host time (*wall_*, *cpu_*) are never mixed. Every
measurement runs in a fresh child process (`posix.py --worker ...`). bench/README.md explains
each figure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path

from run import elf_info, log, machine_info, median, shoal_revision, spread, timed_run
from run import worker as run_worker

HERE = Path(__file__).resolve().parent
POSIX_C = HERE / "programs" / "posix.c"
CHIP = "mppa256"
LEAVE_KIB = 128  # what the filler leaves free on cluster 0 in "apart" mode
KINDS = ("fork", "pipe")
PLACES = ("together", "apart")

FULL = {"runs": 5, "fork_n": 200, "pipe_n": 2000, "qemu_fork_n": 2000, "qemu_pipe_n": 20000}
QUICK = {"runs": 1, "fork_n": 20, "pipe_n": 200, "qemu_fork_n": 200, "qemu_pipe_n": 2000}


def worker(*args: str) -> dict:
    return run_worker(*args, script=__file__)


# --- worker (runs in a child process) ---------------------------------------------------------
def measure(elf: str, kind: str, place: str, n: int) -> dict:
    t0 = time.perf_counter()
    from shoal import Chip
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    chip = Chip.preset(CHIP)
    boot_s = time.perf_counter() - t0
    argv = ["posix", kind, str(n)] + ([str(LEAVE_KIB)] if place == "apart" else [])
    p = chip.spawn(elf, argv, cluster=0)
    cpu0 = time.process_time()
    chip.run()
    run_cpu = time.process_time() - cpu0
    kids = {r.pid: r.cluster for r in chip.processes() if r.pid != p.pid}
    if place == "apart":  # the first child is the filler, on the parent's cluster
        kids.pop(min(kids))
    out = p.stdout.decode(errors="replace").split()
    ok = p.returncode == 0 and len(out) == 4 and out[:3] == [kind, str(n), "ok"]
    return {"kind": kind, "place": place, "n": n, "argv": argv,
            "import_wall_s": import_s, "boot_wall_s": boot_s,
            "run_wall_s": chip.wall_seconds, "run_cpu_s": run_cpu, "returncode": p.returncode,
            "stdout": p.stdout.decode(errors="replace"), "message": p.message, "ok": ok,
            "sim_loop_ns": int(out[3]) if ok else None, "sim_cycles": chip.time,
            "guest_instructions": chip.instructions, "noc_transfers": chip.noc_stats()["messages"],
            "child_clusters": sorted(set(kids.values())),
            "children_on_parent_cluster": sum(1 for c in kids.values() if c == 0),
            "children": len(kids)}


def worker_main(argv: list[str]) -> int:
    if argv[0] != "measure":
        raise SystemExit(f"bench: unknown worker {argv[0]}")
    print(json.dumps(measure(argv[1], argv[2], argv[3], int(argv[4]))))
    return 0


# --- figures ----------------------------------------------------------------------------------
def figure_shoal(elf: Path, cfg: dict) -> dict:
    runs = cfg["runs"]
    out: dict = {}
    for kind in KINDS:
        n = cfg[f"{kind}_n"]
        for place in PLACES:
            log(f"[shoal] {kind} x {n}, {place}: {runs} fresh run(s), and as many with N = 0")
            full, base = [], []
            for _ in range(runs):  # interleaved, so that the host's load hits both alike
                full.append(worker("measure", str(elf), kind, place, str(n)))
                base.append(worker("measure", str(elf), kind, place, "0"))
            m_full = median([s["run_wall_s"] for s in full])
            m_base = median([s["run_wall_s"] for s in base])
            sim_ns = full[0]["sim_loop_ns"]
            ops = n
            where = "remote" if place == "apart" else "local"
            out[f"{kind}_{place}"] = {
                "n": n, "runs": runs, "samples": {"n": full, "baseline_0": base},
                "median": {
                    "run_wall_s": spread([s["run_wall_s"] for s in full]),
                    "baseline_run_wall_s": m_base,
                    "host_wall_us_per_op": m_full / ops * 1e6,
                    "host_wall_us_per_op_marginal": (m_full - m_base) / ops * 1e6,
                    "host_cpu_us_per_op_marginal":
                        (median([s["run_cpu_s"] for s in full]) - median([s["run_cpu_s"] for s in base]))
                        / ops * 1e6,
                    "sim_us_per_op": sim_ns / ops / 1e3 if sim_ns is not None else None,
                    "guest_instructions_per_op":
                        (full[0]["guest_instructions"] - base[0]["guest_instructions"]) / ops,
                    "noc_transfers_per_op": (full[0]["noc_transfers"] - base[0]["noc_transfers"]) / ops},
                "check": {
                    "all_ok": all(s["ok"] for s in full + base),
                    "sim_deterministic_across_runs":
                        len({(s["sim_loop_ns"], s["sim_cycles"]) for s in full}) == 1,
                    "children_placed": where,
                    "placement_as_intended": all(
                        (s["children_on_parent_cluster"] == 0) == (place == "apart") for s in full),
                    "child_clusters": sorted({c for s in full for c in s["child_clusters"]})}}
            m = out[f"{kind}_{place}"]["median"]
            log(f"    {m['sim_us_per_op']:.2f} us simulated per op; host "
                f"{m['host_wall_us_per_op_marginal']:.0f} us wall per op (marginal)")
    return out


def figure_qemu(elf: Path, cfg: dict) -> dict | None:
    qemu = shutil.which("qemu-riscv32")
    if qemu is None:
        log("[qemu] qemu-riscv32 not found: no peer figure")
        return None
    out: dict = {}
    for kind in KINDS:
        n = cfg[f"qemu_{kind}_n"]
        log(f"[qemu] {kind} x {n}: {cfg['runs']} run(s)")
        samples = []
        for _ in range(cfg["runs"]):
            r = timed_run([qemu, str(elf), kind, str(n)])
            words = r["stdout"].decode(errors="replace").split()
            ok = r["returncode"] == 0 and len(words) == 4 and words[:3] == [kind, str(n), "ok"]
            samples.append({"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "returncode": r["returncode"],
                            "ok": ok, "loop_host_ns": int(words[3]) if ok else None})
        loops = [s["loop_host_ns"] for s in samples if s["loop_host_ns"] is not None]
        out[kind] = {"n": n, "samples": samples,
                     "median": {"command_wall_s": median([s["wall_s"] for s in samples]),
                                "host_wall_us_per_op": median(loops) / n / 1e3 if loops else None},
                     "check": {"all_ok": all(s["ok"] for s in samples)}}
    return out


def ratios(sh: dict, qe: dict | None) -> dict:
    """Host cost of shoal against qemu-user's, and two clusters against one (simulated and host)."""
    r: dict = {}
    for kind in KINDS:
        t, a = sh[f"{kind}_together"]["median"], sh[f"{kind}_apart"]["median"]
        r[kind] = {"sim_apart_over_together": a["sim_us_per_op"] / t["sim_us_per_op"],
                   "host_wall_apart_over_together": a["host_wall_us_per_op_marginal"]
                   / t["host_wall_us_per_op_marginal"]}
        if qe is not None and qe[kind]["median"]["host_wall_us_per_op"]:
            q = qe[kind]["median"]["host_wall_us_per_op"]
            r[kind]["host_wall_shoal_together_over_qemu"] = t["host_wall_us_per_op_marginal"] / q
            r[kind]["host_wall_shoal_apart_over_qemu"] = a["host_wall_us_per_op_marginal"] / q
    return r


# --- main -------------------------------------------------------------------------------------
def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run, small N (a smoke test)")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory for posix.json")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    t_start = time.perf_counter()
    machine = machine_info()
    rev_start = shoal_revision()
    log("compiling bench/programs/posix.c (cached after the first time)...")
    from shoal.toolchain import compile_cached
    elf = compile_cached([POSIX_C])
    sh = figure_shoal(elf, cfg)
    qe = figure_qemu(elf, cfg)
    result = {
        "schema": "shoal-bench-posix/1",
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full", "config": cfg,
        "program": "bench/programs/posix.c", **elf_info(elf), "chip": CHIP,
        "apart_filler_leaves_kib": LEAVE_KIB,
        "units": {"sim_*_us*, sim_*_ns": "simulated time on the chip (400 MHz clock of mppa256)",
                  "sim_cycles": "simulated cycles",
                  "*wall_s, *wall_us*": "host wall-clock time", "*cpu_us*, *cpu_s": "host CPU time",
                  "loop_host_ns": "qemu-user: the guest's CLOCK_MONOTONIC, which is the host's"},
        "machine": machine,
        "shoal_revision": {"at_start": rev_start, "at_end": shoal_revision()},
        "figures": {"shoal": sh, "qemu": qe, "ratios": ratios(sh, qe)},
        "bench_wall_s": time.perf_counter() - t_start,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "posix.json"
    out.write_text(json.dumps(result, indent=1) + "\n")

    log("\n               | sim us/op | host wall us/op (marginal) | qemu host us/op")
    for kind in KINDS:
        for place in PLACES:
            m = sh[f"{kind}_{place}"]["median"]
            q = qe[kind]["median"]["host_wall_us_per_op"] if qe else None
            host = m["host_wall_us_per_op_marginal"]
            log(f" {kind:4} {place:8} | {m['sim_us_per_op']:9.2f} | {host:26.0f} | "
                + (f"{q:.1f}" if q is not None else "-"))
    log(f"wrote {out} ({result['bench_wall_s']:.0f} s)")
    ok = all(f["check"]["all_ok"] and f["check"]["sim_deterministic_across_runs"]
             and f["check"]["placement_as_intended"] for f in sh.values())
    ok = ok and (qe is None or all(f["check"]["all_ok"] for f in qe.values()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

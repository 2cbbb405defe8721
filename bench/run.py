"""shoal benchmarks: wall time against qemu-riscv32, guest MIPS, boot time and host memory.

    python bench/run.py [--quick] [--out bench/results]

Writes one JSON file, OUT/bench.json, with the machine, every raw sample and the medians.
Simulated time (fields named sim_*) and host wall time (fields named *wall_s) are kept apart.
bench/README.md explains each figure. Every shoal measurement that needs a fresh interpreter
runs in a child process of this script (`run.py --worker ...`), so one figure cannot warm or
bloat the next.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROGRAMS = HERE / "programs"
COMPUTE_C = PROGRAMS / "compute.c"
BUSY_C = PROGRAMS / "busy.c"

FULL = {"runs": 5, "compute_n": 90_000_000, "busy_iters": 100_000}
QUICK = {"runs": 1, "compute_n": 3_000_000, "busy_iters": 10_000}
CLUSTERS, THREADS = 16, 16
GOALS = {"wall_ratio_max": 1.25, "aggregate_mips_min": 50.0, "boot_wall_s_max": 2.0,
         "rss_mib_max": 1024.0}


# --- helpers ----------------------------------------------------------------------------------
def max_rss_mib() -> float:
    """Peak resident set of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def spread(xs: list[float]) -> dict[str, float | None]:
    return {"median": median(xs), "min": min(xs) if xs else None, "max": max(xs) if xs else None}


def timed_run(cmd: list[str], timeout: float = 900, env: dict[str, str] | None = None,
              cwd: str | None = None, stdin: bytes | None = None) -> dict:
    """Run a command with stdin from /dev/null (or `stdin`); wall time and the child's CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    feed = {"stdin": subprocess.DEVNULL} if stdin is None else {"input": stdin}
    res = subprocess.run(cmd, **feed, capture_output=True, timeout=timeout, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "returncode": res.returncode, "stdout": res.stdout, "stderr": res.stderr}


def worker(*args: str, script: str = __file__) -> dict:
    """Run `script` as `--worker ARGS` in a fresh interpreter; it prints one JSON object."""
    r = timed_run([sys.executable, str(Path(script).resolve()), "--worker", *args])
    if r["returncode"] != 0:
        sys.stderr.write(r["stderr"].decode(errors="replace"))
        raise SystemExit(f"bench: worker {' '.join(args)} failed with status {r['returncode']}")
    out = json.loads(r["stdout"].decode().strip().splitlines()[-1])
    out["process_wall_s"] = r["wall_s"]
    return out


def log(msg: str) -> None:
    print(msg, flush=True)


# --- workers (run in a child process) ---------------------------------------------------------
def worker_main(argv: list[str]) -> int:
    kind = argv[0]
    rss_start = max_rss_mib()
    t0 = time.perf_counter()
    from shoal import Chip  # noqa: PLC0415 - the import is part of what is timed
    import_s = time.perf_counter() - t0
    rss_import = max_rss_mib()
    t0 = time.perf_counter()
    chip = Chip.preset("mppa256")
    boot_s = time.perf_counter() - t0
    out: dict = {"import_wall_s": import_s, "boot_wall_s": boot_s,
                 "max_rss_mib_at_start": rss_start, "max_rss_mib_after_import": rss_import,
                 "max_rss_mib_after_boot": max_rss_mib(), "rss_mib_after_boot": current_rss_mib()}
    if kind == "boot":
        pass
    elif kind == "compute":
        elf, n = argv[1], argv[2]
        t0 = time.perf_counter()
        p = chip.spawn(elf, ["compute", n], cluster=0)
        out["spawn_wall_s"] = time.perf_counter() - t0
        cpu0 = time.process_time()
        chip.run()
        out.update(run_wall_s=chip.wall_seconds, run_cpu_s=time.process_time() - cpu0,
                   guest_instructions=p.instructions, sim_cycles=p.cycles,
                   sim_seconds=chip.spec.cycles_to_seconds(p.cycles or 0),
                   returncode=p.returncode, stdout=p.stdout.decode(errors="replace"),
                   message=p.message)
    elif kind == "busy":
        elf, iters = argv[1], argv[2]
        t0 = time.perf_counter()
        procs = [chip.spawn(elf, ["busy", iters, str(THREADS)], cluster=c) for c in range(CLUSTERS)]
        out["spawn_wall_s"] = time.perf_counter() - t0
        cpu0 = time.process_time()
        chip.run()
        out.update(run_wall_s=chip.wall_seconds, run_cpu_s=time.process_time() - cpu0,
                   guest_instructions=chip.instructions, sim_cycles=chip.time,
                   sim_seconds=chip.seconds, rounds=chip.rounds,
                   per_cluster_instructions=[p.instructions for p in procs],
                   per_cluster_sim_cycles=[p.cycles for p in procs],
                   returncodes=[p.returncode for p in procs],
                   stdouts=[p.stdout.decode(errors="replace") for p in procs],
                   messages=[p.message for p in procs if p.message],
                   max_rss_mib_after_run=max_rss_mib(), rss_mib_after_run=current_rss_mib())
    else:
        raise SystemExit(f"bench: unknown worker {kind}")
    print(json.dumps(out))
    return 0


# --- machine ------------------------------------------------------------------------------------
def shoal_revision() -> dict:
    """The commit of the shoal tree measured, and whether shoal/ had uncommitted changes."""
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "shoal"],
                           capture_output=True, text=True)
    return {"commit": git.stdout.strip() or None, "shoal_tree_dirty": bool(dirty.stdout.strip())}


def machine_info() -> dict:
    info: dict = {"platform": platform.platform(), "machine": platform.machine(),
                  "python": platform.python_version(), "cpu_count": os.cpu_count(),
                  "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                  "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["mem_total_mib"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version
    for pkg in ("shoal", "unicorn", "pyelftools", "ziglang"):
        try:
            info[f"{pkg}_version"] = version(pkg)
        except PackageNotFoundError:
            info[f"{pkg}_version"] = None
    qemu = shutil.which("qemu-riscv32")
    info["qemu_riscv32"] = qemu
    if qemu:
        v = subprocess.run([qemu, "--version"], capture_output=True, text=True)
        info["qemu_version"] = v.stdout.splitlines()[0] if v.stdout else None
    return info


def elf_info(path: Path) -> dict:
    return {"elf": str(path), "elf_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "elf_bytes": path.stat().st_size}


def parse_stats_wall(stderr: bytes) -> float | None:
    """The `host wall time : X s` line of `shoal run --stats` (Chip.run wall inside the CLI)."""
    for line in stderr.decode(errors="replace").splitlines():
        if line.strip().startswith("host wall time"):
            try:
                return float(line.split(":", 1)[1].split()[0])
            except (IndexError, ValueError):
                return None
    return None


# --- figures ----------------------------------------------------------------------------------
def figure_compute(elf: Path, n: int, runs: int, qemu: str) -> dict:
    shoal = shutil.which("shoal")
    if shoal is None:
        raise SystemExit("bench: `shoal` is not on PATH (pip install -e .)")
    argv = [str(n)]
    log(f"[1] compute-bound single thread: compute {n}, {runs} run(s) each of shoal run, qemu-riscv32, "
        "in-process")
    # Warm-up (not measured): page cache for the interpreter, shoal, unicorn and qemu.
    timed_run([shoal, "run", str(elf), "1000"])
    timed_run([qemu, str(elf), "1000"])
    cli, qem, inproc = [], [], []
    for i in range(runs):
        r = timed_run([shoal, "run", "--stats", str(elf), *argv])
        cli.append({"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "returncode": r["returncode"],
                    "stdout": r["stdout"].decode(errors="replace"),
                    "stats_run_wall_s": parse_stats_wall(r["stderr"])})
        q = timed_run([qemu, str(elf), *argv])
        qem.append({"wall_s": q["wall_s"], "cpu_s": q["cpu_s"], "returncode": q["returncode"],
                    "stdout": q["stdout"].decode(errors="replace")})
        w = worker("compute", str(elf), str(n))
        inproc.append(w)
        log(f"    run {i + 1}/{runs}: shoal run {r['wall_s']:.2f} s, qemu {q['wall_s']:.2f} s, "
            f"in-process Chip.run {w['run_wall_s']:.2f} s")
    outputs = {s["stdout"] for group in (cli, qem, inproc) for s in group}
    codes = {s["returncode"] for group in (cli, qem, inproc) for s in group}
    instr = inproc[0]["guest_instructions"]
    cycles = inproc[0]["sim_cycles"]
    deterministic = (len({s["guest_instructions"] for s in inproc}) == 1
                     and len({s["sim_cycles"] for s in inproc}) == 1)
    m_cli = median([s["wall_s"] for s in cli])
    m_qemu = median([s["wall_s"] for s in qem])
    m_run = median([s["run_wall_s"] for s in inproc])
    m_stats = median([s["stats_run_wall_s"] for s in cli if s["stats_run_wall_s"] is not None])
    ratio = m_cli / m_qemu
    med = {
        "shoal_cli_wall_s": m_cli,
        "qemu_wall_s": m_qemu,
        "wall_ratio_shoal_over_qemu": ratio,
        "shoal_cli_chip_run_wall_s": m_stats,
        "shoal_cli_startup_wall_s": m_cli - m_stats if m_stats is not None else None,
        "inproc_chip_run_wall_s": m_run,
        "inproc_import_wall_s": median([s["import_wall_s"] for s in inproc]),
        "inproc_boot_wall_s": median([s["boot_wall_s"] for s in inproc]),
        "inproc_spawn_wall_s": median([s["spawn_wall_s"] for s in inproc]),
        "run_only_ratio_shoal_over_qemu": m_run / m_qemu,
        "guest_instructions": instr,
        "guest_mips_shoal_cli": instr / m_cli / 1e6,
        "guest_mips_shoal_chip_run": instr / m_run / 1e6,
        "guest_mips_qemu_estimated": instr / m_qemu / 1e6,
        "sim_cycles": cycles,
        "sim_seconds": inproc[0]["sim_seconds"],
    }
    return {
        "program": "bench/programs/compute.c", "argv": ["compute", *argv], **elf_info(elf),
        "runs": runs,
        "samples": {"shoal_cli": cli, "qemu": qem, "shoal_inproc": inproc},
        "median": med,
        "check": {"outputs_identical": len(outputs) == 1, "stdout": sorted(outputs),
                  "returncodes": sorted(codes, key=str), "all_exit_0": codes == {0},
                  "sim_deterministic_across_runs": deterministic},
        "goal": {"wall_ratio_shoal_over_qemu_max": GOALS["wall_ratio_max"],
                 "met": ratio <= GOALS["wall_ratio_max"]},
    }


def figure_busy(elf: Path, iters: int, runs: int, qemu: str) -> dict:
    log(f"[2] {CLUSTERS} clusters x {THREADS} threads busy at once on mppa256: busy {iters} {THREADS}, "
        f"{runs} run(s)")
    samples = []
    for i in range(runs):
        w = worker("busy", str(elf), str(iters))
        w["aggregate_mips"] = w["guest_instructions"] / w["run_wall_s"] / 1e6
        w["host_cores_used"] = w["run_cpu_s"] / w["run_wall_s"]
        samples.append(w)
        log(f"    run {i + 1}/{runs}: {w['guest_instructions'] / 1e6:.0f} M instructions in "
            f"{w['run_wall_s']:.2f} s = {w['aggregate_mips']:.1f} MIPS, "
            f"max RSS {w['max_rss_mib_after_run']:.0f} MiB")
    ref = timed_run([qemu, str(elf), str(iters), str(THREADS)])
    ref_out = ref["stdout"].decode(errors="replace")
    outs = {o for s in samples for o in s["stdouts"]}
    codes = {c for s in samples for c in s["returncodes"]}
    m_mips = median([s["aggregate_mips"] for s in samples])
    return {
        "program": "bench/programs/busy.c", "argv": ["busy", str(iters), str(THREADS)],
        "clusters": CLUSTERS, "threads_per_cluster": THREADS, **elf_info(elf), "runs": runs,
        "samples": samples,
        "median": {
            "aggregate_mips": m_mips,
            "chip_run_wall_s": median([s["run_wall_s"] for s in samples]),
            "guest_instructions": samples[0]["guest_instructions"],
            "sim_cycles": samples[0]["sim_cycles"],
            "sim_seconds": samples[0]["sim_seconds"],
            "host_cores_used": median([s["host_cores_used"] for s in samples]),
            "max_rss_mib_after_run": median([s["max_rss_mib_after_run"] for s in samples]),
        },
        "check": {"outputs_identical_all_clusters": len(outs) == 1, "stdout": sorted(outs),
                  "all_exit_0": codes == {0}, "qemu_reference_stdout": ref_out,
                  "matches_qemu": outs == {ref_out},
                  "sim_deterministic_across_runs": len({s["sim_cycles"] for s in samples}) == 1
                  and len({s["guest_instructions"] for s in samples}) == 1},
        "goal": {"aggregate_mips_min": GOALS["aggregate_mips_min"],
                 "met": m_mips >= GOALS["aggregate_mips_min"]},
    }


def figure_boot(runs: int, busy: dict) -> dict:
    log(f"[3] boot of mppa256 in a fresh process, {runs} run(s)")
    samples = []
    for i in range(runs):
        w = worker("boot")
        samples.append(w)
        log(f"    run {i + 1}/{runs}: Chip.preset {w['boot_wall_s']:.3f} s, max RSS after boot "
            f"{w['max_rss_mib_after_boot']:.0f} MiB")
    m_boot = median([s["boot_wall_s"] for s in samples])
    m_rss_boot = median([s["max_rss_mib_after_boot"] for s in samples])
    m_rss_run = busy["median"]["max_rss_mib_after_run"]
    return {
        "samples": samples,
        "median": {
            "boot_wall_s": m_boot,
            "import_wall_s": median([s["import_wall_s"] for s in samples]),
            "process_wall_s": median([s["process_wall_s"] for s in samples]),
            "max_rss_mib_after_import": median([s["max_rss_mib_after_import"] for s in samples]),
            "max_rss_mib_after_boot": m_rss_boot,
            "max_rss_mib_after_16x16_run": m_rss_run,
        },
        "max_rss_after_16x16_run_from": "figure busy_16x16 samples (same kind of fresh process, "
                                        "booted then ran the workload)",
        "goal": {"boot_wall_s_max": GOALS["boot_wall_s_max"], "boot_met": m_boot < GOALS["boot_wall_s_max"],
                 "rss_mib_max": GOALS["rss_mib_max"],
                 "rss_met": max(m_rss_boot, m_rss_run) < GOALS["rss_mib_max"]},
    }


# --- main -------------------------------------------------------------------------------------
def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run of each, smaller sizes (a smoke test)")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory for bench.json")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    qemu = shutil.which("qemu-riscv32")
    if qemu is None:
        raise SystemExit("bench: qemu-riscv32 not found (apt-get install qemu-user)")

    t_start = time.perf_counter()
    machine = machine_info()
    rev_start = shoal_revision()
    log("compiling bench/programs (cached after the first time)...")
    from shoal.toolchain import compile_cached
    compute_elf = compile_cached([COMPUTE_C])
    busy_elf = compile_cached([BUSY_C])

    fig1 = figure_compute(compute_elf, cfg["compute_n"], cfg["runs"], qemu)
    fig2 = figure_busy(busy_elf, cfg["busy_iters"], cfg["runs"], qemu)
    fig3 = figure_boot(cfg["runs"], fig2)

    result = {
        "schema": "shoal-bench/1",
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "config": cfg,
        "units": {"*wall_s": "host wall-clock seconds", "*cpu_s": "host CPU seconds (user + system)",
                  "sim_cycles": "simulated cycles of the chip's cluster clock",
                  "sim_seconds": "simulated seconds (sim_cycles / freq_hz)",
                  "*mips": "million guest instructions per host wall second",
                  "*rss_mib": "host resident memory, MiB (2**20 bytes)"},
        "machine": machine,
        # shoal is installed editable: if its tree changes during the run, the figures mix versions.
        "shoal_revision": {"at_start": rev_start, "at_end": shoal_revision()},
        "figures": {"compute_single_thread": fig1, "busy_16x16": fig2, "boot_mppa256": fig3},
        "bench_wall_s": time.perf_counter() - t_start,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "bench.json"
    out.write_text(json.dumps(result, indent=1) + "\n")

    m1, m2, m3 = fig1["median"], fig2["median"], fig3["median"]
    log("\nmedians (host wall time unless marked sim):")
    log(f"  [1] shoal run       {m1['shoal_cli_wall_s']:.2f} s   qemu-riscv32 {m1['qemu_wall_s']:.2f} s   "
        f"ratio {m1['wall_ratio_shoal_over_qemu']:.2f}x (goal <= {GOALS['wall_ratio_max']}x)")
    log(f"      in-process Chip.run {m1['inproc_chip_run_wall_s']:.2f} s; "
        f"{m1['guest_instructions'] / 1e6:.0f} M guest instructions; "
        f"shoal {m1['guest_mips_shoal_cli']:.0f} MIPS (whole command), "
        f"{m1['guest_mips_shoal_chip_run']:.0f} MIPS (Chip.run); sim {m1['sim_seconds'] * 1e3:.1f} ms")
    log(f"      outputs identical: {fig1['check']['outputs_identical']}")
    log(f"  [2] 16x16 aggregate {m2['aggregate_mips']:.1f} MIPS on one host core "
        f"(goal >= {GOALS['aggregate_mips_min']:g}); outputs identical: "
        f"{fig2['check']['outputs_identical_all_clusters']}, match qemu: {fig2['check']['matches_qemu']}")
    log(f"  [3] boot {m3['boot_wall_s']:.3f} s (goal < {GOALS['boot_wall_s_max']:g}); max RSS after boot "
        f"{m3['max_rss_mib_after_boot']:.0f} MiB, "
        f"after 16x16 run {m3['max_rss_mib_after_16x16_run']:.0f} MiB "
        f"(goal < {GOALS['rss_mib_max']:g} MiB)")
    log(f"wrote {out} ({result['bench_wall_s']:.0f} s)")
    ok = fig1["check"]["outputs_identical"] and fig1["check"]["all_exit_0"] and \
        fig2["check"]["outputs_identical_all_clusters"] and fig2["check"]["all_exit_0"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""shoal MPI backend benchmark: the same busy chip on the in-process backend and on 1, 2 (and
more) MPI ranks of this host.

    python bench/mpi.py [--quick] [--ranks 1,2] [--out bench/results]

Figures (host wall time of Chip.run, never simulated time):
- aggregate guest MIPS of 16 clusters x 16 busy threads (mppa256; bench/programs/busy.c) and
  of the 64-cluster chip (mppa-8x8), in process and on each number of ranks, with the speed-up
  over the in-process run;
- host cost of one engine round (wall time / rounds) for each;
- boot time and peak host memory (max RSS) of the 256-cluster chip (mppa-16x16), in process,
  with a process on every one of its clusters (their emulators are made on first use);
- the host's own ceiling for 2 ranks: two processes at once, each the busy chip on one half
  of the clusters, with no communication (what 2 ranks could give at best on this host).
Every configuration must give the same simulated results (checked: outputs, simulated cycles,
instructions). Goal (issue 8): >= 1.7x at 2 ranks. Each configuration runs --runs times
(default 3), interleaved; figures are medians, the samples are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSY_C = HERE / "programs" / "busy.c"


def child(chip_name: str, elf: str, iters: str) -> None:
    if os.environ.get("SHOAL_BACKEND") == "mpi":
        from shoal.engine.mpi import join
        join()
    from shoal import Chip
    chip = Chip.preset(chip_name)
    n = chip.spec.compute_clusters
    procs = [chip.spawn(elf, ["busy", iters, "16"], cluster=c) for c in range(n)]
    chip.run()
    print(json.dumps({"ok": all(p.returncode == 0 for p in procs), "wall_s": chip.wall_seconds,
                      "instructions": chip.instructions, "sim_cycles": chip.time, "rounds": chip.rounds,
                      "outputs": sorted({p.stdout.decode() for p in procs}),
                      "rank0_wait_s": getattr(chip._backend, "wait_seconds", 0.0),
                      "mips": chip.instructions / chip.wall_seconds / 1e6}))


def ring(elf: str, laps: str) -> None:
    """A token round 16 processes on 16 clusters: little compute, a packet at a time (rounds
    with one busy cluster each), the worst case of the MPI backend."""
    if os.environ.get("SHOAL_BACKEND") == "mpi":
        from shoal.engine.mpi import join
        join()
    from shoal import Chip
    chip = Chip.preset("mppa256")
    chip.add_file("mig_ring", Path(elf).read_bytes())
    p = chip.spawn(elf, ["mig_ring", "ring", "B", "16", laps], cluster=0)
    chip.run()
    print(json.dumps({"ok": p.returncode == 0, "wall_s": chip.wall_seconds, "instructions": chip.instructions,
                      "sim_cycles": chip.time, "rounds": chip.rounds, "outputs": [p.stdout.decode()],
                      "rank0_wait_s": getattr(chip._backend, "wait_seconds", 0.0),
                      "mips": chip.instructions / chip.wall_seconds / 1e6}))


def boot(chip_name: str, elf: str) -> None:
    """Boot the chip, then put a small process on every compute cluster and run them all (each
    cluster's emulator is made on first use, so the boot alone makes none); wall time of each
    step and the peak host memory after it."""
    start = time.perf_counter()
    from shoal import Chip
    chip = Chip.preset(chip_name)
    booted = time.perf_counter()
    rss_boot = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    procs = [chip.spawn(elf, ["busy", "10", "1"], cluster=c) for c in range(chip.spec.compute_clusters)]
    spawned = time.perf_counter()
    chip.run()
    done = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"boot_wall_s": booted - start, "max_rss_bytes_after_boot": rss_boot,
                      "spawn_every_cluster_wall_s": spawned - booted, "run_wall_s": done - spawned,
                      "ready_wall_s": spawned - start, "all_ok": all(p.returncode == 0 for p in procs),
                      "max_rss_bytes": rss}))


def half(chip_name: str, elf: str, iters: str, part: str) -> None:
    """The host's own ceiling for 2 ranks: the same chip, but busy only on one half of its
    clusters (the half rank `part` would own); two of these run at once, without any
    communication between them."""
    from shoal import Chip
    from shoal.engine.mpi import blocks
    chip = Chip.preset(chip_name)
    n = chip.spec.compute_clusters
    mine = [c for c, r in enumerate(blocks(n, 2)) if r == int(part)]
    procs = [chip.spawn(elf, ["busy", iters, "16"], cluster=c) for c in mine]
    chip.run()
    print(json.dumps({"ok": all(p.returncode == 0 for p in procs), "wall_s": chip.wall_seconds}))


def ceiling(me: list[str], chip: str, elf: str, iters: str, env: dict[str, str]) -> float:
    """Wall time of the slower of two half chips run at once (`half`)."""
    ps = [subprocess.Popen([*me, "--half", chip, elf, iters, str(i)], stdout=subprocess.PIPE, env=env)
          for i in range(2)]
    walls = []
    for p in ps:
        out, _ = p.communicate(timeout=3600)
        if p.returncode != 0:
            raise SystemExit(f"bench: half chip failed with status {p.returncode}")
        walls.append(json.loads(out.decode().strip().splitlines()[-1])["wall_s"])
    return max(walls)


def run(cmd: list[str], env: dict[str, str]) -> dict:
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=3600)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace"))
        raise SystemExit(f"bench: {' '.join(cmd)} failed with status {r.returncode}")
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--runs", type=int, default=3, help="samples of each configuration (medians)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--boot", nargs=2)
    ap.add_argument("--half", nargs=4)
    ap.add_argument("--ring", nargs=2)
    a = ap.parse_args()
    for mode, fn in (("child", child), ("ring", ring), ("boot", boot), ("half", half)):
        if getattr(a, mode):  # a worker process: one figure, printed as JSON
            fn(*getattr(a, mode))
            return 0
    from shoal.engine.mpi import mpiexec
    from shoal.toolchain import compile_cached
    elf = str(compile_cached([BUSY_C], ["-O2", "-g0"]))
    ring_elf = str(compile_cached([HERE.parent / "tests" / "programs" / "mig_ring.c"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_MPI") and k != "SHOAL_BACKEND"}
    ranks = [int(r) for r in a.ranks.split(",")]
    out: dict = {"machine": f"{os.cpu_count()} host cores", "loadavg_at_start": os.getloadavg(),
                 "runs": 1 if a.quick else a.runs, "chips": {}}
    me = [sys.executable, str(Path(__file__).resolve())]
    sizes = (("mppa256", "3000" if a.quick else "200000"), ("mppa-8x8", "1000" if a.quick else "50000"))
    sizes += (("ring", "20" if a.quick else "200"),)
    for chip, iters in sizes:
        what = ["--ring", ring_elf, iters] if chip == "ring" else ["--child", chip, elf, iters]
        configs = {"local": [*me, *what]}
        configs.update({f"{r} ranks": [mpiexec(), "-n", str(r), *me, *what] for r in ranks})
        samples: dict[str, list[dict]] = {name: [] for name in configs}
        ceilings: list[float] = []
        for _ in range(1 if a.quick else a.runs):   # interleaved: the host's load hits all alike
            for name, cmd in configs.items():
                samples[name].append(run(cmd, env if name == "local" else dict(env, SHOAL_BACKEND="mpi")))
            if chip != "ring":
                ceilings.append(ceiling(me, chip, elf, iters, env))
        rows = {}
        for name, ss in samples.items():
            walls = sorted(x["wall_s"] for x in ss)
            med = dict(min(ss, key=lambda x: abs(x["wall_s"] - walls[len(walls) // 2])))
            med.update(wall_s=walls[len(walls) // 2], wall_s_samples=[x["wall_s"] for x in ss],
                       mips=med["instructions"] / walls[len(walls) // 2] / 1e6)
            rows[name] = med
        keys = ("instructions", "sim_cycles", "outputs", "ok")
        same = all(all(x[k] == samples["local"][0][k] for k in keys) for ss in samples.values() for x in ss)
        for name, v in rows.items():
            v["speedup"] = rows["local"]["wall_s"] / v["wall_s"]
            v["round_us"] = v["wall_s"] / max(1, v["rounds"]) * 1e6
            print(f"{chip:9} {name:8} {v['mips']:7.1f} guest MIPS  {v['wall_s']:7.2f} s (median of "
                  f"{len(v['wall_s_samples'])})  x{v['speedup']:.2f}  "
                  f"{v['rounds']} rounds, {v['round_us']:.0f} us each", flush=True)
        out["chips"][chip] = {"iters": iters, "same_simulated_results": same, "runs": rows}
        if ceilings:
            cw = sorted(ceilings)[len(ceilings) // 2]
            out["chips"][chip]["host_ceiling_2"] = {
                "wall_s": cw, "wall_s_samples": ceilings, "speedup": rows["local"]["wall_s"] / cw,
                "what": "two processes at once, each the chip busy on one rank's half of its "
                        "clusters, no communication: the most 2 ranks could give on this host"}
            print(f"{chip:9} host ceiling for 2 ranks (two half chips at once, no messages): "
                  f"{cw:.2f} s, x{rows['local']['wall_s'] / cw:.2f}", flush=True)
        print(f"{chip:9} same simulated results everywhere: {same}", flush=True)
    out["boot_mppa-16x16"] = run([*me, "--boot", "mppa-16x16", elf], env)
    b = out["boot_mppa-16x16"]
    print(f"mppa-16x16 boot {b['boot_wall_s']:.2f} s, then a process on each of the 256 clusters "
          f"{b['spawn_every_cluster_wall_s']:.2f} s (ready after {b['ready_wall_s']:.2f} s), run "
          f"{b['run_wall_s']:.2f} s; max RSS {b['max_rss_bytes'] / 2**30:.2f} GiB "
          f"({b['max_rss_bytes_after_boot'] / 2**30:.2f} GiB after the boot alone)", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "mpi.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

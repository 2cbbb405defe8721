"""SPLASH-3 programs that outgrow their cluster, against qemu-user: issue 19's measure of remote
memory's host speed, on the public programs it names.

    python bench/splash_paging.py SPLASH3_DIR [--runs N] [--out bench/results]

SPLASH3_DIR is a checkout of https://github.com/SakalisC/Splash-3 (kept outside the project;
`m4` must be installed). Each program is made from its .in sources with the suite's
pthread.m4.POSIX_BARRIER macros and built once with `shoal cc -O2`; three things every 32-bit
musl target needs are changed, nothing else: `{long time();}` declarations (time_t is 64-bit
there), the ROI markers those macros lack (empty), and WAIT_FOR_END's join of the main thread
itself (glibc returns EDEADLK, musl waits for ever: it joins the threads CREATE made). Runs use
one thread (-p1): Debian 12's qemu-riscv32 lacks futex_time64, so a threaded run that joins
hangs under it. For each program, medians of N interleaved fresh runs of:
  qemu     `qemu-riscv32 ELF ARGS`, whole command, host wall time (the peer)
  paging   `Chip.run` on mppa256 (2 MiB clusters: pages go to the I/O cluster's remote memory)
  fits     `Chip.run` on mppa256 with 64 MiB clusters
(host wall time of `Chip.run` alone, as bench/rmem.py). Ratios within one run; the goal is
paging/qemu at most 3. Simulated figures (cycles, faults, evictions) are recorded in `sim_*`
fields and must be the same on every run. Writes OUT/splash_paging.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from rmem import summary
from run import log, machine_info, shoal_revision, timed_run

HERE = Path(__file__).resolve().parent
GOAL_PAGING_OVER_QEMU_MAX = 3.0
# program: (directory under codes/, arguments, stdin file under the directory or None)
PROGRAMS = {
    "fft": ("kernels/fft", ["-m16", "-p1"], None),
    "ocean": ("apps/ocean/contiguous_partitions", ["-n130", "-p1"], None),
    "cholesky": ("kernels/cholesky", ["-p1"], "inputs/tk15.O"),
    "radix": ("kernels/radix", ["-n262144", "-p1"], None),
    "lu": ("kernels/lu/contiguous_blocks", ["-n512", "-p1"], None),
}
CFLAGS = ["-O2", "-D_XOPEN_SOURCE=500", "-D_POSIX_C_SOURCE=200112", "-std=c11", "-fno-strict-aliasing",
          "-DSPLASH3_ROI_BEGIN()=", "-DSPLASH3_ROI_END()=", "-w"]


def build(codes: Path, name: str, work: Path) -> Path:
    """The program's .in files through m4 with the POSIX_BARRIER macros, patched (see above),
    then `shoal cc`; the ELF is reused while its sources are unchanged."""
    src = codes / PROGRAMS[name][0]
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    macros = codes / "pthread_macros" / "pthread.m4.POSIX_BARRIER"
    for f in sorted(src.glob("*.in")):
        text = subprocess.run(["m4", "-Ulen", "-Uindex", str(macros), str(f)], capture_output=True,
                              check=True).stdout.decode()
        text = text.replace("long time();", "")
        text = re.sub(r"while \(aantal--\) pthread_join", "while (aantal-- > 1) pthread_join", text)
        (out / f.name[:-3]).write_text(text)
    elf = out / f"{name}.rv"
    cs = sorted(str(p) for p in out.glob("*.c"))
    subprocess.run([sys.executable, "-m", "shoal", "cc", *CFLAGS, "-o", str(elf), *cs, "-lm"], check=True)
    return elf


def chip_run(kind: str, elf: str, stdin_path: str, args: list[str]) -> dict:
    from shoal import Chip, ChipSpec
    spec = ChipSpec.preset("mppa256")
    if kind == "fits":
        spec = dataclasses.replace(spec, memory_per_cluster=64 << 20)
    c = Chip(spec)
    stdin = Path(stdin_path).read_bytes() if stdin_path else b""
    p = c.spawn(elf, [Path(elf).stem, *args], stdin=stdin)
    c.run()
    r = p.record
    return {"stdout": p.stdout.decode(errors="replace"), "returncode": p.returncode,
            "run_wall_s": c.wall_seconds, "guest_instructions": p.instructions,
            "sim_cycles": r.end_cycle, "sim_rmem_faults": r.rmem_faults, "sim_evictions": r.evictions}


def worker(kind: str, elf: Path, stdin: Path | None, args: list[str]) -> dict:
    r = timed_run([sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(elf),
                   str(stdin or ""), *args])
    if r["returncode"] != 0:
        sys.stderr.write(r["stderr"].decode(errors="replace"))
        raise SystemExit(f"bench: worker {kind} {elf.name} failed with status {r['returncode']}")
    return json.loads(r["stdout"].decode().strip().splitlines()[-1])


def strip_times(out: str) -> str:
    """SPLASH-3 prints clock timings (a PROCESS STATISTICS table of per-thread times, then
    TIMING INFORMATION lines): dropped before outputs are compared."""
    keep, table = [], False
    for line in out.splitlines():
        table = (table or "PROCESS STATISTICS" in line) and "TIMING INFORMATION" not in line
        if not table and "time" not in line.lower():
            keep.append(line)
    return "\n".join(keep)


def figure(name: str, elf: Path, stdin: Path | None, runs: int, qemu: str | None) -> dict:
    args = PROGRAMS[name][1]
    samples: dict[str, list] = {"qemu": [], "paging": [], "fits": []}
    outs = set()
    for _ in range(runs):
        if qemu:
            q = timed_run([qemu, str(elf), *args], stdin=stdin.read_bytes() if stdin else b"")
            samples["qemu"].append({"wall_s": q["wall_s"], "returncode": q["returncode"]})
            outs.add(strip_times(q["stdout"].decode(errors="replace")))
        for kind in ("paging", "fits"):
            s = worker(kind, elf, stdin, args)
            outs.add(strip_times(s.pop("stdout")))
            samples[kind].append(s)
    med, check = summary(samples, outs)
    return {"program": name, "args": args, "samples": samples, "median": med,
            "sim": {k: v for k, v in samples["paging"][0].items() if k.startswith("sim_")}, "check": check}


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(chip_run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("splash", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated programs (default: all)")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args()
    codes = a.splash.resolve() / "codes" if (a.splash / "codes").is_dir() else a.splash.resolve()
    if not (codes / "pthread_macros" / "pthread.m4.POSIX_BARRIER").is_file():
        raise SystemExit(f"splash_paging: {a.splash}: not a SPLASH-3 checkout (no codes/pthread_macros)")
    if shutil.which("m4") is None:
        raise SystemExit("splash_paging: m4 not found (apt-get install m4)")
    qemu = shutil.which("qemu-riscv32")
    if qemu is None:
        log("splash_paging: qemu-riscv32 not found (apt-get install qemu-user): no peer")
    out = Path(a.out)
    work = out / "splash_paging"
    names = [n for n in PROGRAMS if not a.only or n in a.only.split(",")]
    figs = []
    for name in names:
        elf = build(codes, name, work)
        stdin = codes / PROGRAMS[name][0] / PROGRAMS[name][2] if PROGRAMS[name][2] else None
        log(f"{name} {' '.join(PROGRAMS[name][1])}: {a.runs} runs of qemu, paging and fits")
        f = figure(name, elf, stdin, a.runs, qemu)
        m = f["median"]
        log(f"  qemu {m['qemu_wall_s']} s, paging {m['paging_run_wall_s']:.3f} s, "
            f"fits {m['fits_run_wall_s']:.3f} s, paging/qemu {m.get('paging_over_qemu')}, "
            f"{f['sim']['sim_rmem_faults']} faults")
        figs.append(f)
    ratios = [f["median"].get("paging_over_qemu") for f in figs if f["sim"]["sim_rmem_faults"]]
    worst = max(ratios) if ratios and all(r is not None for r in ratios) else None
    doc = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "machine": machine_info(), "shoal_revision": shoal_revision(), "runs": a.runs, "figures": figs,
           "goal": {"paging_over_qemu_max": GOAL_PAGING_OVER_QEMU_MAX, "worst_of_those_that_page": worst,
                    "met": worst is not None and worst <= GOAL_PAGING_OVER_QEMU_MAX}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "splash_paging.json").write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {out / 'splash_paging.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Remote memory at the host's speed: a program that outgrows its cluster, against qemu-user
and against the same program on a chip where it fits.

    python bench/rmem.py [--quick] [--runs N] [--out bench/results]

Writes OUT/rmem.json. Program: tests/programs/bigdata.c (one thread: writes MIB mebibytes, then
strided passes over all of it, then a checksum), compiled once with shoal's toolchain. For each
size, medians of N fresh runs of:
  qemu     `qemu-riscv32 ELF MIB PASSES`, whole command, host wall time (the peer; qemu-user
           has no cluster memory to outgrow)
  paging   `Chip.run` on mppa256 (2 MiB clusters: most pages go to the I/O cluster's remote
           memory and come back on touch), host wall time, in a fresh process
  fits     `Chip.run` of the same program on mppa256 with 64 MiB clusters (no remote memory)
Ratios within one run: paging/qemu (the issue's goal: at most 3), fits/qemu, and paging/fits
(what paging costs the host). The simulated figures of the paging run (cycles, remote-memory
faults, evictions, cycles waited for pages) are recorded to show they are the same on every
run (`sim_deterministic`) and so that a host-side change that moves them is caught. Host wall
times are fields ending in `wall_s`; simulated time is only in `sim_*` fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shutil
import sys
from pathlib import Path

from run import log, machine_info, median, shoal_revision, timed_run

HERE = Path(__file__).resolve().parent
BIGDATA = HERE.parent / "tests" / "programs" / "bigdata.c"
SIZES = {"full": [["4", "2"], ["8", "2"]], "quick": [["3", "1"]]}
GOAL_PAGING_OVER_QEMU_MAX = 3.0


def elf() -> Path:
    from shoal.toolchain import compile_cached
    return compile_cached([BIGDATA], ["-O2", "-g0"])


def chip_run(kind: str, args: list[str]) -> dict:
    from shoal import Chip, ChipSpec
    spec = ChipSpec.preset("mppa256")
    if kind == "fits":
        spec = dataclasses.replace(spec, memory_per_cluster=64 << 20)
    c = Chip(spec)
    p = c.spawn(elf(), ["bigdata", *args])
    c.run()
    r = p.record
    return {"stdout": p.stdout.decode(errors="replace"), "returncode": p.returncode,
            "run_wall_s": c.wall_seconds, "guest_instructions": p.instructions,
            "sim_cycles": r.end_cycle, "sim_rmem_faults": r.rmem_faults, "sim_evictions": r.evictions,
            "sim_page_wait_cycles": r.page_wait}


def worker(kind: str, args: list[str]) -> dict:
    r = timed_run([sys.executable, str(Path(__file__).resolve()), "--worker", kind, *args])
    if r["returncode"] != 0:
        sys.stderr.write(r["stderr"].decode(errors="replace"))
        raise SystemExit(f"bench: worker {kind} failed with status {r['returncode']}")
    return json.loads(r["stdout"].decode().strip().splitlines()[-1])


def figure(args: list[str], runs: int, qemu: str | None) -> dict:
    samples: dict[str, list] = {"qemu": [], "paging": [], "fits": []}
    outs = set()
    for _ in range(runs):  # interleaved, so that the host's load falls on all three alike
        if qemu:
            q = timed_run([qemu, str(elf()), *args])
            samples["qemu"].append({"wall_s": q["wall_s"], "returncode": q["returncode"]})
            outs.add(q["stdout"].decode(errors="replace"))
        for kind in ("paging", "fits"):
            s = worker(kind, args)
            outs.add(s.pop("stdout"))
            samples[kind].append(s)
    med, check = summary(samples, outs)
    med["paging_over_fits"] = med["paging_run_wall_s"] / med["fits_run_wall_s"]
    sim = {k: v for k, v in samples["paging"][0].items() if k.startswith("sim_") or k == "guest_instructions"}
    faults = sim["sim_rmem_faults"] + sim["sim_evictions"]
    med["paging_extra_host_us_per_fault_or_eviction"] = (
        1e6 * (med["paging_run_wall_s"] - med["fits_run_wall_s"]) / faults if faults else None)
    return {"args": args, "samples": samples, "median": med, "sim": sim, "check": check}


def summary(samples: dict[str, list], outs: set[str]) -> tuple[dict, dict]:
    """Medians and ratios of interleaved qemu / paging / fits samples (host wall time), and the
    checks: one output, every status 0, the same simulated figures on every paging run (also
    bench/splash_paging.py's)."""
    med = {"qemu_wall_s": median([s["wall_s"] for s in samples["qemu"]]) if samples["qemu"] else None,
           "paging_run_wall_s": median([s["run_wall_s"] for s in samples["paging"]]),
           "fits_run_wall_s": median([s["run_wall_s"] for s in samples["fits"]])}
    if med["qemu_wall_s"]:
        med["paging_over_qemu"] = med["paging_run_wall_s"] / med["qemu_wall_s"]
        med["fits_over_qemu"] = med["fits_run_wall_s"] / med["qemu_wall_s"]
    sims = {json.dumps({k: v for k, v in s.items() if k.startswith("sim_")}, sort_keys=True)
            for s in samples["paging"]}
    return med, {"outputs_identical": len(outs) == 1,
                 "returncodes_zero": all(s["returncode"] == 0 for v in samples.values() for s in v),
                 "sim_deterministic": len(sims) == 1}


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(chip_run(sys.argv[2], sys.argv[3:])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args()
    runs = a.runs or (1 if a.quick else 5)
    qemu = shutil.which("qemu-riscv32")
    if qemu is None:
        log("bench: qemu-riscv32 not found (apt-get install qemu-user): no peer, ratios to qemu omitted")
    elf()
    figs = []
    for args in SIZES["quick" if a.quick else "full"]:
        log(f"bigdata {' '.join(args)}: {runs} runs of qemu, paging and fits")
        f = figure(args, runs, qemu)
        m = f["median"]
        log(f"  qemu {m['qemu_wall_s']} s, paging {m['paging_run_wall_s']:.3f} s, fits "
            f"{m['fits_run_wall_s']:.3f} s, paging/qemu {m.get('paging_over_qemu')}, "
            f"{m['paging_extra_host_us_per_fault_or_eviction']:.1f} us of host time per fault or eviction")
        figs.append(f)
    ratios = [f["median"].get("paging_over_qemu") for f in figs]
    worst = max(ratios) if all(r is not None for r in ratios) else None
    doc = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "machine": machine_info(), "shoal_revision": shoal_revision(), "runs": runs, "quick": a.quick,
           "figures": figs,
           "goal": {"paging_over_qemu_max": GOAL_PAGING_OVER_QEMU_MAX, "worst": worst,
                    "met": worst is not None and worst <= GOAL_PAGING_OVER_QEMU_MAX}}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rmem.json").write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {out / 'rmem.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""shoal guest-MPI benchmark: ping-pong latency and bandwidth of `#include <mpi.h>` programs
in simulated time, against message size, and the host time per MPI message.

    python bench/guest_mpi.py [--quick] [--out bench/results]

Writes OUT/guest_mpi.json. On mppa256, shoal/experiments/programs/mpi_pingpong.c runs as 2
ranks (`Chip.mpirun`) on neighbour clusters 0 and 1: per size, the simulated time of ITERS
round trips read with MPI_Wtime gives the one-way latency (half a round trip) and the bandwidth
(size / one-way latency). Eager messages (at most 104 B: one mailbox message) and rendezvous
ones (RTS, CTS, DATA notice, one portal transfer) show as two regimes. Next to them: the NoC
model's own time for the same bytes (NoC.latency: the wire alone). Then the host cost: a ping-
pong of 8 B messages, the host wall time of the run divided by the number of messages (one way
each). Simulated figures (sim_*) and host figures (*wall*) are kept apart; every measurement
runs in a fresh child process. The committed full run is bench/guest_mpi_baseline.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from run import log, machine_info, median, shoal_revision
from run import worker as run_worker

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "shoal" / "experiments" / "programs" / "mpi_pingpong.c"  # (shoal bench mpi's too)
CHIP = "mppa256"
FULL = {"sizes": [0, 1, 8, 64, 104, 105, 256, 1024, 4096, 16384, 65536, 262144, 1048576], "iters": 10,
        "host_messages": 2000, "runs": 3}
QUICK = {"sizes": [1, 64, 1024, 65536], "iters": 4, "host_messages": 200, "runs": 1}


def worker(*args: str) -> dict:
    return run_worker(*args, script=__file__)


def pingpong(elf: str, iters: int, sizes: list[int]) -> dict:
    """One job of 2 ranks (clusters 0 and 1); rank 0's lines, the host wall time of the run."""
    from shoal import Chip
    from shoal.tools.mpirun import run_job

    chip = Chip.preset(CHIP)
    ranks = chip.mpirun(elf, 2, ["guest_mpi", str(iters), *map(str, sizes)])
    end = run_job(chip, ranks)
    if end.failed is not None:
        raise RuntimeError(f"ping-pong failed: {end.line(ranks)}")
    rows = [ln.split() for ln in ranks[0].stdout.decode().splitlines()]
    return {"rows": [[int(a), int(b), int(c)] for a, b, c in rows], "run_wall_s": chip.wall_seconds,
            "sim_cycles": max(r.cycles or 0 for r in ranks), "noc_transfers": chip.noc_stats()["messages"]}


def worker_main(argv: list[str]) -> int:
    out = pingpong(argv[0], int(argv[1]), [int(x) for x in argv[2:]])
    print(json.dumps(out))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args()
    cfg = QUICK if a.quick else FULL
    t_all = time.perf_counter()
    from shoal.platform.noc import NoC
    from shoal.spec import ChipSpec
    from shoal.toolchain import compile_cached
    elf = str(compile_cached([SRC]))
    spec = ChipSpec.preset(CHIP)
    noc = NoC(spec)
    us = 1e6 / spec.cluster.freq_hz
    log(f"[1] ping-pong, sizes {cfg['sizes']}, {cfg['iters']} round trips each, {cfg['runs']} fresh run(s)")
    runs = [worker(elf, str(cfg["iters"]), *map(str, cfg["sizes"])) for _ in range(cfg["runs"])]
    deterministic = all(r["rows"] == runs[0]["rows"] for r in runs)
    curve = []
    for size, iters, ns in runs[0]["rows"]:
        one_way_us = ns / 1e3 / (2 * iters)
        if size > 104:  # the data's portal transfer alone
            wire = noc.latency(0, 1, size, spec.ikc.portal_chunk, spec.ikc.portal_header) * us
        else:  # a mailbox message is a full payload + header on the wire, whatever its size
            mbx = spec.ikc.mailbox_payload
            wire = noc.latency(0, 1, mbx, mbx, spec.ikc.mailbox_header) * us
        curve.append({"bytes": size, "protocol": "eager" if size <= 104 else "rendezvous",
                      "sim_one_way_us": round(one_way_us, 3),
                      "sim_MB_s": round(size / one_way_us, 3) if size else None,
                      "noc_wire_us": round(wire, 3),
                      "noc_wire_MB_s": round(size / wire, 3) if size else None})
        log(f"    {size:>8} B  {one_way_us:9.2f} us  {curve[-1]['sim_MB_s'] or 0:9.2f} MB/s  "
            f"(wire {wire:.2f} us)")
    n = cfg["host_messages"]
    log(f"[2] host cost: {n} round trips of 8 B, {cfg['runs']} fresh run(s)")
    host = [worker(elf, str(n), "8") for _ in range(cfg["runs"])]
    per_msg = [h["run_wall_s"] / (2 * (n + 1)) * 1e6 for h in host]
    log(f"    {median(per_msg):.1f} us of host time per message (median)")
    result = {
        "schema": 1, "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if a.quick else "full", "config": cfg, "chip": CHIP, "ranks_on_clusters": [0, 1],
        "units": {"sim_one_way_us": "simulated microseconds, half a round trip",
                  "sim_MB_s": "bytes / simulated one-way time", "noc_wire_us": "NoC.latency, no software",
                  "host_wall_us_per_message": "host wall time of Chip.run (run_job) / messages sent"},
        "machine": machine_info(), "shoal_revision": shoal_revision(),
        "figures": {"deterministic": deterministic, "pingpong": curve,
                    "host_wall_us_per_message": {"median": median(per_msg), "runs": per_msg,
                                                 "messages": 2 * (n + 1)},
                    "sim_cycles_host_run": host[0]["sim_cycles"]},
        "bench_wall_s": time.perf_counter() - t_all,
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "guest_mpi.json").write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {out / 'guest_mpi.json'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2:]))
    sys.exit(main())

"""shoal engine benchmark: the host cost of the one clock.

    python bench/engine.py [--quick] [--out bench/results]

Writes OUT/engine.json with three figures, each the median of several fresh child processes:

1. round trips on an otherwise idle mppa256 chip, host wall time each. `stream`: a client on
   cluster 0 writes mailbox messages back to back to a server on cluster 15; each write waits
   for the receiver's acknowledgement, so each is one round trip on the NoC (message there,
   ack back) with a thread woken at each end (tests/programs/clock.c). Goal <= 150 us.
   `pingpong`: bench/programs/ikc.c's rtt modes, an application-level round trip (two such
   messages) plus a 200 us sleep and a printf per iteration.
2. idle: host wall time per engine round and per simulated millisecond of a 16-cluster chip
   where one process sleeps in 1 ms steps and 15 clusters have nothing to do (an idle cluster
   must cost nothing).
3. window: the same communicating workload with window_cycles at its default, a tenth of it
   and ten times it: simulated results must be identical (checked), host time may differ.

Simulated time (sim_*) and host wall time (*wall*) are kept apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path

from run import log, machine_info, median, shoal_revision, spread
from run import worker as run_worker

HERE = Path(__file__).resolve().parent
IKC_C = HERE / "programs" / "ikc.c"
CLOCK_C = HERE.parent / "tests" / "programs" / "clock.c"
FULL = {"runs": 5, "rtt": 400, "idle_ms": 2000, "stream": 1000}
QUICK = {"runs": 1, "rtt": 50, "idle_ms": 200, "stream": 100}
GOAL_RTT_US = 150.0


def worker(*args: str) -> dict:
    return run_worker(*args, script=__file__)


def rtt_worker(n: int) -> dict:
    from shoal import Chip
    chip = Chip.preset("mppa256")
    srv = chip.spawn(IKC_C, ["ikc", "rtt_server", str(n)], cluster=15)
    cli = chip.spawn(IKC_C, ["ikc", "rtt_client", str(n)], cluster=0)
    chip.run()
    rtts = [int(ln.split()[1]) for ln in cli.stdout.decode().splitlines() if ln.startswith("rtt ")]
    ok = srv.returncode == 0 and cli.returncode == 0 and len(rtts) == n
    # Each iteration of the client also sleeps 200 us and prints a line: both are part of
    # what the host pays per round trip here.
    return {"ok": ok, "round_trips": n, "run_wall_s": chip.wall_seconds,
            "wall_us_per_round_trip": chip.wall_seconds / n * 1e6, "rounds": chip.rounds,
            "sim_rtt_ns_median": median(rtts), "sim_cycles": chip.time}


def stream_worker(n: int) -> dict:
    from shoal import Chip
    chip = Chip.preset("mppa256")
    srv = chip.spawn(CLOCK_C, ["clock", "stream_server", str(n)], cluster=15)
    cli = chip.spawn(CLOCK_C, ["clock", "stream_client", str(n)], cluster=0)
    chip.run()
    return {"ok": srv.returncode == 0 and cli.returncode == 0, "messages": n, "run_wall_s": chip.wall_seconds,
            "wall_us_per_message": chip.wall_seconds / n * 1e6, "rounds": chip.rounds,
            "sim_us_per_message": cli.cycles / n / 400}


def idle_worker(ms: int) -> dict:
    from shoal import Chip
    chip = Chip.preset("mppa256")
    p = chip.spawn(CLOCK_C, ["clock", "sleep", str(ms), "1000"], cluster=3)
    chip.run()
    empty = Chip.preset("mppa256")
    empty.run(max_cycles=400_000_000)  # one simulated second with nothing to do
    return {"ok": p.returncode == 0, "sim_ms": chip.seconds * 1e3, "run_wall_s": chip.wall_seconds,
            "empty_chip_wall_s_per_sim_s": empty.wall_seconds, "empty_chip_rounds": empty.rounds,
            "rounds": chip.rounds, "wall_us_per_round": chip.wall_seconds / max(1, chip.rounds) * 1e6,
            "wall_us_per_sim_ms": chip.wall_seconds / (chip.seconds * 1e3) * 1e6}


def window_worker(n: int, window: int) -> dict:
    from shoal import Chip, ChipSpec
    spec = ChipSpec.load("mppa256")
    spec = dataclasses.replace(spec, window_cycles=window or spec.engine.window_cycles)
    chip = Chip(spec)
    ps = [chip.spawn(CLOCK_C, ["clock", "stream_server", str(n)], cluster=15),
          chip.spawn(CLOCK_C, ["clock", "stream_client", str(n)], cluster=0),
          chip.spawn(CLOCK_C, ["clock", "compute", "40"], cluster=5)]
    chip.schedule_migration(ps[1].pid, 14, 400_000)
    chip.run()
    sim = [[p.stdout.decode(), p.returncode, p.cycles] for p in ps]
    sim.append([[m.src, m.dst, m.frozen, m.thawed, m.bytes] for m in chip.migrations])
    return {"window_cycles": spec.engine.window_cycles, "run_wall_s": chip.wall_seconds,
            "rounds": chip.rounds, "sim": sim}


def worker_main(argv: list[str]) -> int:
    kind, arg = argv[0], int(argv[1])
    if kind == "rtt":
        out = rtt_worker(arg)
    elif kind == "stream":
        out = stream_worker(arg)
    elif kind == "idle":
        out = idle_worker(arg)
    else:
        out = window_worker(int(argv[1]), int(argv[2]))
    print(json.dumps(out))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    from shoal.toolchain import compile_cached
    compile_cached([IKC_C])
    compile_cached([CLOCK_C])
    started = datetime.datetime.now(datetime.UTC).isoformat()
    log(f"[1] mailbox round trips: {cfg['stream']} acknowledged messages, {cfg['rtt']} ping-pongs; "
        f"{cfg['runs']} runs")
    stream = [worker("stream", str(cfg["stream"])) for _ in range(cfg["runs"])]
    per_msg = [r["wall_us_per_message"] for r in stream]
    log(f"    host wall us per acknowledged message: median {median(per_msg):.1f} (goal <= {GOAL_RTT_US})")
    rtt = [worker("rtt", str(cfg["rtt"])) for _ in range(cfg["runs"])]
    per = [r["wall_us_per_round_trip"] for r in rtt]
    log(f"    host wall us per ping-pong iteration (two messages, a sleep, a printf): "
        f"median {median(per):.1f}")
    log(f"[2] idle chip: one process sleeping {cfg['idle_ms']} x 1 ms")
    idle = [worker("idle", str(cfg["idle_ms"])) for _ in range(cfg["runs"])]
    log(f"    host wall us per simulated ms: median {median([r['wall_us_per_sim_ms'] for r in idle]):.1f}; "
        f"per round {median([r['wall_us_per_round'] for r in idle]):.1f}; an empty chip: "
        f"{median([r['empty_chip_wall_s_per_sim_s'] for r in idle]) * 1e6:.0f} us per simulated second")
    log("[3] window_cycles at its default, a tenth and ten times")
    win = [worker("window", str(cfg["stream"]), str(w)) for w in (0, 10_000, 1_000_000)]
    same = all(w["sim"] == win[0]["sim"] for w in win)
    log(f"    simulated results identical: {same}; host wall s: {[round(w['run_wall_s'], 3) for w in win]}")
    result = {
        "started": started, "machine": machine_info(), "shoal_revision": shoal_revision(), "config": cfg,
        "figures": {
            "mailbox_round_trip": {"samples": stream, "median_wall_us_per_message": median(per_msg),
                                   "spread": spread(per_msg), "goal_wall_us": GOAL_RTT_US,
                                   "met": median(per_msg) <= GOAL_RTT_US,
                                   "sim_us_per_message": stream[0]["sim_us_per_message"],
                                   "all_ok": all(r["ok"] for r in stream)},
            "ping_pong": {"samples": rtt, "median_wall_us_per_iteration": median(per), "spread": spread(per),
                          "sim_rtt_ns_median": rtt[0]["sim_rtt_ns_median"],
                          "all_ok": all(r["ok"] for r in rtt)},
            "idle_chip": {"samples": idle,
                          "median_wall_us_per_sim_ms": median([r["wall_us_per_sim_ms"] for r in idle]),
                          "median_wall_us_per_round": median([r["wall_us_per_round"] for r in idle]),
                          "median_empty_chip_wall_s_per_sim_s":
                              median([r["empty_chip_wall_s_per_sim_s"] for r in idle])},
            "window_independence": {"runs": [{k: v for k, v in w.items() if k != "sim"} for w in win],
                                    "sim_identical": same},
        },
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "engine.json").write_text(json.dumps(result, indent=1))
    log(f"wrote {out / 'engine.json'}")
    return 0 if same and all(r["ok"] for r in rtt + idle + stream) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2:]))
    sys.exit(main())

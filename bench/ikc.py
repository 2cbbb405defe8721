"""shoal IKC benchmark: mailbox latency, portal bandwidth, and the host cost of one message.

    python bench/ikc.py [--quick] [--out bench/results]

Writes OUT/ikc.json. On mppa256, a server on a cluster 1, 2, 3 and 4 hops from cluster 0 and a
client on cluster 0 (bench/programs/ikc.c) measure, in simulated time read from the chip's clock:
the one-way latency and the round trip of a 120 B mailbox message, and the time of one portal
transfer of 4 KiB, 64 KiB and 1 MiB. Each is put next to the NoC model's own formula
(NoC.latency: the transfer alone on the wire, no software) and next to the published MPPA-256
figures. Then the host cost: a client streams N mailbox messages to a server one hop away, and
the host wall time of Chip.run is divided by N.

Simulated time (fields named sim_*) and host wall time (fields named *wall_s, *wall_us) are
kept apart. Every measurement runs in a fresh child process (`ikc.py --worker ...`).
bench/README.md explains each figure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from run import elf_info, log, machine_info, median, shoal_revision, spread
from run import worker as run_worker

HERE = Path(__file__).resolve().parent
IKC_C = HERE / "programs" / "ikc.c"
CHIP = "mppa256"
HOPS = (1, 2, 3, 4)
PORTAL_SIZES = (4 * 1024, 64 * 1024, 1024 * 1024)
MAILBOX_BYTES = 120  # the message size of the published figures
STREAM_DST = 1  # one hop from cluster 0

FULL = {"runs": 5, "stream_messages": 2000, "latency_messages": 5, "sim_repeats": 2}
QUICK = {"runs": 1, "stream_messages": 200, "latency_messages": 3, "sim_repeats": 1}

PUBLISHED = {
    "mailbox_round_trip_120B_us": {
        "min": 16.0, "max": 25.0,
        "what": "mailbox round trip of a 120 B message between clusters, Nanvix HAL on the MPPA-256",
        "source": "Penna et al., ERAD-RS 2019"},
    "portal_aggregate_MB_s": {
        "value": 1450.0,
        "what": "portal bandwidth, aggregate, from one I/O cluster to 16 compute clusters, 1 MB blocks",
        "source": "Penna et al., ERAD-RS 2019"},
    "kernel_mailbox_ping_pong_compute_io_us": {
        "value": 189.0,
        "what": "kernel-level mailbox ping-pong between a compute cluster and an I/O cluster",
        "source": "Souto (as cited in shoal's ../shared/DESIGN.md)"},
}


def worker(*args: str) -> dict:
    return run_worker(*args, script=__file__)


def portal_checksum(size: int) -> int:
    """What the server prints if every byte arrived: bytes 8.. of the client's pattern."""
    s = 0
    for i in range(8, size):
        s = (s * 31 + ((i * 7 + 3) & 0xFF)) & (2**64 - 1)
    return s


def stream_checksum(n: int) -> int:
    s = 0
    for i in range(n):
        for j in range(8, MAILBOX_BYTES):
            s = (s * 31 + ((i * 13 + j) & 0xFF)) & (2**64 - 1)
    return s


# --- workers (run in a child process) ---------------------------------------------------------
def run_pair(elf: str, server: list[str], client: list[str], dst: int) -> tuple[list[list[str]], object]:
    """Server on `dst`, client on cluster 0, one fresh chip; the lines both printed, split."""
    from shoal import Chip

    chip = Chip.preset(CHIP)
    s = chip.spawn(elf, ["ikc", *server], cluster=dst)
    c = chip.spawn(elf, ["ikc", *client], cluster=0)
    chip.run()
    if s.returncode != 0 or c.returncode != 0:
        raise RuntimeError(f"{server} on {dst} / {client} on 0: exit {s.returncode}/{c.returncode}, "
                           f"{s.stdout!r} {c.stdout!r} {s.message} {c.message}")
    lines = (s.stdout + c.stdout).decode().splitlines()
    return [ln.split() for ln in lines], chip


def sim_worker(elf: str, nmsg: int) -> dict:
    """Every simulated figure, in nanoseconds as the guest measured them (deterministic)."""
    from shoal import Chip
    from shoal.platform.noc import NoC

    chip = Chip.preset(CHIP)
    noc = NoC(chip.spec)  # the model's routes, for choosing destinations by hops
    by_hops = {}
    for h in HOPS:
        dst = next(c for c in range(1, chip.spec.compute_clusters) if noc.hops(0, c) == h)
        ow, _ = run_pair(elf, ["oneway_server", str(nmsg)], ["oneway_client", str(nmsg)], dst)
        rt, _ = run_pair(elf, ["rtt_server", str(nmsg)], ["rtt_client", str(nmsg)], dst)
        if any(x[:2] != ["oneway", str(MAILBOX_BYTES)] for x in ow) or len(ow) != nmsg:
            raise RuntimeError(f"one-way output {ow}")
        portals = {}
        for size in PORTAL_SIZES:
            out, _ = run_pair(elf, ["portal_server", str(size)], ["portal_client", str(size)], dst)
            (tag, got, ns, csum), = out
            portals[str(size)] = {"sim_ns": int(ns), "bytes_received": int(got),
                                  "data_intact": tag == "portal" and int(got) == size
                                  and int(csum) == portal_checksum(size)}
        by_hops[str(h)] = {"dst": dst, "route": [list(lk) for lk in noc.route(0, dst)],
                           "oneway_sim_ns": [int(x[2]) for x in ow],
                           "rtt_sim_ns": [int(x[1]) for x in rt], "portal": portals}
    # Compute -> I/O: a request to the name daemon on I/O cluster 0 and its answer.
    c2 = Chip.preset(CHIP)
    p = c2.spawn(elf, ["ikc", "io_rtt", str(nmsg)], cluster=0)
    c2.run()
    io = [ln.split() for ln in p.stdout.decode().splitlines()]
    io_node = chip.spec.compute_clusters  # I/O cluster 0
    return {"by_hops": by_hops, "io_rtt_sim_ns": [int(x[2]) for x in io],
            "io_rtt_returns": sorted({int(x[1]) for x in io}), "io_node": io_node,
            "io_hops": noc.hops(0, io_node)}


def stream_worker(elf: str, n: int) -> dict:
    """Host wall time of Chip.run for one handshake + n mailbox messages, cluster 0 -> 1."""
    t0 = time.perf_counter()
    from shoal import Chip
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    chip = Chip.preset(CHIP)
    boot_s = time.perf_counter() - t0
    s = chip.spawn(elf, ["ikc", "stream_server", str(n)], cluster=STREAM_DST)
    c = chip.spawn(elf, ["ikc", "stream_client", str(n)], cluster=0)
    cpu0 = time.process_time()
    chip.run()
    out = s.stdout.decode().split()
    return {"messages": n, "import_wall_s": import_s, "boot_wall_s": boot_s,
            "run_wall_s": chip.wall_seconds, "run_cpu_s": time.process_time() - cpu0,
            "returncodes": [s.returncode, c.returncode], "stdout": s.stdout.decode(),
            "data_intact": out[:3] == ["stream", str(n), str(stream_checksum(n))],
            "sim_stream_ns": int(out[3]) if len(out) == 4 else None,
            "sim_cycles": chip.time, "guest_instructions": chip.instructions,
            "noc_transfers": chip.noc_stats()["messages"], "rounds": chip.rounds}


def worker_main(argv: list[str]) -> int:
    kind = argv[0]
    if kind == "sim":
        out = sim_worker(argv[1], int(argv[2]))
    elif kind == "stream":
        out = stream_worker(argv[1], int(argv[2]))
    else:
        raise SystemExit(f"bench: unknown worker {kind}")
    print(json.dumps(out))
    return 0


# --- figures ----------------------------------------------------------------------------------
def noc_aggregate_model(size: int = 1024 * 1024) -> dict:
    """The NoC model alone (no software): I/O cluster 0 sends `size` bytes to each of the 16
    compute clusters, all ready at cycle 0, in portal chunks; aggregate rate over the last
    arrival. The analogue, in the model, of the published aggregate figure."""
    from shoal.platform.noc import NoC, Packet
    from shoal.spec import ChipSpec

    spec = ChipSpec.preset(CHIP)
    noc = NoC(spec)
    io = spec.compute_clusters
    ikc = spec.ikc
    flows = [Packet(io, c, "bench", {}, b"", size, 0, ikc.portal_chunk, ikc.portal_header, seq=c + 1)
             for c in range(spec.compute_clusters)]
    noc.schedule(flows)
    end = max(f.arrival for f in flows)
    total = size * len(flows)
    first_links = sorted({noc.route(io, c)[0] for c in range(spec.compute_clusters)})
    link_mb_s = spec.noc.noc_link_bytes_per_cycle * spec.cluster.freq_hz / 1e6
    return {"src": "io0", "dsts": spec.compute_clusters, "bytes_each": size,
            "sim_cycles": end, "sim_us": end / spec.cluster.freq_hz * 1e6,
            "sim_aggregate_MB_s": total / (end / spec.cluster.freq_hz) / 1e6,
            "io0_injection_links": [list(lk) for lk in first_links],
            "sim_link_MB_s": link_mb_s,
            "sim_injection_bound_MB_s": link_mb_s * len(first_links),
            "note": "NoC.schedule on an idle network, no kernel software. The routes of NoC.route give "
                    f"I/O cluster 0 {len(first_links)} injection link(s) (one per router of its edge), "
                    "so the aggregate is bounded by that many links, not by one"}


def figure_sim(elf: Path, cfg: dict) -> dict:
    from shoal.platform.noc import NoC
    from shoal.spec import ChipSpec

    spec = ChipSpec.preset(CHIP)
    noc = NoC(spec)
    log(f"[1] simulated latencies and bandwidths, hops {HOPS}, {cfg['sim_repeats']} fresh run(s)")
    runs = [worker("sim", str(elf), str(cfg["latency_messages"])) for _ in range(cfg["sim_repeats"])]
    for r in runs:
        r.pop("process_wall_s")
    deterministic = all(r == runs[0] for r in runs)
    raw = runs[0]
    us = 1e6 / spec.cluster.freq_hz  # us per cycle
    mbx = spec.ikc.mailbox_payload  # a mailbox message is always a full payload + header on the wire
    rows = {}
    for h in HOPS:
        r = raw["by_hops"][str(h)]
        dst = r["dst"]
        ow_us = median(r["oneway_sim_ns"]) / 1e3
        rt_us = median(r["rtt_sim_ns"]) / 1e3
        f_mbx = noc.latency(0, dst, mbx, mbx, spec.ikc.mailbox_header) * us
        portals = {}
        for size in PORTAL_SIZES:
            p = r["portal"][str(size)]
            t_us = p["sim_ns"] / 1e3
            f_us = noc.latency(0, dst, size, spec.ikc.portal_chunk, spec.ikc.portal_header) * us
            portals[str(size)] = {
                "sim_us": t_us, "sim_bandwidth_MB_s": size / t_us,
                "sim_noc_formula_us": f_us, "sim_noc_formula_bandwidth_MB_s": size / f_us,
                "sim_diff_from_formula_us": t_us - f_us, "sim_ratio_to_formula": t_us / f_us,
                "data_intact": p["data_intact"]}
        rows[str(h)] = {
            "dst_cluster": dst, "hops": noc.hops(0, dst),
            "mailbox_120B": {
                "sim_oneway_us": ow_us, "sim_noc_formula_oneway_us": f_mbx,
                "sim_oneway_diff_from_formula_us": ow_us - f_mbx,
                "sim_round_trip_us": rt_us, "sim_noc_formula_round_trip_us": 2 * f_mbx,
                "sim_round_trip_diff_from_formula_us": rt_us - 2 * f_mbx,
                "sim_2x_oneway_us": 2 * ow_us},
            "portal": portals}
    pub = PUBLISHED
    lo, hi = pub["mailbox_round_trip_120B_us"]["min"], pub["mailbox_round_trip_120B_us"]["max"]
    big = str(PORTAL_SIZES[-1])
    io_us = median(raw["io_rtt_sim_ns"]) / 1e3
    io_formula = 2 * noc.latency(0, raw["io_node"], mbx, mbx, spec.ikc.mailbox_header) * us
    agg = noc_aggregate_model()
    vs = {
        "mailbox_round_trip_120B": {
            "published_us": [lo, hi],
            "sim_round_trip_us_by_hops": {h: rows[h]["mailbox_120B"]["sim_round_trip_us"] for h in rows},
            "sim_2x_oneway_us_by_hops": {h: rows[h]["mailbox_120B"]["sim_2x_oneway_us"] for h in rows},
            "round_trip_in_range_all_hops": all(
                lo <= rows[h]["mailbox_120B"]["sim_round_trip_us"] <= hi for h in rows),
            "2x_oneway_in_range_all_hops": all(
                lo <= rows[h]["mailbox_120B"]["sim_2x_oneway_us"] <= hi for h in rows)},
        "portal_1MiB": {
            "published_aggregate_MB_s": pub["portal_aggregate_MB_s"]["value"],
            "sim_single_transfer_MB_s_by_hops": {h: rows[h]["portal"][big]["sim_bandwidth_MB_s"]
                                                 for h in rows},
            "sim_ratio_to_published_by_hops": {
                h: rows[h]["portal"][big]["sim_bandwidth_MB_s"] / pub["portal_aggregate_MB_s"]["value"]
                for h in rows},
            "noc_model_aggregate_io0_to_16": agg,
            "sim_noc_model_aggregate_ratio_to_published":
                agg["sim_aggregate_MB_s"] / pub["portal_aggregate_MB_s"]["value"],
            "note": "the published figure is an aggregate from an I/O cluster; shoal runs user "
                    "processes on compute clusters only, so the measured figure is one transfer "
                    "between two compute clusters, and the aggregate is the NoC model's alone"},
        "compute_io_round_trip": {
            "published_us": pub["kernel_mailbox_ping_pong_compute_io_us"]["value"],
            "sim_us": io_us,
            "sim_ratio_to_published": io_us / pub["kernel_mailbox_ping_pong_compute_io_us"]["value"],
            "sim_noc_formula_us": io_formula, "hops_to_io0": raw["io_hops"],
            "what": "shoal_name_lookup from cluster 0: a request to the name daemon on I/O cluster 0 "
                    "and its answer (a kernel-to-daemon round trip of control messages; "
                    f"service time {spec.ikc.service_cycles} cycles), not a user-level ping-pong",
            "lookup_returned": raw["io_rtt_returns"]},
    }
    return {"program": "bench/programs/ikc.c", **elf_info(elf), "chip": CHIP,
            "messages_per_latency_point": cfg["latency_messages"],
            "samples": runs, "by_hops": rows, "vs_published": vs,
            "check": {"sim_deterministic_across_runs": deterministic,
                      "portal_data_intact": all(p["data_intact"] for r in rows.values()
                                                for p in r["portal"].values()),
                      "mailbox_oneway_same_every_message": all(
                          len(set(raw["by_hops"][h]["oneway_sim_ns"])) == 1 for h in raw["by_hops"])},
            "model": {"freq_hz": spec.cluster.freq_hz,
                      "noc_link_bytes_per_cycle": spec.noc.noc_link_bytes_per_cycle,
                      "noc_hop_cycles": spec.noc.noc_hop_cycles,
                      "noc_setup_cycles": spec.noc.noc_setup_cycles,
                      "mailbox_wire_bytes": spec.ikc.mailbox_payload + spec.ikc.mailbox_header,
                      "portal_chunk": spec.ikc.portal_chunk, "portal_header": spec.ikc.portal_header,
                      "ikc_recv_cycles": spec.ikc.ikc_recv_cycles,
                      "syscall_cycles": spec.costs.syscall_cycles}}


def figure_host(elf: Path, cfg: dict) -> dict:
    n, runs = cfg["stream_messages"], cfg["runs"]
    log(f"[2] host cost of a mailbox message: {n} messages cluster 0 -> {STREAM_DST} (and 0 as the "
        f"baseline), {runs} fresh run(s) each")
    full, base = [], []
    for i in range(runs):
        w = worker("stream", str(elf), str(n))
        b = worker("stream", str(elf), "0")
        w["wall_us_per_message"] = w["run_wall_s"] / n * 1e6
        full.append(w)
        base.append(b)
        log(f"    run {i + 1}/{runs}: Chip.run {w['run_wall_s']:.3f} s for {n} messages "
            f"({w['wall_us_per_message']:.1f} us each), baseline {b['run_wall_s']:.3f} s")
    m_full = median([s["run_wall_s"] for s in full])
    m_base = median([s["run_wall_s"] for s in base])
    sim_ns = full[0]["sim_stream_ns"]
    return {
        "program": "bench/programs/ikc.c", "argv": ["ikc", "stream_server|stream_client", str(n)],
        "clusters": [0, STREAM_DST], "messages": n, "runs": runs,
        "samples": {"stream": full, "baseline_0_messages": base},
        "median": {
            "run_wall_s": m_full, "run_wall_s_per_run": spread([s["run_wall_s"] for s in full]),
            "baseline_run_wall_s": m_base,
            "host_wall_us_per_message": m_full / n * 1e6,
            "host_wall_us_per_message_marginal": (m_full - m_base) / n * 1e6,
            "host_cpu_us_per_message": median([s["run_cpu_s"] for s in full]) / n * 1e6,
            "sim_us_per_message_streaming": sim_ns / n / 1e3 if sim_ns else None,
            "noc_transfers_per_message": (full[0]["noc_transfers"] - base[0]["noc_transfers"]) / n,
            "guest_instructions_per_message":
                (full[0]["guest_instructions"] - base[0]["guest_instructions"]) / n},
        "check": {"all_exit_0": all(s["returncodes"] == [0, 0] for s in full + base),
                  "data_intact": all(s["data_intact"] for s in full + base),
                  "sim_deterministic_across_runs": len({s["sim_cycles"] for s in full}) == 1}}


# --- main -------------------------------------------------------------------------------------
def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run, fewer messages (a smoke test)")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory for ikc.json")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    t_start = time.perf_counter()
    machine = machine_info()
    rev_start = shoal_revision()
    log("compiling bench/programs/ikc.c (cached after the first time)...")
    from shoal.toolchain import compile_cached
    elf = compile_cached([IKC_C])

    sim = figure_sim(elf, cfg)
    host = figure_host(elf, cfg)
    result = {
        "schema": "shoal-bench-ikc/1",
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "config": cfg,
        "units": {"sim_*_us, sim_*_ns": "simulated time on the chip (400 MHz clock of mppa256)",
                  "sim_*_MB_s": "bytes per simulated microsecond (1 MB = 1e6 B)",
                  "*wall_s, *wall_us*": "host wall-clock time", "*cpu_s, *cpu_us*": "host CPU time"},
        "published": PUBLISHED,
        "machine": machine,
        "shoal_revision": {"at_start": rev_start, "at_end": shoal_revision()},
        "figures": {"sim_latency_bandwidth": sim, "host_cost_per_message": host},
        "bench_wall_s": time.perf_counter() - t_start,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "ikc.json"
    out.write_text(json.dumps(result, indent=1) + "\n")

    log("\nsimulated (mppa256, 400 MHz); formula = NoC.latency alone on the wire:")
    log(" hops dst | mbx 1-way us (formula) | round trip us | portal 4K / 64K / 1M us | 1 MiB MB/s (formula)")
    for h, r in sim["by_hops"].items():
        m, p = r["mailbox_120B"], r["portal"]
        big = p[str(PORTAL_SIZES[-1])]
        log(f"  {h}  c{r['dst_cluster']:<3}|   {m['sim_oneway_us']:6.2f} "
            f"({m['sim_noc_formula_oneway_us']:.2f})       |   {m['sim_round_trip_us']:6.2f}      | "
            + " / ".join(f"{p[str(s)]['sim_us']:.1f}" for s in PORTAL_SIZES)
            + f" | {big['sim_bandwidth_MB_s']:.0f} ({big['sim_noc_formula_bandwidth_MB_s']:.0f})")
    vs = sim["vs_published"]
    agg = vs["portal_1MiB"]["noc_model_aggregate_io0_to_16"]
    log(f"  published: round trip 16-25 us -> in range at all hops: "
        f"{vs['mailbox_round_trip_120B']['round_trip_in_range_all_hops']}; portal ~1450 MB/s aggregate "
        f"(NoC model io0->16 clusters: {agg['sim_aggregate_MB_s']:.0f} MB/s over "
        f"{len(agg['io0_injection_links'])} link(s)); compute<->I/O ~189 us "
        f"(shoal name lookup: {vs['compute_io_round_trip']['sim_us']:.1f} us)")
    hm = host["median"]
    log(f"host: {hm['host_wall_us_per_message']:.1f} us wall per mailbox message "
        f"(marginal {hm['host_wall_us_per_message_marginal']:.1f} us; "
        f"{hm['sim_us_per_message_streaming']:.2f} us simulated each when streaming)")
    log(f"wrote {out} ({result['bench_wall_s']:.0f} s)")
    ok = (sim["check"]["sim_deterministic_across_runs"] and sim["check"]["portal_data_intact"]
          and host["check"]["all_exit_0"] and host["check"]["data_intact"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

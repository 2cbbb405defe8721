"""What a command reports on stderr: --stats (simulated figures, the caches, migrations,
policies, the other processes), killed programs, failed migrations, a trace's dropped events."""

from __future__ import annotations

import sys

from shoal import _compiled


def _cache_lines(counts: tuple[int, ...], instructions: int, cpi: int) -> list[str]:
    """The L1 model's line of --stats (none when the model is off)."""
    if not counts:
        return []
    loads, stores, lm, sm, _fetches, fm, stall, waits, wait = counts

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.2f}%" if b else "-"
    banks = f", {wait} of them waiting for a memory bank ({waits} misses)" if waits else ""
    return [f"  L1 caches      : D {loads} loads ({pct(lm, loads)} miss), {stores} stores "
            f"({pct(sm, stores)} miss); I {fm} misses ({pct(fm, instructions)} of instructions); "
            f"stalled {stall} cycles ({pct(stall, instructions * cpi + stall)} of its threads' "
            f"time){banks}"]


# (said only when there are some: a run with none reads as it always has)
KEPT = ", or granted what shoal keeps but does not model (a real-time policy),"


def stats_text(chip: object, proc: object) -> str:
    from shoal.api import Chip, Process
    assert isinstance(chip, Chip) and isinstance(proc, Process)
    c = proc.record
    spec = chip.spec
    cyc = proc.cycles or 0
    calls = ", ".join(f"{n} {k}" for k, n in sorted(c.syscalls.items(), key=lambda kv: (-kv[1], kv[0])))
    unknown = ", ".join(f"#{n} x{k}" for n, k in sorted(c.unknown_syscalls.items())) or "none"
    mips = proc.instructions / chip.wall_seconds / 1e6 if chip.wall_seconds > 0 else 0.0
    lines = [
        f"shoal stats for {proc.name} (pid {proc.pid}) on cluster {proc.cluster} of {spec.name}",
        f"  simulated time : {cyc} cycles = {spec.cycles_to_seconds(cyc) * 1e3:.3f} ms "
        f"at {spec.cluster.freq_hz / 1e6:g} MHz",
        f"  instructions   : {proc.instructions} (guest, all threads)",
        f"  threads        : {c.threads}",
        f"  syscalls       : {sum(c.syscalls.values())} ({calls or 'none'})",
        f"  unknown calls  : {unknown} (answered -ENOSYS; a known call refused for an "
        f"unsupported flag{KEPT if c.unknown_syscalls else ''} is counted here too)",
        f"  kernel queueing: {c.kcore_wait} cycles (calls waiting for the cluster's kernel core)",
        f"  peak memory    : {c.peak_frames} frames = {c.peak_frames * spec.cluster.page_size // 1024} KiB "
        f"(pages and page tables; a frame shared since a fork counts in each process, as RSS)",
        f"  shared memory  : {c.shm_faults} faults on pages another cluster held",
        f"  remote memory  : {c.rmem_faults} page faults, {c.evictions} pages evicted to the I/O "
        f"cluster; threads waited {c.page_wait} cycles = {spec.cycles_to_seconds(c.page_wait) * 1e6:.1f} us "
        f"simulated for pages",
        *_cache_lines(c.caches, proc.instructions, spec.costs.cpi),
        *_kernel_cache_lines(c.kernel_caches),
        f"  host wall time : {chip.wall_seconds:.3f} s ({mips:.1f} guest MIPS on the host)",
        f"  cpu            : {chip.cpu_engine}",
        f"  shoal's modules: {_compiled.state()} (host speed only; results are the same)",
    ]
    noc = chip.noc_stats()
    top = noc["busiest"]
    if top is not None:
        lines.append(f"  NoC            : {noc['messages']} transfers, {noc['bytes']} bytes sent; "
                     f"busiest link {top['link']} ({top['bytes']} bytes, {top['transfers']} transfers)")
    d = chip.daemon_stats()
    if d["fs_nodes"] or d["mq_queues"] or d["semaphores"]:
        lines.append(f"  file system    : {d['fs_nodes']} files and directories, {d['fs_bytes']} bytes, "
                     f"{d['fs_handles']} open; {d['mq_queues']} message queues, {d['semaphores']} semaphores")
    for m in proc.migrations:
        if m.dst < 0:
            continue
        if m.ok:
            dt = m.downtime or 0
            total = "unfinished" if m.total is None else f"{m.total} cycles"
            lines.append(f"  migration      : cluster {m.src} -> {m.dst} at cycle {m.requested}: downtime "
                         f"{dt} cycles = {spec.cycles_to_seconds(dt) * 1e6:.1f} us simulated, total "
                         f"{total}, {m.bytes} bytes, {m.pages} pages, {m.threads} threads; "
                         f"host {m.wall_seconds * 1e3:.2f} ms")
            wait = spec.cycles_to_seconds(m.page_wait) * 1e6
            if m.src == m.dst:  # already there: nothing moved, no method to speak of
                continue
            lines.append(f"    method       : {m.method}, {m.rounds} pre-copy rounds, {m.pages_sent} pages "
                         f"sent ({m.pages_resent} more than once, {m.bytes_sent} bytes), {m.postcopy_pages} "
                         f"after the thaw, {m.remote_faults} remote page faults, threads waited "
                         f"{m.page_wait} cycles = {wait:.1f} us simulated for pages"
                         + (f"; switched over: {m.switch}" if m.switch else ""))
        else:
            lines.append(f"  migration      : cluster {m.src} -> {m.dst} at cycle {m.requested}: "
                         f"{m.state}: {m.reason}")
    lines += _policy_stats(chip)
    others = [c for c in chip.processes() if c.pid != proc.pid]
    for c2 in others:
        how = (f"exit {c2.exit_code}" if c2.signal is None else c2.message) if not c2.alive else "running"
        lines.append(f"  process {c2.pid:<6} : {c2.name} on cluster {c2.cluster}, {how}, "
                     f"{c2.instructions} instructions")
    folded = chip.folded_processes()
    if folded["processes"]:
        lines.append(f"  and {folded['processes']} earlier processes that ended ({folded['killed']} killed), "
                     f"{folded['instructions']} instructions (records not kept: kernel/records.py)")
    return "\n".join(lines) + "\n"


def _policy_stats(chip: object) -> list[str]:
    """Each policy's moves: how many, their downtime, and each one with its reason."""
    from shoal.api import Chip
    assert isinstance(chip, Chip)
    moves = chip.policy_moves()
    fig = chip.policy_figures()
    if not moves and not fig["policies"]:
        return []
    spec = chip.spec
    lines = [f"  policies       : {', '.join(fig['policies']) or 'none left'}; {fig['asked']} moves asked, "
             f"{fig['refused']} refused" + (f"; evacuated {fig['evacuated']}" if fig["evacuated"] else "")]
    by: dict[str, list] = {}
    for m in moves:
        by.setdefault(m.by[7:], []).append(m)
    for name, ms in sorted(by.items()):
        down = sum(m.downtime or 0 for m in ms if m.ok)
        ok = sum(1 for m in ms if m.ok)
        lines.append(f"  policy {name:<8}: {len(ms)} migrations ({ok} done), total downtime {down} cycles = "
                     f"{spec.cycles_to_seconds(down) * 1e6:.1f} us simulated")
        for m in ms:
            what = m.state if m.ok else f"{m.state}: {m.reason}"
            lines.append(f"    pid {m.pid}: cluster {m.src} -> {m.dst} at "
                         f"{spec.cycles_to_seconds(m.requested) * 1e3:.3f} ms ({what}): {m.why}")
    return lines


def _kernel_cache_lines(counts: tuple[int, ...]) -> list[str]:
    """The kernel core's caches while it served the process (kernel/kmem.py)."""
    if not counts:
        return []
    loads, stores, lm, sm, fetches, fm, stall = counts[:7]
    d, dm = loads + stores, lm + sm
    return [f"  kernel L1      : D {d} accesses ({100 * dm / max(1, d):.2f}% miss), I {fetches} line "
            f"fetches ({100 * fm / max(1, fetches):.2f}% miss); stalled {stall} cycles (modelled "
            "kernel structures, kernel/kmem.py)"]


def trace_note(chip: object) -> None:
    tr = getattr(chip, "tracer", None)
    dropped = None if tr is None else tr.dropped if tr.dropped_in_file is None else tr.dropped_in_file
    if dropped:
        n = sum(dropped.values())
        sys.stderr.write(f"shoal: trace: {n} events dropped (limit {tr.limit} events; "  # type: ignore[union-attr]
                         f"{', '.join(f'{k} {v}' for k, v in sorted(dropped.items()))}); "
                         "raise --trace-limit or use --trace-clusters/--trace-kinds\n")


GROUP_KILLS = 3  # processes of one program killed for the same reason shown one line each


def finish(chip: object, proc: object, stats: bool) -> int:
    from shoal.api import Chip, Process
    assert isinstance(chip, Chip) and isinstance(proc, Process)
    killed: dict[tuple[str, str], list[int]] = {}  # (program, why) -> pids, in order
    for c in chip.processes():
        if c.signal is not None:
            killed.setdefault((c.name, c.message), []).append(c.pid)
    for (name, why), pids in killed.items():
        if len(pids) <= GROUP_KILLS:
            for pid in pids:
                sys.stderr.write(f"shoal: {name} (pid {pid}) {why}\n")
        else:  # (a fork bomb's 500 children, one line each, would bury the rest)
            shown = ", ".join(str(p) for p in pids[:GROUP_KILLS])
            sys.stderr.write(f"shoal: {name} ({len(pids)} processes: pids {shown} and "
                             f"{len(pids) - GROUP_KILLS} more) {why}\n")
    folded = chip.folded_processes()["killed"]
    if folded:
        sys.stderr.write(f"shoal: {folded} more processes made by the program were killed (earlier ones, "
                         "whose records were not kept)\n")
    for m in chip.migrations:
        if m.state == "failed":
            sys.stderr.write(f"shoal: migration of pid {m.pid} from cluster {m.src} to {m.dst} failed: "
                             f"{m.reason}; it went on at cluster {m.src}\n")
    for note in chip.policy_notes:
        sys.stderr.write(f"shoal: {note}\n")
    if stats:
        sys.stderr.write(stats_text(chip, proc))
    return proc.returncode or 0

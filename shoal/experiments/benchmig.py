"""`shoal bench migration --out DIR`: the three experiments of `shoal demo`, with more
points, written as CSV files and PNG plots (matplotlib), with a progress bar (tqdm).

Files: downtime_threads.csv, downtime_pages.csv, contention.csv, tour.csv,
live_methods.csv, and a PNG plot for each but the tour (live_methods.png: the four methods
side by side). Every time in them is simulated (µs), except the columns named
host_wall_ms, which are host wall time. With the L1 cache model (the mppa256 presets),
live_methods.csv also says what the caches cost each move: stall_after_move (the moved
process's stall cycles in its first 100,000 cycles after the thaw) and extra_stall_cycles
(its stall over the whole run minus the unmoved run's)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from shoal.errors import ShoalError
from shoal.experiments import migration as ex
from shoal.spec import ChipSpec


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


Series = list[tuple[str, list[float], list[float], str]]


def _plot(path: Path, title: str, xlabel: str, series: Series) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, xs, ys, style in series:
        ax.plot(xs, ys, style, label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("downtime, µs (simulated)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_live(path: Path, spec: ChipSpec, rows: list[dict]) -> None:
    """Downtime, total time, bytes sent and slow-down of each method against the hot set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("downtime_us", "downtime, µs (simulated)", True),
              ("total_us", "total migration time, µs", True), ("bytes_sent", "bytes sent", False),
              ("slowdown_us", "slow-down of the process, µs", False)]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), dpi=110)
    for ax, (key, label, limit) in zip(axes.flat, panels, strict=True):
        for method in ex.METHODS:
            pts = [r for r in rows if r["method"] == method]
            ax.plot([r["hot_pages"] for r in pts], [r[key] for r in pts], "o-", label=method)
        hots = sorted({r["hot_pages"] for r in rows})
        if limit:
            ax.plot(hots, [rows[0]["noc_limit_us"]] * len(hots), "k--", label="NoC limit (1 MiB alone)")
        if key == "bytes_sent":
            page = spec.cluster.page_size
            ax.plot(hots, [rows[0]["pages"] * page] * len(hots), "k--", label="its pages, once")
        ax.set_xlabel(f"hot pages (of {rows[0]['pages']} in all, rewritten all along)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    kib = ex.live_pages(spec) * spec.cluster.page_size // 1024
    fig.suptitle(f"Live migration of a process with {kib} KiB "
                 f"of data ({spec.name})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def bench_migration(out: Path, chip_name: str = "mppa256", quick: bool = False) -> int:
    from tqdm import tqdm

    spec = ChipSpec.load(chip_name)
    ex.check_chip(spec, "shoal bench migration")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ShoalError(f"cannot create {out}: {e.strerror or e}") from None
    threads = [1, 4, 16] if quick else list(range(1, spec.cluster.cores_per_cluster + 1))
    max_pages = spec.user_frames - 64  # room for the stacks, tables and the allocator's own
    pages = [n for n in ([0, 64, 256] if quick else range(0, max_pages + 1, 32)) if n <= max_pages]
    half = spec.compute_clusters // 2
    ns = sorted({1, half}) if quick else list(range(1, half + 1))
    top = ex.live_pages(spec)
    hots = sorted({min(h, top) for h in ([0, 16, 256] if quick else [0, 8, 16, 32, 64, 128, 192, 256])})
    steps = 1 + len(threads) + len(pages) + len(ns) + len(hots)
    bar = tqdm(total=steps, desc="migration bench", unit="run", file=sys.stderr)
    chip, p, tour_ok_flag = ex.tour(64, 4, spec)
    tour_rows = [{"hop": i, "src": m.src, "dst": m.dst, "ok": m.ok,
                  "downtime_us": round((m.downtime or 0) * 1e6 / spec.cluster.freq_hz, 1), "bytes": m.bytes,
                  "pages": m.pages, "threads": m.threads, "host_wall_ms": round(m.wall_seconds * 1e3, 2)}
                 for i, m in enumerate(p.migrations)]
    bar.update()
    by_threads = []
    for t in threads:
        by_threads.append(ex.downtime_point(16, t, spec).as_row(spec))
        bar.update()
    by_pages = []
    for n in pages:
        by_pages.append(ex.downtime_point(n, 1, spec).as_row(spec))
        bar.update()
    cont = []
    for n in ns:
        pts = [x.as_row(spec) for x in ex.contention(n, 64, spec)]
        cont.append({"simultaneous": n, "mean_downtime_us": round(sum(r["downtime_us"] for r in pts) / n, 1),
                     "max_downtime_us": max(r["downtime_us"] for r in pts),
                     "noc_limit_us": pts[0]["noc_limit_us"], "seed_downtime_ms": 113.0})
        bar.update()
    live = []
    for hot in hots:
        live += [x.as_row(spec) for x in ex.live_points(hot, spec)]
        bar.update()
    bar.close()
    _write_csv(out / "live_methods.csv", live)
    _plot_live(out / "live_methods.png", spec, live)
    ok = all(r["ok"] for r in live)
    _write_csv(out / "tour.csv", tour_rows)
    _write_csv(out / "downtime_threads.csv", by_threads)
    _write_csv(out / "downtime_pages.csv", by_pages)
    _write_csv(out / "contention.csv", cont)
    _plot(out / "downtime_threads.png", f"Downtime vs threads ({spec.name}, 16 pages)", "threads",
          [("shoal", threads, [r["downtime_us"] for r in by_threads], "o-"),
           ("NoC limit for the same bytes", threads, [r["noc_limit_us"] for r in by_threads], "--")])
    _plot(out / "downtime_pages.png", f"Downtime vs pages in use ({spec.name}, 1 thread)", "pages",
          [("shoal", pages, [r["downtime_us"] for r in by_pages], "o-"),
           ("NoC limit for the same bytes", pages, [r["noc_limit_us"] for r in by_pages], "--")])
    _plot(out / "contention.png", f"Simultaneous migrations, clusters 0..n-1 to {half}..{half}+n-1",
          "simultaneous migrations",
          [("mean", ns, [r["mean_downtime_us"] for r in cont], "o-"),
           ("max", ns, [r["max_downtime_us"] for r in cont], "s--")])
    tour_ok = tour_ok_flag
    print(f"tour: {'data intact' if tour_ok else 'DATA WRONG'} after {len(tour_rows)} hops; live methods: "
          f"{'data intact' if ok else 'DATA WRONG'} in {len(live)} moves")
    ok &= tour_ok
    print(f"wrote {', '.join(sorted(f.name for f in out.iterdir() if f.suffix in ('.csv', '.png')))} "
          f"to {out}")
    return 0 if ok else 1

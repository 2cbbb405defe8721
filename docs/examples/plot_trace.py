"""Plot a shoal trace: busy cores per cluster over simulated time, migrations shaded.

    python docs/examples/plot_trace.py trace.json figure.png

Reads the Trace Event file that `shoal run --trace` writes (timestamps are simulated
microseconds) and uses only its thread slices (cat "slice") and migration slices."""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

BUCKET_US = 50.0


def busy_cores(events: list[dict]) -> dict[int, dict[int, float]]:
    """cluster -> bucket -> cores busy on average in that bucket."""
    busy: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for e in events:
        if e.get("cat") != "slice":
            continue
        t, end = e["ts"], e["ts"] + e["dur"]
        while t < end:
            b = int(t // BUCKET_US)
            step = min(end, (b + 1) * BUCKET_US) - t
            busy[e["pid"]][b] += step / BUCKET_US
            t += step
    return busy


def main(src: str, dst: str) -> None:
    with open(src) as f:
        events = json.load(f)["traceEvents"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    for cluster, buckets in sorted(busy_cores(events).items()):
        xs = list(range(min(buckets), max(buckets) + 2))  # idle buckets count as 0
        ax.step([b * BUCKET_US / 1000 for b in xs], [buckets.get(b, 0.0) for b in xs], where="post",
                label=f"cluster {cluster}")
    for e in events:
        if e.get("cat") == "migration" and e["name"].startswith("migrate"):
            ax.axvspan(e["ts"] / 1000, (e["ts"] + e["dur"]) / 1000, color="red", alpha=0.2)
            ax.annotate(f"downtime {e['dur']:.1f} us", (e["ts"] / 1000, 0), fontsize=8)
    ax.set_xlabel("simulated time, ms")
    ax.set_ylabel(f"busy cores (mean over {BUCKET_US:g} us)")
    ax.set_title("cores at work per cluster; migrations shaded")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst)
    print(f"wrote {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_trace.py TRACE.json FIGURE.png")
    main(sys.argv[1], sys.argv[2])

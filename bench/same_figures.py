"""Before/after a change that must not move any simulated figure: run each case under two
source trees (their `shoal` on PYTHONPATH) and compare exit codes, stdout, stderr (host-time
figures taken out) and trace files byte for byte.

    python bench/same_figures.py OLD_TREE NEW_TREE [CASE-SUBSTRING ...]

OLD_TREE, for example, from `git archive REV | tar -x -C /tmp/old`. `--ranks` cases need the
[mpi] extra. Exit 0 when every case is the same.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T = str(ROOT / "tests" / "programs")
E = str(ROOT / "shoal" / "experiments" / "programs")
B = str(ROOT / "bench" / "programs")
WORK = tempfile.mkdtemp(prefix="same-figures-")
STREAM = f"""
import dataclasses
from pathlib import Path
from shoal import Chip
from shoal.spec import ChipSpec
from shoal.toolchain import compile_cached
elf = compile_cached([Path({B!r}) / "ikc.c"])
SPEC = ChipSpec.load("mppa256")
for caches in (True, False):
    chip = Chip(dataclasses.replace(SPEC, caches=caches))
    s = chip.spawn(str(elf), ["ikc", "stream_server", "300"], cluster=1)
    c = chip.spawn(str(elf), ["ikc", "stream_client", "300"], cluster=0)
    chip.run()
    print(s.stdout, c.stdout, chip.time, chip.instructions, chip.rounds, chip.noc_stats())
    print(s.record, c.record)
    for pair in (["rtt_server", "rtt_client"], ["oneway_server", "oneway_client"]):
        chip = Chip(dataclasses.replace(SPEC, caches=caches))
        s = chip.spawn(str(elf), ["ikc", pair[0], "4"], cluster=5)
        c = chip.spawn(str(elf), ["ikc", pair[1], "4"], cluster=0)
        chip.run()
        print(s.stdout, c.stdout, chip.time, chip.rounds, s.record, c.record)
"""
RING, PIPE = f"{T}/mig_ring.c", f"{T}/ikc_pipeline.c"
CASES = {name: line.format(T=T, E=E, RING=RING, PIPE=PIPE).split() for name, line in {
    "pipeline": "run --stats --file {PIPE} {PIPE} 4 2048",
    "pipeline_nocache": "run --stats --no-caches --file {PIPE} {PIPE} 5 1024",
    "ring_stop": "run --stats --file {RING} --migrate 0.6ms:8 --migrate 1.2ms:0 {RING} ring R 6 20",
    "ring_pre": "run --stats --file {RING} --migrate 0.6ms:5:precopy {RING} ring R 4 20",
    "ring_post": "run --stats --file {RING} --migrate 0.6ms:5:postcopy {RING} ring R 4 20",
    "ring_hybrid": "run --stats --file {RING} --migrate 0.6ms:5:hybrid {RING} ring R 4 20",
    "stream_post": "run --stats --file {RING} --migrate 0.3ms:3:postcopy {RING} stream S 60",
    "threads": "run --stats {T}/threads.c 8",
    "mig_threads": "run --stats {T}/mig_threads.c 16",
    "rmem_tiny": "run --stats --chip tiny {T}/rmem_churn.c 4 3",
    "rmem_big": "run --stats {T}/bigdata.c 3 2",
    "rmem_threads": "run --stats {T}/rmem_threads.c 16 128 4",
    "rmem_move": "run --stats --migrate 2ms:1:postcopy {T}/bigdata.c 3 1",
    "rmem_unmap": "run --stats {T}/rmem_unmap_race.c 4 500",
    "fork_pipe": "run --stats {T}/fork.c pipe",
    "fork_chain": "run --stats {T}/fork.c chain",
    "signals_basic": "run --stats {T}/signals.c basic",
    "signals_eintr": "run --stats {T}/signals.c eintr",
    "signals_mig": "run --stats --file {T}/signals.c {T}/signals.c pair",
    "sockets_inet": "run --stats {T}/sockets.c inet",
    "sockets_unix_far": "run --stats {T}/sockets.c unix far",
    "mpirun4": "mpirun -n 4 --stats {T}/mpi_pingpong.c",
    "mpirun_coll": "mpirun -n 6 --chip tiny --stats {T}/mpi_coll.c",
    "mpirun_mig": "mpirun -n 3 --chip tiny --stats --migrate 1@200us:3 {T}/mpi_ring.c 4",
    "policy_tiny": "run --chip tiny --stats --evacuate 1ms:0 {E}/pol_work.c 4 300000 3",
    "demo": "demo",
    "ring_ranks2": "run --ranks 2 --stats --file {RING} --migrate 0.6ms:8 {RING} ring R 6 10",
    "mpirun_ranks2": "mpirun -n 4 --chip tiny --ranks 2 --stats {T}/mpi_pingpong.c",
}.items()}
CASES["ikc_stream"] = ["PY", STREAM]  # (the bench's stream and latency pairs, in process)
TRACED = {"pipeline", "ring_stop", "ring_post", "threads", "mpirun4", "sockets_inet", "demo",
          "rmem_big", "rmem_threads", "rmem_move"}
HOST = [re.compile(p) for p in (
    r".*host wall time.*\n", r"; host [0-9.]+ ms", r".*wall.*\n", r".*MIPS on the host.*\n",
    r".*shoal.s modules:.*\n",
    r".*host [0-9.]+ (ms|s|us)\b.*\n", r"\| host: .*", r"traces \(simulated time.*\n",
    r"\(booted in [0-9.]+ s host time\)")]


def clean(b: bytes) -> str:
    """Output without its host-time figures (and the demo's trace paths)."""
    s = b.decode(errors="replace")
    for p in HOST:
        s = p.sub("", s)
    return s


def run(tree: str, name: str, args: list[str]) -> tuple[int, str, str, str | None]:
    tr = f"{WORK}/tr-{os.path.basename(tree.rstrip('/'))}-{name}.json"
    if name in TRACED:
        args = [args[0], "--trace", tr, *args[1:]]
    env = dict(os.environ, PYTHONPATH=tree)
    cmd = [sys.executable, "-c", args[1]] if args[0] == "PY" else [sys.executable, "-m", "shoal", *args]
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=600, cwd=WORK, check=False)
    th = None
    if name in TRACED and os.path.exists(tr):
        th = hashlib.sha256(Path(tr).read_bytes()).hexdigest()
    return r.returncode, clean(r.stdout), clean(r.stderr), th


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    old, new, *only = sys.argv[1:]
    # (absolute: the runs' working directory is a scratch one, where a relative tree would
    # find no `shoal` and the installed one would be compared instead)
    old, new = os.path.abspath(old), os.path.abspath(new)
    names = [n for n in CASES if not only or any(o in n for o in only)]
    bad = 0
    for n in names:
        a, b = run(old, n, CASES[n]), run(new, n, CASES[n])
        bad += a != b
        print(f"{'SAME' if a == b else 'DIFF'} {n}: rc {a[0]}/{b[0]}, stdout {len(a[1])} chars, "
              f"stderr {len(a[2])} chars, trace {'-' if a[3] is None else a[3][:10]}", flush=True)
        for x, y in zip(a, b, strict=True):
            if x != y:
                diff = difflib.unified_diff(str(x).splitlines(True), str(y).splitlines(True))
                print("".join(list(diff)[:40]))
    print("ALL SAME" if not bad else f"{bad} DIFFER")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

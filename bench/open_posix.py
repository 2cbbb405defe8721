"""The Open POSIX Test Suite (LTP's conformance/interfaces) under shoal, against qemu-user.

    python bench/open_posix.py LTP_DIR [--only DIR,...] [--jobs N] [--timeout S] [--out bench/results]

LTP_DIR is a checkout of https://github.com/linux-test-project/ltp (or its
testcases/open_posix_testsuite directory); the suite is kept outside the project. Each test
(conformance/interfaces/*/N-M.c) is built once with `shoal cc -O2` (with the suite's
lib/common.c, -lpthread -lrt -lm) and the same binary is run under `shoal run` and under
`qemu-riscv32` (the peer: the same musl, the host's Linux), each with a host-time limit. The suite's
own exit codes are its verdicts (0 PASS, 1 FAIL, 2 UNRESOLVED, 4 UNSUPPORTED, 5 UNTESTED).
Tests run as root under both when this script runs as root (qemu-user takes the host's
user), else as the default user. Writes OUT/open_posix.json: every test's verdicts and the
tail of its output, and the counts; the figure that matters is `shoal_only_fail`, tests the
peer passes and shoal does not. Debian 12's qemu 7.2 lacks futex_time64, so threaded tests
that wait hang there (TIMEOUT): those are compared by reading, not counted as the peer's pass.
Host wall time only (no simulated figure is recorded here).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from run import log, machine_info, shoal_revision

HERE = Path(__file__).resolve().parent
VERDICT = {0: "PASS", 1: "FAIL", 2: "UNRESOLVED", 3: "UNRESOLVED", 4: "UNSUPPORTED", 5: "UNTESTED"}


def suite_root(p: Path) -> Path:
    for cand in (p, p / "testcases" / "open_posix_testsuite"):
        if (cand / "conformance" / "interfaces").is_dir() and (cand / "include" / "posixtest.h").is_file():
            return cand
    raise SystemExit(f"open_posix: {p}: not an LTP checkout (no conformance/interfaces, include/posixtest.h)")


def verdict(code: int | str) -> str:
    if isinstance(code, str):
        return code
    return f"signal {-code}" if code < 0 else VERDICT.get(code, f"status {code}")


def run(cmd: list[str], timeout: float, cwd: Path) -> tuple[int | str, str]:
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL,
                           start_new_session=True)
    except subprocess.TimeoutExpired as e:
        return "TIMEOUT", ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace")[-400:]
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")[-400:]


def one(root: Path, src: Path, work: Path, qemu: str | None, timeout: float, root_user: bool) -> dict:
    rel = src.relative_to(root / "conformance" / "interfaces").as_posix()
    exe = work / (rel[:-2].replace("/", "__") + ".rv")
    r: dict = {"test": rel}
    b = subprocess.run([sys.executable, "-m", "shoal", "cc", "-O2", "-I", str(root / "include"),
                        "-o", str(exe), str(src), str(root / "lib" / "common.c"), "-lpthread", "-lrt", "-lm"],
                       capture_output=True)
    if b.returncode != 0:
        r["shoal"] = r["qemu"] = "BUILD"
        r["build_error"] = b.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return r
    user = ["--user", "root"] if root_user else []
    code, out = run([sys.executable, "-m", "shoal", "run", *user, str(exe)], timeout, work)
    r["shoal"], r["shoal_out"] = verdict(code), out
    if qemu:
        code, out = run([qemu, str(exe)], timeout, work)
        r["qemu"], r["qemu_out"] = verdict(code), out
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ltp", type=Path)
    ap.add_argument("--only", default="", help="comma-separated interface directories (default: all)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=60.0, help="host seconds per run")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args()
    root = suite_root(a.ltp.resolve())
    qemu = shutil.which("qemu-riscv32")
    if qemu is None:
        log("open_posix: qemu-riscv32 not found (apt-get install qemu-user): no peer")
    only = {d for d in a.only.split(",") if d}
    srcs = sorted(s for s in (root / "conformance" / "interfaces").glob("*/*.c")
                  if s.name[0].isdigit() and (not only or s.parent.name in only))
    if not srcs:
        raise SystemExit("open_posix: no test matched")
    out = Path(a.out)
    work = out / "open_posix"
    work.mkdir(parents=True, exist_ok=True)
    root_user = os.geteuid() == 0
    log(f"open_posix: {len(srcs)} tests, {a.jobs} at a time")
    results = []
    with ThreadPoolExecutor(a.jobs) as ex:
        for r in ex.map(lambda s: one(root, s, work, qemu, a.timeout, root_user), srcs):
            results.append(r)
    shoal_only = sorted(r["test"] for r in results if r.get("qemu") == "PASS" and r["shoal"] != "PASS")
    qemu_only = sorted(r["test"] for r in results
                       if r["shoal"] == "PASS" and r.get("qemu") not in (None, "PASS"))
    doc = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "machine": machine_info(), "shoal_revision": shoal_revision(), "suite": str(root),
           "as_root": root_user, "timeout_s": a.timeout,
           "counts": {"tests": len(results), "shoal": dict(Counter(r["shoal"] for r in results)),
                      "qemu": dict(Counter(r.get("qemu", "-") for r in results))},
           "shoal_only_fail": shoal_only, "shoal_only_pass": qemu_only, "tests": results}
    (out / "open_posix.json").write_text(json.dumps(doc, indent=1) + "\n")
    log(f"shoal: {doc['counts']['shoal']}")
    log(f"qemu-user: {doc['counts']['qemu']}")
    log(f"passed under qemu-user, not under shoal: {len(shoal_only)}: {' '.join(shoal_only)}")
    log(f"passed under shoal, not under qemu-user: {len(qemu_only)}")
    log(f"wrote {out / 'open_posix.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

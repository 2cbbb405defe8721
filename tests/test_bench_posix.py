"""bench/posix.py (issue 22's benchmark): its guest against the host build, and a quick run of
the whole benchmark, whose checks must hold (outputs right, simulated figures the same in every
fresh run, children placed on the parent's cluster or on another as each mode intends)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shoal import Chip
from shoal.toolchain import compile_cached

ROOT = Path(__file__).resolve().parent.parent
POSIX_C = ROOT / "bench" / "programs" / "posix.c"


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("the host C compiler gcc is needed to compute expected outputs")
    out = tmp_path_factory.mktemp("posixbench") / "posix"
    subprocess.run([gcc, "-O2", "-w", str(POSIX_C), "-o", str(out)], check=True)
    return out


def words(out: bytes) -> list[str]:
    """The line without its last word, the loop's nanoseconds (host or simulated time)."""
    return out.decode(errors="replace").split()[:-1]


@pytest.mark.parametrize("argv,where", [
    (["fork", "6"], {0}), (["pipe", "40"], {0}),
    (["fork", "4", "128"], {1}), (["pipe", "30", "128"], {1}),  # a filler, then placed elsewhere
])
def test_the_guest_gives_the_host_builds_answers(native: Path, argv: list[str], where: set[int]) -> None:
    res = subprocess.run([str(native), *argv], capture_output=True, timeout=60)
    c = Chip.preset("mppa256")
    p = c.spawn(compile_cached([POSIX_C]), ["posix", *argv], cluster=0)
    c.run()
    assert res.returncode == 0 and words(res.stdout) == [argv[0], argv[1], "ok"]
    assert (p.returncode, words(p.stdout)) == (0, words(res.stdout)), p.message
    kids = sorted(r.pid for r in c.processes() if r.pid != p.pid)
    if len(argv) == 3:
        kids = kids[1:]  # the filler, beside its parent
    assert {r.cluster for r in c.processes() if r.pid in kids} == where


@pytest.mark.parametrize("argv", [["nope", "1"], ["fork"], ["fork", "1", "2", "3"]])
def test_bad_usage_is_refused_as_by_the_host_build(native: Path, argv: list[str]) -> None:
    res = subprocess.run([str(native), *argv], capture_output=True, timeout=60)
    c = Chip.preset("tiny")
    p = c.spawn(compile_cached([POSIX_C]), ["posix", *argv], cluster=0)
    c.run()
    assert res.returncode == 2 and b"usage" in res.stderr
    assert (p.returncode, p.stderr) == (res.returncode, res.stderr)


def test_the_quick_benchmark_runs_and_its_checks_hold(tmp_path: Path) -> None:
    script = ROOT / "bench" / "posix.py"
    res = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)],
                         capture_output=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    d = json.loads((tmp_path / "posix.json").read_text())
    sh = d["figures"]["shoal"]
    for kind in ("fork", "pipe"):
        t, a = sh[f"{kind}_together"], sh[f"{kind}_apart"]
        for f in (t, a):
            assert f["check"]["all_ok"] and f["check"]["sim_deterministic_across_runs"]
            assert f["check"]["placement_as_intended"]
        assert t["check"]["child_clusters"] == [0] and 0 not in a["check"]["child_clusters"]
        # Two clusters cost NoC transfers and simulated time one cluster does not.
        assert a["median"]["sim_us_per_op"] > t["median"]["sim_us_per_op"] > 0
        assert a["median"]["noc_transfers_per_op"] > t["median"]["noc_transfers_per_op"]
    assert sh["pipe_together"]["median"]["noc_transfers_per_op"] == 0

"""shoal's hot modules compiled with Cython (shoal/_compiled.py): where they can be built they
are, a program gives the same outputs, simulated figures and traces compiled or not, and a
build that cannot be done leaves the source in use and says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS

from shoal import _compiled
from shoal.toolchain import compile_cached

HAVE_HEADERS = os.path.exists(os.path.join(sysconfig.get_path("include"), "Python.h"))


def _shoal(args: list[str], compiled: bool, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, SHOAL_COMPILED="1" if compiled else "0")
    return subprocess.run([sys.executable, "-m", "shoal", *args], capture_output=True, env=env,
                          cwd=cwd, timeout=600)


def test_every_listed_module_runs_compiled_where_it_can_be_built() -> None:
    if not HAVE_HEADERS:
        pytest.skip(f"no Python headers in {sysconfig.get_path('include')}: shoal runs from source")
    code = ("import sys, shoal, shoal._compiled as c\n"
            "import shoal.api, shoal.daemons.rmem, shoal.kernel.rmem, shoal.kernel.calls.ikc\n"
            "print(c.state())\n"
            "print(*[m for m in c.MODULES if not sys.modules[m].__file__.endswith('.so')])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=600,
                       env=dict(os.environ, SHOAL_COMPILED="1"))
    assert r.returncode == 0, r.stderr.decode()
    state, not_compiled = r.stdout.decode().split("\n")[:2]
    assert state == "compiled" and not_compiled == ""
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                         env=dict(os.environ, SHOAL_COMPILED="0"))
    assert off.stdout.decode().split("\n")[0] == "interpreted (SHOAL_COMPILED=0)"


@pytest.mark.parametrize("case", ["paging", "ikc", "postcopy"])
def test_compiled_and_interpreted_runs_are_the_same(case: str, tmp_path: Path) -> None:
    """Outputs, every simulated figure of --stats and the trace, byte for byte: a remote-paging
    run, an IKC exchange across clusters, a live migration."""
    if case == "paging":
        elf = compile_cached([PROGRAMS / "bigdata.c"], SHOAL_FLAGS)
        args = ["run", "--chip", "mppa256", str(elf), "3", "1"]
    elif case == "ikc":
        elf = compile_cached([PROGRAMS / "mpi_ring.c"], SHOAL_FLAGS)
        args = ["mpirun", "-n", "4", "--chip", "mppa256", str(elf)]
    else:
        elf = compile_cached([PROGRAMS / "mig_threads.c"], SHOAL_FLAGS)
        args = ["run", "--migrate", "1ms:5:postcopy", str(elf)]
    runs = []
    for compiled in (True, False):
        trace = tmp_path / f"trace-{compiled}.json"
        r = _shoal([args[0], "--stats", "--trace", str(trace), *args[1:]], compiled, tmp_path)
        assert r.returncode == 0, r.stderr.decode()[-2000:]
        # host figures (wall time, host ms of a migration) are the host's: everything else is
        # simulated and must match
        stats = [ln.split("; host")[0] for ln in r.stderr.decode().splitlines()
                 if "wall" not in ln and "host time" not in ln and "shoal's modules" not in ln]
        assert any(ln.strip().startswith("simulated time") for ln in stats), stats
        runs.append((r.stdout, stats, json.loads(trace.read_text())))
    assert runs[0][0] == runs[1][0] and runs[0][0]
    assert runs[0][1] == runs[1][1]
    assert runs[0][2] == runs[1][2] and len(runs[0][2]["traceEvents"]) > 10


def test_an_edited_module_is_built_again_not_served_stale(programs, tmp_path: Path) -> None:  # noqa: ANN001
    if not HAVE_HEADERS:
        pytest.skip("no Python headers: modules run from source")
    import shutil
    pkg = tmp_path / "src"
    shutil.copytree(Path(_compiled.__file__).parent, pkg / "shoal",
                    ignore=shutil.ignore_patterns("__pycache__"))
    l1 = pkg / "shoal" / "platform" / "l1.py"
    l1.write_text(l1.read_text() + "\nimport sys as _s\n_s.stderr.write(f'edited {__file__[-3:]}\\n')\n")
    r = subprocess.run([sys.executable, "-m", "shoal", "run", str(programs["args"].elf), "x"],
                       capture_output=True, text=True, cwd=pkg, timeout=600,
                       env=dict(os.environ, PYTHONPATH=str(pkg), SHOAL_COMPILED="1"))
    assert r.returncode == 0 and "edited .so" in r.stderr, r.stderr


def test_a_build_that_fails_leaves_the_source_and_says_why(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiler that fails: the reason in one line, remembered (not tried again at every
    start) until its FAILED file is deleted; nothing half-built is left to be served."""
    if not HAVE_HEADERS:
        pytest.skip("no Python headers: the build is not tried at all")
    monkeypatch.setattr(_compiled, "CFLAGS", (*_compiled.CFLAGS, "-fno-such-flag-at-all"))
    so = str(tmp_path / "shoal.platform.l1.0000000000000000.so")
    (tmp_path / "shoal.platform.l1.0000000000000000.so.99999.c").write_text("an interrupted build's")
    why = _compiled._build_locked(str(tmp_path), {"shoal.platform.l1": so})
    assert why.startswith("building shoal.platform.l1 failed:") and "\n" not in why
    assert not os.path.exists(so)
    assert sorted(p.name.split(".")[0] for p in tmp_path.iterdir()) == ["FAILED", "build"]
    again = _compiled._build_locked(str(tmp_path), {"shoal.platform.l1": so})
    assert again.startswith(why) and "delete" in again and "to retry" in again


def test_a_start_that_finds_another_building_goes_on_from_source(tmp_path: Path) -> None:
    import fcntl
    so = str(tmp_path / "shoal.platform.l1.0000000000000000.so")
    with open(tmp_path / "build.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert _compiled._build_locked(str(tmp_path), {"shoal.platform.l1": so}) == \
            "another start is building them"
    assert not os.path.exists(so)


def test_what_shoal_builds_for_the_host_runs_on_any_cpu_of_its_architecture() -> None:
    """zig's cc builds for the building machine's CPU unless told (AVX-512 here): a cache
    shared by hosts (a home directory on a cluster's nodes) would die on an illegal
    instruction elsewhere. The compiled modules and the native helpers use the baseline."""
    import shutil
    if os.uname().machine != "x86_64" or shutil.which("objdump") is None:
        pytest.skip("checked on x86_64 hosts with objdump")
    from shoal.platform import native
    libs = [native._load_native()._name] if native._load_native() is not None else []  # type: ignore[union-attr]
    if HAVE_HEADERS:
        libs += [sys.modules[m].__file__ for m in ("shoal.kernel.sched", "shoal.platform.noc")]
        assert all(str(p).endswith(".so") for p in libs)
    assert libs
    for lib in libs:
        asm = subprocess.run(["objdump", "-d", str(lib)], capture_output=True, text=True).stdout
        wide = [ln for ln in asm.splitlines() if "%ymm" in ln or "%zmm" in ln]
        assert not wide, f"{lib}: {wide[:3]}"

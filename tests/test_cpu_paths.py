"""The two ways guest code runs (platform/cpu.py): shoal's patched Unicorn with the inline
instruction budget, and stock Unicorn with a block hook (SHOAL_CPU=stock). Counts are exact
on both, against a loop of known length, and every simulated result is the same on both."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS
from unicorn import UC_PROT_EXEC, UC_PROT_READ

from shoal.platform import cpu, unicorn_build
from shoal.toolchain import compile_cached

SIM_LINES = ("simulated time", "instructions", "threads", "syscalls", "peak memory")


def _run(env_cpu: str, *args: str,
         cache: Path | None = None) -> tuple[subprocess.CompletedProcess[bytes], dict]:
    env = dict(os.environ)
    env.pop("SHOAL_CPU", None)
    if env_cpu:
        env["SHOAL_CPU"] = env_cpu
    if cache is not None:
        env["SHOAL_CACHE"] = str(cache)
        env["SHOAL_COMPILED"] = "0"  # (a fresh cache would compile shoal's hot modules first)
    # (--no-caches: the L1 model exists on the patched path only; this compares the two counts)
    res = subprocess.run([sys.executable, "-m", "shoal", "run", "--stats", "--no-caches", *args],
                         capture_output=True, env=env, timeout=300)
    stats = {}
    for line in res.stderr.decode().splitlines():
        m = re.match(r"\s+(\w[\w ]*?)\s*: (.*)", line)
        if m:
            key = m.group(1)
            if key in ("migration", "method"):
                # host milliseconds are host time; everything before them is simulated
                stats.setdefault(key, []).append(m.group(2).split("; host")[0])
            else:
                stats[key] = m.group(2)
    return res, stats


def _instructions(stats: dict) -> int:
    return int(stats["instructions"].split()[0])


def test_this_host_runs_the_patched_unicorn() -> None:
    # The build must work where the tests run (CI builds it on first use).
    if os.environ.get("SHOAL_CPU") == "stock":
        pytest.skip("SHOAL_CPU=stock: this run checks the fallback")
    path, why = unicorn_build.library()
    assert path is not None, why
    assert cpu.engine() == "patched unicorn (inline budget)"


@pytest.mark.parametrize("path", ["", "stock"])
def test_counts_match_a_loop_of_known_length(programs, path: str) -> None:
    b = programs["countloop"]
    small, sm = _run(path, "--chip", "tiny", str(b.elf), "1000000")
    big, bg = _run(path, "--chip", "tiny", str(b.elf), "3000000")
    assert small.returncode == big.returncode == 0, small.stderr
    assert small.stdout == big.stdout == b"done\n"
    assert _instructions(bg) - _instructions(sm) == 2 * 2_000_000
    want = "patched unicorn (inline budget)" if not path else "stock unicorn + block hook (SHOAL_CPU=stock)"
    assert sm["cpu"] == want


@pytest.mark.parametrize("opts, prog, args", [
    (["--chip", "tiny"], "countloop", ["123457"]),
    (["--chip", "tiny"], "countloop", ["1000", "fault"]),  # killed mid-block: the rest given back
    (["--chip", "tiny"], "threads", ["6"]),
    ([], "threads", []),
    (["--migrate", "1ms:5", "--migrate", "3ms:9"], "mig_threads", []),
    (["--migrate", "1ms:5:precopy"], "mig_threads", []),
    (["--migrate", "1ms:5:postcopy"], "mig_threads", []),  # restartable faults (pages on the way)
    (["--chip", "tiny"], "faults", ["ill"]),
    (["--chip", "tiny"], "fcvt", []),   # the patch's own int -> double conversions
    (["--chip", "tiny"], "fpflags", []),  # its host FPU with the host's inexact flag
    ([], "bigdata", ["3", "1"]),  # remote memory: a fill that finds the page away ends the slice
])
def test_both_paths_give_the_same_results(opts: list[str], prog: str, args: list[str]) -> None:
    argv = [*opts, str(compile_cached([PROGRAMS / f"{prog}.c"], SHOAL_FLAGS)), *args]
    patched, ps = _run("", *argv)
    stock, ss = _run("stock", *argv)
    assert patched.stdout == stock.stdout
    assert patched.returncode == stock.returncode
    assert [ln for ln in patched.stderr.decode().splitlines() if ln.startswith("shoal:")] == \
        [ln for ln in stock.stderr.decode().splitlines() if ln.startswith("shoal:")]
    for key in (*SIM_LINES, "migration", "method"):
        assert ps.get(key) == ss.get(key), key
    assert _instructions(ps) > 0
    if "fault" in args:
        assert patched.returncode == 139


def test_a_failed_build_falls_back_with_a_clear_line(programs, tmp_path: Path) -> None:
    # A source archive that is not the pinned release: the build refuses it, and shoal runs
    # on stock Unicorn and says why, with no traceback.
    (tmp_path / "unicorn").mkdir()
    (tmp_path / "unicorn" / unicorn_build.SDIST).write_bytes(b"not the release")
    res, stats = _run("", "--chip", "tiny", str(programs["countloop"].elf), "1000", cache=tmp_path)
    assert res.returncode == 0 and res.stdout == b"done\n"
    assert b"Traceback" not in res.stderr
    assert stats["cpu"].startswith("stock unicorn + block hook (")
    assert "pinned SHA-256" in stats["cpu"]
    # The next process does not try again (a machine without network would wait each time).
    res, stats = _run("", "--chip", "tiny", str(programs["countloop"].elf), "1000", cache=tmp_path)
    assert res.returncode == 0 and "pinned SHA-256" in stats["cpu"] and "to retry" in stats["cpu"]


def test_the_patch_applies_exactly_or_not_at_all(tmp_path: Path) -> None:
    (tmp_path / "f.c").write_text("a\nb\nc\n")
    diff = ("diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n")
    unicorn_build.apply_patch(diff, tmp_path)
    assert (tmp_path / "f.c").read_text() == "a\nB\nc\n"
    with pytest.raises(unicorn_build.BuildError, match="does not apply to f.c"):
        unicorn_build.apply_patch(diff, tmp_path)  # its context is gone now


def test_the_kernels_fill_maps_pages_and_its_errors_reach_the_caller() -> None:
    # The kernel's TLB fill is hooked straight (no binding wrapper): what it returns is the
    # entry Unicorn uses, None is a fault, and an exception it raises stops the emulation and
    # is raised by run (before the emulator's status for the access it failed). (On this
    # process's path; the other path's fills are compared by the cases above, bigdata's remote
    # faults among them.)
    c = cpu.ClusterCPU(1 << 20)
    code = 0x10000
    # li a0, 42 ; lw a1, 0(a0) (a load from an unmapped page): addi x10, x0, 42 ; lw x11, 0(x10)
    c.mem[0:8] = (0x02A00513).to_bytes(4, "little") + (0x00052583).to_bytes(4, "little")
    asked: list[tuple[int, int]] = []

    def fill(va: int, access: int) -> tuple[int, int] | None:
        asked.append((va, access))
        if va >> 12 == code >> 12:
            return (cpu.PHYS_BASE, UC_PROT_READ | UC_PROT_EXEC)
        return None
    c.on_fill = fill
    ctx = c.new_context()
    c.regs.ctx_set(ctx, cpu.REG_PC, code)
    root = 1 << 19  # an empty page table: the native walk leaves every page to the kernel's fill
    n, _, err = c.run(ctx, 100, root)
    assert err is not None  # the load's page was refused: a fault, the slice ends there
    assert [va >> 12 for va, _ in asked if va >> 12 != cpu.STOP_ADDR >> 12] == [code >> 12, 0]
    assert c.regs.ctx_get(ctx, cpu.REG_X[10]) == 42  # the first instruction ran from the mapped page

    def broken(va: int, access: int) -> tuple[int, int] | None:
        raise RuntimeError("the kernel's fill failed")
    c.on_fill = broken
    c.flush_tlb()
    ctx = c.new_context()
    c.regs.ctx_set(ctx, cpu.REG_PC, code)
    # Raised to the caller, not a fault of the guest's (a host's MemoryError in the kernel's
    # fill killed the guest for an "unhandled CPU exception": tests/test_host_limits.py).
    with pytest.raises(RuntimeError, match="the kernel's fill failed"):
        c.run(ctx, 100, root)



def test_the_sdist_unpacks_without_tarfiles_filter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python before 3.11.4 (Debian 12's python3 is 3.11.2) has no `filter` for extractall:
    the build failed there with a TypeError. Without it, plain files and directories under
    the root unpack; a link or a name leading out is refused (BuildError: shoal falls back)."""
    import io
    import tarfile

    def tar(entries: list[tuple[str, bytes | None, str | None]]) -> Path:
        path = tmp_path / f"t{len(list(tmp_path.glob('t*.tar')))}.tar"
        with tarfile.open(path, "w") as t:
            for name, data, link in entries:
                info = tarfile.TarInfo(name)
                if link is not None:
                    info.type, info.linkname = tarfile.SYMTYPE, link
                    t.addfile(info)
                elif data is None:
                    info.type = tarfile.DIRTYPE
                    t.addfile(info)
                else:
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
        return path

    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good = tar([("u", None, None), ("u/a.c", b"int a;", None)])
    out = tmp_path / "out"
    out.mkdir()
    with tarfile.open(good) as t:
        unicorn_build._extract(t, out)
    assert (out / "u" / "a.c").read_bytes() == b"int a;"
    for bad in ([("../evil", b"x", None)], [("u/l", None, "/etc/passwd")]):
        with tarfile.open(tar(bad)) as t, pytest.raises(unicorn_build.BuildError, match="not a plain file"):
            unicorn_build._extract(t, tmp_path / "out2")
    assert not (tmp_path / "evil").exists()

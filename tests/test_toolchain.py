"""`shoal cc` gives flags gcc's meaning: programs built with it check and compute on the chip
what the same source built by gcc computes (zig cc alone ties -O levels to zig's build modes:
NDEBUG in release, UBSan in Debug, clang's FP contraction)."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import PROGRAMS, shoal_cli

from shoal import Chip, toolchain
from shoal.toolchain import compile_cached


def shoal_cc(tmp_path: Path, name: str, flags: list[str]) -> Path:
    """`shoal cc FLAGS tests/programs/NAME.c -o OUT`, as a user types it."""
    out = tmp_path / f"{name}.elf"
    res = shoal_cli("cc", *flags, str(PROGRAMS / f"{name}.c"), "-o", str(out))
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return out


def gcc(tmp_path: Path, name: str, flags: list[str]) -> subprocess.CompletedProcess[bytes]:
    """The same source with the host's gcc and the same flags, run with argv [NAME]; with no
    -O, at -O2 as `shoal cc` (README: its default, for musl's size)."""
    if not any(f.startswith("-O") for f in flags):
        flags = ["-O2", *flags]
    host = shutil.which("gcc")
    if host is None:
        pytest.fail("the host C compiler gcc is needed to compute expected outputs")
    exe = tmp_path / f"{name}.native"
    built = subprocess.run([host, *flags, "-w", str(PROGRAMS / f"{name}.c"), "-o", str(exe)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return subprocess.run([name], executable=str(exe), capture_output=True, timeout=60)


def chip_run(elf: Path, name: str, chip: str = "tiny") -> tuple[bytes, bytes, int]:
    c = Chip.preset(chip)
    p = c.spawn(elf, [name])
    c.run()
    assert p.done and p.returncode is not None
    return p.stdout, p.stderr, p.returncode


def shell_rc(res: subprocess.CompletedProcess[bytes]) -> int:
    return res.returncode if res.returncode >= 0 else 128 - res.returncode


# --- assert(): on at every -O level, as with gcc ------------------------------------------------
@pytest.mark.parametrize("flags", [[], ["-O0"], ["-O"], ["-O1"], ["-Og"], ["-O2"], ["-O3"],
                                   ["-Os"], ["-Ofast"]], ids=lambda f: " ".join(f) or "default")
def test_a_failed_assert_aborts_at_every_optimisation_level(tmp_path: Path, flags: list[str]) -> None:
    native = gcc(tmp_path, "cc_assert", flags)
    assert shell_rc(native) == 134 and native.stdout == b"before\n"  # gcc's meaning: SIGABRT
    out, err, rc = chip_run(shoal_cc(tmp_path, "cc_assert", flags), "cc_assert")
    assert (out, rc) == (native.stdout, 134)
    # musl's message: "Assertion failed: EXPR (FILE: FUNCTION: LINE)"
    assert err == f"Assertion failed: argc == 42 ({PROGRAMS / 'cc_assert.c'}: main: 10)\n".encode()


def test_shoal_run_of_a_failed_assert_exits_134_like_a_shell(tmp_path: Path) -> None:
    """The user's whole path: `shoal cc prog.c -o prog.elf`, `shoal run prog.elf`."""
    res = shoal_cli("run", "--chip", "tiny", str(shoal_cc(tmp_path, "cc_assert", [])))
    assert (res.returncode, res.stdout) == (134, b"before\n")
    assert res.stderr.startswith(b"Assertion failed: argc == 42 (") and b"SIGABRT" in res.stderr


@pytest.mark.parametrize("flags", [["-DNDEBUG"], ["-O0", "-DNDEBUG"], ["-DNDEBUG", "-O3"]],
                         ids=lambda f: " ".join(f))
def test_ndebug_from_the_user_turns_assert_off(tmp_path: Path, flags: list[str]) -> None:
    native = gcc(tmp_path, "cc_assert", flags)
    assert (native.stdout, native.returncode) == (b"before\nafter\n", 0)
    out, err, rc = chip_run(shoal_cc(tmp_path, "cc_assert", flags), "cc_assert")
    assert (out, err, rc) == (native.stdout, b"", 0)


# --- no UBSan at -O0: wrapping arithmetic as gcc computes it ------------------------------------
@pytest.mark.parametrize("flags", [["-O0"], ["-Og"]], ids=lambda f: " ".join(f))
def test_unoptimised_code_wraps_and_shifts_as_gcc_does(tmp_path: Path, flags: list[str]) -> None:
    native = gcc(tmp_path, "cc_wrap", flags)
    # INT_MAX+1, INT_MIN, INT_MIN-1, 2*INT_MAX, -1<<3, 1<<31, bytes 2..5 little-endian
    assert native.stdout == b"-2147483648 -2147483648 2147483647 -2 -8 -2147483648 84148994\n"
    out, err, rc = chip_run(shoal_cc(tmp_path, "cc_wrap", flags), "cc_wrap")
    assert (out, err, rc) == (native.stdout, b"", 0)


def test_sanitizer_asked_for_by_the_user_still_stops_the_overflow(tmp_path: Path) -> None:
    # (zig's UBSan runtime makes the image too large for tiny's clusters)
    out, err, rc = chip_run(shoal_cc(tmp_path, "cc_wrap", ["-O0", "-fsanitize=undefined"]),
                            "cc_wrap", chip="mppa256")
    assert (out, rc) == (b"", 134)
    assert b"signed integer overflow" in err


# --- floating-point contraction: where gcc forms fused multiply-adds ---------------------------
A, B, C = 1.0 + 2.0**-30, 1.0 - 2.0**-30, -1.0
SEPARATE = f"{A * B + C:.17g}"  # Python rounds the product, then the sum: 0
FUSED = f"{float(Fraction(A) * Fraction(B) + Fraction(C)):.17g}"  # one rounding: -2^-60


def _host_has_fma() -> bool:
    try:
        return " fma " in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


FMA_CASES = [
    ([], FUSED, FUSED),                          # -O2, GNU C: gcc's -ffp-contract=fast
    (["-O0"], SEPARATE, SEPARATE),               # gcc fuses only when optimising at -O2 and up
    (["-O1"], SEPARATE, SEPARATE),
    (["-Og"], SEPARATE, SEPARATE),
    (["-O2"], FUSED, FUSED),
    (["-O3"], FUSED, FUSED),
    (["-Os"], FUSED, FUSED),
    (["-O2", "-std=c11"], SEPARATE, SEPARATE),   # ISO C: gcc contracts nothing
    (["-O2", "-std=gnu11"], FUSED, FUSED),
    (["-O2", "-ffp-contract=off"], SEPARATE, SEPARATE),  # the user's choice wins
    (["-O0", "-ffp-contract=on"], FUSED, SEPARATE),      # clang's "on": within an expression
]


@pytest.mark.parametrize(("flags", "expr", "stmts"), FMA_CASES,
                         ids=[" ".join(f) or "default" for f, _, _ in FMA_CASES])
def test_fused_multiply_add_where_gcc_fuses(tmp_path: Path, flags: list[str], expr: str,
                                            stmts: str) -> None:
    assert SEPARATE == "0" and FUSED == "-8.6736173798840355e-19"
    expected = f"expr {expr}\nstmts {stmts}\n".encode()
    if _host_has_fma() and not any(f.startswith("-ffp-contract") for f in flags):
        # gcc decides where to fuse in its middle end, the same for x86 with FMA as for RISC-V
        # with D (riscv64-linux-gnu-gcc gives these too): the host's gcc says what it does.
        assert gcc(tmp_path, "cc_fma", [*flags, "-mfma"]).stdout == expected
    out, err, rc = chip_run(shoal_cc(tmp_path, "cc_fma", flags), "cc_fma")
    assert (out, err, rc) == (expected, b"", 0)


# --- what a program can see of how it was built -------------------------------------------------
@pytest.mark.parametrize("flags", [[], ["-O0"], ["-O"], ["-Og"], ["-O2"], ["-Os"], ["-Ofast"],
                                   ["-O2", "-DNDEBUG"]], ids=lambda f: " ".join(f) or "default")
def test_predefined_macros_are_gccs(tmp_path: Path, flags: list[str]) -> None:
    """NDEBUG, __OPTIMIZE__, __NO_INLINE__, __FAST_MATH__, stack protector, C standard, and
    __DATE__ compiling (zig's release modes make it an error) as the host's gcc has them."""
    native = gcc(tmp_path, "cc_macros", [*flags, "-std=gnu17", "-fno-stack-protector"])
    # (gcc 12's default C, and upstream gcc's default that some distributions change)
    assert native.returncode == 0
    out, err, rc = chip_run(shoal_cc(tmp_path, "cc_macros", flags), "cc_macros")
    assert out.decode().splitlines() == native.stdout.decode().splitlines()
    assert (err, rc) == (b"", 0)


# --- the compile cache ---------------------------------------------------------------------------
def test_cached_builds_are_keyed_by_the_flags_the_driver_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    """An .elf built before the driver's flags changed is not reused: the key covers them."""
    src = PROGRAMS / "cc_assert.c"
    now = compile_cached([src])
    assert compile_cached([src]) == now  # cached
    assert compile_cached([src], ["-O2", "-g0", "-DNDEBUG"]) != now
    monkeypatch.setattr(toolchain, "GCC_MEANING", [f for f in toolchain.GCC_MEANING
                                                   if f != "-UNDEBUG"])
    before = compile_cached([src])  # as zig alone builds it: NDEBUG in release
    assert before != now
    assert chip_run(before, "cc_assert")[2] == 0 and chip_run(now, "cc_assert")[2] == 134


def test_driver_args_give_gccs_meaning_before_the_users_flags() -> None:
    d = toolchain.driver_args
    assert d([])[-1] == "-O2" and "-ffp-contract=fast" in d([])
    assert d(["-O"])[-1] == "-O1" and d(["-Og", "x.c"])[-2:] == ["-O1", "x.c"]
    assert "-ffp-contract=off" in d(["-O3", "-O0"])  # the last -O wins, as in gcc
    assert "-ffp-contract=off" in d(["-std=c99", "-O2"])
    assert "-ffp-contract=fast" in d(["-std=c99", "-std=gnu99", "-O2"])
    assert "-ffast-math" in d(["-Ofast"]) and "-ffast-math" not in d(["-O3"])
    user = ["-O0", "-DNDEBUG", "-fsanitize=undefined", "t.c"]
    assert d(user)[-len(user):] == user  # after ours, so the user's flags win


def test_a_compile_error_is_the_compilers_exit_status(tmp_path: Path) -> None:
    src = tmp_path / "bad.c"
    src.write_text("int main(void) { return undeclared; }\n")
    res = shoal_cli("cc", str(src), "-o", str(tmp_path / "bad.elf"))
    assert res.returncode != 0 and b"undeclared" in res.stderr
    assert b"Traceback" not in res.stderr and not (tmp_path / "bad.elf").exists()

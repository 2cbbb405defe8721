"""Real C programs on the chip give exactly what the same source gives built natively."""

from __future__ import annotations

import pytest
from conftest import Programs, assert_no_frame_leak, assert_same, run_native, run_shoal


# --- threads: mutex, condition variable, barrier ----------------------------------------------
def test_sixteen_threads_on_one_mppa256_cluster(programs: Programs) -> None:
    b = programs["threads"]
    expected = run_native(b, ["threads"])
    p, chip = run_shoal(b, ["threads"], chip="mppa256", cluster=5)
    assert_same(p, expected)
    assert p.cluster == 5
    assert b"counter 24000 " in p.stdout  # 200 * (0 + 1 + ... + 15)
    c = p.record
    assert c.threads == 17 and c.syscalls["clone"] == 16
    assert c.syscalls["futex_time64"] > 0  # the threads really waited on each other
    assert not c.unknown_syscalls
    assert_no_frame_leak(chip)


@pytest.mark.parametrize("n", [1, 3, 4, 16])
def test_threads_on_tiny_including_more_threads_than_harts(programs: Programs, n: int) -> None:
    b = programs["threads"]
    expected = run_native(b, ["threads", str(n)])
    p, chip = run_shoal(b, ["threads", str(n)], chip="tiny", cluster=3)
    assert_same(p, expected)
    assert p.record.threads == n + 1
    assert_no_frame_leak(chip)


# --- malloc ---------------------------------------------------------------------------------
def test_malloc_realloc_free_many_sizes(programs: Programs) -> None:
    b = programs["malloc"]
    expected = run_native(b, ["malloc"])
    assert expected.returncode == 0 and b"errors 0 " in expected.stdout
    p, chip = run_shoal(b, ["malloc"])
    assert_same(p, expected)
    assert p.record.syscalls["munmap"] > 0  # memory was given back, not only taken
    assert_no_frame_leak(chip)


# --- qsort and formatting ---------------------------------------------------------------------
def test_qsort_printf_snprintf_strtod(programs: Programs) -> None:
    b = programs["format"]
    expected = run_native(b, ["format"])
    assert expected.returncode == 0
    p, _ = run_shoal(b, ["format"])
    # Line by line first, so that a difference is shown where it is.
    assert p.stdout.decode().splitlines() == expected.stdout.decode().splitlines()
    assert_same(p, expected)
    assert b"ints sorted 1 " in p.stdout
    assert b"snprintf ret 17 buf [hello-12345-0.2]" in p.stdout


def test_integer_to_double_conversions_are_exact(programs: Programs) -> None:
    """fcvt.d.w and fcvt.d.wu at every edge and over a sweep, bit for bit against the host
    (shoal's Unicorn builds these results itself: shoal/native/unicorn-budget.patch)."""
    b = programs["fcvt"]
    expected = run_native(b, ["fcvt"])
    assert expected.returncode == 0
    p, _ = run_shoal(b, ["fcvt"])
    assert p.stdout.decode().splitlines() == expected.stdout.decode().splitlines()
    assert_same(p, expected)
    assert b"i32 -2147483648 c1e0000000000000 " in p.stdout
    assert b"u32 4294967295 41efffffffe00000 " in p.stdout


def test_fp_exception_flags_are_the_hosts(programs: Programs) -> None:
    """Accrued FP flags after exact and inexact add, mul, div, fma, sqrt, overflow, underflow,
    in double and float, and after a long exact loop: as the host's own. shoal's Unicorn runs
    such operations on the host FPU before the guest's inexact flag is up (its patch, 4.)."""
    b = programs["fpflags"]
    expected = run_native(b, ["fpflags"])
    assert expected.returncode == 0
    p, _ = run_shoal(b, ["fpflags"])
    assert p.stdout.decode().splitlines() == expected.stdout.decode().splitlines()
    assert_same(p, expected)
    assert b"div inexact    inexact\n" in p.stdout and b"mul exact     \n" in p.stdout


# --- argv, environment, exit codes -------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["args"],
    ["args", "0"],
    ["args", "1"],
    ["args", "42", "two words", "", "ünïcødé", "--flag=x"],
    ["args", "255"],
    ["args", "256"],  # exit(256): the status is the low byte, 0
    ["args", "-1"],  # exit(-1): 255
    ["args", "3", *[f"arg{i}" for i in range(200)]],
    ["/some/path/prog-name", "7"],
], ids=["none", "zero", "one", "mixed", "255", "256", "minus1", "many", "argv0"])
def test_argv_and_exit_code(programs: Programs, argv: list[str]) -> None:
    b = programs["args"]
    expected = run_native(b, argv)
    p, _ = run_shoal(b, argv)
    assert_same(p, expected)
    assert p.exit_code == expected.returncode and p.signal is None
    assert f"argc {len(argv)}\n".encode() in p.stdout


def test_environment(programs: Programs) -> None:
    b = programs["args"]
    env = {"SHOAL_TEST": "hello world", "EMPTY": "", "PATH": "/bin"}
    expected = run_native(b, ["args", "5"], env=env)
    p, _ = run_shoal(b, ["args", "5"], env=[f"{k}={v}" for k, v in env.items()])
    assert_same(p, expected)
    assert b"getenv SHOAL_TEST [hello world]" in p.stdout


def test_spawn_of_a_c_file_compiles_it(programs: Programs) -> None:
    """Chip.spawn accepts a .c path and compiles it (default flags) itself."""
    b = programs["args"]
    expected = run_native(b, ["args", "9", "x"])
    from shoal import Chip
    chip = Chip.preset("tiny")
    p = chip.spawn(b.source, ["args", "9", "x"])
    chip.run()
    assert_same(p, expected)


# --- stdin ------------------------------------------------------------------------------------
STDIN_CASES = {
    "empty": b"",
    "one-line": b"Hello, World\n",
    "no-final-newline": b"abc\nDEF\nlast",
    "binary": bytes(range(256)) + b"\n\0\0\n",
    "blank-lines": b"\n\n\n",
    "large": b"".join(b"line %05d: The Quick Brown Fox %d\n" % (i, i * i) for i in range(4000)),
}


@pytest.mark.parametrize("name", list(STDIN_CASES))
def test_stdin_transformed(programs: Programs, name: str) -> None:
    b = programs["stdin"]
    data = STDIN_CASES[name]
    expected = run_native(b, ["stdin"], stdin=data)
    p, _ = run_shoal(b, ["stdin"], stdin=data)
    assert_same(p, expected)
    assert f"bytes {len(data)} ".encode() in p.stdout
    assert b"eof 1 error 0" in p.stdout


def test_stdin_of_one_process_is_its_own(programs: Programs) -> None:
    from shoal import Chip
    b = programs["stdin"]
    chip = Chip.preset("tiny")
    inputs = [b"first\n", b"SECOND one\nx\n", b""]
    procs = [chip.spawn(b.elf, ["stdin"], cluster=0, stdin=d) for d in inputs]
    chip.run()
    for d, p in zip(inputs, procs, strict=True):
        assert_same(p, run_native(b, ["stdin"], stdin=d))


# --- more synchronisation ---------------------------------------------------------------------
@pytest.mark.parametrize("chip", ["tiny", "mppa256"])
def test_semaphores_rwlocks_tls_once_and_timed_waits(programs: Programs, chip: str) -> None:
    b = programs["sync"]
    expected = run_native(b, ["sync"])
    assert b"cond_timedwait: ETIMEDOUT, waited >= 3 ms: yes" in expected.stdout
    p, c = run_shoal(b, ["sync"], chip=chip)
    assert_same(p, expected)
    assert p.cycles is not None and p.cycles >= 4 * c.spec.cluster.freq_hz // 1000  # 3 ms + 1 ms of timeouts
    assert_no_frame_leak(c)


@pytest.mark.parametrize("yield_", ["0", "1"], ids=["busy-wait", "sched_yield"])
def test_threads_spinning_on_an_atomic_make_progress(programs: Programs, yield_: str) -> None:
    b = programs["spin"]
    expected = run_native(b, ["spin", yield_])
    p, _ = run_shoal(b, ["spin", yield_])
    assert_same(p, expected)
    assert p.record.syscalls["futex_time64"] <= 2  # the hand-offs themselves made no calls

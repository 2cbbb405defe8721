"""The `shoal` command: run (exit codes, stdin, --stats, --chip, --cluster), cc, demo, and its
one-line refusals."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Programs, assert_one_line_error, run_native, shoal_cli

from shoal import Chip


@pytest.mark.parametrize("code", ["0", "1", "42", "255"])
def test_run_exit_code_is_the_programs(programs: Programs, code: str) -> None:
    b = programs["args"]
    res = shoal_cli("run", "--chip", "tiny", str(b.elf), code, "second arg")
    expected = run_native(b, [str(b.elf), code, "second arg"])  # argv[0]: the path as typed
    assert res.returncode == int(code) == expected.returncode
    assert res.stdout == expected.stdout
    assert res.stderr == b""


def test_run_program_options_belong_to_the_program(programs: Programs) -> None:
    b = programs["args"]
    res = shoal_cli("run", "--chip", "tiny", str(b.elf), "3", "--stats", "--chip", "x")
    assert res.returncode == 3
    assert b"argv[2] (7) [--stats]\n" in res.stdout and b"argv[3] (6) [--chip]\n" in res.stdout
    assert b"shoal stats" not in res.stderr


def test_run_a_c_file_directly(programs: Programs) -> None:
    b = programs["args"]
    res = shoal_cli("run", "--chip", "tiny", str(b.source), "12")
    assert res.returncode == 12
    # argv[0] is the path of the program it builds (the source's, without .c)
    assert res.stdout == run_native(b, [str(b.source)[:-2], "12"]).stdout


def test_run_passes_stdin(programs: Programs) -> None:
    b = programs["stdin"]
    data = b"one\nTwo\nthree\n"
    res = shoal_cli("run", "--chip", "tiny", str(b.elf), stdin=data)
    expected = run_native(b, [b.elf.name], stdin=data)
    assert res.stdout == expected.stdout
    assert res.returncode == expected.returncode == 3


def test_run_on_another_cluster(programs: Programs) -> None:
    b = programs["threads"]
    res = shoal_cli("run", "--chip", "tiny", "--cluster", "3", "--stats", str(b.elf), "4")
    assert res.returncode == 0
    assert res.stdout == run_native(b, ["threads", "4"]).stdout
    assert "on cluster 3 of tiny" in res.stderr.decode()


def test_run_fault_exit_code_and_message(programs: Programs) -> None:
    b = programs["faults"]
    res = shoal_cli("run", "--chip", "tiny", str(b.elf), "null")
    assert res.returncode == 139
    assert res.stdout == b"storing to NULL\n"
    err = res.stderr.decode()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"shoal: {b.elf.name} (pid 2) killed: store page fault at 0x00000000, pc 0x")


@pytest.mark.parametrize(("mode", "code", "words"), [("ill", 132, "illegal instruction"),
                                                     ("abort", 134, "SIGABRT"),
                                                     ("oom", 137, "out of memory")])
def test_run_other_kills(programs: Programs, mode: str, code: int, words: str) -> None:
    res = shoal_cli("run", "--chip", "tiny", str(programs["faults"].elf), mode)
    assert res.returncode == code
    err = res.stderr.decode()
    assert err.startswith("shoal: ") and words in err and err.count("\n") == 1


def stats_lines(stderr: bytes) -> dict[str, str]:
    out = {}
    for line in stderr.decode().splitlines():
        if " : " in line:
            key, value = line.split(" : ", 1)
            out[key.strip()] = value.strip()
    return out


def test_stats_are_labelled_and_match_the_api(programs: Programs) -> None:
    b = programs["threads"]
    res = shoal_cli("run", "--stats", "--chip", "tiny", str(b.elf), "4")
    assert res.returncode == 0
    err = res.stderr.decode()
    assert err.startswith(f"shoal stats for {b.elf.name} (pid 2) on cluster 0 of tiny\n")
    stats = stats_lines(res.stderr)
    for label in ("simulated time", "instructions", "threads", "syscalls", "unknown calls",
                  "peak memory", "host wall time"):
        assert label in stats, label
    # Simulated figures are exactly what the Python API reports for the same run.
    chip = Chip.preset("tiny")
    p = chip.spawn(b.elf, [str(b.elf), "4"])  # the argv shoal run gives
    chip.run()
    assert stats["simulated time"].startswith(f"{p.cycles} cycles = ")
    assert stats["simulated time"].endswith("ms at 400 MHz")
    assert stats["instructions"].startswith(f"{p.instructions} ")
    assert stats["threads"] == "5"
    assert stats["syscalls"].startswith(f"{sum(p.record.syscalls.values())} (")
    assert "clone" in stats["syscalls"]
    assert stats["unknown calls"].startswith("none")
    assert stats["host wall time"].endswith(" guest MIPS on the host)")
    assert " s (" in stats["host wall time"]


def test_stats_list_unknown_calls(programs: Programs) -> None:
    res = shoal_cli("run", "--stats", "--chip", "tiny", str(programs["faults"].elf), "enosys")
    assert res.returncode == 7
    stats = stats_lines(res.stderr)
    assert "#999" in stats["unknown calls"] and "#998" in stats["unknown calls"]


def test_run_with_a_toml_chip(programs: Programs, tmp_path: Path) -> None:
    f = tmp_path / "duo.toml"
    f.write_text('base = "tiny"\nname = "duo"\ncores_per_cluster = 2\nmesh_width = 3\nmesh_height = 1\n')
    b = programs["threads"]
    res = shoal_cli("run", "--chip", str(f), "--cluster", "2", "--stats", str(b.elf), "5")
    assert res.returncode == 0
    assert res.stdout == run_native(b, ["threads", "5"]).stdout
    assert "on cluster 2 of duo" in res.stderr.decode()
    bad = shoal_cli("run", "--chip", str(f), "--cluster", "3", str(b.elf))
    assert "cluster 3 does not exist" in assert_one_line_error(bad)


def test_refusals_are_one_line(programs: Programs, tmp_path: Path) -> None:
    rv = programs["args"].elf.read_bytes()
    cut = tmp_path / "cut.elf"
    cut.write_bytes(rv[:1000])
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("cores_per_cluster = [\n")
    unknown_key = tmp_path / "key.toml"
    unknown_key.write_text('base = "tiny"\nbogus = 1\n')
    cases = [
        (["run", str(cut)], "cut.elf"),
        (["run", str(programs["args"].native)], "args"),
        (["run", str(tmp_path / "missing.elf")], "no such file"),
        (["run", str(tmp_path)], "directory"),
        (["run", "--chip", "tiny", "--cluster", "4", str(programs["args"].elf)], "does not exist"),
        (["run", "--chip", "nochip", str(programs["args"].elf)], "nochip"),
        (["run", "--chip", str(bad_toml), str(programs["args"].elf)], "bad TOML"),
        (["run", "--chip", str(unknown_key), str(programs["args"].elf)], "bogus"),
        (["run", "--chip", str(tmp_path / "gone.toml"), str(programs["args"].elf)], "not found"),
        (["demo", "--chip", "nochip"], "nochip"),
    ]
    true = shutil.which("true")
    if true is not None:
        cases.append((["run", true], "32-bit"))
    for args, words in cases:
        res = shoal_cli(*args)
        err = assert_one_line_error(res)
        assert words in err, (args, err)
        assert res.stdout == b"", args


def test_usage_errors_exit_non_zero_without_traceback() -> None:
    for args in ([], ["run"], ["bogus"], ["run", "--cluster", "x", "prog"], ["cc"]):
        res = shoal_cli(*args)
        assert res.returncode != 0, args
        assert b"Traceback" not in res.stderr, args


def test_cc_builds_an_executable_for_the_chip(programs: Programs, tmp_path: Path) -> None:
    out = tmp_path / "args.elf"
    res = shoal_cli("cc", str(programs["args"].source), "-O2", "-o", str(out))
    assert res.returncode == 0, res.stderr.decode()
    image = out.read_bytes()
    assert image[:4] == b"\x7fELF" and image[4] == 1  # ELF32
    assert int.from_bytes(image[18:20], "little") == 243  # EM_RISCV
    run = shoal_cli("run", "--chip", "tiny", str(out), "21", "x")
    assert run.returncode == 21
    assert run.stdout == run_native(programs["args"], [str(out), "21", "x"]).stdout


def test_cc_reports_compile_errors(tmp_path: Path) -> None:
    src = tmp_path / "broken.c"
    src.write_text("int main(void) { return nope; }\n")
    res = shoal_cli("cc", str(src), "-o", str(tmp_path / "broken.elf"))
    assert res.returncode != 0
    assert b"nope" in res.stderr and b"Traceback" not in res.stderr
    assert not (tmp_path / "broken.elf").exists()


def test_installed_shoal_command(programs: Programs) -> None:
    exe = shutil.which("shoal")
    if exe is None:
        pytest.skip("the shoal console script is not on PATH")
    res = subprocess.run([exe, "run", "--chip", "tiny", str(programs["args"].elf), "5"],
                         capture_output=True, timeout=120)
    assert res.returncode == 5 and b"argc 2\n" in res.stdout


def test_demo_on_the_tiny_chip() -> None:
    res = shoal_cli("demo", "--chip", "tiny")
    out = res.stdout.decode()
    assert res.returncode == 0, out + res.stderr.decode()
    assert "all results correct" in out
    assert "SOME RESULTS ARE WRONG" not in out
    part0 = out.split("\n0. ", 1)[1].split("\nsimulated:", 1)[0]  # the table of part 0
    rows = [line.split() for line in part0.splitlines() if line.split()[:1] and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3]  # one row per cluster of the tiny chip
    assert all(r[5] == "yes" and r[3] == r[4] for r in rows)  # cluster pid limit primes expected ok


def test_chip_argument_that_is_a_directory_is_one_line(programs: Programs, tmp_path: Path) -> None:
    d = tmp_path / "dir.toml"
    d.mkdir()
    res = shoal_cli("run", "--chip", str(d), str(programs["args"].elf))
    assert_one_line_error(res)


def test_checkpoint_at_a_time_then_restore_goes_on_with_the_programs_clock(tmp_path: Path) -> None:
    """`shoal checkpoint --at 1ms`: the image is taken at 1 ms of simulated time, and the
    restored program's clock goes on from there (on a fresh chip whose clock starts at 0)."""
    src = Path(__file__).parent / "programs" / "clock.c"
    img = tmp_path / "p.img"
    res = shoal_cli("checkpoint", "--at", "1ms", "-o", str(img), str(src), "sleep", "12", "300")
    assert res.returncode == 0, res.stderr
    before = [int(w) for w in res.stdout.split()[1::2]]
    assert before and before[-1] <= 1000
    assert b"at cycle 400000 " in res.stderr  # 1 ms at 400 MHz: a sleeping program stops there
    back = shoal_cli("restore", "--chip", "tiny", "--cluster", "2", str(img))
    assert back.returncode == 0, back.stderr
    after = [int(w) for w in back.stdout.split()[1::2]]
    assert len(before) + len(after) == 12 and b"BACKWARDS" not in back.stdout
    assert 1000 <= after[0] < 1000 + 320  # the sleep it was in ends where it would have
    assert after == sorted(after)


def test_cc_without_an_optimisation_flag_builds_what_fits_the_chip(tmp_path: Path) -> None:
    """`shoal cc prog.c -o prog` with no -O: a 1 MiB malloc runs on a 2 MiB cluster (with
    unoptimised musl its allocator would need twice that)."""
    src = tmp_path / "big.c"
    src.write_text('#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n'
                   'int main(void) { char *p = malloc(1 << 20); if (!p) return 1;\n'
                   '  memset(p, 1, 1 << 20); long s = 0;\n'
                   '  for (int i = 0; i < (1 << 20); i += 4096) s += p[i];\n'
                   '  printf("ok %ld\\n", s); return 0; }\n')
    out = tmp_path / "big.elf"
    assert shoal_cli("cc", str(src), "-o", str(out)).returncode == 0
    res = shoal_cli("run", str(out))
    assert res.returncode == 0 and res.stdout == b"ok 256\n", res.stderr

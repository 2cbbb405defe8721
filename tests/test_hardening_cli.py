"""Issue 12, hardening of the CLI and the console: output streams with bounded host memory,
every bad value or environment gets one `shoal:` line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import Programs, shoal_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal import Chip
from shoal.cli import main
from shoal.daemons import console
from shoal.errors import ShoalError

MIB = 1024 * 1024


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line(rc: int, err: str) -> str:
    assert rc != 0
    assert "Traceback" not in err, err
    assert err.startswith("shoal:") and err.count("\n") == 1, err
    return err


# --- output: streamed, host memory bounded -------------------------------------------------------
RSS = """
import resource, sys
from shoal.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rc = main(sys.argv[1:])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write(f"rc={rc} growth_kib={after - before}\\n")
"""


@pytest.mark.parametrize("how", [["1024"], ["1024", "v"]], ids=["write", "writev"])
def test_256_mib_of_output_streams_in_bounded_host_memory(programs: Programs, how: list[str]) -> None:
    elf = programs["flood"].elf
    res = subprocess.run([sys.executable, "-c", RSS, "run", str(elf), "256", *how],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    err = res.stderr.decode()
    assert "wrote 268435456" in err and "rc=0" in err, err
    growth = int(err.rsplit("growth_kib=", 1)[1]) * 1024
    # The chip itself (16 clusters' memory and CPUs) is ~46 MiB; before this, 256 MiB of
    # output held at least 256 MiB (a single writev, over 700 MiB).
    assert growth < 100 * MIB, err


def test_api_keeps_everything_up_to_the_cap_then_the_tail(programs: Programs,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "CAPTURE", 1 * MIB)
    chip = Chip.preset("tiny")
    p = chip.spawn(programs["flood"].elf, ["flood", "3", "64"])
    chip.run()
    assert p.returncode == 0
    assert p.stderr == b"wrote 3145728\n"
    assert len(p.stdout) + len(p.stderr) == MIB  # the cap is the chip's, both streams
    assert p.stdout == b"x" * len(p.stdout) and p.output_dropped == (3 * MIB - len(p.stdout), 0)


def test_api_without_sink_captures_everything_below_the_cap(programs: Programs) -> None:
    chip = Chip.preset("tiny")
    p = chip.spawn(programs["flood"].elf, ["flood", "2", "100"])
    chip.run()
    assert p.stdout == b"x" * (2 * MIB) and p.output_dropped == (0, 0)


def test_with_a_sink_the_console_keeps_a_tail(programs: Programs) -> None:
    got: list[int] = []
    chip = Chip.preset("tiny", sink=lambda pid, fd, data: got.append(len(data)) if fd == 1 else None)
    p = chip.spawn(programs["flood"].elf, ["flood", "2", "64", "v"])
    chip.run()
    assert sum(got) == 2 * MIB and max(got) <= 64 * 1024  # streamed, in pieces
    assert len(p.stdout) == console.TAIL and p.output_dropped == (2 * MIB - console.TAIL, 0)


def test_small_writes_are_as_before(programs: Programs) -> None:
    chip = Chip.preset("tiny")
    p = chip.spawn(programs["flood"].elf, ["flood", "1", "1"])
    chip.run()
    assert p.returncode == 0 and p.stdout == b"x" * MIB
    assert p.syscalls["write"] >= 1024


# --- times and CLI values ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["--migrate=infms:3", "--migrate=1e400s:3", "--migrate=-1ms:3",
                                   "--migrate=-5:3", "--migrate=nanus:1", "--migrate=1e30:1",
                                   "--migrate=86401s:1", "--migrate=-0.0s:1", "--migrate=5ms",
                                   "--migrate=5ms:x", "--migrate=5ms:99", "--cluster=-1"])
def test_bad_times_and_values_get_one_line(programs: Programs, capsys: pytest.CaptureFixture[str],
                                           value: str) -> None:
    rc, out, err = _cli(capsys, "run", "--chip", "tiny", value, str(programs["args"].elf))
    _one_line(rc, err)
    assert out == ""


def test_checkpoint_at_infinity(programs: Programs, capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    rc, _, err = _cli(capsys, "checkpoint", "--chip", "tiny", "--at=infms", "-o", str(tmp_path / "x"),
                      str(programs["args"].elf))
    assert "bad time 'infms'" in _one_line(rc, err)


def test_migrate_after_the_end_is_said(programs: Programs, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _cli(capsys, "run", "--chip", "tiny", "--migrate", "5s:3", str(programs["args"].elf), "7")
    assert rc == 7  # still the program's
    assert err.startswith("shoal: --migrate 5s:3: the program had ended at cycle ") and err.count("\n") == 1


def test_a_refused_migrate_is_said(programs: Programs, capsys: pytest.CaptureFixture[str]) -> None:
    """--migrate at a time when the program has a child it has not waited for: its kernel
    refuses the move, and one line says so (it used to go on where it was without a word)."""
    elf = str(programs["fork_hold"].elf)
    rc, out, err = _cli(capsys, "run", "--chip", "tiny", "--migrate", "20ms:3", elf)
    assert rc == 0 and "parent: child exited 0" in out
    assert err == ("shoal: --migrate 20ms:3: not moved: it has children it has not waited for "
                   "(their waits stay on its cluster)\n")


def test_schedule_migration_of_an_unknown_pid_is_refused(programs: Programs) -> None:
    chip = Chip.preset("tiny")
    p = chip.spawn(programs["args"].elf, ["args", "0"])
    with pytest.raises(ShoalError):
        chip.schedule_migration(99, 1, 10)
    with pytest.raises(ShoalError):
        chip.schedule_migration(p.pid, 1, -1)
    chip.run()
    assert p.returncode == 0


# --- the environment ------------------------------------------------------------------------------
def test_file_that_never_ends_is_refused(programs: Programs, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _cli(capsys, "run", "--chip", "tiny", "--file", "/dev/zero", str(programs["args"].elf))
    assert "not a regular file" in _one_line(rc, err)


def test_file_too_large_is_refused(programs: Programs, capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(65 * MIB)  # sparse
    rc, _, err = _cli(capsys, "run", "--chip", "tiny", "--file", str(big), str(programs["args"].elf))
    assert "more than" in _one_line(rc, err)


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_cache_that_is_not_a_directory(programs: Programs, capsys: pytest.CaptureFixture[str], tmp_path,
                                       monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    f = tmp_path / "f"
    f.write_text("")
    monkeypatch.setenv("SHOAL_CACHE", str(f if where == "file" else f / "sub"))
    rc, _, err = _cli(capsys, "run", "--chip", "tiny", str(programs["args"].source))
    assert "compile cache" in _one_line(rc, err)


@pytest.mark.parametrize("redirect", [">/dev/full", ">&-"])
def test_stdout_full_or_closed(programs: Programs, redirect: str) -> None:
    cmd = f"'{sys.executable}' -m shoal run --chip tiny '{programs['flood'].elf}' 1 64 {redirect}"
    res = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=120)
    err = res.stderr.decode()
    assert res.returncode == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.startswith("shoal: cannot write the program's output") and err.count("\n") == 1, err


def test_output_to_a_file_is_whole_at_exit(programs: Programs, tmp_path) -> None:
    """Stdout and stderr, redirected to files, are whole when the command ends, and the
    program's exit status is the command's."""
    out, err = tmp_path / "out", tmp_path / "err"
    cmd = (f"'{sys.executable}' -m shoal run --stats --chip tiny '{programs['flood'].elf}' 3 7 "
           f">'{out}' 2>'{err}'")
    res = subprocess.run(["sh", "-c", cmd], timeout=120)
    assert res.returncode == 0
    assert out.read_bytes() == b"x" * (3 << 20)
    assert err.read_text().rstrip().splitlines()[-1].startswith("  NoC")  # the last --stats line
    cmd = f"'{sys.executable}' -m shoal run --chip tiny '{programs['faults'].elf}' ill >'{out}' 2>'{err}'"
    assert subprocess.run(["sh", "-c", cmd], timeout=120).returncode == 132
    assert "illegal instruction" in err.read_text()


def test_a_closed_pipe_ends_quietly(programs: Programs) -> None:
    cmd = f"'{sys.executable}' -m shoal run --chip tiny '{programs['flood'].elf}' 4 64 | head -c 10"
    res = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=120)
    assert res.stdout == b"x" * 10
    assert b"Traceback" not in res.stderr and b"Exception ignored" not in res.stderr


def test_stdin_not_read_when_not_needed(programs: Programs) -> None:
    res = shoal_cli("run", "--chip", "tiny", str(programs["args"].elf), "0")
    assert res.returncode == 0


# --- generated values ------------------------------------------------------------------------------
NUM = st.one_of(st.integers(-10**30, 10**30).map(str),
                st.floats(allow_nan=True, allow_infinity=True).map(repr),
                st.sampled_from(["", "-", "0x10", "1_000", " 5", "1e", "inf", "nan", "9" * 400]))
TIME = st.builds(lambda n, u: n + u, NUM, st.sampled_from(["", "s", "ms", "us", "ns", "m", "S"]))
CLUSTER = st.one_of(st.integers(-5, 10).map(str), st.text(max_size=4))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=TIME, cluster=CLUSTER, seed=st.one_of(st.integers(-2**70, 2**70).map(str), st.text(max_size=3)),
       where=st.one_of(st.integers(-3, 6).map(str), st.just("x")),
       extra=st.lists(st.sampled_from(["--stats", "--chip=tiny", "--chip=nope", "--file=/dev/null"]),
                      max_size=2))
def test_generated_cli_values(programs: Programs, capsys: pytest.CaptureFixture[str], at: str, cluster: str,
                              seed: str, where: str, extra: list[str]) -> None:
    args = ["run", "--chip", "tiny", *extra, f"--migrate={at}:{cluster}", f"--seed={seed}",
            f"--cluster={where}", str(programs["args"].elf), "3"]
    rc, out, err = _cli(capsys, *args)
    if rc == 3:
        assert "Traceback" not in err
        for line in err.splitlines():
            assert line.startswith(("shoal: --migrate", "shoal: migration of", "shoal stats", "  ")), err
    else:
        _one_line(rc, err)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=TIME)
def test_generated_checkpoint_times(programs: Programs, capsys: pytest.CaptureFixture[str], tmp_path_factory,
                                    monkeypatch: pytest.MonkeyPatch, at: str) -> None:
    # A checkpoint still reads all of stdin into the image (issue 12's stdin part is not done).
    import io
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    out = tmp_path_factory.mktemp("img") / "p.img"
    rc, _, err = _cli(capsys, "checkpoint", "--chip", "tiny", f"--at={at}", "-o", str(out),
                      str(programs["args"].elf), "1")
    if rc == 0:
        assert err.startswith("shoal: checkpointed") and out.exists()
    else:
        _one_line(rc, err)

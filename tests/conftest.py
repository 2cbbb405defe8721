"""Shared helpers: C programs built twice (for the chip with shoal's toolchain, and natively
with the host's gcc), run both ways, and compared."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shoal import Chip, Process
from shoal.toolchain import compile_cached

PROGRAMS = Path(__file__).parent / "programs"
# -ffp-contract=off on both sides: clang would otherwise fuse a*b+c into fmadd on RISC-V
# while gcc for x86-64 (no FMA by default) rounds twice, and printed doubles would differ.
SHOAL_FLAGS = ["-O2", "-g0", "-ffp-contract=off"]
NATIVE_FLAGS = ["-O2", "-pthread", "-ffp-contract=off", "-w"]
NATIVE_TIMEOUT = 120


@dataclass(frozen=True)
class Built:
    name: str
    source: Path
    elf: Path  # static RV32 for the chip
    native: Path  # the same source built for the host


@dataclass(frozen=True)
class Outcome:
    stdout: bytes
    stderr: bytes
    returncode: int  # as a shell sees it: 128 + signal for a killed process


class Programs:
    """Compiles each tests/programs/NAME.c once per session, on first use."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self._built: dict[str, Built] = {}

    def __getitem__(self, name: str) -> Built:
        if name not in self._built:
            src = PROGRAMS / f"{name}.c"
            assert src.exists(), f"no test program {src}"
            elf = compile_cached([src], SHOAL_FLAGS)
            native = self.outdir / name
            gcc = shutil.which("gcc")
            if gcc is None:
                pytest.fail("the host C compiler gcc is needed to compute expected outputs")
            res = subprocess.run([gcc, *NATIVE_FLAGS, str(src), "-o", str(native), "-lm"],
                                 capture_output=True, text=True)
            assert res.returncode == 0, f"gcc failed on {src}:\n{res.stderr}"
            self._built[name] = Built(name, src, elf, native)
        return self._built[name]


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Programs]:
    yield Programs(tmp_path_factory.mktemp("native"))


def run_native(b: Built, argv: list[str], stdin: bytes = b"", env: dict[str, str] | None = None) -> Outcome:
    """Run the host build with exactly this argv (argv[0] included) and environment, in a
    process group of its own, as a shell runs a job: how pytest was started (say, under
    `timeout`, whose parent may be init) must not make the group orphaned, where Linux drops
    SIGTSTP and a program that stops its child waits for ever."""
    res = subprocess.run(argv, executable=str(b.native), input=stdin, capture_output=True,
                         env={} if env is None else env, timeout=NATIVE_TIMEOUT, process_group=0)
    rc = res.returncode if res.returncode >= 0 else 128 - res.returncode
    return Outcome(res.stdout, res.stderr, rc)


# The user the host build runs as (CI: root): run_shoal runs the guest as the same user, so
# that what a program prints of ids and owners compares. Tests of a program that needs root
# (it gives root up itself, or checks root's rules) say ROOT; the chip's own default user
# (1000:1000) is tested where it matters (test_cred.py).
HOST_USER = (os.geteuid(), os.getegid())
ROOT = (0, 0)


def run_shoal(b: Built, argv: list[str], stdin: bytes = b"", chip: str = "tiny", cluster: int = 0,
              env: list[str] | None = None, user: tuple[int, int] = HOST_USER) -> tuple[Process, Chip]:
    """Spawn one program on a fresh chip (its user: `user`) and run the chip until it ends."""
    c = Chip.preset(chip, user=user)
    p = c.spawn(b.elf, argv, cluster=cluster, stdin=stdin, env=env)
    c.run()
    assert p.done
    return p, c


def outcome(p: Process) -> Outcome:
    assert p.returncode is not None
    return Outcome(p.stdout, p.stderr, p.returncode)


def assert_same(p: Process, expected: Outcome, stderr: bool = True) -> None:
    """The chip's result equals the native one byte for byte (stdout, exit status, stderr)."""
    assert p.stdout.decode(errors="replace") == expected.stdout.decode(errors="replace")
    assert p.stdout == expected.stdout
    if stderr:
        assert p.stderr == expected.stderr
    assert p.returncode == expected.returncode, p.message


def assert_no_frame_leak(chip: Chip) -> None:
    """Once every process has ended, every cluster has all of its user frames back."""
    for k in chip.clusters():
        assert not k.processes and k.frames_reserved == 0
        assert k.frames_free == chip.spec.user_frames, f"cluster {k.cluster} leaked frames"


def shoal_cli(*args: str, stdin: bytes = b"", cwd: Path | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    """The `shoal` command, as a user runs it (python -m shoal, same interpreter)."""
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "shoal", *args], input=stdin, capture_output=True,
                          cwd=cwd, env=env, timeout=timeout)


def assert_one_line_error(res: subprocess.CompletedProcess[bytes]) -> str:
    """A refusal by the CLI: non-zero exit, nothing on stdout, one line on stderr."""
    err = res.stderr.decode(errors="replace")
    assert res.returncode != 0
    assert "Traceback" not in err, err
    assert err.startswith("shoal:"), err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err


@pytest.fixture(params=["stopcopy", "precopy", "postcopy", "hybrid"])
def each_method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once per migration method: every move that names none uses it (the host's
    and the guests' shoal_migrate). Tests of stop-and-copy's own costs, or of the command
    line (another process), are marked `stopcopy_only`."""
    import shoal.api

    if request.param != "stopcopy" and request.node.get_closest_marker("stopcopy_only"):
        pytest.skip("about stop-and-copy itself")
    monkeypatch.setattr(shoal.api, "DEFAULT_METHOD", request.param)
    return request.param

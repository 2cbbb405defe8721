"""The host's own limits: a `ulimit -v` too small for the chip asked stops the run in one line
(platform/cpu.py `_room_for`, errors.HostLimit), never QEMU's "Could not allocate dynamic
translator buffer" and exit(1); and a cluster's emulator reserves 32 MiB of address space for
translated code, not Unicorn's default 1 GiB (a 256-cluster chip: 8 GiB, not 256)."""

from __future__ import annotations

import resource
import subprocess
import sys

from conftest import PROGRAMS


def _limited(nbytes: int) -> object:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))
    return apply


def test_a_chip_too_big_for_ulimit_v_stops_in_one_line() -> None:
    prog = str(PROGRAMS / "fork_many.c")
    res = subprocess.run([sys.executable, "-m", "shoal", "run", "--chip", "mppa-16x16", prog, "250"],
                         capture_output=True, timeout=600, preexec_fn=_limited(1536 << 20))
    err = res.stderr.decode()
    assert res.returncode == 1 and "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("shoal: the host's address space limit (ulimit -v: 1536 MiB"), err
    assert err.endswith("; the run is stopped\n")


def test_a_cluster_emulator_reserves_32_mib_for_code() -> None:
    code = ("import re\nfrom shoal.platform.cpu import ClusterCPU\n"
            "def vm():\n    return int(re.search(r'VmSize:\\s+(\\d+)',\n"
            "                         open('/proc/self/status').read())[1])\n"
            "a = vm()\ncpus = [ClusterCPU(2 << 20) for _ in range(8)]\n"
            "print(cpus[0].uc.ctl_get_tcg_buffer_size(), (vm() - a) // 8 // 1024)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    size, per_cpu_mib = (int(v) for v in res.stdout.split())
    assert size == 32 << 20 and per_cpu_mib < 64, (size, per_cpu_mib, res.stderr.decode())


def test_a_host_out_of_memory_stops_the_run_in_one_line() -> None:
    """600 MiB of remote memory (the host keeps it; io_memory allows 1 GiB) under a 700 MiB
    `ulimit -v`: one line and exit 1. Before: the MemoryError of the TLB fill hook was lost
    behind the emulator's status, the guest was killed for an "unhandled CPU exception" it
    never caused, and a second MemoryError gave a traceback."""
    prog = str(PROGRAMS / "touch_mb.c")
    res = subprocess.run([sys.executable, "-m", "shoal", "run", prog, "600"], capture_output=True,
                         timeout=600, preexec_fn=_limited(700 << 20))
    assert (res.returncode, res.stdout) == (1, b""), res.stderr.decode()[-3000:]
    assert res.stderr == b"shoal: the host ran out of memory (its ulimit -v, or RAM); the run is stopped\n"


def test_a_fork_bombs_children_killed_together_are_one_line() -> None:
    """40 children that wait for ever, left when their parent ends: killed as deadlocked, said
    in one line (before: 40 lines); three or fewer keep a line each."""
    prog = str(PROGRAMS / "fork_many.c")
    res = subprocess.run([sys.executable, "-m", "shoal", "run", "--chip", "tiny", prog, "40"],
                         capture_output=True, timeout=300)
    assert (res.returncode, res.stdout) == (0, b"forked 40\n"), res.stderr.decode()[-2000:]
    assert res.stderr.decode().splitlines() == [
        "shoal: fork_many (40 processes: pids 3, 4, 5 and 37 more) killed: deadlock (every thread is "
        "blocked and nothing can wake it)"]
    res = subprocess.run([sys.executable, "-m", "shoal", "run", "--chip", "tiny", prog, "2"],
                         capture_output=True, timeout=300)
    assert res.returncode == 0 and [ln.split(")")[0] for ln in res.stderr.decode().splitlines()] == [
        "shoal: fork_many (pid 3", "shoal: fork_many (pid 4"]

"""The MPI backend (shoal/engine/mpi.py): `shoal run --ranks N` gives byte for byte what the
in-process backend gives (output, exit code, simulated figures of --stats, migration records)
on 1, 2 and 3 ranks, for programs that compute, talk, spawn and migrate across ranks; a rank
that dies, or no mpiexec, gives one line and a non-zero exit, never a hang."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, Programs, assert_one_line_error, shoal_cli

pytest.importorskip("mpi4py", reason="the MPI backend needs mpi4py (pip install -e '.[mpi]'; CI installs it)")

PROGS = Path(__file__).parent / "programs"
RING = str(PROGS / "mig_ring.c")
THREADS = str(PROGS / "mig_threads.c")


def _simulated(err: bytes) -> str:
    """--stats without its host figures (wall time, a migration's host milliseconds)."""
    text = err.decode()
    text = re.sub(r"  host wall time : .*\n", "", text)
    return re.sub(r"; host [0-9.]+ ms", "", text)


def _same(args: list[str], ranks: list[int]) -> None:
    base = shoal_cli("run", *args, timeout=120)
    assert base.returncode == 0, base.stderr.decode()
    for n in ranks:
        got = shoal_cli("run", "--ranks", str(n), *args, timeout=120)
        assert got.returncode == base.returncode, (n, got.stderr.decode())
        assert got.stdout == base.stdout, n
        assert _simulated(got.stderr) == _simulated(base.stderr), n


def test_ring_spawns_talks_and_migrates_across_ranks() -> None:
    # mppa256's 16 clusters: 2 ranks hold 0-7 and 8-15, 3 ranks 0-4, 5-9 and 10-15. The ring's
    # first process moves from cluster 0 (rank 0) to cluster 8 (rank 1) and back while tokens go
    # round six processes spawned on clusters 1-5 (on two ranks when there are 3).
    _same(["--stats", "--file", RING, "--migrate", "0.6ms:8", "--migrate", "1.2ms:0",
           RING, "ring", "R", "6", "20"], [1, 2, 3])


def test_threads_migrate_round_every_cluster_across_ranks() -> None:
    # Guest-initiated moves through all 16 clusters and home, 8 threads computing on 1 MiB.
    _same(["--stats", THREADS, "16"], [2, 3])


def test_policy_daemon_on_rank_0_moves_a_process_off_an_evacuated_cluster() -> None:
    # tiny's 4 clusters on 2 or 3 ranks: the policy daemon (rank 0) drains cluster 0 at 1 ms; the
    # process goes to cluster 1 (on rank 1 of 3).
    pol = str(Path(__file__).parent.parent / "shoal" / "experiments" / "programs" / "pol_work.c")
    _same(["--chip", "tiny", "--stats", "--evacuate", "1ms:0", pol, "4", "300000", "3"], [2, 3])


def test_exit_code_of_the_program(programs: Programs) -> None:
    b = programs["args"]
    res = shoal_cli("run", "--ranks", "2", "--chip", "tiny", str(b.elf), "42", timeout=60)
    assert res.returncode == 42 and b"argv[1] (2) [42]\n" in res.stdout


def test_a_dead_rank_stops_the_run_with_one_line() -> None:
    env = {"SHOAL_MPI_TEST_DIE": "1:20"}
    import os
    import sys
    res = subprocess.run([sys.executable, "-m", "shoal", "run", "--ranks", "2", THREADS, "16"],
                         capture_output=True, env=dict(os.environ, **env), timeout=60)
    assert res.stdout == b""
    err = assert_one_line_error(res)
    assert "a rank ended abnormally" in err


def test_a_hung_rank_stops_the_run_with_one_line_after_the_timeout() -> None:
    import os
    import sys
    env = dict(os.environ, SHOAL_MPI_TEST_DIE="1:20:stop", SHOAL_MPI_TIMEOUT="2")
    res = subprocess.run([sys.executable, "-m", "shoal", "run", "--ranks", "2", THREADS, "16"],
                         capture_output=True, env=env, timeout=60)
    assert res.stdout == b""
    err = assert_one_line_error(res)
    assert "MPI rank 1 did not answer within 2 s" in err


def test_no_mpiexec_and_one_process_options_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_MPIEXEC", "/nonexistent/mpiexec")
    err = assert_one_line_error(shoal_cli("run", "--ranks", "2", THREADS, timeout=60))
    assert "mpiexec" in err
    monkeypatch.delenv("SHOAL_MPIEXEC")
    err = assert_one_line_error(shoal_cli("run", "--ranks", "2", "--trace", "t.json", THREADS, timeout=60))
    assert "--trace" in err
    err = assert_one_line_error(shoal_cli("run", "--ranks", "17", THREADS, timeout=60))
    assert "--ranks 17: from 1 to the chip's 16 compute clusters" in err


def test_a_users_own_mpiexec_joins_as_it_is(programs: Programs) -> None:
    import os
    import sys

    from shoal.engine.mpi import mpiexec
    b = programs["args"]
    cmd = ["-n", "2", sys.executable, "-m", "shoal", "run", "--backend", "mpi", "--chip", "tiny",
           str(b.elf), "7"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_MPI")}
    res = subprocess.run([mpiexec(), *cmd], capture_output=True, env=env, timeout=60)
    base = shoal_cli("run", "--chip", "tiny", str(b.elf), "7")
    assert (res.returncode, res.stdout, res.stderr) == (7, base.stdout, base.stderr)


API = '''
import os, sys
if os.environ.get("SHOAL_BACKEND") == "mpi":
    from shoal.engine.mpi import join
    join()  # ranks other than 0 serve rank 0's chips and end here
from shoal import Chip
chip = Chip.preset("mppa256")
p = chip.spawn(sys.argv[1], ["mig_threads", "3"], cluster=9)
chip.run(max_cycles=2_000_000)
img = p.checkpoint(stop=True)
chip.run()
other = Chip.preset("mppa256")
q = other.restore(img, cluster=14)
other.run()
print(q.returncode, q.stdout, q.stderr, q.cycles, q.instructions, other.time, other.noc_stats(),
      [(m.src, m.dst, m.downtime, m.bytes) for m in chip.migrations + other.migrations])
'''


def test_python_api_checkpoint_and_restore_on_ranks(tmp_path: Path) -> None:
    # A checkpoint on cluster 9 (rank 1 of 3) restored on cluster 14 (rank 2) of a second chip
    # on the same ranks, then moved by the guest to clusters 1, 2, 3 (rank 0).
    import os
    import sys

    from shoal.engine.mpi import mpiexec
    script = tmp_path / "api.py"
    script.write_text(API)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_MPI") and k != "SHOAL_BACKEND"}
    base = subprocess.run([sys.executable, str(script), THREADS], capture_output=True, env=env, timeout=60)
    assert base.returncode == 0, base.stderr.decode()
    got = subprocess.run([mpiexec(), "-n", "3", sys.executable, str(script), THREADS], capture_output=True,
                         env=dict(env, SHOAL_BACKEND="mpi"), timeout=60)
    assert (got.returncode, got.stdout, got.stderr) == (0, base.stdout, base.stderr)


def test_stdin_reaches_rank_0() -> None:
    # 200 KB: mpiexec's own forwarding of stdin stops at about half of that.
    data = b"".join(b"line %d of the input\n" % i for i in range(10000))
    prog = str(PROGS / "stdin.c")
    base = shoal_cli("run", "--chip", "tiny", prog, stdin=data)
    got = shoal_cli("run", "--ranks", "2", "--chip", "tiny", prog, stdin=data, timeout=60)
    assert (got.returncode, got.stdout, got.stderr) == (base.returncode, base.stdout, base.stderr)
    assert b"lines 10000" in got.stdout


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    import os
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                for c in f.read().split():
                    out += [int(c), *_descendants(int(c))]
    except OSError:
        pass
    return out


def test_sigint_to_the_shoal_process_alone_stops_every_rank_with_130() -> None:
    """As without --ranks: a SIGINT sent to `shoal` (not to its process group) stops the run
    at once with 130, and no rank is left behind."""
    import os
    import signal
    import sys
    import time
    # 4e12 instructions: far longer than the test waits, however fast the host (a plain loop
    # of 4e9 ended within the wait once shoal's hot modules were compiled)
    spin = str(PROGRAMS / "syscall_spin.c")
    p = subprocess.Popen([sys.executable, "-m", "shoal", "run", "--ranks", "2", "--chip", "tiny",
                          spin, "1000000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        kids: list[int] = []
        while time.monotonic() < deadline:  # both ranks up (mpiexec, its proxy, 2 ranks)
            kids = _descendants(p.pid)
            if len(kids) >= 4:
                break
            time.sleep(0.1)
        time.sleep(1.5)  # the ranks past their start-up, the chip running
        assert p.poll() is None and len(kids) >= 4, kids
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 130 and time.monotonic() - t0 < 15, (p.returncode, err)
    assert err.decode().strip().splitlines()[-1] == "shoal: interrupted" and out in (b"", b"ready\n")
    time.sleep(0.5)
    assert not [k for k in kids if os.path.exists(f"/proc/{k}") and
                open(f"/proc/{k}/stat").read().split()[2] != "Z"]

"""Placement at start (issue 24): with policies on, a spawn to a cluster with no room for it
starts where there is room, so the issue's launcher ends near the round-robin placement;
decisions are deterministic whatever the engine's window and the MPI rank count; nothing
bounces; a spawn with nowhere to go still gets EAGAIN."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import NATIVE_FLAGS, PROGRAMS, SHOAL_FLAGS
from test_policy import no_bounce

from shoal import Chip
from shoal.experiments import benchplace as bpl
from shoal.experiments import benchpolicy as bp
from shoal.spec import ChipSpec
from shoal.toolchain import compile_cached


def native_work(argvs: list[list[str]], tmp: object) -> list[bytes]:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("the host C compiler gcc is needed to compute expected outputs")
    exe = tmp / "pol_work"  # type: ignore[operator]
    res = subprocess.run([gcc, *NATIVE_FLAGS, str(bp.PROGRAMS / "pol_work.c"), "-o", str(exe)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return [subprocess.run(a, executable=str(exe), capture_output=True, check=True).stdout for a in argvs]


def test_the_launcher_with_balance_ends_within_1_3x_of_round_robin(tmp_path: object) -> None:
    """The issue's launcher (32 four-threaded workers of uneven length spawned one after the
    other on its own cluster, mppa256 with 2 MiB clusters). 1.3x of the round robin, as the
    issue asks: placement can only learn a program's shape (4 threads) from the first report
    that shows it, so the first few workers share the launcher's cluster, and each spawn
    costs the NoC trip of the program's image, as round robin's do."""
    want = native_work([a for _, a in bpl.launcher_want()], tmp_path)
    none = bpl.launcher_run(None, "here")
    got = bpl.launcher_run("balance", "here")
    rr = bpl.launcher_run(None, "rr")
    for r in (none, got, rr):
        assert r["outputs"] == want and set(r["codes"]) == {0}
        assert r["output"] == b"launched 32 workers, 0 failed\n"
    assert got["makespan"] <= 1.3 * rr["makespan"], (got["makespan"], rr["makespan"])
    assert none["makespan"] >= 3 * rr["makespan"]  # what placement saves
    chip = got["chip"]
    born = [got["born"].get(r.pid, r.cluster) for r in chip.processes() if r.name.startswith("pol_work")]
    # The first few before a report shows the workers' 4 threads, later ones as room frees there.
    assert born.count(0) <= 6 and len(set(born)) == chip.spec.compute_clusters, born
    assert got["moves"] <= 3  # placed before they ran: (almost) no migration
    no_bounce(chip)


def test_placement_is_deterministic_whatever_the_window() -> None:
    base = ChipSpec.load("mppa256")
    runs = []
    for window in (base.engine.window_cycles, 37_000):
        spec = base.replace(window_cycles=window)
        r = bpl.launcher_run("balance", "here", n=12, spec=spec)
        chip = r["chip"]
        runs.append((r["makespan"], sorted((p.pid, p.cluster, p.end_cycle) for p in chip.processes()),
                     [(m.pid, m.src, m.dst, m.requested) for m in chip.migrations], r["outputs"]))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("n", [3, 8])
def test_mpirun_placed_by_load_is_deterministic_and_right(n: int) -> None:
    runs = []
    for window in (None, 53_000):
        r = bpl.mpi_run("balance", 0, n=n, iters=20_000, window=window)
        chip = r["chip"]
        assert r["failed"] is None and r["output"].startswith(f"ranks {n} sum ".encode())
        runs.append((r["makespan"], r["output"], sorted((p.pid, p.cluster) for p in chip.processes()),
                     [(m.pid, m.dst) for m in chip.migrations]))
        no_bounce(chip)
    assert runs[0] == runs[1]
    one = bpl.mpi_run(None, n, n=n, iters=20_000)  # all on one cluster: the same sum
    assert one["output"] == runs[0][1]
    # Four-threaded ranks: at most 4 a cluster (16 harts), none moved.
    where = [c for _, c in runs[0][2]]
    assert max(where.count(c) for c in set(where)) <= 4 and not runs[0][3]


def test_mpirun_ppc_0_without_a_policy_spreads_by_count_and_bad_ppc_is_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    from shoal import ShoalError
    from shoal.cli import main
    chip = Chip.preset("tiny")
    ranks = chip.mpirun(bp.program("pol_mpi"), 6, ["pol_mpi", "1", "1000"], ppc=0)
    assert [r.cluster for r in chip.processes()] == [0, 1, 2, 3, 0, 1]
    with pytest.raises(ShoalError, match="bad ranks per cluster -1"):
        chip.mpirun(bp.program("pol_mpi"), 2, ppc=-1)
    assert len(ranks) == 6
    assert main(["mpirun", "-n", "2", "--ppc", "-1", "--chip", "tiny", str(bp.program("pol_mpi"))]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ranks per cluster" in err[0] and "Traceback" not in err[0]


def test_a_spawn_with_no_room_anywhere_stays_or_gets_eagain() -> None:
    """With balance on: every cluster full, a named cluster keeps the process (the caller's
    choice stands); every cluster evacuated, -EAGAIN as before."""
    args = compile_cached([PROGRAMS / "args.c"], SHOAL_FLAGS)
    nowhere = compile_cached([PROGRAMS / "spawn_nowhere.c"], SHOAL_FLAGS)
    chip = Chip.preset("tiny", policy="balance")
    chip.add_file("args", args.read_bytes())
    p = chip.spawn(nowhere, ["spawn_nowhere", "args"], cluster=0)
    for c in range(chip.spec.compute_clusters):
        chip.evacuate(c)
    chip.run()
    assert p.stdout == b"any -11 one -11 eagain -11\ndone on cluster 0\n"
    spec = ChipSpec.load("tiny")
    chip = Chip(spec, policy="balance")
    chip.add_file("args", args.read_bytes())
    cores = str(spec.cluster.cores_per_cluster)
    hogs = [chip.spawn(bp.program("pol_work"), ["pol_work", cores, "300000", str(c)], cluster=c)
            for c in range(spec.compute_clusters)]
    p = chip.spawn(nowhere, ["spawn_nowhere", "args"], cluster=0)
    chip.run()
    assert p.returncode == 0 and all(h.returncode == 0 for h in hogs)
    kids = [r for r in chip.processes() if r.name == "args"]
    assert len(kids) == 2 and kids[1].cluster == 1, [(k.pid, k.cluster) for k in kids]  # named: kept


def test_placement_is_the_same_over_mpi_ranks(tmp_path: Path) -> None:
    """The launcher with `balance` gives the same outputs, moves and figures on one host process
    as over two MPI ranks (the engine's MPI backend, `--ranks 2`)."""
    pytest.importorskip("mpi4py", reason="the MPI backend needs mpi4py")
    import shutil

    from conftest import shoal_cli
    work = tmp_path / "pol_work"
    shutil.copy(bpl.program("pol_work"), work)
    outs = []
    for ranks in ("1", "2"):
        res = shoal_cli("run", "--policy", "balance", "--ranks", ranks, "--stats", "--file", str(work),
                        str(bpl.program("pol_launch")), "12", "4", "100000", "here", timeout=300)
        assert res.returncode == 0, res.stderr
        sim = [line for line in (res.stdout + res.stderr).decode().splitlines()
               if not any(w in line for w in ("wall", "host", "cpu  "))]
        assert any(line.startswith("work 0: ") for line in sim)
        outs.append(sim)
    assert outs[0] == outs[1]


def test_forks_of_a_full_cluster_are_placed_by_load(tmp_path: Path) -> None:
    """With a policy on, a fork from a cluster whose harts are all busy places the child on
    another cluster (by load); without one it stays. The children's results are the host's."""
    import subprocess

    from shoal import Chip
    from shoal.toolchain import compile_cached
    src = PROGRAMS / "fork_spread.c"
    exe = tmp_path / "fork_spread"
    subprocess.run(["gcc", *NATIVE_FLAGS, str(src), "-o", str(exe)], check=True)
    want = subprocess.run([str(exe), "50000"], capture_output=True, check=True, timeout=120).stdout
    elf = compile_cached([src], SHOAL_FLAGS + ["-pthread"])
    where = {}
    for policy in (None, "balance"):
        c = Chip.preset("mppa256", policy=policy)
        p = c.spawn(elf, ["fork_spread", "50000"], cluster=0)
        c.run()
        assert p.stdout == want and p.exit_code == 0, p.message
        where[policy] = sorted(r.cluster for r in c.processes() if r.pid != p.pid)
    assert where[None] == [0, 0, 0, 0]
    assert all(cl != 0 for cl in where["balance"]), where


def _roomless(holds: list[tuple[int, str]]) -> tuple[object, Chip]:
    """tests/programs/fork_roomless.c: `holds` (cluster, KiB) keep memory busy; a 600 KiB
    parent on cluster 0 of tiny (1 MiB clusters) forks, so its child goes elsewhere."""
    elf = compile_cached([PROGRAMS / "fork_roomless.c"], SHOAL_FLAGS)
    c = Chip.preset("tiny")
    for cluster, kib in holds:
        c.spawn(elf, ["fork_roomless", "hold", kib, "200"], cluster=cluster)
    p = c.spawn(elf, ["fork_roomless", "fork", "600"], cluster=0)
    c.run()
    return p, c


def test_a_fork_refused_by_the_cluster_chosen_goes_to_another(tmp_path: Path) -> None:
    """The process manager places a fork's child on the cluster with the fewest processes,
    here cluster 1, whose one process holds 800 KiB: the child does not fit there. That
    cluster's -ENOMEM used to be the fork's answer, with two clusters to spare; now the
    next is tried (the child lands on 2 and prints what the native build does)."""
    native = tmp_path / "fork_roomless"
    subprocess.run([shutil.which("gcc") or "gcc", *NATIVE_FLAGS, str(PROGRAMS / "fork_roomless.c"), "-o",
                    str(native)], check=True)
    want = subprocess.run([native, "fork", "600"], capture_output=True, check=True).stdout
    p, c = _roomless([(1, "800"), (2, "16"), (2, "16"), (3, "16"), (3, "16")])
    assert p.returncode == 0 and p.stdout == want, p.stdout
    child = [r for r in c.processes() if r.pid == max(x.pid for x in c.processes())]
    assert [r.cluster for r in child] == [2]


def test_a_fork_with_no_room_on_any_cluster_is_enomem() -> None:
    p, c = _roomless([(1, "800"), (2, "800"), (3, "800")])
    assert p.returncode == 1 and p.stdout == b"fork: -1 Out of memory\n"

"""Shared memory (kernel/shm.py): POSIX shm_open + mmap(MAP_SHARED) between processes on one
cluster and across clusters, pages kept coherent over the NoC; a counter under a named
semaphore comes out exact, also with a process moved by each migration method."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, Programs, assert_no_frame_leak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal import Chip
from shoal.toolchain import compile_cached

COUNT = PROGRAMS / "shm_count.c"


def elf(src: Path) -> Path:
    return compile_cached([src], SHOAL_FLAGS)


def expected(rounds: dict[int, int]) -> bytes:
    total = sum(rounds.values())
    return (f"counter {total}:" + "".join(f" {i} x{n}" for i, n in sorted(rounds.items())) + "\n").encode()


@pytest.mark.parametrize("method", [None, "stopcopy", "precopy", "postcopy", "hybrid"])
def test_a_counter_in_shared_memory_across_clusters_is_exact(method: str | None) -> None:
    """Four processes on three clusters (two share cluster 5: the same frame) add to one
    counter under a named semaphore; one of them may move mid-run."""
    c = Chip.preset("mppa256")
    places = {1: 0, 2: 5, 3: 5, 4: 10}
    ps = {i: c.spawn(elf(COUNT), ["shm_count", "add", str(i), "150"], cluster=cl) for i, cl in places.items()}
    if method is not None:
        c.schedule_migration(ps[1].pid, 7, 2_000_000, method)
    c.run()
    for i, p in ps.items():
        assert p.stdout == f"process {i} added 150\n".encode() and p.returncode == 0, p.message
    if method is not None:
        assert ps[1].migrations[0].state == "done" and ps[1].cluster == 7
        assert ps[1].migrations[0].requested < ps[1].record.end_cycle  # moved mid-run
    assert sum(p.record.shm_faults for p in ps.values()) > 10  # the page went to and fro
    show = c.spawn(elf(COUNT), ["shm_count", "show"], cluster=3)
    c.run()
    assert show.stdout == expected({i: 150 for i in places})
    assert_no_frame_leak(c)  # every cluster gave its shared pages back


def test_many_readers_share_read_copies() -> None:
    """Three clusters read the same pages at once: each gets read copies once (one writer or
    many readers), instead of taking the pages from one another at every access."""
    c = Chip.preset("mppa256")
    w = c.spawn(elf(COUNT), ["shm_count", "add", "7", "100"], cluster=0)
    c.run()
    assert w.returncode == 0
    readers = [c.spawn(elf(COUNT), ["shm_count", "read", "20"], cluster=cl) for cl in (1, 2, 3)]
    c.run()
    want = 20 * 7 * 100  # the log holds 100 bytes of 7, the rest zeros
    for r in readers:
        assert r.stdout == f"read {want}\n".encode() and r.returncode == 0
        assert r.record.shm_faults <= 8 + 2  # about one fault per page of the object (8)
    show = c.spawn(elf(COUNT), ["shm_count", "show"], cluster=4)
    c.run()
    assert show.stdout == expected({7: 100})
    assert_no_frame_leak(c)


def test_the_same_counter_natively(tmp_path: Path) -> None:
    """The C program itself is right: the same counts on the host, processes in parallel."""
    exe = tmp_path / "shm_count"
    res = subprocess.run(["gcc", "-O2", "-pthread", str(COUNT), "-o", str(exe)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    subprocess.run([str(exe), "show"], capture_output=True)  # unlink what an earlier run left
    procs = [subprocess.Popen([str(exe), "add", str(i), "150"], stdout=subprocess.PIPE) for i in (1, 2, 3, 4)]
    for p in procs:
        assert p.wait(timeout=60) == 0
    out = subprocess.run([str(exe), "show"], capture_output=True, check=True).stdout
    assert out == expected({1: 150, 2: 150, 3: 150, 4: 150})


def test_error_paths_are_linux_errnos(tmp_path: Path) -> None:
    src = PROGRAMS / "shm_errors.c"
    exe = tmp_path / "shm_errors"
    res = subprocess.run(["gcc", "-O2", str(src), "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    want = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    c = Chip.preset("tiny")
    p = c.spawn(elf(src), ["shm_errors"], cluster=1)
    c.run()
    assert p.stdout == want and p.returncode == 0
    assert b"EACCES" in want and b"EEXIST" in want and b"ENOENT" in want
    assert_no_frame_leak(c)


def test_a_checkpoint_of_a_process_mapping_shared_memory_does_not_restore(tmp_path: Path) -> None:
    from shoal import ShoalError

    c = Chip.preset("mppa256")
    p = c.spawn(elf(COUNT), ["shm_count", "add", "1", "4000"])
    c.run(max_cycles=2_000_000)
    img = tmp_path / "p.img"
    p.checkpoint(img)
    with pytest.raises(ShoalError, match="shared memory"):
        Chip.preset("mppa256").restore(img, cluster=0)
    c.run()
    assert p.returncode == 0


# --- shared pages and migration (issue 19) ------------------------------------------------------
ATOMIC = PROGRAMS / "shm_atomic.c"
METHODS = ["stopcopy", "precopy", "postcopy", "hybrid"]
N_ADDS = 20000  # per worker: about 1.5 ms of simulated time for the eight


def native_counter(tmp_path: Path, workers: int, n: int) -> bytes:
    """The launcher and its workers on the host (fork + exec, one real shared page)."""
    exe = tmp_path / "shm_atomic"
    res = subprocess.run(["gcc", "-O2", str(ATOMIC), "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    name = f"/shoal_atomic_{tmp_path.name}"
    return subprocess.run([str(exe), "run", str(workers), str(n), name], capture_output=True, check=True,
                          timeout=60).stdout


def atomic_chip(workers: int, n: int, **chip: object) -> tuple[Chip, object]:
    c = Chip.preset("tiny", **chip)
    c.add_file("shm_atomic", elf(ATOMIC).read_bytes())
    launcher = c.spawn(elf(ATOMIC), ["shm_atomic", "run", str(workers), str(n), "/atomic"], cluster=0)
    return c, launcher


def assert_all_ended_well(c: Chip, launcher: object, want: bytes) -> None:
    assert launcher.stdout == want, (launcher.stdout, launcher.message)  # type: ignore[attr-defined]
    for r in c.processes():
        assert r.state == "exited" and r.exit_code == 0, (r.pid, r.state, r.message)
    assert_no_frame_leak(c)


def test_atomic_counter_moved_by_the_python_api(tmp_path: Path) -> None:
    """Eight processes add to one shared page with atomics while every one of them is moved
    again and again, by every method (scheduled and at once): the count is exact, nobody is
    killed. (Before: all nine killed as deadlocked, or the host's ValueError.)"""
    want = native_counter(tmp_path, 8, N_ADDS)
    assert want == b"counter 160000, 0 workers failed, slots" + b" 20000" * 8 + b"\n"
    c, launcher = atomic_chip(8, N_ADDS)
    c.run(max_cycles=250_000)  # (the launcher spawns one worker every ~25k cycles)
    workers = [r.pid for r in c.processes() if r.pid != launcher.pid]
    assert len(workers) == 8
    for i, pid in enumerate(workers):
        for j in range(3):
            c.schedule_migration(pid, (i + j + 1) % 4, c.time + 50_000 + j * 150_000 + i * 17_000,
                                 METHODS[(i + j) % 4])
    c.run(max_cycles=100_000)
    for pid in workers[:4]:  # and some at once, through p.migrate's path
        if c._record(pid).state == "running":
            c.migrate(pid, (c._record(pid).cluster + 2) % 4)
    c.run()
    moved = [m for m in c.migrations if m.state == "done" and m.src != m.dst]
    assert len(moved) >= 12, [(m.pid, m.state, m.reason) for m in c.migrations]
    assert_all_ended_well(c, launcher, want)


def test_atomic_counter_moved_by_a_user_policy(tmp_path: Path) -> None:
    """A policy that moves every worker one cluster on at each report (--policy FILE.py)."""
    pol = tmp_path / "hop.py"
    pol.write_text("from shoal.daemons.policies import Move, Policy\n\n\n"
                   "class Hop(Policy):\n    name = 'hop'\n\n"
                   "    def on_report(self, report, view):\n"
                   "        return [Move(p.pid, (p.cluster + 1) % len(view.clusters), why='hop')\n"
                   "                for p in report.procs if p.pid != 1 and not p.moving]\n")
    want = native_counter(tmp_path, 8, N_ADDS)
    c, launcher = atomic_chip(8, N_ADDS, policy=f"{pol}:Hop", policy_period_us=100)
    c.run()
    assert sum(1 for m in c.migrations if m.state == "done" and m.src != m.dst) >= 8
    assert_all_ended_well(c, launcher, want)


def test_atomic_counter_while_clusters_are_evacuated(tmp_path: Path) -> None:
    """Evacuating three clusters of four under the same load ends, and the count is exact."""
    want = native_counter(tmp_path, 8, N_ADDS)
    c, launcher = atomic_chip(8, N_ADDS)
    for cl in (1, 2, 3):
        c.evacuate(cl, at=250_000)
    c.run(max_cycles=400_000_000)
    assert launcher.returncode == 0, launcher.message
    assert all(r.cluster == 0 for r in c.processes())
    assert_all_ended_well(c, launcher, want)


# --- past the end of the object: SIGBUS, EFAULT (issue 19) -------------------------------------------
BUS = PROGRAMS / "shm_bus.c"


def native(tmp_path: Path, src: Path) -> Path:
    exe = tmp_path / src.stem
    res = subprocess.run(["gcc", "-O2", str(src), "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return exe


@pytest.mark.parametrize("mode", ["store", "load", "atomic", "trunc", "syscall", "regrow"])
def test_shared_memory_past_the_end_of_the_object(tmp_path: Path, mode: str) -> None:
    """A 16 KiB mapping of a 4 KiB object: a load, store or atomic past the end is SIGBUS
    (exit 135, one kill line), also after ftruncate(0); a system call's buffer there is EFAULT,
    as on Linux (the host's build run beside it)."""
    res = subprocess.run([str(native(tmp_path, BUS)), mode, f"/shoal_bus_{tmp_path.name}"], cwd=tmp_path,
                         capture_output=True, timeout=60)
    want_rc = 128 - res.returncode if res.returncode < 0 else res.returncode
    assert want_rc == (0 if mode in ("syscall", "regrow") else 135)
    c = Chip.preset("tiny")
    p = c.spawn(elf(BUS), ["shm_bus", mode, "/bus"], cluster=2)
    c.run()
    assert p.stdout == res.stdout
    assert (128 + p.signal if p.signal else p.returncode) == want_rc, p.message
    if want_rc == 135:
        assert "bus error" in p.message and "beyond the end of a shared memory object" in p.message
    assert_no_frame_leak(c)
    assert c._backend.daemons("stats")["shm_objects"] == 0  # unlinked, ended: gone


def test_a_truncation_reaches_every_cluster(tmp_path: Path) -> None:
    """Three processes on three clusters share page 1 of an 8 KiB object: one wrote it (and
    holds it), one reads and writes it through system calls (write, read), one cuts the object
    to 4 KiB; the first then loads from page 1: SIGBUS, and a write() from there is EFAULT."""
    exe = native(tmp_path, BUS)
    name = f"/shoal_cut_{tmp_path.name}"
    holder = subprocess.Popen([str(exe), "holder", name, "600000"], stdout=subprocess.PIPE, cwd=tmp_path)
    import time
    time.sleep(0.1)
    peek = subprocess.run([str(exe), "peek", name, "100000"], capture_output=True, cwd=tmp_path, timeout=60)
    cut = subprocess.run([str(exe), "cutter", name, "100000"], capture_output=True, cwd=tmp_path, timeout=60)
    out, _ = holder.communicate(timeout=60)
    assert holder.returncode == -7 and peek.returncode == 0 and cut.returncode == 0
    c = Chip.preset("tiny")
    h = c.spawn(elf(BUS), ["shm_bus", "holder", "/cut", "600"], cluster=1)
    c.run(max_cycles=40_000)
    pk = c.spawn(elf(BUS), ["shm_bus", "peek", "/cut", "100"], cluster=2)
    ct = c.spawn(elf(BUS), ["shm_bus", "cutter", "/cut", "300"], cluster=3)
    c.run()
    assert (h.stdout, pk.stdout, ct.stdout) == (out, peek.stdout, cut.stdout)
    assert h.signal == 7 and pk.returncode == 0 and ct.returncode == 0, (h.message, pk.message, ct.message)
    assert_no_frame_leak(c)


# --- bounded host resources (issue 19) ----------------------------------------------------------------
CHURN = PROGRAMS / "shm_churn.c"


def test_unlinked_unused_objects_are_freed(tmp_path: Path) -> None:
    """300 objects of 16 touched pages each (19 MB, more than the chip's 16 MiB io_memory),
    each unmapped, closed and unlinked in turn: each goes (POSIX), so all fit; nothing left."""
    exe = native(tmp_path, CHURN)
    want = subprocess.run([str(exe), "objects", "300"], capture_output=True, timeout=60).stdout
    c = Chip.preset("tiny")
    p = c.spawn(elf(CHURN), ["shm_churn", "objects", "300"], cluster=1)
    c.run()
    assert p.stdout == want == b"objects: 300 made and freed\n" and p.returncode == 0, p.message
    stats = c._backend.daemons("stats")
    assert stats["shm_objects"] == 0 and stats["shm_bytes"] == 0
    assert_no_frame_leak(c)


def test_an_unlinked_object_lives_while_mapped_elsewhere() -> None:
    """Unlinked by the show process while others still map it (shm_count): the pages stay
    until the last process that maps it ends, then go."""
    c = Chip.preset("tiny")
    w = c.spawn(elf(COUNT), ["shm_count", "add", "3", "40"], cluster=1)
    c.run()
    assert w.returncode == 0
    assert c._backend.daemons("stats")["shm_objects"] == 1  # linked: kept with no process
    show = c.spawn(elf(COUNT), ["shm_count", "show"], cluster=2)
    c.run()
    assert show.stdout == expected({3: 40})
    assert c._backend.daemons("stats")["shm_objects"] == 0


def test_shm_names_and_io_memory_are_bounded() -> None:
    """At most ipc_max_names objects (ENOSPC, as a tmpfs out of inodes); pages count against
    io_memory when first touched: past it, SIGBUS (as a full tmpfs); unlinking gives room."""
    from shoal.spec import ChipSpec

    c = Chip.preset("tiny")
    p = c.spawn(elf(CHURN), ["shm_churn", "names", "400"], cluster=1)
    c.run()
    assert p.stdout == b"names: 256 made, then No space left on device\n", p.stdout
    assert c._backend.daemons("stats")["shm_objects"] == 0
    spec = ChipSpec.load("tiny").replace(io_memory=1 << 20)  # 256 pages
    c = Chip(spec)
    a = c.spawn(elf(CHURN), ["shm_churn", "fill", "200", "/a"], cluster=1)
    c.run()
    b = c.spawn(elf(CHURN), ["shm_churn", "fill", "200", "/b"], cluster=2)
    c.run()
    assert a.stdout.endswith(b"fill: all 200 pages\n") and a.returncode == 0
    assert b.stdout == b"fill: 50 pages\n" and b.signal == 7, b.message  # page 57 does not fit
    assert "bus error" in b.message
    rm = c.spawn(elf(CHURN), ["shm_churn", "unlink", "/a"], cluster=3)
    c.run()
    again = c.spawn(elf(CHURN), ["shm_churn", "fill", "200", "/c"], cluster=1)
    c.run()
    assert rm.stdout == b"unlink: 0\n" and again.returncode == 0, again.message
    assert c._backend.daemons("stats")["shm_bytes"] == (56 + 200) * 4096  # /b's and /c's: all of it
    assert_no_frame_leak(c)


def test_named_semaphores_are_bounded() -> None:
    """Semaphores opened and unlinked without sem_close stay open: a process gets at most
    SEM_NSEMS_MAX (256, musl's) and then EMFILE, through the C library or the raw system call;
    unlinked ones still open count against ipc_max_names (ENOSPC for another process); and
    they all go when their process ends."""
    c = Chip.preset("tiny")
    lib = c.spawn(elf(CHURN), ["shm_churn", "sems", "300"], cluster=1)
    c.run()
    raw = c.spawn(elf(CHURN), ["shm_churn", "rawsems", "1000"], cluster=2)
    c.run()
    assert lib.stdout == b"sems: 256 opened, then No file descriptors available\n"
    assert raw.stdout == b"rawsems: 256 opened, then No file descriptors available\n"
    assert c._backend.daemons("stats")["ipc_objects"] == 0  # both ended: all gone
    holder = c.spawn(elf(CHURN), ["shm_churn", "sems", "200", "5000"], cluster=1)
    c.run(until=lambda: bool(holder.stdout))  # it holds its 200 (unlinked) for 5 ms
    other = c.spawn(elf(CHURN), ["shm_churn", "sems", "100"], cluster=2)
    c.run()
    assert holder.stdout == b"sems: 200 opened\n"
    assert other.stdout == b"sems: 56 opened, then No space left on device\n", other.stdout
    stats = c._backend.daemons("stats")
    assert stats["ipc_objects"] == 0 and stats["semaphores"] == 0


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(workers=st.integers(2, 8), n=st.integers(2000, 12000),
       moves=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 3), st.integers(0, 600_000),
                                st.sampled_from(METHODS)), min_size=1, max_size=10),
       hold=st.sampled_from([0, 500, 1000, 4000]))
def test_shared_increments_under_random_migrations(workers: int, n: int, moves: list, hold: int) -> None:
    """Property: whatever moves happen at whatever simulated times (and however long a
    cluster keeps a page it got), the page's final bytes are the host model's: the atomic
    counter is workers x n and each worker's own slot n; nobody is killed, no frame leaks."""
    from shoal.kernel import shm

    saved, shm.HOLD = shm.HOLD, hold
    try:
        c, launcher = atomic_chip(workers, n)
        c.run(max_cycles=30_000 * (workers + 1))  # (all spawned by then)
        pids = [r.pid for r in c.processes() if r.pid != launcher.pid]
        assert len(pids) == workers
        for w, dst, at, method in moves:
            c.schedule_migration(pids[w % workers], dst, c.time + at, method)
        c.run(max_cycles=40_000_000)  # (ample: a run takes at most ~2 M; a livelock stops here)
    finally:
        shm.HOLD = saved
    want = f"counter {workers * n}, 0 workers failed, slots{f' {n}' * workers}\n".encode()
    assert_all_ended_well(c, launcher, want)


@pytest.mark.parametrize("kib", ["0", "700"], ids=["same-cluster", "child-elsewhere"])
def test_a_private_mapping_of_an_object_is_copy_on_write(programs: Programs, kib: str) -> None:
    """mmap of a shm_open object with MAP_PRIVATE (ENODEV before: Open POSIX mmap/7-3, 7-4,
    fork/16-1): the object's pages until a store, then the process's own, through an
    O_RDONLY descriptor too, across a fork (the child on another cluster of tiny with 700
    KiB touched); a writable MAP_SHARED of an O_RDONLY one stays EACCES. As the host build."""
    from conftest import assert_same, run_native, run_shoal
    b = programs["shm_private"]
    p, c = run_shoal(b, ["shm_private", kib])
    assert_same(p, run_native(b, ["shm_private", kib]))
    assert b"after a private store: private 'mine', object 'page zero'" in p.stdout
    kids = [r.cluster for r in c.processes() if r.pid != p.pid]
    assert kids == ([0] if kib == "0" else [1]), kids
    stats = c.daemon_stats()
    assert stats["shm_objects"] == stats["shm_bytes"] == 0, stats
    assert_no_frame_leak(c)

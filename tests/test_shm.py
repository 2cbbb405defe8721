"""Shared memory (kernel/shm.py): POSIX shm_open + mmap(MAP_SHARED) between processes on one
cluster and across clusters, pages kept coherent over the NoC; a counter under a named
semaphore comes out exact, also with a process moved by each migration method."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak

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

"""Copy-on-write fork on one cluster (kernel/memory.py: share_into, _unshare): parent and
child share frames until one writes; every path that reads or moves pages keeps working.
tests/programs/cow.c, run on the chip and natively (host gcc): same output, same status."""

from __future__ import annotations

import pytest
from conftest import Built, Programs, assert_no_frame_leak, run_native

from shoal import Chip


def run(b: Built, argv: list[str], chip: str = "tiny") -> tuple[object, Chip]:
    c = Chip.preset(chip)
    c.add_file(b.native.name, b.elf.read_bytes())
    p = c.spawn(b.elf, [str(b.native), *argv], cluster=0)
    return p, c


def check(b: Built, p: object, c: Chip, argv: list[str]) -> None:
    c.run()
    native = run_native(b, [str(b.native), *argv])
    assert p.done and p.stdout == native.stdout, p.message  # type: ignore[attr-defined]
    assert p.returncode == native.returncode, p.message  # type: ignore[attr-defined]
    assert all(r.cluster == 0 for r in c.processes() if r.state != "running")  # forked here
    assert_no_frame_leak(c)


@pytest.mark.parametrize("mode", ["arrays", "chain", "exec", "protect"])
def test_as_native(programs: Programs, mode: str) -> None:
    b = programs["cow"]
    p, c = run(b, [mode])
    check(b, p, c, [mode])
    assert {r.cluster for r in c.processes()} == {0}


def test_stores_copy_shared_frames(programs: Programs) -> None:
    """arrays: the child writes 16 + 8 pages and a stack page, the parent 8 + 8: each a page
    copy (or, for the last to write a page, the frame taken as it is); the peak frames of each
    count the shared ones too."""
    b = programs["cow"]
    p, c = run(b, ["arrays"])
    check(b, p, c, ["arrays"])
    child = next(r for r in c.processes() if r.pid != p.pid)  # type: ignore[attr-defined]
    assert child.peak_frames > 32


def test_a_fork_uses_page_tables_not_page_copies(programs: Programs) -> None:
    """A 300 KiB heap forked: the cluster gives the child its page tables only (a full copy
    took as many frames as the parent has)."""
    b = programs["cow"]
    p, c = run(b, ["bigheap", "300"])
    while len(c.processes()) < 2:
        c.run(max_cycles=c.time + 20_000)
    before = c.clusters()[0].frames_free
    parent = next(r for r in c.processes() if r.pid == p.pid)  # type: ignore[attr-defined]
    child = next(r for r in c.processes() if r.pid != p.pid)  # type: ignore[attr-defined]
    assert child.cluster == 0
    used = c.spec.user_frames - before
    # Both map every page of the parent; the cluster holds them once, plus the child's tables.
    assert parent.peak_frames >= 75 and used < parent.peak_frames + 10
    assert used < 2 * parent.peak_frames - 60
    check(b, p, c, ["bigheap", "300"])


@pytest.mark.parametrize("method", ["stopcopy", "precopy", "postcopy"])
def test_shared_pages_survive_moves(programs: Programs, method: str) -> None:
    """A double fork, twice, leaves the parent and two grandchildren sharing pages: one
    grandchild moves mid-way, then the parent (each while sharing pages with the others), and
    each still sees only its own writes."""
    b = programs["cow"]
    p, c = run(b, ["pair"])
    pid = p.pid  # type: ignore[attr-defined]
    while len(c.processes()) < 4 or any(r.state == "running" for r in c.processes() if r.pid == pid + 1):
        c.run(max_cycles=c.time + 50_000)
    first = pid + 2  # the first grandchild
    shares = c._backend.kernels[0].frames.shares  # (white box: the moves are of shared pages)
    c.run(max_cycles=c.time + 2_000_000)
    assert shares
    c.migrate(first, 1, method=method)
    c.run(max_cycles=c.time + 2_000_000)
    assert shares
    c.migrate(pid, 2, method=method)
    c.run()
    assert not shares
    native = run_native(b, [str(b.native), "pair"])
    assert p.stdout == native.stdout and p.returncode == 0, p.message  # type: ignore[attr-defined]
    where = {r.pid: r.cluster for r in c.processes()}
    assert where == {pid: 2, pid + 1: 0, first: 1, pid + 3: 0}
    assert_no_frame_leak(c)


def test_fork_under_memory_pressure(programs: Programs) -> None:
    """Two copies of 512 KiB and 512 KiB more each do not fit a 1.75 MiB cluster: shared and
    copied pages go to remote memory and come back, and both see their own values."""
    b = programs["cow"]
    p, c = run(b, ["pressure", "512"], chip="mppa256")
    check(b, p, c, ["pressure", "512"])
    recs = c.processes()
    assert {r.cluster for r in recs} == {0}
    assert sum(r.evictions for r in recs) > 100


# --- the address space itself (kernel/memory.py) ------------------------------------------------
def test_shared_frames_copied_taken_evicted_and_freed() -> None:
    """share_into maps the same frames in both; a store copies a frame still shared and takes
    one its sharer has copied already; rights, images and evictions treat a shared page as
    the process's own; every frame comes back once both are gone."""
    from shoal.kernel.memory import (
        PAGE,
        PROT_READ,
        PROT_WRITE,
        PTE_COW,
        PTE_W,
        AddressSpace,
        Fault,
        FrameAllocator,
        Region,
    )

    mem = bytearray(64 * PAGE)
    frames = FrameAllocator(0, 64)
    a = AddressSpace(mem, frames, lambda: None)
    base, ro = 0x1000_0000, 0x2000_0000
    a.add_region(Region(base, base + 8 * PAGE, PROT_READ | PROT_WRITE, "[anon]"))
    a.add_region(Region(ro, ro + PAGE, PROT_READ, "[ro]"))
    for i in range(8):
        a.write(base + i * PAGE, bytes([i + 1]) * 16)
    a.read(ro, 4)  # a zeroed read-only page
    b = AddressSpace(mem, frames, lambda: None)
    for r in a.regions:
        b.add_region(Region(r.start, r.end, r.prot, r.name))
    free = frames.free
    a.share_into(b)
    assert frames.free == free - 2  # b's tables (one second-level table, the root made before)
    assert b.frames_in_use == a.frames_in_use and len(frames.shares) == 9
    assert b.pages() == a.pages()  # same bytes; the flags say writable where the region is
    assert all(f & PTE_W and not f & PTE_COW for va, f, _ in a.pages() if va < ro)
    b.write(base, b"child")
    assert frames.free == free - 3 and b.cow_copies == 1
    assert a.read(base, 5) == bytes([1]) * 5 and b.read(base, 5) == b"child"
    a.write(base, b"parent")  # b has its own copy: a takes the frame as it is, no copy
    assert frames.free == free - 3 and a.cow_copies == 0 and len(frames.shares) == 8
    a.protect(base, base + 8 * PAGE, PROT_READ)
    a.protect(base, base + 8 * PAGE, PROT_READ | PROT_WRITE)  # W stays withheld: still shared
    a.write(base + PAGE, b"x")
    assert b.read(base + PAGE, 2) == bytes([2, 2]) and a.read(base + PAGE, 2) == b"x\x02"
    with pytest.raises(Fault):
        b.write(ro, b"no")  # read-only region: no copy, a protection fault
    ver, data = b.evict(base + 2 * PAGE)  # b's copy of a shared frame goes; a still maps it
    assert data == bytes([3]) * 16 + bytes(PAGE - 16) and b.remote[base + 2 * PAGE] & PTE_W
    assert a.read(base + 2 * PAGE, 1) == b"\x03"
    assert b.arrive(base + 2 * PAGE, data)
    b.write(base + 2 * PAGE, b"back")  # its own frame now, writable
    assert a.read(base + 2 * PAGE, 4) == bytes([3]) * 4 and b.read(base + 2 * PAGE, 4) == b"back"
    a.destroy()
    assert frames.shares == {}  # the pages only b maps now are b's alone
    b.destroy()
    assert frames.free == frames.total


def test_checkpoint_of_a_process_sharing_pages(programs: Programs) -> None:
    """A grandchild of pair (sharing pages with the parent and its sibling) is checkpointed
    mid-way and ends; its image carries its pages as its own: restored on another chip it
    finishes with the status that says it saw only its own values (its output goes to its
    parent's stream, not on that chip), and the others go on without it."""
    b = programs["cow"]
    p, c = run(b, ["pair"])
    pid = p.pid  # type: ignore[attr-defined]
    while len(c.processes()) < 4 or any(r.state == "running" for r in c.processes() if r.pid == pid + 1):
        c.run(max_cycles=c.time + 50_000)
    c.run(max_cycles=c.time + 2_000_000)
    assert c._backend.kernels[0].frames.shares
    image = c.checkpoint(pid + 3, stop=True)
    c.run()
    native = run_native(b, [str(b.native), "pair"]).stdout.decode().splitlines(keepends=True)
    mine = [line for line in native if line.startswith("grandchild 1:")]
    assert len(mine) == 1
    assert p.stdout.decode() == "".join(x for x in native if x not in mine), p.message  # type: ignore[attr-defined]
    assert_no_frame_leak(c)
    c2 = Chip.preset("tiny")
    q = c2.restore(image, cluster=1)
    c2.run()
    assert q.returncode == 4, q.message  # (1: a page was not what it had written)
    assert_no_frame_leak(c2)

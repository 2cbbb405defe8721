"""Memory: large sparse mappings under mprotect, munmap and madvise(DONTNEED), threads that map
and unmap their stacks, and the frames each costs. Real programs checked against native builds;
then the address space itself against a model, page table walked in full."""

from __future__ import annotations

import random
import struct

import pytest
from conftest import Programs, assert_no_frame_leak, assert_same, run_native, run_shoal

from shoal import Chip, ShoalError
from shoal.kernel.memory import (
    PAGE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    PTE_A,
    PTE_D,
    PTE_U,
    PTE_V,
    AddressSpace,
    Fault,
    FrameAllocator,
    OutOfFrames,
    Region,
    _prot_bits,
)
from shoal.platform.cpu import PHYS_BASE


# --- real programs ------------------------------------------------------------------------------
def test_sparse_mappings_match_native(programs: Programs) -> None:
    b = programs["mem_sparse"]
    expected = run_native(b, ["mem_sparse"])
    assert expected.returncode == 0 and expected.stdout.endswith(b"done\n")
    p, chip = run_shoal(b, ["mem_sparse"], cluster=2)
    assert_same(p, expected)
    assert_no_frame_leak(chip)


def test_sparse_mappings_on_every_cluster_at_once(programs: Programs) -> None:
    b = programs["mem_sparse"]
    expected = run_native(b, ["mem_sparse"])
    chip = Chip.preset("tiny")
    procs = [chip.spawn(b.elf, ["mem_sparse"], cluster=c) for c in range(chip.spec.compute_clusters)]
    chip.run()
    for p in procs:
        assert_same(p, expected)
    assert_no_frame_leak(chip)


def test_sparse_mappings_moved_at_random_moments_match_native(programs: Programs) -> None:
    """pages() and install() carry the sparse tables over: the image holds the touched pages."""
    b = programs["mem_sparse"]
    expected = run_native(b, ["mem_sparse"])
    chip = Chip.preset("tiny")
    p = chip.spawn(b.elf, ["mem_sparse"])
    rng = random.Random(3)
    moved = 0
    while not p.done and moved < 8:
        chip.run(max_cycles=rng.randrange(5_000, 30_000))  # the program runs ~230,000 cycles
        if p.done:
            break
        try:
            chip.migrate(p.pid, rng.randrange(chip.spec.compute_clusters))
            moved += 1
        except ShoalError as e:  # the previous move is still under way
            assert "error 16" in str(e)
    chip.run()
    assert_same(p, expected)
    assert moved >= 4 and all(m.ok for m in p.migrations)
    assert_no_frame_leak(chip)


@pytest.mark.parametrize("mode", ["ro", "none", "gone", "split"])
def test_protection_changes_reach_pages_already_touched(programs: Programs, mode: str) -> None:
    """The pages were touched (and made writable in the TLB) before mprotect or munmap."""
    b = programs["mem_sparse"]
    expected = run_native(b, ["mem_sparse", mode])
    assert expected.returncode == 139
    p, chip = run_shoal(b, ["mem_sparse", mode])
    assert_same(p, expected)
    assert "page fault" in p.message
    assert_no_frame_leak(chip)


def peak(programs: Programs, *argv: str, chip: str = "tiny") -> int:
    b = programs[argv[0]]
    p, c = run_shoal(b, list(argv), chip=chip)
    assert p.returncode == 0, p.message
    assert p.stdout == run_native(b, list(argv)).stdout
    assert_no_frame_leak(c)
    return p.record.peak_frames


def test_peak_frames_are_the_touched_pages_and_their_tables(programs: Programs) -> None:
    """K pages, one in each of K 4 MiB spans, cost K frames and K second-level tables; an unmapped
    span gives its table back, so rounds in fresh spans do not add up."""
    one = peak(programs, "mem_sparse", "peak", "1", "1")
    assert peak(programs, "mem_sparse", "peak", "16", "1") == one + 2 * 15
    assert peak(programs, "mem_sparse", "peak", "16", "4") == one + 2 * 15
    assert peak(programs, "mem_sparse", "peak", "5", "6") == one + 2 * 4


def test_threads_that_map_and_unmap_leave_no_frames(programs: Programs) -> None:
    b = programs["mem_threads"]
    expected = run_native(b, ["mem_threads"])
    p, chip = run_shoal(b, ["mem_threads"])
    assert_same(p, expected)
    assert p.record.syscalls["clone"] == 4 * 12
    assert_no_frame_leak(chip)
    # Each batch ends with everything given back, so twice the batches do not add up (how
    # threads of a batch overlap may still move the peak by a few stacks).
    assert peak(programs, "mem_threads", "8", "12") <= p.record.peak_frames * 1.15


def test_32_threads_on_every_mppa256_cluster_leave_no_frames(programs: Programs) -> None:
    b = programs["mem_threads"]
    expected = run_native(b, ["mem_threads", "2", "32"])
    chip = Chip.preset("mppa256")
    procs = [chip.spawn(b.elf, ["mem_threads", "2", "32"], cluster=c)
             for c in range(chip.spec.compute_clusters)]
    chip.run()
    for p in procs:
        assert_same(p, expected)
    assert_no_frame_leak(chip)


# --- the address space against a model --------------------------------------------------------
PPN = PHYS_BASE // PAGE
BASE = 0x1000_0000
SPAN = 64 << 20  # 16 second-level tables' worth


def walk(a: AddressSpace) -> tuple[dict[int, int], set[int]]:
    """Every valid PTE, reading both levels in full ({va: pte}), and the tables' frames."""
    ptes, tables = {}, set()
    root = a.root * PAGE
    for i, (e,) in enumerate(struct.iter_unpack("<I", a.mem[root:root + PAGE])):
        if not e & PTE_V:
            assert e == 0
            continue
        t = (e >> 10) - PPN
        tables.add(t)
        for j, (pte,) in enumerate(struct.iter_unpack("<I", a.mem[t * PAGE:(t + 1) * PAGE])):
            if pte:
                assert pte & PTE_V
                ptes[(i << 22) | (j << 12)] = pte
    return ptes, tables


def check(a: AddressSpace, frames: FrameAllocator, model: dict[int, tuple[int, bytes]]) -> None:
    """The page table holds exactly the model's pages, each with its region's permissions,
    every table maps at least one page, and every frame is counted once."""
    ptes, tables = walk(a)
    assert sorted(ptes) == sorted(model)
    for va, pte in ptes.items():
        r = a.find(va)
        assert r is not None
        assert pte & 0x3FF == model[va][0] | _prot_bits(r.prot) | PTE_U | PTE_V
    assert {va >> 22 for va in ptes} == {i for i in range(1024)
                                         if struct.unpack_from("<I", a.mem, a.root * PAGE + 4 * i)[0]}
    data = [(pte >> 10) - PPN for pte in ptes.values()]
    assert len(set(data)) == len(data) and not set(data) & tables and a.root not in tables | set(data)
    assert a.data_frames == len(data) and a.table_frames == 1 + len(tables)
    assert frames.free == frames.total - a.frames_in_use
    assert [(va, flags) for va, flags, _ in a.pages()] == [(va, ptes[va] & 0x3FF) for va in sorted(ptes)]
    assert all(data == model[va][1] for va, _, data in a.pages())


def new_space(count: int) -> tuple[AddressSpace, FrameAllocator, list[int]]:
    mem = bytearray(count * PAGE)
    frames = FrameAllocator(0, count)
    changes: list[int] = []
    return AddressSpace(mem, frames, lambda: changes.append(1)), frames, changes


@pytest.mark.parametrize("seed", range(4))
def test_address_space_against_a_model(seed: int) -> None:
    """Random mmap, touches, mprotect, munmap and DONTNEED over 64 MiB; after each, the tables
    read in full agree with a dictionary of pages (A/D bits, contents) and the frame counts."""
    rng = random.Random(seed)
    a, frames, changes = new_space(400)
    model: dict[int, tuple[int, bytes]] = {}  # va -> (A/D bits, contents)
    hot = [BASE + rng.randrange(SPAN // PAGE) * PAGE for _ in range(150)]  # pages worth touching
    most_pages = most_tables = 0

    def edge() -> int:  # often right at a touched page, where off-by-one mistakes show
        if rng.random() < 0.5:
            return rng.choice(hot) + rng.choice([0, PAGE])
        return BASE + rng.randrange(SPAN // PAGE) * PAGE

    def rand_range() -> tuple[int, int]:
        start, end = edge(), edge()
        if end <= start:
            end = start + rng.choice([1, 3, 40, 1024, 5000, 16384]) * PAGE
        return start, min(BASE + SPAN, end)

    def drop(start: int, end: int) -> bool:
        gone = [va for va in model if start <= va < end]
        for va in gone:
            del model[va]
        return bool(gone)

    for step in range(400):
        op = rng.choice(["map"] * 2 + ["touch"] * 8 + ["protect"] * 2 + ["unmap", "dontneed"])
        start, end = rand_range()
        before = len(changes)
        if op == "map" and a.is_free(start, end):
            a.add_region(Region(start, end, rng.choice([1, 3, 3, 5, 0]), "[anon]"))
        elif op == "touch":
            mapped = [h for h in hot if a.find(h)]
            va = rng.choice(mapped if mapped and rng.random() < 0.8 else hot) + rng.randrange(PAGE)
            kind = rng.choice(["load", "store", "fetch"])
            r = a.find(va)
            page = va & ~(PAGE - 1)
            try:
                a.translate(va, kind)
                if kind == "store":
                    a.write(va, bytes([step % 255 + 1]))
            except Fault:
                need = {"load": PROT_READ | PROT_WRITE, "store": PROT_WRITE, "fetch": PROT_EXEC}[kind]
                assert r is None or not r.prot & need
            if r is not None:  # a fault on protection still gives the page its frame, as before
                bits, data = model.get(page, (0, bytes(PAGE)))
                if kind == "store" and r.prot & PROT_WRITE:
                    data = data[:va - page] + bytes([step % 255 + 1]) + data[va - page + 1:]
                    bits |= PTE_A | PTE_D
                elif r.prot & {"load": PROT_READ | PROT_WRITE, "store": PROT_WRITE, "fetch": PROT_EXEC}[kind]:
                    bits |= PTE_A
                model[page] = (bits, data)
        elif op == "protect":
            prot = rng.choice([0, 1, 3, 5, 7])
            if a.protect(start, end, prot):
                assert len(changes) == before + 1
            else:
                assert not a.covered(start, end) and len(changes) == before
        elif op == "unmap":
            a.remove_range(start, end)
            drop(start, end)
            assert len(changes) == before + 1
        elif op == "dontneed":
            if a.discard(start, end):
                drop(start, end)
                assert len(changes) == before + 1
        check(a, frames, model)
        most_pages, most_tables = max(most_pages, len(model)), max(most_tables, a.table_frames - 1)
    assert most_pages > 15 and most_tables > 3  # the run did exercise something
    a.destroy()
    assert frames.free == frames.total and a.frames_in_use == 0


def test_freed_code_frames_are_reported() -> None:
    """exec_frames_freed tells the kernel to drop translated code; only executable pages set it."""
    a, frames, _ = new_space(64)
    a.add_region(Region(BASE, BASE + 8 * PAGE, PROT_READ | PROT_WRITE, "[data]"))
    a.add_region(Region(BASE + (8 << 20), BASE + (8 << 20) + PAGE, PROT_READ | PROT_EXEC, "[code]"))
    a.translate(BASE, "store")
    a.translate(BASE + (8 << 20), "fetch")
    a.remove_range(BASE, BASE + 8 * PAGE)
    assert not a.exec_frames_freed and a.table_frames == 2  # the data's table went with it
    a.destroy()
    assert a.exec_frames_freed and frames.free == frames.total


def test_running_out_of_frames_midway_leaves_exact_counts() -> None:
    """A page fault that gets its table but not its page leaves an empty table; it is freed with
    the range (or at exit), and no frame is lost."""
    a, frames, _ = new_space(6)  # root + 5
    a.add_region(Region(BASE, BASE + SPAN, PROT_READ | PROT_WRITE, "[anon]"))
    touched = 0
    with pytest.raises(OutOfFrames):
        for i in range(16):
            a.translate(BASE + i * (4 << 20), "store")  # a new table for every page
            touched += 1
    assert touched == 2 and frames.free == 0 and a.table_frames == 4 and a.data_frames == 2
    a.remove_range(BASE + 2 * (4 << 20), BASE + 3 * (4 << 20))  # only the empty table is there
    assert a.table_frames == 3 and frames.free == 1
    a.destroy()
    assert frames.free == frames.total


def test_pages_install_round_trip() -> None:
    """What pages() lists, install() rebuilds: same pages, flags and contents, and exactly one
    table per 4 MiB span in use (the count image.frames_needed reserves)."""
    a, _, _ = new_space(200)
    a.add_region(Region(BASE, BASE + SPAN, PROT_READ | PROT_WRITE, "[anon]"))
    rng = random.Random(5)
    for _ in range(60):
        va = BASE + rng.randrange(SPAN // PAGE) * PAGE
        a.write(va + rng.randrange(PAGE), bytes([rng.randrange(1, 256)]))
    a.discard(BASE, BASE + SPAN // 2)
    pages = a.pages()
    b, frames, _ = new_space(200)
    for va, flags, data in pages:
        b.install(va, flags, data)
    assert b.pages() == pages
    assert b.frames_in_use == len(pages) + len({va >> 22 for va, _, _ in pages}) + 1
    assert a.frames_in_use == b.frames_in_use  # the source freed its emptied tables too
    b.destroy()
    assert frames.free == frames.total

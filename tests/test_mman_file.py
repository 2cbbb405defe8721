"""mmap of regular files and memfds (kernel/calls/mman.py, kernel/shm.py, daemons/shm.py): the
test programs on the chip and built by the host's gcc, same argv, same output. A mapped file
is an object of the shared-memory home; every object, file and frame goes once its last
mapper does."""

from __future__ import annotations

import pytest
from conftest import Programs, assert_no_frame_leak, assert_same, run_native, run_shoal

from shoal import Chip
from shoal.errors import ShoalError


def _all_gone(c: Chip) -> None:
    stats = c.daemon_stats()
    assert stats["shm_objects"] == stats["shm_bytes"] == 0, stats
    fs = c._backend.io.files.fs
    assert not [n for n in fs.nodes.values() if not n.names and n.ino != 1]  # no unlinked file kept
    assert stats["fs_handles"] == 0
    assert_no_frame_leak(c)


@pytest.mark.parametrize("moved", [False, True])
def test_file_mappings_as_native(programs: Programs, moved: bool) -> None:
    """Sizes 0, 1, 4095, 4096, 4097 and 100 KiB, offsets, zeros past the end, SIGBUS past it
    (loads and stores, with a handler), private stores the file never sees, shared stores
    read() sees after msync and after munmap, write() a mapping sees, munmap and mprotect of
    parts, ftruncate growing a file under a mapping, two processes (fork) sharing a mapping,
    the errors, memfd; with `moved`, the child migrates (its mappings with it) while it spins
    on a shared page that its parent, asleep, has yet to store into."""
    b = programs["mmap_file"]
    argv = ["mmap_file", "pause" if moved else "-"]
    native = run_native(b, argv)
    assert native.returncode == 0 and b"fork: child wrote c, file has c" in native.stdout
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    if moved:
        c.run(until=lambda: len(c.processes()) == 2)  # forked: the parent sleeps 20 ms
        c.run(max_cycles=c.spec.cluster.freq_hz // 200)
        kid = next(r for r in c.processes() if r.pid != p.pid)
        m = c.migrate(kid.pid, 3)
    c.run()
    assert p.stdout.decode() == native.stdout.decode(), p.message
    assert p.returncode == 0 and not p.record.unknown_syscalls
    if moved:
        assert m.state == "done" and next(r for r in c.processes() if r.pid == kid.pid).cluster == 3, m.reason
    _all_gone(c)


def test_a_child_on_another_cluster_shares_the_file(programs: Programs) -> None:
    """A parent too big for its child beside it (1.2 MiB on 2 MiB clusters): the child is
    built elsewhere, and the shared page of the file goes between the two clusters (each
    waits for the other's store), private pages stay each one's."""
    b = programs["mmap_file"]
    argv = ["mmap_file", "-", "1200"]
    native = run_native(b, argv)
    c = Chip.preset("mppa256", policy="balance")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run()
    assert p.stdout.decode() == native.stdout.decode(), p.message
    kids = [r.cluster for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 1 and kids[0] != 0, kids
    assert sum(r.shm_faults for r in c.processes()) > 3
    _all_gone(c)


TEXT = b"Hello, mapped world!\n" * 300  # 6300 bytes: two pages, the last partly


def test_a_tool_maps_its_input_from_the_tree_and_a_read_only_file(programs: Programs) -> None:
    """cat by mmap of a file of the --fs tree and of a --file (read-only) file; a private
    writable mapping of the read-only file scribbles on its own copy; a writable shared one
    of it is EACCES; nothing stays mapped."""
    b = programs["mmap_cat"]
    c = Chip.preset("tiny")
    c.load_fs([("in.txt", TEXT)])
    c.add_file("ro.txt", TEXT)
    runs = [c.spawn(b.elf, ["mmap_cat", path, mode], cluster=i)
            for i, (path, mode) in enumerate([("/in.txt", "cat"), ("/ro.txt", "cat"),
                                              ("/ro.txt", "scribble"), ("/ro.txt", "ro")])]
    c.run()
    cat, rocat, scribble, ro = runs
    assert cat.stdout == rocat.stdout == TEXT, cat.message
    half = len(TEXT) // 2
    assert scribble.stdout == b"#" * half + TEXT[half:] + b"\nfile still starts Hell\n"
    assert ro.stdout == b"Permission denied\n"
    assert all(r.returncode == 0 for r in runs)
    _all_gone(c)


def test_shared_stores_reach_the_tree_without_msync(programs: Programs) -> None:
    """A program upper-cases a file of the tree in place through MAP_SHARED and exits: the
    tree the host takes back has it (its pages went home as it ended); another process on
    another cluster then reads it by mmap."""
    b = programs["mmap_cat"]
    c = Chip.preset("tiny")
    c.load_fs([("in.txt", TEXT)])
    up = c.spawn(b.elf, ["mmap_cat", "/in.txt", "upper"], cluster=1)
    c.run()
    assert up.returncode == 0, up.message
    assert dict(c.fs_tree())["in.txt"] == TEXT.upper()
    cat = c.spawn(b.elf, ["mmap_cat", "/in.txt", "cat"], cluster=2)
    c.run()
    assert cat.stdout == TEXT.upper()
    _all_gone(c)


@pytest.mark.parametrize("seed", [1, 7, 23, 42, 74, 99, 188])
def test_random_mixes_of_mappings_and_file_calls_as_native(programs: Programs, seed: int) -> None:
    """300 random steps over two files: mappings private and shared (offsets, lengths past the
    end), loads and stores (SIGBUS, SIGSEGV), pread, pwrite, growing ftruncate, msync,
    mprotect, munmap of a first page; one checksum of all it saw, as the host build's. (74 and
    188: a write or ftruncate that grows a file while a mapping holds its last page written
    past the end: those bytes are not the file's, ext4 and shoal alike.)"""
    b = programs["mmap_mix"]
    argv = ["mmap_mix", str(seed), "300"]
    native = run_native(b, argv)
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run()
    assert p.stdout == native.stdout and p.returncode == native.returncode == 0, p.message
    _all_gone(c)


@pytest.mark.parametrize(("seed", "apart"), [(3, False), (11, False), (92, False), (2, True), (9, True)])
def test_random_mixes_of_two_processes_taking_turns_as_native(programs: Programs, seed: int,
                                                               apart: bool) -> None:
    """The mixes after a fork, parent and child taking turns (one random stream): each sees
    the other's stores through shared mappings and its file calls, on one cluster or on two
    (a parent too big for its child beside it), as the host build. (92: a store to a page
    made read-only and past the end is SIGSEGV, the rights checked before the page is asked
    for, as Linux.)"""
    b = programs["mmap_mix"]
    argv = ["mmap_mix", str(seed), "300", "fork", *(["1200"] if apart else [])]
    native = run_native(b, argv)
    c = Chip.preset("mppa256", policy="balance") if apart else Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run()
    assert p.stdout == native.stdout and p.returncode == native.returncode == 0, p.message
    assert {r.cluster for r in c.processes()} == ({0, 1} if apart else {0})
    _all_gone(c)


def test_random_mixes_moved_mid_way_as_native(programs: Programs, each_method: str) -> None:
    """The same mixes, 1500 steps, the process migrated by each method after 2 ms: its
    mappings, private copies and written pages follow it (the cluster it left sends its
    pages of the files home)."""
    b = programs["mmap_mix"]
    argv = ["mmap_mix", "5", "1500"]
    native = run_native(b, argv)
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run(max_cycles=c.spec.cluster.freq_hz // 500)
    assert p.returncode is None  # (still running: the move is mid-way)
    m = c.migrate(p.pid, 2)
    c.run()
    assert m.state == "done" and p.cluster == 2, m.reason
    assert p.stdout == native.stdout and p.returncode == 0, p.message
    _all_gone(c)


def test_a_read_fault_asks_for_the_pages_after_it(programs: Programs) -> None:
    """Fault-around (Linux's 64 KiB): a cat of 100 KiB (25 pages) through a private mapping
    asks twice and waits for a few of the pages on their way (its write() reads faster than
    they come), not 25 times; a writable shared mapping asks page by page."""
    b = programs["mmap_cat"]
    c = Chip.preset("tiny")
    data = bytes(range(256)) * 400
    c.load_fs([("f", data)])
    cat = c.spawn(b.elf, ["mmap_cat", "/f", "cat"], cluster=1)
    c.run()
    assert cat.stdout == data and cat.record.shm_faults < 10
    up = c.spawn(b.elf, ["mmap_cat", "/f", "upper"], cluster=1)
    c.run()
    assert up.returncode == 0 and up.record.shm_faults == 25 * 2  # (a read copy, then to write)
    _all_gone(c)


def test_a_file_larger_than_the_cluster(programs: Programs) -> None:
    """1.5 MiB mapped on a cluster of 1 MiB: once remote memory can take none of the process's
    pages, the file's pages held longest go home (written ones with their bytes) and come
    again at the next touch: the cat prints it all, the shared upper-casing reaches the file."""
    b = programs["mmap_cat"]
    c = Chip.preset("tiny")
    assert c.spec.cluster.memory_per_cluster < 1536 * 1024
    big = bytes(range(97, 123)) * (1536 * 1024 // 26)
    c.load_fs([("big", big)])
    cat = c.spawn(b.elf, ["mmap_cat", "/big", "cat"], cluster=1)
    c.run()
    assert cat.returncode == 0 and cat.stdout == big, cat.message
    up = c.spawn(b.elf, ["mmap_cat", "/big", "upper"], cluster=2)
    c.run()
    assert up.returncode == 0, up.message
    assert dict(c.fs_tree())["big"] == big.upper()
    _all_gone(c)


def test_a_checkpoint_of_a_process_with_a_file_mapping_is_refused_at_restore(programs: Programs) -> None:
    """A file mapping lives on the chip it was made on, as shared memory does: its image is
    refused by a restore with one line, as a shm_open mapping's is."""
    b = programs["mmap_file"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["mmap_file", "pause"], cluster=0)
    c.run(until=lambda: len(c.processes()) == 2)
    c.run(max_cycles=c.spec.cluster.freq_hz // 200)
    kid = next(r for r in c.processes() if r.pid != p.pid)  # (a parent with children is refused)
    image = c.checkpoint(kid.pid)
    other = Chip.preset("tiny")
    with pytest.raises(ShoalError, match="maps shared memory"):
        other.restore(image)
    c.run()
    assert p.returncode == 0


def test_a_read_into_a_mapping_of_the_file_it_reads_as_native(programs: Programs) -> None:
    """read()/pread()/readv() of a file (and of a memfd) into its own MAP_SHARED mapping,
    pages untouched, read or written (whose copy the server calls home before it answers),
    and into its MAP_PRIVATE one; also in a forked child: done once each, as the host build
    (they were asked again for ever: each answer found its page gone home)."""
    b = programs["mmap_self"]
    argv = ["mmap_self", "fork"]
    native = run_native(b, argv)
    assert native.returncode == 0 and b"child <- file: 4096" in native.stdout
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run(max_cycles=c.spec.cluster.freq_hz)  # (a second of simulated time: it takes 4 ms)
    assert p.done, "still running"
    assert p.stdout.decode() == native.stdout.decode(), p.message
    assert p.returncode == 0 and p.record.shm_faults < 100
    _all_gone(c)


def test_value_result_arguments_in_a_read_copy_as_native(programs: Programs) -> None:
    """getsockopt, getsockname, getpeername, recvfrom, recvmsg, accept and fcntl F_GETLK with
    their socklen_t, msghdr or flock in a page of a shared mapping only read so far (a read
    copy): the page is asked for writing before the request goes, and each call gives the
    host build's result (they were EFAULT, after the datagram or the connection was taken)."""
    b = programs["mapped_args"]
    native = run_native(b, ["mapped_args"])
    assert b"accepted reads 5" in native.stdout and b"F_GETLK      0 ok len 1" in native.stdout
    p, _ = run_shoal(b, ["mapped_args"])
    assert_same(p, native)

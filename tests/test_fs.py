"""The writable file system (shoal/daemons/files.py, shoal/kernel/files.py): a stock C program
writes files and directories, another process on another cluster reads them, and the trees
and outputs equal what the same source does natively in a temporary directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import Programs, assert_no_frame_leak, assert_one_line_error, shoal_cli

from shoal import Chip
from shoal.errors import ShoalError
from shoal.kernel.migrate import freeze, source
from shoal.spec import ChipSpec


def native(b: object, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, executable=str(b.native), cwd=cwd, capture_output=True, env={},  # type: ignore[attr-defined]
                          timeout=60)


def host_tree(root: Path) -> list[tuple[str, bytes | None]]:
    out: list[tuple[str, bytes | None]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel + "/"
        for d in dirnames:
            out.append((prefix + d, None))
        for f in sorted(filenames):
            out.append((prefix + f, (Path(dirpath) / f).read_bytes()))
    return sorted(out, key=lambda e: e[0])


def test_a_tree_written_on_one_cluster_is_read_on_another_as_natively(programs: Programs,
                                                                       tmp_path: Path) -> None:
    b = programs["fs_tree"]
    w = native(b, ["fs_tree", "write"], tmp_path)
    r = native(b, ["fs_tree", "read"], tmp_path)
    assert w.returncode == 0 and r.returncode == 0 and b"out/sub/data.bin" in r.stdout
    c = Chip.preset("mppa256")
    p = c.spawn(b.elf, ["fs_tree", "write"], cluster=3)
    c.run()
    assert p.stdout == w.stdout and p.returncode == 0, p.stderr
    q = c.spawn(b.elf, ["fs_tree", "read"], cluster=12)
    c.run()
    assert q.stdout == r.stdout and q.returncode == 0
    assert sorted(c.fs_tree(), key=lambda e: e[0]) == host_tree(tmp_path)
    assert not p.record.unknown_syscalls and not q.record.unknown_syscalls
    assert_no_frame_leak(c)


def test_every_misuse_gives_the_linux_errno(programs: Programs, tmp_path: Path) -> None:
    b = programs["fs_tree"]
    want = native(b, ["fs_tree", "errors"], tmp_path)
    assert want.returncode == 0 and b"rename_into_itself -22" in want.stdout
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["fs_tree", "errors"], cluster=1)
    c.run()
    assert p.stdout.decode() == want.stdout.decode() and p.returncode == 0
    assert c.fs_tree() == [] == host_tree(tmp_path)  # it cleaned up after itself, both ways


def test_limits_give_efbig_and_enospc(programs: Programs) -> None:
    b = programs["fs_tree"]
    spec = ChipSpec.from_dict({"base": "tiny", "fs_max_file_bytes": 10000, "fs_total_bytes": 30000,
                               "fs_max_files": 5}, "test")
    c = Chip(spec)
    p = c.spawn(b.elf, ["fs_tree", "fill", "4096"], cluster=2)
    c.run()
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().splitlines() == [
        "fill: short write of 1808",  # 2 x 4096 + 1808 = the 10000 bytes a file may hold
        "fill: 10000 bytes, then errno 27",  # EFBIG
        "files: 4 made, then errno 28",  # ENOSPC: `big` and 4 more are the 5 nodes allowed
        "mkdir_full -28",
        "unlink_then_create 3",  # a freed node is room again
    ]
    spec = ChipSpec.from_dict({"base": "tiny", "fs_total_bytes": 6000}, "test")
    c = Chip(spec)
    p = c.spawn(b.elf, ["fs_tree", "fill", "4096"], cluster=2)
    c.run()
    lines = p.stdout.decode().splitlines()
    assert lines[:2] == ["fill: short write of 1904", "fill: 6000 bytes, then errno 28"]
    with pytest.raises(ShoalError, match="fs_max_files"):
        ChipSpec.from_dict({"base": "tiny", "fs_max_files": 0}, "test")


def test_open_files_follow_a_process_that_migrates(programs: Programs) -> None:
    b = programs["fs_tree"]
    c = Chip.preset("tiny")
    c.spawn(b.elf, ["fs_tree", "write"], cluster=0)
    c.run()
    p = c.spawn(b.elf, ["fs_tree", "hold", "3"], cluster=1)
    c.run()
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.decode().splitlines() == [
        "on 1 read 'line 0: 0 squared is'",
        "on 3 read ' 0", "line 1: 1 squared' at 40",
        "held.txt: before the move", "after the move",
    ]
    assert p.cluster == 3


@pytest.mark.parametrize("method", ["stopcopy", "postcopy"])
def test_a_copy_moved_by_the_host_mid_way_is_exact(programs: Programs, method: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    b = programs["fs_tree"]
    waits: list[str] = []
    try_freeze = freeze.try_freeze

    def spy(k: object, p: object) -> object:
        waits.extend(t.blocked_on for t in p.threads if t.state.value == "blocked")  # type: ignore[attr-defined]
        return try_freeze(k, p)  # type: ignore[arg-type]
    monkeypatch.setattr(source, "try_freeze", spy)  # as progress calls it
    c = Chip.preset("tiny")
    c.spawn(b.elf, ["fs_tree", "write"], cluster=0)
    c.run()
    alone = c.spawn(b.elf, ["fs_tree", "copy", "out/results.txt", "copy0.txt"], cluster=1)
    start = c.time
    c.run()
    took = alone.record.end_cycle - start
    p = c.spawn(b.elf, ["fs_tree", "copy", "out/results.txt", "copy.txt"], cluster=1)
    start = c.time
    for i, to in enumerate((2, 3, 0, 1)):  # moves all through the copy (about 640 requests)
        c.schedule_migration(p.pid, to, start + took * (i + 1) // 5, method)
    c.run()
    assert p.returncode == 0 and p.stdout == b"copied 15317 bytes\n", p.stdout + p.stderr
    assert len(p.migrations) == 4
    assert {"rpc:fs_read", "rpc:fs_write"} & set(waits)  # frozen while a request was out
    tree = dict(c.fs_tree())
    assert tree["copy.txt"] == tree["out/results.txt"] == tree["copy0.txt"]
    assert_no_frame_leak(c)


def test_cli_fs_starts_from_a_host_directory_and_brings_the_tree_home(programs: Programs,
                                                                     tmp_path: Path) -> None:
    b = programs["fs_tree"]
    nat, dirs = tmp_path / "native", tmp_path / "chip"
    for d in (nat, dirs):
        d.mkdir()
        (d / "keep.txt").write_bytes(b"from the host\n")
        (d / "old").mkdir()
        (d / "old" / "stale.bin").write_bytes(bytes(range(256)))
    want = native(b, ["fs_tree", "write"], nat)
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(dirs), str(b.elf), "write")
    assert res.returncode == 0 and res.stdout == want.stdout, res.stderr
    assert host_tree(dirs) == host_tree(nat)
    # --fs-out: the tree goes elsewhere, a new or empty directory; the input is untouched. A
    # directory holding anything is refused before the run, and nothing in it is touched
    # (shoal removes only what it read: `--fs-out ~` must not empty a home directory).
    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "junk").write_bytes(b"x")
    before = host_tree(nat)
    err = assert_one_line_error(shoal_cli("run", "--chip", "tiny", "--fs", str(nat), "--fs-out", str(out),
                                          str(b.elf), "read"))
    assert "not empty" in err and host_tree(out) == [("junk", b"x")]
    (out / "junk").unlink()
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(nat), "--fs-out", str(out), str(b.elf), "read")
    assert res.returncode == 0, res.stderr
    assert host_tree(out) == host_tree(nat) == before
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(nat), "--fs-out", str(nat), str(b.elf), "read")
    assert res.returncode == 0 and host_tree(nat) == before, res.stderr  # (DIR itself: as --fs alone)
    new = tmp_path / "new"  # (made)
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(nat), "--fs-out", str(new), str(b.elf), "read")
    assert res.returncode == 0 and host_tree(new) == before, res.stderr


def test_cli_fs_refuses_a_bad_directory_in_one_line(programs: Programs, tmp_path: Path) -> None:
    elf = str(programs["fs_tree"].elf)
    err = assert_one_line_error(shoal_cli("run", "--fs", str(tmp_path / "missing"), elf))
    assert "no such file or directory" in err
    (tmp_path / "f").write_bytes(b"x")
    assert "not a directory" in assert_one_line_error(shoal_cli("run", "--fs", str(tmp_path / "f"), elf))
    weird = tmp_path / "weird"
    weird.mkdir()
    os.symlink("/etc/passwd", weird / "link")  # (a link inside the tree is taken: test_links.py)
    assert "leading outside the tree" in assert_one_line_error(shoal_cli("run", "--fs", str(weird), elf))
    os.unlink(weird / "link")
    sock = socket.socket(socket.AF_UNIX)  # (a FIFO is taken as a guest FIFO: test_fifo.py)
    sock.bind(str(weird / "sock"))
    sock.close()
    assert "not a regular file" in assert_one_line_error(shoal_cli("run", "--fs", str(weird), elf))
    big = tmp_path / "big"
    big.mkdir()
    (big / "a").write_bytes(bytes(20000))
    toml = tmp_path / "small.toml"
    toml.write_text('base = "tiny"\nfs_max_file_bytes = 10000\n')
    err = assert_one_line_error(shoal_cli("run", "--chip", str(toml), "--fs", str(big), elf))
    assert "fs_max_file_bytes" in err
    assert "not a directory" in assert_one_line_error(
        shoal_cli("run", "--fs-out", str(tmp_path / "f"), elf))
    shutil.rmtree(weird)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_file_and_ipc_calls_never_break_the_kernel_or_the_daemons(seed: int) -> None:
    from conftest import PROGRAMS, SHOAL_FLAGS

    from shoal.toolchain import compile_cached
    elf = compile_cached([PROGRAMS / "fuzz_fs_ipc.c"], SHOAL_FLAGS)
    c = Chip.preset("tiny")
    c.add_file("ro", b"read only")
    procs = [c.spawn(elf, ["fuzz", str(seed * 10 + i)], cluster=i) for i in range(3)]
    c.run()
    for p in procs:
        assert p.stdout == b"survived\n" and p.returncode == 0, p.message
        assert not p.record.unknown_syscalls or set(p.record.unknown_syscalls) <= {184}
    assert_no_frame_leak(c)


def test_cli_migrate_while_copying_files_of_the_host_directory(programs: Programs, tmp_path: Path) -> None:
    b = programs["fs_tree"]
    data = bytes((i * 31 + i // 7) & 0xFF for i in range(40_000))
    (tmp_path / "in.bin").write_bytes(data)
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(tmp_path), "--migrate", "300us:2",
                    "--migrate", "900us:3:postcopy", str(b.elf), "copy", "in.bin", "out.bin")
    assert res.returncode == 0 and res.stdout == b"copied 40000 bytes\n", res.stderr
    assert b"not moved" not in res.stderr
    assert (tmp_path / "out.bin").read_bytes() == data


def test_checkpoint_and_restore_carry_open_files_through_the_host_directory(programs: Programs,
                                                                            tmp_path: Path) -> None:
    """A copy checkpointed mid-way: the tree as it was goes home with the image; restored on
    another chip from that tree, the process opens its files again by path and finishes."""
    b = programs["fs_tree"]
    data = bytes((i * 7 + i // 13) & 0xFF for i in range(30_000))
    d = tmp_path / "files"
    d.mkdir()
    (d / "in.bin").write_bytes(data)
    img = tmp_path / "copy.img"
    res = shoal_cli("checkpoint", "--chip", "tiny", "--fs", str(d), "--at", "1ms", "-o", str(img),
                    str(b.elf), "copy", "in.bin", "out.bin")
    assert res.returncode == 0, res.stderr
    part = (d / "out.bin").read_bytes()
    assert 0 < len(part) < len(data) and data.startswith(part)
    res = shoal_cli("restore", "--chip", "mppa256", "--cluster", "7", "--fs", str(d), str(img))
    assert res.returncode == 0 and res.stdout == b"copied 30000 bytes\n", res.stderr
    assert (d / "out.bin").read_bytes() == data


@pytest.mark.parametrize("chip", ["mppa256", "tiny"])
def test_reads_and_writes_larger_than_a_request_are_whole(programs: Programs, tmp_path: Path,
                                                           chip: str) -> None:
    """write, read, pwrite, pread, writev, readv, O_APPEND and /dev/zero of 1,280,000 bytes
    are whole, as Linux's (the server's 1 MiB request gave a short count: Open POSIX
    aio_suspend/9-1); on tiny the buffer is larger than the cluster's memory, so pieces of it
    are in remote memory between requests (the call copied all of a request's pages at once:
    it fetched one, evicted another, for ever)."""
    b = programs["bigio"]
    expected = native(b, ["bigio"], tmp_path)
    c = Chip.preset(chip)
    p = c.spawn(b.elf, ["bigio"], cluster=0)
    c.run()
    assert p.stdout.decode() == expected.stdout.decode()
    assert p.returncode == expected.returncode == 0
    assert b"write 1280000\n" in p.stdout and b"/dev/zero 1280000 zeros 1" in p.stdout
    if chip == "tiny":
        assert p.record.rmem_faults > 100  # pages went to remote memory and came back
    assert_no_frame_leak(c)


@pytest.mark.parametrize("method", ["stopcopy", "precopy", "postcopy"])
def test_a_read_whose_pages_are_away_survives_a_migration(programs: Programs, tmp_path: Path,
                                                         method: str) -> None:
    """bigio on tiny, moved while its readv lands on pages held in remote memory: the
    kernel's stores into those pages wait for them (AddressSpace.overlay) and now go with
    the image (they were left behind: the program read wrong bytes, "readv ... same 0")."""
    b = programs["bigio"]
    expected = native(b, ["bigio"], tmp_path)
    whole = Chip.preset("tiny")
    whole.spawn(b.elf, ["bigio"], cluster=0)
    whole.run()
    end = max(r.end_cycle or 0 for r in whole.processes())
    for at in (0.74, 0.75):  # (moments where stores wait for pages: found by a sweep)
        c = Chip.preset("tiny")
        p = c.spawn(b.elf, ["bigio"], cluster=0)
        c.run(max_cycles=int(end * at))
        c.migrate(p.pid, to=1, method=method)
        c.run()
        assert p.stdout.decode() == expected.stdout.decode(), at
        assert p.cluster == 1


def test_fsync_of_what_has_no_fsync_is_einval(programs: Programs, tmp_path: Path) -> None:
    """fsync/fdatasync of a pipe, FIFO, socket, queue, device or the console: EINVAL, as
    Linux's (it answered 0 for any open descriptor: Open POSIX fsync/7-1); of a file,
    directory or shared memory object: 0."""
    b = programs["fsync_kinds"]
    expected = native(b, ["fsync_kinds"], tmp_path)
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["fsync_kinds"], cluster=1)
    c.run()
    assert p.stdout.decode() == expected.stdout.decode()
    assert p.returncode == expected.returncode == 0
    assert b"fifo       fsync Invalid argument" in p.stdout and b"shm        fsync ok" in p.stdout

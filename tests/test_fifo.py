"""Named pipes (mkfifo; kernel/fifos.py, the FIFO node in daemons/files.py): tests/programs/
fifo.c against the host build, with the forked writers on the parent's cluster and on another,
and with the child moved while it waits in its blocking open."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import Programs, run_native, shoal_cli

from shoal import Chip
from shoal.errors import ShoalError


def native(programs: Programs, tmp_path: Path, mode: str) -> bytes:
    d = tmp_path / "native"
    d.mkdir()
    if mode == "keep":
        os.mkfifo(d / "hostfifo")
        os.chmod(d / "hostfifo", 0o604)
    b = programs["fifo"]
    res = run_native(b, [str(b.native), str(d), mode])
    assert res.returncode == 0
    return res.stdout


@pytest.mark.parametrize("mode", ["together", "apart"])
def test_fifo_as_linux(programs: Programs, tmp_path: Path, mode: str) -> None:
    b = programs["fifo"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), "/tmp", mode], cluster=0)
    c.run()
    assert p.done
    want = native(programs, tmp_path, mode)
    assert b"open wronly|nonblock, no reader: -1 No such device or address" in want
    assert b"  killed in its open: 9\nthen wronly|nonblock: -1 No such device or address" in want
    assert b"  handler ran 2 times\n  read 12 'late writer'" in want  # (EINTR, then SA_RESTART)
    assert p.stdout.decode(errors="replace") == want.decode(errors="replace"), p.message
    assert p.returncode == 0
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 5
    assert any(r.cluster != p.record.cluster for r in kids) == (mode == "apart")
    kernels = c._backend.kernels  # (white box: no pipe nor waiting open left behind)
    assert not any(k.pipes.table or k.pipes.waits or any(t.call.fifo for q in k.procs for t in q.threads)
                   for k in kernels)


def test_a_child_waiting_in_its_open_moves(programs: Programs, tmp_path: Path) -> None:
    """The first child blocks in open(O_WRONLY) until its parent opens the reader; moved
    meanwhile, it opens on its new cluster and the parent still gets its line."""
    b = programs["fifo"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), "/tmp", "late"], cluster=0)

    def waiting() -> int | None:  # (white box: a child whose thread waits in a FIFO's open)
        for k in c._backend.kernels:
            for proc in k.procs:
                if proc.pid != p.pid and any(t.call.fifo for t in proc.threads):
                    return proc.pid
        return None
    for _ in range(2000):
        if waiting() is not None:
            break
        c.run(max_cycles=c.time + 20_000)
    pid = waiting()
    assert pid is not None
    c.migrate(pid, 2)
    c.run()
    assert p.done
    assert p.stdout.decode(errors="replace") == native(programs, tmp_path, "late").decode(errors="replace")
    assert next(r for r in c.processes() if r.pid == pid).cluster == 2
    assert not any(k.pipes.table for k in c._backend.kernels)


def test_a_writer_killed_while_its_open_is_asked_at_the_home(programs: Programs) -> None:
    """Killed between its meeting's request and the answer (the child on another cluster than
    the pipe): the end the home counted goes again when the answer comes, so the parent's
    read sees EOF instead of waiting for ever, and nothing is left behind."""
    b = programs["fifo"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), "/tmp", "apart"], cluster=0)
    kernels = c._backend.kernels
    c.inject_delay("pipe_op", 40_000_000)  # (the first: the SA_RESTART writer's meeting)

    def asking() -> int | None:  # (white box: a child's meeting request on its way)
        for k in kernels:
            for _, (t, _, body) in k.packets.pending.items():
                if t.proc.pid != p.pid and getattr(body, "opening", False):
                    return t.proc.pid
        return None
    for _ in range(1000):
        if asking() is not None or p.done:
            break
        c.run(max_cycles=c.time + 1_000_000)
    pid = asking()
    assert pid is not None
    c.kill(pid)
    c.run(max_cycles=c.time + 4_000_000_000)
    assert p.done and p.returncode == 0, p.message
    assert not any(k.pipes.table or k.pipes.orphans for k in kernels)


def test_a_fifo_holder_migrates_and_is_not_checkpointed(programs: Programs, tmp_path: Path) -> None:
    """As a pipe2 end's holder (test_pipes2.py): its FIFO's pipe stays on the chip."""
    b = programs["fifo"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), "/tmp", "together"], cluster=0)
    k0 = c._backend.kernels[0]

    def holds() -> bool:  # (white box: a descriptor of a FIFO's pipe)
        return any(f.kind.value == "pipe" and f.path for q in k0.procs if q.pid == p.pid
                   for f in q.fs.files.values())
    for _ in range(10_000):
        if holds() or p.done:
            break
        c.run(max_cycles=c.time + 2_000)
    assert holds()
    with pytest.raises(ShoalError, match="cannot be checkpointed"):
        c.checkpoint(p.pid)
    c.migrate(p.pid, 3)
    c.run()
    assert p.done and p.returncode == 0, p.message
    want = native(programs, tmp_path, "together")
    assert p.stdout.decode(errors="replace") == want.decode(errors="replace")
    assert next(r for r in c.processes() if r.pid == p.pid).cluster == 3


def kinds(d: Path) -> list[tuple[str, bool, int]]:
    sts = [(e.name, e.lstat()) for e in d.iterdir()]
    return sorted((n, stat.S_ISFIFO(st.st_mode), stat.S_IMODE(st.st_mode)) for n, st in sts)


def test_fifos_come_from_and_go_to_the_host_never_opened(programs: Programs, tmp_path: Path) -> None:
    """--fs DIR: a host FIFO is a guest FIFO of the same bits (only lstat'ed: an open would
    wait for a host writer); --fs-out: the guest's FIFOs are made with os.mkfifo, one already
    there kept. The host build, run in a directory with the same FIFO, is the reference."""
    b = programs["fifo"]
    want = native(programs, tmp_path, "keep")
    assert b"  host fifo 1 mode 604\n" in want
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    os.mkfifo(src / "hostfifo")
    os.chmod(src / "hostfifo", 0o604)
    (src / "note").write_bytes(b"x")
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(src), "--fs-out", str(out), str(b.elf), "/", "keep",
                    timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == want
    assert kinds(out) == [("hostfifo", True, 0o604), ("kept", True, 0o644), ("note", False, 0o644)]
    assert kinds(out) == kinds(tmp_path / "native") + [("note", False, 0o644)]
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(out), str(b.elf), "/", "keep", timeout=120)
    assert res.returncode == 0, res.stderr  # (in place: the FIFOs there are kept as they are)
    assert kinds(out) == [("hostfifo", True, 0o604), ("kept", True, 0o644), ("note", False, 0o644)]


@pytest.mark.parametrize("apart", [False, True])
def test_a_waiting_open_holds_its_fifo_whatever_its_name(programs: Programs, tmp_path: Path,
                                                         apart: bool) -> None:
    """An open that waits at a FIFO renamed, linked and unlinked meanwhile meets the writer
    that opens it by its new name (it was made again by path: ENOENT), and not one of a new
    FIFO at its old name; with `apart`, each reader waits on another cluster."""
    b = programs["fifo_renamed"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["fifo_renamed", "/tmp", *(["apart"] if apart else [])], cluster=0)
    c.run()
    assert p.done
    d = tmp_path / "native"
    d.mkdir()
    want = run_native(b, ["fifo_renamed", str(d)])
    assert want.returncode == 0 and b"read 15 'by its new name'" in want.stdout
    assert p.stdout.decode(errors="replace") == want.stdout.decode(errors="replace"), p.message
    kids = sorted((r.pid, r.cluster) for r in c.processes() if r.pid != p.pid)
    assert [cl for _, cl in kids] == ([2, 3, 1] if apart else [0, 0, 0])
    kernels = c._backend.kernels
    assert not any(k.pipes.table or k.pipes.waits or any(t.call.fifo for q in k.procs for t in q.threads)
                   for k in kernels)


def test_a_reader_waiting_at_a_fifo_renamed_while_it_moves(programs: Programs, tmp_path: Path) -> None:
    """fifo_renamed.c's first reader waits in its open; it is moved to another cluster as its
    parent renames the FIFO, and thawed there after the rename: the open made again there
    goes straight to the pipe it waited at (the thread's record carries it: Thread.fifo), not
    to the old name (ENOENT), and reads the writer's line, as the host build's reader does."""
    b = programs["fifo_renamed"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["fifo_renamed", "/tmp"], cluster=0)
    kernels = c._backend.kernels

    def waiting() -> int | None:  # (white box: the child whose open waits at the FIFO)
        return next((q.pid for k in kernels for q in k.procs if q.pid != p.pid
                     and any(t.call.fifo for t in q.threads)), None)

    def renaming() -> bool:  # (white box: the parent's rename on its way to the file server)
        return any(t.proc.pid == p.pid and body.KIND == "fs_rename"
                   for k in kernels for t, _, body in k.packets.pending.values())
    for _ in range(40_000):
        if renaming() or p.done:
            break
        c.run(max_cycles=2_000)
    pid = waiting()
    assert renaming() and pid is not None
    m = c.migrate(pid, 2)
    c.run()
    assert m.state == "done" and m.frozen is not None and m.thawed is not None
    assert p.done, p.message
    d = tmp_path / "native"
    d.mkdir()
    want = run_native(b, ["fifo_renamed", str(d)])
    assert want.returncode == 0 and b"reader: open ok, read 15 'by its new name'" in want.stdout
    assert p.stdout.decode(errors="replace") == want.stdout.decode(errors="replace"), p.message
    assert next(r for r in c.processes() if r.pid == pid).cluster == 2
    assert not any(k.pipes.table or k.pipes.waits for k in kernels)

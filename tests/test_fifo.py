"""Named pipes (mkfifo; kernel/fifos.py, the FIFO node in daemons/files.py): tests/programs/
fifo.c against the host build, with the forked writers on the parent's cluster and on another,
and with the child moved while it waits in its blocking open."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Programs, run_native

from shoal import Chip


def native(programs: Programs, tmp_path: Path, mode: str) -> bytes:
    d = tmp_path / "native"
    d.mkdir()
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
    assert p.stdout.decode(errors="replace") == want.decode(errors="replace"), p.message
    assert p.returncode == 0
    kids = [r for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 3
    assert any(r.cluster != p.record.cluster for r in kids) == (mode == "apart")
    kernels = c._backend.kernels  # (white box: no pipe nor waiting open left behind)
    assert not any(k.pipes.table or k.pipes.opening or k.pipes.waits for k in kernels)


def test_a_child_waiting_in_its_open_moves(programs: Programs, tmp_path: Path) -> None:
    """The first child blocks in open(O_WRONLY) until its parent opens the reader; moved
    meanwhile, it opens on its new cluster and the parent still gets its line."""
    b = programs["fifo"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, [str(b.native), "/tmp", "late"], cluster=0)
    while len(c.processes()) < 2:
        c.run(max_cycles=c.time + 20_000)
    child = next(r for r in c.processes() if r.pid != p.pid)
    c.run(max_cycles=c.time + 200_000)
    assert any(k.pipes.opening for k in c._backend.kernels)  # (white box: it waits in its open)
    c.migrate(child.pid, 2)
    c.run()
    assert p.done
    assert p.stdout.decode(errors="replace") == native(programs, tmp_path, "late").decode(errors="replace")
    assert next(r for r in c.processes() if r.pid == child.pid).cluster == 2

"""One large write into a stream socket or a pipe, read slowly by another process
(tests/programs/sock_bigsend.c): the write goes in many parts and waits between them. Its
bytes must arrive once each, in order, whatever happens in the middle of the call: the
writer migrates (its progress is in its thread's record, which the move carries), or its
buffer is larger than the cluster's memory (each part reads only its own pages, so the
pages it needs are resident together). Outputs are the host gcc build's."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip
from shoal.abi import O_APPEND
from shoal.kernel.container import TState


def native(programs: Programs, mode: str, kib: int, *extra: str) -> bytes:
    b = programs["sock_bigsend"]
    out = run_native(b, [str(b.native), mode, str(kib), *extra])
    assert out.returncode == 0
    return out.stdout


@pytest.mark.parametrize("mode", ["sock", "pipe"])
def test_a_write_larger_than_the_cluster(programs: Programs, mode: str) -> None:
    """2 MiB from a buffer on a 1 MiB cluster: it used to need every page of the buffer at
    once at every part (each fetch evicted another page: the run never ended), and a
    socket's count of bytes already sent was dropped when a page was away."""
    c = Chip.preset("tiny")
    p = c.spawn(programs["sock_bigsend"].elf, ["sock_bigsend", mode, "2048"], cluster=0)
    c.run(max_cycles=400_000_000)  # (about 60 M when right)
    assert p.done, "the run did not end"
    assert p.returncode == 0, p.message
    assert p.stdout == native(programs, mode, 2048)
    assert sum(r.rmem_faults for r in c.processes()) > 0  # (the buffer did go to remote memory)


CASES = [(mode, method, ()) for mode in ("sock", "pipe") for method in ("stopcopy", "precopy", "postcopy")]
CASES += [("sockv", "postcopy", ()), ("sendfile", "stopcopy", ()),
          ("sock", "precopy", ("big", "child-reads")), ("pipe", "postcopy", ("big", "child-reads"))]


@pytest.mark.parametrize(("mode", "method", "extra"), CASES)
def test_a_party_migrates_in_the_middle_of_the_write(programs: Programs, mode: str, method: str,
                                                      extra: tuple[str, ...]) -> None:
    """The forked child (the writer; the reader with "child-reads", reading 1 MiB at a time)
    moves at a quarter, half and three quarters of the run; before, a socket write made again
    on the destination sent its first parts a second time (the reader got 869,392 bytes of
    614,400). writev and sendfile into the socket go through the same send."""
    want = native(programs, mode, 600, *extra)
    elf = programs["sock_bigsend"].elf
    argv = ["sock_bigsend", mode, "600", *extra]
    whole = Chip.preset("mppa256")
    whole.spawn(elf, argv, cluster=0)
    whole.run()
    for part in (1, 2, 3):
        c = Chip.preset("mppa256")
        p = c.spawn(elf, argv, cluster=0)
        c.run(max_cycles=whole.time * part // 4)
        (child,) = [r for r in c.processes() if r.pid != p.pid and r.state == "running"]
        c.migrate(child.pid, to=3, method=method)
        c.run()
        assert p.returncode == 0, p.message
        assert p.stdout == want, (part, p.stdout)
        assert [r.cluster for r in c.processes() if r.pid == child.pid] == [3]


def _between_pieces(c: Chip, pid: int) -> bool:
    """A thread of `pid` is in an O_APPEND write of several pieces, its page come and the call
    not yet gone on (Thread.call.file set, the thread not asleep)."""
    return any(t.call.file is not None and t.state is not TState.BLOCKED and t.call.file[0].flags & O_APPEND
               for k in c._backend.kernels for q in k.procs if q.pid == pid for t in q.threads)


@pytest.mark.parametrize("method", ["stopcopy", "precopy", "postcopy"])
def test_a_file_write_of_many_pieces_moved_between_two_goes_on(programs: Programs, method: str) -> None:
    """bigio on a 1 MiB cluster: its writes come from buffers partly in remote memory, so
    they go in pieces and wait for pages. Moved just after a page came and before the call
    went on, the call's progress went not with it: made again at the destination, it started
    over, and its O_APPEND write appended its first pieces twice (offset 2,659,360 or
    3,130,400, not 2,430,000; 2 of 60 moments of a sweep). The image carries it now."""
    b = programs["bigio"]
    want = run_native(b, ["bigio"])
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["bigio"], cluster=0)
    c.run(until=lambda: _between_pieces(c, p.pid))
    assert not p.done  # (the moment came)
    c.migrate(p.pid, 1, method)
    c.run()
    assert [m.state for m in c.migrations] == ["done"], [(m.state, m.reason) for m in c.migrations]
    assert (p.stdout, p.returncode) == (want.stdout, want.returncode)

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

"""Small POSIX gaps closed (issue 22's leftovers): a restored forked child's console, kill of
init, PR_SET_PDEATHSIG, memfd_create, sendfile to any descriptor, sched_* and priorities of a
process on another cluster. Expected values from a host gcc build or Linux's documentation."""

from __future__ import annotations

from conftest import Programs, run_native

from shoal import Chip


def test_a_restored_forked_child_uses_its_own_console(programs: Programs) -> None:
    """A forked child writes to (and reads from) its parent's console stream; checkpointed
    after its parent ended and restored on another chip, its output and input are its own
    there (the parent's stream is not on that chip): nothing is lost."""
    b = programs["fork_console"]
    native = run_native(b, ["fork_console"], stdin=b"hello\n")
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["fork_console"], cluster=0)
    c.run(until=lambda: len(c.processes()) == 2 and c.processes()[0].state == "exited")
    c.run(max_cycles=c.spec.cluster.freq_hz // 100)  # 10 ms: the child has seen init, sleeps
    child = c.processes()[1]
    assert child.state == "running" and p.returncode == 0
    data = c.checkpoint(child.pid, stop=True)
    c2 = Chip.preset("tiny")
    q = c2.restore(data, cluster=2, stdin=b"hello\n")
    c2.run()
    assert q.returncode == 3, q.message
    assert p.stdout + q.stdout == native.stdout
    assert q.stdout == b"child: read 6 [hello\n]\n"
    assert p.stderr + q.stderr == native.stderr == b"child: stderr 6\n"

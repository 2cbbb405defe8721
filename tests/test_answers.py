"""Answers written into a page that is away when they come (kernel/answers.py): the call is
made again once the page is here and takes its kept answer, never EFAULT; a bad address still
is. tests/programs/answer_away.c against the host build."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip


@pytest.mark.parametrize("mode", ["shared", "rmem"])
def test_answers_into_a_page_away_are_the_host_builds(programs: Programs, mode: str) -> None:
    """shared: the buffers are a shared page a child on cluster 2 writes in a loop; rmem: a
    child on the same tiny cluster walks 2 MiB, so pages go to remote memory meanwhile."""
    b = programs["answer_away"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["answer_away", mode], cluster=0)
    c.run(max_cycles=2 * c.spec.cluster.freq_hz)
    assert p.done, "still running"
    want = run_native(b, ["answer_away", mode])
    assert b"24 rounds of 17 calls, 0 wrong\n" in want.stdout
    assert b"recv to a bad address: -1 Bad address" in want.stdout
    assert p.stdout.decode(errors="replace") == want.stdout.decode(errors="replace"), p.message
    assert p.returncode == 0
    faults = p.record.shm_faults if mode == "shared" else p.record.rmem_faults
    assert faults > 0  # (the pages did go away)

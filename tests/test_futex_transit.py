"""A futex waiter is never lost to a migration (tests/programs/futex_transit.c): a forked child
sleeps in FUTEX_WAIT on a shared word and is moved just before its parent's FUTEX_WAKE (which
does not change the word), or after a FUTEX_REQUEUE moved it to a second word. A freeze used
to back the wait out and make it again after the move: the wake came while the child was on
its way and found nobody, or the wait went back to its first word; the child slept for ever
(17 of these 30 runs). Now the wait ends at the thaw as woken, a spurious wake-up Linux
allows. Outputs are the host gcc build's."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip


@pytest.mark.parametrize("method", ["stopcopy", "precopy", "postcopy"])
@pytest.mark.parametrize("mode", ["wake", "requeue"])
def test_a_wake_while_the_waiter_moves_is_not_lost(programs: Programs, mode: str, method: str) -> None:
    b = programs["futex_transit"]
    want = run_native(b, [str(b.native), mode]).stdout
    whole = Chip.preset("mppa256")
    whole.spawn(b.elf, ["futex_transit", mode], cluster=0)
    whole.run()
    (child,) = [r for r in whole.processes() if r.pid != min(x.pid for x in whole.processes())]
    moved = []
    for before in (20_000, 50_000, 400_000):  # cycles before the child's wake-up, unmoved
        c = Chip.preset("mppa256")
        p = c.spawn(b.elf, ["futex_transit", mode], cluster=0)
        c.run(max_cycles=child.end_cycle - before)
        c.migrate(child.pid, to=5, method=method)
        c.run(max_cycles=child.end_cycle * 3)
        assert p.done, f"{before}: the child was never woken"
        assert p.stdout == want, before
        moved += [r.cluster == 5 for r in c.processes() if r.pid == child.pid]
    assert any(moved)  # (a pre-copy that starts late ends with the child, which woke first)

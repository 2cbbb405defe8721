"""Sockets (issue 22 part 6): tests/programs/sockets.c, one mode per test, run on the chip and
natively (host gcc) with the same argv; stdout and exit status must be the same bytes. With
`far`, the parent is big before it forks, so each child is placed on another cluster (tiny:
1 MiB clusters) and the parties talk across the NoC."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip


def run_both(programs: Programs, *args: str) -> tuple[object, Chip]:
    b = programs["sockets"]
    argv = [str(b.native), *args]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run()
    assert p.done
    native = run_native(b, argv)
    assert p.stdout.decode(errors="replace") == native.stdout.decode(errors="replace"), p.message
    assert p.returncode == native.returncode, p.message
    return p, c


@pytest.mark.parametrize("mode", ["pair", "unix", "dgram", "inet", "prefork", "errors", "nonblock"])
def test_mode_as_native(programs: Programs, mode: str) -> None:
    run_both(programs, mode)


@pytest.mark.parametrize("mode", ["pair", "unix", "dgram", "inet", "prefork"])
def test_parties_on_other_clusters(programs: Programs, mode: str) -> None:
    p, c = run_both(programs, mode, "far")
    elsewhere = [r for r in c.processes() if r.pid != p.pid and r.cluster != p.cluster]
    assert elsewhere, "a child should have been placed on another cluster"


def test_no_outside_network(programs: Programs) -> None:
    """Any address but the loopback's: ENETUNREACH, as Linux with no route to it."""
    c = Chip.preset("tiny")
    p = c.spawn(programs["sockets"].elf, ["sockets", "outside"], cluster=0)
    c.run()
    assert p.stdout == b"connect outside: -1 ENETUNREACH\nsendto outside: -1 ENETUNREACH\n"

"""Sockets (issue 22 part 6): tests/programs/sockets.c, one mode per test, run on the chip and
natively (host gcc) with the same argv; stdout and exit status must be the same bytes. With
`far`, the parent is big before it forks, so each child is placed on another cluster (tiny:
1 MiB clusters) and the parties talk across the NoC."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Programs, assert_same, run_native, run_shoal

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


@pytest.mark.parametrize("method", ["stopcopy", "precopy"])
def test_both_ends_migrate_mid_connection(programs: Programs, method: str) -> None:
    """A client and a server (two programs, no fork) on the loopback: the client moves in the
    middle of its round trips, the server while the bulk data flows; nothing is lost or sent
    twice (sums computed in Python: 500 x 1000 bytes of '0' + j % 50)."""
    elf = programs["sockets"].elf
    c = Chip.preset("tiny")
    srv = c.spawn(elf, ["sockets", "srv"], cluster=0)
    cli = c.spawn(elf, ["sockets", "cli", "200"], cluster=1)
    c.run(max_cycles=400_000)
    assert not cli.done
    m1 = cli.migrate(to=2, method=method)
    c.run(max_cycles=1_200_000)
    m2 = srv.migrate(to=1, method=method)
    c.run()
    total, total_sum = 500_000, sum(48 + j % 50 for j in range(500_000))
    assert srv.stdout == f"server: {total} {total_sum}\n".encode(), srv.message
    assert cli.stdout == f"client: 200 rounds, server says {total} {total_sum}\n".encode(), cli.message
    assert (srv.cluster, cli.cluster) == (1, 2)
    assert m1.downtime and m2.downtime


def test_checkpoint_of_a_socket_holder_is_refused(programs: Programs) -> None:
    from shoal.errors import ShoalError
    c = Chip.preset("tiny")
    srv = c.spawn(programs["sockets"].elf, ["sockets", "srv"], cluster=0)
    c.run(max_cycles=200_000)
    with pytest.raises(ShoalError, match="socket"):
        srv.checkpoint()
    srv.kill()


def test_a_unix_name_is_a_socket_file(programs: Programs, tmp_path: Path) -> None:
    """bind makes a socket file (S_IFSOCK, 0777 & ~umask, DT_SOCK); the name outlives its
    socket (ECONNREFUSED) until unlinked (ENOENT); EADDRINUSE over any name; open: ENXIO."""
    b = programs["unixname"]
    p, _ = run_shoal(b, ["unixname", "/tmp"])
    assert_same(p, run_native(b, ["unixname", str(tmp_path)]))
    assert b"connect after close -111\nbind after close -98\nunlink 0\nconnect after unlink -2\n" in p.stdout


def test_unix_names_at_their_edges_as_native(programs: Programs, tmp_path: Path) -> None:
    """A sun_path of all 108 bytes without a NUL binds (ENAMETOOLONG before), its name read
    back 111 bytes long; sendto with an address on an unconnected stream socket is EOPNOTSUPP
    (ENOTCONN before); the rest of the socket-file rules as Linux."""
    b = programs["unix_names"]
    p, _ = run_shoal(b, ["unix_names", "/tmp"])
    assert_same(p, run_native(b, ["unix_names", str(tmp_path)]))
    assert b"bind(s4, (void *)&lu, sizeof lu) = 0 0\n" in p.stdout and b"len 111\n" in p.stdout
    assert b"sendto(s2, \"x\", 1, 0, (void *)&u, sizeof u) = -1 95\n" in p.stdout

"""The I/O cluster's dispatcher (shoal/daemons/node.py): one table of packet kinds and one of
host requests, built from the servers' own; a kind nobody serves, or served twice, is refused
when the node is made, and a request nobody serves is one clear error, never an AttributeError."""

from __future__ import annotations

import pytest

from shoal.daemons import node as node_mod
from shoal.daemons.names import NameServer
from shoal.daemons.node import IO_KINDS, IoNode
from shoal.errors import ShoalError
from shoal.messages import Evacuate, Exit, Kind
from shoal.platform.noc import Packet
from shoal.spec import ChipSpec

SPEC = ChipSpec.preset("tiny")


def make() -> IoNode:
    return IoNode(SPEC, SPEC.compute_clusters, 1)


def test_every_kind_of_the_protocol_has_exactly_one_server() -> None:
    n = make()
    assert set(n.handlers) | set(n.streams) == IO_KINDS
    assert not set(n.handlers) & set(n.streams)
    assert n.streams == {"console": n.console.on_console}
    assert n.handlers["fs_open"] == n.files.on_fs_open and n.handlers["rmem_get"] == n.rmem.on_rmem_get
    assert sorted(n.host) == ["add_file", "adopt_pid", "evacuate", "forget", "fs_load", "fs_owner", "fs_tree",
                              "new_pid",
                              "output", "output_dropped", "place", "policy_figures", "running",
                              "set_policies", "set_stdin", "stats"]


def test_a_kind_nobody_serves_is_refused_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_mod, "IO_KINDS", IO_KINDS | {"pipe_open"})
    with pytest.raises(ShoalError, match="no server for packet kind pipe_open"):
        make()


def test_a_kind_outside_the_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_mod, "IO_KINDS", IO_KINDS - {"name_link"})
    with pytest.raises(ShoalError, match="name_link served but not in IO_KINDS"):
        make()


def test_two_servers_for_one_kind_or_request_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Greedy(NameServer):
        def __init__(self, core: object) -> None:
            super().__init__(core)  # type: ignore[arg-type]
            self.packets[Kind.FS_OPEN] = self.on_name_link
    monkeypatch.setattr(node_mod, "NameServer", Greedy)
    with pytest.raises(ShoalError, match="packet kind 'fs_open' is served by both names and files"):
        make()

    class Host(NameServer):
        def __init__(self, core: object) -> None:
            super().__init__(core)  # type: ignore[arg-type]
            self.host["stats"] = lambda: {}
    monkeypatch.setattr(node_mod, "NameServer", Host)
    with pytest.raises(ShoalError, match="host request 'stats' is served by both node and names"):
        make()


def test_unknown_packets_and_requests_get_one_clear_error() -> None:
    n = make()
    with pytest.raises(ShoalError, match="no server for packet kind 'bogus' \\(from cluster 2\\)"):
        n.handle(Packet(2, n.node, "bogus", Evacuate(cluster=0), b"", 0, 0, 16, 0), 0)  # type: ignore[arg-type]
    with pytest.raises(ShoalError, match="no host request 'host_stats'"):
        n.request("host_stats")
    assert n.request("stats")["requests"] == 0


def test_a_process_that_ends_is_told_to_every_server_in_order() -> None:
    n = make()
    pid = n.request("new_pid", 0, "p")
    n.names.names["svc"] = pid
    n.rmem.rmem[pid] = {0x1000: (1, bytes(SPEC.cluster.page_size))}
    n.rmem.rmem_bytes = SPEC.cluster.page_size
    n.handle(Packet(0, n.node, Kind.EXIT, Exit(pid=pid, code=3, signal=None), b"", 0, 0, 16, 0), 10)
    assert n.names.names == {} and n.rmem.rmem == {} and n.rmem.rmem_bytes == 0
    # the host's (init's) child: nobody will wait for it, so its record goes at its end
    assert not n.request("running", pid) and pid not in n.procman.procs

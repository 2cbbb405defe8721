"""Locations that follow the process (shoal/kernel/location.py): after a move, a sender's
first packet goes astray once and its kernel learns where the process is; forwarding
pointers go away once the process manager has the move; IKC with a process moved many
times costs what it costs between the two clusters directly. Real programs, timed in
simulated time inside the guest; every message is checked by the programs themselves."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak

from shoal import Chip, ChipSpec, Process, ShoalError
from shoal.daemons.node import IoNode
from shoal.kernel.ikc import Remote
from shoal.kernel.location import Counters
from shoal.messages import UNSET, Body, Exit, Kind, MbxData, Moved, MovedAck, Relay, Reply
from shoal.platform.noc import Packet
from shoal.toolchain import compile_cached

# Tests that compare a moved server's round trips to the cycle with one placed there from the
# start run without the L1 model: its caches arrive cold, and refilling them adds time (what
# test_caches.py measures), not a packet.
NO_CACHES = ChipSpec.preset("mppa256").replace(caches=False)

# Every test here runs once per migration method (conftest.each_method).
pytestmark = pytest.mark.usefixtures("each_method")

# Server moves with a return to clusters it left (0 twice, 1, 2 and 5 twice), ending on 10.
TOUR = [1, 2, 1, 0, 6, 7, 2, 0, 5, 9, 5, 14, 3, 10]
FINAL = TOUR[-1]


def elf(name: str) -> Path:
    return compile_cached([PROGRAMS / f"{name}.c"], SHOAL_FLAGS)


def counters(chip: Chip) -> Counters:
    total = Counters()
    for k in chip.clusters():
        for f in vars(total):
            setattr(total, f, getattr(total, f) + k.locations[f])
    return total


def located(chip: Chip, cluster: int) -> Counters:
    return Counters(**chip.clusters()[cluster].locations)


def pointers(chip: Chip) -> dict[int, dict[int, int]]:
    return {k.cluster: dict(k.pointers) for k in chip.clusters() if k.pointers}


def pingpong(chip: Chip, rounds: int, server: list[str], client: list[str], server_cluster: int,
             client_cluster: int) -> tuple[Process, Process]:
    s = chip.spawn(elf("loc_pingpong"), ["loc_pingpong", "server", "T", str(rounds), *server],
                   cluster=server_cluster)
    c = chip.spawn(elf("loc_pingpong"), ["loc_pingpong", "client", "T", str(rounds), *client],
                   cluster=client_cluster)
    return s, c


def round_trips(client: Process) -> list[tuple[int, int]]:
    """(ns, server's cluster) of each round trip, as the client measured them."""
    lines = client.stdout.decode().split("\n")[:-1]  # complete lines only: it may still run
    return [(int(line.split()[2]), int(line.split()[3])) for line in lines if line.startswith("rt ")]


def total_ns(client: Process) -> int:
    return int(client.stdout.decode().rsplit("total ", 1)[1])


def direct(rounds: int, server_cluster: int, client_cluster: int = 0,
           spec: ChipSpec | None = None) -> list[int]:
    c = Chip(spec) if spec is not None else Chip.preset("mppa256")
    s, cl = pingpong(c, rounds, [], [], server_cluster, client_cluster)
    c.run()
    assert s.returncode == 0 and cl.returncode == 0, (s.stdout, cl.stdout)
    return [ns for ns, _ in round_trips(cl)]


def mean(xs: list[int]) -> float:
    return sum(xs) / len(xs)


# --- a server moved 14 times -----------------------------------------------------------------
def test_a_server_that_moved_itself_14_times_answers_as_fast_as_one_placed_there() -> None:
    rounds, after = 40, 5
    c = Chip.preset("mppa256")
    s, cl = pingpong(c, rounds, [str(after), *map(str, TOUR)], [], 4, 0)
    # Run until the tour is over and a few round trips followed, then look at the pointers
    # while both still run: every old cluster has dropped its own.
    while len([m for m in s.migrations if m.ok]) < len(TOUR):
        c.run(max_cycles=40_000)
    c.run(max_cycles=200_000)
    assert not s.done and not cl.done
    assert pointers(c) == {}
    c.run()
    assert s.returncode == 0 and cl.returncode == 0, (s.stdout, cl.stdout)
    assert s.stdout == f"server T: {rounds} rounds, now on cluster {FINAL}\n".encode()
    assert [m.dst for m in s.migrations] == TOUR and all(m.by == "guest" for m in s.migrations)
    got = round_trips(cl)
    assert [where for _, where in got] == [4] * after + [FINAL] * (rounds - after)
    ref = direct(rounds, FINAL)
    # Round trip `after` waits for the tour; the next one is the only one that went astray
    # (its ping reached a cluster the server had left). From then on: direct.
    astray = got[after + 1][0]
    steady = [ns for ns, _ in got[after + 2:]]
    assert abs(mean(steady) - mean(ref[after + 2:])) <= 0.05 * mean(ref[after + 2:]), (steady, ref)
    assert astray < 2 * mean(ref[after + 2:])
    n = counters(c)
    assert n.notices_taken >= 1 and n.endpoints_updated >= 1
    assert n.forwarded + n.relayed <= 2  # not once per message: the client learnt where it went
    assert pointers(c) == {}


def test_a_server_moved_14_times_by_the_host_mid_conversation() -> None:
    """The host moves the server every 150 us from 1 ms on, while pings and pongs are in
    flight; once it is on its last cluster, the round trips cost what they cost with the
    server placed there from the start."""
    rounds = 200
    c = Chip.preset("mppa256")
    s, cl = pingpong(c, rounds, [], [], 4, 0)
    for i, dst in enumerate(TOUR):
        c.schedule_migration(s.pid, dst, 400_000 + i * 60_000)
    c.run()
    assert s.returncode == 0 and cl.returncode == 0, (s.stdout, cl.stdout)
    assert [m.dst for m in s.migrations] == TOUR and all(m.ok for m in s.migrations)
    got = round_trips(cl)
    assert len(got) == rounds  # the client checked every sequence number
    first_final = next(i for i, (_, where) in enumerate(got) if where == FINAL)
    assert all(where == FINAL for _, where in got[first_final:])
    # The moves interleave with the conversation: the server answered from many clusters.
    assert len({where for _, where in got}) >= 8
    steady = [ns for ns, _ in got[first_final + 2:]]
    assert len(steady) >= 40
    ref = direct(rounds, FINAL)[-len(steady):]
    assert abs(mean(steady) - mean(ref)) <= 0.05 * mean(ref), (steady, ref)
    assert pointers(c) == {}
    n = counters(c)
    assert n.pointers_dropped >= len(TOUR) - 4  # the others were removed by a return (0, 1, 2, 5)
    assert n.notices_taken >= 1


# --- the first packet after a move ------------------------------------------------------------
def test_the_first_packet_after_a_move_goes_through_the_process_manager_once() -> None:
    """The server moves while the client pauses; the pointer is gone by the time the next
    ping reaches the old cluster, so that ping goes to the process manager, which sends it
    on; the client's kernel is told where the server is and later pings go direct."""
    c = Chip(NO_CACHES)
    # The server moves itself to 9 right after its 10th answer: the client then pauses 300 us.
    s, cl = pingpong(c, 20, ["10", "9"], ["-1", "-1", "300"], 4, 0)
    c.run()
    assert s.returncode == 0 and cl.returncode == 0, (s.stdout, cl.stdout)
    got = round_trips(cl)
    first_there = next(i for i, (_, where) in enumerate(got) if where == 9)
    ref = direct(20, 9, spec=NO_CACHES)
    # The first ping after the move went astray (through the manager); from the next round
    # trip on, the client pays what it pays with the server placed there from the start.
    assert got[first_there][0] > ref[first_there]
    # (to the cycle: the guest's clock floors to whole ns, 2.5 ns a cycle)
    after = [ns for ns, _ in got[first_there + 2:]]
    assert all(abs(ns - r) <= 3 for ns, r in zip(after, ref[first_there + 2:], strict=True))
    k4 = located(c, 4)
    assert k4.relayed == 1 and k4.forwarded == 0 and k4.pointers_dropped == 1
    assert c.daemon_stats()["relayed"] == 1
    assert located(c, 9).notices_sent == 1 and located(c, 0).notices_taken == 1
    assert pointers(c) == {}


def test_a_lost_moved_packet_is_sent_again_and_the_pointer_waits_for_the_manager() -> None:
    """The NoC loses the `moved` packet three times: the old cluster sends it again each time
    and keeps its pointer until the manager has acknowledged the move; in the end the manager
    knows, nothing is left behind, and the sender learned where the server went."""
    c = Chip(NO_CACHES)
    c.inject_failure("moved", 3)
    s, cl = pingpong(c, 20, ["10", "9"], ["-1", "-1", "300"], 4, 0)
    c.run()
    assert s.returncode == 0 and cl.returncode == 0, (s.stdout, cl.stdout)
    got = round_trips(cl)
    first_there = next(i for i, (_, where) in enumerate(got) if where == 9)
    ref = direct(20, 9, spec=NO_CACHES)
    assert got[first_there][0] > ref[first_there]
    # (to the cycle: the guest's clock floors to whole ns, 2.5 ns a cycle)
    after = [ns for ns, _ in got[first_there + 2:]]
    assert all(abs(ns - r) <= 3 for ns, r in zip(after, ref[first_there + 2:], strict=True))
    assert located(c, 4).pointers_dropped == 1 and pointers(c) == {}
    assert located(c, 0).notices_taken == 1


# --- a client moved next to its server --------------------------------------------------------
def test_a_client_moved_next_to_its_server_mid_stream_finishes_sooner() -> None:
    """The server answers through its own output endpoint to the client: after the client
    moves from 4 hops away to a neighbour, the answers follow it at once."""
    rounds, at = 2400, 10

    def run(client: list[str], where: int) -> Process:
        c = Chip.preset("mppa256")
        s, cl = pingpong(c, rounds, [], client, 0, where)
        c.run()
        assert s.returncode == 0 and cl.returncode == 0, (s.stdout, cl.stdout)
        assert pointers(c) == {}
        return cl

    far, near = run([], 10), run([], 1)
    moved = run([str(at), "1"], 10)
    assert moved.migrations[0].ok and moved.cluster == 1
    assert total_ns(moved) < total_ns(far)
    # After the move it pays what a client placed next to the server pays (the round trip
    # right after the move went astray once).
    got = [ns for ns, _ in round_trips(moved)][at + 2:]
    ref = [ns for ns, _ in round_trips(near)][at + 2:]
    assert abs(mean(got) - mean(ref)) <= 0.05 * mean(ref)
    assert mean(ref) < mean([ns for ns, _ in round_trips(far)])


# --- nothing lost or duplicated ---------------------------------------------------------------
def test_many_senders_and_their_receiver_moved_at_random_while_messages_fly() -> None:
    """Mailbox messages, portal blocks and sync barriers between a receiver and 4 senders,
    all of them moved at random moments (senders too, with their output endpoints in their
    images); the receiver checks every sequence number and every byte."""
    c = Chip.preset("mppa256")
    senders, count, barriers = 4, 150, 30
    r = c.spawn(elf("loc_flood"), ["loc_flood", "recv", "F", str(senders), str(count), str(barriers)])
    ss = [c.spawn(elf("loc_flood"), ["loc_flood", "send", "F", str(i), str(count), str(barriers)],
                  cluster=1 + i) for i in range(senders)]
    rng = random.Random(20261127)
    asked = 0
    while not r.done and asked < 60:
        c.run(max_cycles=rng.randrange(5_000, 60_000))
        live = [p for p in (r, *ss) if not p.done]
        if not live:
            break
        try:
            c.migrate(rng.choice(live).pid, rng.randrange(16))
            asked += 1
        except ShoalError as e:  # still moving from the previous request
            assert "error 16" in str(e)
    c.run()
    assert r.stdout == (f"recv F: {senders} senders x {count} messages, {senders} blocks, "
                        f"{barriers} barriers, in order\n").encode(), (r.stdout, r.message)
    assert r.returncode == 0 and all(s.returncode == 0 and s.stdout == b"" for s in ss)
    assert asked == 60 and all(m.ok for m in c.migrations)
    assert len({m.pid for m in c.migrations}) == senders + 1
    n = counters(c)
    assert n.notices_taken > 0 and n.endpoints_updated > 0 and n.pointers_dropped > 0
    assert pointers(c) == {}
    assert_no_frame_leak(c)


def test_client_and_server_both_moved_at_random_mid_conversation() -> None:
    c = Chip.preset("mppa256")
    s, cl = pingpong(c, 300, [], [], 3, 12)
    rng = random.Random(5)
    at = 200_000
    for i in range(30):
        at += rng.randrange(20_000, 90_000)
        c.schedule_migration((s if i % 2 else cl).pid, rng.randrange(16), at)
    c.run()
    assert s.returncode == 0 and cl.returncode == 0, (s.stdout, cl.stdout)
    assert len(round_trips(cl)) == 300  # each side checked every sequence number
    assert len(c.migrations) >= 25 and all(m.ok for m in c.migrations)
    assert pointers(c) == {}
    assert_no_frame_leak(c)


# --- a process that ended --------------------------------------------------------------------
def gone(tour: list[int]) -> tuple[bytes, Chip]:
    c = Chip.preset("mppa256")
    t = c.spawn(elf("loc_gone"), ["loc_gone", "target", "G", *map(str, tour)], cluster=4)
    s = c.spawn(elf("loc_gone"), ["loc_gone", "sender", "G", "500"], cluster=0)
    c.run()
    assert t.returncode == 0 and s.returncode == 0, (t.message, s.message)
    return s.stdout, c


def test_sending_to_a_process_that_ended_after_moving_gets_the_same_error() -> None:
    stayed, _ = gone([])
    moved, c = gone([5, 6, 10])
    assert stayed == moved == b"mailbox -111 portal -111 reopen -3\n"  # ECONNREFUSED, ESRCH
    assert pointers(c) == {}
    assert c.daemon_stats()["refused"] == 2  # the manager answered both: the process had ended
    assert located(c, 4).relayed == 2


def test_a_late_notice_from_an_earlier_home_does_not_undo_a_newer_one() -> None:
    ep = Remote("sync", (5, 6), (0, 1), 3)
    assert ep.relocate(5, 3, 2) and ep.clusters == (3, 1)
    assert not ep.relocate(5, 1, 1)  # generation 1 is older than what it knows
    assert ep.clusters == (3, 1)
    assert ep.relocate(5, 7, 3) and ep.relocate(6, 2, 1) and ep.clusters == (7, 2)
    assert not ep.relocate(9, 4, 8)  # not one of its targets


# --- the process manager's record ---------------------------------------------------------------
def manager() -> tuple[IoNode, int]:
    spec = ChipSpec.preset("tiny")
    svc = IoNode(spec, spec.compute_clusters, 0)
    return svc, svc.procman.new_pid(0, "p")


def moved(pid: int, src: int, dst: int) -> Packet:
    return Packet(src, 99, Kind.MOVED, Moved(pid=pid, cluster=dst), b"", 128, 0, 128, 16)


def sent(svc: IoNode) -> list[tuple[int, str, Body]]:
    out = [(p.dst, p.kind, p.body) for p in svc.outbox]
    svc.outbox.clear()
    return out


def test_moves_that_reach_the_manager_out_of_order_are_applied_in_order() -> None:
    svc, pid = manager()
    svc.handle(moved(pid, 1, 2), 100)  # 0 -> 1 has not arrived yet: this one waits
    assert svc.procman.procs[pid].cluster == 0 and sent(svc) == []
    svc.handle(moved(pid, 0, 1), 200)
    assert svc.procman.procs[pid].cluster == 2
    assert sent(svc) == [(0, "moved_ack", MovedAck(pid=pid, cluster=1)),
                         (1, "moved_ack", MovedAck(pid=pid, cluster=2))]
    # Back to a cluster it left, and on again.
    svc.handle(moved(pid, 2, 0), 300)
    svc.handle(moved(pid, 0, 3), 400)
    assert svc.procman.procs[pid].cluster == 3 and len(sent(svc)) == 2


def relay(pid: int, src: int, stamp: int | None = None) -> Packet:
    inner = MbxData(dst=pid, port=1, op=7, reply_to=3, pm_version=UNSET if stamp is None else stamp)
    body = Relay(kind=Kind.MBX_DATA, bulk=False, body=inner)
    return Packet(src, 99, Kind.RELAY, body, b"m", 128, 0, 128, 16)


def test_a_packet_that_comes_back_waits_for_a_newer_record_then_is_routed_or_refused() -> None:
    svc, pid = manager()
    svc.handle(relay(pid, 2), 10)
    ((dst, kind, body),) = sent(svc)
    assert (dst, kind) == (0, "mbx_data") and body.reply_to == 3
    # It came back from cluster 0 under the same record: the record is behind. It waits.
    svc.handle(relay(pid, 0, body.pm_version), 20)
    assert sent(svc) == [] and len(svc.procman.procs[pid].parked) == 1
    svc.handle(moved(pid, 0, 1), 30)  # the move it was waiting for: sent on to cluster 1
    out = sent(svc)
    assert (1, "mbx_data") in [(d, k) for d, k, _ in out] and not svc.procman.procs[pid].parked
    # Came back again (it moved on meanwhile), and the process ends before the next move
    # arrives: refused as the receiving kernel would.
    stamp = next(b for d, k, b in out if k == "mbx_data").pm_version
    svc.handle(relay(pid, 1, stamp), 40)
    svc.handle(moved(pid, 2, 3), 45)  # an early move, for a later hop
    svc.handle(Packet(3, 99, Kind.EXIT, Exit(pid=pid, code=0, signal=None), b"", 128, 0, 128, 16), 50)
    out = sent(svc)
    assert (3, "reply", Reply(op=7, ret=-111)) in out
    assert (2, "moved_ack", MovedAck(pid=pid, cluster=3)) in out  # pointers go even so
    # A process that never existed: refused at once.
    svc.handle(relay(999, 2), 60)
    assert sent(svc) == [(3, "reply", Reply(op=7, ret=-111))]

"""The migration protocol when the NoC loses its packets, and what a migration costs.

Every protocol packet kind is lost in turn (`chip.noc.inject_failure`): whatever is lost,
exactly one copy of the process runs afterwards (its output is right and printed once), no
frame stays reserved or in use on any cluster once everything has ended, and the record ends
in a final state with a reason. Real programs; results checked against host computations.
The downtime is checked against the charges computed here from the ChipSpec figures."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak

import shoal
from shoal import Chip, ChipSpec, ShoalError
from shoal.experiments.migration import tour_checksum
from shoal.kernel.migrate import TRIES
from shoal.messages import Load, Locate, MbxData, MigAccept, MigImage, MigReserve
from shoal.platform.noc import body_bytes, packet
from shoal.toolchain import compile_cached

# Every test here runs once per migration method (conftest.each_method).
pytestmark = pytest.mark.usefixtures("each_method")

SHOAL_PROGRAMS = Path(shoal.__file__).parent / "experiments" / "programs"
HOLD_PAGES, HOLD_THREADS = 32, 2
IMAGE_HEADER, PAGE_RECORD = 64, 8 + 4096  # image.py: "<8sIIIIQ32s" header; "<II" + a page per page


def elf(path: Path) -> Path:
    return compile_cached([path], SHOAL_FLAGS)


def hold_output(pages: int, threads: int) -> bytes:
    """What hold.c prints, computed here: the checksum of the bytes it wrote."""
    s = 0
    for i in range(pages * 4096):
        s = (s * 31 + ((i * 7 + (i >> 12)) & 0xFF)) & (2**64 - 1)
    return f"hold {pages} pages {threads} threads: {s}\n".encode()


HOLD_OUT = hold_output(HOLD_PAGES, HOLD_THREADS)


def assert_settled(c: Chip) -> None:
    """Everything has ended: no frame used or promised on any cluster, and every migration
    record in a final state with its reason."""
    assert_no_frame_leak(c)
    assert all(k.frames_reserved == 0 and not k.processes for k in c.clusters())
    for m in c.migrations:
        assert m.state in ("done", "failed"), m
        assert m.reason, m


def assert_one_copy(c: Chip, p: shoal.Process, cluster: int, out: bytes) -> None:
    """One copy ran to the end, where it should have: its output is right and printed once."""
    assert p.stdout == out and p.returncode == 0, (p.stdout, p.message)
    assert p.record.state == "exited" and p.cluster == cluster


def move_hold(lost: dict[str, int], hog: bool = False) -> tuple[Chip, shoal.Process]:
    """hold (32 pages, 2 threads) migrates from cluster 0 to 3 of `tiny` while asleep, with
    the NoC losing the packets of `lost` (kind: count); with `hog`, cluster 3 has no room."""
    c = Chip.preset("tiny")
    if hog:
        c.spawn(elf(SHOAL_PROGRAMS / "hold.c"), ["hold", "200", "1", "40"], cluster=3)
    p = c.spawn(elf(SHOAL_PROGRAMS / "hold.c"), ["hold", str(HOLD_PAGES), str(HOLD_THREADS), "30"])
    for kind, n in lost.items():
        c.inject_failure(kind, n)
    c.schedule_migration(p.pid, 3, 8_000_000)  # 20 ms: its pages are touched, its threads asleep
    c.run()
    assert_settled(c)
    assert len(p.migrations) == 1
    m = p.migrations[0]
    assert_one_copy(c, p, 3 if m.state == "done" else 0, HOLD_OUT)
    return c, p


# --- one packet of each kind lost --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mig_accept", "mig_ack", "mig_commit", "mig_done"])
def test_a_lost_reply_or_post_commit_packet_is_sent_again_and_the_move_completes(kind: str) -> None:
    c, p = move_hold({kind: 1})
    m = p.migrations[0]
    assert m.state == "done" and p.cluster == 3, m.reason
    assert m.reason.startswith("moved to cluster 3") and m.resent >= 1, m.reason
    assert m.downtime is not None and m.downtime > 0


@pytest.mark.parametrize("kind", ["mig_reserve", "mig_image"])
def test_a_lost_reserve_or_image_aborts_and_the_process_goes_on_at_the_source(kind: str) -> None:
    c, p = move_hold({kind: 1})
    m = p.migrations[0]
    assert m.state == "failed" and m.reason == f"NoC transfer failed ({kind})"
    assert p.cluster == 0 and m.downtime is None
    assert m.sends.get("mig_release", 0) == (kind == "mig_image")  # D held a reservation then


@pytest.mark.parametrize("count", [1, TRIES, 100])
def test_a_lost_release_is_sent_again_or_the_lease_runs_out(count: int) -> None:
    """The image is lost, so S sends mig_release; lose that too: once (S sends it again),
    TRIES times (every try: D's lease renews its accept, and S answers with a release), always
    (D's lease runs out)."""
    c, p = move_hold({"mig_image": 1, "mig_release": count})
    m = p.migrations[0]
    assert m.state == "failed" and p.cluster == 0
    # S sends it again after each loss; once it has sent TRIES, it answers D's renewed accepts.
    assert m.sends["mig_release"] >= min(count + 1, TRIES)
    if count < TRIES:
        assert m.sends["mig_release"] == count + 1


@pytest.mark.parametrize("count", [1, TRIES])
def test_a_lost_refusal_is_sent_again_and_the_process_stays(count: int) -> None:
    c, p = move_hold({"mig_refuse": count}, hog=True)
    m = p.migrations[0]
    assert m.state == "failed" and "no room on cluster 3" in m.reason, m.reason
    assert p.cluster == 0


@pytest.mark.parametrize("count", [1, TRIES])
def test_a_lost_abort_is_sent_again(count: int) -> None:
    """Every ack and every refusal lost: S hears nothing, gives up after its questions, and
    sends mig_abort; lose that too."""
    c, p = move_hold({"mig_ack": TRIES, "mig_refuse": 100, "mig_abort": count})
    m = p.migrations[0]
    assert m.state == "failed" and "no answer from cluster 3" in m.reason, m.reason
    assert p.cluster == 0
    assert m.sends["mig_abort"] == min(count + 1, TRIES) and m.sends["mig_query"] == TRIES


# --- several lost, and every try lost ------------------------------------------------------------
def test_several_packets_lost_at_every_step() -> None:
    c, p = move_hold({"mig_accept": 3, "mig_ack": 3, "mig_commit": 3, "mig_done": 3})
    m = p.migrations[0]
    assert m.state == "done" and p.cluster == 3 and m.resent == 12, m.reason


@pytest.mark.parametrize("kind,moved", [("mig_accept", False), ("mig_ack", False),
                                        ("mig_commit", True), ("mig_done", True)])
def test_every_try_of_a_packet_lost_ends_in_a_clear_state(kind: str, moved: bool) -> None:
    """A side that sent a packet TRIES times in vain stops. Before the commit, the destination
    knows the source never heard it and drops what it holds, and the source aborts; after
    it, the destination asks again and the source answers."""
    c, p = move_hold({kind: TRIES})
    m = p.migrations[0]
    if moved:
        assert m.state == "done" and m.thawed is not None, m.reason
    else:
        assert m.state == "failed" and f"never got the {kind[4:]}" in m.reason, m.reason


# --- the guest moves itself; programs that talk ----------------------------------------------------
def test_a_process_that_moves_itself_around_every_cluster_despite_losses() -> None:
    """tour.c migrates itself to the next cluster at each hop; one image is lost (that hop
    fails: shoal_migrate returns an error and it stays), the rest lose replies and commits."""
    c = Chip.preset("tiny")
    p = c.spawn(elf(SHOAL_PROGRAMS / "tour.c"), ["tour", "8", "2"])
    for kind, n in (("mig_image", 1), ("mig_accept", 2), ("mig_ack", 1), ("mig_commit", 2), ("mig_done", 1)):
        c.inject_failure(kind, n)
    c.run()
    hops = c.spec.compute_clusters
    # The first hop fails (its image is lost); the others go on from cluster 0.
    want = f"tour {hops - 1} hops of {hops}, back on cluster {hops - 1}, checksum {tour_checksum(8, hops)}\n"
    assert_one_copy(c, p, hops - 1, want.encode())
    ms = p.migrations
    assert [m.state for m in ms] == ["failed"] + ["done"] * (hops - 1)
    assert all(m.by == "guest" for m in ms)
    assert_settled(c)


def test_communicating_programs_moved_while_protocol_packets_are_lost() -> None:
    """A mailbox ring and a portal stream (each checks every message: in order, once), moved
    at random moments while the NoC loses random protocol packets."""
    ring = elf(PROGRAMS / "mig_ring.c")
    c = Chip.preset("mppa256")
    c.add_file("mig_ring", ring.read_bytes())
    a = c.spawn(ring, ["mig_ring", "ring", "A", "4", "150"], cluster=0)
    s = c.spawn(ring, ["mig_ring", "stream", "S", "150"], cluster=2)
    kinds = ["mig_reserve", "mig_accept", "mig_refuse", "mig_image", "mig_ack", "mig_commit", "mig_done",
             "mig_release", "mig_abort", "mig_query"]
    rng = random.Random(20260207)
    asked = 0
    while asked < 30:
        c.run(max_cycles=rng.randrange(10_000, 100_000))
        live = [q for q in c.processes() if q.state == "running"]
        assert live, "the programs ended before 30 migrations were asked for"
        c.inject_failure(rng.choice(kinds), rng.randrange(1, 4))
        try:
            c.migrate(rng.choice(live).pid, rng.randrange(16))
            asked += 1
        except ShoalError as e:  # it is still moving
            assert "error 16" in str(e)
    c.run()
    assert a.stdout == b"ring A: 4 processes, 150 laps, 150 messages each, ok\n"
    assert s.stdout == b"stream S: 150 blocks of 8192 bytes, consumer ok\n"
    procs = c.processes()
    assert len(procs) == 6 and all(q.state == "exited" and q.exit_code == 0 for q in procs)
    ms = c.migrations
    assert any(m.state == "failed" for m in ms) and sum(m.state == "done" and m.src != m.dst for m in ms) > 10
    assert_settled(c)


# --- what a migration costs ------------------------------------------------------------------------
def wire(spec: ChipSpec, nbytes: int, header: int, hops: int) -> int:
    """A transfer alone on the NoC: per page-sized DMA operation, setup and bytes at the link
    rate; the path latency once."""
    chunk = spec.ikc.portal_chunk
    chunks = max(1, -(-nbytes // chunk))
    t = hops * spec.noc.noc_hop_cycles
    for i in range(chunks):
        t += spec.noc.noc_setup_cycles + -(-(min(chunk, nbytes - i * chunk) + header)
                                           // spec.noc.noc_link_bytes_per_cycle)
    return t


def expected_downtime(spec: ChipSpec, hops: int, nbytes: int, pages: int, tables: int, threads: int) -> int:
    """Freeze to thaw on an idle chip, from the ChipSpec figures alone.

    S saves each hart context, then copies the image (each byte once) while the reservation
    goes to D and back; the image streams out in page-sized DMA operations as it is copied, so
    only the first operation's copy must precede it (and the copy of the others runs while
    earlier ones are on the wire, here faster than the wire). D copies each page out and
    installs its PTE as the next one arrives: after the last one, only its copy, the
    page-table roots and the thread contexts remain. Then the ack and the commit."""
    copy = spec.costs.copy_cycles_per_byte
    chunks = -(-nbytes // spec.ikc.portal_chunk)
    per_chunk_wire = spec.noc.noc_setup_cycles + -(-(spec.ikc.portal_chunk + spec.ikc.portal_header)
                                                // spec.noc.noc_link_bytes_per_cycle)
    freeze = spec.costs.context_switch_cycles * threads
    build = math.ceil(copy * nbytes)
    lead = build - min((chunks - 1) * per_chunk_wire, build - math.ceil(copy * spec.ikc.portal_chunk))
    reserve = wire(spec, 8 + 4 + 4 + 4, spec.ikc.mailbox_header, hops)  # mid, pid, frames, bytes
    short = wire(spec, 8, spec.ikc.mailbox_header, hops)  # accept, ack, commit: the mid alone
    recv = spec.ikc.ikc_recv_cycles
    image = wire(spec, nbytes, spec.ikc.portal_header, hops)  # its mid and pid ride in the header
    meta = nbytes - IMAGE_HEADER - pages * PAGE_RECORD
    last = (math.ceil(copy * (nbytes - (chunks - 1) * spec.ikc.portal_chunk))
            + spec.costs.pte_install_cycles * tables + spec.costs.context_switch_cycles * threads)
    rebuild = (math.ceil(copy * (meta + pages * spec.cluster.page_size))  # copied out
               + spec.costs.pte_install_cycles * (pages + tables)  # a PTE per page and one per table
               + spec.costs.context_switch_cycles * threads)  # each context installed
    tail = rebuild - min((chunks - 1) * per_chunk_wire, rebuild - last)
    return (freeze + max(lead, reserve + recv + short + recv) + image + recv + tail
            + short + recv + short + recv)


@pytest.mark.stopcopy_only
def test_downtime_is_the_sum_of_the_charges_and_grows_with_the_bytes_moved() -> None:
    spec = ChipSpec.preset("mppa256")
    runs = []
    for pages in (16, 80):
        c = Chip(spec)
        p = c.spawn(elf(SHOAL_PROGRAMS / "hold.c"), ["hold", str(pages), "2", "30"])
        c.schedule_migration(p.pid, 5, 8_000_000)
        c.run()
        m = p.migrations[0]
        assert m.state == "done" and p.stdout == hold_output(pages, 2) and m.downtime is not None
        hops = c.hops(0, 5)
        want = expected_downtime(spec, hops, m.bytes, m.pages, m.tables, m.threads)
        assert m.downtime == want  # an idle chip: nothing queues
        runs.append(m)
    small, big = runs
    assert big.pages - small.pages == 64 and big.threads == small.threads == 2
    # 64 more pages cost at least their bytes on the wire and a DMA setup each; the copies
    # at both ends run alongside (the kernel cores copy faster than the link carries).
    extra = big.bytes - small.bytes
    noc = spec.noc
    assert big.downtime - small.downtime >= extra / noc.noc_link_bytes_per_cycle + 64 * noc.noc_setup_cycles


# --- packet sizes, the spec ------------------------------------------------------------------------
def test_packets_are_billed_by_what_they_carry() -> None:
    spec = ChipSpec.preset("tiny")
    assert body_bytes(MigReserve(mid=1, pid=7, frames=90, bytes=1 << 20)) == 8 + 4 + 4 + 4
    assert body_bytes(Load(op=1 << 40, newpid=2, name="ab", argv=["x", "yz"], seed=3)) == \
        8 + 4 + (4 + 2) + (4 + 5 + 6) + 4
    ctl = packet(spec, 0, 1, MigAccept(mid=5), b"", 0, "control")
    assert (ctl.nbytes, ctl.header, ctl.chunk) == (8, spec.ikc.mailbox_header, spec.ikc.portal_chunk)
    mbx = packet(spec, 0, 1, MbxData(op=1, dst=2, port=3), b"hi", 0, "mailbox")
    # Nanvix's fixed format
    assert (mbx.nbytes, mbx.header) == (spec.ikc.mailbox_payload, spec.ikc.mailbox_header)
    bulk = packet(spec, 0, 1, MigImage(mid=5, pid=2), bytes(10000), 0, "bulk")
    assert (bulk.nbytes, bulk.chunk, bulk.header) == (10000, spec.ikc.portal_chunk, spec.ikc.portal_header)
    with pytest.raises(TypeError):
        body_bytes(Locate(pids=[object()]))


def test_the_pte_cost_is_part_of_the_spec(tmp_path: Path) -> None:
    toml = tmp_path / "chip.toml"
    toml.write_text('base = "tiny"\npte_install_cycles = 40\n')
    assert ChipSpec.load(toml).costs.pte_install_cycles == 40
    toml.write_text('base = "tiny"\npte_install_cycles = -1\n')
    with pytest.raises(ShoalError, match="must not be negative"):
        ChipSpec.load(toml)

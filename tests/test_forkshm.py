"""fork of a process that maps shared memory or keeps pages in remote memory (kernel/forkmem.py,
kernel/calls/fork.py): tests/programs/fork_shm.c on the chip and built by the host's gcc, same
argv, same stdout and exit status. Children on the parent's cluster, on other clusters, moved
mid-way; every object goes once its last mapper does, every frame comes back."""

from __future__ import annotations

import itertools

import pytest
from conftest import Built, Programs, assert_no_frame_leak, run_native

from shoal import Chip
from shoal.spec import ChipSpec


def run_both(b: Built, argv: list[str], chip: str = "tiny", policy: str | None = None) -> tuple[object, Chip]:
    c = Chip.preset(chip, policy=policy) if policy else Chip.preset(chip)
    p = c.spawn(b.elf, argv, cluster=0)
    c.run()
    native = run_native(b, argv)
    assert p.stdout.decode() == native.stdout.decode(), p.message
    assert p.returncode == native.returncode == 0, p.message
    assert not p.record.unknown_syscalls  # nothing refused
    _all_gone(c)
    return p, c


def _all_gone(c: Chip) -> None:
    stats = c.daemon_stats()
    assert stats["shm_objects"] == stats["shm_bytes"] == stats["rmem_bytes"] == 0, stats
    assert stats["sysv_shm"] == 0
    assert_no_frame_leak(c)


@pytest.mark.parametrize("mode", ["mutex", "sem", "shmopen", "sysv", "grand", "rekey"])
def test_children_on_the_parents_cluster_as_native(programs: Programs, mode: str) -> None:
    """Four children add 100 each to a counter in the parent's shared mapping under a
    process-shared lock (none lost); shm_open'd and unlinked, System V (shm_nattch counts the
    child, its shmdt leaves the parent's), a grandchild, a waiter from before the fork."""
    _, c = run_both(programs["fork_shm"], ["fork_shm", mode, "100"])
    assert {r.cluster for r in c.processes()} == {0}


@pytest.mark.parametrize("mode", ["mutex", "sem"])
def test_children_on_other_clusters_as_native(programs: Programs, mode: str) -> None:
    """A parent too big for a child beside it (1.2 MiB on 2 MiB clusters): each child is built
    from an image elsewhere and maps the object there; they start together (a flag in it),
    so the counter's page and the lock's futex wakes travel between clusters."""
    p, c = run_both(programs["fork_shm"], ["fork_shm", mode, "100", "1200"], chip="mppa256",
                    policy="balance")
    kids = [r.cluster for r in c.processes() if r.pid != p.pid]
    assert len(kids) == 4 and 0 not in kids, kids  # (placed by load: here on four clusters)
    assert sum(r.shm_faults for r in c.processes()) > 40  # they contend: the page goes round


def test_a_child_moved_mid_way(programs: Programs) -> None:
    """One child migrates to another cluster while it adds (holding its mapping, as a
    process that arrived with it): still no increment lost."""
    b = programs["fork_shm"]
    argv = ["fork_shm", "mutex", "2000"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    while len(c.processes()) < 5:
        c.run(max_cycles=10_000)
    c.run(max_cycles=20_000)
    kid = sorted(r.pid for r in c.processes() if r.pid != p.pid)[1]
    assert next(r for r in c.processes() if r.pid == kid).state == "running"
    m = c.migrate(kid, 2)
    c.run()
    assert m.state == "done" and next(r for r in c.processes() if r.pid == kid).cluster == 2, m.reason
    native = run_native(b, argv)
    assert p.stdout == native.stdout and p.returncode == 0, p.message
    _all_gone(c)


@pytest.mark.parametrize("args", [["2048"], ["512", "1024"]], ids=["placed-elsewhere", "here"])
def test_fork_with_pages_in_remote_memory(programs: Programs, args: list[str]) -> None:
    """The parent's buffer is partly in remote memory when it forks (2 MiB on a 1 MiB cluster;
    or 512 KiB pushed out by scratch it freed, so that the child is built here): each child
    reads the parent's bytes (its copies, fetched from remote memory), changes its own, and
    the parent's stay as they were."""
    p, c = run_both(programs["fork_shm"], ["fork_shm", "rmem", "20", *args])
    recs = c.processes()
    parent = next(r for r in recs if r.pid == p.pid)
    kids = [r for r in recs if r.pid != p.pid]
    assert parent.evictions > 0 and all(r.rmem_faults > 0 for r in kids)
    assert {r.cluster for r in kids} == ({0} if len(args) == 2 else {1, 2}), [r.cluster for r in kids]


def test_no_room_in_remote_memory_for_the_childs_copies_is_enomem(programs: Programs) -> None:
    """The I/O cluster's memory holds the parent's pages but not a second copy: fork fails
    with ENOMEM (the parent goes on), as Linux's fork does when memory is short."""
    b = programs["fork_shm"]
    c = Chip(ChipSpec.preset("tiny").replace(io_memory=5 << 19))
    p = c.spawn(b.elf, ["fork_shm", "rmem", "20", "2048"], cluster=0)
    c.run()
    assert p.stdout == b"fork: 12\n" and p.returncode == 1, (p.stdout, p.message)
    assert len(c.processes()) == 1
    _all_gone(c)


# --- the homes alone (daemons/shm.py, daemons/rmem.py): packets in any order ---------------------
def _node() -> tuple[object, ChipSpec]:
    from shoal.daemons.node import IoNode
    spec = ChipSpec.preset("tiny")
    return IoNode(spec, spec.compute_clusters, 1, None), spec


def _pkt(spec: ChipSpec, node: int, src: int, body: object, data: bytes = b"") -> object:
    from shoal.platform.noc import Packet
    return Packet(src, node, body.KIND, body, data, len(data), 0, spec.ikc.portal_chunk, 0)  # type: ignore[attr-defined]


def test_a_request_that_overtakes_the_fork_waits_for_the_adoption() -> None:
    """A page of a kernel's object asked for before the Fork request that makes it known (a
    small packet passing a bigger one): held, then served once adopted (the page comes home
    from its writer first); after the object goes, a late request is stale (bus), not held."""
    from shoal.kernel.shm import ANON, ANON_BITS
    from shoal.messages import Exit, Fork, ShmBack, ShmGet
    d, spec = _node()
    parent = d.procman.new_pid(1, "p")
    obj = ANON | 1 << ANON_BITS | 1  # cluster 1's first
    d.handle(_pkt(spec, d.node, 2, ShmGet(obj=obj, pg=0, write=True, have=0)), 0)
    assert not [q for q in d.outbox if q.kind in ("shm_page", "shm_recall")] and obj in d.shm.early
    d.handle(_pkt(spec, d.node, 1, Fork(op=7, pid=parent, local=True, frames=1, exit_signal=17,
                                       anon=[obj, 2, [0]])), 10)
    child = next(q.body.ret for q in d.outbox if q.kind == "reply")
    assert child > parent and d.shm.shm_objs[obj].pids == {parent, child}
    recall = [q for q in d.outbox if q.kind == "shm_recall"]
    assert [(q.dst, q.body.obj, q.body.pg, q.body.gen) for q in recall] == [(1, obj, 0, 0)]
    page = b"\x2a" * spec.cluster.page_size
    d.handle(_pkt(spec, d.node, 1, ShmBack(obj=obj, pg=0, gen=0), page), 20)
    got = [q for q in d.outbox if q.kind == "shm_page"]
    assert len(got) == 1 and got[0].dst == 2 and got[0].data == page and got[0].body.write
    for pid in (parent, child):
        d.handle(_pkt(spec, d.node, 1, Exit(pid=pid, code=0, signal=None)), 30)
    assert obj not in d.shm.shm_objs and d.shm.shm_bytes == 0
    d.outbox.clear()
    d.handle(_pkt(spec, d.node, 2, ShmGet(obj=obj, pg=1, write=False, have=0)), 40)
    assert [q.body.bus for q in d.outbox if q.kind == "shm_page"] == [True] and not d.shm.early


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_childs_copy_of_a_page_whose_write_back_is_on_its_way(order: tuple[int, ...]) -> None:
    """The parent's write-back (version 5), the copy asked for the child, and the child's
    request, in any order: the child gets the parent's bytes, once; the parent keeps its own."""
    from shoal.messages import RmemDup, RmemGet, RmemPut
    d, spec = _node()
    parent, child = d.procman.new_pid(0, "p"), d.procman.new_pid(0, "c")
    page = b"\x07" * spec.cluster.page_size
    events = [_pkt(spec, d.node, 0, RmemPut(pid=parent, va=0x5000, ver=5), page),
              _pkt(spec, d.node, 0, RmemDup(pid=parent, child=child, pages=[[0x5000, 5]])),
              _pkt(spec, d.node, 2, RmemGet(pid=child, va=0x5000, ver=5))]
    for i in order:
        d.handle(events[i], i)
    got = [q for q in d.outbox if q.kind == "rmem_page"]
    assert [(q.dst, q.body.pid, q.data) for q in got] == [(2, child, page)]
    assert d.rmem.rmem[parent][0x5000] == (5, page) and d.rmem.rmem[child][0x5000] == (5, page)
    assert d.rmem.rmem_bytes == 2 * spec.cluster.page_size and not d.rmem.rmem_dups


def test_a_page_made_shared_leaves_the_address_space_but_keeps_its_bytes() -> None:
    """make_shared (kernel/memory.py): the frame becomes the cluster's (not counted, not listed,
    never a candidate for eviction), mapped writable as its region says; a frame shared
    copy-on-write gets its own copy first (own_frame), the other sharer's stays as it was."""
    from shoal.kernel.memory import PAGE, PROT_READ, PROT_WRITE, AddressSpace, FrameAllocator, Region

    mem = bytearray(64 * PAGE)
    frames = FrameAllocator(0, 64)
    a = AddressSpace(mem, frames, lambda: None)
    base = 0x1000_0000
    a.add_region(Region(base, base + 2 * PAGE, PROT_READ | PROT_WRITE, "[anon:shared]"))
    a.write(base, b"parent")
    b = AddressSpace(mem, frames, lambda: None)
    b.add_region(Region(base, base + 2 * PAGE, PROT_READ | PROT_WRITE, "[anon:shared]"))
    a.share_into(b)  # (a fork never shares these so; a defensive path)
    held = a.data_frames
    a.own_frame(base)
    a.own_frame(base + PAGE)  # (never touched: nothing to do)
    frame, ver = a.make_shared(base, (7, 0))
    assert ver is None and frame is not None and not frames.shares
    assert a.make_shared(base + PAGE, (7, 1)) == (None, None)
    assert a.data_frames == held - 1 and a.pages() == [] and base not in a.swap.born
    assert a.shm.pages == {base: (7, 0), base + PAGE: (7, 1)}
    assert bytes(mem[frame * PAGE:frame * PAGE + 6]) == b"parent"
    a.write(base, b"shared")  # writable at once: the cluster holds it for writing
    assert b.read(base, 6) == b"parent" and a.read(base, 6) == b"shared"


@pytest.mark.parametrize("args", [["2048", "900"], ["0", "900"], ["0", "1024"], ["3000", "1024"]])
def test_anonymous_shared_memory_about_as_large_as_the_cluster(programs: Programs, args: list[str]) -> None:
    """A fork makes an object of anonymous shared memory whose pages must all be here at
    once: on a tiny cluster (960 KiB for users), 900 KiB of it (beside 0 or 2 MiB of private
    data in remote memory) is fetched back and the fork is the host build's; 1 MiB can never
    be here whole: ENOMEM, the parent goes on (the fork fetched one page, evicted another, and
    was made again for ever). The parent then reads every shared page: with one frame left
    for its own pages, its printf's writev fetched its iovec's page and evicted its buffer's,
    for ever; now shared pages go home first when a cluster has few of its own left."""
    b = programs["fork_shared_tight"]
    argv = ["fork_shared_tight", *args]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv, cluster=0)
    c.run(max_cycles=2 * c.spec.cluster.freq_hz)  # (2 s simulated: each takes under 0.1 s)
    assert p.done, "still running"
    if args[1] == "1024":
        assert p.stdout == b"fork: Out of memory\n" and p.returncode == 0, p.message
        assert len(c.processes()) == 1
    else:
        native = run_native(b, argv)
        assert p.stdout.decode() == native.stdout.decode(), p.message
    _all_gone(c)

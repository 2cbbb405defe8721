"""Remote memory (kernel/rmem.py): a process whose data is several times its cluster's memory
runs to the right result, its pages going to the I/O cluster and coming back on touch; with a
migration in the middle too. Results checked against the same C source built for the host."""

from __future__ import annotations

import gc
import subprocess
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak, assert_one_line_error, shoal_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal import Chip, ChipSpec, ShoalError
from shoal.toolchain import compile_cached

BIG = PROGRAMS / "bigdata.c"


def elf() -> Path:
    return compile_cached([BIG], SHOAL_FLAGS)


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("rmem") / "bigdata"
    res = subprocess.run(["gcc", "-O2", str(BIG), "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return exe


def want(native: Path, *args: str) -> bytes:
    return subprocess.run([str(native), *args], capture_output=True, check=True).stdout


def test_8_mib_of_data_on_a_cluster_of_2_mib(native: Path) -> None:
    c = Chip.preset("mppa256")
    assert c.spec.user_frames * c.spec.cluster.page_size < 2 << 20
    p = c.spawn(elf(), ["bigdata", "8", "1"])
    c.run()
    assert p.stdout == want(native, "8", "1") and p.returncode == 0, p.message
    r = p.record
    # Every page of 8 MiB was written once at least: most went to remote memory and came back.
    assert r.evictions > 2048 - c.spec.user_frames and r.rmem_faults > 1000 and r.page_wait > 0
    assert r.peak_frames <= c.spec.user_frames
    assert_no_frame_leak(c)
    assert c.daemon_stats()["rmem_bytes"] == 0  # freed when it exited


def test_remote_faults_leave_nothing_for_the_garbage_collector(native: Path) -> None:
    # Each remote fault once left ~20 objects in a reference cycle (the fault kept with its
    # traceback, whose frames led back to the scheduler's, which held the fault): host memory
    # that only the collector gave back, and ~5% of a paging run's host time.
    c = Chip.preset("mppa256")
    p = c.spawn(elf(), ["bigdata", "2", "1"])
    gc.collect()
    gc.disable()
    try:
        c.run()
        left = gc.collect()
    finally:
        gc.enable()
    assert p.stdout == want(native, "2", "1") and p.record.rmem_faults > 500
    assert left < 100, left


@pytest.mark.parametrize("method", ["stopcopy", "precopy", "postcopy"])
def test_8_mib_with_a_migration_in_the_middle(native: Path, method: str) -> None:
    c = Chip.preset("mppa256")
    p = c.spawn(elf(), ["bigdata", "8", "1"])
    c.schedule_migration(p.pid, 3, 30_000_000, method)
    c.run()
    assert p.stdout == want(native, "8", "1") and p.returncode == 0, p.message
    m = p.migrations[0]
    assert m.state == "done" and p.cluster == 3, m.reason
    # Only what was resident moved; the rest stayed in remote memory and came from there.
    assert m.pages < c.spec.user_frames
    assert p.record.rmem_faults > 1000  # counted before and after the move
    assert_no_frame_leak(c)


def test_fifo_and_clock_replacement_both_right_and_deterministic(native: Path) -> None:
    base = ChipSpec.preset("mppa256")
    got = {}
    for policy in ("fifo", "clock"):
        for window in (base.engine.window_cycles, base.engine.window_cycles // 10):
            c = Chip(base.replace(page_replacement=policy, window_cycles=window))
            p = c.spawn(elf(), ["bigdata", "4", "1"])
            c.run()
            assert p.stdout == want(native, "4", "1")
            r = p.record
            got.setdefault(policy, set()).add((r.end_cycle, r.rmem_faults, r.evictions, r.page_wait))
    assert all(len(v) == 1 for v in got.values())  # the same whatever the engine's window


def test_two_big_processes_share_a_cluster(native: Path) -> None:
    c = Chip.preset("mppa256")
    a = c.spawn(elf(), ["bigdata", "3", "1"])
    b = c.spawn(elf(), ["bigdata", "2", "2"])
    c.run()
    assert a.stdout == want(native, "3", "1") and b.stdout == want(native, "2", "2")
    assert a.record.evictions > 0 and b.record.evictions > 0
    assert_no_frame_leak(c)


def test_remote_memory_full_kills_only_that_process(native: Path) -> None:
    spec = ChipSpec.preset("mppa256").replace(io_memory=1 << 20)
    c = Chip(spec)
    big = c.spawn(elf(), ["bigdata", "8", "1"])
    small = c.spawn(elf(), ["bigdata", "1", "1"], cluster=1)
    c.run()
    assert big.signal == 9 and "remote memory" in big.message
    assert small.stdout == want(native, "1", "1") and small.returncode == 0
    assert_no_frame_leak(c)


def test_remote_memory_full_reaches_a_process_that_moved_meanwhile() -> None:
    # Its write-backs arrive after it moved (held 7.5 ms in the network) and are refused: the
    # notice must reach it where it runs now (it went to the cluster it left, where nobody
    # took it, and the process went on without its pages).
    c = Chip(ChipSpec.preset("mppa256").replace(io_memory=1 << 20))
    c.inject_delay("rmem_put", 3_000_000, count=100_000)
    p = c.spawn(elf(), ["bigdata", "8", "1"])
    c.schedule_migration(p.pid, 4, 6_000_000, "stopcopy")
    c.run(max_cycles=400_000_000)
    assert p.migrations[0].state == "done" and p.cluster == 4
    assert p.signal == 9 and "out of memory (cluster 4" in p.message, p.message
    assert_no_frame_leak(c)
    assert c.daemon_stats()["rmem_bytes"] == 0


def test_checkpoint_of_a_process_with_remote_pages_is_refused(native: Path) -> None:
    c = Chip.preset("mppa256")
    p = c.spawn(elf(), ["bigdata", "8", "1"])
    c.run(max_cycles=20_000_000)
    assert p.record.evictions > 0
    with pytest.raises(ShoalError, match="remote memory"):
        p.checkpoint()
    c.run()
    assert p.stdout == want(native, "8", "1")


def test_cli_stats_and_a_bad_replacement_policy(tmp_path: Path, native: Path) -> None:
    res = shoal_cli("run", "--stats", str(BIG), "4", "1")
    assert res.returncode == 0 and res.stdout == want(native, "4", "1")
    line = next(x for x in res.stderr.decode().splitlines() if x.startswith("  remote memory"))
    assert "page faults" in line and "pages evicted" in line and " 0 page faults" not in line
    chip = tmp_path / "chip.toml"
    chip.write_text('base = "tiny"\npage_replacement = "random"\n')
    bad = shoal_cli("run", "--chip", str(chip), str(BIG), "1", "1")
    assert "page_replacement" in assert_one_line_error(bad)


# --- the protocol under reordering, delay, loss and migration -------------------------------------
THREADS = PROGRAMS / "rmem_threads.c"
T_ARGS = ["16", "128", "10"]  # 2 MiB of heap + 16 stacks on a 2 MiB cluster: pages come and go


@pytest.fixture(scope="module")
def threads_want(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    exe = tmp_path_factory.mktemp("rmem_threads") / "rmem_threads"
    res = subprocess.run(["gcc", "-O2", "-pthread", str(THREADS), "-o", str(exe)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return subprocess.run([str(exe), *T_ARGS], capture_output=True, check=True).stdout


def threads_elf() -> Path:
    return compile_cached([THREADS], SHOAL_FLAGS)


def assert_threads_right(c: Chip, p: object, want: bytes) -> None:
    assert p.returncode == 0 and p.stdout == want, p.message
    assert p.record.evictions > 100 and p.record.rmem_faults > 100  # it did use remote memory
    assert_no_frame_leak(c)
    assert c.daemon_stats()["rmem_bytes"] == 0


def test_a_write_back_overtaken_by_the_request_for_it(threads_want: bytes) -> None:
    # Every write-back is held in the network for 125 us: pages evicted dirty and touched at
    # once are asked for before their new copy arrives (the daemon used to answer with the
    # copy of an earlier eviction: a wrong result, or a fault).
    c = Chip.preset("mppa256")
    c.inject_delay("rmem_put", 50_000, count=10_000)
    p = c.spawn(threads_elf(), ["rmem_threads", *T_ARGS])
    c.run()
    assert_threads_right(c, p, threads_want)


@pytest.mark.parametrize("at", [2_100_000, 2_400_000, 2_700_000])
def test_precopy_of_a_process_using_remote_memory(threads_want: bytes, at: int) -> None:
    # Pre-copy's dirty tracking clears dirty bits: a page whose remote copy it made stale must
    # be written back when evicted, not dropped as clean (the old copy came back: a fault).
    c = Chip.preset("mppa256")
    p = c.spawn(threads_elf(), ["rmem_threads", *T_ARGS])
    c.schedule_migration(p.pid, 3, at, "precopy")
    c.run()
    assert_threads_right(c, p, threads_want)


def test_write_backs_of_a_process_that_ended_are_not_kept(native: Path) -> None:
    # Its last write-backs reach the daemon after its exit notice: nothing may stay behind.
    c = Chip.preset("mppa256")
    c.inject_delay("rmem_put", 2_000_000, count=100_000)
    p = c.spawn(elf(), ["bigdata", "3", "1"])
    c.run()
    assert p.stdout == want(native, "3", "1") and p.returncode == 0, p.message
    c.run(max_cycles=4_000_000)  # every write-back has arrived by now
    assert c.daemon_stats()["rmem_bytes"] == 0
    assert_no_frame_leak(c)


RMEM_KINDS = ["rmem_put", "rmem_get", "rmem_page", "rmem_free"]


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), most=st.sampled_from([0, 20_000, 50_000, 150_000, 400_000]),
       kinds=st.lists(st.sampled_from(RMEM_KINDS), min_size=1, unique=True),
       lost=st.lists(st.tuples(st.sampled_from(RMEM_KINDS), st.integers(1, 3)), max_size=3),
       moves=st.lists(st.tuples(st.integers(200_000, 3_000_000), st.integers(1, 15),
                                st.sampled_from(["stopcopy", "precopy", "postcopy", "hybrid"])), max_size=2))
def test_any_order_delay_loss_and_moves_give_the_right_bytes(
        threads_want: bytes, seed: int, most: int, kinds: list[str], lost: list[tuple[str, int]],
        moves: list[tuple[int, int, str]]) -> None:
    c = Chip.preset("mppa256")
    c.noc_jitter(seed, most, kinds)
    for kind, n in lost:
        c.inject_failure(kind, n)
    p = c.spawn(threads_elf(), ["rmem_threads", *T_ARGS])
    for at, dst, method in moves:
        c.schedule_migration(p.pid, dst, at, method)
    c.run()
    assert_threads_right(c, p, threads_want)


def test_pages_a_program_unmaps_are_freed_in_remote_memory(tmp_path: Path) -> None:
    # 8 rounds of a 4 MiB buffer at a new address each time, with 8 MiB of remote memory:
    # the copies of unmapped pages used to stay until exit (killed: out of memory).
    prog = PROGRAMS / "rmem_churn.c"
    exe = tmp_path / "rmem_churn"
    subprocess.run(["gcc", "-O2", str(prog), "-o", str(exe)], check=True)
    expected = subprocess.run([str(exe), "4", "8"], capture_output=True, check=True).stdout
    c = Chip(ChipSpec.preset("mppa256").replace(io_memory=8 << 20))
    c.inject_delay("rmem_put", 30_000, count=400)  # some frees overtake their write-backs
    p = c.spawn(compile_cached([prog], SHOAL_FLAGS), ["rmem_churn", "4", "8"])
    peak = 0
    while not p.done:
        c.run(max_cycles=2_000_000)
        peak = max(peak, c.daemon_stats()["rmem_bytes"])
    assert p.returncode == 0 and p.stdout == expected, p.message
    assert peak <= 5 << 20  # one buffer's worth (and a little): not the sum of all rounds
    assert c.daemon_stats()["rmem_bytes"] == 0
    assert_no_frame_leak(c)


def test_a_page_unmapped_while_a_thread_waits_for_it(tmp_path: Path) -> None:
    # The reader waits for a page from remote memory when the buffer is unmapped under it: as
    # on Linux its next touch is a segmentation fault (it used to wait for ever: killed as
    # deadlocked). Both a short and a long run before the munmap.
    prog = PROGRAMS / "rmem_unmap_race.c"
    exe = tmp_path / "race"
    subprocess.run(["gcc", "-O2", "-pthread", str(prog), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe), "4", "3000"], capture_output=True).returncode == -11
    for usec in ("500", "3000"):
        res = shoal_cli("run", str(prog), "4", usec)
        err = assert_one_line_error(res)
        assert res.returncode == 139 and "load page fault" in err, err


@settings(max_examples=200, deadline=None, derandomize=True)
@given(order=st.permutations(range(8)), lost_first=st.booleans())
def test_the_daemon_answers_each_request_with_its_version(order: list[int], lost_first: bool) -> None:
    # The daemon alone: three write-backs of one page (versions 1..3) and a request for each,
    # plus a duplicate of version 1 and a request by a process that ended, arriving in any
    # order. A request is answered once, with exactly the bytes of the version it names.
    from shoal.daemons.node import IoNode
    from shoal.messages import RmemGet, RmemPut
    from shoal.platform.noc import Packet

    spec = ChipSpec.preset("tiny")
    d = IoNode(spec, spec.compute_clusters, 1, None)
    pid = d.procman.new_pid(0, "p")
    gone = d.procman.new_pid(0, "q")
    d.procman.procs[gone].status = 0
    page = [bytes([v]) * spec.cluster.page_size for v in range(4)]

    def pkt(body: RmemPut | RmemGet, data: bytes = b"") -> Packet:
        return Packet(1, d.node, body.KIND, body, data, len(data), 0, spec.ikc.portal_chunk, 0)
    events = [pkt(RmemPut(pid=pid, va=0x1000, ver=v), page[v]) for v in (1, 2, 3)]
    events += [pkt(RmemGet(pid=pid, va=0x1000, ver=v)) for v in (1, 2, 3)]
    events += [pkt(RmemPut(pid=pid, va=0x1000, ver=1), page[1]),
               pkt(RmemPut(pid=gone, va=0x1000, ver=1), page[1])]
    for i in order:
        ev = events[i]
        d.handle(ev, 0)
    answers = [(q.body.ver, q.data) for q in d.outbox if q.kind == "rmem_page"]
    # Each request gets the newest copy at or after its version, once: version 3 always;
    # the others their own unless a newer copy had replaced it before they came.
    assert len(answers) == 3 and all(data == page[v] for v, data in answers)
    assert (3, page[3]) in answers
    # the ended one kept nothing
    assert d.rmem.rmem_bytes == spec.cluster.page_size and set(d.rmem.rmem) == {pid}
    assert not d.rmem.rmem_asked


def test_a_debugger_never_reads_a_page_in_remote_memory_as_zeros(native: Path) -> None:
    # GDB's memory reads (kernel/debug.py) used to show a page kept in remote memory as zeros
    # (as if never touched); its bytes are elsewhere: the read says it cannot be done.
    c = Chip.preset("mppa256")
    p = c.spawn(elf(), ["bigdata", "4", "1"])
    c.run(max_cycles=20_000_000)
    k = c._backend.kernels[p.cluster]
    a = next(q for q in k.procs if q.pid == p.pid).aspace
    away = sorted(a.swap.pages)[0]
    here = a.page_list()[0][0]
    call = c._backend.call
    assert call(p.cluster, "debug", "read", p.pid, away, 16) is None
    assert call(p.cluster, "debug", "read", p.pid, away - 8, 16) is None  # straddling it too
    assert call(p.cluster, "debug", "read", p.pid, here, 64) == a.page_bytes(here)[:64]
    c.run()
    assert p.stdout == want(native, "4", "1")

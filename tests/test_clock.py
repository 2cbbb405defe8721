"""One clock: packets seen at their arrival, host actions at exactly their time, results that
depend neither on the engine's window nor on unrelated clusters, process clocks that go on."""

from __future__ import annotations

import re

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak, run_native

from shoal import Chip, ShoalError
from shoal.spec import ChipSpec
from shoal.toolchain import compile_cached

US = 400  # cycles per microsecond on mppa256 (400 MHz)


def elf(name: str) -> object:
    return compile_cached([PROGRAMS / f"{name}.c"], SHOAL_FLAGS)


def ticks(out: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"^t (\d+)", out, re.M)]


def chip(window: int | None = None) -> Chip:
    spec = ChipSpec.load("mppa256")
    if window is not None:
        spec = spec.replace(window_cycles=window)
    return Chip(spec)


def workload(c: Chip, busy_neighbour: bool) -> list:
    """Programs that talk, sleep, compute with threads and migrate, on one chip."""
    ps = [c.spawn(elf("clock"), ["clock", "stream_server", "300"], cluster=15),
          c.spawn(elf("clock"), ["clock", "stream_client", "300"], cluster=0),
          c.spawn(elf("clock"), ["clock", "sleep", "5", "700"], cluster=3),
          c.spawn(elf("clock"), ["clock", "talk", "20"], cluster=6),
          c.spawn(elf("threads"), ["threads", "6"], cluster=9)]
    c.schedule_migration(ps[1].pid, 10, 1_000 * US)
    c.schedule_migration(ps[2].pid, 12, 2_500 * US)
    if busy_neighbour:
        c.spawn(elf("spin"), ["spin", "2000"], cluster=5)
    return ps


def figures(c: Chip, ps: list) -> list:
    out = []
    for p in ps:
        out.append((p.stdout, p.stderr, p.returncode, p.cycles, p.cluster, p.instructions))
        out += [(m.src, m.dst, m.state, m.requested, m.frozen, m.thawed, m.ended, m.bytes)
                for m in p.migrations]
    return out


def test_results_depend_neither_on_the_window_nor_on_an_unrelated_busy_cluster() -> None:
    runs = []
    for window, busy in ((None, False), (10_000, False), (None, True), (1_000_000, True)):
        c = chip(window)
        ps = workload(c, busy)
        c.run()
        assert all(p.returncode == 0 for p in ps), [(p.name, p.message) for p in ps]
        assert all(m.ok for p in ps for m in p.migrations)
        runs.append(figures(c, ps))
    assert runs[0] == runs[1] == runs[2] == runs[3]


def test_a_client_thread_keeps_up_with_the_chip_clock() -> None:
    """Every round trip costs what the NoC and the kernels charge, not an engine window."""
    c = chip()
    srv = c.spawn(elf("clock"), ["clock", "stream_server", "2000"], cluster=15)
    cli = c.spawn(elf("clock"), ["clock", "stream_client", "2000"], cluster=0)
    c.run()
    assert srv.returncode == 0 and cli.returncode == 0
    end_us = int(srv.stdout.split()[-1])
    # A mailbox write waits for the receiver's acknowledgement: a round trip of the NoC and
    # both kernels, about 20 us here; 2000 of them back to back.
    per_msg_us = (cli.cycles / US) / 2000
    assert 10 < per_msg_us < 40, per_msg_us
    assert abs(c.seconds * 1e6 - end_us) < 50  # the chip's clock is where the threads are


@pytest.mark.parametrize("at_us", [1_000, 2_345, 7_777])
def test_run_stops_every_cluster_at_exactly_the_time_asked(at_us: int) -> None:
    c = chip()
    p = c.spawn(elf("clock"), ["clock", "sleep", "50", "300"], cluster=2)
    c.run(max_cycles=at_us * US)
    assert c.time == at_us * US
    seen = ticks(p.stdout)
    # One tick every 300 us (plus the call's own cost): exactly those before the limit.
    assert seen and seen[-1] <= at_us and len(seen) == len([t for t in range(0, at_us + 1, 300)
                                                            if t <= at_us]) or seen[-1] + 310 > at_us


@pytest.mark.parametrize("kind", ["sleep", "compute", "talk"])
def test_a_restored_process_clock_goes_on_from_where_the_image_was_taken(kind: str, tmp_path) -> None:
    args = {"sleep": ["clock", "sleep", "40", "500"], "compute": ["clock", "compute", "60"],
            "talk": ["clock", "talk", "400"]}[kind]
    at = 3_000 * US
    c = chip()
    p = c.spawn(elf("clock"), args, cluster=4)
    c.run(max_cycles=at)
    assert not p.done
    before = ticks(p.stdout)
    img = tmp_path / "p.img"
    p.checkpoint(img, stop=True)
    m = p.migrations[-1]
    assert m.state == "checkpointed" and m.frozen is not None and m.frozen - at < 2_000
    other = Chip.preset("tiny")
    q = other.restore(img, cluster=1)
    other.run()
    assert q.returncode == 0, q.message
    after = ticks(q.stdout)
    assert after and b"BACKWARDS" not in q.stdout
    assert after[0] >= before[-1] and after[0] * US >= m.frozen - m.frozen % US
    # It goes on from the image's time (not from the new chip's 0), about where it left off.
    gap = {"sleep": 520, "compute": 400, "talk": 100}[kind]
    assert after[0] - at / US < gap


def test_a_busy_process_migrates_itself_while_its_other_thread_writes_to_a_mailbox() -> None:
    for n in (5, 100, 1000):
        c = chip()
        p = c.spawn(elf("clock"), ["clock", "selfmig", str(n), "2"], cluster=0)
        c.run()
        assert p.returncode == 0, p.message
        want = f"migrate 0, now on cluster 2, read {n} messages, sum {n * (n - 1) // 2}\n"
        assert p.stdout.decode() == want
        assert p.cluster == 2 and [m.ok for m in p.migrations] == [True]
        assert_no_frame_leak(c)


def test_a_timed_wait_keeps_its_deadline_across_a_migration_and_no_later_call_inherits_it() -> None:
    c = chip()
    p = c.spawn(elf("clock"), ["clock", "timedwait", "50", "200"], cluster=0)
    c.schedule_migration(p.pid, 7, 20_000 * US)  # in the middle of the 50 ms wait
    c.run()
    assert p.returncode == 0 and p.migrations[0].ok and p.cluster == 7
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "futex -1 (timed out) after 50 ms"
    assert lines[1] == "nanosleep 200 ms lasted 200 ms"


def test_a_scheduled_migration_freezes_at_exactly_its_time() -> None:
    for at_us in (1_000, 1_234):
        c = chip()
        p = c.spawn(elf("clock"), ["clock", "compute", "400"], cluster=0)
        c.schedule_migration(p.pid, 5, at_us * US)
        c.run()
        m = p.migrations[0]
        assert m.ok and m.requested == at_us * US
        # A computing thread stops within one translated block of the time asked.
        assert 0 <= m.frozen - m.requested < 100


def test_console_output_reaches_the_host_in_simulated_time_order() -> None:
    got: list[tuple[int, bytes]] = []
    c = Chip(ChipSpec.load("mppa256"), sink=lambda pid, fd, data: got.append((pid, data)))
    ps = [c.spawn(elf("clock"), ["clock", "sleep", "6", str(300 + 70 * i)], cluster=i) for i in range(4)]
    c.run()
    stamps = [int(m) for _, data in got for m in re.findall(rb"^t (\d+)", data, re.M)]
    assert len(stamps) == 24 and stamps == sorted(stamps)
    for p in ps:
        assert p.stdout == b"".join(d for pid, d in got if pid == p.pid)


@pytest.mark.parametrize("cpi", [2, 3, 7])
def test_any_cpi_runs_threads_to_the_native_answer(cpi: int, programs) -> None:
    """Slices always leave room for an instruction, whatever the CPI (a clock just below a
    quantum boundary once stalled the scheduler)."""
    spec = ChipSpec.load("tiny").replace(cpi=cpi)
    b = programs["threads"]
    want = run_native(b, ["threads", "8"])
    c = Chip(spec)
    p = c.spawn(b.elf, ["threads", "8"])
    c.run()
    assert (p.stdout, p.returncode) == (want.stdout, want.returncode)
    assert p.cycles >= p.instructions * cpi // 8  # eight threads on four harts at most in parallel


def test_a_cpi_that_leaves_no_room_in_a_quantum_is_refused(tmp_path) -> None:
    from shoal.errors import ShoalError
    toml = tmp_path / "chip.toml"
    toml.write_text('base = "tiny"\ncpi = 100000000\n')
    with pytest.raises(ShoalError, match="cpi"):
        ChipSpec.load(toml)


def test_the_host_kills_a_process_at_exactly_the_chip_time_and_its_neighbour_goes_on() -> None:
    c = chip()
    victim = c.spawn(elf("clock"), ["clock", "sleep", "100", "300"], cluster=2)
    other = c.spawn(elf("clock"), ["clock", "sleep", "10", "300"], cluster=2)
    c.run(max_cycles=1_000 * US)
    victim.kill()
    assert victim.done and victim.returncode == 128 + 9 and "sent by the host" in victim.message
    assert victim.record.end_cycle == 1_000 * US
    c.run()
    assert other.returncode == 0 and len(ticks(other.stdout)) == 10
    assert ticks(victim.stdout)[-1] <= 1_000
    assert_no_frame_leak(c)
    with pytest.raises(ShoalError, match="has ended"):
        victim.kill()


def test_the_daemons_send_again_what_the_noc_lost() -> None:
    """Answers of the name service lost on the NoC are sent again: the program only waits."""
    ref = chip()
    p0 = ref.spawn(elf("clock"), ["clock", "talk", "20"], cluster=6)
    ref.run()
    c = chip()
    p = c.spawn(elf("clock"), ["clock", "talk", "20"], cluster=6)
    c.inject_failure("reply", 3)
    c.run()
    assert p.returncode == 0 and len(ticks(p.stdout)) == 20
    assert p.cycles > p0.cycles  # three answers came a second time
    assert c.daemon_stats()["requests"] == ref.daemon_stats()["requests"] + 3  # the three loss reports


def test_a_lost_acknowledgement_of_a_move_leaves_no_pointer_behind() -> None:
    c = chip()
    p = c.spawn(elf("clock"), ["clock", "sleep", "10", "300"], cluster=1)
    c.inject_failure("moved_ack")
    c.schedule_migration(p.pid, 9, 1_000 * US)
    c.run()
    assert p.returncode == 0 and p.cluster == 9 and p.migrations[0].ok
    assert all(not k.pointers for k in c.clusters())


@pytest.mark.parametrize("kind", ["console", "reply", "exit"])
def test_a_kernel_sends_again_what_the_noc_lost(kind: str) -> None:
    """Console output, a mailbox acknowledgement or an exit notice lost on the NoC is sent
    again by the kernel that sent it: nothing is lost, the programs only wait."""
    ref = chip()
    r = [ref.spawn(elf("clock"), ["clock", "stream_server", "50"], cluster=15),
         ref.spawn(elf("clock"), ["clock", "stream_client", "50"], cluster=0)]
    ref.run()
    c = chip()
    ps = [c.spawn(elf("clock"), ["clock", "stream_server", "50"], cluster=15),
          c.spawn(elf("clock"), ["clock", "stream_client", "50"], cluster=0)]
    c.inject_failure(kind, 2)
    c.run()
    for p, q in zip(ps, r, strict=True):
        assert (p.stdout.split()[:4], p.returncode) == (q.stdout.split()[:4], q.returncode)
    assert_no_frame_leak(c)


def test_the_chip_clock_stops_at_the_last_exit_whatever_the_host_had_scheduled() -> None:
    c = chip()
    p = c.spawn(elf("clock"), ["clock", "sleep", "2", "100"], cluster=1)
    c.schedule_migration(p.pid, 3, 50_000 * US)  # long after it ends
    c.run()
    assert p.returncode == 0 and not p.migrations
    assert c.time == p.record.end_cycle


def test_stdin_is_one_stream_wherever_the_process_runs() -> None:
    """Standard input is served by the I/O cluster's daemon: a process that reads it in
    pieces and moves twice meanwhile reads every byte once, in order."""
    data = bytes(range(256)) * 8 + b"end\n"
    c = chip()
    p = c.spawn(elf("clock"), ["clock", "cat", "37"], cluster=0, stdin=data)
    c.schedule_migration(p.pid, 6, 1_000 * US)
    c.schedule_migration(p.pid, 11, 3_000 * US)
    c.run()
    assert p.returncode == 0 and [m.ok for m in p.migrations] == [True, True]
    assert p.stdout == data


def test_checkpoint_and_migration_do_not_read_a_stdin_the_program_never_reads(tmp_path) -> None:
    """Behind a pipe that never ends (`sleep 1000 | shoal ...`), a program that does not read
    stdin still checkpoints and migrates at once, and its image carries no input."""
    import subprocess
    import sys
    src = str(PROGRAMS / "clock.c")
    img = tmp_path / "p.img"
    for args in (["checkpoint", "--at", "1ms", "-o", str(img), src, "sleep", "8", "300"],
                 ["run", "--migrate", "1ms:3", src, "sleep", "8", "300"]):
        out_f, err_f = tmp_path / "out", tmp_path / "err"
        with out_f.open("wb") as out, err_f.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "shoal", *args], stdin=subprocess.PIPE,
                                    stdout=out, stderr=err)
            try:
                rc = proc.wait(timeout=120)  # stdin stays open all along
            finally:
                proc.kill()
                proc.stdin.close()
        assert rc == 0, err_f.read_bytes()
        assert len(ticks(out_f.read_bytes())) in (4, 8)


@pytest.mark.parametrize("kind", ["portal_go", "portal_data"])
def test_a_lost_portal_step_is_sent_again(kind: str) -> None:
    """A portal's go-ahead or its data lost on the NoC is sent again by its kernel: the
    transfer completes with the right bytes (ikc_pipeline checks its data end to end)."""
    def run(lose: bool) -> tuple[bytes, int | None]:
        c = chip()
        c.add_file("ikc_pipeline", elf("ikc_pipeline").read_bytes())
        p = c.spawn(elf("ikc_pipeline"), ["ikc_pipeline", "4", "4096"])
        if lose:
            c.inject_failure(kind, 2)
        c.run()
        assert all(q.exit_code == 0 for q in c.processes()), [q.message for q in c.processes()]
        assert_no_frame_leak(c)
        return p.stdout, p.returncode
    want = run(False)
    assert want[1] == 0 and run(True) == want

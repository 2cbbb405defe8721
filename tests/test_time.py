"""Simulated time: sleeps advance it by at least what was asked, and every figure is reproducible."""

from __future__ import annotations

from conftest import Programs, assert_same, run_native, run_shoal

from shoal import Chip

WINDOW_NS = 250_000  # a quantum of the presets (100_000 cycles at 400 MHz): the most a wake-up may lag


def parse_sleep_report(stderr: bytes) -> dict[str, tuple[int, int]]:
    """sleep.c's stderr: 'what requested_ns measured_ns' per line, and 'total T slept S'."""
    out: dict[str, tuple[int, int]] = {}
    for line in stderr.decode().splitlines():
        words = line.split()
        if words[0] == "total":
            out["total"] = (int(words[1]), int(words[3]))
        else:
            what, req, got = words
            out[f"{what} {req}"] = (int(req), int(got))
    return out


def test_sleeps_advance_simulated_time(programs: Programs) -> None:
    b = programs["sleep"]
    expected = run_native(b, ["sleep"])
    p, chip = run_shoal(b, ["sleep"])
    assert_same(p, expected, stderr=False)  # stdout: every sleep "ok", same as natively
    report = parse_sleep_report(p.stderr)
    assert len(report) == 8
    for key, (req, got) in report.items():
        if key.startswith("nanosleep") or key.startswith("usleep"):
            assert got >= req, key
            assert got < req + WINDOW_NS, f"{key}: woke {got - req} ns late"
    overshoot = report["absolute 5000000"][1]
    assert 0 <= overshoot < WINDOW_NS
    total, slept = report["total"]
    assert slept == 21_051_000
    assert total >= slept
    slept_cycles = slept * chip.spec.cluster.freq_hz // 1_000_000_000
    assert p.cycles is not None and p.cycles >= slept_cycles
    assert chip.time >= slept_cycles
    assert chip.seconds >= slept / 1e9
    # Sleeping costs no instructions: far fewer were run than cycles passed.
    assert p.instructions < slept_cycles // 10


def test_sleep_figures_are_deterministic(programs: Programs) -> None:
    b = programs["sleep"]
    p1, c1 = run_shoal(b, ["sleep"])
    p2, c2 = run_shoal(b, ["sleep"])
    assert p1.stderr == p2.stderr  # every measured nanosecond the same
    assert p1.stdout == p2.stdout
    assert p1.cycles == p2.cycles and c1.time == c2.time


def test_threads_twice_give_identical_output_and_cycles(programs: Programs) -> None:
    b = programs["threads"]
    p1, c1 = run_shoal(b, ["threads"], chip="mppa256")
    p2, c2 = run_shoal(b, ["threads"], chip="mppa256")
    assert p1.returncode == p2.returncode == 0
    assert p1.stdout == p2.stdout
    assert p1.cycles == p2.cycles and p1.cycles is not None and p1.cycles > 0
    assert c1.time == c2.time
    assert p1.instructions == p2.instructions
    assert p1.record.syscalls == p2.record.syscalls
    assert c1.rounds == c2.rounds


def test_many_clusters_at_once_are_deterministic(programs: Programs) -> None:
    """Programs on every cluster of the chip at once: the same figures on a second run."""
    b = programs["threads"]

    def run() -> tuple[list[tuple[bytes, int | None, int | None, int]], int]:
        chip = Chip.preset("tiny")
        procs = [chip.spawn(b.elf, ["threads", str(2 + c)], cluster=c) for c in range(4)]
        chip.run()
        return [(p.stdout, p.returncode, p.cycles, p.instructions) for p in procs], chip.time

    first, second = run(), run()
    assert first == second
    for n, (out, rc, _, _) in zip(range(2, 6), first[0], strict=True):
        assert rc == 0
        assert out == run_native(b, ["threads", str(n)]).stdout


def test_time_does_not_pass_for_an_idle_chip() -> None:
    chip = Chip.preset("tiny")
    chip.run()
    assert chip.time == 0 and chip.seconds == 0.0




def test_simulated_cycles_do_not_depend_on_other_clusters(programs: Programs) -> None:
    """Clusters share nothing: a program's simulated time is the same with or without a
    neighbour busy on another cluster."""
    b = programs["threads"]
    alone, _ = run_shoal(b, ["threads", "4"], chip="tiny", cluster=0)
    chip = Chip.preset("tiny")
    p = chip.spawn(b.elf, ["threads", "4"], cluster=0)
    chip.spawn(b.elf, ["threads", "4"], cluster=1)
    chip.run()
    assert p.stdout == alone.stdout
    assert p.cycles == alone.cycles



def test_chip_time_ends_at_the_last_exit(programs: Programs) -> None:
    b = programs["threads"]
    p, chip = run_shoal(b, ["threads", "1"], chip="tiny")
    end = p.record.end_cycle
    assert end is not None and p.cycles is not None
    assert chip.time == end

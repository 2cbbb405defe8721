"""Containers sharing a cluster are isolated: same virtual addresses, separate memory, and one
dying does not disturb the others."""

from __future__ import annotations

from conftest import Programs, assert_no_frame_leak, assert_same, run_native

from shoal import Chip


def test_containers_on_one_cluster_keep_their_own_memory(programs: Programs) -> None:
    b = programs["isolate"]
    chip = Chip.preset("tiny")
    seeds = [11, 22, 33, 44]
    procs = [chip.spawn(b.elf, ["isolate", str(s)], cluster=1) for s in seeds]
    chip.run()
    addresses = set()
    for s, p in zip(seeds, procs, strict=True):
        expected = run_native(b, ["isolate", str(s)])
        assert_same(p, expected, stderr=False)
        assert f"seed {s} rounds 6 mismatches 0 ".encode() in p.stdout
        addresses.add(p.stderr)
    # Every container used the very same virtual addresses for its static, heap and mmap data.
    assert len(addresses) == 1, addresses
    # They really ran side by side: their lifetimes overlap in simulated time.
    starts = [p.record.start_cycle for p in procs]
    ends = [p.record.end_cycle for p in procs]
    assert max(starts) < min(e for e in ends if e is not None)
    assert_no_frame_leak(chip)


def test_more_containers_than_harts_on_one_cluster(programs: Programs) -> None:
    b = programs["isolate"]
    chip = Chip.preset("tiny")  # 4 harts per cluster
    procs = [chip.spawn(b.elf, ["isolate", str(100 + i), "3"], cluster=2) for i in range(6)]
    assert len(procs) > chip.spec.cluster.cores_per_cluster
    chip.run()
    for i, p in enumerate(procs):
        assert_same(p, run_native(b, ["isolate", str(100 + i), "3"]), stderr=False)
    assert_no_frame_leak(chip)


def test_a_faulting_container_does_not_disturb_its_neighbours(programs: Programs) -> None:
    faults, threads = programs["faults"], programs["threads"]
    chip = Chip.preset("tiny")
    good = chip.spawn(threads.elf, ["threads", "3"], cluster=0)
    worker = chip.spawn(faults.elf, ["faults", "work"], cluster=0)
    bad = chip.spawn(faults.elf, ["faults", "null"], cluster=0)
    ill = chip.spawn(faults.elf, ["faults", "ill"], cluster=0)
    chip.run()
    assert bad.returncode == 139 and "store page fault at 0x00000000" in bad.message
    assert ill.returncode == 132 and "illegal instruction" in ill.message
    assert_same(good, run_native(threads, ["threads", "3"]))
    assert_same(worker, run_native(faults, ["faults", "work"]))
    # The faulting ones died first, while the others were still running.
    assert bad.record.end_cycle is not None and worker.record.end_cycle is not None
    assert bad.record.end_cycle < worker.record.end_cycle
    assert_no_frame_leak(chip)


def test_a_cluster_runs_new_work_after_an_out_of_memory_kill(programs: Programs) -> None:
    faults, args = programs["faults"], programs["args"]
    chip = Chip.preset("tiny")
    hog = chip.spawn(faults.elf, ["faults", "oom"], cluster=3)
    chip.run()
    assert hog.returncode == 137
    assert_no_frame_leak(chip)  # every frame of the killed container came back
    p = chip.spawn(args.elf, ["args", "17", "after"], cluster=3)
    chip.run()
    assert_same(p, run_native(args, ["args", "17", "after"]))


def test_processes_on_different_clusters_run_in_parallel(programs: Programs) -> None:
    """Four clusters each run a program: simulated time is that of one, not the sum."""
    b = programs["threads"]
    chip = Chip.preset("tiny")
    procs = [chip.spawn(b.elf, ["threads", "4"], cluster=c) for c in range(4)]
    chip.run()
    expected = run_native(b, ["threads", "4"])
    for q in procs:
        assert_same(q, expected)
    cycles = {q.cycles for q in procs}
    assert len(cycles) == 1  # identical clusters, identical work: identical simulated time
    one = cycles.pop()
    assert one is not None and one <= chip.time < 2 * one
    assert [q.pid for q in procs] == [2, 3, 4, 5]
    assert [q.cluster for q in procs] == [0, 1, 2, 3]

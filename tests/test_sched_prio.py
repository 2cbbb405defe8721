"""Scheduling policy, priorities and nice values (kernel/calls/prio.py): tests/programs/
sched_prio.c on the chip and natively (host gcc) prints the same bytes, as root and as an
ordinary user; a real-time policy is refused (EPERM, counted); the nice value travels with a
migrating process; getcpu names the hart and the cluster."""

from __future__ import annotations

from conftest import ROOT, Programs, assert_same, run_native, run_shoal

from shoal import Chip


def test_policies_params_and_nice_as_root_as_linux(programs: Programs) -> None:
    b = programs["sched_prio"]
    p, _ = run_shoal(b, ["sched_prio", "root"], user=ROOT)
    assert_same(p, run_native(b, ["sched_prio", "root"]))
    out = p.stdout.decode()
    assert "policy 1: max 99 errno 0 min 1 errno 0" in out and "policy 4: max -1 errno 22" in out
    assert "getscheduler(missing) = -1 errno 3" in out and "child getpriority = 14 errno 0" in out


def test_as_a_user_lowering_nice_is_eacces_and_real_time_eperm(programs: Programs) -> None:
    b = programs["sched_prio"]
    p, _ = run_shoal(b, ["sched_prio", "user"], user=ROOT)
    assert_same(p, run_native(b, ["sched_prio", "user"]))
    out = p.stdout.decode()
    assert "setpriority(13) lower = -1 errno 13" in out
    assert "setscheduler(FIFO, 1) user = -1 errno 1" in out


def test_real_time_refusal_is_counted(programs: Programs) -> None:
    p, _ = run_shoal(programs["sched_prio"], ["sched_prio", "user"], user=ROOT)
    assert p.returncode == 0
    assert dict(p.record.unknown_syscalls) == {119: 1}  # the FIFO request; its EINVALs are not refusals


def test_getcpu_is_the_hart_and_the_cluster(programs: Programs) -> None:
    b = programs["sched_prio"]
    p, _ = run_shoal(b, ["sched_prio", "cpu"], cluster=2)
    assert_same(p, run_native(b, ["sched_prio", "cpu"]))


def test_nice_travels_with_a_migration(programs: Programs) -> None:
    c = Chip.preset("tiny")
    p = c.spawn(programs["sched_prio"].elf, ["sched_prio", "mig", "3"], cluster=1)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == b"on 3 nice 7\n"


def test_exec_keeps_the_nice_value(programs: Programs) -> None:
    b = programs["sched_prio"]
    argv = [str(b.native), "exec"]
    c = Chip.preset("tiny")
    c.add_file(b.native.name, b.elf.read_bytes())
    p = c.spawn(b.elf, argv)
    c.run()
    assert_same(p, run_native(b, argv))
    assert p.stdout == b"after exec nice 6\n"

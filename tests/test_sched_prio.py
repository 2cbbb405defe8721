"""Scheduling policy, priorities and nice values (kernel/calls/prio.py): tests/programs/
sched_prio.c and sched_thread.c on the chip and natively (host gcc, run as root) print the same
bytes, as root and as an ordinary user; a real-time policy is granted to root (kept per thread,
counted as not modelled), EPERM for a user; the sched_* calls take a thread's id; the policy and
the nice value travel with a migrating process and survive exec; getcpu names the hart and the
cluster."""

from __future__ import annotations

from conftest import ROOT, Outcome, Programs, assert_same, run_native, run_shoal

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


def test_a_users_real_time_eperm_is_not_counted(programs: Programs) -> None:
    p, _ = run_shoal(programs["sched_prio"], ["sched_prio", "user"], user=ROOT)
    assert p.returncode == 0
    assert dict(p.record.unknown_syscalls) == {}  # Linux's EPERM (RLIMIT_RTPRIO 0), not a refusal


def test_thread_ids_and_real_time_policies_as_root_as_linux(programs: Programs) -> None:
    b = programs["sched_thread"]
    p, _ = run_shoal(b, ["sched_thread", "root"], user=ROOT)
    native = run_native(b, ["sched_thread", "root"])
    if b"setschedparam(other, FIFO 10) rc 1" in native.stdout:  # (a host without CAP_SYS_NICE)
        native = Outcome(SCHED_THREAD_ROOT, b"", 0)
    assert_same(p, native)
    out = p.stdout.decode()
    assert "getscheduler(tid) = 1 errno 0" in out and "inherited: rc 0 policy 1 priority 7" in out
    assert "reset child getscheduler = 0 errno 0" in out and "explicit RR 5: rc 0 policy 2" in out
    # a granted policy other than SCHED_OTHER is counted as not modelled (--stats); 118: setparam x2
    assert p.record.unknown_syscalls[119] >= 5 and p.record.unknown_syscalls[118] == 2


def test_thread_policies_as_a_user_as_linux(programs: Programs) -> None:
    b = programs["sched_thread"]
    p, _ = run_shoal(b, ["sched_thread", "user"], user=ROOT)
    assert_same(p, run_native(b, ["sched_thread", "user"]))
    out = p.stdout.decode()
    assert "setscheduler(root's child, OTHER) = -1 errno 1" in out
    assert "setscheduler(self, FIFO 1) = -1 errno 1" in out
    assert "setscheduler(self, OTHER) drops RESET = -1 errno 1" in out


def test_the_policy_survives_exec_and_migration(programs: Programs) -> None:
    b = programs["sched_thread"]
    argv = [str(b.native), "exec"]
    c = Chip.preset("tiny", user=ROOT)
    c.add_file(b.native.name, b.elf.read_bytes())
    p = c.spawn(b.elf, argv)
    c.run()
    assert_same(p, run_native(b, argv))
    assert p.stdout == b"after exec: rc 0 policy 2 priority 12\n"
    c = Chip.preset("tiny", user=ROOT)
    p = c.spawn(b.elf, ["sched_thread", "mig", "3"], cluster=1)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == b"on 3 migrated: rc 0 policy 1 priority 33\n"


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


# What Linux prints for sched_thread.c root (a host with CAP_SYS_NICE), should the host lack it.
SCHED_THREAD_ROOT = b"""getschedparam(other) rc 0 policy 0 priority 0
getscheduler(tid) = 0 errno 0
setschedparam(other, FIFO 10) rc 0
getschedparam(other) rc 0 policy 1 priority 10
getscheduler(tid) = 1 errno 0
getparam(tid) = 0 errno 0
  priority 10
getscheduler(pid) still = 0 errno 0
setschedprio(other, 20) rc 0
getschedparam(other) rc 0 policy 1 priority 20
setparam(tid, 30) = 0 errno 0
getparam(tid) = 0 errno 0
  priority 30
setparam(tid, 0) on FIFO = -1 errno 22
setscheduler(tid, RR 100) = -1 errno 22
setscheduler(tid, FIFO 0) = -1 errno 22
setscheduler(tid, BATCH 0) = 0 errno 0
getscheduler(tid) = 3 errno 0
setscheduler(tid, IDLE 0) = 0 errno 0
getscheduler(tid) = 5 errno 0
waiter at the end: rc 0 policy 5 priority 0
getscheduler(missing tid) = -1 errno 3
getparam(missing tid) = -1 errno 3
explicit RR 5: rc 0 policy 2 priority 5
create explicit RR 5 rc 0
explicit OTHER: rc 0 policy 0 priority 0
create explicit OTHER rc 0
setschedparam(self, FIFO 7) rc 0
inherited: rc 0 policy 1 priority 7
create inherited rc 0
main: rc 0 policy 1 priority 7
child getscheduler = 1 errno 0
setscheduler(self, FIFO|RESET 7) = 0 errno 0
getscheduler(self) = 1073741825 errno 0
reset child getscheduler = 0 errno 0
reset child getparam = 0 errno 0
  priority 0
back to OTHER = 0 errno 0
main: rc 0 policy 0 priority 0
"""

"""mlock family, msync, mincore, membarrier and prctl's thread names (kernel/calls/mlock.py,
proc.py: sys_prctl): tests/programs/memcalls.c on the chip and natively (host gcc) prints the
same bytes, errors included; the thread's name and membarrier's registration travel in the
image."""

from __future__ import annotations

from conftest import Programs, assert_same, run_native, run_shoal

from shoal import Chip


def test_memory_calls_barriers_and_names_as_linux(programs: Programs) -> None:
    b = programs["memcalls"]
    p, _ = run_shoal(b, ["memcalls"])
    assert_same(p, run_native(b, ["memcalls"]))
    out = p.stdout.decode()
    assert "mincore after mlock of 3 = 0: 1 0 1 1 0" in out
    assert "mlock(into the hole) = -1 errno 12" in out
    assert "PRIVATE_EXPEDITED unregistered = -1 errno 1" in out
    assert "'a-very-long-thr' len 15" in out
    assert dict(p.record.unknown_syscalls) == {167: 1}  # the unknown prctl option, refused


def test_membarrier_query_is_the_five_commands_shoal_has(programs: Programs) -> None:
    p, _ = run_shoal(programs["memcalls"], ["memcalls", "query"])
    assert p.stdout == b"query 31\n"


def test_thread_name_and_barrier_registration_travel_with_a_migration(programs: Programs) -> None:
    c = Chip.preset("tiny")
    p = c.spawn(programs["memcalls"].elf, ["memcalls", "mig", "3"], cluster=1)
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout == b"on 3 name 'moved' barrier 0\n"


def test_exec_drops_the_registration_and_the_thread_name(programs: Programs) -> None:
    b = programs["memcalls"]
    argv = [str(b.native), "exec"]
    c = Chip.preset("tiny")
    c.add_file(b.native.name, b.elf.read_bytes())
    p = c.spawn(b.elf, argv)
    c.run()
    assert_same(p, run_native(b, argv))
    assert p.stdout == b"after exec: name starts with memcalls 1\nPRIVATE_EXPEDITED = -1 errno 1\n"

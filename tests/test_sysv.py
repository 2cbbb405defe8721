"""System V IPC (issue 22 part 4): tests/programs/sysv.c on the chip and natively (host gcc),
stdout equal: one process, a parent and its forked children on one cluster, and two
processes on two clusters (daemons/sysv.py, kernel/calls/sysv.py)."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import Programs, assert_no_frame_leak, run_native

from shoal import Chip


@pytest.mark.parametrize("mode", ["basic", "fork"])
def test_mode_as_native(programs: Programs, mode: str) -> None:
    b = programs["sysv"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["sysv", mode], cluster=0)
    c.run()
    native = run_native(b, ["sysv", mode])
    assert p.stdout.decode() == native.stdout.decode(), p.message
    assert p.returncode == native.returncode == 0, p.message
    assert c.daemon_stats()["sysv_msg"] == c.daemon_stats()["sysv_sem"] == 0  # all removed
    assert_no_frame_leak(c)


def test_two_processes_on_two_clusters_as_native(programs: Programs) -> None:
    """A queue between clusters 0 and 3 (a blocking msgrcv woken by the other cluster's
    msgsnd) and a counter in a segment under a lock that is one atomic semop (wait for zero,
    then up, with SEM_UNDO): no increment is lost, whatever cluster each runs on."""
    b = programs["sysv"]
    key, n = str(0x5EA0000 + os.getpid() % 0xFFFF), "60"
    c = Chip.preset("tiny")
    pa = c.spawn(b.elf, ["sysv", "pair", "A", key, n], cluster=0)
    pb = c.spawn(b.elf, ["sysv", "pair", "B", key, n], cluster=3)
    c.run()
    na = subprocess.Popen([str(b.native), "pair", "A", key, n], stdout=subprocess.PIPE)
    nb = subprocess.run([str(b.native), "pair", "B", key, n], capture_output=True, timeout=60)
    out_a, _ = na.communicate(timeout=60)
    assert pa.returncode == pb.returncode == na.returncode == nb.returncode == 0, (pa.message, pb.message)
    assert pa.stdout == out_a == b"A: counter 120\n"
    assert pb.stdout == nb.stdout
    assert pb.stdout.decode().splitlines()[:2] == ["B: 11 squared is 121", "B: 22 squared is 484"]
    assert pa.record.syscalls["msgrcv"] > 5  # A's receives waited for B's requests, and were made again
    assert pa.record.syscalls["semop"] > int(n) * 2  # the lock was contended across clusters
    stats = c.daemon_stats()
    assert stats["sysv_msg"] == stats["sysv_sem"] == stats["sysv_shm"] == stats["shm_objects"] == 0
    assert_no_frame_leak(c)


def test_the_pair_migrating_mid_run_gives_the_same_output(programs: Programs,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects are the daemon's (by id), SEM_UNDO adjustments and attachments are kept by
    pid, segments move as shared mappings: both parties move several times meanwhile."""
    from shoal.kernel.migrate import freeze
    backed_out: list[str] = []
    back_out = freeze.back_out

    def spy(k: object, t: object) -> None:
        backed_out.append(t.blocked_on)  # type: ignore[attr-defined]
        back_out(k, t)  # type: ignore[arg-type]
    monkeypatch.setattr(freeze, "back_out", spy)
    b = programs["sysv"]
    c = Chip.preset("tiny")
    pa = c.spawn(b.elf, ["sysv", "pair", "A", "77", "60"], cluster=0)
    pb = c.spawn(b.elf, ["sysv", "pair", "B", "77", "60"], cluster=3)
    start = c.time
    for i in range(4):
        c.schedule_migration(pa.pid, (i + 1) % 4, start + 60_000 + i * 150_000, "stopcopy")
        c.schedule_migration(pb.pid, (i + 2) % 4, start + 130_000 + i * 150_000, "stopcopy")
    c.run()
    assert pa.returncode == pb.returncode == 0, (pa.message, pb.message)
    assert pa.stdout == b"A: counter 120\n"
    assert pb.stdout.decode().splitlines()[-1] == "B: counter 120"
    moved = [m for p in (pa, pb) for m in p.migrations if m.state == "done"]
    assert len(moved) >= 4, [(m.pid, m.state) for p in (pa, pb) for m in p.migrations]
    assert "rpc:sysv_wait" in backed_out  # a wait at the daemon was backed out and made again
    assert c.daemon_stats()["sysv_sem"] == 0
    assert_no_frame_leak(c)

"""System V IPC permissions for a user that is not root (issue 22, part 5): root makes
queues, sets and segments with several modes, a process that gave up root (uid/gid 1000) or
was started as a user tries them. Linux's ipcperms answers (msgget(2), msgctl(2), semop(2),
semctl(2), shmat(2), shmctl(2)), whatever the host; the host build (as root) prints the same."""

from __future__ import annotations

import os

import pytest
from conftest import ROOT, Built, Programs, assert_same, run_native, run_shoal

from shoal import Chip

EACCES, EPERM = "-13", "-1"
EXPECTED = {
    "msgget ro 0": "0", "msgget ro 0444": "0", "msgget ro 0644": EACCES, "msgget ro 0200": EACCES,
    "msgget none 0": "0", "msgget none 0400": EACCES, "msgget ro excl": "-17",  # EEXIST first
    "semget none 0600": EACCES, "semget none too many": "-22",  # EINVAL before EACCES
    "shmget ro 0644": EACCES, "shmget rw 0666": "0",
    "msgsnd ro": EACCES, "msgrcv ro": "0", "msgrcv ro empty": "-42", "msgrcv none": EACCES,
    "msgsnd none": EACCES, "msgsnd group": "0", "msgrcv group": "0",  # (its group is the user's)
    "msgctl stat ro": "0", "msgctl stat none": EACCES, "msgctl set ro": EPERM, "msgctl rmid ro": EPERM,
    "semop ro alter": EACCES, "semop ro wait-for-zero": "0", "semop none read": EACCES,
    "semop none far": "-27",  # EFBIG before EACCES
    "semctl ro getval": "0", "semctl ro getval far": "-22", "semctl none getval far": EACCES,
    "semctl ro setval": EACCES, "semctl ro setall": EACCES, "semctl none getall": EACCES,
    "semctl ro rmid": EPERM,
    "shmat ro rw": EACCES, "shmat ro rdonly": "0", "shmat ro exec": EACCES, "shmat rw": "0",
    "shmctl stat ro": "0", "shmctl lock ro": EPERM, "shmctl rmid ro": EPERM,
    "msgctl set qbytes up": EPERM,  # past MSGMNB: root's only
    "msgctl give away": "0", "msgctl stat given": "0", "msgsnd given": "0", "msgctl rmid given": "0",
}
OWNERS = ["mine uid 1000 gid 1000 cuid 1000 cgid 1000 mode 600",
          "given uid 0 gid 0 cuid 1000 cgid 1000 mode 600"]  # the creator stays, with its rights


def _check(out: bytes) -> None:
    lines = out.decode().splitlines()
    got = {ln.rpartition(" ")[0]: ln.rpartition(" ")[2] for ln in lines}
    assert {k: got.get(k) for k in EXPECTED} == EXPECTED
    assert [ln for ln in lines if ln in OWNERS] == OWNERS


@pytest.fixture
def sysvperm(programs: Programs) -> Built:
    return programs["sysvperm"]


def test_sysv_permissions_of_a_forked_user_as_native(sysvperm: Built) -> None:
    p, _ = run_shoal(sysvperm, ["sysvperm", "0x5100"], user=ROOT)
    assert p.returncode == 0, p.message
    _check(p.stdout)
    assert p.stdout.endswith(b"child 0\nroot removed all 0\n")
    if os.geteuid() != 0:
        pytest.skip("the host build needs root to give it up")
    key = str(0x51000000 + os.getpid() % 0x10000 * 8)  # (keys of the host's own: apart from others')
    assert_same(p, run_native(sysvperm, ["sysvperm", key]))


@pytest.mark.parametrize("cluster", [0, 1])
def test_a_user_process_on_any_cluster_meets_roots_objects(sysvperm: Built, cluster: int) -> None:
    c = Chip.preset("tiny", user=ROOT)  # (root makes the objects; a user uses them)
    root = c.spawn(sysvperm.elf, ["sysvperm", "0x5100", "make"], cluster=0)
    c.run()
    assert root.returncode == 0, root.message
    p = c.spawn(sysvperm.elf, ["sysvperm", "0x5100", "use"], cluster=cluster, user=(1000, 1000))
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout.startswith(b"uid 1000\n")
    _check(p.stdout)


def test_root_is_never_refused(sysvperm: Built) -> None:
    """The same tries as root: every mode bit and ownership rule passed over."""
    c = Chip.preset("tiny", user=ROOT)  # (root makes the objects; a user uses them)
    c.spawn(sysvperm.elf, ["sysvperm", "0x5100", "make"])
    c.run()
    p = c.spawn(sysvperm.elf, ["sysvperm", "0x5100", "use"])
    c.run()
    out = p.stdout.decode().splitlines()
    assert out[0] == "uid 0"
    for line in ("msgsnd none 0", "semop ro alter 0", "shmat ro rw 0", "msgctl rmid ro 0",
                 "msgctl set qbytes up 0", "mine uid 0 gid 0 cuid 0 cgid 0 mode 600"):
        assert line in out

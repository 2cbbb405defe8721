"""POSIX message queues and named semaphores of root met by a user that is not root (issue
22, part 5): tests/programs/posixipcperm.c. mq_open(3), sem_open(3), mq_unlink(3),
sem_unlink(3) give these, whatever the host; the host build (as root) prints the same."""

from __future__ import annotations

import os

import pytest
from conftest import ROOT, Programs, assert_same, run_native, run_shoal

EXPECTED = [
    "mq_open ro rdonly 0",
    "mq_open ro wronly -13",  # EACCES: the others' bits of 0644
    "mq_open ro rdwr -13",
    "mq_open ro creat wronly -13",  # O_CREAT of an existing one: checked as an open
    "mq_open ro creat excl -17",  # EEXIST first
    "mq_open none rdonly -13",
    "mq_unlink ro -13",  # the kernel's EPERM (sticky), given as EACCES by the libc
    "mq_open mine 0",
    "mq_open mine again 0",  # 0666 less the umask 022: the owner's rw
    "mq_unlink mine 0",
    "sem_open ro -13",  # a semaphore is opened for reading and writing
    "sem_open rw 0",
    "sem_open ro creat -13",
    "sem_unlink rw -13",
    "sem_open mine 0",
    "sem_unlink mine 0",
    "child 0",
    "root mq_open none 0",  # root is never refused
    "root removed all 0",
]


def test_posix_ipc_permissions_as_linux(programs: Programs) -> None:
    b = programs["posixipcperm"]
    p, _ = run_shoal(b, ["posixipcperm", "x"], user=ROOT)
    assert p.returncode == 0, p.message
    assert p.stdout.decode().splitlines() == EXPECTED
    if os.geteuid() != 0:
        pytest.skip("the host build needs root to give it up")
    assert_same(p, run_native(b, ["posixipcperm", f"t{os.getpid()}"]))

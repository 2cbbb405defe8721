"""A process's user and groups (issue 22, part 5): tests/programs/cred.c on the chip and
natively (host gcc, as root: the chip's processes start as root) prints the same bytes; the
ids, groups and umask travel with a process that migrates or is checkpointed and restored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT, Programs, assert_one_line_error, assert_same, run_native, run_shoal, shoal_cli

from shoal import Chip
from shoal.errors import ShoalError

# Lines Linux's rules give (set*id(2), chown(2), getgroups(2), utimensat(2)), whatever the host.
EXPECTED = [
    "ids 0 0 0 0",
    "chown -1 -1 0 0",
    "set-ids dropped owner 1001 group 2000 mode 755",  # chown drops set-user-ID and set-group-ID
    "lchown missing -1 2",
    "fchownat bad flag -1 22",
    "fchown bad fd -1 9",
    "times a 1000000000.5 m 1200000000.7",
    "times a 1000000000 m 1300000000 dev-nonzero 1",
    "utimensat /dev/null/x omit 0 0",  # nothing to do: the path is not looked at
    "utimensat /dev/null/x -1 20",  # ENOTDIR
    "getgroups 1 -1 22",
    "dropped uid 1000 1000 0 gid 2000 2000 2000",
    "back uid 1000 0 0 gid 2000 2000 2000",  # to the saved uid
    "setuid 5 -1 1",
    "setuid -1 -1 22",
    "setgroups -1 1",
    "setfsuid 77 1000 0",  # the old one; not changed
    "fchown other's -1 1",
    "fchown own to group 6 -1 1",
    "fchown own to uid 1001 -1 1",
    "own owner 1000 group 5 mode 644",
    "access other's W -1 13",  # by the real uid, 1000: the others' bits of 755
    "access own X -1 13",
    "setreuid uid 1000 0 0 gid 2000 2000 2000",
    "setuid 0 -1 1",
    "ids 1000 1000 2000 2000",
    "parent uid 0 0 0 gid 0 0 0",
]


def test_ids_chown_and_times_as_linux(programs: Programs, tmp_path: Path) -> None:
    b = programs["cred"]
    p, _ = run_shoal(b, ["cred", "/tmp"], user=ROOT)  # (it gives root up itself)
    assert p.returncode == 0, p.message
    lines = p.stdout.decode().splitlines()
    assert [x for x in lines if x in EXPECTED] == EXPECTED
    assert not p.record.unknown_syscalls, p.record.unknown_syscalls
    if os.geteuid() != 0:
        pytest.skip("the host build's set*id and chown need root to give Linux's answers")
    native = run_native(b, ["cred", str(tmp_path)])
    assert_same(p, native)


AFTER = (b"before uid 1000 1001 0 gid 2000 2001 2002\nafter uid 1000 1001 0 gid 2000 2001 2002\n"
         b"groups 1 5 umask 27\n")


def test_ids_travel_with_a_migration(programs: Programs) -> None:
    b = programs["cred"]
    c = Chip.preset("tiny", user=ROOT)
    p = c.spawn(b.elf, ["cred", "move"], cluster=0)
    c.run(until=lambda: b"before" in p.stdout)
    assert not p.done
    p.migrate(2)
    c.run()
    assert p.cluster == 2 and p.returncode == 0, p.message
    assert p.stdout == AFTER


def test_ids_travel_with_a_checkpoint(programs: Programs) -> None:
    b = programs["cred"]
    c = Chip.preset("tiny", user=ROOT)
    p = c.spawn(b.elf, ["cred", "move"], cluster=0)
    c.run(until=lambda: b"before" in p.stdout)
    image = p.checkpoint(stop=True)
    c2 = Chip.preset("tiny", user=ROOT)
    q = c2.restore(image, cluster=1)
    c2.run()
    assert q.returncode == 0, q.message
    assert p.stdout + q.stdout == AFTER


def test_permission_checks_for_a_user_as_native(programs: Programs, tmp_path: Path) -> None:
    """Root makes files, gives up root (uid 1000), then opens, makes, removes, renames and
    chmods as Linux lets a user: EACCES by the bits, EPERM by the sticky rule and for chmod."""
    b = programs["perms"]
    p, _ = run_shoal(b, ["perms", "/tmp", "drop"], user=ROOT)
    assert p.returncode == 0, p.message
    assert b"open ro r trunc -13\n" in p.stdout and b"unlink root's in sticky -1\n" in p.stdout
    assert b"mine owner 1000 group 1000 mode 640\n" in p.stdout
    if os.geteuid() != 0:
        pytest.skip("the host build needs root to give it up")
    assert_same(p, run_native(b, ["perms", str(tmp_path), "drop"]))


def test_a_process_started_as_a_user(programs: Programs) -> None:
    b = programs["perms"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, ["perms", "/tmp"], user=(1000, 1001))
    c.run()
    assert p.returncode == 0, p.message
    out = p.stdout.decode().splitlines()
    assert out[0] == "uid 1000 gid 1001"
    assert "mine owner 1000 group 1001 mode 640" in out  # (/tmp is not set-group-ID)
    with pytest.raises(ShoalError, match="bad user"):
        c.spawn(b.elf, ["perms", "/tmp"], user=(-1, 0))


def test_cli_user(programs: Programs, tmp_path: Path) -> None:
    """--user; a --fs tree's own tmp is writable by every user (1777) and root's, the rest of
    the tree is the user's (its root too: a user creates files where it starts)."""
    b = programs["perms"]
    (tmp_path / "tmp").mkdir()
    res = shoal_cli("run", "--chip", "tiny", "--user", "1000", "--fs", str(tmp_path), str(b.elf), "/tmp")
    assert res.returncode == 0 and res.stdout.startswith(b"uid 1000 gid 1000\n"), res.stderr
    assert b"create mine 0\n" in res.stdout
    res = shoal_cli("run", "--chip", "tiny", "--user", "1234:99", "--fs", str(tmp_path), str(b.elf), "/")
    assert res.stdout.startswith(b"uid 1234 gid 99\n") and b"create mine 0\n" in res.stdout
    assert_one_line_error(shoal_cli("run", "--chip", "tiny", "--user", "x:1", str(b.elf), "/tmp"))


def test_groups_and_the_working_directory_as_linux(programs: Programs, tmp_path: Path) -> None:
    """setgroups keeps repeated groups and sorts them unsigned (4294967294 last), refuses
    (gid_t)-1; chown and stat reach the working directory by AT_FDCWD, "" and AT_EMPTY_PATH."""
    b = programs["cred_edges"]
    p, _ = run_shoal(b, ["cred_edges", "groups", "/tmp"], user=ROOT)
    assert p.returncode == 0, p.message
    out = p.stdout.decode()
    assert "repeats: 5: 1 3 5 5 4294967294\n" in out
    assert "setgroups(2, b) = -1 22\n" in out
    assert "cwd owner 1234 567 dir 1\n" in out
    if os.geteuid() != 0:
        pytest.skip("the host build's setgroups and chown need root")
    assert_same(p, run_native(b, ["cred_edges", "groups", str(tmp_path)]))


@pytest.mark.parametrize("uid,gid", [(4294967294, 4294967290), (2147483648, 5), (1000, 1000)])
def test_a_user_past_2_31_may_set_its_own_ids(programs: Programs, uid: int, gid: int) -> None:
    """A process started as a user (Chip.spawn(user=), --user) keeps its ids as the set*id
    calls do: setuid(getuid()) is allowed to anyone (it was EPERM for ids from 2^31 on)."""
    b = programs["cred_edges"]
    c = Chip.preset("tiny")
    argv = ["cred_edges", "self", str(uid), str(gid)]
    p = c.spawn(b.elf, argv, user=(uid, gid))
    c.run()
    assert p.returncode == 0, p.message
    assert b"setuid(u) = 0 0\n" in p.stdout
    assert f"res {uid} {uid} {uid}\n".encode() in p.stdout
    if os.geteuid() != 0:
        pytest.skip("the host build becomes the user by set*id, as root")
    native = run_native(b, argv)
    assert (p.stdout, p.returncode) == (native.stdout, native.returncode)


@pytest.mark.parametrize("text", ["1_000", " 5", "5 ", "1:", "+5", "٣", "1:2:3", ":1", "-1", "4294967295"])
def test_cli_user_takes_decimal_ids_only(text: str) -> None:
    """--user UID[:GID] in decimal digits, as id(1) prints them (Python's int() also took
    "1_000", " 5", "+5" and other scripts' digits; "1:" was the uid's own group)."""
    from shoal.cli.commands import _user_arg
    with pytest.raises(ShoalError, match="bad --user"):
        _user_arg(text)
    assert _user_arg("1000") == {"user": (1000, 1000)}
    assert _user_arg("0:4294967294") == {"user": (0, 4294967294)}
    assert _user_arg("root") == {"user": (0, 0)} and _user_arg(None) == {}


def test_the_default_user_is_not_root_and_owns_its_tree(programs: Programs, tmp_path: Path) -> None:
    """A program runs as user 1000:1000 unless told (issue 22: not root by default), and the
    file tree is that user's (its root, what --fs brings): it creates files where it starts,
    as a user does in a home directory; /tmp stays root's with the sticky bit."""
    b = programs["perms"]
    c = Chip.preset("tiny")
    assert c.user == (1000, 1000)
    p = c.spawn(b.elf, ["perms", "/"])
    c.run()
    out = p.stdout.decode().splitlines()
    assert out[0] == "uid 1000 gid 1000" and "create mine 0" in out, out
    assert "mine owner 1000 group 1000 mode 640" in out
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.txt").write_bytes(b"x")
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(tmp_path / "in"), str(b.elf), "/")
    assert res.returncode == 0 and res.stdout.startswith(b"uid 1000 gid 1000\n"), res.stderr
    assert b"create mine 0\n" in res.stdout
    res = shoal_cli("run", "--chip", "tiny", "--user", "root", str(b.elf), "/")
    assert res.returncode == 0 and res.stdout.startswith(b"uid 0 gid 0\n"), res.stderr
    # a user the chip's tree does not belong to: refused in the tree's root, as Linux
    c = Chip.preset("tiny", user=(1000, 1000))
    p = c.spawn(b.elf, ["perms", "/"], user=(1234, 1234))
    c.run()
    assert "create mine -13" in p.stdout.decode().splitlines()
    with pytest.raises(ShoalError, match="bad user"):
        Chip.preset("tiny", user=(0, -1))


@pytest.mark.parametrize("user", [None, (1234, 567), (0, 0)])
def test_a_spawned_program_runs_as_its_spawner(programs: Programs, user: tuple[int, int] | None) -> None:
    """shoal_spawn made its child root whoever asked (a way for any user to become root):
    the child now has the spawner's ids and groups, on its cluster or another, as a child
    of fork and execve on Linux."""
    b = programs["spawn_ids"]
    c = Chip.preset("tiny")
    c.add_file("spawn_ids", b.elf.read_bytes())
    p = c.spawn(b.elf, ["spawn_ids"], user=user)
    c.run()
    assert p.returncode == 0, p.message
    uid, gid = user or (1000, 1000)
    me = f"uid {uid} euid {uid} gid {gid} egid {gid}"
    assert p.stdout.decode().splitlines() == [f"parent {me}", f"child {me}", f"child {me}"]
    if user == (0, 0) and os.geteuid() == 0:
        native = run_native(b, ["spawn_ids"])
        assert p.stdout == native.stdout and native.returncode == 0

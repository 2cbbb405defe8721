"""Issue 12, hardening against guests: a program that misuses the system calls gets a clear
error (as Linux or shoal's API says), the kernel keeps running, and nothing leaks."""

from __future__ import annotations

import struct
from pathlib import Path

from conftest import PROGRAMS, SHOAL_FLAGS, Programs, assert_no_frame_leak, assert_same, run_native

from shoal import Chip
from shoal.kernel.memory import MAX_MAP_COUNT
from shoal.toolchain import compile_cached

# Two versions of `int f(void)` in RV32 machine code: li a0, 42; ret  and  li a0, 7; ret.
CODE = struct.pack("<4I", 0x02A00513, 0x00008067, 0x00700513, 0x00008067)


def elf(name: str) -> Path:
    return compile_cached([PROGRAMS / f"{name}.c"], SHOAL_FLAGS)


def run(argv: list[str], chip: str = "tiny", stdin: bytes = b"") -> tuple[object, Chip]:
    c = Chip.preset(chip)
    c.add_file("guest_harden", elf("guest_harden").read_bytes())
    c.add_file("code.bin", CODE)
    prog = elf("selfmod" if argv[0] == "selfmod" else "guest_harden")
    p = c.spawn(prog, argv, cluster=0, stdin=stdin)
    c.run()
    assert p.done
    return p, c


def lines(p: object) -> dict[str, int]:
    return {k: int(v) for k, v in (ln.split() for ln in p.stdout.decode().splitlines())}


def test_sync_with_a_repeated_pid_is_refused() -> None:
    p, c = run(["guest_harden", "sync_dup"])
    assert p.returncode == 0, p.message
    assert set(lines(p).values()) == {-22}  # EINVAL at create and at open, both modes
    assert_no_frame_leak(c)


def test_guest_migrates_only_to_a_cluster() -> None:
    p, c = run(["guest_harden", "migrate"])
    assert p.returncode == 0, p.message
    assert lines(p) == {"migrate_-1": -22, "migrate_-2": -22, "migrate_n": -22, "migrate_big": -22,
                        "migrate_here": 0}
    assert not [m for m in c.migrations if m.dst < 0]  # no checkpoint taken for a guest
    assert_no_frame_leak(c)


def test_twenty_thousand_mmaps() -> None:
    p, c = run(["guest_harden", "mmap", "20000"])
    assert p.returncode == 0, p.message
    assert p.stdout == b"mapped 20000 err 0 unmapped_failures 0\n"
    assert_no_frame_leak(c)


def test_map_count_is_limited() -> None:
    p, c = run(["guest_harden", "mmap_limit"])
    assert p.returncode == 0, p.message
    words = p.stdout.decode().split()
    assert words[0] == "mapped" and words[2:] == ["err", "ENOMEM"]
    # The program had a few regions (text, data, heap, stack) before it began.
    assert MAX_MAP_COUNT - 16 < int(words[1]) < MAX_MAP_COUNT
    assert_no_frame_leak(c)


def test_spawn_with_arguments_too_big_is_e2big_and_frees_everything() -> None:
    p, c = run(["guest_harden", "spawn_big", "40"])
    assert p.returncode == 0, p.message
    assert lines(p) == {"e2big": 40, "spawn_after": 1, "wait": 5}
    assert_no_frame_leak(c)


def test_code_written_by_the_kernel_is_seen() -> None:
    for argv in (["selfmod", "file", "code.bin"], ["selfmod", "stdin"], ["selfmod", "mailbox"],
                 ["selfmod", "own"]):
        p, c = run(argv, stdin=CODE)
        assert (p.returncode, p.stdout) == (0, b"42 7\n"), (argv, p.message)
        assert_no_frame_leak(c)


def test_fault_messages_are_exact() -> None:
    cases = {
        "store": (139, "store page fault (protection) at 0x00012344"),
        "load": (139, "load page fault at 0x00005ab8"),
        "ebreak": (133, "breakpoint, pc"),  # Linux: SIGTRAP
        "badfetch": (139, "instruction page fault at 0xfffffff0, pc 0xfffffff0"),
    }
    for mode, (code, text) in cases.items():
        p, c = run(["guest_harden", mode])
        assert p.returncode == code, (mode, p.message)
        assert text in p.message, (mode, p.message)
        assert_no_frame_leak(c)


def test_wait_only_for_ones_own_child_and_once() -> None:
    p, c = run(["guest_harden", "wait"])
    assert p.returncode == 0, p.message
    # The second child waited for its sibling: ECHILD (10) was its exit code.
    assert lines(p) == {"not_my_child": 10, "my_child": 3, "again": -10, "host_spawned": -10}
    assert_no_frame_leak(c)


def test_closing_an_endpoint_as_another_kind_is_ebadf() -> None:
    p, c = run(["guest_harden", "portal_close"])
    assert p.returncode == 0, p.message
    assert lines(p) == {"portal_close_mailbox_out": -9, "portal_close_mailbox_in": -9,
                        "sync_close_mailbox_out": -9, "mailbox_close_out": 0, "mailbox_close_in": 0}


def test_a_misbehaving_guest_beside_a_good_neighbour(programs: Programs) -> None:
    good = programs["malloc"]
    expected = run_native(good, ["malloc"])
    c = Chip.preset("tiny")
    c.add_file("guest_harden", elf("guest_harden").read_bytes())
    bad = c.spawn(elf("guest_harden"), ["guest_harden", "stress", "12"], cluster=0)
    neighbour = c.spawn(good.elf, ["malloc"], cluster=0)
    c.run()
    assert bad.done and neighbour.done
    assert (bad.returncode, bad.stdout) == (0, b"stress rounds 12 bad 0\n"), bad.message
    assert_same(neighbour, expected)
    assert_no_frame_leak(c)

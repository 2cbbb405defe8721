"""Error paths: faults kill only the faulting process with a clear message, bad system call
arguments get errors, bad executables and bad requests are refused with one clear line."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from conftest import Programs, assert_no_frame_leak, assert_same, run_native, run_shoal

from shoal import Chip, ShoalError
from shoal.kernel.loader import parse_elf


def assert_one_line(e: pytest.ExceptionInfo[ShoalError]) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


# --- faults: the process is killed, with 128 + signal and a message -----------------------
@pytest.mark.parametrize(("mode", "returncode", "message"), [
    ("null", 139, "killed: store page fault at 0x00000000, pc 0x"),
    ("nullload", 139, "killed: load page fault at 0x00000000, pc 0x"),
    ("ill", 132, "killed: illegal instruction, pc 0x"),
    ("badrm", 132, "killed: illegal instruction, pc 0x"),
    ("abort", 134, "SIGABRT"),
])
def test_fault_kills_with_signal(programs: Programs, mode: str, returncode: int, message: str) -> None:
    b = programs["faults"]
    expected = run_native(b, ["faults", mode])
    assert expected.returncode == returncode  # the host agrees on the signal
    p, chip = run_shoal(b, ["faults", mode])
    assert_same(p, expected)  # including what was printed before the fault
    assert p.signal == returncode - 128 and p.exit_code is None
    assert message in p.message
    assert "\n" not in p.message
    assert p.cycles is not None and p.cycles > 0
    assert_no_frame_leak(chip)


def test_fault_pc_is_the_faulting_instruction(programs: Programs) -> None:
    """The pc in the message is inside the program's code and the same on every run."""
    b = programs["faults"]
    p1, _ = run_shoal(b, ["faults", "null"])
    p2, _ = run_shoal(b, ["faults", "null"], cluster=2)
    assert p1.message == p2.message
    pc = int(p1.message.rsplit("pc ", 1)[1], 16)
    exe = parse_elf(b.elf.read_bytes(), "faults")
    assert any(s.prot & 4 and s.vaddr <= pc < s.vaddr + s.memsz for s in exe.segments)


def test_out_of_memory_kills_with_sigkill(programs: Programs) -> None:
    b = programs["faults"]
    p, chip = run_shoal(b, ["faults", "oom"])
    assert p.returncode == 137 and p.signal == 9
    assert "out of memory" in p.message
    assert p.stdout == b"allocating until memory runs out\n"  # malloc never returned NULL
    assert p.record.peak_frames > chip.spec.user_frames * 9 // 10
    assert_no_frame_leak(chip)


def test_huge_mmap_fails_with_enomem(programs: Programs) -> None:
    b = programs["faults"]
    p, chip = run_shoal(b, ["faults", "mmap"])
    assert p.stdout.decode().splitlines() == [
        "huge mappings",
        "mmap 3 GiB: MAP_FAILED errno ENOMEM",
        "mmap 1.5 GiB: mapped errno 0",  # address space only: no frame is spent on it
        "touched both ends: 1 2",
        "second mmap 1.5 GiB: MAP_FAILED errno ENOMEM",  # no room left below the stack
        "malloc 2e9: NULL errno ENOMEM",
        "munmap: 0",
        "mmap 1.5 GiB after munmap: mapped errno 0",
    ]
    assert p.returncode == 0
    assert p.record.peak_frames < 64
    assert_no_frame_leak(chip)


def test_bad_pointers_give_efault_and_the_process_goes_on(programs: Programs) -> None:
    b = programs["faults"]
    expected = run_native(b, ["faults", "efault"], stdin=b"hello")
    assert b"write(1, 16, 10) = -1 errno EFAULT" in expected.stdout
    chip = Chip.preset("tiny")
    p = chip.spawn(b.elf, ["faults", "efault"], cluster=1, stdin=b"hello")
    neighbour = chip.spawn(programs["args"].elf, ["args", "4"], cluster=1)
    chip.run()
    assert_same(p, expected)
    assert p.signal is None and p.message == ""
    assert p.record.syscalls["write"] + p.record.syscalls["writev"] >= 2
    assert_same(neighbour, run_native(programs["args"], ["args", "4"]))
    assert_no_frame_leak(chip)


def test_unknown_syscall_returns_enosys_and_is_counted(programs: Programs) -> None:
    b = programs["faults"]
    expected = run_native(b, ["faults", "enosys"])
    p, _ = run_shoal(b, ["faults", "enosys"])
    assert_same(p, expected)
    assert p.returncode == 7
    assert dict(p.record.unknown_syscalls) == {999: 2, 998: 1}
    assert p.record.syscalls["#999"] == 2


def test_known_programs_make_no_unknown_syscalls(programs: Programs) -> None:
    for name, argv in [("threads", ["threads", "4"]), ("format", ["format"]), ("sleep", ["sleep"]),
                       ("stdin", ["stdin"]), ("isolate", ["isolate", "1", "1"])]:
        p, _ = run_shoal(programs[name], argv)
        assert p.returncode == 0 or name == "stdin", (name, p.message)
        assert not p.record.unknown_syscalls, (name, p.record.unknown_syscalls)


# --- executables that are refused ---------------------------------------------------------
def load_end(image: bytes) -> int:
    """End of the file bytes that loadable segments (PT_LOAD) need."""
    phoff, = struct.unpack_from("<I", image, 28)
    phentsize, phnum = struct.unpack_from("<HH", image, 42)
    end = phoff + phentsize * phnum
    for i in range(phnum):
        p_type, p_offset, _, _, p_filesz = struct.unpack_from("<5I", image, phoff + i * phentsize)
        if p_type == 1:
            end = max(end, p_offset + p_filesz)
    return end


@pytest.fixture(scope="session")
def rv_image(programs: Programs) -> bytes:
    return programs["args"].elf.read_bytes()


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 5, 16, 40, 51, 52, 53, 60, 84, 100, 200, 1000, 4096,
                                 "half", "load_end-1"])
def test_truncated_elf_is_refused(rv_image: bytes, cut: int | str) -> None:
    end = load_end(rv_image)
    n = end // 2 if cut == "half" else end - 1 if cut == "load_end-1" else int(cut)
    assert n < end
    chip = Chip.preset("tiny")
    with pytest.raises(ShoalError) as e:
        chip.spawn(rv_image[:n], ["prog"])
    msg = assert_one_line(e)
    assert msg.startswith("program: ")
    assert not chip.procs


def test_truncated_elf_file_is_refused_by_name(rv_image: bytes, tmp_path: Path) -> None:
    f = tmp_path / "cut.elf"
    f.write_bytes(rv_image[:300])
    with pytest.raises(ShoalError) as e:
        Chip.preset("tiny").spawn(f)
    msg = assert_one_line(e)
    assert msg.startswith("cut.elf: ") and "truncated" in msg


def test_every_cut_is_refused_or_loads(rv_image: bytes) -> None:
    """No cut of the file makes the loader fail with anything but a ShoalError."""
    end = load_end(rv_image)
    refused = 0
    for n in range(0, len(rv_image), max(1, len(rv_image) // 300)):
        try:
            parse_elf(rv_image[:n], "x")
            assert n >= end
        except ShoalError as e:
            assert "\n" not in str(e)
            refused += 1
    assert refused > 0


def patched(image: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(image)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


@pytest.mark.parametrize(("what", "offset", "fmt", "value", "words"), [
    ("64-bit class", 4, "<B", 2, "32-bit"),
    ("big-endian", 5, "<B", 2, "little-endian"),
    ("machine EM_ARM", 18, "<H", 40, "RISC-V"),
    ("shared object", 16, "<H", 3, "static"),
    ("relocatable", 16, "<H", 1, "static"),
    ("soft-float ABI", 36, "<I", 0, "ilp32d"),
    ("program headers past the end", 28, "<I", 0x7FFFFF00, "truncated"),
    ("no program headers", 44, "<H", 0, "no loadable segment"),
    ("entry outside code", 24, "<I", 0x10, "entry point"),
])
def test_malformed_elf_is_refused(rv_image: bytes, what: str, offset: int, fmt: str, value: int,
                                  words: str) -> None:
    with pytest.raises(ShoalError) as e:
        Chip.preset("tiny").spawn(patched(rv_image, offset, fmt, value), ["bad"])
    msg = assert_one_line(e)
    assert words in msg, (what, msg)


def host_elfs(programs: Programs) -> list[Path]:
    found = [programs["args"].native]
    true = shutil.which("true")
    if true is not None:
        found.append(Path(true).resolve())
    return found


def test_host_executables_are_refused(programs: Programs) -> None:
    for path in host_elfs(programs):
        assert path.read_bytes()[:4] == b"\x7fELF"
        with pytest.raises(ShoalError) as e:
            Chip.preset("tiny").spawn(path)
        msg = assert_one_line(e)
        assert msg.startswith(f"{path.name}: ")
        assert "32-bit" in msg or "RISC-V" in msg


@pytest.mark.parametrize("content", [b"", b"#!/bin/sh\necho hi\n", b"\x7fEL", bytes(100)])
def test_non_elf_files_are_refused(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "notelf"
    f.write_bytes(content)
    with pytest.raises(ShoalError) as e:
        Chip.preset("tiny").spawn(f)
    assert assert_one_line(e).startswith("notelf: ")


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    chip = Chip.preset("tiny")
    with pytest.raises(ShoalError) as e:
        chip.spawn(tmp_path / "nope.elf")
    assert "no such file" in assert_one_line(e)
    with pytest.raises(ShoalError) as e:
        chip.spawn(tmp_path)
    assert "directory" in assert_one_line(e)
    with pytest.raises(ShoalError) as e:
        chip.spawn(tmp_path / "nope.c")
    assert assert_one_line(e)


def test_c_file_that_does_not_compile_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "broken.c"
    src.write_text("int main(void) { return undeclared_name; }\n")
    with pytest.raises(ShoalError) as e:
        Chip.preset("tiny").spawn(src)
    assert "broken.c" in assert_one_line(e)


def test_program_too_big_for_the_cluster_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "huge_data.c"
    # 1.5 MiB of initialised data: more than a tiny cluster's 960 KiB of user memory.
    src.write_text("static volatile char big[1536 * 1024] = {1};\n"
                   "int main(void) { return big[12345]; }\n")
    chip = Chip.preset("tiny")
    with pytest.raises(ShoalError) as e:
        chip.spawn(src)
    assert "no memory" in assert_one_line(e)
    assert_no_frame_leak(chip)  # the half-loaded image was given back
    # The same program fits on an mppa256 cluster (1.75 MiB of user memory).
    big = Chip.preset("mppa256")
    p = big.spawn(src)
    big.run()
    assert p.returncode == 0


# --- bad requests -----------------------------------------------------------------------------
@pytest.mark.parametrize(("preset", "cluster"), [("tiny", 4), ("tiny", -1), ("tiny", 100), ("mppa256", 16)])
def test_spawn_on_a_nonexistent_cluster(programs: Programs, preset: str, cluster: int) -> None:
    chip = Chip.preset(preset)
    with pytest.raises(ShoalError) as e:
        chip.spawn(programs["args"].elf, ["args"], cluster=cluster)
    msg = assert_one_line(e)
    assert str(cluster) in msg and "does not exist" in msg
    assert not chip.procs
    chip.run()  # nothing to run; the chip is still usable
    p = chip.spawn(programs["args"].elf, ["args", "3"], cluster=chip.spec.compute_clusters - 1)
    chip.run()
    assert p.returncode == 3


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ShoalError) as e:
        Chip.preset("mppa512")
    assert "mppa512" in assert_one_line(e)


def test_pids_are_unique_across_clusters(programs: Programs) -> None:
    b = programs["args"]
    chip = Chip.preset("tiny")
    procs = [chip.spawn(b.elf, ["args", str(i)], cluster=i % 4) for i in range(8)]
    chip.run()
    assert sorted(p.pid for p in procs) == list(range(2, 10))  # pid 1: init, the host
    assert [p.returncode for p in procs] == list(range(8))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_system_calls_with_bad_arguments_never_break_the_kernel(seed: int) -> None:
    from conftest import PROGRAMS, SHOAL_FLAGS

    from shoal.toolchain import compile_cached
    elf = compile_cached([PROGRAMS / "fuzz_syscalls.c"], SHOAL_FLAGS)
    c = Chip.preset("tiny")
    c.add_file("fuzz", b"\x7fELF but not really")  # something for the random spawns to refuse
    p = c.spawn(elf, ["fuzz", str(seed)])
    neighbour = c.spawn(elf, ["fuzz", "0"], cluster=1)
    c.run()
    assert p.stdout == b"survived\n" and p.returncode == 0, p.message
    assert neighbour.returncode == 0
    assert sum(p.record.syscalls.values()) > 3000
    assert p.record.unknown_syscalls  # the random numbers hit unknown calls too, counted

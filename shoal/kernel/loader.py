"""ELF loader for static RV32 executables, and the initial stack musl expects.

The stack at entry (Linux/RISC-V ABI): sp -> argc, argv[], NULL, envp[], NULL, auxv pairs,
AT_NULL; strings and the 16 AT_RANDOM bytes sit above.
"""

from __future__ import annotations

import io
import struct

from shoal.errors import ShoalError
from shoal.kernel.memory import PAGE, PROT_EXEC, PROT_READ, PROT_WRITE, USER_TOP, AddressSpace, Region
from shoal.record import dataclass

EM_RISCV = 243
EF_RISCV_FLOAT_ABI = 0x6
EF_RISCV_FLOAT_ABI_DOUBLE = 0x4
PF_X, PF_W, PF_R = 1, 2, 4

AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_HWCAP, AT_CLKTCK, AT_SECURE, AT_RANDOM, AT_EXECFN = (
    11, 12, 13, 14, 16, 17, 23, 25, 31)
HWCAP_RV32GC = sum(1 << (ord(c) - ord("A")) for c in "IMAFDC")
MAX_ARG_BYTES = 256 * 1024  # argv, envp and auxv on the initial stack (Linux: a quarter of it)


class ArgsTooBig(ShoalError):
    """The arguments and environment do not fit the initial stack (E2BIG for a guest)."""


@dataclass(frozen=True)
class Segment:
    """A loadable segment: where, how large, its file bytes and rights."""

    vaddr: int
    memsz: int
    data: bytes
    prot: int


@dataclass(frozen=True)
class Executable:
    """A checked static RV32 ELF, ready to load any number of times."""

    name: str
    entry: int
    phdr: int
    phnum: int
    segments: tuple[Segment, ...]

    @property
    def brk_start(self) -> int:
        return max(s.vaddr + s.memsz for s in self.segments) + PAGE - 1 & ~(PAGE - 1)


def parse_elf(image: bytes, name: str) -> Executable:
    """Check and parse; every refusal is one clear sentence about `name`."""

    def bad(why: str) -> ShoalError:
        return ShoalError(f"{name}: {why}")

    if image[:4] != b"\x7fELF":
        raise bad("not an ELF file")
    if len(image) < 52:
        raise bad("truncated ELF (no complete header)")
    if image[4] != 1:
        raise bad("not a 32-bit ELF (shoal runs RV32 programs; build with `shoal cc`)")
    if image[5] != 1:
        raise bad("not a little-endian ELF")
    exe = _parse_plain(image, name)
    return exe if exe is not None else _parse_checked(image, name)


# Program header types the plain parser knows pyelftools treats as plain segments: PT_NULL,
# PT_LOAD, PT_PHDR, PT_TLS, GNU_EH_FRAME, GNU_STACK, GNU_RELRO, RISCV_ATTRIBUTES.
_PLAIN_TYPES = frozenset({0, 1, 6, 7, 0x6474E550, 0x6474E551, 0x6474E552, 0x70000003})
_PT_LOAD, _PT_PHDR, _ET_EXEC = 1, 6, 2


def _parse_plain(image: bytes, name: str) -> Executable | None:
    """The common case without pyelftools (whose import costs ~40 ms of every start): a
    well-formed static RV32 executable gives exactly what `_parse_checked` gives. Anything
    else (every refusal included) returns None, and `_parse_checked` decides with its
    messages."""
    e_type, machine, _, entry, phoff, _, flags, _, phentsize, phnum = struct.unpack_from(
        "<HHIIIIIHHH", image, 16)
    if (e_type != _ET_EXEC or machine != EM_RISCV or phentsize != 32 or phnum >= 0xFFFF
            or flags & EF_RISCV_FLOAT_ABI != EF_RISCV_FLOAT_ABI_DOUBLE
            or phoff + phnum * 32 > len(image)):
        return None
    segs: list[Segment] = []
    phdr = 0
    for i in range(phnum):
        kind, off, va, _, filesz, memsz, pflags, _ = struct.unpack_from("<8I", image, phoff + 32 * i)
        if kind not in _PLAIN_TYPES:
            return None
        if kind == _PT_PHDR:
            phdr = va
        if kind != _PT_LOAD or memsz == 0:
            continue
        if off + filesz > len(image) or filesz > memsz or va < PAGE or va + memsz > USER_TOP - (64 << 20):
            return None
        prot = ((PROT_READ if pflags & PF_R else 0) | (PROT_WRITE if pflags & PF_W else 0)
                | (PROT_EXEC if pflags & PF_X else 0))
        segs.append(Segment(va, memsz, image[off:off + filesz], prot))
        if not phdr and off <= phoff < off + filesz:
            phdr = va + phoff - off
    if not segs or not any(s.prot & PROT_EXEC and s.vaddr <= entry < s.vaddr + s.memsz for s in segs):
        return None
    return Executable(name, entry, phdr, phnum, tuple(segs))


def _parse_checked(image: bytes, name: str) -> Executable:
    """The same with pyelftools: every refusal is one clear sentence about `name`."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    def bad(why: str) -> ShoalError:
        return ShoalError(f"{name}: {why}")

    try:
        elf = ELFFile(io.BytesIO(image))
        machine = elf.header["e_machine"]
        if machine not in ("EM_RISCV", EM_RISCV):
            raise bad(f"ELF for {machine}, not RISC-V (build with `shoal cc`)")
        if elf.header["e_type"] != "ET_EXEC":
            raise bad("not a static executable (ET_EXEC); build with `shoal cc` (-static)")
        if elf.header["e_flags"] & EF_RISCV_FLOAT_ABI != EF_RISCV_FLOAT_ABI_DOUBLE:
            raise bad("not built for the ilp32d ABI (RV32GC, double-precision float registers)")
        phoff, phnum = elf.header["e_phoff"], elf.header["e_phnum"]
        if phoff + phnum * 32 > len(image):
            raise bad("truncated ELF (program headers past end of file)")
        segs: list[Segment] = []
        phdr = 0
        for seg in elf.iter_segments():
            kind = seg["p_type"]
            if kind == "PT_INTERP":
                raise bad("dynamically linked; shoal runs static executables (shoal cc links -static)")
            if kind == "PT_PHDR":
                phdr = seg["p_vaddr"]
            if kind != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            off, filesz, memsz, va = seg["p_offset"], seg["p_filesz"], seg["p_memsz"], seg["p_vaddr"]
            if off + filesz > len(image):
                raise bad("truncated ELF (a segment extends past end of file)")
            if filesz > memsz or va < PAGE or va + memsz > USER_TOP - (64 << 20):
                raise bad(f"segment at {va:#x} is outside user memory")
            flags = seg["p_flags"]
            prot = ((PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0)
                    | (PROT_EXEC if flags & PF_X else 0))
            segs.append(Segment(va, memsz, image[off:off + filesz], prot))
            if not phdr and off <= phoff < off + filesz:
                phdr = va + phoff - off
        entry = elf.header["e_entry"]
    except (ELFError, struct.error, ValueError, KeyError) as e:
        raise bad(f"malformed ELF ({e})") from None
    if not segs:
        raise bad("no loadable segment")
    if not any(s.prot & PROT_EXEC and s.vaddr <= entry < s.vaddr + s.memsz for s in segs):
        raise bad(f"entry point {entry:#x} is not in an executable segment")
    return Executable(name, entry, phdr, phnum, tuple(segs))


def loadable_image(image: bytes) -> bytes:
    """The part of an ELF a loader needs (headers and PT_LOAD bytes), without symbols or
    debug sections: what the process manager sends across the NoC. Unparseable input is
    returned whole, for the receiving kernel to refuse with its own message."""
    try:
        if image[:4] != b"\x7fELF" or image[4] != 1 or image[5] != 1:
            return image
        phoff, = struct.unpack_from("<I", image, 28)
        phentsize, phnum = struct.unpack_from("<HH", image, 42)
        end = phoff + phentsize * phnum
        for i in range(phnum):
            kind, off, _, _, filesz = struct.unpack_from("<IIIII", image, phoff + i * phentsize)
            if kind == 1:  # PT_LOAD
                end = max(end, off + filesz)
    except struct.error:
        return image
    if end >= len(image):
        return image
    out = bytearray(image[:end])
    struct.pack_into("<I", out, 32, 0)  # e_shoff: no section headers
    struct.pack_into("<HHH", out, 46, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return bytes(out)


def load(exe: Executable, aspace: AddressSpace) -> None:
    """Map the segments; file bytes are copied now, the rest (bss) is demand-zero."""
    pages: dict[int, int] = {}
    for s in exe.segments:
        for p in range(s.vaddr & ~(PAGE - 1), s.vaddr + s.memsz, PAGE):
            pages[p] = pages.get(p, 0) | s.prot  # a page two segments share gets both rights
    # Runs of consecutive pages with the same rights become one region each.
    runs: list[list[int]] = []  # [start, end, prot]
    for p in sorted(pages):
        if runs and runs[-1][1] == p and runs[-1][2] == pages[p]:
            runs[-1][1] = p + PAGE
        else:
            runs.append([p, p + PAGE, pages[p]])
    for start, end, prot in runs:
        aspace.add_region(Region(start, end, prot, exe.name))
    for s in exe.segments:
        aspace.write(s.vaddr, s.data, force=True)


def build_stack(aspace: AddressSpace, exe: Executable, argv: list[bytes], envp: list[bytes],
                random16: bytes, stack_limit: int) -> int:
    """Map the stack region and lay out argc/argv/envp/auxv; returns the initial sp."""
    aspace.add_region(Region(USER_TOP - stack_limit, USER_TOP, PROT_READ | PROT_WRITE, "[stack]"))
    blob = bytearray()
    top = USER_TOP - 16

    def put(b: bytes) -> int:
        blob[0:0] = b
        return top - len(blob)

    rnd = put(random16)
    execfn = put(argv[0] + b"\0")
    env_ptrs = [put(e + b"\0") for e in reversed(envp)][::-1]
    arg_ptrs = [put(a + b"\0") for a in reversed(argv)][::-1]
    auxv = [AT_PHDR, exe.phdr, AT_PHENT, 32, AT_PHNUM, exe.phnum, AT_PAGESZ, PAGE, AT_BASE, 0,
            AT_FLAGS, 0, AT_ENTRY, exe.entry, AT_UID, 0, AT_EUID, 0, AT_GID, 0, AT_EGID, 0,
            AT_HWCAP, HWCAP_RV32GC, AT_CLKTCK, 100, AT_SECURE, 0, AT_RANDOM, rnd,
            AT_EXECFN, execfn, AT_NULL, 0]
    words = [len(argv), *arg_ptrs, 0, *env_ptrs, 0, *auxv]
    strings_lo = top - len(blob)
    sp = (strings_lo - 4 * len(words)) & ~15
    if top - sp > MAX_ARG_BYTES:
        raise ArgsTooBig(f"{exe.name}: arguments and environment too large (over 256 KiB)")
    aspace.write(sp, struct.pack(f"<{len(words)}I", *words))
    aspace.write(strings_lo, bytes(blob))
    return sp

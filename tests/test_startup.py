"""Start-up costs nothing simulated: a cluster's emulator is made on first use, the plain ELF
parser gives what pyelftools gives, and `shoal run` imports only what a run needs."""

from __future__ import annotations

import dataclasses
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import Programs

from shoal import Chip
from shoal.kernel import loader
from shoal.spec import ChipSpec

ROOT = Path(__file__).resolve().parent.parent


def records(chip: Chip) -> list:
    return [(r.pid, r.name, r.cluster, r.exit_code, r.signal, r.instructions, r.start_cycle, r.end_cycle,
             r.peak_frames, dict(r.syscalls)) for r in chip.processes()]


def test_idle_clusters_make_no_emulator(programs: Programs) -> None:
    chip = Chip.preset("mppa256")
    kernels = chip._backend.kernels
    assert not any(k.has_cpu for k in kernels)  # nothing is made before a process needs it
    p = chip.spawn(programs["args"].elf, ["args", "x", "y"], cluster=5)
    chip.run()
    assert p.returncode == 0
    assert [c for c, k in enumerate(kernels) if k.has_cpu] == [5]


def test_results_equal_with_every_emulator_made_first(programs: Programs) -> None:
    """A chip whose clusters all have their emulators from the start computes the same."""
    b = programs["threads"]
    out = []
    for eager in (False, True):
        chip = Chip.preset("tiny")
        if eager:
            for k in chip._backend.kernels:
                assert k.cpu is not None and len(k.mem) == chip.spec.cluster.memory_per_cluster
        p = chip.spawn(b.elf, ["threads"], cluster=1)
        m = p.migrate(to=2)
        chip.run()
        out.append((p.returncode, p.stdout, p.cycles, chip.time, records(chip),
                    (m.state, m.downtime, m.bytes, m.pages), chip.noc_stats()["bytes"]))
    assert out[0] == out[1]
    assert out[0][0] == 0 and out[0][5][0] == "done"


def patched(image: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(image)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def parse_both(image: bytes) -> tuple[object, object]:
    """(plain parser's answer or None, pyelftools' answer or its error message)."""
    try:
        checked: object = loader._parse_checked(image, "x")
    except Exception as e:  # noqa: BLE001  (the message is what is compared)
        checked = f"{type(e).__name__}: {e}"
    try:
        plain: object = loader._parse_plain(image, "x")
    except struct.error:
        plain = None  # too short for a header: parse_elf refuses it before
    return plain, checked


def test_plain_elf_parser_agrees_with_pyelftools(programs: Programs) -> None:
    for name in ("args", "threads", "faults"):
        image = programs[name].elf.read_bytes()
        plain, checked = parse_both(image)
        assert plain is not None and plain == checked
        # Every cut and a spread of patched header and program-header fields: the plain parser
        # either answers as pyelftools does or leaves the answer (and the message) to it.
        variants = [image[:n] for n in range(52, len(image), max(1, len(image) // 200))]
        phoff, = struct.unpack_from("<I", image, 28)
        for off in [*range(16, 52, 2), *range(phoff, phoff + 8 * 32, 4)]:
            for v in (0, 1, 2, 3, 4, 6, 0x7FFFFF00, 0xFFFF):
                fmt = "<H" if off < 52 and off not in (24, 28, 32, 36) else "<I"
                variants.append(patched(image, off, fmt, v & (0xFFFF if fmt == "<H" else 0xFFFFFFFF)))
        for v in variants:
            plain, checked = parse_both(v)
            assert plain is None or plain == checked


def test_plain_run_imports_little(programs: Programs) -> None:
    """`shoal run` of an ELF imports neither pyelftools nor what only other commands use (the
    heavy third-party packages and shoal's own modules; the standard library is not policed)."""
    elf = programs["args"].elf
    code = ("import sys\n"
            "from shoal import cli\n"
            f"rc = cli.main(['run', {str(elf)!r}, 'a'])\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('elftools', 'matplotlib', 'tqdm', "
            "'hypothesis', 'numpy', 'mpi4py')\n"
            "       or m in ('shoal.tools.gdbstub', 'shoal.experiments.demo', 'shoal.experiments.benchmig', "
            "'shoal.experiments.benchpolicy', 'shoal.experiments.migration', 'shoal.tools.hostfs', "
            "'shoal.tools.trace')]\n"
            "print(rc, sorted(bad))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "0 []"


def test_cli_knows_the_tracer_defaults() -> None:
    from shoal import cli
    from shoal.tools import trace
    assert cli.TRACE_KINDS == trace.KINDS and cli.TRACE_LIMIT == trace.DEFAULT_LIMIT


def _run_copy(pkg: Path, pycache: Path, elf: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SHOAL_PYCACHE": str(pycache),
           "PYTHONPATH": str(pkg)}
    return subprocess.run([sys.executable, "-m", "shoal", "run", str(elf), "x"], capture_output=True,
                          text=True, env=env, cwd=pkg)


def test_bytecode_cache_when_python_writes_none(programs: Programs, tmp_path: Path) -> None:
    """With PYTHONDONTWRITEBYTECODE, shoal keeps its compiled modules in its own cache (never
    beside the sources), serves them while the source is unchanged, and recompiles an edited
    module; a cache that cannot be written changes nothing but speed."""
    import shutil
    pkg = tmp_path / "src"
    shutil.copytree(ROOT / "shoal", pkg / "shoal", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "pyc"
    elf = programs["args"].elf
    first = _run_copy(pkg, cache, elf)
    assert first.returncode == 0, first.stderr
    entries = sorted(p.relative_to(cache) for p in cache.rglob("*.pyc"))
    # (api.py: not one of the modules shoal/_compiled.py serves as C extensions)
    assert any(str(e).endswith("shoal/api.pyc") for e in entries)
    assert not list(pkg.rglob("__pycache__"))
    # a second start reads the entries and rewrites none
    errors_entry = next(cache.rglob("shoal/errors.pyc"))
    before = errors_entry.stat().st_mtime_ns
    assert _run_copy(pkg, cache, elf).stdout == first.stdout
    assert errors_entry.stat().st_mtime_ns == before          # served, not rewritten
    # an edit (new size and mtime) is compiled again and takes effect
    src = pkg / "shoal" / "errors.py"
    src.write_text(src.read_text() + "\nimport sys as _s\n_s.stderr.write('edited\\n')\n")
    edited = _run_copy(pkg, cache, elf)
    assert edited.returncode == 0 and "edited" in edited.stderr
    assert errors_entry.stat().st_mtime_ns != before
    # an unwritable cache: same output, nothing written
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    r = _run_copy(pkg, blocked / "pyc", elf)
    assert r.returncode == 0 and r.stdout == first.stdout


def test_file_tag_is_remembered_by_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """toolchain.file_tag (the keys of shoal's Unicorn build and native helpers, read at every
    start): SHA-256 of the bytes and the salt, served from its memo while the file's path,
    mtime and size and the salt are unchanged, computed again after any change; a damaged memo
    is no memo, and a cache that cannot be written only costs the hash."""
    import hashlib

    from shoal import toolchain
    monkeypatch.setenv("SHOAL_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "x.c"
    src.write_bytes(b"int main(void) { return 0; }\n")

    def want(salt: str) -> str:
        return hashlib.sha256(src.read_bytes() + salt.encode()).hexdigest()[:16]

    tag = toolchain.file_tag(src, "salt 1")
    assert tag == want("salt 1")
    memo = tmp_path / "cache" / "tags" / "x.c.tag"
    assert memo.read_text().endswith(tag)
    # served from the memo: another tag written there for the same stat is believed
    memo.write_text(memo.read_text()[:-16] + "0123456789abcdef")
    assert toolchain.file_tag(src, "salt 1") == "0123456789abcdef"
    # another salt, or an edit (new size and mtime): computed again
    assert toolchain.file_tag(src, "salt 2") == want("salt 2")
    src.write_bytes(b"int main(void) { return 1; }\n\n")
    assert toolchain.file_tag(src, "salt 2") == want("salt 2")
    memo.write_bytes(b"\xff\xfe damaged")
    assert toolchain.file_tag(src, "salt 2") == want("salt 2")
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("SHOAL_CACHE", str(blocked / "cache"))
    assert toolchain.file_tag(src, "salt 3") == want("salt 3")
    # the Unicorn build's key is the patch's SHA-256 as before (the same build is found)
    from shoal.platform import unicorn_build
    salt = f"{unicorn_build.VERSION} {sys.platform} build-2"
    assert unicorn_build._tag() == hashlib.sha256(
        unicorn_build.PATCH.read_bytes() + salt.encode()).hexdigest()[:16]


def test_every_dataclass_of_a_run_has_a_docstring() -> None:
    """A dataclass without a docstring gets one made with inspect.signature when its module
    loads, at every start (~0.1 ms each): every dataclass that `shoal run` loads has its own."""
    code = """
import sys, dataclasses
import shoal, shoal.cli, shoal.kernel.table, shoal.daemons.node

def made_up(c):  # no docstring of its own: dataclasses wrote "Name(signature)"
    return not c.__dict__.get("__doc__") or c.__doc__.startswith(c.__name__ + "(")

print(sorted(f"{m.__name__}.{k}" for m in list(sys.modules.values())
             if getattr(m, "__name__", "").startswith("shoal") for k, v in vars(m).items()
             if isinstance(v, type) and dataclasses.is_dataclass(v) and v.__module__ == m.__name__
             and made_up(v)))
"""
    assert dataclasses.is_dataclass(ChipSpec)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_shared_repr_writes_what_dataclasses_writes() -> None:
    """shoal.record.dataclass prints as dataclasses.dataclass does: fields with repr=False left
    out, ClassVar and InitVar not fields, a reference back as `...`, slots, frozen,
    inheritance, and a class's own __repr__ kept."""
    from shoal.record import dataclass as shared

    def make(deco: object) -> list[object]:
        @deco(eq=False)  # type: ignore[operator]
        class Node:
            name: str
            kids: list = dataclasses.field(default_factory=list)
            secret: int = dataclasses.field(default=7, repr=False)
            count: ClassVar[int] = 3
            seed: dataclasses.InitVar[int] = 0

        @deco(frozen=True, slots=True)  # type: ignore[operator]
        class Point:
            x: float
            y: tuple = (1, "a")

        @deco  # type: ignore[operator]
        class Child(Node):
            extra: dict = dataclasses.field(default_factory=dict)

        @deco  # type: ignore[operator]
        class Own:
            v: int = 1

            def __repr__(self) -> str:
                return "mine"

        n = Node("n\n'q'", seed=3)
        n.kids.append(n)
        c = Child("c", [Point(0.1), None], extra={"k": Point(-0.0, ())})
        return [n, Point(float("nan")), c, Own(), Point]

    ours, theirs = make(shared), make(dataclasses.dataclass)
    assert [repr(o) for o in ours[:4]] == [repr(o) for o in theirs[:4]]
    assert repr(ours[0]).endswith(".Node(name=\"n\\n'q'\", kids=[...])")
    assert repr(ours[3]) == "mine"
    assert dataclasses.is_dataclass(ours[4]) and ours[4].__slots__ == ("x", "y")  # type: ignore[attr-defined]
    # shoal's own records print as the standard decorator's would
    spec = ChipSpec.preset("tiny")
    assert repr(spec) == "ChipSpec(" + ", ".join(
        f"{f.name}={getattr(spec, f.name)!r}" for f in dataclasses.fields(spec) if f.repr) + ")"


def test_shared_eq_and_hash_behave_as_dataclasses_ones() -> None:
    """shoal.record.dataclass's __eq__ and __hash__: the same answers as the standard ones on
    equal, unequal and other-class objects, fields left out of compare or hash, one field
    (still compared as a 1-tuple: the same NaN object equals itself), none, a mutable class
    (unhashable), a frozen one (hashes its fields), a class's own __eq__ or __hash__ kept, and
    order=True left to the standard decorator."""
    from shoal.record import dataclass as shared

    def make(deco: object) -> dict[str, type]:
        @deco  # type: ignore[operator]
        class M:
            a: int
            b: list = dataclasses.field(default_factory=list)
            c: int = dataclasses.field(default=0, compare=False)

        @deco(frozen=True)  # type: ignore[operator]
        class F:
            a: float
            b: tuple = ()
            c: int = dataclasses.field(default=0, hash=False)
            d: int = dataclasses.field(default=0, compare=False)

        @deco(frozen=True, slots=True)  # type: ignore[operator]
        class One:
            x: float

        @deco(frozen=True)  # type: ignore[operator]
        class Empty:
            pass

        @deco  # type: ignore[operator]
        class Sub(M):
            e: int = 0

        @deco(frozen=True)  # type: ignore[operator]
        class OwnHash:
            a: int

            def __hash__(self) -> int:
                return 42

        @deco  # type: ignore[operator]
        class OwnEq:
            a: int

            def __eq__(self, other: object) -> bool:
                return True

        @deco(order=True)  # type: ignore[operator]
        class Ordered:
            a: int

        return {"M": M, "F": F, "One": One, "Empty": Empty, "Sub": Sub, "OwnHash": OwnHash,
                "OwnEq": OwnEq, "Ordered": Ordered}

    nan = float("nan")

    def behaviour(k: dict[str, type]) -> list[object]:
        M, F, One, Empty, Sub = k["M"], k["F"], k["One"], k["Empty"], k["Sub"]
        out: list[object] = [
            M(1) == M(1), M(1) == M(2), M(1, [2]) == M(1, [2]), M(1, c=5) == M(1, c=6), M(1) == Sub(1),
            Sub(1) == M(1), M(1) != M(1), M(1).__eq__(3), Sub(1, e=2) == Sub(1, e=3),
            F(1.0) == F(1.0, c=9, d=9), F(1.0) == F(2.0), One(nan) == One(nan), One(1.0) == One(1.0),
            Empty() == Empty(), hash(F(1.0, (2,), c=3)) == hash(F(1.0, (2,), c=4)),
            hash(One(2.5)), hash(Empty()), hash(F(1.0, ("x",), c=3, d=4)), k["OwnEq"](1) == k["OwnEq"](2),
            hash(k["OwnHash"](1)), k["Ordered"](1) < k["Ordered"](2), k["OwnHash"](1) == k["OwnHash"](1)]
        same = One(nan)
        out.append(same == same)
        for c in (M, Sub, k["OwnEq"], k["Ordered"]):
            try:
                hash(c(1))
                out.append("hashable")
            except TypeError as e:
                out.append(str(e).replace(c.__qualname__, c.__name__))
        return out

    assert behaviour(make(shared)) == behaviour(make(dataclasses.dataclass))
    # and shoal's own: a frozen record hashes, a mutable one compares by value
    spec = ChipSpec.preset("tiny")
    assert spec == ChipSpec.preset("tiny") and hash(spec) == hash(ChipSpec.preset("tiny"))
    assert spec != dataclasses.replace(spec, cpi=2)

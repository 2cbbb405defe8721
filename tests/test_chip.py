"""Chip descriptions: presets, TOML files that override a base preset, and their refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Programs, assert_same, run_native

from shoal import Chip, ChipSpec, ShoalError


def test_presets() -> None:
    tiny, mppa = ChipSpec.load("tiny"), ChipSpec.load("mppa256")
    t, m = tiny.cluster, mppa.cluster
    assert (tiny.compute_clusters, t.cores_per_cluster, t.memory_per_cluster) == (4, 4, 1 << 20)
    assert (mppa.compute_clusters, m.cores_per_cluster, m.memory_per_cluster) == (16, 16, 2 << 20)
    assert len(Chip.preset("tiny").clusters()) == 4 and len(Chip.preset("mppa256").clusters()) == 16


def test_records_hold_every_parameter_once_and_flat_names_still_work(tmp_path: Path) -> None:
    """ChipSpec by component (spec.py's records): every parameter in exactly one record, under
    its own name, so a chip file's flat keys, `spec.param` and `dataclasses.replace` with flat
    names all reach it; an unknown name is refused, never dropped."""
    import dataclasses

    from shoal.spec import GROUP_OF, GROUPS, parameters
    names = [f.name for f in parameters()]
    per_record = [f.name for cls in GROUPS.values() for f in dataclasses.fields(cls)]
    assert names == ["name", *per_record] and len(set(per_record)) == len(per_record) == 52
    mppa = ChipSpec.preset("mppa256")
    for key in per_record:
        assert mppa.param(key) == getattr(getattr(mppa, GROUP_OF[key]), key) == getattr(mppa, key)
    with pytest.raises(AttributeError, match="bogus"):
        mppa.bogus  # noqa: B018 (a flat read of an unknown name fails as any attribute does)
    # From flat names alone: the same chip as the preset.
    assert ChipSpec(**{k: mppa.param(k) for k in names}) == mppa
    changed = dataclasses.replace(mppa, cpi=3, mesh_width=2, name="two")
    assert (changed.costs.cpi, changed.noc.mesh_width, changed.name) == (3, 2, "two")
    assert changed.cache is mppa.cache and changed.costs != mppa.costs  # untouched records are shared
    assert mppa.replace(caches=False).cache.caches is False and mppa.cache.caches is True
    with pytest.raises(TypeError, match="bogus"):
        mppa.replace(bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        dataclasses.replace(mppa, bogus=1)
    spec = ChipSpec.load(write(tmp_path, 'base = "tiny"\ncpi = 2\nio_memory = 1048576\nfs_max_files = 9\n'))
    assert (spec.costs.cpi, spec.rmem.io_memory, spec.limits.fs_max_files) == (2, 1 << 20, 9)
    assert spec.noc == ChipSpec.preset("tiny").noc


def write(tmp_path: Path, text: str, name: str = "chip.toml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def test_toml_overrides_a_base_preset(tmp_path: Path) -> None:
    f = write(tmp_path, 'base = "tiny"\nname = "duo"\ncores_per_cluster = 2\nmesh_width = 3\n'
              'mesh_height = 1\nfreq_hz = 200_000_000\n')
    spec = ChipSpec.load(f)
    tiny = ChipSpec.load("tiny")
    assert spec.name == "duo"
    assert spec.cluster.cores_per_cluster == 2 and spec.compute_clusters == 3
    assert spec.cluster.freq_hz == 200_000_000
    # Everything not named comes from the base.
    assert spec.cluster.memory_per_cluster == tiny.cluster.memory_per_cluster
    assert spec.cluster.kernel_reserved == tiny.cluster.kernel_reserved and spec.costs.cpi == tiny.costs.cpi
    chip = Chip(spec)
    assert len(chip.clusters()) == 3 and all(k.harts == 2 for k in chip.clusters())


def test_toml_chip_table_and_default_base(tmp_path: Path) -> None:
    f = write(tmp_path, '[chip]\nname = "wide"\nmesh_width = 5\n')
    spec = ChipSpec.load(f)
    mppa = ChipSpec.load("mppa256")
    assert spec.name == "wide" and spec.compute_clusters == 5 * mppa.noc.mesh_height
    assert spec.cluster.cores_per_cluster == mppa.cluster.cores_per_cluster  # base defaults to mppa256


def test_toml_float_key_accepts_an_integer(tmp_path: Path) -> None:
    spec = ChipSpec.load(write(tmp_path, 'base = "tiny"\ncopy_cycles_per_byte = 1\n'))
    assert spec.costs.copy_cycles_per_byte == 1.0


def test_toml_integer_for_a_float_key_becomes_a_float(tmp_path: Path) -> None:
    spec = ChipSpec.load(write(tmp_path, 'base = "tiny"\ncopy_cycles_per_byte = 1\n'))
    assert isinstance(spec.costs.copy_cycles_per_byte, float)


def test_programs_run_on_a_toml_chip(programs: Programs, tmp_path: Path) -> None:
    f = write(tmp_path, 'base = "tiny"\ncores_per_cluster = 2\nmesh_width = 3\nmesh_height = 1\n')
    chip = Chip(ChipSpec.load(f))
    b = programs["threads"]
    procs = [chip.spawn(b.elf, ["threads", "6"], cluster=c) for c in range(3)]
    with pytest.raises(ShoalError):
        chip.spawn(b.elf, ["threads"], cluster=3)
    chip.run()
    expected = run_native(b, ["threads", "6"])
    for p in procs:
        assert_same(p, expected)


def test_slower_clock_means_more_simulated_seconds_for_the_same_cycles(programs: Programs,
                                                                         tmp_path: Path) -> None:
    b = programs["args"]
    fast = Chip.preset("tiny")
    slow = Chip(ChipSpec.load(write(tmp_path, 'base = "tiny"\nfreq_hz = 100_000_000\n')))
    pf, ps = fast.spawn(b.elf, ["args"]), slow.spawn(b.elf, ["args"])
    fast.run()
    slow.run()
    assert pf.cycles == ps.cycles and pf.instructions == ps.instructions
    assert slow.spec.cycles_to_seconds(ps.cycles or 0) == pytest.approx(
        4 * fast.spec.cycles_to_seconds(pf.cycles or 0))


def test_timing_model_keys_change_cycles(programs: Programs, tmp_path: Path) -> None:
    b = programs["args"]
    base = Chip.preset("tiny")
    dear = Chip(ChipSpec.load(write(tmp_path, 'base = "tiny"\nsyscall_cycles = 5000\ncpi = 2\n')))
    p1, p2 = base.spawn(b.elf, ["args", "1"]), dear.spawn(b.elf, ["args", "1"])
    base.run()
    dear.run()
    assert p1.stdout == p2.stdout and p1.instructions == p2.instructions
    calls = sum(p1.record.syscalls.values())
    assert calls > 0
    assert p1.cycles is not None and p2.cycles is not None
    assert p2.cycles >= p1.cycles + p1.instructions + calls * (5000 - base.spec.costs.syscall_cycles)


BAD_TOML = {
    "syntax": "base = tiny\n",
    "unknown-key": 'base = "tiny"\ncores = 4\n',
    "wrong-type-str": 'base = "tiny"\ncores_per_cluster = "four"\n',
    "wrong-type-bool": 'base = "tiny"\ncores_per_cluster = true\n',
    "wrong-type-float": 'base = "tiny"\ncpi = 1.5\n',
    "name-not-str": "name = 5\n",
    "zero-cores": 'base = "tiny"\ncores_per_cluster = 0\n',
    "too-many-cores": 'base = "tiny"\ncores_per_cluster = 65\n',
    "zero-mesh": 'base = "tiny"\nmesh_width = 0\n',
    "page-size": 'base = "tiny"\npage_size = 8192\n',
    "partial-page": 'base = "tiny"\nmemory_per_cluster = 1000000\n',
    "reserved-all": 'base = "tiny"\nkernel_reserved = 1048576\n',
    "too-little-memory": 'base = "tiny"\nmemory_per_cluster = 94208\n',  # 7 user frames
    "zero-freq": 'base = "tiny"\nfreq_hz = 0\n',
    "zero-cpi": 'base = "tiny"\ncpi = 0\n',
    "tiny-window": 'base = "tiny"\nwindow_cycles = 10\n',
    "unknown-base": 'base = "huge"\n',
    "huge-memory": 'base = "tiny"\nmemory_per_cluster = 2147483648\n',
}


@pytest.mark.parametrize("name", list(BAD_TOML))
def test_bad_chip_toml_is_refused(tmp_path: Path, name: str) -> None:
    f = write(tmp_path, BAD_TOML[name])
    with pytest.raises(ShoalError) as e:
        ChipSpec.load(f)
    msg = str(e.value)
    assert msg and "\n" not in msg


def test_binary_chip_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "chip.toml"
    f.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ShoalError) as e:
        ChipSpec.load(f)
    assert "\n" not in str(e.value)


def test_missing_chip_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ShoalError) as e:
        ChipSpec.load(tmp_path / "nope.toml")
    assert "not found" in str(e.value)
    with pytest.raises(ShoalError) as e:
        ChipSpec.load("chip.json")
    assert "chip.json" in str(e.value)


def test_chip_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "dir.toml"
    d.mkdir()
    with pytest.raises(ShoalError):
        ChipSpec.load(d)


@pytest.mark.parametrize("line", ["syscall_cycles = -1000000", "page_fault_cycles = -1",
                                  "context_switch_cycles = -1", "copy_cycles_per_byte = -0.5"])
def test_negative_costs_are_refused(tmp_path: Path, line: str) -> None:
    with pytest.raises(ShoalError):
        ChipSpec.load(write(tmp_path, f'base = "tiny"\n{line}\n'))

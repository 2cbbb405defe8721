"""Hardening: bad chip files and bad image metadata get one clear line (ShoalError), never a
traceback, and the chip goes on running other programs with nothing leaked."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
from pathlib import Path

import pytest
from conftest import PROGRAMS, SHOAL_FLAGS, assert_no_frame_leak, assert_one_line_error, shoal_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal import Chip
from shoal.errors import ShoalError
from shoal.kernel import image
from shoal.spec import BOUNDS, PRESETS, ChipSpec, parameters
from shoal.toolchain import compile_cached

FIELDS = [f.name for f in parameters()]
SETTINGS = settings(deadline=None, max_examples=60, suppress_health_check=list(HealthCheck))


def write(tmp: Path, text: str, name: str = "chip.toml") -> Path:
    f = tmp / name
    f.write_text(text)
    return f


# --- chip files --------------------------------------------------------------------------------
BAD_CHIPS = {
    "chip-not-a-table": ("chip = 5\n", "'chip' must be a table"),
    "zero-bandwidth": ('base = "tiny"\nnoc_link_bytes_per_cycle = 0\n', "noc_link_bytes_per_cycle"),
    "zero-payload": ('base = "tiny"\nmailbox_payload = 0\n', "mailbox_payload"),
    "zero-chunk": ('base = "tiny"\nportal_chunk = 0\n', "portal_chunk"),
    "payload-not-below-chunk": ('base = "tiny"\nmailbox_payload = 4096\n', "mailbox_payload"),
    "inf-copy": ('base = "tiny"\ncopy_cycles_per_byte = inf\n', "copy_cycles_per_byte"),
    "nan-copy": ('base = "tiny"\ncopy_cycles_per_byte = nan\n', "copy_cycles_per_byte"),
    "negative-copy": ('base = "tiny"\ncopy_cycles_per_byte = -0.5\n', "copy_cycles_per_byte"),
    "negative-hop": ('base = "tiny"\nnoc_hop_cycles = -1\n', "noc_hop_cycles"),
    "negative-setup": ('base = "tiny"\nnoc_setup_cycles = -200\n', "noc_setup_cycles"),
    "negative-service": ('base = "tiny"\nservice_cycles = -5\n', "service_cycles"),
    "negative-slots": ('base = "tiny"\nmailbox_slots = -1\n', "mailbox_slots"),
    "zero-slots": ('base = "tiny"\nmailbox_slots = 0\n', "mailbox_slots"),
    "huge-mesh": ('base = "tiny"\nmesh_width = 100000\n', "mesh_width"),
    "too-many-clusters": ('base = "tiny"\nmesh_width = 32\nmesh_height = 32\n', "at most 256"),
    "float-for-int": ('base = "tiny"\ncpi = 1.5\n', "'cpi' must be an integer"),
    "string-for-int": ('base = "tiny"\nmesh_width = "4"\n', "'mesh_width' must be an integer"),
    "bool-for-int": ('base = "tiny"\nmesh_width = true\n', "'mesh_width'"),
    "base-not-a-string": ("base = 3\n", "'base'"),
    "empty-name": ('base = "tiny"\nname = ""\n', "'name'"),
    "frame-placement": ('base = "tiny"\nframe_placement = "random"\n', "'frame_placement'"),
    "table-value": ('[chip]\nbase = "tiny"\n[chip.cpi]\nx = 1\n', "'cpi'"),
    # keys beside a [chip] table were dropped: this one ran on mppa256
    "outside-chip-table": ('base = "tiny"\n[chip]\ncpi = 2\n', "'base' outside the [chip] table"),
    "record-wrong-key": ('base = "tiny"\n[noc]\ncpi = 2\n', "unknown key 'noc.cpi'"),
    "record-twice": ('base = "tiny"\nmesh_width = 1\n[noc]\nmesh_width = 1\n', "'mesh_width' given twice"),
    "record-not-table": ('base = "tiny"\nnoc = 1\n', "'noc' must be a table"),
}


@pytest.mark.parametrize("name", list(BAD_CHIPS))
def test_bad_chip_file_is_one_line_naming_the_key(tmp_path: Path, name: str) -> None:
    text, key = BAD_CHIPS[name]
    with pytest.raises(ShoalError) as e:
        ChipSpec.load(write(tmp_path, text))
    assert key in str(e.value) and "\n" not in str(e.value)


def test_every_preset_validates_and_every_number_has_bounds() -> None:
    for name, spec in PRESETS.items():
        spec.validate(name)
    numeric = [f.name for f in parameters() if f.type not in ("str", "bool")]
    assert sorted(BOUNDS) == sorted(numeric)
    # The string fields are checked by validate() itself (and booleans are only ever true or false).
    strings = sorted(f.name for f in parameters() if f.type == "str")
    assert strings == ["bank_mapping", "cache_replacement", "frame_placement", "kernel_layout", "name",
                       "page_replacement"]


def test_a_chip_file_may_group_keys_by_record(tmp_path: Path) -> None:
    """A key in its record's table ([noc] mesh_width) loads as the flat key does."""
    grouped = ChipSpec.load(write(tmp_path, 'base = "tiny"\n[noc]\nmesh_width = 1\n[costs]\ncpi = 2\n'))
    flat = ChipSpec.load(write(tmp_path, 'base = "tiny"\nmesh_width = 1\ncpi = 2\n', "flat.toml"))
    assert grouped == flat and grouped.noc.mesh_width == 1 and grouped.costs.cpi == 2


def test_bad_chip_file_through_the_cli(tmp_path: Path) -> None:
    f = write(tmp_path, 'base = "tiny"\nmailbox_slots = -1\n')
    err = assert_one_line_error(shoal_cli("run", "--chip", str(f), "nothing.elf"))
    assert "mailbox_slots" in err


@pytest.mark.parametrize("cmd", [["demo"], ["bench", "migration", "--quick", "--out", "OUT"]])
def test_demo_and_bench_refuse_a_one_cluster_chip(tmp_path: Path, cmd: list[str]) -> None:
    f = write(tmp_path, 'base = "tiny"\nmesh_width = 1\nmesh_height = 1\n')
    cmd = [str(tmp_path / "out") if a == "OUT" else a for a in cmd]
    err = assert_one_line_error(shoal_cli(*cmd, "--chip", str(f)))
    assert "1 compute cluster" in err


def test_demo_runs_on_the_tiny_chip() -> None:
    res = shoal_cli("demo", "--chip", "tiny")
    assert res.returncode == 0, res.stderr.decode()
    assert b"all results correct" in res.stdout
    assert b"4 compute clusters" in res.stdout


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 10**6]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.inf, -math.inf, math.nan]),
    st.text(max_size=8),
)
TOML_VALUES = st.one_of(SCALARS.filter(lambda v: v is not None), st.lists(st.integers(-5, 5), max_size=3))


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


CHIP_FILES = st.tuples(
    st.sampled_from(["tiny", "mppa256"]), st.booleans(),
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.sampled_from(["bogus", "base"])), TOML_VALUES,
                    max_size=4))


def _chip_text(base: str, table: bool, keys: dict) -> str:
    lines = ["[chip]"] if table else []
    if "base" not in keys:
        lines.append(f'base = "{base}"')
    lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


@SETTINGS
@given(CHIP_FILES)
def test_random_chip_files_load_or_give_one_line(tmp_path_factory: pytest.TempPathFactory,
                                                 case: tuple[str, bool, dict]) -> None:
    f = write(tmp_path_factory.mktemp("chip"), _chip_text(*case))
    try:
        spec = ChipSpec.load(f)
    except ShoalError as e:
        assert str(e) and "\n" not in str(e)
        return
    spec.validate("again")
    assert all(math.isfinite(spec.param(k)) for k in BOUNDS)


@settings(deadline=None, max_examples=8, suppress_health_check=list(HealthCheck))
@given(CHIP_FILES)
def test_random_chip_files_through_the_cli(tmp_path_factory: pytest.TempPathFactory,
                                           case: tuple[str, bool, dict]) -> None:
    f = write(tmp_path_factory.mktemp("chip"), _chip_text(*case))
    res = shoal_cli("run", "--chip", str(f), str(tmp_path_factory.getbasetemp() / "no-such-program.elf"))
    err = assert_one_line_error(res)  # a bad chip, or else the missing program
    assert "no-such-program" in err or "chip" in err


# --- images --------------------------------------------------------------------------------------
DATA = b"abcdefgh"


def program() -> Path:
    return compile_cached([PROGRAMS / "img_state.c"], SHOAL_FLAGS)


def simple() -> Path:
    return compile_cached([PROGRAMS / "args.c"], SHOAL_FLAGS)


@functools.cache
def _taken() -> bytes:
    """An image of img_state on cluster 3 of a tiny chip, frozen in its sleep: it holds a
    mailbox with a message queued, an output endpoint to itself, a portal, a sync, an open
    file and two threads."""
    c = Chip.preset("tiny")
    c.add_file("data.txt", DATA)
    p = c.spawn(program(), ["img_state", "data.txt"], cluster=3)
    c.run(max_cycles=400_000)
    assert not p.done
    return p.checkpoint(stop=True)


@pytest.fixture
def taken() -> bytes:
    return _taken()


def unpack(data: bytes) -> tuple[dict, bytes]:
    meta_len = image.HEADER.unpack_from(data)[3]
    body = data[image.HEADER.size:]
    return json.loads(body[:meta_len]), body[meta_len:]


def pack(meta: object, pages: bytes) -> bytes:
    """An image with this metadata and a correct checksum (image.py's header format)."""
    body = json.dumps(meta).encode() + pages
    npages = len(pages) // (image.PAGE_HEADER.size + image.PAGE)
    return image.HEADER.pack(image.MAGIC, image.VERSION, 0, len(body) - len(pages), npages, len(body),
                             hashlib.sha256(body).digest()) + body


def still_runs(chip: Chip) -> None:
    """The chip runs another program to its end, and every frame is back afterwards."""
    chip.run()
    q = chip.spawn(simple(), ["args", "x"], cluster=0)
    chip.run()
    assert q.returncode == 0 and b"x" in q.stdout
    assert_no_frame_leak(chip)


def test_restore_runs_and_a_second_restore_of_the_same_image_is_refused(taken: bytes) -> None:
    c = Chip.preset("tiny")
    c.add_file("data.txt", DATA)
    q = c.restore(taken, cluster=2)
    with pytest.raises(ShoalError, match="pid 2 is already on this chip"):
        c.restore(taken, cluster=1)
    c.run()
    assert b"mailbox 7 queued 6 again thread 5" in q.stdout and q.returncode == 0
    with pytest.raises(ShoalError, match="pid 2 is already on this chip"):
        c.restore(taken, cluster=1)  # also once it has ended
    still_runs(c)


def test_restore_on_a_smaller_chip_aims_endpoints_at_clusters_it_has(taken: bytes) -> None:
    meta, _ = unpack(taken)
    assert meta["ikc"]["1"]["clusters"] == [3]  # its endpoint to itself names cluster 3
    one = Chip(ChipSpec.from_dict({"base": "tiny", "mesh_width": 1, "mesh_height": 1}, "test"))
    q = one.restore(taken)
    one.run()
    assert b"mailbox 7 queued 6 again thread 5" in q.stdout and q.returncode == 0
    still_runs(one)


def test_endpoint_to_a_peer_on_a_missing_cluster_goes_through_the_process_manager(taken: bytes) -> None:
    meta, pages = unpack(taken)
    meta["ikc"]["1"]["clusters"] = [2**31]  # no chip has it
    c = Chip.preset("tiny")
    q = c.restore(pack(meta, pages), cluster=1)
    c.run()
    assert b"mailbox 7 queued 6 again thread 5" in q.stdout and q.returncode == 0
    still_runs(c)


def _set(meta: dict, path: tuple, value: object) -> None:
    node = meta
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _delete(meta: dict, path: tuple) -> None:
    node = meta
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]


BAD_META = {
    "no-pid": (lambda m: _delete(m, ("pid",)), "'pid' is missing"),
    "pid-string": (lambda m: _set(m, ("pid",), "1"), "'pid' must be an integer"),
    "pid-zero": (lambda m: _set(m, ("pid",), 0), "'pid'"),
    "pid-float": (lambda m: _set(m, ("pid",), 1.0), "'pid'"),
    "regions-not-list": (lambda m: _set(m, ("regions",), {}), "'regions'"),
    "region-short": (lambda m: _set(m, ("regions", 0), [65536, 77824, 1]), "'regions[0]'"),
    "region-backwards": (lambda m: _set(m, ("regions", 0, 1), 4096), "'regions[0][1]'"),
    "region-overlap": (lambda m: _set(m, ("regions", 1, 0), 65536), "overlap"),
    "no-regions": (lambda m: _set(m, ("regions",), []), "outside every region"),
    "endpoint-type": (lambda m: _set(m, ("ikc", "0", "type"), "pipe"), "'ikc.0.type'"),
    "endpoint-port": (lambda m: _set(m, ("ikc", "0", "port"), -1), "'ikc.0.port'"),
    "endpoint-queue": (lambda m: _set(m, ("ikc", "0", "queue"), [[1, "!!"]]), "base64"),
    "endpoint-fd": (lambda m: _set(m, ("ikc", "x"), m["ikc"]["0"]), "'ikc'"),
    "endpoint-twice": (lambda m: _set(m, ("ikc", "9"), m["ikc"]["0"]), "two mailbox"),
    "remote-lengths": (lambda m: _set(m, ("ikc", "1", "clusters"), [3, 1]), "'ikc.1.clusters'"),
    "remote-no-pids": (lambda m: _delete(m, ("ikc", "1", "pids")), "'ikc.1.pids' is missing"),
    "sync-got": (lambda m: _set(m, ("ikc", "3", "got"), {"1": "x"}), "'ikc.3.got.1'"),
    "file-short": (lambda m: _set(m, ("files", "3"), [0, 8]), "'files.3'"),
    "file-not-open": (lambda m: _set(m, ("files", "9"), [0, 8, 0]), "not an open descriptor"),
    "open-fds-string": (lambda m: _set(m, ("open_fds",), "0,1,2"), "'open_fds'"),
    "no-threads": (lambda m: _set(m, ("threads",), []), "'threads'"),
    "thread-regs-short": (lambda m: _set(m, ("threads", 0, "regs", "x"), [0] * 30), "'threads[0].regs.x'"),
    "thread-reg-negative": (lambda m: _set(m, ("threads", 0, "regs", "pc"), -4), "'threads[0].regs.pc'"),
    "thread-no-regs": (lambda m: _delete(m, ("threads", 1, "regs")), "'threads[1].regs' is missing"),
    "thread-tid-twice": (lambda m: _set(m, ("threads", 1, "tid"), 2), "thread id twice"),
    "brk-below-start": (lambda m: _set(m, ("brk",), 0), "'brk'"),
    "meta-not-object": (lambda m: m.clear() or m.update({"x": 1}), "missing"),
    "early-signal": (lambda m: _set(m, ("early_signals",), [[1]]), "'early_signals[0]'"),
    # a process's user: ids kept signed (cred.py), -1 none of them, groups as setgroups leaves them
    "cred-not-pair": (lambda m: _set(m, ("cred",), [[0] * 8]), "'cred'"),
    "cred-minus-one": (lambda m: _set(m, ("cred",), [[-1] * 8, []]), "'cred' holds -1"),
    "cred-unsigned": (lambda m: _set(m, ("cred",), [[2**32 - 2] * 8, []]), "'cred[0][0]'"),
    "cred-group-minus-one": (lambda m: _set(m, ("cred",), [[5] * 8, [-1]]), "'cred' holds -1"),
    "cred-groups-order": (lambda m: _set(m, ("cred",), [[5] * 8, [-2, 3]]), "'cred[1]'"),
    "cred-groups-many": (lambda m: _set(m, ("cred",), [[5] * 8, [1] * 65537]), "'cred[1]'"),
    "umask-big": (lambda m: _set(m, ("umask",), 0o1000), "'umask'"),
    "nice-low": (lambda m: _set(m, ("nice",), -21), "'nice'"),
    "nice-string": (lambda m: _set(m, ("nice",), "5"), "'nice'"),
    "membarrier-int": (lambda m: _set(m, ("membarrier",), 1), "'membarrier'"),
    "comm-long": (lambda m: _set(m, ("threads", 0, "comm"), "x" * 16), "'threads[0].comm'"),
    "comm-int": (lambda m: _set(m, ("threads", 0, "comm"), 5), "'threads[0].comm'"),
    "locks-int": (lambda m: _set(m, ("locks",), 1), "'locks'"),
    "robust-negative": (lambda m: _set(m, ("threads", 0, "robust"), -4), "'threads[0].robust'"),
    "overlay-not-away": (lambda m: _set(m, ("overlay",), [[4096, [[0, "AA=="]]]]), "'overlay[0][0]'"),
    "sent-negative": (lambda m: _set(m, ("threads", 0, "sent"), -1), "'threads[0].sent'"),
    "sent-string": (lambda m: _set(m, ("threads", 0, "sent"), "9"), "'threads[0].sent'"),
    # a piecewise file call's progress (image.py: _file_call_meta): its descriptor must be a
    # regular file's, its pieces and counts in range
    "file-call-fd": (lambda m: _set(m, ("threads", 0, "file"), [99, [[0, 4]], None, 0, 0, 0]),
                     "'threads[0].file[0]'"),
    "file-call-short": (lambda m: _set(m, ("threads", 0, "file"), [1, [[0, 4]]]), "'threads[0].file'"),
    "file-answer-fd": (lambda m: _set(m, ("threads", 0, "file_answer"), [1, [[0, 4]], None, 0, 0, "", 0]),
                       "'threads[0].file_answer[0]'"),
    "stopped-not-a-stop-signal": (lambda m: _set(m, ("signals",), {"stopped": 9}), "'signals.stopped'"),
    "stopped-string": (lambda m: _set(m, ("signals",), {"stopped": "19"}), "'signals.stopped'"),
}


@pytest.mark.parametrize("name", list(BAD_META))
def test_bad_metadata_is_refused_in_one_line(taken: bytes, name: str) -> None:
    meta, pages = unpack(taken)
    change, why = BAD_META[name]
    change(meta)
    c = Chip.preset("tiny")
    with pytest.raises(ShoalError) as e:
        c.restore(pack(meta, pages), cluster=1)
    assert why in str(e.value) and "\n" not in str(e.value)
    still_runs(c)


def test_metadata_that_is_not_an_object_and_a_duplicated_page(taken: bytes) -> None:
    meta, pages = unpack(taken)
    for bad in ([1, 2], "pid", None):
        with pytest.raises(ShoalError, match="bad metadata"):
            image.check(pack(bad, pages))
    size = image.PAGE_HEADER.size + image.PAGE
    with pytest.raises(ShoalError, match="twice"):
        image.check(pack(meta, pages + pages[:size]))


def test_bad_metadata_through_the_cli(taken: bytes, tmp_path: Path) -> None:
    meta, pages = unpack(taken)
    del meta["threads"][0]["regs"]
    f = tmp_path / "bad.img"
    f.write_bytes(pack(meta, pages))
    err = assert_one_line_error(shoal_cli("restore", "--chip", "tiny", str(f)))
    assert "bad metadata" in err and "regs" in err


def test_a_migration_with_bad_metadata_is_refused_by_the_destination(monkeypatch: pytest.MonkeyPatch) -> None:
    real = image.serialize

    def corrupt(k: object, p: object, *elsewhere: object) -> tuple[bytes, image.Shape]:
        data, shape = real(k, p, *elsewhere)  # type: ignore[arg-type]
        meta, pages = unpack(data)
        meta["regions"] = "gone"
        return pack(meta, pages), shape

    monkeypatch.setattr(image, "serialize", corrupt)
    c = Chip.preset("tiny")
    p = c.spawn(program(), ["img_state"], cluster=0)
    c.schedule_migration(p.pid, 1, 300_000)
    c.run()
    m = p.migrations[0]
    assert not m.ok and "bad metadata" in (m.reason or "")
    assert p.returncode == 0 and p.cluster == 0
    assert b"mailbox 7 queued 6 again thread 5" in p.stdout
    still_runs(c)


# --- random metadata -----------------------------------------------------------------------------
def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):  # registers have 31 entries: a few are enough
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


META_VALUES = st.one_of(SCALARS.filter(lambda v: not (isinstance(v, float) and not math.isfinite(v))),
                        st.lists(st.integers(-3, 2**33), max_size=3), st.just({}), st.just([[0, "x"]]))
MUTATIONS = st.lists(st.tuples(st.sampled_from(["delete", "set", "bump"]), st.integers(0, 10**6),
                               META_VALUES), min_size=1, max_size=3)


@SETTINGS
@given(MUTATIONS)
def test_random_metadata_restores_or_gives_one_line(mutations: list) -> None:
    meta, pages = unpack(_taken())
    meta = copy.deepcopy(meta)
    for op, pick, value in mutations:
        paths = _paths(meta)
        if not paths:
            break
        path = paths[pick % len(paths)]
        node = meta
        for p in path[:-1]:
            node = node[p]
        if op == "delete":
            del node[path[-1]]
        elif op == "bump" and type(node[path[-1]]) is int:
            node[path[-1]] += value if type(value) is int else 2**40
        else:
            node[path[-1]] = copy.deepcopy(value)  # never the same object twice
    c = Chip.preset("tiny")
    c.add_file("data.txt", DATA)
    try:
        c.restore(pack(meta, pages), cluster=pick % 4)
    except ShoalError as e:
        assert "\n" not in str(e)
    else:
        c.run(max_cycles=200_000_000)
    # Either way, the chip runs on: the restored process ended (or is killed now), nothing leaked.
    for r in c.processes():
        if r.alive and r.state == "running":
            c.kill(r.pid)
    still_runs(c)


def test_an_open_file_reads_on_where_it_left_off_on_another_chip(taken: bytes) -> None:
    """Open files travel by name: restored on a chip whose file image has the same file, the
    process reads the rest of it; on one without it, the read fails and it goes on."""
    want_head, want_rest = DATA[:2].decode(), DATA[2:5].decode()
    c = Chip.preset("mppa256")
    c.add_file("data.txt", DATA)
    p = c.restore(taken, cluster=5)
    c.run()
    assert p.returncode == 0 and f"file {want_head}{want_rest} " in p.stdout.decode(), p.stdout
    bare = Chip.preset("tiny")
    q = bare.restore(taken, cluster=0)
    bare.run()
    assert q.returncode == 0 and f"file {want_head} " in q.stdout.decode(), q.stdout


def test_a_version_3_image_with_an_open_file_still_restores(taken: bytes) -> None:
    """Images of version 3 kept open files as [name, size, offset] of the read-only image;
    they are read as descriptors the file server opens again by path."""
    meta, pages = unpack(taken)
    assert meta["files"]["3"][:2] == ["file", "/data.txt"]
    meta["files"] = {fd: [f[1].lstrip("/"), len(DATA), f[4]] for fd, f in meta["files"].items()}
    body = json.dumps(meta).encode() + pages
    npages = len(pages) // (image.PAGE_HEADER.size + image.PAGE)
    old = image.HEADER.pack(image.MAGIC, 3, 0, len(body) - len(pages), npages, len(body),
                            hashlib.sha256(body).digest()) + body
    c = Chip.preset("tiny")
    c.add_file("data.txt", DATA)
    p = c.restore(old, cluster=1)
    c.run()
    want = DATA[:5].decode()
    assert p.returncode == 0 and f"file {want} " in p.stdout.decode(), p.stdout

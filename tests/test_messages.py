"""The protocol's typed bodies (shoal/messages.py): every kind has one, a misspelt field is an
error, they cross MPI ranks (pickle), and their size on the wire follows the rule of
platform/noc.py's docstring, checked here against an independent reading of that rule on the
fields a body has (an UNSET field is absent and costs nothing, as a missing dict key did)."""

from __future__ import annotations

import pickle
import typing

import msgspec
import pytest

from shoal import messages as M
from shoal.platform.noc import body_bytes, packet, traffic_class
from shoal.spec import ChipSpec


def rule(value: object, key: str = "") -> int:
    """The encoding rule, read from noc.py's docstring (on plain data: dicts, lists, scalars)."""
    if value is None or isinstance(value, bool):
        return 4
    if isinstance(value, int):
        return 8 if key in ("op", "mid") or not -(2 ** 31) <= value < 2 ** 32 else 4
    if isinstance(value, float):
        return 8
    if isinstance(value, str):
        return 4 + len(value.encode("utf-8"))
    if isinstance(value, bytes):
        return 4 + len(value)
    if isinstance(value, (list, tuple)):  # (a tuple is sent as a list)
        return 4 + sum(rule(v) for v in value)
    assert isinstance(value, dict)
    return sum(rule(v, k) for k, v in value.items())


def plain(body: msgspec.Struct) -> dict:
    """A body as the dict the kernels used to send: its set fields only."""
    out = {}
    for f in msgspec.structs.fields(body):
        v = getattr(body, f.name)
        if v is msgspec.UNSET:
            continue
        out[f.name] = plain(v) if isinstance(v, msgspec.Struct) else v
    return out


def sample(tp: object, big: bool) -> object:
    """A value of field type `tp` (the first of a union that is not UNSET)."""
    if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType):
        return sample(next(a for a in typing.get_args(tp) if a is not msgspec.UnsetType), big)
    if tp is bool:
        return True
    if tp is int:
        return (1 << 40) + 3 if big else 7
    if tp is float:
        return 0.25
    if tp is str:
        return "é/x" if big else "ab"
    if tp is bytes:
        return b"\x00" * 5
    if tp is list or typing.get_origin(tp) is list:
        return [1, [2, "xyz"], 1 << 35] if big else []
    if typing.get_origin(tp) is tuple:  # tuple[a, b] or tuple[a, ...]
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(sample(args[0], big) for _ in range(3 if big else 0))
        return tuple(sample(a, big) for a in args)
    if tp is M.Kind:
        return M.Kind.PORTAL_DATA
    if tp is type(None):
        return None
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        cls = M.PortalData if tp in (M.Body, M.Targeted) else tp
        return make(cls, big, True)
    raise AssertionError(f"no sample for {tp!r}")


def make(cls: type, big: bool, optional: bool) -> msgspec.Struct:
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in msgspec.structs.fields(cls):
        if f.default is msgspec.UNSET and not optional:
            continue
        kw[f.name] = sample(hints[f.name], big)
    return cls(**kw)


def test_every_kind_has_one_body() -> None:
    assert set(M.BODIES) == set(M.Kind)
    for kind, cls in M.BODIES.items():
        assert cls.KIND is kind


@pytest.mark.parametrize("cls", sorted(M.BODIES.values(), key=lambda c: c.KIND), ids=lambda c: c.KIND.value)
def test_size_follows_the_rule(cls: type) -> None:
    for big in (False, True):
        for optional in (False, True):
            body = make(cls, big, optional)
            assert body_bytes(body) == rule(plain(body)), (body, plain(body))
            assert pickle.loads(pickle.dumps(body)) == body  # (MPI ranks pickle packets)


def test_absent_fields_cost_nothing() -> None:
    assert body_bytes(M.Reply(op=1, ret=-2)) == 8 + 4  # op is 64-bit; the other 13 fields absent
    assert body_bytes(M.Reply(op=1, ret=0, handle=None, st=[1, 2, 3, 4, 5])) == 8 + 4 + 4 + 4 + 5 * 4
    assert body_bytes(M.ShmPage(obj=1, pg=2, bus=True)) == 12
    assert body_bytes(M.MbxData(dst=3, port=4)) == 4 + 8 + 4 + 4  # dst, op, pid, port
    assert body_bytes(M.MbxData(dst=3, port=4, reply_to=9)) == 4 + 8 + 4 + 4 + 4
    # integers and absent fields only (the answers' quick path): a wide id, a value past 32 bits
    assert body_bytes(M.Reply(op=1 << 40, ret=1 << 33)) == 8 + 8
    assert body_bytes(M.Reply(op=1, ret=-(1 << 31), status=(1 << 32) - 1)) == 8 + 4 + 4
    assert body_bytes(M.Reply(op=1, ret=-(1 << 31) - 1)) == 8 + 8
    # A body of small integers only (told in one pass): each 4 bytes up to the edges, 8 past them.
    assert body_bytes(M.RmemGet(pid=1, va=(1 << 32) - 1, ver=-(1 << 31))) == 12
    assert body_bytes(M.RmemGet(pid=1, va=1 << 32, ver=0)) == 4 + 8 + 4
    assert body_bytes(M.RmemGet(pid=-(1 << 31) - 1, va=0, ver=0)) == 8 + 4 + 4
    assert body_bytes(M.RmemGet(pid=True, va=None, ver=0)) == 12  # (bool and None: 4 bytes each)


def test_packet_takes_its_kind_from_its_body() -> None:
    spec = ChipSpec.load("tiny")
    p = packet(spec, 0, 1, M.MigCommit(mid=5), b"xy", 10, "control")
    assert p.kind is M.Kind.MIG_COMMIT and p.nbytes == 8 + 2
    assert traffic_class(p.kind) == "migration"
    assert traffic_class(M.Kind.MBX_DATA) == "ikc" and traffic_class(M.Kind.LOAD_REPORT) == "policy"


def test_a_misspelt_field_or_a_missing_one_is_an_error() -> None:
    with pytest.raises(TypeError, match="prot"):
        M.MbxData(dst=1, prot=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="port"):
        M.MbxData(dst=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        M.MigCommit(5)  # type: ignore[misc]  (keyword-only: no positional mix-ups)
    with pytest.raises(AttributeError):
        M.Kind.MIG_COMIT  # noqa: B018


def test_bodies_are_frozen_and_answer_to_follows_reply_to() -> None:
    b = M.PortalData(op=1, dst=2, port=3)
    with pytest.raises(AttributeError):
        b.op = 2  # type: ignore[misc]
    assert M.answer_to(b, 7) == 7
    assert M.answer_to(msgspec.structs.replace(b, reply_to=4), 7) == 4
    assert M.answer_to(M.ConsoleAck(n=1), 7) == 7


def test_a_body_cannot_carry_what_the_wire_cannot() -> None:
    with pytest.raises(TypeError, match="set"):
        body_bytes(M.Locate(pids={1, 2}))  # type: ignore[arg-type]

"""`dataclass`: the standard decorator, with shared `__repr__`, `__eq__` and `__hash__`.

The standard one compiles each method it adds from source text (exec): for shoal's ~50
dataclasses ~20 ms of every `shoal run`'s start, a third of all its imports. `__repr__` (called
only when something is printed for a person) and the field-tuple comparison and hash are the
same for every class, so this one makes them without compiling anything: one shared
`__repr__` that writes exactly what the generated one writes (`Name(field=value, ...)` over
the fields with `repr=True`, `...` for a reference back to an object being printed), and
`__eq__`/`__hash__` over the same field tuples as the generated ones, with the standard
rules for which class gets which (the `__hash__` of a frozen class, none for a mutable one,
a class's own kept). `__init__` and the rest are `dataclasses.dataclass`'s; so is everything
for a class asking for `order` or `unsafe_hash`. tests/test_startup.py compares the two.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, dataclass_transform

__all__ = ["dataclass"]


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    return (self.__class__.__qualname__ + "("
            + ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)
            + ")")


def _tuple_of(names: list[str]) -> Callable[[Any], tuple]:
    """obj -> (obj.a, obj.b, ...), always a tuple (tuples compare items by identity first)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda o: (one(o),)
    return lambda o: ()


def _eq(names: list[str]) -> Callable[[Any, Any], Any]:
    fields = _tuple_of(names)

    def __eq__(self: Any, other: Any) -> Any:  # noqa: N807 (the method's own name)
        if other.__class__ is self.__class__:
            return fields(self) == fields(other)
        return NotImplemented
    return __eq__


def _hash(names: list[str]) -> Callable[[Any], int]:
    fields = _tuple_of(names)

    def __hash__(self: Any) -> int:  # noqa: N807
        return hash(fields(self))
    return __hash__


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: type | None = None, /, **kw: Any) -> Any:
    """`dataclasses.dataclass(cls, **kw)`, the methods above shared where it would compile its
    own (the method on, none defined by the class itself)."""
    def wrap(c: type) -> type:
        repr_ = kw.get("repr", True) and "__repr__" not in c.__dict__
        eq = (kw.get("eq", True) and not kw.get("order") and not kw.get("unsafe_hash")
              and "__eq__" not in c.__dict__)
        # what the standard rules do with __hash__ when eq is on: a hash the class defines
        # itself stays; else a frozen class hashes its fields, a mutable one is unhashable
        own_hash = "__hash__" in c.__dict__
        out = dataclasses.dataclass(c, **{**kw, **({"repr": False} if repr_ else {}),
                                          **({"eq": False} if eq else {})})
        if repr_:
            out.__repr__ = _repr  # type: ignore[assignment]
        if eq:
            fields = dataclasses.fields(out)
            out.__eq__ = _eq([f.name for f in fields if f.compare])  # type: ignore[assignment]
            if not own_hash:
                out.__hash__ = (_hash([f.name for f in fields if (f.compare if f.hash is None else f.hash)])
                                if kw.get("frozen") else None)  # type: ignore[assignment]
        return out
    return wrap if cls is None else wrap(cls)

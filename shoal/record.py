"""`dataclass`: the standard decorator, with one shared `__repr__`.

The standard one compiles a `__repr__` for every class from source text (exec), about a fifth
of what a dataclass costs to make: ~4 ms of every `shoal run`'s start for shoal's ~50, for a
method called only when something is printed for a person. This one writes exactly what the
generated one writes, `Name(field=value, ...)` over the fields with `repr=True` and `...` for
a reference back to an object being printed, from one function. Everything else is
`dataclasses.dataclass`'s (tests/test_startup.py compares the two).
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any, dataclass_transform

__all__ = ["dataclass"]


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    return (self.__class__.__qualname__ + "("
            + ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)
            + ")")


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: type | None = None, /, **kw: Any) -> Any:
    """`dataclasses.dataclass(cls, **kw)` whose `__repr__` is the shared one where it would
    make its own (repr on, and none defined by the class itself)."""
    def wrap(c: type) -> type:
        shared = kw.get("repr", True) and "__repr__" not in c.__dict__
        out = dataclasses.dataclass(c, **{**kw, "repr": False} if shared else kw)
        if shared:
            out.__repr__ = _repr  # type: ignore[assignment]
        return out
    return wrap if cls is None else wrap(cls)

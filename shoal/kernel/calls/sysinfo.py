"""What the system says of itself: uname, getrandom."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EINVAL
from shoal.kernel.calls.common import charge_copy
from shoal.kernel.container import Thread

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


def sys_uname(k: Kernel, t: Thread, a: list[int]) -> int:
    fields = [b"Linux", f"shoal-cluster{k.cluster}".encode(), b"6.1.0-shoal", b"#1 shoal",
              b"riscv32", b"(none)"]
    t.proc.aspace.write(a[0], b"".join(f.ljust(65, b"\0") for f in fields))
    return 0


def sys_getrandom(k: Kernel, t: Thread, a: list[int]) -> int:
    buf, n, flags = a[0], a[1], a[2]
    if flags & ~7:
        return -EINVAL
    n = min(n, 1 << 20)
    t.proc.aspace.write(buf, t.proc.random_bytes(n))
    charge_copy(k, n)
    return n

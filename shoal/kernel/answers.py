"""Answers that land on a page held elsewhere.

A call's answer (a daemon's reply, a pipe's data from its home, a portal's or a mailbox's
message) is written into the caller's memory when it comes, after the call went to sleep.
Meanwhile the page may have gone: a shared page recalled by the cluster that writes it
(kernel/shm.py), a page evicted to remote memory (kernel/rmem.py), one still at the source
after a post-copy migration. That is not the caller's error (EFAULT is for an address it
does not have): the answer is kept in the thread's record (Thread.call.kept), the thread's call
goes back onto its ecall and waits for the page, and the call made again, which makes the same
request, is answered with the kept answer at once, not asked again (a recv, a msgrcv, a
wait4 or a read of stdin took what it answered; a read of a written shared mapping of the
very file it reads has the server call that page home first, every time). The record goes
with a migration and in a checkpoint's image (kernel/image.py), so a move in between loses
and duplicates nothing. Every reply handler takes this path (Kernel._on_reply): none turns a
page that is only elsewhere into EFAULT; a page that is nowhere still is EFAULT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from shoal.kernel.container import Kept, Thread
from shoal.kernel.stops import ASLEEP
from shoal.platform.cpu import REG_PC
from shoal.sha import sha256

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.kernel.memory import Missing

_encode = msgspec.msgpack.Encoder().encode


def key(body: msgspec.Struct) -> str:
    """What names a request, whatever its op: its kind and fields (the same call made again
    asks the same; one whose arguments or offset changed meanwhile asks anew)."""
    fields = msgspec.structs.replace(body, op=0) if hasattr(body, "op") else body
    if hasattr(body, "handle") and (hasattr(body, "path") or hasattr(body, "name")):
        fields = msgspec.structs.replace(fields, handle=0)  # (a server may give a file or a
        # queue another handle in its answer: files.rehandle; the path names it)
    return sha256(type(body).__name__.encode() + b":" + _encode(fields)).hexdigest()


def answered(t: Thread, body: msgspec.Struct) -> Kept | None:
    """The kept answer to this request of `t`'s (made again once its page came), if any."""
    kept = t.call.kept
    if kept is None or kept.key != key(body):
        return None
    return kept


def call_key(*what: object) -> str:
    """What names a call that is not a request (a mailbox's or a portal's read): its words."""
    return sha256(repr(what).encode()).hexdigest()


def take(t: Thread, name: str) -> bytes | None:
    """The data kept for `t`'s call `name` (call_key), if any: the caller writes it, then
    drops it (Thread.call.kept = None), so that a write that finds its page away keeps it."""
    kept = t.call.kept
    return kept.data if kept is not None and kept.key == name else None


def keep(k: Kernel, t: Thread, name: str, body: object, data: bytes, m: Missing, at: int) -> object:
    """The answer `body`/`data` to `t`'s request `name` (key) needs a page held elsewhere:
    kept, and the call made again once the page is here. Returns ASLEEP (the thread waits)."""
    t.call.kept = Kept(name, body, bytes(data))
    redo(k, t, m, at)
    return ASLEEP


def redo(k: Kernel, t: Thread, m: Missing, at: int) -> None:
    """Put `t` back onto its ecall and make it wait for the page `m` names; it makes its call
    again once the page is here (or fails it with EFAULT if the page is found to be nowhere)."""
    k._unwait(t)  # (a timed call's deadline is the call made again's business)
    regs = k.cpu.regs
    regs.ctx_set(t.ctx, REG_PC, regs.ctx_get(t.ctx, REG_PC) - 4)
    if k.cpu.loaded is t.ctx:
        k.cpu.loaded = None
    k.await_page(t, m.addr, m.kind == "store", at)

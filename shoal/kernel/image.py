"""The image of a frozen container: a versioned, checksummed byte format.

    header  "<8sIIIIQ32s": magic b"SHOALIMG", version, flags, meta length, page count,
            body length, SHA-256 of the body
    body    meta (JSON, UTF-8), then per page in use: "<II" virtual address and PTE flags,
            and the page's 4096 bytes

The meta holds what the process owns besides its pages: regions, threads (registers, FPU,
TLS pointer, instruction counts), open files, IKC endpoints with their queued messages,
limits and statistics. Page tables travel as the (address, flags) pairs and are rebuilt in
the receiving cluster's frames. Output already written is not in the image: it has left.
Checkpoint files and migration transfers use the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoal.errors import ShoalError
from shoal.kernel.container import Container, Thread, TState
from shoal.kernel.ikc import MailboxIn, PortalIn, Remote, SyncIn
from shoal.kernel.memory import PAGE, AddressSpace, Region

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

MAGIC = b"SHOALIMG"
VERSION = 2  # 2: the process clock (clock_offset, taken_at)
HEADER = struct.Struct("<8sIIIIQ32s")
PAGE_HEADER = struct.Struct("<II")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode())


def _endpoint_meta(ep: object) -> dict:
    if isinstance(ep, MailboxIn):
        return {"type": "mailbox", "port": ep.port, "queue": [[v, _b64(m)] for v, m in ep.queue]}
    if isinstance(ep, PortalIn):
        return {"type": "portal", "port": ep.port, "allowed": ep.allowed}
    if isinstance(ep, SyncIn):
        return {"type": "sync", "port": ep.port, "expect": list(ep.expect),
                "got": {str(p): list(v) for p, v in ep.got.items()}}
    assert isinstance(ep, Remote)
    return {"type": "remote", "kind": ep.kind, "pids": list(ep.pids), "clusters": list(ep.clusters),
            "port": ep.port}


@dataclass(frozen=True)
class Shape:
    """What an image holds, as far as moving it costs: bytes, metadata, pages, second-level
    page tables (each page is one PTE, each table one more in the root), threads."""

    nbytes: int
    meta_bytes: int
    pages: int
    tables: int
    threads: int

    @property
    def frames(self) -> int:
        """Frames a restore takes: the pages, their second-level tables, the root table."""
        return self.pages + self.tables + 1

    @property
    def ptes(self) -> int:
        return self.pages + self.tables


def shape(image: bytes, meta: dict, pages: list[tuple[int, int, bytes]]) -> Shape:
    return Shape(len(image), HEADER.unpack_from(image)[3], len(pages), len({va >> 22 for va, _, _ in pages}),
                 len(meta["threads"]))


def serialize(k: Kernel, p: Container) -> tuple[bytes, Shape]:
    """Image of frozen container `p`, and its shape."""
    threads = [t for t in p.threads if t.state is not TState.DEAD]
    meta = {
        "pid": p.pid, "name": p.name, "argv": p.argv, "brk_start": p.brk_start, "brk": p.brk,
        "seed": p.seed, "rand": p._rand_counter, "stdin": _b64(bytes(p.stdin)), "stdin_pos": p.stdin_pos,
        "open_fds": sorted(p.open_fds), "files": {str(fd): f for fd, f in p.files.items()},
        "syscalls": dict(p.syscalls), "unknown": {str(n): c for n, c in p.unknown_syscalls.items()},
        "start_cycle": p.start_cycle, "peak_frames": p.peak_frames, "kcore_wait": p.kcore_wait,
        "generation": p.generation + 1,
        "clock_offset": p.clock_offset, "taken_at": p.freeze_at or 0,
        "dead_instructions": p.instructions - sum(t.instructions for t in threads),
        "regions": [[r.start, r.end, r.prot, r.name] for r in p.aspace.regions],
        "threads": [{"tid": t.tid, "clear_tid": t.clear_tid, "restart_deadline": t.restart_deadline,
                     "blocked_on": t.blocked_on, "instructions": t.instructions,
                     "regs": k.cpu.get_regs(t.ctx)}
                    for t in threads],
        "ikc": {str(fd): _endpoint_meta(ep) for fd, ep in sorted(p.ikc.items())},
        "early_signals": [[port, sigs] for (pid, port), sigs in sorted(k.early_signals.items())
                          if pid == p.pid],
    }
    pages = p.aspace.pages()
    body = bytearray(json.dumps(meta, sort_keys=True).encode())
    meta_len = len(body)
    for va, flags, data in pages:
        body += PAGE_HEADER.pack(va, flags)
        body += data
    header = HEADER.pack(MAGIC, VERSION, 0, meta_len, len(pages), len(body), hashlib.sha256(body).digest())
    data = header + bytes(body)
    return data, Shape(len(data), meta_len, len(pages), len({va >> 22 for va, _, _ in pages}), len(threads))


def check(image: bytes, where: str = "image") -> tuple[dict, list[tuple[int, int, bytes]]]:
    """Parse and verify an image; a bad one is refused with one clear sentence."""
    if len(image) < HEADER.size:
        raise ShoalError(f"{where}: truncated (no complete header)")
    magic, version, _flags, meta_len, npages, body_len, digest = HEADER.unpack_from(image)
    if magic != MAGIC:
        raise ShoalError(f"{where}: not a shoal container image")
    if version != VERSION:
        raise ShoalError(f"{where}: image version {version}, this shoal reads version {VERSION}")
    body = image[HEADER.size:]
    if len(body) != body_len or meta_len + npages * (PAGE_HEADER.size + PAGE) != body_len:
        raise ShoalError(f"{where}: truncated or padded ({len(body)} of {body_len} body bytes)")
    if hashlib.sha256(body).digest() != digest:
        raise ShoalError(f"{where}: corrupted (checksum mismatch)")
    try:
        meta = json.loads(body[:meta_len])
    except (ValueError, UnicodeDecodeError):
        raise ShoalError(f"{where}: corrupted metadata") from None
    pages = []
    off = meta_len
    for _ in range(npages):
        va, flags = PAGE_HEADER.unpack_from(body, off)
        off += PAGE_HEADER.size
        pages.append((va, flags, body[off:off + PAGE]))
        off += PAGE
    return meta, pages


def frames_needed(meta: dict, pages: list[tuple[int, int, bytes]]) -> int:
    """Frames a restore takes: the pages, their second-level tables, the root table."""
    return len(pages) + len({va >> 22 for va, _, _ in pages}) + 1


def restore(k: Kernel, image: bytes, at: int, where: str = "image", rebase: bool = False) -> Container:
    """Rebuild a frozen container on kernel `k` (raises OutOfFrames if it does not fit).
    `rebase`: on a chip whose clock is not the one the image was taken on (a restore from a
    file), the process's clocks go on from where the image was taken, and its pending
    times move with them; a migration keeps the chip's clock."""
    meta, pages = check(image, where)
    return rebuild(k, meta, pages, at, rebase)


def rebuild(k: Kernel, meta: dict, pages: list[tuple[int, int, bytes]], at: int,
            rebase: bool = False) -> Container:
    """Rebuild a frozen container from a checked image's parts (see restore)."""
    offset = meta["clock_offset"]
    if rebase:
        offset = at - (meta["taken_at"] - meta["clock_offset"])
    delta = offset - meta["clock_offset"]
    aspace = AddressSpace(k.mem, k.frames, k._on_unmap, k._on_code)
    try:
        for start, end, prot, name in meta["regions"]:
            aspace.add_region(Region(start, end, prot, name))
        for va, flags, data in pages:
            aspace.install(va, flags, data)
    except BaseException:  # whatever went wrong, give the frames back before passing it on
        aspace.destroy()
        raise
    p = Container(pid=meta["pid"], name=meta["name"], argv=meta["argv"], aspace=aspace, cluster=k.cluster,
                  brk_start=meta["brk_start"], brk=meta["brk"], seed=meta["seed"],
                  stdin=_unb64(meta["stdin"]), stdin_pos=meta["stdin_pos"], start_cycle=meta["start_cycle"])
    p._rand_counter = meta["rand"]
    p.open_fds = set(meta["open_fds"])
    p.files = {int(fd): f for fd, f in meta["files"].items()}
    p.syscalls = Counter(meta["syscalls"])
    p.unknown_syscalls = Counter({int(n): c for n, c in meta["unknown"].items()})
    p.peak_frames = max(meta["peak_frames"], aspace.frames_in_use)
    p.kcore_wait = meta["kcore_wait"]
    p.generation = meta["generation"]
    p.dead_instructions = meta["dead_instructions"]
    p.clock_offset = offset
    p.state = "frozen"
    for tm in meta["threads"]:
        ctx = k.cpu.new_context()
        k.cpu.set_regs(ctx, tm["regs"])
        t = Thread(tid=tm["tid"], proc=p, ctx=ctx, state=TState.FROZEN, ready_at=at,
                   clear_tid=tm["clear_tid"], blocked_on=tm["blocked_on"],
                   restart_deadline=tm["restart_deadline"], instructions=tm["instructions"])
        p.threads.append(t)
    for fd, em in meta["ikc"].items():
        ep: object
        if em["type"] == "mailbox":
            ep = MailboxIn(em["port"], deque((v + delta, _unb64(m)) for v, m in em["queue"]))
        elif em["type"] == "portal":
            ep = PortalIn(em["port"], em["allowed"])
        elif em["type"] == "sync":
            ep = SyncIn(em["port"], tuple(em["expect"]),
                        {int(q): deque(x + delta for x in v) for q, v in em["got"].items()})
        else:
            ep = Remote(em["kind"], tuple(em["pids"]), tuple(em["clusters"]), em["port"])
        p.ikc[int(fd)] = ep
        if not isinstance(ep, Remote):
            k.endpoints[em["type"]][(p.pid, em["port"])] = ep
    for port, sigs in meta["early_signals"]:
        k.early_signals[(p.pid, port)] = [(src, v + delta) for src, v in sigs]
    return p

"""The image of a frozen container: a versioned, checksummed byte format.

    header  "<8sIIIIQ32s": magic b"SHOALIMG", version, flags, meta length, page count,
            body length, SHA-256 of the body
    body    meta (JSON, UTF-8), then per page in use: "<II" virtual address and PTE flags,
            and the page's 4096 bytes

A live migration's image may leave pages out: `staged` ones (the destination holds them from
pre-copy rounds) and `remote` ones (they follow after the thaw: post-copy); the meta lists
both with their flags. A checkpoint file always carries every page.

The meta holds what the process owns besides its pages: regions, threads (registers, FPU,
TLS pointer, instruction counts), open files, IKC endpoints with their queued messages,
limits and statistics. Page tables travel as the (address, flags) pairs and are rebuilt in
the receiving cluster's frames. Output already written is not in the image: it has left.
Checkpoint files and migration transfers use the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoal.errors import ShoalError
from shoal.kernel import signals
from shoal.kernel.container import CACHE_COUNTS, Container, FileKind, OpenFile, Thread, TState
from shoal.kernel.ikc import MAX_ENDPOINTS, MailboxIn, PortalIn, Remote, SyncIn
from shoal.kernel.memory import PAGE, USER_TOP, Region
from shoal.sha import sha256

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.spec import ChipSpec

MAGIC = b"SHOALIMG"
VERSION = 5  # 2: process clock (clock_offset, taken_at); 3: no stdin, files by name;
# 4: open files of the file server, [kind, path, handle, flags, offset] (3's read: _upgrade);
# 5: signal state ("signals", kernel/signals.py: to_meta; absent when there is none)
FILE_KINDS = ("file", "dir", "mq", "shm", "dev", "con")
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
    """What an image holds, as far as moving it costs: bytes, metadata, pages of the process,
    second-level page tables (each page is one PTE, each table one more in the root), threads;
    of the pages, `carried` travel in the image and `staged` are at the destination already
    (the rest, remote, come later)."""

    nbytes: int
    meta_bytes: int
    pages: int
    tables: int
    threads: int
    carried: int = -1
    staged: int = 0

    def __post_init__(self) -> None:
        if self.carried < 0:
            object.__setattr__(self, "carried", self.pages)

    @property
    def frames(self) -> int:
        """Frames a restore takes: the pages, their second-level tables, the root table."""
        return self.pages + self.tables + 1

    @property
    def ptes(self) -> int:
        """Entries installed at the rebuild: pages in place then, and every table."""
        return self.carried + self.staged + self.tables


def _elsewhere(meta: dict) -> tuple[list, list]:
    return meta.get("staged", []), meta.get("remote", [])


def shape(image: bytes, meta: dict, pages: list[tuple[int, int, bytes]]) -> Shape:
    staged, remote = _elsewhere(meta)
    vas = [va for va, _, _ in pages] + [va for va, _ in staged] + [va for va, _ in remote]
    return Shape(len(image), HEADER.unpack_from(image)[3], len(vas), len({va >> 22 for va in vas}),
                 len(meta["threads"]), len(pages), len(staged))


def serialize(k: Kernel, p: Container, staged: set[int] | None = None,
              remote: set[int] | None = None) -> tuple[bytes, Shape]:
    """Image of frozen container `p`, and its shape. Pages in `staged` (the destination has
    them) and `remote` (they follow later) are listed, not carried."""
    meta, pages = snapshot(k, p, staged, remote)
    data = pack(meta, pages)
    return data, shape(data, meta, pages)


def snapshot(k: Kernel, p: Container, staged: set[int] | None = None,
             remote: set[int] | None = None, fork: bool = False) -> tuple[dict, list[tuple[int, int, bytes]]]:
    """The meta and pages of `p`'s image (serialize). A fork (kernel/calls/fork.py) takes no
    thread (it gives the child its own) and edits the rest."""
    threads = [] if fork else [t for t in p.threads if t.state is not TState.DEAD]
    meta = {
        "pid": p.pid, "name": p.name, "argv": p.argv, "brk_start": p.brk_start, "brk": p.brk,
        "seed": p.seed, "rand": p._rand_counter,
        "open_fds": sorted(p.open_fds), "files": {str(fd): f.to_list() for fd, f in p.files.items()},
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
        "early_signals": [[port, sigs] for (pid, port), sigs in sorted(k.ikc.early_signals.items())
                          if pid == p.pid],
    }
    if any(p.caches) or any(p.kcaches):  # the L1 model's counts go with the process (sched.py)
        meta["caches"], meta["kcaches"] = list(p.caches), list(p.kcaches)
        for tm, th in zip(meta["threads"], threads, strict=True):
            tm["stall"] = th.stall
    staged, remote = staged or set(), remote or set()
    if staged or remote:
        listed = p.aspace.page_list()
        meta["staged"] = [[va, f] for va, f in listed if va in staged]
        meta["remote"] = [[va, f] for va, f in listed if va in remote and va not in staged]
        pages = [(va, f, p.aspace.page_bytes(va)) for va, f in listed
                 if va not in staged and va not in remote]
    else:
        pages = p.aspace.pages()
    if p.aspace.shared:  # shared memory: which pages of which object (kernel/shm.py)
        meta["shared"] = [[va, obj, pg] for va, (obj, pg) in sorted(p.aspace.shared.items())]
    if p.aspace.rmem:  # pages kept in remote memory stay there: the process takes the list
        meta["rmem"] = [[va, p.aspace.remote[va], ver] for va, ver in sorted(p.aspace.rmem.items())]
    if p.cwd != "/":
        meta["cwd"] = p.cwd
    if p.rlimits:
        meta["rlimits"] = {str(r): v for r, v in sorted(p.rlimits.items())}
    sig = signals.to_meta(p, threads)
    if sig:
        meta["signals"] = sig
    if p.aspace.rmem_seq:  # versions of later write-backs go on from here, wherever it runs
        meta["rmem_seq"] = p.aspace.rmem_seq
    if p.rmem_faults or p.evictions:
        meta["rmem_stats"] = [p.rmem_faults, p.evictions, p.page_wait]
    for key in ("ppid", "tty"):  # a forked process's parent and console (kernel/calls/fork.py)
        if getattr(p, key):
            meta[key] = getattr(p, key)
    if p.cloexec:
        meta["cloexec"] = sorted(p.cloexec)
    return meta, pages


def pack(meta: dict, pages: list[tuple[int, int, bytes]]) -> bytes:
    """The image's bytes (the format above)."""
    import json  # (images only: a plain run takes none)
    body = bytearray(json.dumps(meta, sort_keys=True).encode())
    meta_len = len(body)
    for va, flags, data in pages:
        body += PAGE_HEADER.pack(va, flags)
        body += data
    header = HEADER.pack(MAGIC, VERSION, 0, meta_len, len(pages), len(body), sha256(body).digest())
    return header + bytes(body)


def max_bytes(spec: ChipSpec) -> int:
    """The largest image file a chip reads: the pages it carries are resident pages of one
    cluster (pages in remote memory are listed, not carried), and its metadata (regions,
    threads, descriptors, the lists of remote pages of up to 4 GiB) is given 64 MiB, which
    also covers an image taken on a chip with larger clusters."""
    pages = spec.memory_per_cluster // spec.page_size
    return HEADER.size + pages * (PAGE_HEADER.size + PAGE) + 64 * 1024 * 1024


def check(image: bytes, where: str = "image") -> tuple[dict, list[tuple[int, int, bytes]]]:
    """Parse and verify an image; a bad one is refused with one clear sentence."""
    if len(image) < HEADER.size:
        raise ShoalError(f"{where}: truncated (no complete header)")
    magic, version, _flags, meta_len, npages, body_len, digest = HEADER.unpack_from(image)
    if magic != MAGIC:
        raise ShoalError(f"{where}: not a shoal container image")
    if version not in (3, 4, VERSION):
        raise ShoalError(f"{where}: image version {version}, this shoal reads version {VERSION}")
    body = image[HEADER.size:]
    if len(body) != body_len or meta_len + npages * (PAGE_HEADER.size + PAGE) != body_len:
        raise ShoalError(f"{where}: truncated or padded ({len(body)} of {body_len} body bytes)")
    if sha256(body).digest() != digest:
        raise ShoalError(f"{where}: corrupted (checksum mismatch)")
    import json
    try:
        meta = json.loads(body[:meta_len])
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ShoalError(f"{where}: corrupted metadata") from None
    if version == 3:
        _upgrade(meta)
    pages = []
    off = meta_len
    for _ in range(npages):
        va, flags = PAGE_HEADER.unpack_from(body, off)
        off += PAGE_HEADER.size
        pages.append((va, flags, body[off:off + PAGE]))
        off += PAGE
    validate(meta, pages, where)
    return meta, pages


def _upgrade(meta: object) -> None:
    """A version 3 image: its open files were read-only files of the root, [name, size,
    offset]; they become descriptors the file server opens again by path (daemons/files.py)."""
    files = meta.get("files") if isinstance(meta, dict) else None
    if isinstance(files, dict):
        for fd, f in files.items():
            if isinstance(f, list) and len(f) == 3 and isinstance(f[0], str):
                files[fd] = ["file", "/" + f[0], 0, 0, f[2]]


# --- the metadata's schema ----------------------------------------------------------------------
# check() validates every field that rebuild() and the kernel later read, once, so that no later
# step meets a missing key, a wrong type or a number out of range. Chip-dependent facts (which
# clusters exist, free frames) are the restoring kernel's to judge.
U32 = 2**32 - 1
I64 = 2**63
MAX_PID = 2**31 - 1
MAX_THREADS = 4096
MAX_FD = 1 << 16


class _Bad(Exception):
    """A field of an image's metadata that the restore could not trust."""


def _int(v: object, path: str, lo: int = 0, hi: int = I64 - 1) -> int:
    if type(v) is not int:
        raise _Bad(f"'{path}' must be an integer")
    if not lo <= v <= hi:
        raise _Bad(f"'{path}' = {v} is out of range {lo}..{hi}")
    return v


def _str(v: object, path: str) -> str:
    if type(v) is not str:
        raise _Bad(f"'{path}' must be a string")
    return v


def _list(v: object, path: str, n: int | None = None) -> list:
    if type(v) is not list or (n is not None and len(v) != n):
        raise _Bad(f"'{path}' must be a list" + ("" if n is None else f" of {n}"))
    return v


def _dict(v: object, path: str, keys: tuple[str, ...] = ()) -> dict:
    if type(v) is not dict:
        raise _Bad(f"'{path}' must be an object")
    for key in keys:
        if key not in v:
            raise _Bad(f"'{path}.{key}' is missing" if path else f"'{key}' is missing")
    return v


def _key(k: str, path: str, lo: int = 0, hi: int = I64 - 1) -> int:
    """An integer written as an object key (JSON keys are strings)."""
    if not (k.isascii() and k.isdigit() and len(k) <= 19):
        raise _Bad(f"'{path}' has a key that is not a number")
    return _int(int(k), f"{path}.{k}", lo, hi)


def _b64ok(v: object, path: str) -> bytes:
    try:
        return base64.b64decode(_str(v, path).encode(), validate=True)
    except (binascii.Error, ValueError):
        raise _Bad(f"'{path}' is not base64") from None


TOP = ("pid", "name", "argv", "brk_start", "brk", "seed", "rand", "open_fds", "files",
       "syscalls", "unknown", "start_cycle", "peak_frames", "kcore_wait", "generation", "clock_offset",
       "taken_at", "dead_instructions", "regions", "threads", "ikc", "early_signals")
THREAD = ("tid", "clear_tid", "restart_deadline", "blocked_on", "instructions", "regs")
ENDPOINT = {"mailbox": ("port", "queue"), "portal": ("port", "allowed"), "sync": ("port", "expect", "got"),
            "remote": ("kind", "pids", "clusters", "port")}


def validate(meta: object, pages: list[tuple[int, int, bytes]], where: str = "image") -> None:
    """Refuse, in one sentence, metadata that a restore could not trust."""
    try:
        _validate(meta, pages)
    except _Bad as e:
        raise ShoalError(f"{where}: bad metadata: {e}") from None


def _validate(meta: object, pages: list[tuple[int, int, bytes]]) -> None:
    m = _dict(meta, "", TOP)
    _int(m["pid"], "pid", 1, MAX_PID)
    _str(m["name"], "name")
    for i, a in enumerate(_list(m["argv"], "argv")):
        _str(a, f"argv[{i}]")
    brk_start = _int(m["brk_start"], "brk_start", 0, USER_TOP)
    _int(m["brk"], "brk", brk_start, USER_TOP)
    _int(m["seed"], "seed", -I64, I64 - 1)
    _int(m["rand"], "rand")
    fds = [_int(fd, f"open_fds[{i}]", 0, MAX_FD) for i, fd in enumerate(_list(m["open_fds"], "open_fds"))]
    if len(set(fds)) != len(fds):
        raise _Bad("'open_fds' names a descriptor twice")
    for k, f in _dict(m["files"], "files").items():
        if _key(k, "files", 0, MAX_FD) not in fds:
            raise _Bad(f"'files.{k}' is not an open descriptor")
        kind, path, handle, flags, offset = _list(f, f"files.{k}", 5)
        if kind not in FILE_KINDS:
            raise _Bad(f"'files.{k}[0]' must be one of {', '.join(FILE_KINDS)}")
        _str(path, f"files.{k}[1]")
        _int(handle, f"files.{k}[2]", 0, I64 - 1)
        _int(flags, f"files.{k}[3]", 0, U32)
        _int(offset, f"files.{k}[4]", 0, I64 - 1)
    for k, n in _dict(m["syscalls"], "syscalls").items():
        _int(n, f"syscalls.{k}")
    for k, n in _dict(m["unknown"], "unknown").items():
        _key(k, "unknown", 0, U32)
        _int(n, f"unknown.{k}")
    for key in ("start_cycle", "peak_frames", "kcore_wait", "generation", "taken_at", "dead_instructions"):
        _int(m[key], key)
    _int(m["clock_offset"], "clock_offset", -I64, I64 - 1)
    for key in ("ppid", "tty"):
        _int(m.get(key, 0), key, 0, MAX_PID)
    for i, fd in enumerate(_list(m.get("cloexec", []), "cloexec")):
        _int(fd, f"cloexec[{i}]", 0, MAX_FD)
    elsewhere = []
    for key in ("staged", "remote", "rmem"):
        for i, e in enumerate(_list(m.get(key, []), key)):
            va, flags, *ver = _list(e, f"{key}[{i}]", 3 if key == "rmem" else 2)
            elsewhere.append((_int(va, f"{key}[{i}][0]", 0, U32), _int(flags, f"{key}[{i}][1]", 0, U32), b""))
            for v in ver:
                _int(v, f"{key}[{i}][2]", 1, _int(m.get("rmem_seq", 0), "rmem_seq"))
    _validate_regions(m["regions"], pages + elsewhere)
    for i, e in enumerate(_list(m.get("shared", []), "shared")):
        va, obj, pg = _list(e, f"shared[{i}]", 3)
        _int(va, f"shared[{i}][0]", 0, USER_TOP - PAGE)
        _int(obj, f"shared[{i}][1]", 1, U32)
        _int(pg, f"shared[{i}][2]", 0, U32)
    _int(m.get("rmem_seq", 0), "rmem_seq")
    if not _str(m.get("cwd", "/"), "cwd").startswith("/"):
        raise _Bad("'cwd' must be an absolute path")
    for r, v in _dict(m.get("rlimits", {}), "rlimits").items():
        _key(r, "rlimits", 0, 15)
        soft, hard = _list(v, f"rlimits.{r}", 2)
        _int(hard, f"rlimits.{r}[1]", 0, (1 << 64) - 1)
        _int(soft, f"rlimits.{r}[0]", 0, hard)
    for i, v in enumerate(_list(m.get("rmem_stats", [0, 0, 0]), "rmem_stats", 3)):
        _int(v, f"rmem_stats[{i}]")
    for key in ("caches", "kcaches"):
        for i, v in enumerate(_list(m.get(key, [0] * len(CACHE_COUNTS)), key, len(CACHE_COUNTS))):
            _int(v, f"{key}[{i}]")
    threads = _list(m["threads"], "threads")
    if not 1 <= len(threads) <= MAX_THREADS:
        raise _Bad(f"'threads' must hold 1 to {MAX_THREADS} threads")
    tids = set()
    for i, t in enumerate(threads):
        path = f"threads[{i}]"
        _dict(t, path, THREAD)
        tids.add(_int(t["tid"], f"{path}.tid", 1, MAX_PID))
        _int(t["clear_tid"], f"{path}.clear_tid", 0, U32)
        if t["restart_deadline"] is not None:
            _int(t["restart_deadline"], f"{path}.restart_deadline", -I64, I64 - 1)
        _str(t["blocked_on"], f"{path}.blocked_on")
        _int(t["instructions"], f"{path}.instructions")
        _int(t.get("stall", 0), f"{path}.stall")
        regs = _dict(t["regs"], f"{path}.regs", ("x", "f", "pc", "fcsr"))
        for j, v in enumerate(_list(regs["x"], f"{path}.regs.x", 31)):
            _int(v, f"{path}.regs.x[{j}]", 0, U32)
        for j, v in enumerate(_list(regs["f"], f"{path}.regs.f", 32)):
            _int(v, f"{path}.regs.f[{j}]", 0, 2**64 - 1)
        _int(regs["pc"], f"{path}.regs.pc", 0, U32)
        _int(regs["fcsr"], f"{path}.regs.fcsr", 0, 0xFF)
    if len(tids) != len(threads):
        raise _Bad("'threads' holds a thread id twice")
    _validate_ikc(m["ikc"])
    _validate_signals(m.get("signals", {}), tids)
    for i, e in enumerate(_list(m["early_signals"], "early_signals")):
        port, sigs = _list(e, f"early_signals[{i}]", 2)
        _int(port, f"early_signals[{i}][0]", 0, (1 << 16) - 1)
        for j, sig in enumerate(_list(sigs, f"early_signals[{i}][1]")):
            src, v = _list(sig, f"early_signals[{i}][1][{j}]", 2)
            _int(src, f"early_signals[{i}][1][{j}][0]", 0, MAX_PID)
            _int(v, f"early_signals[{i}][1][{j}][1]", -I64, I64 - 1)


def _validate_regions(regions: object, pages: list[tuple[int, int, bytes]]) -> None:
    spans = []
    for i, r in enumerate(_list(regions, "regions")):
        start, end, prot, name = _list(r, f"regions[{i}]", 4)
        _int(start, f"regions[{i}][0]", 0, USER_TOP)
        _int(end, f"regions[{i}][1]", start + 1, USER_TOP)
        if start % PAGE or end % PAGE:
            raise _Bad(f"'regions[{i}]' is not whole pages")
        _int(prot, f"regions[{i}][2]", 0, 7)
        _str(name, f"regions[{i}][3]")
        spans.append((start, end))
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise _Bad("'regions' overlap")
    seen = set()
    for va, flags, _ in pages:
        if va % PAGE or va >= USER_TOP or flags > 0x3FF:
            raise _Bad(f"page {va:#x} (flags {flags:#x}) is not a user page")
        if va in seen:
            raise _Bad(f"page {va:#x} is in the image twice")
        seen.add(va)
        if not any(s <= va < e for s, e in spans):
            raise _Bad(f"page {va:#x} is outside every region")


def _siginfo(v: object, path: str) -> None:
    signo, errno, code, *words = _list(v, path, 6)
    _int(signo, f"{path}[0]", 1, 64)
    _int(errno, f"{path}[1]", -2**31, 2**31 - 1)
    _int(code, f"{path}[2]", -2**31, 2**31 - 1)
    for j, w in enumerate(words):
        _int(w, f"{path}[{3 + j}]", 0, U32)


def _validate_signals(sig: object, tids: set[int]) -> None:
    s = _dict(sig, "signals")
    for n, act in _dict(s.get("actions", {}), "signals.actions").items():
        _key(n, "signals.actions", 1, 64)
        h, f, mask = _list(act, f"signals.actions.{n}", 3)
        _int(h, f"signals.actions.{n}[0]", 0, U32)
        _int(f, f"signals.actions.{n}[1]", 0, U32)
        _int(mask, f"signals.actions.{n}[2]", 0, 2**64 - 1)
    for i, v in enumerate(_list(s.get("pending", []), "signals.pending")):
        _siginfo(v, f"signals.pending[{i}]")
    _int(s.get("tramp", 0), "signals.tramp", 0, USER_TOP - PAGE)
    for tid, ts in _dict(s.get("threads", {}), "signals.threads").items():
        path = f"signals.threads.{tid}"
        if _key(tid, "signals.threads", 1, MAX_PID) not in tids:
            raise _Bad(f"'{path}' names no thread of the image")
        td = _dict(ts, path, ("mask", "pending", "alt"))
        _int(td["mask"], f"{path}.mask", 0, 2**64 - 1)
        for i, v in enumerate(_list(td["pending"], f"{path}.pending")):
            _siginfo(v, f"{path}.pending[{i}]")
        for j, v in enumerate(_list(td["alt"], f"{path}.alt", 3)):
            _int(v, f"{path}.alt[{j}]", 0, U32)
        for key, n in (("interrupted", 2), ("waiting", 2)):
            if td.get(key) is not None:
                for j, v in enumerate(_list(td[key], f"{path}.{key}", n)):
                    _int(v, f"{path}.{key}[{j}]", 0, 2**64 - 1)
        if td.get("saved") is not None:
            _int(td["saved"], f"{path}.saved", 0, 2**64 - 1)


def _validate_ikc(ikc: object) -> None:
    ports: set[tuple[str, int]] = set()
    for k, em in _dict(ikc, "ikc").items():
        _key(k, "ikc", 0, MAX_ENDPOINTS - 1)
        path = f"ikc.{k}"
        kind = _dict(em, path, ("type",))["type"]
        if type(kind) is not str or kind not in ENDPOINT:
            raise _Bad(f"'{path}.type' must be one of {', '.join(ENDPOINT)}")
        _dict(em, path, ENDPOINT[kind])
        port = _int(em["port"], f"{path}.port", 0, (1 << 16) - 1)
        if kind == "remote":
            if type(em["kind"]) is not str or em["kind"] not in ("mailbox", "portal", "sync"):
                raise _Bad(f"'{path}.kind' must be mailbox, portal or sync")
            pids = _list(em["pids"], f"{path}.pids")
            clusters = _list(em["clusters"], f"{path}.clusters", len(pids))
            if not pids:
                raise _Bad(f"'{path}.pids' is empty")
            for j, (pid, c) in enumerate(zip(pids, clusters, strict=True)):
                _int(pid, f"{path}.pids[{j}]", 1, MAX_PID)
                _int(c, f"{path}.clusters[{j}]", 0, U32)
            continue
        if (kind, port) in ports:
            raise _Bad(f"'{path}': two {kind} endpoints on port {port}")
        ports.add((kind, port))
        if kind == "mailbox":
            for j, q in enumerate(_list(em["queue"], f"{path}.queue")):
                v, msg = _list(q, f"{path}.queue[{j}]", 2)
                _int(v, f"{path}.queue[{j}][0]", -I64, I64 - 1)
                _b64ok(msg, f"{path}.queue[{j}][1]")
        elif kind == "portal":
            if em["allowed"] is not None:
                _int(em["allowed"], f"{path}.allowed", 1, MAX_PID)
        else:
            for j, pid in enumerate(_list(em["expect"], f"{path}.expect")):
                _int(pid, f"{path}.expect[{j}]", 1, MAX_PID)
            for q, v in _dict(em["got"], f"{path}.got").items():
                _key(q, f"{path}.got", 1, MAX_PID)
                for j, x in enumerate(_list(v, f"{path}.got.{q}")):
                    _int(x, f"{path}.got.{q}[{j}]", -I64, I64 - 1)


def frames_needed(meta: dict, pages: list[tuple[int, int, bytes]]) -> int:
    """Frames a restore takes: the pages, their second-level tables, the root table."""
    return len(pages) + len({va >> 22 for va, _, _ in pages}) + 1


def restore(k: Kernel, image: bytes, at: int, where: str = "image", rebase: bool = False) -> Container:
    """Rebuild a frozen container on kernel `k` (raises OutOfFrames if it does not fit).
    `rebase`: on a chip whose clock is not the one the image was taken on (a restore from a
    file), the process's clocks go on from where the image was taken, and its pending
    times move with them; a migration keeps the chip's clock."""
    meta, pages = check(image, where)
    staged, remote = _elsewhere(meta)
    if meta.get("shared"):
        raise ShoalError(f"{where}: the process maps shared memory, which lives on the chip it "
                         "was taken on; a checkpoint of it cannot be restored")
    if staged or remote or meta.get("rmem"):
        n = len(staged) + len(remote) + len(meta.get("rmem", []))
        raise ShoalError(f"{where}: an image without {n} of its pages (a live migration's, or of a "
                         "process using remote memory); a checkpoint carries them all")
    return rebuild(k, meta, pages, at, rebase)


def rebuild(k: Kernel, meta: dict, pages: list[tuple[int, int, bytes]], at: int,
            rebase: bool = False) -> Container:
    """Rebuild a frozen container from a checked image's parts (see restore); `pages` holds
    the staged ones too; the remote ones are listed in the address space, to come."""
    offset = meta["clock_offset"]
    if rebase:
        offset = at - (meta["taken_at"] - meta["clock_offset"])
    delta = offset - meta["clock_offset"]
    clusters = k.spec.compute_clusters
    aspace = k.new_aspace()
    try:
        for start, end, prot, name in meta["regions"]:
            aspace.add_region(Region(start, end, prot, name))
        for va, flags, data in pages:
            aspace.install(va, flags, data)
        aspace.remote = {va: flags for va, flags in meta.get("remote", [])}
        aspace.shared = {va: (obj, pg) for va, obj, pg in meta.get("shared", [])}
        for va, flags, ver in meta.get("rmem", []):  # still in remote memory, fetched on first touch
            aspace.remote[va] = flags
            aspace.rmem[va] = ver
        aspace.rmem_seq = meta.get("rmem_seq", 0)
    except BaseException:  # whatever went wrong, give the frames back before passing it on
        aspace.destroy()
        raise
    p = Container(pid=meta["pid"], name=meta["name"], argv=meta["argv"], aspace=aspace, cluster=k.cluster,
                  brk_start=meta["brk_start"], brk=meta["brk"], seed=meta["seed"],
                  start_cycle=meta["start_cycle"])
    p._rand_counter = meta["rand"]
    p.open_fds = set(meta["open_fds"])
    p.files = {int(fd): OpenFile.from_list(f) for fd, f in meta["files"].items()}
    shared: dict[tuple, OpenFile] = {}  # dup's copies name one open file again (kernel/files.py: dup)
    for fd in sorted(p.files):
        f = p.files[fd]
        if f.kind in (FileKind.FILE, FileKind.DIR, FileKind.DEV, FileKind.CON) and f.handle:
            p.files[fd] = shared.setdefault((f.kind, f.handle), f)
    p.syscalls = Counter(meta["syscalls"])
    p.unknown_syscalls = Counter({int(n): c for n, c in meta["unknown"].items()})
    p.peak_frames = max(meta["peak_frames"], aspace.frames_in_use)
    p.kcore_wait = meta["kcore_wait"]
    p.generation = meta["generation"]
    p.dead_instructions = meta["dead_instructions"]
    p.clock_offset = offset
    p.rmem_faults, p.evictions, p.page_wait = meta.get("rmem_stats", [0, 0, 0])
    p.caches = list(meta.get("caches", [0] * len(CACHE_COUNTS)))
    p.kcaches = list(meta.get("kcaches", [0] * len(CACHE_COUNTS)))
    p.rlimits = {int(r): v for r, v in meta.get("rlimits", {}).items()}
    p.cwd = meta.get("cwd", "/")
    p.ppid, p.tty = meta.get("ppid", 0), meta.get("tty", 0)
    p.cloexec = set(meta.get("cloexec", [])) & p.open_fds
    p.state = "frozen"
    for tm in meta["threads"]:
        ctx = k.cpu.new_context()
        k.cpu.set_regs(ctx, tm["regs"])
        t = Thread(tid=tm["tid"], proc=p, ctx=ctx, state=TState.FROZEN, ready_at=at,
                   clear_tid=tm["clear_tid"], blocked_on=tm["blocked_on"],
                   restart_deadline=tm["restart_deadline"], instructions=tm["instructions"],
                   stall=tm.get("stall", 0))
        p.threads.append(t)
    signals.from_meta(p, meta.get("signals", {}))
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
            # A cluster this chip lacks (the image came from a bigger chip) becomes this one:
            # a packet for a pid that is not here goes to the process manager, which routes it
            # by pid or refuses it as the receiver would (location.py, step 5).
            ep = Remote(em["kind"], tuple(em["pids"]), tuple(c if c < clusters else k.cluster
                                                             for c in em["clusters"]), em["port"])
        p.ikc[int(fd)] = ep
        if not isinstance(ep, Remote):
            k.ikc.endpoints[em["type"]][(p.pid, em["port"])] = ep
    for port, sigs in meta["early_signals"]:
        k.ikc.early_signals[(p.pid, port)] = [(src, v + delta) for src, v in sigs]
    return p

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
import struct
from collections import Counter, deque
from typing import TYPE_CHECKING

import msgspec

from shoal.abi import INIT_PID
from shoal.errors import ShoalError
from shoal.kernel import signals, timers
from shoal.kernel.container import (
    CACHE_COUNTS,
    CallState,
    Container,
    FileKind,
    Kept,
    OpenFile,
    ProcStats,
    Thread,
    TState,
)
from shoal.kernel.ikc import MailboxIn, PortalIn, Remote, SyncIn
from shoal.kernel.imageschema import validate
from shoal.kernel.memory import PAGE, Region
from shoal.messages import Reply
from shoal.record import dataclass
from shoal.sha import sha256

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.spec import ChipSpec

MAGIC = b"SHOALIMG"
VERSION = 5  # 2: process clock (clock_offset, taken_at); 3: no stdin, files by name;
# 4: open files of the file server, [kind, path, handle, flags, offset] (3's read: _upgrade);
# 5: signal state ("signals", kernel/signals.py: to_meta; absent when there is none)
HEADER = struct.Struct("<8sIIIIQ32s")
PAGE_HEADER = struct.Struct("<II")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode())


def _kept_meta(kept: Kept) -> list:
    """A thread's kept answer (kernel/answers.py): [key, the reply's fields or None, data]."""
    body = None if kept.body is None else msgspec.to_builtins(kept.body)
    return [kept.key, body, _b64(kept.data)]


def _file_call_meta(p: Container, t: Thread) -> dict:
    """A regular file's read or write of several pieces, part done and waiting to go on
    (kernel/files.py: Thread.call.file, and a read's answer not yet copied, file_answer): its
    open file named by the lowest descriptor of it, the call's pieces, pread/pwrite offset,
    start, and progress. Made again after the move, the call goes on from there: started over,
    an O_APPEND write appended its first pieces twice."""
    out: dict = {}
    fds: dict[int, int] = {}
    for fd, f in sorted(p.fs.files.items(), reverse=True):
        fds[id(f)] = fd
    if t.call.file is not None:
        f, (pieces, at, start), done, end = t.call.file
        if id(f) in fds:  # (else its descriptor was closed meanwhile: the call fails anyway)
            out["file"] = [fds[id(f)], [list(x) for x in pieces], at, start, done, end]
    if t.call.file_answer is not None:
        f, ((pieces, at, start), done), answer, asked = t.call.file_answer
        if id(f) in fds:
            out["file_answer"] = [fds[id(f)], [list(x) for x in pieces], at, start, done, _b64(answer), asked]
    return out


def _file_call_of(p: Container, tm: dict) -> tuple[tuple | None, tuple | None]:
    """(Thread.call.file, file_answer) from a thread's metadata (see _file_call_meta)."""
    file = answer = None
    if "file" in tm:
        fd, pieces, at, start, done, end = tm["file"]
        file = (p.fs.files[fd], (tuple(tuple(x) for x in pieces), at, start), done, end)
    if "file_answer" in tm:
        fd, pieces, at, start, done, data, asked = tm["file_answer"]
        answer = (p.fs.files[fd], ((tuple(tuple(x) for x in pieces), at, start), done), _unb64(data), asked)
    return file, answer


def _kept_of(km: list | None) -> Kept | None:
    if km is None:
        return None
    return Kept(km[0], None if km[1] is None else msgspec.convert(km[1], Reply), _unb64(km[2]))


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
             remote: set[int] | None = None, fork: bool = False,
             with_pages: bool = True) -> tuple[dict, list[tuple[int, int, bytes]]]:
    """The meta and pages of `p`'s image (serialize). A fork (kernel/calls/fork.py) takes no
    thread (it gives the child its own) and edits the rest; one on the same cluster takes no
    page either (`with_pages` False: they are shared copy-on-write)."""
    threads = [] if fork else [t for t in p.threads if t.state is not TState.DEAD]
    meta = {
        "pid": p.pid, "name": p.name, "argv": p.argv, "brk_start": p.brk_start, "brk": p.brk,
        "seed": p.seed, "rand": p._rand_counter,
        "open_fds": sorted(p.fs.open_fds),
        "files": {str(fd): f.to_list() for fd, f in p.fs.files.items()},
        "syscalls": dict(p.stats.syscalls),
        "unknown": {str(n): c for n, c in p.stats.unknown_syscalls.items()},
        "start_cycle": p.stats.start_cycle, "peak_frames": p.stats.peak_frames,
        "kcore_wait": p.stats.kcore_wait,
        "generation": p.move.generation + 1,
        "clock_offset": p.move.clock_offset, "taken_at": p.move.freeze_at or 0,
        "dead_instructions": p.instructions - sum(t.instructions for t in threads),
        "regions": [[r.start, r.end, r.prot, r.name] for r in p.aspace.regions],
        "threads": [{"tid": t.tid, "clear_tid": t.clear_tid, "restart_deadline": t.restart_deadline,
                     "blocked_on": t.blocked_on, "instructions": t.instructions,
                     "regs": k.cpu.get_regs(t.ctx), **({"robust": t.robust_list} if t.robust_list else {}),
                     **({"comm": t.comm} if t.comm is not None else {}),
                     **({"fifo": t.call.fifo} if t.call.fifo else {}),
                     **({"sent": t.call.sent} if t.call.sent else {}),
                     **_file_call_meta(p, t),
                     **({"kept": _kept_meta(t.call.kept)} if t.call.kept is not None else {}),
                     **({"sched": [t.policy, t.rtprio]} if t.policy else {})}
                    for t in threads],
        "ikc": {str(fd): _endpoint_meta(ep) for fd, ep in sorted(p.ikc.items())},
        "early_signals": [[port, sigs] for (pid, port), sigs in sorted(k.ikc.early_signals.items())
                          if pid == p.pid],
    }
    if any(p.stats.caches) or any(p.stats.kcaches):  # the L1 model's counts go with the process (sched.py)
        meta["caches"], meta["kcaches"] = list(p.stats.caches), list(p.stats.kcaches)
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
        pages = p.aspace.pages() if with_pages else []
    if p.aspace.shm.pages:  # shared memory: which pages of which object (kernel/shm.py)
        meta["shared"] = [[va, obj, pg] for va, (obj, pg) in sorted(p.aspace.shm.pages.items())]
    if p.aspace.swap.pages:  # pages kept in remote memory stay there: the process takes the list
        meta["rmem"] = [[va, p.aspace.remote[va], ver] for va, ver in sorted(p.aspace.swap.pages.items())]
    if p.aspace.overlay:  # the kernel's stores into pages not here yet, laid over them when they come
        meta["overlay"] = [[va, [[off, _b64(b)] for off, b in stores]]
                           for va, stores in sorted(p.aspace.overlay.items())]
    if p.fs.cwd != "/":
        meta["cwd"] = p.fs.cwd
    if p.fs.umask != 0o022:
        meta["umask"] = p.fs.umask
    if p.fs.locks:
        meta["locks"] = True
    if p.sched.nice:
        meta["nice"] = p.sched.nice
    if any(p.stats.children):  # its reaped children's CPU times (calls/sysinfo.py: times)
        meta["children_times"] = list(p.stats.children)
    if p.sched.membarrier:
        meta["membarrier"] = True
    if any(p.user.ids) or p.user.groups:
        meta["cred"] = [list(p.user.ids), list(p.user.groups)]
    if p.rlimits:
        meta["rlimits"] = {str(r): v for r, v in sorted(p.rlimits.items())}
    sig = signals.to_meta(p, threads)
    if sig:
        meta["signals"] = sig
    if p.timers:  # armed timers go with the process: their time left (kernel/timers.py)
        meta["timers"] = timers.to_meta(k, p)
    if p.aspace.swap.seq:  # versions of later write-backs go on from here, wherever it runs
        meta["rmem_seq"] = p.aspace.swap.seq
    if p.stats.rmem_faults or p.stats.evictions:
        meta["rmem_stats"] = [p.stats.rmem_faults, p.stats.evictions, p.stats.page_wait]
    for key in ("ppid", "tty", "pdeathsig"):  # a forked process's parent, console, parent-death signal
        if getattr(p.family, key):
            meta[key] = getattr(p.family, key)
    if p.fs.cloexec:
        meta["cloexec"] = sorted(p.fs.cloexec)
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
    pages = spec.cluster.memory_per_cluster // spec.cluster.page_size
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
        raise ShoalError(f"{where}: the process maps shared memory (or a file), which lives on the chip it "
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
        aspace.shm.pages = {va: (obj, pg) for va, obj, pg in meta.get("shared", [])}
        for va, flags, ver in meta.get("rmem", []):  # still in remote memory, fetched on first touch
            aspace.remote[va] = flags
            aspace.swap.pages[va] = ver
        aspace.swap.seq = meta.get("rmem_seq", 0)
        aspace.overlay = {va: [(off, _unb64(b)) for off, b in stores]
                          for va, stores in meta.get("overlay", [])}
    except BaseException:  # whatever went wrong, give the frames back before passing it on
        aspace.destroy()
        raise
    p = Container(pid=meta["pid"], name=meta["name"], argv=meta["argv"], aspace=aspace, cluster=k.cluster,
                  brk_start=meta["brk_start"], brk=meta["brk"], seed=meta["seed"],
                  stats=ProcStats(start_cycle=meta["start_cycle"]))
    p._rand_counter = meta["rand"]
    p.fs.open_fds = set(meta["open_fds"])
    p.fs.files = {int(fd): OpenFile.from_list(f) for fd, f in meta["files"].items()}
    shared: dict[tuple, OpenFile] = {}  # dup's copies name one open file again (kernel/files.py: dup)
    for fd in sorted(p.fs.files):
        f = p.fs.files[fd]
        if f.kind in (FileKind.FILE, FileKind.DIR, FileKind.DEV, FileKind.CON) and f.handle:
            p.fs.files[fd] = shared.setdefault((f.kind, f.handle), f)
    p.stats.syscalls = Counter(meta["syscalls"])
    p.stats.unknown_syscalls = Counter({int(n): c for n, c in meta["unknown"].items()})
    p.stats.peak_frames = max(meta["peak_frames"], aspace.frames_in_use)
    p.stats.kcore_wait = meta["kcore_wait"]
    p.move.generation = meta["generation"]
    p.stats.dead_instructions = meta["dead_instructions"]
    p.move.clock_offset = offset
    p.stats.rmem_faults, p.stats.evictions, p.stats.page_wait = meta.get("rmem_stats", [0, 0, 0])
    p.stats.caches = list(meta.get("caches", [0] * len(CACHE_COUNTS)))
    p.stats.kcaches = list(meta.get("kcaches", [0] * len(CACHE_COUNTS)))
    p.rlimits = {int(r): v for r, v in meta.get("rlimits", {}).items()}
    p.fs.cwd = meta.get("cwd", "/")
    p.fs.umask = meta.get("umask", 0o022)
    p.fs.locks = meta.get("locks", False)
    p.sched.nice = meta.get("nice", 0)
    p.stats.children = list(meta.get("children_times", [0, 0]))
    p.sched.membarrier = meta.get("membarrier", False)
    cred, groups = meta.get("cred", [[0] * 8, []])
    p.user.ids, p.user.groups = list(cred), list(groups)
    p.family.ppid, p.family.tty = meta.get("ppid") or INIT_PID, meta.get("tty", 0)  # (none: init's)
    p.family.pdeathsig = meta.get("pdeathsig", 0)
    p.fs.cloexec = set(meta.get("cloexec", [])) & p.fs.open_fds
    p.state = "frozen"
    for tm in meta["threads"]:
        ctx = k.cpu.new_context()
        k.cpu.set_regs(ctx, tm["regs"])
        t = Thread(tid=tm["tid"], proc=p, ctx=ctx, state=TState.FROZEN, ready_at=at,
                   clear_tid=tm["clear_tid"], blocked_on=tm["blocked_on"],
                   restart_deadline=tm["restart_deadline"], instructions=tm["instructions"],
                   stall=tm.get("stall", 0), robust_list=tm.get("robust", 0), comm=tm.get("comm"),
                   call=CallState(kept=_kept_of(tm.get("kept")), fifo=tm.get("fifo", 0),
                                  sent=tm.get("sent", 0)))
        t.call.file, t.call.file_answer = _file_call_of(p, tm)
        t.policy, t.rtprio = tm.get("sched", [0, 0])
        p.threads.append(t)
    signals.from_meta(p, meta.get("signals", {}))
    timers.from_meta(k, p, meta.get("timers", []), at)
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

"""The schema of a container image's metadata (kernel/image.py): validate() checks every field
that image.rebuild() and the kernel later read, once, so that no later step meets a missing
key, a wrong type or a number out of range. Chip-dependent facts (which clusters exist, free
frames) are the restoring kernel's to judge."""

from __future__ import annotations

import base64
import binascii

import msgspec

from shoal.abi import MAX_IO, MAX_RW
from shoal.errors import ShoalError
from shoal.kernel import timers
from shoal.kernel.calls.cred import NGROUPS_MAX
from shoal.kernel.container import CACHE_COUNTS
from shoal.kernel.ikc import MAX_ENDPOINTS
from shoal.kernel.memory import PAGE, USER_TOP
from shoal.kernel.signals import NSIG
from shoal.messages import Reply

FILE_KINDS = ("file", "dir", "mq", "shm", "dev", "con", "pipe", "sock")  # (pipe, sock: not in checkpoints)
U32 = 2**32 - 1
I64 = 2**63
MAX_PID = 2**31 - 1
MAX_THREADS = 4096
MAX_FD = 1 << 16
IOV_MAX = 1024  # the most pieces a readv or writev takes (Linux's UIO_MAXIOV, calls/io.py)
MAX_KEPT = 1 << 24  # bytes of a kept answer (kernel/answers.py): more than any call's answer


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


def _kept(v: object, path: str) -> None:
    """A thread's kept answer (kernel/answers.py): [key, a reply's fields or null, base64 data]."""
    key, body, data = _list(v, path, 3)
    if type(key) is not str or len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise _Bad(f"'{path}[0]' must be a request's key (64 hex digits)")
    if body is not None:
        try:
            msgspec.convert(_dict(body, f"{path}[1]"), Reply)
        except msgspec.ValidationError as e:
            raise _Bad(f"'{path}[1]' is not a reply: {e}") from None
    try:
        raw = base64.b64decode(_str(data, f"{path}[2]").encode(), validate=True)
    except ValueError:
        raise _Bad(f"'{path}[2]' must be base64") from None
    if len(raw) > MAX_KEPT:
        raise _Bad(f"'{path}[2]' holds more than an answer's {MAX_KEPT} bytes")


def _file_call(v: object, path: str, answer: bool, files: object) -> None:
    """A thread's piecewise file call (image.py: _file_call_meta): [fd, pieces, at, start, done,
    end] or, for a read's answer kept, [fd, pieces, at, start, done, base64 data, asked]."""
    parts = _list(v, path, 7 if answer else 6)
    fd = _int(parts[0], f"{path}[0]", 0, MAX_FD)
    if str(fd) not in _dict(files, "files") or _dict(files, "files")[str(fd)][0] != "file":
        raise _Bad(f"'{path}[0]' must be a descriptor of a regular file the image holds")
    pieces = _list(parts[1], f"{path}[1]")
    if not 1 <= len(pieces) <= IOV_MAX:
        raise _Bad(f"'{path}[1]' must hold 1 to {IOV_MAX} pieces")
    for i, pc in enumerate(pieces):
        addr, n = _list(pc, f"{path}[1][{i}]", 2)
        _int(addr, f"{path}[1][{i}][0]", 0, U32)
        _int(n, f"{path}[1][{i}][1]", 0, U32)
    if parts[2] is not None:
        _int(parts[2], f"{path}[2]", 0, I64 - 1)
    _int(parts[3], f"{path}[3]", 0, I64 - 1)
    _int(parts[4], f"{path}[4]", 0, MAX_RW)
    if answer:
        data = _b64ok(parts[5], f"{path}[5]")
        if len(data) > _int(parts[6], f"{path}[6]", 0, MAX_IO) or len(data) > MAX_IO:
            raise _Bad(f"'{path}[5]' must hold at most what was asked ({MAX_IO} bytes at most)")
    else:
        _int(parts[5], f"{path}[5]", 0, I64 - 1)


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
    if where not in ("fork", "migration image") and any(f[0] == "pipe" for f in meta["files"].values()):  # type: ignore[index]
        raise ShoalError(f"{where}: holds a pipe's end, whose pipe lives on the chip that made it")


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
    _int(m.get("pdeathsig", 0), "pdeathsig", 0, 64)
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
    away = {va for va, _, _ in elsewhere}
    for i, e in enumerate(_list(m.get("overlay", []), "overlay")):
        va, stores = _list(e, f"overlay[{i}]", 2)
        if _int(va, f"overlay[{i}][0]", 0, U32) not in away:
            raise _Bad(f"'overlay[{i}][0]' must be a page the image lists as elsewhere")
        for j, st in enumerate(_list(stores, f"overlay[{i}][1]")):
            off, data = _list(st, f"overlay[{i}][1][{j}]", 2)
            _int(off, f"overlay[{i}][1][{j}][0]", 0, PAGE - 1)
            try:
                raw = base64.b64decode(_str(data, f"overlay[{i}][1][{j}][1]").encode(), validate=True)
            except ValueError:
                raise _Bad(f"'overlay[{i}][1][{j}][1]' must be base64") from None
            if not 0 < len(raw) <= PAGE - off:
                raise _Bad(f"'overlay[{i}][1][{j}][1]' must be 1 byte to the end of its page")
    for i, e in enumerate(_list(m.get("shared", []), "shared")):
        va, obj, pg = _list(e, f"shared[{i}]", 3)
        _int(va, f"shared[{i}][0]", 0, USER_TOP - PAGE)
        _int(obj, f"shared[{i}][1]", 1, U32)
        _int(pg, f"shared[{i}][2]", 0, U32)
    _int(m.get("rmem_seq", 0), "rmem_seq")
    if not _str(m.get("cwd", "/"), "cwd").startswith("/"):
        raise _Bad("'cwd' must be an absolute path")
    cred, groups = _list(m.get("cred", [[0] * 8, []]), "cred", 2)
    lo, hi = -(1 << 31), (1 << 31) - 1
    ids = [_int(v, f"cred[0][{i}]", lo, hi) for i, v in enumerate(_list(cred, "cred[0]", 8))]
    gids = [_int(v, f"cred[1][{i}]", lo, hi) for i, v in enumerate(_list(groups, "cred[1]"))]
    if -1 in ids or -1 in gids:  # (ids are kept signed, kernel/calls/cred.py; (uid_t)-1 is none)
        raise _Bad("'cred' holds -1, which is no user or group")
    if len(gids) > NGROUPS_MAX or gids != sorted(gids, key=lambda g: g & U32):
        raise _Bad(f"'cred[1]' must hold at most {NGROUPS_MAX} groups in setgroups' order")
    _int(m.get("umask", 0o022), "umask", 0, 0o777)
    _int(m.get("nice", 0), "nice", -20, 19)
    for i, v in enumerate(_list(m.get("children_times", [0, 0]), "children_times", 2)):
        _int(v, f"children_times[{i}]")
    if type(m.get("membarrier", False)) is not bool:
        raise _Bad("'membarrier' must be true or false")
    if type(m.get("locks", False)) is not bool:
        raise _Bad("'locks' must be true or false")
    for r, v in _dict(m.get("rlimits", {}), "rlimits").items():
        _key(r, "rlimits", 0, 15)
        soft, hard = _list(v, f"rlimits.{r}", 2)
        _int(hard, f"rlimits.{r}[1]", 0, (1 << 64) - 1)
        _int(soft, f"rlimits.{r}[0]", 0, hard)
    for i, v in enumerate(_list(m.get("rmem_stats", [0, 0, 0]), "rmem_stats", 3)):
        _int(v, f"rmem_stats[{i}]")
    keys = set()
    for i, row in enumerate(_list(m.get("timers", []), "timers")):
        key, clock, signo, notify, tid, value, rest, interval, overrun = _list(row, f"timers[{i}]", 9)
        keys.add(_int(key, f"timers[{i}][0]", timers.PROF, timers.MAX_TIMERS - 1))
        _int(clock, f"timers[{i}][1]", -(1 << 31), 15)  # (negative: a CPU-time clock, timers.py)
        _int(signo, f"timers[{i}][2]", 1, NSIG)
        if notify not in (timers.SIGEV_SIGNAL, timers.SIGEV_NONE, timers.SIGEV_THREAD_ID):
            raise _Bad(f"'timers[{i}][3]' is not a notification shoal knows")
        for j, v in ((4, tid), (5, value), (6, rest), (7, interval), (8, overrun)):
            _int(v, f"timers[{i}][{j}]", 0, I64 - 1)
    if len(keys) != len(m.get("timers", [])):
        raise _Bad("'timers' names a timer twice")
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
        _int(t.get("robust", 0), f"{path}.robust", 0, U32)
        comm = _str(t.get("comm", ""), f"{path}.comm")
        if len(comm) > 15 or "\0" in comm or any(ord(c) > 255 for c in comm):
            raise _Bad(f"'{path}.comm' must be a thread name of at most 15 bytes")
        if t["restart_deadline"] is not None:
            _int(t["restart_deadline"], f"{path}.restart_deadline", -I64, I64 - 1)
        _str(t["blocked_on"], f"{path}.blocked_on")
        _int(t["instructions"], f"{path}.instructions")
        _int(t.get("stall", 0), f"{path}.stall")
        _int(t.get("fifo", 0), f"{path}.fifo", 0, U32)
        _int(t.get("sent", 0), f"{path}.sent", 0, U32)
        if "kept" in t:
            _kept(t["kept"], f"{path}.kept")
        for key in ("file", "file_answer"):
            if key in t:
                _file_call(t[key], f"{path}.{key}", key == "file_answer", m["files"])
        policy, prio = _list(t.get("sched", [0, 0]), f"{path}.sched", 2)
        if _int(policy, f"{path}.sched[0]", 0, 0x40000006) & ~0x40000000 not in (0, 1, 2, 3, 5):
            raise _Bad(f"'{path}.sched[0]' must be a scheduling policy")
        if (policy & 3 in (1, 2) and policy & 7 != 3) != (_int(prio, f"{path}.sched[1]", 0, 99) > 0):
            raise _Bad(f"'{path}.sched[1]' must be 1-99 for SCHED_FIFO and SCHED_RR, else 0")
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
    if _int(s.get("stopped", 0), "signals.stopped", 0, 64) not in (0, 19, 20, 21, 22):
        raise _Bad("'signals.stopped' is not a stop signal")
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

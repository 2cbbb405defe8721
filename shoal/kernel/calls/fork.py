"""Processes that start processes: clone without CLONE_THREAD (fork, vfork), execve, wait4,
waitid, getppid, as Linux does them for riscv32 and musl.

fork: the child is a new container with a new pid (the process manager's), a copy of the
caller's address space and registers (a0 = 0; sp = the clone's stack if given, as
posix_spawn's __clone passes), its descriptors, working directory, limits, signal actions and
mask (no pending signal), and its console stream (Container.family.tty). vfork (CLONE_VM|CLONE_VFORK)
is a fork: the parent does not wait for the child's exec or exit, and the child writes its own
copy of memory (what posix_spawn and musl's vfork-then-exec need). The copy is made when the
process manager's answer comes (the caller sleeps meanwhile; its other threads, if any, run
on). When the cluster has room for a full copy the child is built here, its pages shared
copy-on-write with the parent's (kernel/memory.py: share_into; the kernel core copies the page
tables, a store copies a page), and shares the parent's open file descriptions (one offset,
as Linux's); otherwise the manager places it on another cluster, to which the image goes in
the migration image format (images.py), with copies of the descriptions (offsets no longer
shared; a pipe's ends are counted at the pipe's home before the image goes: kernel/pipes.py).
Shared memory (shm_open, System V, and anonymous MAP_SHARED, which becomes an object at the
fork) is not copied: the child maps the same objects, as a process that arrived holding the
mappings does; pages in remote memory stay there, the child gets copies of them at the
remote-memory home (kernel/forkmem.py; ENOMEM if io_memory cannot hold them).

wait: zombies stay in the process manager until reaped; children of a process that ends are
adopted by the host (pid 0: reaped with its records, no SIGCHLD). SIGCHLD (the clone's exit
signal) goes to the parent wherever it runs, as a signal packet routed by pid.

execve: the program is the file at the path in the file server's tree (`--fs`, and the chip's
`--file` files in its root), or else the chip's file of that base name, as shoal_spawn finds
it; its bytes come from the process manager over the NoC. `#!` scripts and
anything not a static RV32 ELF give ENOEXEC; no shell is provided (system and popen get ENOENT
unless a program named `sh` is among the files).
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING

from shoal.abi import E2BIG, EACCES, ECHILD, EINVAL, ENAMETOOLONG, ENOENT, ENOEXEC, ENOMEM
from shoal.errors import ShoalError
from shoal.kernel import forkmem, ikc, image, location, migrate, pipes, sched, signals
from shoal.kernel.calls import cred, prio
from shoal.kernel.calls.common import refused, s32
from shoal.kernel.container import Container, Thread, TState
from shoal.kernel.files import canonical, release
from shoal.kernel.loader import MAX_ARG_BYTES, ArgsTooBig, build_stack, load, parse_elf
from shoal.kernel.memory import PAGE, Fault, Missing, OutOfFrames
from shoal.kernel.stops import ASLEEP
from shoal.messages import UNSET, Exec, Exit, Fork, Kind, Pgrp, WaitChild
from shoal.platform.cpu import _ALL_REGS, REG_A, REG_PC, REG_SP, REG_TP

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_VFORK, CLONE_THREAD, CLONE_SETTLS = 0x4000, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000
CLONE_DETACHED = 0x400000
# What a new process may ask for: the exit signal, vfork, the tid words, TLS (Linux's set).
FORK_FLAGS = (0xFF | CLONE_VM | CLONE_VFORK | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID
              | CLONE_CHILD_SETTID | CLONE_DETACHED)
WNOHANG, WUNTRACED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 4, 8, 0x01000000
WALL_FLAGS = 0x20000000 | 0x40000000 | 0x80000000  # __WNOTHREAD, __WALL, __WCLONE
CLD_EXITED, CLD_KILLED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 5, 6  # waitid's si_code
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
SLACK = 16  # frames left free on the cluster after a fork here (else the child goes elsewhere)
RUSAGE_BYTES = 72  # struct rusage on riscv32 (two old timevals, fourteen longs): zeroed




# fork -----------------------------------------------------------------------------------------
def sys_clone(k: Kernel, t: Thread, a: list[int]) -> int:
    flags = a[0]
    if (flags & CLONE_THREAD and not flags & CLONE_SIGHAND) or (flags & CLONE_SIGHAND
                                                                 and not flags & CLONE_VM):
        return -EINVAL
    if flags & CLONE_THREAD:
        return _clone_thread(k, t, a)
    if flags & ~FORK_FLAGS or (flags & CLONE_VM and not flags & CLONE_VFORK):
        return refused(t, 220)  # processes sharing memory, files or namespaces
    if (flags & 0xFF) > signals.NSIG:
        return -EINVAL
    return fork(k, t, flags, a[1], a[2], a[3], a[4])


def _clone_thread(k: Kernel, t: Thread, a: list[int]) -> int:
    flags, stack, ptid, tls, ctid = a[0], a[1], a[2], a[3], a[4]
    if stack == 0:
        return -EINVAL
    cpu = k.cpu
    ctx = cpu.uc.context_save()  # the parent's registers, pc already past the ecall
    ctx.reg_write(REG_A[0], 0)
    ctx.reg_write(REG_SP, stack)
    if flags & CLONE_SETTLS:
        ctx.reg_write(REG_TP, tls)
    child = k.new_thread(t.proc, ctx, k.now())
    child.comm = t.comm  # (a new thread has its creator's name, as on Linux)
    child.policy, child.rtprio = t.policy, t.rtprio  # its creator's scheduling policy (prio.py)
    child.sig.mask = t.sig.mask  # its creator's mask; its own (empty) pending set, no alternate stack
    if flags & CLONE_PARENT_SETTID:
        t.proc.aspace.write(ptid, struct.pack("<I", child.tid))
    if flags & CLONE_CHILD_SETTID:
        t.proc.aspace.write(ctid, struct.pack("<I", child.tid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_tid = ctid
    return child.tid


def _live_regs(k: Kernel) -> dict:
    """The running thread's registers as get_regs gives them, read from the hart in place (a
    context restore in the middle of a call would not be safe)."""
    m = 0xFFFFFFFF
    v = [k.cpu.uc.reg_read(r) for r in _ALL_REGS]
    return {"x": [w & m for w in v[:31]], "pc": v[31] & m, "f": v[32:64], "fcsr": v[64] & m}


def _child_sched(t: Thread, meta: dict) -> dict:
    """The child's thread's policy: the caller's, but SCHED_OTHER after SCHED_RESET_ON_FORK,
    which also takes a negative nice back to 0 (Linux's sched_fork)."""
    if t.policy & prio.SCHED_RESET_ON_FORK:
        if meta.get("nice", 0) < 0:
            meta.pop("nice")
        return {}
    return {"sched": [t.policy, t.rtprio]} if t.policy else {}


def _child_meta(k: Kernel, p: Container, t: Thread, flags: int, stack: int, tls: int,
                ctid: int, regs: dict | None = None, with_pages: bool = True) -> tuple[dict, list]:
    """The child's image parts: the parent's, with one thread (the caller's registers, a0 = 0),
    fresh counts, no IKC endpoint, no pending signal. Pid and tid are the parent's until
    the child's are known (ForkLoad, _made)."""
    meta, pages = image.snapshot(k, p, fork=True, with_pages=with_pages)
    regs = regs or k.cpu.get_regs(t.ctx)
    regs["x"][9] = 0  # a0 (x10)
    if stack:
        regs["x"][1] = stack  # sp (x2)
    if flags & CLONE_SETTLS:
        regs["x"][3] = tls  # tp (x4)
    meta["threads"] = [{"tid": t.tid, "clear_tid": ctid if flags & CLONE_CHILD_CLEARTID else 0,
                        "restart_deadline": None, "blocked_on": "", "instructions": 0, "regs": regs,
                        **({"comm": t.comm} if t.comm is not None else {}),
                        **_child_sched(t, meta)}]
    meta.update(syscalls={}, unknown={}, start_cycle=k.now() if k.sched.current is t else t.blocked_at,
                peak_frames=0, kcore_wait=0, generation=0, dead_instructions=0, ikc={}, early_signals=[],
                ppid=p.pid, tty=p.family.tty or p.pid)
    # (a child has no timers, no parent-death signal (fork clears it), no children's times)
    for key in ("caches", "kcaches", "rmem_stats", "timers", "pdeathsig", "children_times"):
        meta.pop(key, None)
    sig = {}
    if p.sig.actions:
        sig["actions"] = {str(n): a for n, a in sorted(p.sig.actions.items())}
    if p.sig.tramp:
        sig["tramp"] = p.sig.tramp
    if t.sig.mask or t.sig.altstack != (0, 0, signals.SS_DISABLE):
        sig["threads"] = {str(t.tid): {"mask": t.sig.mask, "pending": [], "alt": list(t.sig.altstack)}}
    meta.pop("signals", None)
    if sig:
        meta["signals"] = sig
    return meta, pages


def _made(k: Kernel, child: Container, pid: int, tid: int, flags: int, at: int) -> None:
    """A rebuilt child takes its pid and runs."""
    child.pid = pid
    child.threads[0].tid = pid
    if flags & CLONE_CHILD_SETTID:
        try:
            child.aspace.write(tid, struct.pack("<I", pid))
        except (Fault, OutOfFrames):
            pass
    k.adopt(child)
    migrate.thaw(k, child, at, 0)


def _overloaded(k: Kernel, p: Container) -> bool:
    """No hart for a forked child here: the cluster's runnable threads (the caller's one
    included) already fill its harts. Known exactly here, unlike a load report's."""
    runnable = sum(1 for q in k.procs if q.alive for th in q.threads
                   if th.state in (TState.READY, TState.RUNNING))
    return runnable >= len(k.sched.harts)


def fork(k: Kernel, t: Thread, flags: int, stack: int, ptid: int, tls: int, ctid: int) -> int:
    p = t.proc
    if p.aspace.incoming:  # its pages still follow a move: wait for them first
        raise Missing("load", migrate.ALL_PAGES)
    now = k.now()
    # Anonymous shared memory becomes an object both map (a vfork's child's too: until it
    # execs, its stores are seen); may raise Missing (made again once its pages are here).
    anon = forkmem.share_anon(k, p, now)
    asked = forkmem.remote_pages(p)
    extra: dict[str, list] = {"anon": anon} if anon else {}
    if asked:
        extra["rmem"] = asked
    if anon or asked:  # the kernel core edits an entry per page made shared, lists the remote ones
        n = (len(anon[2]) if anon else 0) + len(asked)
        k.charge(k.kernel_core(now, k.spec.costs.pte_install_cycles * n))
    frames = p.aspace.frames_in_use
    local = k.frames.free - k.migration.reserved_frames >= frames + SLACK
    if local and k.reports.period and _overloaded(k, p):
        local = False  # policies on and no hart here for the child: placed elsewhere by load
    exit_signal = flags & 0xFF
    if local:
        def here(reply: Packet, at: int) -> int:
            pid = reply.body.ret
            if pid < 0:
                return pid
            if p.aspace.incoming:
                # (moved while the answer came, its pages following: not shared copy-on-write here)
                k.send(k.services_node, Exit(pid=pid, code=0, signal=9), at=at)
                return -ENOMEM
            meta, _ = _child_meta(k, p, t, flags, stack, tls, ctid, with_pages=False)
            child = None
            try:
                child = image.rebuild(k, meta, [], at)
                p.aspace.share_into(child.aspace)  # copy-on-write: page tables only
            except OutOfFrames:  # the room went meanwhile: the child never ran
                if child is not None:
                    child.aspace.destroy()
                k.send(k.services_node, Exit(pid=pid, code=0, signal=9), at=at)
                return -ENOMEM
            forkmem.give_remote(k, p, child, pid, asked, at)
            child.stats.peak_frames = child.aspace.frames_in_use
            # The kernel core copies the parent's page tables (not its pages: a store copies one).
            done = at + k.kernel_core(at, math.ceil(k.spec.costs.copy_cycles_per_byte * PAGE
                                                    * p.aspace.table_frames))
            for fd, f in p.fs.files.items():  # one open file description for both (Linux's)
                child.fs.files[fd] = f
                if pipes.is_pipe(f):
                    pipes.opened(k, f)
            _made(k, child, pid, ctid, flags, done)
            k.wake(t, done, _parent_done(p, pid, flags, ptid))
            return ASLEEP
        k.rpc(t, Fork(local=True, frames=frames, exit_signal=exit_signal, **extra), here)
        return 0
    meta, pages = _child_meta(k, p, t, flags, stack, tls, ctid, _live_regs(k))
    meta["fork"] = [flags, ctid]
    data = image.pack(meta, pages)
    ends = [f for f in p.fs.files.values() if pipes.is_pipe(f)]
    for f in ends:  # the child's ends count from now (before it can close them elsewhere)
        pipes.opened(k, f)

    def placed(reply: Packet, at: int) -> int:
        pid = reply.body.ret
        if pid < 0:
            for f in ends:
                pipes.dropped(k, f, at)
        return pid if pid < 0 else _parent_done(p, pid, flags, ptid)
    k.rpc(t, Fork(local=False, frames=frames, exit_signal=exit_signal, **extra), placed, data)
    return 0


def _parent_done(p: Container, pid: int, flags: int, ptid: int) -> int:
    p.family.children.add(pid)
    if flags & CLONE_PARENT_SETTID:
        p.aspace.write(ptid, struct.pack("<I", pid))
    return pid


def on_fork_load(k: Kernel, pkt: Packet, at: int) -> None:
    """A child forked on another cluster: rebuild it here from its image (as a migration's)."""
    b = pkt.body
    try:
        meta, pages = image.check(pkt.data, "fork")
        flags, ctid = meta.pop("fork", [0, 0])
        if image.frames_needed(meta, pages) > k.frames.free - k.migration.reserved_frames:
            raise OutOfFrames
        child = image.rebuild(k, meta, pages, at)
        _made(k, child, b.newpid, ctid, flags, at)
        ret = b.newpid
    except ShoalError:
        ret = -EINVAL
    except OutOfFrames:
        ret = -ENOMEM
    k.reply(pkt, at, ret=ret)


def sys_getppid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.proc.family.ppid


def on_reparent(k: Kernel, pkt: Packet, at: int) -> None:
    """Its parent ended: init (the host, pid 1) adopted it (daemons/procman.py: _child_ended).
    Routed by pid, held and passed on as a signal is, so it reaches a moving process."""
    p = k.find_proc(pkt.body.dst) or location.restored(k, pkt.body.dst)
    if p is not None and p.alive:
        was, p.family.ppid = p.family.ppid, pkt.body.ppid
        if p.family.pdeathsig:  # PR_SET_PDEATHSIG: from the parent that ended (calls/proc.py)
            signals.post(k, p, None, signals.info(p.family.pdeathsig, signals.SI_USER, was, 0), at)


# process groups and sessions: the process manager keeps them (daemons/procman.py: on_pgrp) -------
def _pgrp(k: Kernel, t: Thread, what: int, target: int, pgid: int = 0) -> int:
    k.rpc(t, Pgrp(what=what, target=target, pgid=pgid), lambda reply, at: reply.body.ret)
    return 0  # not reached: the thread waits for the answer


def sys_getpgid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _pgrp(k, t, 0, s32(a[0]))


def sys_setpgid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _pgrp(k, t, 1, s32(a[0]), s32(a[1]))


def sys_getsid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _pgrp(k, t, 2, s32(a[0]))


def sys_setsid(k: Kernel, t: Thread, a: list[int]) -> int:
    return _pgrp(k, t, 3, 0)


# wait -----------------------------------------------------------------------------------------
def _wait(k: Kernel, t: Thread, idtype: int, id_: int, options: int, then: object) -> int:
    def got(reply: Packet, at: int) -> int:
        ret = reply.body.ret
        if ret > 0 and not options & WNOWAIT and reply.body.code in (CLD_EXITED, CLD_KILLED):
            t.proc.family.children.discard(ret)  # reaped (a stop or continue report is not)
            if reply.body.times is not UNSET:  # its CPU time is its reaper's children's now
                ch = t.proc.stats.children
                ch[0], ch[1] = ch[0] + reply.body.times[0], ch[1] + reply.body.times[1]
        return then(reply, ret)  # type: ignore[operator]
    asked = {name: True for name, bit in (("stopped", WUNTRACED), ("continued", WCONTINUED)) if options & bit}
    if not options & WEXITED:
        asked["no_exited"] = True
    body = WaitChild(idtype=idtype, id=id_, nohang=bool(options & WNOHANG), reap=not options & WNOWAIT,
                     **asked)
    k.rpc(t, body, got)
    return 0


def sys_waitid(k: Kernel, t: Thread, a: list[int]) -> int:
    idtype, id_, infop, options, ru = a[0], s32(a[1]), a[2], a[3], a[4]
    if options & ~(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | WALL_FLAGS):
        return -EINVAL
    if idtype == P_PIDFD:
        return refused(t, 95, EINVAL)  # no pidfd (pidfd_open, CLONE_PIDFD) on the chip
    if not options & (WEXITED | WUNTRACED | WCONTINUED) or idtype not in (P_ALL, P_PID, P_PGID):
        return -EINVAL
    if (idtype == P_PID and id_ <= 0) or (idtype == P_PGID and id_ < 0):
        return -EINVAL
    aspace = t.proc.aspace
    for addr, n in ((infop, 128), (ru, RUSAGE_BYTES)):
        if addr:
            aspace.translate(addr, "store")
            aspace.translate(addr + n - 1, "store")

    def then(reply: Packet, ret: int) -> int:
        if ret < 0:
            return ret
        b = reply.body
        if ru:
            aspace.write(ru, bytes(RUSAGE_BYTES))
        if infop:
            i = signals.info(17, b.code, ret, 0, _si_status(b.code, b.status)) if ret else (0,) * 6
            aspace.write(infop, signals.info_bytes(i))
        return 0
    return _wait(k, t, idtype, id_, options, then)


def _si_status(code: int, status: int) -> int:
    """waitid's si_status: the exit code, the signal that ended or stopped it, or SIGCONT."""
    if code == CLD_EXITED:
        return status >> 8 & 0xFF
    if code == CLD_STOPPED:
        return status >> 8 & 0x7F
    return 18 if code == CLD_CONTINUED else status & 0x7F


def sys_wait4(k: Kernel, t: Thread, a: list[int]) -> int:
    pid, status, options, ru = s32(a[0]), a[1], a[2], a[3]
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | WALL_FLAGS) or pid == -(1 << 31):
        return -EINVAL
    idtype, id_ = (P_ALL, 0) if pid == -1 else (P_PGID, -pid) if pid < 0 else (P_PGID, 0) if pid == 0 \
        else (P_PID, pid)
    for addr in (status, ru):
        if addr:
            t.proc.aspace.translate(addr, "store")

    def then(reply: Packet, ret: int) -> int:
        if ret > 0 and status:
            t.proc.aspace.write(status, struct.pack("<i", reply.body.status))
        if ret > 0 and ru:
            t.proc.aspace.write(ru, bytes(RUSAGE_BYTES))
        return ret
    return _wait(k, t, idtype, id_, options | WEXITED, then)


# exec -----------------------------------------------------------------------------------------
def _strings(t: Thread, addr: int) -> list[bytes] | int:
    out: list[bytes] = []
    total = 0
    if not addr:
        return out
    while True:
        ptr = struct.unpack("<I", t.proc.aspace.read(addr + 4 * len(out), 4))[0]
        if ptr == 0:
            return out
        s = t.proc.aspace.read_cstr(ptr, MAX_ARG_BYTES + 1)
        total += len(s) + 1 + 4
        if total > MAX_ARG_BYTES:
            return -E2BIG
        out.append(s)


def sys_execve(k: Kernel, t: Thread, a: list[int]) -> int:
    raw = t.proc.aspace.read_cstr(a[0], 4097)
    if not raw:
        return -ENOENT
    if len(raw) > 4095:
        return -ENAMETOOLONG
    path = raw.decode(errors="replace")
    name = path.rsplit("/", 1)[-1]
    if not name or name in (".", ".."):
        return -EACCES  # a directory
    if len(name) > 255:
        return -ENAMETOOLONG

    def got(reply: Packet, at: int) -> int:
        # Linux's order: the file first (ENOENT), then the arguments (EFAULT, E2BIG), then
        # its format (ENOEXEC). The caller's memory is as it was: it waited in the call.
        if reply.body.ret < 0:
            return reply.body.ret
        argv = _strings(t, a[1])
        if isinstance(argv, int):
            return argv
        envp = _strings(t, a[2])
        if isinstance(envp, int):
            return envp
        return _replace(k, t, reply.data, name, argv, envp, at)
    where = canonical(path if path.startswith("/") else f"{t.proc.fs.cwd}/{path}")
    k.rpc(t, Exec(file=name, path=where, **cred.as_user(t)), got)
    return 0


def _replace(k: Kernel, t: Thread, data: bytes, name: str, argv: list[bytes],
             envp: list[bytes], at: int) -> int:
    """The point of no return: the new program's address space is built first (a failure
    leaves the caller as it was), then the old one goes."""
    p = t.proc
    if data[:2] == b"#!":
        return -ENOEXEC  # no interpreter is run (no shell on the chip)
    try:
        exe = parse_elf(data, name)
    except ShoalError:
        return -ENOEXEC
    new = k.new_aspace()
    try:
        load(exe, new)
        sp = build_stack(new, exe, argv, envp, p.random_bytes(16), k.spec.limits.stack_limit)
    except ArgsTooBig:
        new.destroy()
        return -E2BIG
    except (OutOfFrames, Fault):
        new.destroy()
        return -ENOMEM
    t.robust_list = 0  # the new program sets its own (the old memory and its locks go)
    for x in list(p.threads):  # the other threads end (Linux's de_thread) and leave it
        if x is not t:
            if x.state is not TState.DEAD:
                k._unwait(x)
                x.state = TState.DEAD
                x.blocked_at = max(x.blocked_at, k.now())
            sched.drop_thread(x)
    k.sched.ready = type(k.sched.ready)(x for x in k.sched.ready if x.proc is not p or x is t)
    for op in [op for op, (w, _, _) in k.packets.pending.items() if w.proc is p and w is not t]:
        del k.packets.pending[op]
    for h in k.sched.harts:
        if h.thread is not None and h.thread.proc is p and h.thread is not t:
            h.thread = None
    old, p.aspace = p.aspace, new
    old.destroy()
    if old.exec_frames_freed:
        k.cpu.tb_stale = True
    if k.sched.tlb_owner is old:
        k.cpu.flush_tlb()
        k.sched.tlb_owner = None
    ikc.close_all(k, p, at)
    for fd in sorted(p.fs.cloexec):
        release(k, p, fd, at)
        p.fs.open_fds.discard(fd)
    p.fs.cloexec.clear()
    p.name, p.argv = exe.name, [s.decode(errors="replace") for s in argv]
    p.brk_start = p.brk = exe.brk_start
    # Handlers are gone with the program (ignored signals stay ignored); mask and pending stay.
    p.sig.actions = {n: [signals.SIG_IGN, 0, 0] for n, act in p.sig.actions.items()
                    if act[0] == signals.SIG_IGN}
    p.sig.tramp = 0
    for key in [key for key in p.timers if key >= 0]:  # POSIX timers end, the interval timers stay
        p.timers[key].gen += 1
        del p.timers[key]
    t.sig.altstack, t.sig.interrupted, t.clear_tid = (0, 0, signals.SS_DISABLE), None, 0
    t.comm, p.sched.membarrier = None, False  # the new program's name; membarrier's registration goes (Linux)
    ctx = k.cpu.new_context()
    ctx.reg_write(REG_PC, exe.entry)
    ctx.reg_write(REG_SP, sp)
    if k.cpu.loaded is t.ctx:
        k.cpu.loaded = None
    t.ctx = ctx
    p.stats.peak_frames = max(p.stats.peak_frames, new.frames_in_use)
    return 0


HANDLERS = {Kind.FORK_LOAD: on_fork_load, Kind.REPARENT: on_reparent}
_ = ECHILD  # (wait's ECHILD comes from the process manager)

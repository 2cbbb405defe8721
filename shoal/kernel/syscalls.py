"""System calls: the Linux RV32 (asm-generic, time64) subset that static musl programs use.

One call is one small function in TABLE. A call gets the kernel, the calling thread and its
six arguments; it returns the value for a0 (negative errno on error) or raises Block.
Any number not in TABLE returns -ENOSYS and is counted, so a user can see what is missing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import (
    EACCES,
    EAGAIN,
    EBADF,
    EEXIST,
    EFAULT,
    EINVAL,
    ENODEV,
    ENOENT,
    ENOMEM,
    ENOSYS,
    ENOTTY,
    EPERM,
    ERANGE,
    ESPIPE,
    ESRCH,
    ETIMEDOUT,
    SIGNAL_NAMES,
)
from shoal.kernel import console, sched
from shoal.kernel.container import Block, Thread, TState
from shoal.kernel.memory import MAX_MAP_COUNT, PAGE, USER_TOP, Fault, Missing, OutOfFrames, Region
from shoal.platform.cpu import REG_A, REG_SP, REG_TP

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


Syscall = Callable[["Kernel", Thread, list[int]], int]
TABLE: dict[int, tuple[str, Syscall]] = {}
# Wall-clock time shown to guests: a fixed epoch (2026-01-01T00:00:00Z) plus simulated time,
# so that runs are reproducible.
EPOCH_NS = 1_767_225_600 * 1_000_000_000


def syscall(num: int, name: str) -> Callable[[Syscall], Syscall]:
    def reg(fn: Syscall) -> Syscall:
        TABLE[num] = (name, fn)
        return fn
    return reg


def dispatch(k: Kernel, t: Thread) -> None:
    """Called from the ecall trap: the pc already points past the ecall."""
    cpu = k.cpu
    regs = cpu.syscall_regs()
    num = regs[7]
    entry = TABLE.get(num)
    if (entry is not None and (sched.observes(t, entry[0]) or console.must_observe(k, t, entry[0], regs))
            and not sched.observe_now(k, t, k.now())):
        k.stop_reason = "park"  # redone once every packet it could see is here (sched.py)
        cpu.stop()
        return
    args = regs[:6]
    start = k.now()
    served = k.kernel_core(start, k.spec.syscall_cycles)
    t.proc.kcore_wait += served - k.spec.syscall_cycles
    k.charge(served)
    k.syscall_total += 1
    if entry is None:
        t.proc.unknown_syscalls[num] += 1
        t.proc.syscalls[f"#{num}"] += 1
        cpu.set_reg(REG_A[0], -ENOSYS)
        if k.tracer is not None:
            k.tracer.syscall(k, t, f"#{num}", start, k.now())
        return
    name, fn = entry
    t.proc.syscalls[name] += 1
    try:
        ret = fn(k, t, args)
    except Missing as m:
        # A page elsewhere (post-copy migration, remote memory): the call waits for it and is
        # made again from the start (sched.run_slice puts the pc back on the ecall).
        k.missing, k.missing_store = m.addr, m.kind == "store"
        k.stop_reason = "page"
        cpu.stop()
        return
    except Fault:
        ret = -EFAULT
    except OutOfFrames:
        ret = -ENOMEM
    except Block:
        k.stop_reason = "block"
        cpu.stop()
        return
    finally:
        # A deadline kept across a freeze belongs to the call that was backed out, which is
        # the first one the thread makes after the thaw: gone once that call has run (not when
        # it waits for a post-copy page and is made again: it keeps its deadline for that).
        if k.stop_reason != "page":
            t.restart_deadline = None
        if k.tracer is not None:
            k.tracer.syscall(k, t, name, start, k.now())
    if ret is _STOPPED:
        return
    cpu.set_reg(REG_A[0], ret)


_STOPPED = object()  # the call already ended the slice (exit, yield)


def s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def charge_copy(k: Kernel, n: int) -> None:
    k.charge(int(n * k.spec.copy_cycles_per_byte))


# --- I/O ---------------------------------------------------------------------------
@syscall(64, "write")
def sys_write(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    if fd not in t.proc.open_fds or fd == 0:
        return -EBADF
    return console.write(k, t, fd, [(a[1], a[2])])


@syscall(66, "writev")
def sys_writev(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, cnt = s32(a[0]), s32(a[2])
    if fd not in t.proc.open_fds or fd == 0:
        return -EBADF
    if cnt < 0 or cnt > 1024:
        return -EINVAL
    segs = console.segments(k, t, "writev", a)
    return -EINVAL if segs is None else console.write(k, t, fd, segs)


STDIN_MAX = 1 << 20  # bytes one read of stdin asks the daemon for


def read_stdin(k: Kernel, t: Thread, pieces: list[tuple[int, int]]) -> int:
    """Standard input is served by the I/O cluster's console daemon (which holds what the
    host gave the process), so a process reads the same stream wherever it runs and an
    image carries none of it. The reply's bytes fill `pieces` (address, length) in order."""
    want = min(sum(n for _, n in pieces), STDIN_MAX)
    if want == 0:
        return 0
    for buf, n in pieces:
        if n:
            t.proc.aspace.translate(buf, "store")  # EFAULT now rather than after the wait

    def got(reply: Packet, at: int) -> int:
        data = memoryview(reply.data)
        for buf, n in pieces:
            if not data:
                break
            t.proc.aspace.write(buf, data[:n])
            data = data[n:]
        return len(reply.data)
    k.rpc(t, "stdin", {"size": want}, got)
    return 0  # not reached: rpc blocks the thread


@syscall(63, "read")
def sys_read(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, buf, n = s32(a[0]), a[1], a[2]
    if fd not in t.proc.open_fds or fd != 0:
        return -EBADF
    return read_stdin(k, t, [(buf, n)])


@syscall(65, "readv")
def sys_readv(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, iov, cnt = s32(a[0]), a[1], s32(a[2])
    if cnt < 0 or cnt > 1024:
        return -EINVAL
    raw = t.proc.aspace.read(iov, 8 * cnt)
    if fd == 0 and fd in t.proc.open_fds:
        return read_stdin(k, t, [struct.unpack_from("<II", raw, 8 * i) for i in range(cnt)])
    total = 0
    for i in range(cnt):
        base, ln = struct.unpack_from("<II", raw, 8 * i)
        got = sys_read(k, t, [fd, base, ln])
        if got < 0:
            return got if total == 0 else total
        total += got
        if got < ln:
            break
    return total


@syscall(29, "ioctl")
def sys_ioctl(k: Kernel, t: Thread, a: list[int]) -> int:
    # No terminal: TIOCGWINSZ (and every other request) says "not a tty", so stdout is
    # fully buffered, as when a program's output goes to a file.
    return -EBADF if s32(a[0]) not in t.proc.open_fds else -ENOTTY


@syscall(57, "close")
def sys_close(k: Kernel, t: Thread, a: list[int]) -> int:
    fd = s32(a[0])
    if fd not in t.proc.open_fds:
        return -EBADF
    t.proc.open_fds.discard(fd)
    return 0


@syscall(62, "llseek")
def sys_llseek(k: Kernel, t: Thread, a: list[int]) -> int:
    return -EBADF if s32(a[0]) not in t.proc.open_fds else -ESPIPE


@syscall(25, "fcntl64")
def sys_fcntl(k: Kernel, t: Thread, a: list[int]) -> int:
    fd, cmd = s32(a[0]), a[1]
    if fd not in t.proc.open_fds:
        return -EBADF
    if cmd == 3:  # F_GETFL
        return 0 if fd == 0 else 1  # O_RDONLY / O_WRONLY
    return 0 if cmd in (1, 2, 4) else -EINVAL  # F_GETFD, F_SETFD, F_SETFL


@syscall(291, "statx")
def sys_statx(k: Kernel, t: Thread, a: list[int]) -> int:
    dirfd, path, flags, buf = s32(a[0]), a[1], a[2], a[4]  # a[3]: the mask
    name = t.proc.aspace.read_cstr(path)
    if name or not flags & 0x1000:  # only fstat (AT_EMPTY_PATH) of an open descriptor
        return -ENOENT
    if dirfd not in t.proc.open_fds:
        return -EBADF
    st = bytearray(256)
    struct.pack_into("<IIQIIIH", st, 0, 0x7FF, 4096, 0, 1, 0, 0, 0o20620)  # char device
    t.proc.aspace.write(buf, st)
    return 0


@syscall(17, "getcwd")
def sys_getcwd(k: Kernel, t: Thread, a: list[int]) -> int:
    if a[1] < 2:
        return -ERANGE
    t.proc.aspace.write(a[0], b"/\0")
    return 2


# --- memory --------------------------------------------------------------------------
@syscall(214, "brk")
def sys_brk(k: Kernel, t: Thread, a: list[int]) -> int:
    p, want = t.proc, a[0]
    if want == 0 or want < p.brk_start:
        return p.brk
    old_end = (p.brk + PAGE - 1) & ~(PAGE - 1)
    new_end = (want + PAGE - 1) & ~(PAGE - 1)
    if new_end > old_end:
        if (new_end - p.brk_start > 256 << 20 or not p.aspace.is_free(old_end, new_end)
                or p.aspace.map_count >= MAX_MAP_COUNT):
            return p.brk
        p.aspace.add_region(Region(old_end, new_end, 3, "[heap]"))
    elif new_end < old_end and not p.aspace.remove_range(new_end, old_end):
        return p.brk
    p.brk = want
    return want


MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANON, MAP_FIXED_NOREPLACE = 1, 2, 0x10, 0x20, 0x100000
MMAP_TOP = USER_TOP - (64 << 20)  # below the 8 MiB stack and a guard gap


@syscall(222, "mmap2")
def sys_mmap2(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length, prot, flags, fd = a[0], a[1], a[2], a[3], s32(a[4])
    if length == 0 or length > USER_TOP or prot & ~7:
        return -EINVAL
    shared = None
    if not flags & MAP_ANON:
        f = t.proc.files.get(fd)
        if f is None or f[0] != "shm" or not flags & MAP_SHARED:
            return -EBADF if fd not in t.proc.open_fds else -ENODEV
        if prot & 2 and f[3] & 3 != 2:  # a writable mapping of an object not opened O_RDWR
            return -EACCES
        shared = (f[2], a[5])  # the object, and the first page (mmap2's offset is in pages)
    if flags & MAP_SHARED and flags & MAP_PRIVATE:
        return -EINVAL
    length = (length + PAGE - 1) & ~(PAGE - 1)
    asp = t.proc.aspace
    if asp.map_count >= MAX_MAP_COUNT:
        return -ENOMEM  # as Linux does at vm.max_map_count
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr & (PAGE - 1) or addr + length > USER_TOP or addr < PAGE:
            return -EINVAL
        if not asp.is_free(addr, addr + length):
            if flags & MAP_FIXED_NOREPLACE:
                return -EEXIST
            if not asp.remove_range(addr, addr + length):
                return -ENOMEM
        start = addr
    else:
        hint = addr & ~(PAGE - 1)
        if hint and hint + length <= MMAP_TOP and asp.is_free(hint, hint + length):
            start = hint
        else:
            gap = asp.find_gap(length, MMAP_TOP)
            if gap is None:
                return -ENOMEM
            start = gap
    if shared is None:
        asp.add_region(Region(start, start + length, prot, "[anon]"))
        return start
    obj, first = shared
    asp.add_region(Region(start, start + length, prot, f"[shm:{obj}]"))
    for i in range(length // PAGE):  # its pages are the object's (kernel/shm.py)
        asp.shared[start + i * PAGE] = (obj, first + i)
    return start




@syscall(215, "munmap")
def sys_munmap(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length = a[0], a[1]
    if addr & (PAGE - 1) or length == 0 or addr + length > USER_TOP:
        return -EINVAL
    if not t.proc.aspace.remove_range(addr, addr + ((length + PAGE - 1) & ~(PAGE - 1))):
        return -ENOMEM  # the split would pass MAX_MAP_COUNT, as on Linux
    return 0


@syscall(226, "mprotect")
def sys_mprotect(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length, prot = a[0], a[1], a[2]
    if addr & (PAGE - 1) or prot & ~7:
        return -EINVAL
    end = addr + ((length + PAGE - 1) & ~(PAGE - 1))
    if end > USER_TOP:
        return -ENOMEM
    return 0 if t.proc.aspace.protect(addr, end, prot) else -ENOMEM


@syscall(233, "madvise")
def sys_madvise(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, length, advice = a[0], a[1], a[2]
    if addr & (PAGE - 1):
        return -EINVAL
    if advice in (4, 8):  # MADV_DONTNEED, MADV_FREE: give the frames back; zero on next touch
        end = addr + ((length + PAGE - 1) & ~(PAGE - 1))
        if not t.proc.aspace.discard(addr, end):
            return -ENOMEM
    return 0


# --- threads and processes ---------------------------------------------------------
CLONE_VM, CLONE_THREAD, CLONE_SETTLS = 0x100, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000


@syscall(220, "clone")
def sys_clone(k: Kernel, t: Thread, a: list[int]) -> int:
    flags, stack, ptid, tls, ctid = a[0], a[1], a[2], a[3], a[4]
    if not flags & CLONE_VM or not flags & CLONE_THREAD:
        return -ENOSYS  # fork-like clones: processes are created with shoal's spawn
    if stack == 0:
        return -EINVAL
    cpu = k.cpu
    ctx = cpu.uc.context_save()  # the parent's registers, pc already past the ecall
    ctx.reg_write(REG_A[0], 0)
    ctx.reg_write(REG_SP, stack)
    if flags & CLONE_SETTLS:
        ctx.reg_write(REG_TP, tls)
    child = k.new_thread(t.proc, ctx, k.now())
    if flags & CLONE_PARENT_SETTID:
        t.proc.aspace.write(ptid, struct.pack("<I", child.tid))
    if flags & CLONE_CHILD_SETTID:
        t.proc.aspace.write(ctid, struct.pack("<I", child.tid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_tid = ctid
    return child.tid


@syscall(96, "set_tid_address")
def sys_set_tid_address(k: Kernel, t: Thread, a: list[int]) -> int:
    t.clear_tid = a[0]
    return t.tid


@syscall(99, "set_robust_list")
def sys_set_robust_list(k: Kernel, t: Thread, a: list[int]) -> int:
    return 0


@syscall(93, "exit")
def sys_exit(k: Kernel, t: Thread, a: list[int]) -> object:
    now = k.now()
    p = t.proc
    if t.clear_tid:
        try:
            p.aspace.write(t.clear_tid, b"\0\0\0\0")
            futex_wake(k, p.pid, t.clear_tid, 1, 0xFFFFFFFF, now)
        except (Fault, OutOfFrames):
            pass  # as on Linux, a bad clear_tid address is ignored at thread exit
    t.state = TState.DEAD
    t.blocked_at = now  # its last cycle (a deadlock of the threads left is no earlier)
    if all(x.state is TState.DEAD for x in p.threads):
        k.kill(p, None, a[0] & 0xFF, "", now)
    else:
        k.stop_reason = "dead"
        k.cpu.stop()
    return _STOPPED


@syscall(94, "exit_group")
def sys_exit_group(k: Kernel, t: Thread, a: list[int]) -> object:
    k.kill(t.proc, None, a[0] & 0xFF, "", k.now())
    return _STOPPED


@syscall(124, "sched_yield")
def sys_sched_yield(k: Kernel, t: Thread, a: list[int]) -> object:
    k.cpu.set_reg(REG_A[0], 0)
    if k.ready:
        k.stop_reason = "yield"
        k.cpu.stop()
    return _STOPPED


@syscall(172, "getpid")
def sys_getpid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.proc.pid


@syscall(178, "gettid")
def sys_gettid(k: Kernel, t: Thread, a: list[int]) -> int:
    return t.tid


@syscall(173, "getppid")
def sys_getppid(k: Kernel, t: Thread, a: list[int]) -> int:
    return 0


for _num, _name in ((174, "getuid"), (175, "geteuid"), (176, "getgid"), (177, "getegid")):
    syscall(_num, _name)(lambda k, t, a: 0)


IGNORED_BY_DEFAULT = {17, 23, 28}  # SIGCHLD, SIGURG, SIGWINCH


def _signal_self(k: Kernel, t: Thread, sig: int) -> object:
    if sig == 0 or sig in IGNORED_BY_DEFAULT:
        return 0
    if not 1 <= sig <= 64:
        return -EINVAL
    # No handlers are delivered yet: every other signal takes its default action, termination.
    k.kill(t.proc, sig, None, f"killed: {SIGNAL_NAMES.get(sig, f'signal {sig}')}", k.now())
    return _STOPPED


@syscall(130, "tkill")
def sys_tkill(k: Kernel, t: Thread, a: list[int]) -> object:
    if not any(x.tid == s32(a[0]) and x.state is not TState.DEAD for x in t.proc.threads):
        return -ESRCH
    return _signal_self(k, t, a[1])


@syscall(131, "tgkill")
def sys_tgkill(k: Kernel, t: Thread, a: list[int]) -> object:
    if s32(a[0]) != t.proc.pid:
        return -ESRCH
    return sys_tkill(k, t, a[1:])


@syscall(129, "kill")
def sys_kill(k: Kernel, t: Thread, a: list[int]) -> object:
    return _signal_self(k, t, a[1]) if s32(a[0]) in (t.proc.pid, 0) else -ESRCH


@syscall(134, "rt_sigaction")
def sys_rt_sigaction(k: Kernel, t: Thread, a: list[int]) -> int:
    sig, new, old, setsize = s32(a[0]), a[1], a[2], a[3]
    if not 1 <= sig <= 64 or setsize != 8 or (new and sig in (9, 19)):
        return -EINVAL
    if new:
        t.proc.aspace.read(new, 8 + setsize)
    if old:  # struct k_sigaction on RISC-V: handler, flags, mask (no restorer)
        t.proc.aspace.write(old, bytes(8 + setsize))
    return 0  # accepted; signal delivery comes later


@syscall(135, "rt_sigprocmask")
def sys_rt_sigprocmask(k: Kernel, t: Thread, a: list[int]) -> int:
    if a[0] > 2 or a[3] != 8:
        return -EINVAL
    if a[1]:
        t.proc.aspace.read(a[1], 8)
    if a[2]:
        t.proc.aspace.write(a[2], bytes(8))
    return 0


@syscall(132, "sigaltstack")
def sys_sigaltstack(k: Kernel, t: Thread, a: list[int]) -> int:
    return 0


# --- futex ---------------------------------------------------------------------------
FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 0, 1, 3, 4
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_CLOCK_REALTIME = 256


def futex_wake(k: Kernel, pid: int, addr: int, n: int, bits: int, now: int) -> int:
    q = k.futexes.get((pid, addr), [])
    woken = 0
    for w in list(q):
        if woken >= n:
            break
        if w.wait_bits & bits:
            k.wake(w, now, 0)
            woken += 1
    return woken


def read_timespec(t: Thread, addr: int) -> int | None:
    """A struct timespec64 (s64 seconds, long nanoseconds) as ns; None if invalid."""
    sec, nsec = struct.unpack("<qi", t.proc.aspace.read(addr, 12))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        return None
    return sec * 1_000_000_000 + nsec


def ns_to_cycles(k: Kernel, ns: int) -> int:
    return -(-ns * k.spec.freq_hz // 1_000_000_000)


def cycles_to_ns(k: Kernel, cycles: int) -> int:
    return cycles * 1_000_000_000 // k.spec.freq_hz


@syscall(422, "futex_time64")
def sys_futex(k: Kernel, t: Thread, a: list[int]) -> int:
    addr, op, val, tsp, addr2, val3 = a
    cmd = op & 127
    if addr & 3:
        return -EINVAL
    pid = t.proc.pid
    now = k.now()
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bits = val3 if cmd == FUTEX_WAIT_BITSET else 0xFFFFFFFF
        if bits == 0:
            return -EINVAL
        deadline = None
        if tsp:
            ns = read_timespec(t, tsp)
            if ns is None:
                return -EINVAL
            if cmd == FUTEX_WAIT:
                deadline = now + ns_to_cycles(k, ns)
            else:
                base = EPOCH_NS if op & FUTEX_CLOCK_REALTIME else 0
                deadline = ns_to_cycles(k, max(ns - base, 0)) + t.proc.clock_offset
        if struct.unpack("<I", t.proc.aspace.read(addr, 4))[0] != val:
            return -EAGAIN
        if t.restart_deadline is not None:  # redone after a freeze: the original deadline holds
            deadline = t.restart_deadline + t.proc.clock_offset
        if deadline is not None and deadline <= now:
            return -ETIMEDOUT
        k.block(t, (pid, addr), deadline, bits, timeout_value=-ETIMEDOUT)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bits = val3 if cmd == FUTEX_WAKE_BITSET else 0xFFFFFFFF
        if bits == 0:
            return -EINVAL
        t.proc.aspace.read(addr, 4)
        return futex_wake(k, pid, addr, val, bits, now)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        if addr2 & 3:
            return -EINVAL
        if cmd == FUTEX_CMP_REQUEUE and struct.unpack("<I", t.proc.aspace.read(addr, 4))[0] != val3:
            return -EAGAIN
        woken = futex_wake(k, pid, addr, val, 0xFFFFFFFF, now)
        moved = 0
        src = k.futexes.get((pid, addr), [])
        while src and moved < tsp:  # the fourth argument is the requeue count here
            w = src.pop(0)
            w.wait_key = (pid, addr2)
            k.futexes.setdefault((pid, addr2), []).append(w)
            moved += 1
        if not src:
            k.futexes.pop((pid, addr), None)
        return woken + moved
    return -ENOSYS


# --- time ------------------------------------------------------------------------------
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME, CLOCK_THREAD_CPUTIME = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7


def clock_ns(k: Kernel, t: Thread, clock: int) -> int | None:
    # The process's own clock: the chip's, less the offset a restore from an image put in,
    # so that it goes on from where the image was taken and never goes back.
    now = cycles_to_ns(k, k.now() - t.proc.clock_offset)
    if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE):
        return EPOCH_NS + now
    if clock in (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME):
        return now
    if clock == CLOCK_PROCESS_CPUTIME:
        return cycles_to_ns(k, t.proc.instructions * k.spec.cpi + k.cpu.executed() * k.spec.cpi)
    if clock == CLOCK_THREAD_CPUTIME:
        return cycles_to_ns(k, (t.instructions + k.cpu.executed()) * k.spec.cpi)
    return None


@syscall(403, "clock_gettime64")
def sys_clock_gettime(k: Kernel, t: Thread, a: list[int]) -> int:
    ns = clock_ns(k, t, s32(a[0]))
    if ns is None:
        return -EINVAL
    t.proc.aspace.write(a[1], struct.pack("<qii", ns // 1_000_000_000, ns % 1_000_000_000, 0))
    return 0


@syscall(406, "clock_getres_time64")
def sys_clock_getres(k: Kernel, t: Thread, a: list[int]) -> int:
    if clock_ns(k, t, s32(a[0])) is None:
        return -EINVAL
    if a[1]:
        res = max(1, 1_000_000_000 // k.spec.freq_hz)
        t.proc.aspace.write(a[1], struct.pack("<qii", 0, res, 0))
    return 0


@syscall(407, "clock_nanosleep_time64")
def sys_clock_nanosleep(k: Kernel, t: Thread, a: list[int]) -> int:
    clock, flags, req = s32(a[0]), a[1], a[2]
    if clock not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME):
        return -EINVAL
    ns = read_timespec(t, req)
    if ns is None:
        return -EINVAL
    now = k.now()
    if flags & 1:  # TIMER_ABSTIME
        base = EPOCH_NS if clock == CLOCK_REALTIME else 0
        deadline = ns_to_cycles(k, max(ns - base, 0)) + t.proc.clock_offset
    else:
        deadline = now + ns_to_cycles(k, ns)
    if t.restart_deadline is not None:  # redone after a freeze: the original deadline holds
        deadline = t.restart_deadline + t.proc.clock_offset
    if deadline <= now:
        return 0
    k.block(t, None, deadline, why="sleep")
    return 0


# --- system information ------------------------------------------------------------------
@syscall(160, "uname")
def sys_uname(k: Kernel, t: Thread, a: list[int]) -> int:
    fields = [b"Linux", f"shoal-cluster{k.cluster}".encode(), b"6.1.0-shoal", b"#1 shoal",
              b"riscv32", b"(none)"]
    t.proc.aspace.write(a[0], b"".join(f.ljust(65, b"\0") for f in fields))
    return 0


@syscall(278, "getrandom")
def sys_getrandom(k: Kernel, t: Thread, a: list[int]) -> int:
    buf, n, flags = a[0], a[1], a[2]
    if flags & ~7:
        return -EINVAL
    n = min(n, 1 << 20)
    t.proc.aspace.write(buf, t.proc.random_bytes(n))
    charge_copy(k, n)
    return n


RLIM_INFINITY = (1 << 64) - 1


@syscall(261, "prlimit64")
def sys_prlimit64(k: Kernel, t: Thread, a: list[int]) -> int:
    pid, res, new, old = s32(a[0]), a[1], a[2], a[3]
    if pid not in (0, t.proc.pid):
        return -ESRCH
    if res >= 16:
        return -EINVAL
    limits = {3: k.spec.stack_limit, 7: 1024}  # RLIMIT_STACK, RLIMIT_NOFILE
    if old:
        v = limits.get(res, RLIM_INFINITY)
        t.proc.aspace.write(old, struct.pack("<QQ", v, v))
    if new:
        t.proc.aspace.read(new, 16)
        return -EPERM
    return 0


@syscall(123, "sched_getaffinity")
def sys_sched_getaffinity(k: Kernel, t: Thread, a: list[int]) -> int:
    size, buf = a[1], a[2]
    n = k.spec.cores_per_cluster
    nbytes = (n + 31) // 32 * 4
    if size < nbytes:
        return -EINVAL
    t.proc.aspace.write(buf, ((1 << n) - 1).to_bytes(nbytes, "little"))
    return nbytes

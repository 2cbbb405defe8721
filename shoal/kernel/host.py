"""Requests from the host to one cluster's kernel, and the records it publishes.

The host (the Python API, the command line) never holds a kernel's objects: it asks a
kernel to do something at the chip's current time (start a program, move or checkpoint a
process, load an image) and reads plain records back. Under the in-process backend these
are function calls; under a distributed one they travel to the rank that owns the cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.abi import EBUSY, SIGKILL
from shoal.errors import ShoalError
from shoal.kernel import image, report, signals
from shoal.kernel.calls.common import s32
from shoal.kernel.container import TState
from shoal.kernel.debug import debug  # noqa: F401  (what the GDB stub asks: kernel/debug.py)
from shoal.kernel.loader import Executable
from shoal.kernel.memory import OutOfFrames
from shoal.kernel.migrate import ACTIVE, CHECKPOINT, Migration, request, thaw
from shoal.kernel.records import ProcessRecord, process_record  # noqa: F401  (the API's import)
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.container import Container
    from shoal.kernel.kernel import Kernel


@dataclass(frozen=True)
class ClusterRecord:
    """What a cluster's kernel publishes about itself."""

    cluster: int
    harts: int
    frames_total: int
    frames_free: int
    frames_reserved: int  # promised to incoming migrations
    processes: tuple[int, ...]  # pids of the processes it runs now
    instructions: int
    syscalls: int
    packets_in: int
    pointers: dict[int, int]  # forwarding pointers kept here: pid -> cluster it moved to
    locations: dict[str, int]  # location.Counters: forwarded, relayed, notices, ...
    caches: tuple[int, ...] = ()  # the L1 model's counts (container.CACHE_COUNTS), if it runs
    kernel_caches: tuple[int, ...] = ()  # the kernel core's (kernel/kmem.py)


def processes(k: Kernel) -> list[ProcessRecord]:
    """Every process this kernel runs or ran: those here now and moved away, then those that
    ended here (kernel/records.py: how many of these are kept)."""
    return [process_record(c) for c in k.stats.all_procs] + k.stats.ended.records()


def keep_record(k: Kernel, pid: int) -> None:
    """The host holds a handle on process `pid` (Chip.spawn, restore): its record is kept
    when it ends here, whichever cluster it started on (told to every kernel)."""
    k.stats.ended.keep.add(pid)


def ended_processes(k: Kernel) -> tuple[int, int, int]:
    """Processes that ended here whose records were not kept: (count, killed, instructions)."""
    e = k.stats.ended
    return e.folded, e.folded_killed, e.folded_instructions


def migrations(k: Kernel) -> list[Migration]:
    """Copies of this kernel's migration records, without what only the kernel may hold."""
    return [m.record() for m in k.migration.log]


def cache_windows(k: Kernel) -> dict[int, tuple[int, int]]:
    """The stall of the processes that moved here, after their thaw, by migration id (the
    L1 model's; Migration.stall_after and stall_next)."""
    return {mid: (e.window.figures[0], e.window.figures[1]) for mid, e in k.migration.incoming.items()
            if e.window is not None}


def cluster(k: Kernel) -> ClusterRecord:
    return ClusterRecord(k.cluster, len(k.sched.harts), k.frames.total, k.frames.free,
                         k.migration.reserved_frames,
                         tuple(c.pid for c in k.procs if c.alive), k.stats.instructions, k.stats.syscalls,
                         k.stats.packets_in, dict(k.migration.moved), dict(vars(k.stats.locations)),
                         tuple(k.stats.caches) if any(k.stats.caches) else (),
                         tuple(k.core.caches) if any(k.core.caches) else ())


def _find(k: Kernel, pid: int) -> Container:
    c = k.find_proc(pid)
    if c is None or not c.alive:
        raise ShoalError(f"process {pid} is not running on cluster {k.cluster}")
    return c


def spawn(k: Kernel, exe: Executable, argv: list[str], envp: list[str], pid: int, seed: int,
          at: int, user: tuple[int, int] = (0, 0)) -> None:
    """Start `exe` as process `pid`, running as user and group `user` (real, effective, saved
    and file-system ids; root by default)."""
    try:
        p = k.spawn(exe, argv, envp, pid, seed, at)
        p.user.ids = [s32(user[0])] * 4 + [s32(user[1])] * 4  # (as the set*id calls keep ids: cred.py)
    except OutOfFrames:
        raise ShoalError(f"{exe.name}: cluster {k.cluster} has no memory for the program") from None
    report.wake(k, at)


def set_reporting(k: Kernel, period: int, at: int) -> None:
    """Load reports to the policy daemon every `period` cycles from `at` (0: off)."""
    report.start(k, period, at)


def _moving(k: Kernel, pid: int) -> bool:
    """A move of `pid` from here is under way (committed: it is in transit to another cluster)."""
    return any(m.pid == pid and m.state in ACTIVE for m in k.migration.outgoing.values())


def migrate(k: Kernel, pid: int, to: int, at: int, method: str = "stopcopy",
            options: dict | None = None) -> int:
    """Start moving `pid` to cluster `to` at `at` by `method`; its record's id, or a negative
    errno."""
    if _moving(k, pid):
        return -EBUSY
    err = request(k, _find(k, pid), to, at, "host", method=method, options=options)
    return err or k.migration.log[-1].mid


def set_method(k: Kernel, method: str) -> None:
    """The method of guest migrations that name none (shoal_migrate)."""
    k.migration.default_method = method


def checkpoint(k: Kernel, pid: int, at: int, stop: bool) -> int:
    if _moving(k, pid):
        return -EBUSY
    err = request(k, _find(k, pid), CHECKPOINT, at, "host", stop=stop)
    return err or k.migration.log[-1].mid


def take_image(k: Kernel, mid: int) -> bytes:
    """The image a finished checkpoint took (handed over once)."""
    for m in k.migration.log:
        if m.mid == mid:
            data, m.image = m.image, b""
            return data
    raise ShoalError(f"no checkpoint {mid} on cluster {k.cluster}")


def kill(k: Kernel, pid: int, signal: int, at: int) -> None:
    """End a process now, as a signal's default action would (its endpoints close, its
    frames go back, its waiters are told)."""
    from shoal.abi import SIGNAL_NAMES
    name = SIGNAL_NAMES.get(signal, f"signal {signal}")
    k.kill(_find(k, pid), signal, None, f"killed: {name} (sent by the host)", at)


def _stuck_since(c: Container) -> int:
    """When a deadlocked process's deadlock was established: the latest cycle any of its
    threads reached (each went to sleep, or ended, or stopped, then; nothing of it ran after)."""
    return max([c.stats.start_cycle, c.stats.ended_at, *(t.ready_at if t.state is TState.READY
                                                          else t.blocked_at for t in c.threads)])


def deadlock_time(k: Kernel) -> int | None:
    """The latest cycle at which a live (so deadlocked) process of this cluster last ran."""
    return max((_stuck_since(c) for c in k.procs if c.alive), default=None)


def deadlock(k: Kernel, at: int) -> None:
    """Nothing on the chip can wake these processes any more: end them, with the reason. Each
    ends at the cycle its deadlock was established (its time is what it ran, as Linux's
    would be up to the kill, not 0 or the host's last action); what the kill sends (exit,
    endpoints closed) leaves at `at`, when the chip found it, so that nothing goes back in time."""
    for c in list(k.procs):
        if not c.alive:
            continue
        when = _stuck_since(c)
        why = (f"stopped by {signals.name(c.sig.stopped)} and nothing can continue it" if c.sig.stopped
               else "every thread is blocked and nothing can wake it")
        k.kill(c, SIGKILL, None, f"killed: deadlock ({why})", at)
        c.stats.end_cycle = when


def last_exit(k: Kernel) -> int | None:
    return k.stats.last_exit


def reached(k: Kernel) -> int:
    """The latest simulated time this cluster has got to: its last item, or a hart's clock."""
    return max(k.sched.item_time, *(h.clock for h in k.sched.harts))


def restore(k: Kernel, data: bytes, at: int, where: str) -> int:
    """Load an image here and let it run from now; its pid."""
    meta, pages = image.check(data, where)
    need = image.frames_needed(meta, pages)
    if need > k.frames.free - k.migration.reserved_frames:
        raise ShoalError(f"{where}: cluster {k.cluster} has no room for it "
                         f"({need} frames needed, {k.frames.free - k.migration.reserved_frames} free)")
    c = image.restore(k, data, at, where, rebase=True)
    c.stats.start_cycle = at  # its simulated time on this chip starts now
    # A forked child used its parent's console stream (its tty), which is not on this chip
    # (nor kept once the parent ended): restored, it has its own, the host's output and input.
    c.family.tty = 0
    k.adopt(c)
    thaw(k, c, at, 0)
    report.wake(k, at)
    return c.pid

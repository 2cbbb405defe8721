"""A container: everything one process owns, kept apart from kernel internals."""

from __future__ import annotations

from collections import Counter
from dataclasses import field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING

from shoal.abi import INIT_PID
from shoal.kernel.memory import AddressSpace
from shoal.record import dataclass
from shoal.sha import sha256

if TYPE_CHECKING:
    from shoal.kernel.timers import Timer


class Block(Exception):
    """Raised by a system call that puts its thread to sleep."""


class TState(Enum):
    READY = "ready"
    RUNNING = "running"
    BLOCKED = "blocked"
    FROZEN = "frozen"
    DEAD = "dead"


@dataclass(eq=False, slots=True)
class ThreadSignals:
    """A thread's signal state (kernel/signals.py)."""

    mask: int = 0  # blocked signals: bit n-1 for signal n
    pending: list[tuple[int, ...]] = field(default_factory=list)  # sent to this thread (siginfo tuples)
    altstack: tuple[int, int, int] = (0, 0, 2)  # the alternate stack (sp, size, flags): SS_DISABLE
    interrupted: list[int] | None = None  # a blocking call a signal cut short: [a0, restartable]
    resume: dict | None = None  # registers rt_sigreturn puts back
    saved: int | None = None  # the mask rt_sigsuspend/rt_sigtimedwait replaced meanwhile
    waiting: list[int] | None = None  # rt_sigtimedwait: [signals waited for, info address]


@dataclass(eq=False, slots=True)
class ProcSignals:
    """A process's signal state (kernel/signals.py)."""

    # set by rt_sigaction: signal -> [handler, flags, mask]; absent: SIG_DFL
    actions: dict[int, list[int]] = field(default_factory=dict)
    pending: list[tuple[int, ...]] = field(default_factory=list)  # sent to the process
    tramp: int = 0  # where the page holding the rt_sigreturn trampoline is mapped (0: not yet)
    stopped: int = 0  # the stop signal that stopped the process (0: it runs); sched skips it


@dataclass(eq=False, slots=True)
class Kept:
    """The answer to a thread's request that could not be written into its memory (a page
    held by another cluster or in remote memory): kept until the same request is made again
    once the page is here, which it then answers, not asked again (kernel/answers.py). `key`
    names the request; `body` is the reply's (None for a portal's data), `data` its payload."""

    key: str
    body: object
    data: bytes


@dataclass(eq=False, slots=True)
class CallState:
    """A thread's call between its tries, in its record so that a migration or an image
    carries it (kernel/image.py), or, where it is not carried, the call asks again."""

    kept: Kept | None = None  # an answer that waits for its page (kernel/answers.py): carried
    fifo: int = 0  # the FIFO's pipe its open waits at (kernel/fifos.py): carried
    sent: int = 0  # a blocking stream send's bytes already in (calls/sockdata.py): carried
    # A regular file's read or write of several pieces waiting for a page (kernel/files.py):
    # how far it is, and a read's answer not yet copied: carried (its open file by descriptor,
    # image.py: _file_call_meta), so that a call frozen after its page came and before it went
    # on goes on after the move (started over, an O_APPEND write appended its first pieces twice)
    file: tuple | None = None
    file_answer: tuple | None = None
    polled: dict[int, int] | None = None  # poll's masks from the servers (calls/poll.py): not
    parked: int = 0  # the op of its poll query parked at the server (calls/poll.py): this kernel's
    # an absolute CLOCK_REALTIME wait's time (ns) and the deadline it gave: a clock_settime
    # moves that deadline (calls/time.py: set_realtime)
    realtime_at: tuple[int, int] | None = None


@dataclass(eq=False)
class Thread:
    """A thread of a container: its hart state while off a hart, and its waits."""

    tid: int
    proc: Container
    ctx: object  # the hart state (a Unicorn context) while not on a hart
    state: TState = TState.READY
    ready_at: int = 0  # simulated cycle from which it may run
    blocked_at: int = 0  # simulated cycle at which it last went to sleep
    clear_tid: int = 0  # set_tid_address / CLONE_CHILD_CLEARTID
    robust_list: int = 0  # set_robust_list's head (walked when the thread ends: calls/futex.py)
    comm: str | None = None  # its name (prctl PR_SET_NAME, latin-1, at most 15 bytes); None: the program's
    wait_key: tuple[int, int] | None = None  # futex it sleeps on
    wait_bits: int = 0xFFFFFFFF
    deadline: int | None = None  # timed wait (cycles)
    timeout_value: int = 0  # a0 when the deadline passes
    blocked_on: str = ""  # what a blocked thread waits for (decides how a freeze handles it)
    restart_deadline: int | None = None  # a timed wait backed out by a freeze resumes with it
    ipc_wait_next: bool = False  # its IPC call found nothing ready: made again, it waits first (ipc.py)
    instructions: int = 0
    sig: ThreadSignals = field(default_factory=lambda: ThreadSignals())
    stall: int = 0  # cycles its instructions stalled on cache misses (platform/cpu.py)
    call: CallState = field(default_factory=lambda: CallState())
    # sched_setscheduler's policy (SCHED_RESET_ON_FORK bit included) and real-time priority:
    # kept per thread as Linux keeps them, reported back, not read by the scheduler (calls/prio.py)
    policy: int = 0
    rtprio: int = 0


class FileKind(StrEnum):
    """What an open descriptor names (kernel/files.py)."""

    FILE = "file"
    DIR = "dir"
    MQ = "mq"  # a message queue (kernel/calls/ipc.py)
    SHM = "shm"  # a shared memory object under /dev/shm; its handle is the object (kernel/shm.py)
    DEV = "dev"  # /dev/null, /dev/zero, /dev/random, /dev/urandom, served by the kernel
    CON = "con"  # the console: a dup of 0-2 (kernel/console.py)
    PIPE = "pipe"  # an end of a pipe; its handle is the pipe's number (kernel/pipes.py)
    SOCK = "sock"  # a socket: the socket server's handle; path "family:type" (kernel/calls/socket.py)


@dataclass(eq=False, slots=True)
class OpenFile:
    """An open file description: one object for every descriptor that shares it (dup, fork),
    so that the offset and status flags are shared, as on Linux. The server keeps the file
    itself under `handle` (a server that does not know it opens `path` again)."""

    kind: FileKind
    path: str  # the absolute path it was opened by ("" for the console and pipes)
    handle: int  # the server's handle (a console's: its stream; shm's: the object)
    flags: int  # the open flags
    offset: int = 0  # for a directory, the index of its next entry

    def to_list(self) -> list:
        """As an image holds it: [kind, path, handle, flags, offset] (kernel/image.py)."""
        return [self.kind.value, self.path, self.handle, self.flags, self.offset]

    @classmethod
    def from_list(cls, f: list) -> OpenFile:
        """From an image's (validated) list."""
        return cls(FileKind(f[0]), f[1], f[2], f[3], f[4])


# What the L1 model counts, per process and cluster (kernel/sched.py adds a slice's worth).
# stall: cycles the misses cost, bank_wait among them (bank_waits: misses that waited).
CACHE_COUNTS = ("loads", "stores", "load_misses", "store_misses", "fetches", "fetch_misses", "stall",
                "bank_waits", "bank_wait")

# A moved process's stall is watched for two windows of this many cycles after its thaw
# (kernel/sched.py, migrate/destination.py): 250 us at 400 MHz, far longer than refilling
# two 8 KiB caches (256 lines x 12 cycles), so that the first holds the refill and the
# second is the process warm again at its new place.
CACHE_WINDOW = 100_000


@dataclass(eq=False)
class CacheWindow:
    """The stall cycles of a moved process (all threads) in [thaw, mid_at) and [mid_at, end_at)."""

    mid_at: int
    end_at: int
    figures: list[int] = field(default_factory=lambda: [0, 0])


@dataclass(eq=False, slots=True)
class FileTable:
    """A process's descriptors and file-system context (kernel/files.py, kernel/calls/fs.py)."""

    open_fds: set[int] = field(default_factory=lambda: {0, 1, 2})
    files: dict[int, OpenFile] = field(default_factory=dict)  # fd -> its open file
    cloexec: set[int] = field(default_factory=set)  # descriptors closed at exec (FD_CLOEXEC)
    cwd: str = "/"  # the working directory, absolute and canonical (kernel/calls/fs.py: chdir)
    umask: int = 0o022  # the file-mode creation mask (umask(2)); Linux's default
    locks: bool = False  # it set a record lock: its closes tell the file server (kernel/files.py)


@dataclass(eq=False, slots=True)
class ProcSched:
    """What the process asked of the scheduler (Linux's kernel/sched/ keeps both): its nice
    value, -20..19 (kernel/calls/prio.py; shoal's scheduler ignores it), and whether it
    registered for MEMBARRIER_CMD_PRIVATE_EXPEDITED (kernel/calls/mlock.py)."""

    nice: int = 0
    membarrier: bool = False


@dataclass(eq=False, slots=True)
class User:
    """Whose the process is (kernel/calls/cred.py, as Linux's struct cred): its user and group ids
    [ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid] and supplementary groups."""

    ids: list[int] = field(default_factory=lambda: [0] * 8)
    groups: list[int] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Family:
    """fork and exec (kernel/calls/fork.py): its parent, the pid whose console it writes to and
    reads from (0: its own; a fork's child shares its parent's, as a terminal is shared), the
    children it forked and has not reaped. The host's processes, and orphans once told, have
    init (pid 1) as parent."""

    ppid: int = INIT_PID
    tty: int = 0
    children: set[int] = field(default_factory=set)
    pdeathsig: int = 0  # PR_SET_PDEATHSIG: sent to it when its parent ends (0: none; fork clears it)
    fork_fetches: int = 0  # pages a fork fetched back for its shared memory (kernel/forkmem.py)


@dataclass(eq=False, slots=True)
class ExitStatus:
    """How it ended (Kernel.kill): an exit code or a signal, and a line saying why."""

    code: int | None = None
    signal: int | None = None
    message: str = ""


@dataclass(eq=False, slots=True)
class ProcStats:
    """What a process did and cost, for its record (kernel/host.py) and its image."""

    start_cycle: int = 0
    end_cycle: int | None = None
    syscalls: Counter[str] = field(default_factory=Counter)
    unknown_syscalls: Counter[int] = field(default_factory=Counter)
    caches: list[int] = field(default_factory=lambda: [0] * len(CACHE_COUNTS))
    kcaches: list[int] = field(default_factory=lambda: [0] * len(CACHE_COUNTS))  # kernel mode's
    peak_frames: int = 0
    children: list[int] = field(default_factory=lambda: [0, 0])  # reaped children's [user, system] cycles
    kcore_wait: int = 0  # cycles its calls queued for the kernel core
    # Remote memory (kernel/rmem.py): touches of pages kept there, pages sent there, and the
    # cycles its threads waited for pages to come back (all threads together).
    rmem_faults: int = 0
    evictions: int = 0
    page_wait: int = 0
    shm_faults: int = 0  # touches of shared pages held by another cluster (kernel/shm.py)
    dead_instructions: int = 0  # instructions of threads that left `threads` or ended before a move
    # Threads that ended while the process ran on, dropped from `threads` (their records and
    # emulator contexts would grow with every thread a server makes): how many, and the last
    # cycle one reached (a deadlock of the threads left is no earlier).
    threads_ended: int = 0
    ended_at: int = 0


@dataclass(eq=False, slots=True)
class MoveState:
    """Its checkpoints and migrations (kernel/image.py, kernel/migrate/)."""

    generation: int = 0  # how many times it was restored or migrated
    freeze_at: int | None = None  # a freeze was asked for at this cycle: threads stop there
    window: CacheWindow | None = None  # after a move, with the cache model: its stall watched
    clock_offset: int = 0  # chip cycles its clocks are behind the chip's (set by a restore)


@dataclass(eq=False)
class Container:
    """A process: its address space, threads, files, endpoints, limits and statistics."""

    pid: int
    name: str
    argv: list[str]
    aspace: AddressSpace
    cluster: int
    brk_start: int
    brk: int
    seed: int
    threads: list[Thread] = field(default_factory=list)
    state: str = "running"
    exit: ExitStatus = field(default_factory=ExitStatus)
    fs: FileTable = field(default_factory=FileTable)
    user: User = field(default_factory=User)
    ikc: dict[int, object] = field(default_factory=dict)  # IKC descriptors
    rlimits: dict[int, list[int]] = field(default_factory=dict)  # resource -> [soft, hard] set by prlimit64
    family: Family = field(default_factory=Family)
    sched: ProcSched = field(default_factory=lambda: ProcSched())
    sig: ProcSignals = field(default_factory=lambda: ProcSignals())
    timers: dict[int, Timer] = field(default_factory=dict)  # kernel/timers.py
    stats: ProcStats = field(default_factory=ProcStats)
    move: MoveState = field(default_factory=MoveState)
    _rand_counter: int = 0

    @property
    def alive(self) -> bool:
        """Still this kernel's: running, or being frozen or moved (not ended, not gone)."""
        return self.state in ("running", "freezing", "frozen")

    @property
    def instructions(self) -> int:
        return sum(t.instructions for t in self.threads) + self.stats.dead_instructions

    def random_bytes(self, n: int) -> bytes:
        """Deterministic, seeded randomness (getrandom, AT_RANDOM)."""
        out = bytearray()
        while len(out) < n:
            self._rand_counter += 1
            out += sha256(f"{self.seed}:{self.pid}:{self._rand_counter}".encode()).digest()
        return bytes(out[:n])

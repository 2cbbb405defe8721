"""The protocol between the kernels and the daemons: every packet kind and its body, in one place.

A body is a `msgspec.Struct` (frozen, keyword-only); its class fixes the packet's kind
(`Body.KIND`), so a kind cannot be misspelt and a body cannot carry a field its class does
not list (TypeError at construction). A field that is UNSET is absent: it takes no bytes on
the wire (platform/noc.py: body_bytes), as a key missing from a dict did. Requests a thread
waits for (kernel.rpc) carry `op` (the 64-bit id its reply gives back) and `pid`; the packets
aimed at a process (`Targeted`) may be passed on after it moved, with `reply_to` (who must get
the answer) and `pm_version` (the process manager's record they were relayed under).
Field types are documentation: msgspec does not check them at construction (that would cost
on the hot path), the tests do (tests/test_messages.py).
Long (~750 lines) by design: one class per packet kind, all in one file, so the protocol reads
in one place.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["UNSET", "UnsetType", "Kind", "Body", "BODIES"]

Opt = UnsetType  # (readability: `x: int | Opt = UNSET` is a field that may be absent)


class Kind(StrEnum):
    """Every packet kind (the value is the name the NoC's figures, hooks and traces use)."""
    # IKC: programs talking (Nanvix's mailbox, portal and sync)
    MBX_DATA = "mbx_data"
    PORTAL_REQ = "portal_req"
    PORTAL_GO = "portal_go"
    PORTAL_DATA = "portal_data"
    SYNC_SIGNAL = "sync_signal"
    # POSIX signals between processes (kernel/calls/signal.py)
    SIGNAL = "signal"
    REPARENT = "reparent"  # its parent ended: init (pid 1) is its parent now
    SCHED_OP = "sched_op"  # sched_* and get/setpriority of a process elsewhere
    CLOCK_SET = "clock_set"  # clock_settime(CLOCK_REALTIME) on a cluster: to every other one
    # answers and losses
    REPLY = "reply"
    NOC_ERROR = "noc_error"
    # console
    CONSOLE = "console"
    CONSOLE_ACK = "console_ack"
    STDIN = "stdin"
    # process manager and location
    LOAD = "load"
    SPAWN = "spawn"
    WAIT = "wait"
    EXIT = "exit"
    CHILD_STATE = "child_state"
    LOCATE = "locate"
    LOCATED = "located"
    MOVED = "moved"
    MOVED_ACK = "moved_ack"
    RELAY = "relay"
    # fork, exec and wait (kernel/calls/fork.py)
    FORK = "fork"
    FORK_LOAD = "fork_load"
    EXEC = "exec"
    WAIT_CHILD = "wait_child"
    PGRP = "pgrp"
    KILL_GROUP = "kill_group"
    # names
    NAME_LINK = "name_link"
    NAME_LOOKUP = "name_lookup"
    NAME_UNLINK = "name_unlink"
    # policy
    LOAD_REPORT = "load_report"
    POLICY_REFUSED = "policy_refused"
    POLICY_MOVE = "policy_move"
    EVACUATE = "evacuate"
    # remote memory
    RMEM_PUT = "rmem_put"
    RMEM_FREE = "rmem_free"
    RMEM_GET = "rmem_get"
    RMEM_PAGE = "rmem_page"
    RMEM_FULL = "rmem_full"
    RMEM_DUP = "rmem_dup"  # a fork's child gets copies of its parent's remote pages
    # shared memory
    SHM_OPEN = "shm_open"
    SHM_CLOSE = "shm_close"
    SHM_TRUNCATE = "shm_truncate"
    SHM_UNLINK = "shm_unlink"
    SHM_GET = "shm_get"
    SHM_BACK = "shm_back"
    SHM_PAGE = "shm_page"
    SHM_RECALL = "shm_recall"
    SHM_GONE = "shm_gone"
    # files
    FS_OPEN = "fs_open"
    FS_CLOSE = "fs_close"
    FS_READ = "fs_read"
    FS_WRITE = "fs_write"
    FS_TRUNCATE = "fs_truncate"
    FS_STAT = "fs_stat"
    FS_GETDENTS = "fs_getdents"
    FS_MKDIR = "fs_mkdir"
    FS_UNLINK = "fs_unlink"
    FS_RENAME = "fs_rename"
    FS_SETATTR = "fs_setattr"
    FS_LINK = "fs_link"
    FS_SYMLINK = "fs_symlink"
    FS_READLINK = "fs_readlink"
    FS_STATFS = "fs_statfs"
    FS_FALLOCATE = "fs_fallocate"
    FS_LOCK = "fs_lock"
    # POSIX message queues and semaphores
    MQ_OPEN = "mq_open"
    MQ_CLOSE = "mq_close"
    MQ_UNLINK = "mq_unlink"
    MQ_SEND = "mq_send"
    MQ_RECEIVE = "mq_receive"
    MQ_GETATTR = "mq_getattr"
    MQ_NOTIFY = "mq_notify"
    SEM_OPEN = "sem_open"
    SEM_CLOSE = "sem_close"
    SEM_UNLINK = "sem_unlink"
    SEM_TRYWAIT = "sem_trywait"
    SEM_POST = "sem_post"
    SEM_GETVALUE = "sem_getvalue"
    IPC_WAIT = "ipc_wait"
    # System V IPC (kernel/calls/sysv.py, daemons/sysv.py)
    SYSV_GET = "sysv_get"
    SYSV_CTL = "sysv_ctl"
    MSG_SND = "msg_snd"
    MSG_RCV = "msg_rcv"
    SEM_OP = "sem_op"
    SHM_AT = "shm_at"
    SHM_DT = "shm_dt"
    SYSV_WAIT = "sysv_wait"
    SYSV_CANCEL = "sysv_cancel"
    FUTEX_WAKE = "futex_wake"  # (kernel/calls/futex.py: a wake on a shared page, to other clusters)
    # sockets (kernel/calls/socket.py, daemons/sockets.py)
    SOCK_NEW = "sock_new"
    SOCK_BIND = "sock_bind"
    SOCK_LISTEN = "sock_listen"
    SOCK_CONNECT = "sock_connect"
    SOCK_ACCEPT = "sock_accept"
    SOCK_SEND = "sock_send"
    SOCK_RECV = "sock_recv"
    SOCK_SHUTDOWN = "sock_shutdown"
    SOCK_NAME = "sock_name"
    SOCK_OPT = "sock_opt"
    SOCK_REF = "sock_ref"
    SOCK_WAIT = "sock_wait"
    # poll and select on sockets and queues (kernel/calls/poll.py, daemons/polls.py)
    POLL_QUERY = "poll_query"
    POLL_CANCEL = "poll_cancel"
    # pipes whose ends are on two clusters (kernel/pipes.py)
    PIPE_OP = "pipe_op"
    PIPE_REF = "pipe_ref"
    PIPE_READY = "pipe_ready"
    PIPE_POLL = "pipe_poll"
    # migration (kernel to kernel)
    MIG_RESERVE = "mig_reserve"
    MIG_ACCEPT = "mig_accept"
    MIG_REFUSE = "mig_refuse"
    MIG_RELEASE = "mig_release"
    MIG_ABORT = "mig_abort"
    MIG_IMAGE = "mig_image"
    MIG_ACK = "mig_ack"
    MIG_COMMIT = "mig_commit"
    MIG_QUERY = "mig_query"
    MIG_DONE = "mig_done"
    MIG_PAGES = "mig_pages"
    MIG_PAGES_ACK = "mig_pages_ack"
    MIG_PAGE = "mig_page"
    MIG_FETCH = "mig_fetch"
    MIG_GOT = "mig_got"


class Body(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A packet's body; subclasses set KIND (gc=False: bodies hold no cycles)."""
    KIND: ClassVar[Kind]


class Request(Body, frozen=True, kw_only=True, gc=False):
    """A request a thread waits for: kernel.rpc sets op and pid; the reply gives op back."""
    op: int = 0
    pid: int = 0


class Targeted(Body, frozen=True, kw_only=True, gc=False):
    """Aimed at process `dst` wherever it is (held while it is frozen, passed on after it moved)."""
    dst: int
    reply_to: int | Opt = UNSET  # the original sender, once passed on
    pm_version: int | Opt = UNSET  # the process manager's record it was relayed under


# IKC -----------------------------------------------------------------------------------------
class MbxData(Targeted, frozen=True, kw_only=True, gc=False):  # a mailbox message (data: the message)
    KIND = Kind.MBX_DATA
    op: int = 0
    pid: int = 0
    port: int


class PortalReq(Targeted, frozen=True, kw_only=True, gc=False):  # a writer asks to send `size` bytes
    KIND = Kind.PORTAL_REQ
    op: int = 0
    pid: int = 0
    port: int
    src: int
    size: int


class PortalGo(Body, frozen=True, kw_only=True, gc=False):  # the reader is ready: send the data
    KIND = Kind.PORTAL_GO
    op: int


class PortalData(Targeted, frozen=True, kw_only=True, gc=False):  # the portal's data (bulk)
    KIND = Kind.PORTAL_DATA
    op: int
    port: int


class SyncSignal(Targeted, frozen=True, kw_only=True, gc=False):  # one signal of a sync point
    KIND = Kind.SYNC_SIGNAL
    port: int
    src: int


class SignalMsg(Targeted, frozen=True, kw_only=True, gc=False):  # kill(2) and kin to a process elsewhere
    KIND = Kind.SIGNAL
    tid: int  # 0: any thread of the process
    info: list[int]  # the siginfo fields (kernel/signals.py info())
    op: int  # the sender's request: answered by a Reply with ret
    cred: list | Opt = UNSET  # the sender's [ruid, euid] (kill's permission check); unset: the kernel's


class SchedOp(Targeted, frozen=True, kw_only=True, gc=False):  # sched_*, get/setpriority elsewhere
    KIND = Kind.SCHED_OP
    op: int  # the asker's request: answered by a Reply with ret
    # what: 0: is it there; 1: 20 - its nice; 2: set its nice (Linux's set_one_prio); 3, 4: get,
    # set its main thread's policy and priority (`nice` carries them: prio.py's _encode); 5: its
    # CPU-time clock `nice` in ns (calls/time.py)
    what: int
    nice: int = 0
    cred: list = []  # the asker's [ruid, euid] (setpriority's permission check)
    uid: int = -1  # PRIO_USER: only a process of this real uid is named (else ESRCH)


class ClockSet(Body, frozen=True, kw_only=True, gc=False):  # CLOCK_REALTIME was set (calls/time.py)
    KIND = Kind.CLOCK_SET
    realtime: list  # [ns added to the epoch, when it was set, by which cluster] (the latest wins)


class Reparent(Targeted, frozen=True, kw_only=True, gc=False):  # getppid() is `ppid` from now on
    KIND = Kind.REPARENT
    ppid: int


# answers and losses --------------------------------------------------------------------------
class Reply(Body, frozen=True, kw_only=True, gc=False):  # the answer to request `op`: the fields it needs
    KIND = Kind.REPLY
    op: int
    ret: int | Opt = UNSET  # the call's result (or -errno)
    handle: int | None | Opt = UNSET  # the server's handle of an open file or queue
    dir: bool | Opt = UNSET  # fs_open: a directory
    st: list | Opt = UNSET  # fs_stat: [ino, mode, size, nlink, mtime]
    ro: bool | Opt = UNSET  # fs_stat (access): a read-only file
    offset: int | Opt = UNSET  # fs_write, fs_getdents: the offset after
    obj: int | Opt = UNSET  # shm_open: the object
    status: int | Opt = UNSET  # wait: the exit status
    err: int | Opt = UNSET  # locate: 0 or -errno
    clusters: list | Opt = UNSET  # locate: where the pids live
    prio: int | Opt = UNSET  # mq_receive: the message's priority
    attr: list | Opt = UNSET  # mq_getattr: [maxmsg, msgsize, curmsgs]; fs_statfs: [bsize, blocks,
    #                           bfree, files, ffree]; poll_query: a readiness mask per item
    value: int | Opt = UNSET  # sem_getvalue
    code: int | Opt = UNSET  # wait_child: the siginfo's si_code (CLD_EXITED, CLD_KILLED)
    times: list | Opt = UNSET  # wait_child, reaping: the child's Exit.times


class NocError(Body, frozen=True, kw_only=True, gc=False):  # the NoC lost a packet (not on the wire)
    KIND = Kind.NOC_ERROR
    kind: Kind
    body: Body
    to: int
    data: bytes
    form: str


# console -------------------------------------------------------------------------------------
class Console(Body, frozen=True, kw_only=True, gc=False):  # output of `pid` on `fd` (data: the bytes)
    KIND = Kind.CONSOLE
    pid: int
    fd: int


class ConsoleAck(Body, frozen=True, kw_only=True, gc=False):  # the console took `n` more packets
    KIND = Kind.CONSOLE_ACK
    n: int


class Stdin(Request, frozen=True, kw_only=True, gc=False):  # read up to `size` bytes of standard input
    KIND = Kind.STDIN
    size: int
    tty: int | Opt = UNSET  # whose input it reads (a forked child: its parent's); absent: pid's


# process manager and location ----------------------------------------------------------------
class Load(Body, frozen=True, kw_only=True, gc=False):  # run this program (data: its image) as `newpid`
    KIND = Kind.LOAD
    op: int
    newpid: int
    name: str
    argv: list
    seed: int
    cwd: str | Opt = UNSET  # absent: the root
    ppid: int | Opt = UNSET  # the spawner (getppid); absent: init (pid 1)
    user: list | Opt = UNSET  # the spawner's 8 ids and its groups (absent: root's), as a fork's


class Spawn(Request, frozen=True, kw_only=True, gc=False):  # start program `file` on `cluster` (-1: any)
    KIND = Kind.SPAWN
    file: str
    argv: list
    cluster: int
    cwd: str | Opt = UNSET  # absent: the root
    user: list | Opt = UNSET  # the caller's 8 ids and its groups (absent: root's)


class Wait(Request, frozen=True, kw_only=True, gc=False):  # wait for process `target` to end
    KIND = Kind.WAIT
    target: int


class Exit(Body, frozen=True, kw_only=True, gc=False):  # process `pid` ended (signal: None if it exited)
    KIND = Kind.EXIT
    pid: int
    code: int
    signal: int | None
    # a forked process's CPU time and its reaped children's, [user, system] cycles, for its
    # parent's times() and getrusage(RUSAGE_CHILDREN) (absent: a spawned one's, none waits)
    times: list | Opt = UNSET


class ChildState(Body, frozen=True, kw_only=True, gc=False):  # process `pid` stopped (by `signal`)
    KIND = Kind.CHILD_STATE                                       # or, signal 0, continued
    pid: int
    signal: int


class Fork(Request, frozen=True, kw_only=True, gc=False):  # a pid for a child (data: its image, if elsewhere)
    KIND = Kind.FORK
    local: bool  # the caller's cluster builds it (no data); else the manager places it
    frames: int  # what it needs (placement)
    exit_signal: int  # sent to the parent when it ends (clone's low byte; 0: none)
    # Anonymous MAP_SHARED memory the caller's kernel made a shared object of, to adopt:
    # [object, pages, [page numbers its cluster holds for writing]] (kernel/forkmem.py).
    anon: list | Opt = UNSET
    rmem: list | Opt = UNSET  # the caller's pages in remote memory the child gets copies of: [va, version]


class ForkLoad(Body, frozen=True, kw_only=True, gc=False):  # run this forked image (data) as `newpid`
    KIND = Kind.FORK_LOAD
    op: int
    newpid: int


class Exec(Request, frozen=True, kw_only=True, gc=False):  # send the program at `path` back
    KIND = Kind.EXEC
    file: str  # its base name (the chip's files, if the tree has no such path)
    path: str  # absolute
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class WaitChild(Request, frozen=True, kw_only=True, gc=False):  # wait4/waitid: a child that ended
    KIND = Kind.WAIT_CHILD
    idtype: int  # P_ALL 0, P_PID 1, P_PGID 2
    id: int
    nohang: bool
    reap: bool  # False: WNOWAIT
    # What it reports besides a child that ended (WEXITED): one that stopped (WUNTRACED,
    # WSTOPPED), one a SIGCONT resumed (WCONTINUED); absent (not on the wire) when not asked.
    stopped: bool | Opt = UNSET
    continued: bool | Opt = UNSET
    no_exited: bool | Opt = UNSET  # waitid without WEXITED


class Pgrp(Request, frozen=True, kw_only=True, gc=False):  # process groups and sessions
    KIND = Kind.PGRP
    what: int  # 0 getpgid, 1 setpgid, 2 getsid, 3 setsid
    target: int  # a pid (0: the caller)
    pgid: int  # setpgid's group (0: the target's pid)


class KillGroup(Request, frozen=True, kw_only=True, gc=False):  # kill(0 or -pgid or -1): fanned out by pid
    KIND = Kind.KILL_GROUP
    pgid: int  # the group (0: the caller's), or -1: every process but init and the caller
    info: list[int]
    cred: list  # the sender's [ruid, euid]
    what: int = -1  # a signal; else get/setpriority(PRIO_PGRP): a SchedOp's `what` to each member
    nice: int = 0  # setpriority's value
    uid: int = -1  # PRIO_USER: every process is asked, those of this real uid answer


class Locate(Request, frozen=True, kw_only=True, gc=False):  # where do these pids live
    KIND = Kind.LOCATE
    pids: list


class Located(Body, frozen=True, kw_only=True, gc=False):  # `pid` lives on `cluster` (its generation `gen`)
    KIND = Kind.LOCATED
    pid: int
    cluster: int
    gen: int


class Moved(Body, frozen=True, kw_only=True, gc=False):  # `pid` now lives on `cluster`
    KIND = Kind.MOVED
    pid: int
    cluster: int


class MovedAck(Body, frozen=True, kw_only=True, gc=False):  # the process manager knows
    KIND = Kind.MOVED_ACK
    pid: int
    cluster: int


class Relay(Body, frozen=True, kw_only=True, gc=False):  # a targeted packet nobody here could place
    KIND = Kind.RELAY
    kind: Kind
    bulk: bool
    body: Targeted


# names ---------------------------------------------------------------------------------------
class NameLink(Request, frozen=True, kw_only=True, gc=False):  # the caller takes `name`
    KIND = Kind.NAME_LINK
    name: str


class NameLookup(Request, frozen=True, kw_only=True, gc=False):  # who has `name`
    KIND = Kind.NAME_LOOKUP
    name: str


class NameUnlink(Request, frozen=True, kw_only=True, gc=False):  # the caller gives `name` up
    KIND = Kind.NAME_UNLINK
    name: str


# policy --------------------------------------------------------------------------------------
class LoadReport(Body, frozen=True, kw_only=True, gc=False):  # a cluster's load (kernel/report.py)
    KIND = Kind.LOAD_REPORT
    cluster: int
    time: int
    harts: int
    runnable: int
    free: int
    total: int
    procs: list  # [pid, runnable, threads, frames, state, shared frames] each
    ikc: list  # [pid, peer pid, messages] each


class PolicyRefused(Body, frozen=True, kw_only=True, gc=False):  # a move a policy asked for did not happen
    KIND = Kind.POLICY_REFUSED
    pid: int
    dst: int
    policy: str
    err: int
    why: str


class PolicyMove(Body, frozen=True, kw_only=True, gc=False):  # migrate `pid` to `dst`
    KIND = Kind.POLICY_MOVE
    pid: int
    dst: int
    method: str | None
    policy: str
    why: str


class Evacuate(Body, frozen=True, kw_only=True, gc=False):  # take no new process, move all away
    KIND = Kind.EVACUATE
    cluster: int


# remote memory -------------------------------------------------------------------------------
class RmemPut(Body, frozen=True, kw_only=True, gc=False):  # keep this page (data) at version `ver`
    KIND = Kind.RMEM_PUT
    pid: int
    va: int
    ver: int


class RmemFree(Body, frozen=True, kw_only=True, gc=False):  # forget these pages ([va, version] each)
    KIND = Kind.RMEM_FREE
    pid: int
    pages: list


class RmemDup(Body, frozen=True, kw_only=True, gc=False):  # copies of pid's pages for `child`: [va, version]
    KIND = Kind.RMEM_DUP
    pid: int
    child: int
    pages: list


class RmemGet(Body, frozen=True, kw_only=True, gc=False):  # send page `va` back, at least version `ver`
    KIND = Kind.RMEM_GET
    pid: int
    va: int
    ver: int


class RmemPage(Body, frozen=True, kw_only=True, gc=False):  # page `va` (data)
    KIND = Kind.RMEM_PAGE
    pid: int
    va: int
    ver: int


class RmemFull(Targeted, frozen=True, kw_only=True, gc=False):  # no room for page `va`
    KIND = Kind.RMEM_FULL
    va: int


# shared memory -------------------------------------------------------------------------------
class ShmOpen(Request, frozen=True, kw_only=True, gc=False):  # open shared memory object `name`
    KIND = Kind.SHM_OPEN
    name: str
    flags: int
    file: list | Opt = UNSET  # mmap of an open file instead: [handle, path, flags] (its object)


class ShmClose(Body, frozen=True, kw_only=True, gc=False):  # process `pid` is done with `obj`
    KIND = Kind.SHM_CLOSE
    obj: int
    pid: int


class ShmTruncate(Request, frozen=True, kw_only=True, gc=False):  # set `obj`'s length
    KIND = Kind.SHM_TRUNCATE
    obj: int
    length: int


class ShmUnlink(Request, frozen=True, kw_only=True, gc=False):  # remove `name`
    KIND = Kind.SHM_UNLINK
    name: str


class ShmGet(Body, frozen=True, kw_only=True, gc=False):  # page `pg` of `obj`; the holder has version `have`
    KIND = Kind.SHM_GET
    obj: int
    pg: int
    write: bool
    have: int


class ShmBack(Body, frozen=True, kw_only=True, gc=False):  # page given back (data: it, if written)
    KIND = Kind.SHM_BACK
    obj: int
    pg: int
    gen: int


class ShmPage(Body, frozen=True, kw_only=True, gc=False):  # the page granted (data), or `bus`: use the bus
    KIND = Kind.SHM_PAGE
    obj: int
    pg: int
    bus: bool | Opt = UNSET
    write: bool | Opt = UNSET
    gen: int | Opt = UNSET


class ShmRecall(Body, frozen=True, kw_only=True, gc=False):  # give page `pg` back
    KIND = Kind.SHM_RECALL
    obj: int
    pg: int
    gen: int


class ShmGone(Body, frozen=True, kw_only=True, gc=False):  # object `obj` is gone
    KIND = Kind.SHM_GONE
    obj: int


# files ---------------------------------------------------------------------------------------
class FsOpen(Request, frozen=True, kw_only=True, gc=False):  # open `path`
    KIND = Kind.FS_OPEN
    path: str
    flags: int
    mode: int
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups
    anon: bool | Opt = UNSET  # memfd_create: a new file with no name (`path` is only its label)
    fifo: bool | Opt = UNSET  # mknod(S_IFIFO): make a named pipe (with O_CREAT|O_EXCL), not opened


class FsClose(Body, frozen=True, kw_only=True, gc=False):  # handle closed (no answer)
    KIND = Kind.FS_CLOSE
    pid: int
    handle: int


class FsRead(Request, frozen=True, kw_only=True, gc=False):  # read `size` bytes at `offset`
    KIND = Kind.FS_READ
    handle: int
    path: str
    flags: int
    offset: int
    size: int


class FsWrite(Request, frozen=True, kw_only=True, gc=False):  # write data at `offset` (or append)
    KIND = Kind.FS_WRITE
    handle: int
    path: str
    flags: int
    offset: int
    append: bool


class FsTruncate(Request, frozen=True, kw_only=True, gc=False):  # set a file's length: ftruncate, truncate
    KIND = Kind.FS_TRUNCATE
    handle: int | None  # None: by path (truncate), links followed
    path: str
    flags: int
    length: int
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # truncate by a caller that is not root
    nofollow: bool | Opt = UNSET  # (never set: truncate follows links; what _target reads)


class FsStat(Request, frozen=True, kw_only=True, gc=False):  # stat an open file or a path
    KIND = Kind.FS_STAT
    handle: int | None
    path: str
    flags: int | Opt = UNSET  # an open file's
    access: bool | Opt = UNSET  # access(2): say if it is read-only
    nofollow: bool | Opt = UNSET  # a link at the end of `path` itself (lstat)
    real: bool | Opt = UNSET  # chdir: a directory's answer carries its path without links (data)
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class FsGetdents(Request, frozen=True, kw_only=True, gc=False):  # directory entries from `offset`
    KIND = Kind.FS_GETDENTS
    handle: int
    path: str
    flags: int
    offset: int
    size: int


class FsMkdir(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.FS_MKDIR
    path: str
    mode: int
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class FsUnlink(Request, frozen=True, kw_only=True, gc=False):  # unlink (or rmdir)
    KIND = Kind.FS_UNLINK
    path: str
    rmdir: bool
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class FsSetattr(Request, frozen=True, kw_only=True, gc=False):  # chmod, chown, utimensat: by handle or path
    KIND = Kind.FS_SETATTR
    handle: int | None
    path: str
    flags: int | Opt = UNSET  # an open file's
    mode: int | Opt = UNSET  # the permission bits to set
    mtime: int | Opt = UNSET  # the modification time to set (chip cycles since the guests' epoch)
    atime: int | Opt = UNSET  # the access time to set (the same clock)
    uid: int | Opt = UNSET  # chown: the owner to set (-1 leaves it)
    gid: int | Opt = UNSET  # chown: the group to set (-1 leaves it)
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # the caller: fsuid, fsgid, groups (chown: always)
    nofollow: bool | Opt = UNSET  # a link at the end of `path` itself
    touch: bool | Opt = UNSET  # utimensat to now: a writer may too, not only the owner


class FsLink(Request, frozen=True, kw_only=True, gc=False):  # linkat: name `new` for `old` (or an open file)
    KIND = Kind.FS_LINK
    old: str
    new: str
    follow: bool  # AT_SYMLINK_FOLLOW: a link at the end of `old` is followed
    handle: int | None  # AT_EMPTY_PATH: the open file's (then `old` is its path)
    flags: int | Opt = UNSET  # an open file's
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class FsSymlink(Request, frozen=True, kw_only=True, gc=False):  # symlinkat
    KIND = Kind.FS_SYMLINK
    target: str
    path: str
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class FsReadlink(Request, frozen=True, kw_only=True, gc=False):  # readlinkat: the target as data
    KIND = Kind.FS_READLINK
    path: str
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class FsStatfs(Request, frozen=True, kw_only=True, gc=False):  # statfs (path) or fstatfs (handle)
    KIND = Kind.FS_STATFS
    handle: int | None
    path: str
    flags: int | Opt = UNSET  # an open file's
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class FsFallocate(Request, frozen=True, kw_only=True, gc=False):  # fallocate an open file
    KIND = Kind.FS_FALLOCATE
    handle: int
    path: str
    flags: int
    mode: int
    offset: int
    length: int


class FsLock(Request, frozen=True, kw_only=True, gc=False):  # fcntl record locks (daemons/fslocks.py)
    KIND = Kind.FS_LOCK
    handle: int
    path: str
    flags: int
    cmd: int  # 0 F_GETLK, 1 F_SETLK, 2 F_SETLKW, 3 drop the process's locks on the file (no answer),
    # 4 a signal came: the F_SETLKW request numbered `cancel` ends with EINTR if it still waits
    ofd: bool = False  # an open file description's lock (F_OFD_*)
    type: int = 0  # F_RDLCK, F_WRLCK, F_UNLCK
    whence: int = 0
    start: int = 0
    length: int = 0
    offset: int = 0  # the descriptor's offset (SEEK_CUR)
    cancel: int = 0


class FsRename(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.FS_RENAME
    old: str
    new: str
    noreplace: bool
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


# POSIX message queues and semaphores ---------------------------------------------------------
class MqOpen(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.MQ_OPEN
    name: str
    flags: int
    maxmsg: int
    msgsize: int
    mode: int | Opt = UNSET  # with O_CREAT: the new one's permission bits (umask applied)
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class MqClose(Body, frozen=True, kw_only=True, gc=False):  # handle closed (no answer)
    KIND = Kind.MQ_CLOSE
    pid: int
    handle: int


class MqUnlink(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.MQ_UNLINK
    name: str
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class MqSend(Request, frozen=True, kw_only=True, gc=False):  # data: the message
    KIND = Kind.MQ_SEND
    handle: int
    name: str
    prio: int


class MqReceive(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.MQ_RECEIVE
    handle: int
    name: str
    size: int


class MqGetattr(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.MQ_GETATTR
    handle: int
    name: str


class MqNotify(Request, frozen=True, kw_only=True, gc=False):  # mq_notify: register, or -1: remove
    KIND = Kind.MQ_NOTIFY
    handle: int
    name: str
    notify: int  # SIGEV_SIGNAL or SIGEV_NONE; -1: remove this process's registration
    signo: int
    value: int  # sigev_value, given back in si_value


class SemOpen(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SEM_OPEN
    name: str
    flags: int
    value: int
    mode: int | Opt = UNSET  # with O_CREAT: the new one's permission bits (umask applied)
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class SemClose(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SEM_CLOSE
    handle: int


class SemUnlink(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SEM_UNLINK
    name: str
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class SemTrywait(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SEM_TRYWAIT
    handle: int


class SemPost(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SEM_POST
    handle: int


class SemGetvalue(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SEM_GETVALUE
    handle: int


class IpcWait(Request, frozen=True, kw_only=True, gc=False):  # wake thread `tid` when `what` may succeed
    KIND = Kind.IPC_WAIT
    handle: int
    name: str | Opt = UNSET  # a queue's (mq_send, mq_receive)
    prio: int | Opt = UNSET  # mq_send's
    size: int | Opt = UNSET  # mq_receive's
    what: str  # "send", "recv" or "sem"
    tid: int


# System V IPC ---------------------------------------------------------------------------------
class SysvGet(Request, frozen=True, kw_only=True, gc=False):  # msgget/semget/shmget
    KIND = Kind.SYSV_GET
    what: str  # "msg", "sem" or "shm"
    key: int
    flags: int
    size: int  # semget: nsems; shmget: bytes
    cred: tuple[int, int, int, tuple[int, ...]] | Opt = UNSET  # not root: euid, egid, fsgid, groups


class SysvCtl(Request, frozen=True, kw_only=True, gc=False):  # msgctl/semctl/shmctl
    KIND = Kind.SYSV_CTL
    what: str
    id: int
    cmd: int  # without IPC_64
    num: int  # semctl's semaphore number
    vals: list  # IPC_SET: [uid, gid, mode, qbytes]; SETVAL: [value]; SETALL: the values
    cred: tuple[int, int, int, tuple[int, ...]] | Opt = UNSET  # not root: euid, egid, fsgid, groups


class MsgSnd(Request, frozen=True, kw_only=True, gc=False):  # data: the message text
    KIND = Kind.MSG_SND
    id: int
    mtype: int
    cred: tuple[int, int, int, tuple[int, ...]] | Opt = UNSET  # not root: euid, egid, fsgid, groups


class MsgRcv(Request, frozen=True, kw_only=True, gc=False):  # answer's data: mtype (4 B) + text
    KIND = Kind.MSG_RCV
    id: int
    size: int
    mtype: int
    flags: int  # MSG_EXCEPT, MSG_NOERROR
    cred: tuple[int, int, int, tuple[int, ...]] | Opt = UNSET  # not root: euid, egid, fsgid, groups


class SemOp(Request, frozen=True, kw_only=True, gc=False):  # semop: [[num, op, flags], ...]
    KIND = Kind.SEM_OP
    id: int
    sops: list
    cred: tuple[int, int, int, tuple[int, ...]] | Opt = UNSET  # not root: euid, egid, fsgid, groups


class ShmAt(Request, frozen=True, kw_only=True, gc=False):  # attach segment `id` (answer: obj, ret=size)
    KIND = Kind.SHM_AT
    id: int
    flags: int | Opt = UNSET  # SHM_RDONLY, SHM_EXEC when given: the permissions asked
    cred: tuple[int, int, int, tuple[int, ...]] | Opt = UNSET  # not root: euid, egid, fsgid, groups


class ShmDt(Body, frozen=True, kw_only=True, gc=False):  # process `pid` detached shared object `obj`
    KIND = Kind.SHM_DT
    pid: int
    obj: int


class SysvWait(Request, frozen=True, kw_only=True, gc=False):  # answer when `what` on `id` may succeed
    KIND = Kind.SYSV_WAIT
    id: int
    what: str  # "send", "recv" or "sem"
    tid: int
    sops: list | Opt = UNSET  # semop's (GETNCNT, GETZCNT count the operation that waits)
    size: int | Opt = UNSET  # msgsnd's message length
    until: int | None = None  # its deadline (cycle): not counted as waiting after it


class PipeOp(Request, frozen=True, kw_only=True, gc=False):  # a read or write of a pipe kept at its home
    KIND = Kind.PIPE_OP
    handle: int
    write: bool
    size: int  # read: bytes wanted; write: the whole write's length
    tid: int
    start: int = 0  # write: where the data sent begins in the write
    nonblock: bool = False
    opening: bool = False  # an open of a FIFO naming this pipe (`size`: its access mode)


class PipeRef(Body, frozen=True, kw_only=True, gc=False):  # descriptors of its ends opened (+), closed (-)
    KIND = Kind.PIPE_REF
    handle: int
    readers: int
    writers: int
    given_up: int = 0  # a FIFO's open by this thread id waits no more (its counts go)


class PipeReady(Body, frozen=True, kw_only=True, gc=False):  # the pipe changed: its waiters here try again
    KIND = Kind.PIPE_READY
    handle: int


class PipePoll(Request, frozen=True, kw_only=True, gc=False):  # poll ends of pipes kept at their home
    KIND = Kind.PIPE_POLL
    items: list  # [handle, write end, events wanted]
    wait: bool = False  # no answer: a pipe_ready now if one is ready, else at its next change


class FutexWake(Body, frozen=True, kw_only=True, gc=False):  # waiters on a shared object's word
    KIND = Kind.FUTEX_WAKE
    obj: int  # the shared memory object
    off: int  # the word's byte offset in it
    n: int
    bits: int
    requeue: int = 0  # FUTEX_(CMP_)REQUEUE: then move up to this many waiters
    to: list | None = None  # ... to the word [object, offset]


class SysvCancel(Body, frozen=True, kw_only=True, gc=False):  # thread `tid` of `pid` waits no more
    KIND = Kind.SYSV_CANCEL
    pid: int
    tid: int


# sockets (kernel/calls/socket.py, daemons/sockets.py) ----------------------------------------
# An address is a list: ["unix", key, shown] (key: the absolute path or the abstract name, which
# starts with NUL; shown: as bound; "" unnamed) or
# ["inet", ip, port] (host-order numbers).
class SockNew(Request, frozen=True, kw_only=True, gc=False):  # socket (pair: socketpair; answer: ret, value)
    KIND = Kind.SOCK_NEW
    family: int
    type: int
    pair: bool


class SockBind(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SOCK_BIND
    handle: int
    addr: list
    umask: int = 0o022  # a path's socket file gets 0777 & ~umask, as on Linux
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class SockListen(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SOCK_LISTEN
    handle: int
    backlog: int


class SockConnect(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SOCK_CONNECT
    handle: int
    addr: list
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class SockAccept(Request, frozen=True, kw_only=True, gc=False):  # answer: ret (new handle), st (peer)
    KIND = Kind.SOCK_ACCEPT
    handle: int


class SockSend(Request, frozen=True, kw_only=True, gc=False):  # data: the bytes; answer: ret taken
    KIND = Kind.SOCK_SEND
    handle: int
    addr: list | Opt = UNSET  # sendto's
    flags: int
    cred: tuple[int, int, tuple[int, ...]] | Opt = UNSET  # a caller that is not root: fsuid, fsgid, groups


class SockRecv(Request, frozen=True, kw_only=True, gc=False):  # answer: ret, data, st (from), value (length)
    KIND = Kind.SOCK_RECV
    handle: int
    size: int
    flags: int


class SockShutdown(Request, frozen=True, kw_only=True, gc=False):
    KIND = Kind.SOCK_SHUTDOWN
    handle: int
    how: int


class SockName(Request, frozen=True, kw_only=True, gc=False):  # answer: st (the address)
    KIND = Kind.SOCK_NAME
    handle: int
    peer: bool


class SockOpt(Request, frozen=True, kw_only=True, gc=False):  # get (value UNSET) or set; answer: value
    KIND = Kind.SOCK_OPT
    handle: int
    level: int
    name: int
    value: int | Opt = UNSET


class SockRef(Body, frozen=True, kw_only=True, gc=False):  # `pid` holds `delta` more descriptors of it
    KIND = Kind.SOCK_REF
    pid: int
    handle: int
    delta: int


class SockWait(Request, frozen=True, kw_only=True, gc=False):  # answer when `what` may not give EAGAIN
    KIND = Kind.SOCK_WAIT
    handle: int
    what: str  # "recv", "send", "accept" or "connect"
    tid: int
    addr: list | Opt = UNSET  # connect's, and a datagram's destination


# poll and select on sockets and message queues (kernel/calls/poll.py, daemons/polls.py) ----
class PollQuery(Request, frozen=True, kw_only=True, gc=False):  # their readiness (reply: attr, a mask each)
    KIND = Kind.POLL_QUERY
    items: list  # [["sock", handle, ""] | ["mq", handle, name], ...]
    want: list  # per item, the bits the call tests (its events, POLLERR, POLLHUP; select's sets)
    tid: int
    wait: bool = False  # none wanted now: answered once one of them may have changed


class PollCancel(Body, frozen=True, kw_only=True, gc=False):  # query `op` of thread `tid` of `pid`
    KIND = Kind.POLL_CANCEL                                       # waits no more
    pid: int
    tid: int
    op: int


# migration (kernel to kernel; migrate/) ------------------------------------------------------
class MigReserve(Body, frozen=True, kw_only=True, gc=False):  # hold `frames` frames for `pid`
    KIND = Kind.MIG_RESERVE
    mid: int
    pid: int
    frames: int
    bytes: int


class MigId(Body, frozen=True, kw_only=True, gc=False):
    """The packets that carry only the migration's id."""
    mid: int


class MigAccept(MigId, frozen=True, kw_only=True, gc=False):  # room held
    KIND = Kind.MIG_ACCEPT


class MigRelease(MigId, frozen=True, kw_only=True, gc=False):  # give the room back
    KIND = Kind.MIG_RELEASE


class MigAbort(MigId, frozen=True, kw_only=True, gc=False):  # S gave up
    KIND = Kind.MIG_ABORT


class MigAck(MigId, frozen=True, kw_only=True, gc=False):  # image rebuilt
    KIND = Kind.MIG_ACK


class MigCommit(MigId, frozen=True, kw_only=True, gc=False):  # S let the process go: run it
    KIND = Kind.MIG_COMMIT


class MigQuery(MigId, frozen=True, kw_only=True, gc=False):  # S's watchdog: where are we
    KIND = Kind.MIG_QUERY


class MigRefuse(Body, frozen=True, kw_only=True, gc=False):  # D will not take it, and why
    KIND = Kind.MIG_REFUSE
    mid: int
    reason: str


class MigImage(Body, frozen=True, kw_only=True, gc=False):  # the frozen image (data, bulk)
    KIND = Kind.MIG_IMAGE
    mid: int
    pid: int


class MigDone(Body, frozen=True, kw_only=True, gc=False):  # running on D since `thawed`
    KIND = Kind.MIG_DONE
    mid: int
    thawed: int | None
    resent: int
    wall: float


class MigPages(Body, frozen=True, kw_only=True, gc=False):  # pre-copy round `round`: pages `vas` (data)
    KIND = Kind.MIG_PAGES
    mid: int
    round: int
    vas: list


class MigPagesAck(Body, frozen=True, kw_only=True, gc=False):  # round `round` is in
    KIND = Kind.MIG_PAGES_ACK
    mid: int
    round: int


class MigPage(Body, frozen=True, kw_only=True, gc=False):  # post-copy: pages `vas` (data), pushed or asked
    KIND = Kind.MIG_PAGE
    mid: int
    vas: list
    push: bool


class MigFetch(Body, frozen=True, kw_only=True, gc=False):  # post-copy: D faulted on page `va`
    KIND = Kind.MIG_FETCH
    mid: int
    va: int


class MigFinal(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Post-copy's last figures, in the last mig_got."""
    faults: int
    wait: int
    complete: bool


class MigGot(Body, frozen=True, kw_only=True, gc=False):  # post-copy: D has pages `vas`
    KIND = Kind.MIG_GOT
    mid: int
    vas: list
    push: bool
    final: MigFinal | Opt = UNSET  # the last one: D has every page


def _bodies() -> dict[Kind, type[Body]]:
    """Kind -> body class; an error at import if a kind has no class or two."""
    out: dict[Kind, type[Body]] = {}
    todo = [Body]
    while todo:
        for c in todo.pop().__subclasses__():
            todo.append(c)
            kind = c.__dict__.get("KIND")
            if kind is None:
                continue
            if kind in out:
                raise TypeError(f"packet kind {kind} has two bodies: {out[kind].__name__} and {c.__name__}")
            out[kind] = c
    missing = [k.value for k in Kind if k not in out]
    if missing:
        raise TypeError(f"packet kinds without a body: {', '.join(missing)}")
    return out


BODIES = _bodies()


def answer_to(body: Body, src: int) -> int:
    """Who must get the answer to a packet from `src` with `body`: its first sender, if it was
    passed on (`reply_to`), else `src`."""
    to = getattr(body, "reply_to", UNSET)
    return src if to is UNSET else to

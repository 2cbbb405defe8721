"""The guest's ABI in one place: the numbers a RISC-V Linux (musl) program and shoal agree on.

Defined here once, not taken from the host's `errno`/`signal` modules, whose values are the
host's (they differ on macOS, say). Values are Linux's asm-generic ones, which riscv32 uses:
include/uapi/asm-generic/errno-base.h and errno.h, include/uapi/asm-generic/signal.h; trap
causes and instruction encodings from the RISC-V privileged and unprivileged specifications.
"""

from __future__ import annotations

# errno (asm-generic/errno-base.h, errno.h)
EPERM, ENOENT, ESRCH, EINTR, EIO = 1, 2, 3, 4, 5
E2BIG, ENOEXEC, EBADF, ECHILD, EAGAIN, ENOMEM, EACCES, EFAULT = 7, 8, 9, 10, 11, 12, 13, 14
EBUSY, EEXIST, ENODEV, ENOTDIR, EISDIR, EINVAL = 16, 17, 19, 20, 21, 22
EMFILE, ENOTTY, EFBIG, ENOSPC, ESPIPE, EROFS, ERANGE = 24, 25, 27, 28, 29, 30, 34
ENAMETOOLONG, ENOSYS, ENOTEMPTY, ENOMSG, EIDRM = 36, 38, 39, 42, 43
EMLINK, ELOOP, EXDEV, EOPNOTSUPP, EDEADLK, ENXIO, EADDRINUSE = 31, 40, 18, 95, 35, 6, 98
EOVERFLOW, EMSGSIZE, ECONNRESET, ECONNREFUSED, ETIMEDOUT = 75, 90, 104, 111, 110
EPIPE, ENFILE, ENOLCK = 32, 23, 37
ENOTSOCK, EDESTADDRREQ, EPROTOTYPE, ENOPROTOOPT, EPROTONOSUPPORT, ESOCKTNOSUPPORT = 88, 89, 91, 92, 93, 94
EAFNOSUPPORT, EADDRNOTAVAIL, ENETUNREACH, EISCONN, ENOTCONN = 97, 99, 101, 106, 107

# signals (asm-generic/signal.h)
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS = 1, 2, 3, 4, 5, 6, 7
SIGFPE, SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 8, 9, 10, 11, 12, 13, 14, 15
SIGCHLD, SIGCONT, SIGSTOP, SIGVTALRM, SIGPROF = 17, 18, 19, 26, 27
# init: the host, as Linux's pid 1 outside a PID namespace. No program is ever pid 1; the host
# starts programs (their parent) and adopts every orphan. Programs count from 2.
INIT_PID = 1
SIGNAL_NAMES = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
                7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
                13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
                18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG",
                24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
                30: "SIGPWR", 31: "SIGSYS", 32: "SIGRTMIN",
                **{n: f"SIGRTMIN+{n - 32}" for n in range(33, 65)}}

# open flags (asm-generic/fcntl.h), file types (linux/stat.h), directory entry types (dirent.h)
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY = 0o100, 0o200, 0o1000, 0o2000, 0o200000
O_NOFOLLOW = 0o400000
O_NONBLOCK = 0o4000
S_IFDIR, S_IFREG, S_IFCHR, S_IFLNK, S_IFSOCK = 0o040000, 0o100000, 0o020000, 0o120000, 0o140000
S_IFIFO = 0o010000
DT_DIR, DT_REG, DT_LNK, DT_SOCK, DT_FIFO = 4, 8, 10, 12, 1

# sockets (linux/socket.h, linux/net.h, asm-generic/socket.h)
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET = 1, 2, 3, 5
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
MSG_OOB, MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL = 1, 2, 0x20, 0x40, 0x100, 0x4000

# limits (linux/limits.h; musl's limits.h for the POSIX IPC ones)
PATH_MAX, NAME_MAX = 4096, 255
LINK_MAX = 127  # names a file may have (linux/limits.h's; tmpfs has none, shoal bounds it: EMLINK)
SEM_VALUE_MAX = 0x7FFFFFFF
SEM_NSEMS_MAX = 256  # semaphores a process may have open (musl's, and shoal_sem.c's table)
MQ_PRIO_MAX = 32768
OFFSET_MAX = (1 << 63) - 1  # the largest file offset (loff_t), a record lock's last byte at most


def lock_range(base: int, start: int, length: int) -> tuple[int, int] | int:
    """A record lock's bytes [start, end) from its l_whence's base, l_start and l_len, or
    -errno, as Linux's flock64_to_posix_lock: EOVERFLOW past OFFSET_MAX, EINVAL before 0;
    l_len 0 runs to OFFSET_MAX (end OFFSET_MAX + 1), a negative l_len ends at l_start."""
    if start > OFFSET_MAX - base:
        return -EOVERFLOW
    start += base
    if start < 0:
        return -EINVAL
    if length > 0:
        if length - 1 > OFFSET_MAX - start:
            return -EOVERFLOW
        return start, start + length
    if length < 0:
        return (start + length, start) if start + length >= 0 else -EINVAL
    return start, OFFSET_MAX + 1

# shoal's own file protocol (a choice, not Linux's): the most bytes one read or write request
# moves (the caller gets a short count), between kernel/files.py and daemons/files.py
MAX_IO = 1 << 20
MAX_RW = 0x7FFFF000  # the most one read or write moves: Linux's MAX_RW_COUNT (INT_MAX, page-rounded)
# The path a memfd_create file's descriptor keeps (as Linux's /proc/self/fd shows it, without
# the slash): it names no file, so such a file is never opened again by path.
MEMFD_PREFIX = "memfd:"

# trap causes (privileged spec, mcause/scause)
CAUSE_BREAKPOINT = 3
CAUSE_ECALL_U = 8

# instruction encodings (unprivileged spec): ebreak and its compressed form c.ebreak
EBREAK, C_EBREAK = 0x00100073, 0x9002

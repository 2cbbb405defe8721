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
ENAMETOOLONG, ENOSYS, ENOTEMPTY = 36, 38, 39
EOVERFLOW, EMSGSIZE, ECONNRESET, ECONNREFUSED, ETIMEDOUT = 75, 90, 104, 111, 110

# signals (asm-generic/signal.h)
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS = 1, 2, 3, 4, 5, 6, 7
SIGFPE, SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 8, 9, 10, 11, 12, 13, 14, 15
SIGNAL_NAMES = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
                7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
                13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM"}

# trap causes (privileged spec, mcause/scause)
CAUSE_BREAKPOINT = 3
CAUSE_ECALL_U = 8

# instruction encodings (unprivileged spec): ebreak and its compressed form c.ebreak
EBREAK, C_EBREAK = 0x00100073, 0x9002

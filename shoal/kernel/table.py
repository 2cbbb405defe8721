"""The kernel's tables, built here and nowhere else: the system calls by number (the Linux RV32
asm-generic, time64 numbers; shoal's own from 500, shoal.h) and the packet handlers by kind.
`new_kernel` makes a kernel with them installed; no kernel module imports this one.
"""

from __future__ import annotations

from collections.abc import Callable

from shoal.kernel import console, files, futexes, ikc, location, migrate, pipes, procs, report, rmem, shm
from shoal.kernel.calls import (
    copy,
    cred,
    fork,
    fs,
    futex,
    io,
    links,
    mlock,
    mman,
    poll,
    prio,
    proc,
    sockdata,
    socket,
    sysinfo,
    sysv,
    time,
    timer,
)
from shoal.kernel.calls import ikc as ikc_calls
from shoal.kernel.calls import ipc as ipc_calls
from shoal.kernel.calls import shoal as shoal_calls
from shoal.kernel.calls import signal as sig
from shoal.kernel.calls.common import Syscall
from shoal.kernel.container import FileKind
from shoal.kernel.kernel import Kernel, PacketHandler
from shoal.spec import ChipSpec

CALLS: tuple[tuple[int, str, Syscall], ...] = (
    (17, "getcwd", fs.sys_getcwd),
    (23, "dup", io.sys_dup),
    (24, "dup3", io.sys_dup3),
    (25, "fcntl64", io.sys_fcntl),
    (29, "ioctl", io.sys_ioctl),
    (33, "mknodat", fs.sys_mknodat),
    (34, "mkdirat", fs.sys_mkdirat),
    (35, "unlinkat", fs.sys_unlinkat),
    (36, "symlinkat", links.sys_symlinkat),
    (37, "linkat", links.sys_linkat),
    (38, "renameat", fs.sys_renameat),
    (43, "statfs64", links.sys_statfs64),
    (44, "fstatfs64", links.sys_fstatfs64),
    (45, "truncate64", fs.sys_truncate),
    (46, "ftruncate64", fs.sys_ftruncate),
    (47, "fallocate", links.sys_fallocate),
    (48, "faccessat", fs.sys_faccessat),
    (49, "chdir", fs.sys_chdir),
    (50, "fchdir", fs.sys_fchdir),
    (52, "fchmod", fs.sys_fchmod),
    (53, "fchmodat", fs.sys_fchmodat),
    (54, "fchownat", fs.sys_fchownat),
    (55, "fchown", fs.sys_fchown),
    (56, "openat", fs.sys_openat),
    (57, "close", io.sys_close),
    (59, "pipe2", pipes.sys_pipe2),
    (61, "getdents64", fs.sys_getdents64),
    (62, "llseek", io.sys_llseek),
    (63, "read", io.sys_read),
    (64, "write", io.sys_write),
    (65, "readv", io.sys_readv),
    (66, "writev", io.sys_writev),
    (67, "pread64", io.sys_pread64),
    (68, "pwrite64", io.sys_pwrite64),
    (69, "preadv", io.sys_preadv),
    (70, "pwritev", io.sys_pwritev),
    (71, "sendfile64", copy.sys_sendfile64),
    (78, "readlinkat", links.sys_readlinkat),
    (81, "sync", io.sys_sync),
    (82, "fsync", io.sys_fsync),
    (83, "fdatasync", io.sys_fsync),
    (93, "exit", proc.sys_exit),
    (94, "exit_group", proc.sys_exit_group),
    (95, "waitid", fork.sys_waitid),
    (96, "set_tid_address", proc.sys_set_tid_address),
    (99, "set_robust_list", futex.sys_set_robust_list),
    (100, "get_robust_list", futex.sys_get_robust_list),
    (102, "getitimer", timer.sys_getitimer),
    (103, "setitimer", timer.sys_setitimer),
    (107, "timer_create", timer.sys_timer_create),
    (109, "timer_getoverrun", timer.sys_timer_getoverrun),
    (111, "timer_delete", timer.sys_timer_delete),
    (118, "sched_setparam", prio.sys_sched_setparam),
    (119, "sched_setscheduler", prio.sys_sched_setscheduler),
    (120, "sched_getscheduler", prio.sys_sched_getscheduler),
    (121, "sched_getparam", prio.sys_sched_getparam),
    (123, "sched_getaffinity", proc.sys_sched_getaffinity),
    (124, "sched_yield", proc.sys_sched_yield),
    (125, "sched_get_priority_max", prio.sys_sched_get_priority_max),
    (126, "sched_get_priority_min", prio.sys_sched_get_priority_min),
    (129, "kill", sig.sys_kill),
    (130, "tkill", sig.sys_tkill),
    (131, "tgkill", sig.sys_tgkill),
    (132, "sigaltstack", sig.sys_sigaltstack),
    (133, "rt_sigsuspend", sig.sys_rt_sigsuspend),
    (134, "rt_sigaction", sig.sys_rt_sigaction),
    (135, "rt_sigprocmask", sig.sys_rt_sigprocmask),
    (136, "rt_sigpending", sig.sys_rt_sigpending),
    (138, "rt_sigqueueinfo", sig.sys_rt_sigqueueinfo),
    (139, "rt_sigreturn", sig.sys_rt_sigreturn),
    (153, "times", sysinfo.sys_times),
    (140, "setpriority", prio.sys_setpriority),
    (141, "getpriority", prio.sys_getpriority),
    (143, "setregid", cred.sys_setregid),
    (144, "setgid", cred.sys_setgid),
    (145, "setreuid", cred.sys_setreuid),
    (146, "setuid", cred.sys_setuid),
    (147, "setresuid", cred.sys_setresuid),
    (148, "getresuid", cred.sys_getresuid),
    (149, "setresgid", cred.sys_setresgid),
    (150, "getresgid", cred.sys_getresgid),
    (151, "setfsuid", cred.sys_setfsuid),
    (152, "setfsgid", cred.sys_setfsgid),
    (154, "setpgid", fork.sys_setpgid),
    (155, "getpgid", fork.sys_getpgid),
    (156, "getsid", fork.sys_getsid),
    (157, "setsid", fork.sys_setsid),
    (158, "getgroups", cred.sys_getgroups),
    (159, "setgroups", cred.sys_setgroups),
    (160, "uname", sysinfo.sys_uname),
    (165, "getrusage", sysinfo.sys_getrusage),
    (166, "umask", fs.sys_umask),
    (167, "prctl", proc.sys_prctl),
    (168, "getcpu", prio.sys_getcpu),
    (172, "getpid", proc.sys_getpid),
    (173, "getppid", fork.sys_getppid),
    (174, "getuid", cred.sys_getuid),
    (175, "geteuid", cred.sys_geteuid),
    (176, "getgid", cred.sys_getgid),
    (177, "getegid", cred.sys_getegid),
    (178, "gettid", proc.sys_gettid),
    (179, "sysinfo", sysinfo.sys_sysinfo),
    (180, "mq_open", ipc_calls.sys_mq_open),
    (181, "mq_unlink", ipc_calls.sys_mq_unlink),
    (184, "mq_notify", ipc_calls.sys_mq_notify),
    (185, "mq_getsetattr", ipc_calls.sys_mq_getsetattr),
    (186, "msgget", sysv.sys_msgget),
    (187, "msgctl", sysv.sys_msgctl),
    (188, "msgrcv", sysv.sys_msgrcv),
    (189, "msgsnd", sysv.sys_msgsnd),
    (190, "semget", sysv.sys_semget),
    (191, "semctl", sysv.sys_semctl),
    (193, "semop", sysv.sys_semop),
    (194, "shmget", sysv.sys_shmget),
    (195, "shmctl", sysv.sys_shmctl),
    (196, "shmat", sysv.sys_shmat),
    (197, "shmdt", sysv.sys_shmdt),
    (198, "socket", socket.sys_socket),
    (199, "socketpair", socket.sys_socketpair),
    (200, "bind", socket.sys_bind),
    (201, "listen", socket.sys_listen),
    (202, "accept", socket.sys_accept),
    (203, "connect", socket.sys_connect),
    (204, "getsockname", socket.sys_getsockname),
    (205, "getpeername", socket.sys_getpeername),
    (206, "sendto", sockdata.sys_sendto),
    (207, "recvfrom", sockdata.sys_recvfrom),
    (208, "setsockopt", socket.sys_setsockopt),
    (209, "getsockopt", socket.sys_getsockopt),
    (210, "shutdown", socket.sys_shutdown),
    (211, "sendmsg", sockdata.sys_sendmsg),
    (212, "recvmsg", sockdata.sys_recvmsg),
    (214, "brk", mman.sys_brk),
    (215, "munmap", mman.sys_munmap),
    (216, "mremap", mman.sys_mremap),
    (220, "clone", fork.sys_clone),
    (221, "execve", fork.sys_execve),
    (222, "mmap2", mman.sys_mmap2),
    (223, "fadvise64_64", io.sys_fadvise64_64),
    (226, "mprotect", mman.sys_mprotect),
    (227, "msync", mlock.sys_msync),
    (228, "mlock", mlock.sys_mlock),
    (229, "munlock", mlock.sys_munlock),
    (230, "mlockall", mlock.sys_mlockall),
    (231, "munlockall", mlock.sys_munlockall),
    (232, "mincore", mlock.sys_mincore),
    (233, "madvise", mman.sys_madvise),
    (240, "rt_tgsigqueueinfo", sig.sys_rt_tgsigqueueinfo),
    (242, "accept4", socket.sys_accept4),
    (260, "wait4", fork.sys_wait4),
    (261, "prlimit64", proc.sys_prlimit64),
    (276, "renameat2", fs.sys_renameat2),
    (278, "getrandom", sysinfo.sys_getrandom),
    (279, "memfd_create", links.sys_memfd_create),
    (283, "membarrier", mlock.sys_membarrier),
    (284, "mlock2", mlock.sys_mlock2),
    (285, "copy_file_range", copy.sys_copy_file_range),
    (291, "statx", fs.sys_statx),
    (403, "clock_gettime64", time.sys_clock_gettime),
    (404, "clock_settime64", time.sys_clock_settime),
    (406, "clock_getres_time64", time.sys_clock_getres),
    (407, "clock_nanosleep_time64", time.sys_clock_nanosleep),
    (408, "timer_gettime64", timer.sys_timer_gettime),
    (409, "timer_settime64", timer.sys_timer_settime),
    (412, "utimensat_time64", fs.sys_utimensat),
    (413, "pselect6_time64", poll.sys_pselect6),
    (414, "ppoll_time64", poll.sys_ppoll),
    (418, "mq_timedsend_time64", ipc_calls.sys_mq_timedsend),
    (419, "mq_timedreceive_time64", ipc_calls.sys_mq_timedreceive),
    (420, "semtimedop_time64", sysv.sys_semtimedop),
    (421, "rt_sigtimedwait_time64", sig.sys_rt_sigtimedwait),
    (422, "futex_time64", futex.sys_futex),
    (436, "close_range", copy.sys_close_range),
    (439, "faccessat2", fs.sys_faccessat2),
    (452, "fchmodat2", fs.sys_fchmodat2),
    (500, "shoal_cluster", shoal_calls.sys_cluster),
    (501, "shoal_clusters", shoal_calls.sys_clusters),
    (502, "shoal_spawn", shoal_calls.sys_spawn),
    (503, "shoal_wait", shoal_calls.sys_wait),
    (504, "shoal_name_link", shoal_calls.sys_name_link),
    (505, "shoal_name_lookup", shoal_calls.sys_name_lookup),
    (506, "shoal_mailbox_create", ikc_calls.sys_mailbox_create),
    (507, "shoal_mailbox_open", ikc_calls.sys_mailbox_open),
    (508, "shoal_mailbox_write", ikc_calls.sys_mailbox_write),
    (509, "shoal_mailbox_read", ikc_calls.sys_mailbox_read),
    (510, "shoal_mailbox_close", ikc_calls.sys_mailbox_close),
    (511, "shoal_portal_create", ikc_calls.sys_portal_create),
    (512, "shoal_portal_allow", ikc_calls.sys_portal_allow),
    (513, "shoal_portal_read", ikc_calls.sys_portal_read),
    (514, "shoal_portal_open", ikc_calls.sys_portal_open),
    (515, "shoal_portal_write", ikc_calls.sys_portal_write),
    (516, "shoal_portal_close", ikc_calls.sys_portal_close),
    (517, "shoal_sync_create", ikc_calls.sys_sync_create),
    (518, "shoal_sync_open", ikc_calls.sys_sync_open),
    (519, "shoal_sync_wait", ikc_calls.sys_sync_wait),
    (520, "shoal_sync_signal", ikc_calls.sys_sync_signal),
    (521, "shoal_sync_close", ikc_calls.sys_sync_close),
    (522, "shoal_name_unlink", shoal_calls.sys_name_unlink),
    (530, "shoal_migrate", shoal_calls.sys_migrate),
    (560, "shoal_sem_open", ipc_calls.sys_sem_open),
    (561, "shoal_sem_close", ipc_calls.sys_sem_close),
    (562, "shoal_sem_unlink", ipc_calls.sys_sem_unlink),
    (563, "shoal_sem_wait", ipc_calls.sys_sem_wait),
    (564, "shoal_sem_post", ipc_calls.sys_sem_post),
    (565, "shoal_sem_getvalue", ipc_calls.sys_sem_getvalue),
)


def _table(entries: tuple[tuple[int, str, Syscall], ...]) -> dict[int, tuple[str, Syscall]]:
    table: dict[int, tuple[str, Syscall]] = {}
    for num, name, fn in entries:
        if num in table:
            raise ValueError(f"system call {num} given twice ({table[num][0]}, {name})")
        table[num] = (name, fn)
    return table


def _handlers(*parts: dict[str, PacketHandler]) -> dict[str, PacketHandler]:
    table: dict[str, PacketHandler] = {}
    for part in parts:
        for kind, fn in part.items():
            if kind in table:
                raise ValueError(f"packet kind {str(kind)!r} handled twice")
            table[kind] = fn
    return table


SYSCALLS = _table(CALLS)
# Every kind of packet a kernel takes, by the module that handles it (no kind is in two);
# "reply" and "noc_error" are the kernel's own (kernel.py: handle).
PACKET_HANDLERS = _handlers(console.HANDLERS, ikc.HANDLERS, location.HANDLERS, migrate.HANDLERS,
                            report.HANDLERS, rmem.HANDLERS, shm.HANDLERS, procs.HANDLERS, pipes.HANDLERS,
                            sig.HANDLERS, fork.HANDLERS, futexes.HANDLERS, prio.HANDLERS, time.HANDLERS,
                            poll.HANDLERS)


# Descriptors a module counts itself (kernel/files.py: release, dup).
files.COUNTED[FileKind.PIPE] = (pipes.opened, pipes.dropped)


def new_kernel(spec: ChipSpec, cluster: int, alloc_tid: Callable[[], int]) -> Kernel:
    """The microkernel of compute cluster `cluster`, its tables installed."""
    return Kernel(spec, cluster, alloc_tid, SYSCALLS, PACKET_HANDLERS)

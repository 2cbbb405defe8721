/* shoal.h: shoal's native calls for guest programs (added to the include path by shoal cc).
 *
 * Every call returns a negative errno value on error (never -1 with errno).
 * Processes are named by global pid (getpid() returns it), endpoints by (pid, port):
 * never by cluster, so they keep working wherever the process runs. */
#ifndef SHOAL_H
#define SHOAL_H

#define SHOAL_VERSION 3
#define SHOAL_MAILBOX_SIZE 128  /* payload bytes of one mailbox message (as on the MPPA-256) */
#define SHOAL_ANY_CLUSTER (-1)  /* shoal_spawn: let the process manager choose */
#define SHOAL_SYNC_ALL_TO_ONE 0 /* pids[0] waits until every other pid signalled */
#define SHOAL_SYNC_ONE_TO_ALL 1 /* every other pid waits until pids[0] signalled */

#define SHOAL_NR_CLUSTER 500
#define SHOAL_NR_CLUSTERS 501
#define SHOAL_NR_SPAWN 502
#define SHOAL_NR_WAIT 503
#define SHOAL_NR_NAME_LINK 504
#define SHOAL_NR_NAME_LOOKUP 505
#define SHOAL_NR_MAILBOX_CREATE 506
#define SHOAL_NR_MAILBOX_OPEN 507
#define SHOAL_NR_MAILBOX_WRITE 508
#define SHOAL_NR_MAILBOX_READ 509
#define SHOAL_NR_MAILBOX_CLOSE 510
#define SHOAL_NR_PORTAL_CREATE 511
#define SHOAL_NR_PORTAL_ALLOW 512
#define SHOAL_NR_PORTAL_READ 513
#define SHOAL_NR_PORTAL_OPEN 514
#define SHOAL_NR_PORTAL_WRITE 515
#define SHOAL_NR_PORTAL_CLOSE 516
#define SHOAL_NR_SYNC_CREATE 517
#define SHOAL_NR_SYNC_OPEN 518
#define SHOAL_NR_SYNC_WAIT 519
#define SHOAL_NR_SYNC_SIGNAL 520
#define SHOAL_NR_SYNC_CLOSE 521
#define SHOAL_NR_NAME_UNLINK 522
#define SHOAL_NR_MIGRATE 530

static inline long __shoal_call(long n, long a0, long a1, long a2, long a3) {
    register long r_a0 __asm__("a0") = a0;
    register long r_a1 __asm__("a1") = a1;
    register long r_a2 __asm__("a2") = a2;
    register long r_a3 __asm__("a3") = a3;
    register long r_a7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(r_a0) : "r"(r_a1), "r"(r_a2), "r"(r_a3), "r"(r_a7) : "memory");
    return r_a0;
}

/* Where am I, and how big is the chip. */
static inline int shoal_cluster(void) { return (int)__shoal_call(SHOAL_NR_CLUSTER, 0, 0, 0, 0); }
static inline int shoal_clusters(void) { return (int)__shoal_call(SHOAL_NR_CLUSTERS, 0, 0, 0, 0); }

/* Start `file` (from the chip's file image) on `cluster` (or SHOAL_ANY_CLUSTER): its pid. */
static inline int shoal_spawn(const char *file, char *const argv[], int cluster) {
    return (int)__shoal_call(SHOAL_NR_SPAWN, (long)file, (long)argv, cluster, 0);
}
/* Wait for process `pid` to end; *status as waitpid's (use WIFEXITED, WEXITSTATUS...). */
static inline int shoal_wait(int pid, int *status) {
    return (int)__shoal_call(SHOAL_NR_WAIT, pid, (long)status, 0, 0);
}

/* Name service: link a name to the caller's pid; look a name up (pid or -ENOENT). */
static inline int shoal_name_link(const char *name) { return (int)__shoal_call(SHOAL_NR_NAME_LINK, (long)name, 0, 0, 0); }
static inline int shoal_name_unlink(const char *name) { return (int)__shoal_call(SHOAL_NR_NAME_UNLINK, (long)name, 0, 0, 0); }
static inline int shoal_name_lookup(const char *name) { return (int)__shoal_call(SHOAL_NR_NAME_LOOKUP, (long)name, 0, 0, 0); }

/* Mailboxes: small fixed-size messages; read blocks until one arrives. */
static inline int shoal_mailbox_create(int port) { return (int)__shoal_call(SHOAL_NR_MAILBOX_CREATE, port, 0, 0, 0); }
static inline int shoal_mailbox_open(int pid, int port) { return (int)__shoal_call(SHOAL_NR_MAILBOX_OPEN, pid, port, 0, 0); }
static inline int shoal_mailbox_write(int mbx, const void *buf, unsigned size) {
    return (int)__shoal_call(SHOAL_NR_MAILBOX_WRITE, mbx, (long)buf, size, 0);
}
static inline int shoal_mailbox_read(int mbx, void *buf, unsigned size) {
    return (int)__shoal_call(SHOAL_NR_MAILBOX_READ, mbx, (long)buf, size, 0);
}
static inline int shoal_mailbox_close(int mbx) { return (int)__shoal_call(SHOAL_NR_MAILBOX_CLOSE, mbx, 0, 0, 0); }

/* Portals: bulk transfers; the receiver allows one sender, then a read and a write meet. */
static inline int shoal_portal_create(int port) { return (int)__shoal_call(SHOAL_NR_PORTAL_CREATE, port, 0, 0, 0); }
static inline int shoal_portal_allow(int portal, int pid) { return (int)__shoal_call(SHOAL_NR_PORTAL_ALLOW, portal, pid, 0, 0); }
static inline int shoal_portal_read(int portal, void *buf, unsigned size) {
    return (int)__shoal_call(SHOAL_NR_PORTAL_READ, portal, (long)buf, size, 0);
}
static inline int shoal_portal_open(int pid, int port) { return (int)__shoal_call(SHOAL_NR_PORTAL_OPEN, pid, port, 0, 0); }
static inline int shoal_portal_write(int portal, const void *buf, unsigned size) {
    return (int)__shoal_call(SHOAL_NR_PORTAL_WRITE, portal, (long)buf, size, 0);
}
static inline int shoal_portal_close(int portal) { return (int)__shoal_call(SHOAL_NR_PORTAL_CLOSE, portal, 0, 0, 0); }

/* Sync: barrier-style signals among the processes `pids[0..n-1]` (see the modes above).
 * The waiting side creates, the signalling side opens. */
static inline int shoal_sync_create(int port, const int *pids, int n, int mode) {
    return (int)__shoal_call(SHOAL_NR_SYNC_CREATE, port, (long)pids, n, mode);
}
static inline int shoal_sync_open(int port, const int *pids, int n, int mode) {
    return (int)__shoal_call(SHOAL_NR_SYNC_OPEN, port, (long)pids, n, mode);
}
static inline int shoal_sync_wait(int sync) { return (int)__shoal_call(SHOAL_NR_SYNC_WAIT, sync, 0, 0, 0); }
static inline int shoal_sync_signal(int sync) { return (int)__shoal_call(SHOAL_NR_SYNC_SIGNAL, sync, 0, 0, 0); }
static inline int shoal_sync_close(int sync) { return (int)__shoal_call(SHOAL_NR_SYNC_CLOSE, sync, 0, 0, 0); }

/* Move the calling process (all its threads, memory and endpoints) to `cluster`: 0 once it
 * runs there, or a negative errno at the source if the move failed (-ENOMEM: no room there;
 * -EIO: a transfer failed; -EBUSY: already moving, or a thread stayed in a system call). */
static inline int shoal_migrate(int cluster) { return (int)__shoal_call(SHOAL_NR_MIGRATE, cluster, 0, 0, 0); }

/* The same, by a method: stop-and-copy (freeze, move everything, thaw), or live: the process is
 * frozen only for the last dirty pages (pre-copy), only while its threads and page table move
 * (post-copy: its pages follow, a touch of one not yet there waits for it), or one pre-copy
 * round then post-copy (hybrid). SHOAL_DEFAULT is the chip's choice (what shoal_migrate uses:
 * stop-and-copy unless the chip says otherwise). -EINVAL for an unknown method. */
enum { SHOAL_DEFAULT = 0, SHOAL_STOPCOPY = 1, SHOAL_PRECOPY = 2, SHOAL_POSTCOPY = 3, SHOAL_HYBRID = 4 };
static inline int shoal_migrate_by(int cluster, int method) {
    return (int)__shoal_call(SHOAL_NR_MIGRATE, cluster, method, 0, 0);
}

#endif

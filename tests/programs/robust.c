/* Robust futex lists (issue 22): set_robust_list/get_robust_list, the kernel's walk when a
 * thread ends (a raw exit, so no C library walks it first): owned words get FUTEX_OWNER_DIED and
 * a waiter is woken; robust mutexes (plain and priority-inheritance) give EOWNERDEAD,
 * pthread_mutex_consistent, ENOTRECOVERABLE. Output has no tids. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_futex
#define SYS_futex SYS_futex_time64
#endif

struct entry { struct entry *next; uint32_t word; };
static struct robust_list_head head;
static struct entry a, b, pend;
static volatile int ready;

static long sc(long r) { return r < 0 ? -errno : r; }

static void *dies(void *arg) {
    (void)arg;
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    head.list.next = (struct robust_list *)&a;
    a.next = &b;
    b.next = (struct entry *)&head;
    head.futex_offset = (long)offsetof(struct entry, word);
    head.list_op_pending = (struct robust_list *)&pend;
    a.word = tid;                        /* owned */
    b.word = tid | FUTEX_WAITERS;        /* owned, someone waits */
    pend.word = tid;                     /* being taken: the pending one counts too */
    syscall(SYS_set_robust_list, &head, sizeof head);
    ready = 1;
    while (ready != 2) sched_yield();    /* main is waiting on b */
    syscall(SYS_exit, 0);                /* the kernel walks the list (not joined: see main) */
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    while (!ready) sched_yield();
    uint32_t seen = b.word;
    ready = 2;
    long r = syscall(SYS_futex, &b.word, FUTEX_WAIT, seen, NULL, NULL, 0);
    printf("waiter woken %ld\n", r < 0 ? -errno : r);
    return NULL;
}

static void *take(void *m) {
    pthread_mutex_lock(m);
    return NULL;  /* ends holding it */
}

static void robust(int pi) {
    pthread_mutexattr_t at;
    pthread_mutex_t m;
    pthread_t t;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
    if (pi) pthread_mutexattr_setprotocol(&at, PTHREAD_PRIO_INHERIT);
    pthread_mutex_init(&m, &at);
    pthread_create(&t, NULL, take, &m);
    pthread_join(t, NULL);
    printf("pi %d lock %d\n", pi, pthread_mutex_lock(&m));
    printf("pi %d unlock without consistent %d\n", pi, pthread_mutex_unlock(&m));
    printf("pi %d lock again %d\n", pi, pthread_mutex_lock(&m));
    pthread_mutex_destroy(&m);
    pthread_mutex_init(&m, &at);
    pthread_create(&t, NULL, take, &m);
    pthread_join(t, NULL);
    printf("pi %d lock %d\n", pi, pthread_mutex_lock(&m));
    printf("pi %d consistent %d\n", pi, pthread_mutex_consistent(&m));
    int u = pthread_mutex_unlock(&m);
    printf("pi %d unlock %d", pi, u);
    printf(" relock %d\n", pthread_mutex_lock(&m));
    pthread_mutex_unlock(&m);
    pthread_mutex_destroy(&m);
}

int main(void) {
    struct robust_list_head *h = NULL, *libc = NULL, mine = {.list.next = &mine.list};
    size_t len = 0;
    syscall(SYS_get_robust_list, 0, &libc, &len);  /* the C library's own: put back below */
    printf("set bad len %ld\n", sc(syscall(SYS_set_robust_list, &mine, sizeof mine - 4)));
    printf("set %ld\n", sc(syscall(SYS_set_robust_list, &mine, sizeof mine)));
    printf("get %ld", sc(syscall(SYS_get_robust_list, 0, &h, &len)));
    printf(" same %d len-is-head %d\n", h == &mine, len == sizeof mine);
    printf("get no such thread %ld\n", sc(syscall(SYS_get_robust_list, 999999, &h, &len)));
    syscall(SYS_set_robust_list, libc, sizeof mine);

    pthread_t t1, t2;
    pthread_create(&t2, NULL, waiter, NULL);
    pthread_create(&t1, NULL, dies, NULL);
    pthread_join(t2, NULL);  /* (t1 ends by a raw exit: musl's join would never see it end) */
    for (int i = 0; i < 100000 && !(pend.word & FUTEX_OWNER_DIED); i++) sched_yield();
    printf("a died %d tid %d\n", !!(a.word & FUTEX_OWNER_DIED), a.word & FUTEX_TID_MASK);
    printf("b died %d waiters %d tid %d\n", !!(b.word & FUTEX_OWNER_DIED), !!(b.word & FUTEX_WAITERS),
           b.word & FUTEX_TID_MASK);
    printf("pending died %d\n", !!(pend.word & FUTEX_OWNER_DIED));
    robust(0);
    robust(1);
    return 0;
}

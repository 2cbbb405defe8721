/* FUTEX_REQUEUE and FUTEX_CMP_REQUEUE on words of MAP_SHARED memory that a forked child waits
   on (issue 22): with argv[1] "apart" the parent first fills most of its cluster, so that the
   child is placed on another one. A thread of the parent waits too. Requeued waiters must stay
   asleep through a wake of the first word and wake at one of the second. Counts are printed
   exactly with "together"; with "apart" only an error or none (shoal counts the caller's cluster's
   waiters, as its FUTEX_WAKE does). The host build's output is the reference. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared { int a, b, ready, woke; };
static struct shared *s;
static volatile unsigned char ballast[600 * 1024];
static int apart;

static long fx(int *w, int op, int val, long val2, int *w2, int val3) {
    return syscall(SYS_futex, w, op, val, val2, w2, val3);
}

static void nap(int ms) {
    struct timespec ts = {0, ms * 1000L * 1000L};
    nanosleep(&ts, NULL);
}

static void count(const char *what, long r) {
    if (apart && r >= 0) printf("%s: done\n", what);
    else printf("%s: %ld\n", what, r < 0 ? -(long)errno : r);
}

static void waiter(void) {  /* wait on a until woken (from a or, requeued, from b) */
    __atomic_add_fetch(&s->ready, 1, __ATOMIC_SEQ_CST);
    while (fx(&s->a, FUTEX_WAIT, 0, 0, NULL, 0) != 0) {}
    __atomic_add_fetch(&s->woke, 1, __ATOMIC_SEQ_CST);
}

static void *thread(void *arg) {
    (void)arg;
    waiter();
    return NULL;
}

static void settle(int n) {
    while (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST) < n) nap(1);
    nap(20);  /* asleep in the futex by now */
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    apart = argc > 1 && !strcmp(argv[1], "apart");
    if (apart)
        for (int i = 0; i < (int)sizeof ballast; i += 4096) ballast[i] = 1;
    s = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    errno = 0;
    count("negative count", fx(&s->a, FUTEX_CMP_REQUEUE, -1, 1, &s->b, 0));
    count("second word misaligned", fx(&s->a, FUTEX_REQUEUE, 0, 1, (int *)((char *)&s->b + 1), 0));
    pid_t c = fork();
    if (c == 0) {
        for (int r = 0; r < 2; r++) waiter();
        _exit(0);
    }
    pthread_t th;
    pthread_create(&th, NULL, thread, NULL);
    settle(2);
    errno = 0;
    count("cmp_requeue, value changed", fx(&s->a, FUTEX_CMP_REQUEUE, 0, INT_MAX, &s->b, 1));
    count("cmp_requeue", fx(&s->a, FUTEX_CMP_REQUEUE, 0, INT_MAX, &s->b, 0));
    count("wake a", fx(&s->a, FUTEX_WAKE, INT_MAX, 0, NULL, 0));
    nap(20);
    printf("woken after a wake of a: %d\n", __atomic_load_n(&s->woke, __ATOMIC_SEQ_CST));
    __atomic_store_n(&s->ready, 0, __ATOMIC_SEQ_CST);
    count("wake b", fx(&s->b, FUTEX_WAKE, INT_MAX, 0, NULL, 0));
    pthread_join(th, NULL);
    while (__atomic_load_n(&s->woke, __ATOMIC_SEQ_CST) < 2) nap(1);
    printf("woken after a wake of b: %d\n", __atomic_load_n(&s->woke, __ATOMIC_SEQ_CST));
    /* round two: the child alone; FUTEX_REQUEUE wakes none and moves it */
    settle(1);
    count("requeue", fx(&s->a, FUTEX_REQUEUE, 0, 1, &s->b, 0));
    count("wake a again", fx(&s->a, FUTEX_WAKE, 1, 0, NULL, 0));
    nap(20);
    printf("woken: %d\n", __atomic_load_n(&s->woke, __ATOMIC_SEQ_CST));
    count("wake b again", fx(&s->b, FUTEX_WAKE, 1, 0, NULL, 0));
    int st;
    waitpid(c, &st, 0);
    printf("woken at the end: %d, child status %d\n", __atomic_load_n(&s->woke, __ATOMIC_SEQ_CST),
           WEXITSTATUS(st));
    return 0;
}

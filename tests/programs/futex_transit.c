/* A forked child sleeps in FUTEX_WAIT on a word of MAP_SHARED memory; the parent wakes it
 * 20 ms later without changing the word (argv[1] "wake"), or first moves it to a second word
 * with FUTEX_REQUEUE and then wakes that one ("requeue"). A Linux waiter is never lost: the
 * child wakes (0, or EAGAIN if it came late) and the program ends. The host build's output
 * is the reference; the test moves the child just before the wake. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared { int a, b, ready; };

static long fx(int *w, int op, int val, long val2, int *w2, int val3) {
    return syscall(SYS_futex, w, op, val, val2, w2, val3);
}

static void nap(int ms) {
    struct timespec ts = {0, ms * 1000L * 1000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    int requeue = argc > 1 && !strcmp(argv[1], "requeue");
    struct shared *s = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) return 1;
    pid_t c = fork();
    if (c == 0) {
        __atomic_store_n(&s->ready, 1, __ATOMIC_SEQ_CST);
        long r = fx(&s->a, FUTEX_WAIT, 0, 0, NULL, 0);
        _exit(r == 0 || errno == EAGAIN ? 0 : 1);
    }
    while (!__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST)) nap(1);
    nap(20);  /* the child is asleep in the futex by now */
    if (requeue) {
        printf("requeued: %ld\n", fx(&s->a, FUTEX_CMP_REQUEUE, 0, 1, &s->b, 0));
        nap(20);
    }
    fx(requeue ? &s->b : &s->a, FUTEX_WAKE, 1, 0, NULL, 0);
    int st;
    waitpid(c, &st, 0);
    printf("child woke and ended: status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}

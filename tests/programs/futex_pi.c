/* Priority-inheritance futexes (issue 22): FUTEX_LOCK_PI / TRYLOCK_PI / UNLOCK_PI on a raw
 * word (Linux's protocol: owner tid, FUTEX_WAITERS, hand-over at unlock; EDEADLK, EPERM,
 * ESRCH, ETIMEDOUT) and PTHREAD_PRIO_INHERIT mutexes between threads. Output has no tids:
 * the same bytes natively and on the chip. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex
#define SYS_futex SYS_futex_time64
#endif

static volatile uint32_t word;
static volatile int go;
static pthread_mutex_t pm;
static long counter;

static long fx(volatile uint32_t *w, int op, const struct timespec *ts) {
    long r = syscall(SYS_futex, w, op, 0, ts, 0, 0);
    return r < 0 ? -errno : r;
}

static const char *who(uint32_t w) {
    pid_t me = (pid_t)syscall(SYS_gettid);
    if ((w & FUTEX_TID_MASK) == 0) return "nobody";
    return (pid_t)(w & FUTEX_TID_MASK) == me ? "me" : "other";
}

static void *waiter(void *arg) {
    (void)arg;
    long r = fx(&word, FUTEX_LOCK_PI_PRIVATE, NULL);  /* blocks until main unlocks */
    const char *o = who(word);
    int w = !!(word & FUTEX_WAITERS);  /* Linux hands over with it set */
    while (!go) sched_yield();  /* main prints first */
    printf("waiter lock %ld owner %s waiters %d\n", r, o, w);
    fflush(stdout);
    r = fx(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL);
    printf("waiter unlock %ld word-zero %d\n", r, word == 0);
    fflush(stdout);
    return NULL;
}

static void *holder(void *arg) {
    (void)arg;
    fx(&word, FUTEX_LOCK_PI_PRIVATE, NULL);
    return NULL;  /* ends holding it */
}

static volatile int held, release;

static void *holder2(void *arg) {
    (void)arg;
    fx(&word, FUTEX_LOCK_PI_PRIVATE, NULL);
    held = 1;
    while (!release) sched_yield();
    fx(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL);
    return NULL;
}

static void *adder(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&pm);
        long c = counter;
        if ((i & 63) == 0) sched_yield();
        counter = c + 1;
        pthread_mutex_unlock(&pm);
    }
    return NULL;
}

int main(void) {
    long r = fx(&word, FUTEX_LOCK_PI_PRIVATE, NULL);
    printf("lock free %ld owner %s\n", r, who(word));
    printf("lock again %ld\n", fx(&word, FUTEX_LOCK_PI_PRIVATE, NULL));  /* EDEADLK */
    printf("trylock own %ld\n", fx(&word, FUTEX_TRYLOCK_PI_PRIVATE, NULL));
    fflush(stdout);

    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    while (!(word & FUTEX_WAITERS)) sched_yield();  /* the waiter marked the word */
    printf("main sees waiters %d\n", !!(word & FUTEX_WAITERS));
    fflush(stdout);
    r = fx(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL);
    printf("main unlock %ld owner %s\n", r, who(word));
    fflush(stdout);
    go = 1;
    pthread_join(t, NULL);
    printf("unlock not owner %ld\n", fx(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL));  /* EPERM */

    pthread_create(&t, NULL, holder, NULL);
    pthread_join(t, NULL);
    /* its owner is gone and is not a thread: ESRCH (Linux looks the tid up) */
    printf("lock dead owner's %ld\n", fx(&word, FUTEX_LOCK_PI_PRIVATE, NULL));
    printf("trylock held %ld\n", fx(&word, FUTEX_TRYLOCK_PI_PRIVATE, NULL));
    word = 0;
    struct timespec past = {.tv_sec = 1, .tv_nsec = 0};
    printf("lock free, deadline past %ld\n", fx(&word, FUTEX_LOCK_PI_PRIVATE, &past));
    word = 0;
    pthread_create(&t, NULL, holder2, NULL);  /* held by a thread that lives: time out */
    while (!held) sched_yield();
    struct timespec soon;
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 10000000;
    if (soon.tv_nsec >= 1000000000) { soon.tv_sec++; soon.tv_nsec -= 1000000000; }
    printf("lock held, deadline soon %ld\n", fx(&word, FUTEX_LOCK_PI_PRIVATE, &soon));
    release = 1;
    pthread_join(t, NULL);
    printf("after holder2 word-zero %d\n", word == 0);
    struct timespec bad = {.tv_sec = 0, .tv_nsec = 2000000000};
    printf("bad timeout %ld\n", fx(&word, FUTEX_LOCK_PI_PRIVATE, &bad));

    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    printf("setprotocol %d\n", pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT));
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&pm, &a);
    printf("relock errorcheck %d\n", (pthread_mutex_lock(&pm), pthread_mutex_lock(&pm)));
    pthread_mutex_unlock(&pm);
    pthread_t ts[4];
    for (int i = 0; i < 4; i++) pthread_create(&ts[i], NULL, adder, NULL);
    for (int i = 0; i < 4; i++) pthread_join(ts[i], NULL);
    printf("counter %ld\n", counter);
    return 0;
}

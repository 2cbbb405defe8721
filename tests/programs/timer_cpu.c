/* POSIX timers on CPU-time clocks and overrun counts (kernel/timers.py): timer_create on
 * CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID and a thread's dynamic id fire as the CPU
 * time passes (not while asleep); an absolute expiry already past fires at once; a bad clock is
 * EINVAL; a blocked timer signal's overruns are its si_overrun and timer_getoverrun's answer
 * once taken. Prints only what is the same on every machine; compared with the host build. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int hits, got_overrun = -1;
static volatile unsigned long sink;

static void on_usr1(int sig) {
    (void)sig;
    hits++;
}

static void on_usr2(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    got_overrun = si->si_overrun;
}

static void spin_until(int want) {
    while (hits < want) sink += 3;
}

static timer_t make(clockid_t c, int sig, int *err) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = sig;
    timer_t t = 0;
    *err = timer_create(c, &ev, &t) ? errno : 0;
    return t;
}

static void arm(timer_t t, int flags, long long value_ns, long interval_ns) {
    struct itimerspec its = {{0, interval_ns}, {value_ns / 1000000000, value_ns % 1000000000}};
    if (timer_settime(t, flags, &its, NULL)) printf("settime errno %d\n", errno);
}

static long long cpu_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static volatile int stop_worker;
static void *worker(void *arg) {
    (void)arg;
    while (!stop_worker) sink += 5;
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    int e;

    timer_t pt = make(CLOCK_PROCESS_CPUTIME_ID, SIGUSR1, &e);
    printf("timer_create(PROCESS_CPUTIME): errno %d\n", e);
    arm(pt, 0, 5000000, 5000000);
    struct itimerspec g;
    timer_gettime(pt, &g);
    printf("gettime: interval %ld ns, value in (0, 5 ms]: %d\n", g.it_interval.tv_nsec,
           g.it_value.tv_sec == 0 && g.it_value.tv_nsec > 0 && g.it_value.tv_nsec <= 5000000);
    spin_until(3);
    arm(pt, 0, 0, 0);
    printf("process CPU timer: %d hits\n", hits);
    struct timespec nap = {0, 30000000};
    arm(pt, 0, 10000000, 0);
    nanosleep(&nap, NULL);
    printf("after a 30 ms sleep, 10 ms CPU timer: %d hits\n", hits);
    spin_until(4);
    printf("then it fired: %d hits\n", hits);

    /* absolute: already past fires at once; ahead fires when the clock gets there */
    arm(pt, TIMER_ABSTIME, 1, 0);
    printf("absolute past: %d hits\n", hits);
    arm(pt, TIMER_ABSTIME, cpu_ns(CLOCK_PROCESS_CPUTIME_ID) + 3000000, 0);
    spin_until(6);
    printf("absolute ahead: %d hits\n", hits);
    timer_delete(pt);

    timer_t tt = make(CLOCK_THREAD_CPUTIME_ID, SIGUSR1, &e);
    printf("timer_create(THREAD_CPUTIME): errno %d\n", e);
    arm(tt, 0, 4000000, 0);
    spin_until(7);
    printf("thread CPU timer: %d hits\n", hits);
    timer_delete(tt);

    /* another thread's clock: it fires as that thread runs, while this one sleeps */
    pthread_t th;
    clockid_t wc;
    pthread_create(&th, NULL, worker, NULL);
    pthread_getcpuclockid(th, &wc);
    timer_t wt = make(wc, SIGUSR1, &e);
    printf("timer_create(worker's clock): errno %d\n", e);
    arm(wt, 0, 2000000, 0);
    while (hits < 8) nanosleep(&(struct timespec){0, 1000000}, NULL);
    printf("worker's CPU timer: %d hits\n", hits);
    stop_worker = 1;
    pthread_join(th, NULL);
    timer_delete(wt);

    make((clockid_t)((~0) * 8 + 3), SIGUSR1, &e);
    printf("timer_create(which 3): errno %d\n", e);
    make(99, SIGUSR1, &e);
    printf("timer_create(99): errno %d\n", e);
    make((clockid_t)((~999999) * 8 + 6), SIGUSR1, &e);
    printf("timer_create(missing thread's clock): errno %d\n", e);

    /* overruns: a 1 ms timer's signal blocked for about 20 periods */
    struct sigaction s2;
    memset(&s2, 0, sizeof s2);
    s2.sa_sigaction = on_usr2;
    s2.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &s2, NULL);
    sigset_t blk;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR2);
    sigprocmask(SIG_BLOCK, &blk, NULL);
    timer_t ot = make(CLOCK_MONOTONIC, SIGUSR2, &e);
    arm(ot, 0, 1000000, 1000000);
    nanosleep(&(struct timespec){0, 20500000}, NULL);
    printf("before taking it: getoverrun %d\n", timer_getoverrun(ot));
    sigprocmask(SIG_UNBLOCK, &blk, NULL);
    int after = timer_getoverrun(ot);
    printf("si_overrun in [15, 25]: %d, getoverrun the same: %d\n", got_overrun >= 15 && got_overrun <= 25,
           after == got_overrun);
    timer_delete(ot);
    printf("getoverrun(deleted): %d errno %d\n", timer_getoverrun(ot), errno);
    return 0;
}

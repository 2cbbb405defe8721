/* A 4 ns periodic POSIX timer whose signal is ignored: Linux drops each expiry's signal (and
 * since 6.11 parks the timer until the signal is no longer ignored), so the program runs at
 * its own speed. Then, at 1 ms and blocked, a handler is set: the signal waits and its
 * overruns pile up until the mask comes down. Prints only what every Linux version agrees on. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile int hits, overrun;

static void on_alrm(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    hits++;
    overrun = si->si_overrun;
}

static void nap_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

int main(void) {
    signal(SIGALRM, SIG_IGN);
    timer_t t;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGALRM;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t)) return 1;
    struct itimerspec its = {{0, 4}, {0, 4}}, cur;
    timer_settime(t, 0, &its, NULL);
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 2000000UL; i++) x += i;
    nap_us(20000);
    timer_gettime(t, &cur);
    struct timespec res;
    clock_getres(CLOCK_MONOTONIC, &res);  /* (POSIX rounds an interval up to the resolution) */
    long iv = cur.it_interval.tv_nsec;
    printf("ignored: still armed %d, interval 4 ns to the resolution %d\n",
           cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0, iv >= 4 && iv <= 4 + res.tv_nsec);
    struct itimerspec ms = {{0, 1000000}, {0, 1000000}};
    timer_settime(t, 0, &ms, NULL);
    nap_us(3000);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_alrm;
    sa.sa_flags = SA_SIGINFO;
    sigset_t blk;
    sigemptyset(&blk);
    sigaddset(&blk, SIGALRM);
    sigprocmask(SIG_BLOCK, &blk, NULL);  /* (the handler is set while the signal waits) */
    sigaction(SIGALRM, &sa, NULL);
    nap_us(5000);
    printf("handled while blocked: %d\n", hits);
    sigprocmask(SIG_UNBLOCK, &blk, NULL);
    printf("handled once the mask is down: %d, with overruns >= 2: %d\n", hits >= 1, overrun >= 2);
    timer_delete(t);
    printf("done %d\n", x > 0);
    return 0;
}

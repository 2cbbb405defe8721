/* Timers that signal (tests/test_timers.py): alarm, setitimer/getitimer, POSIX timers with
   SIGEV_SIGNAL, SIGEV_NONE and SIGEV_THREAD, overruns, deletion and errors. Every line it
   prints is the same on Linux and on the chip (no wall-clock value is printed). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms, rt_hits, rt_value, rt_code;
static volatile int thread_hits;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void on_alarm(int sig) { (void)sig; alarms++; }
static void on_rt(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    rt_hits++;
    rt_value = si->si_value.sival_int;
    rt_code = si->si_code;
}
static void on_thread(union sigval v) {
    pthread_mutex_lock(&mu);
    thread_hits += v.sival_int;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_for(volatile sig_atomic_t *n, int want, int sig) {
    sigset_t none;
    sigemptyset(&none);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, sig);
    sigprocmask(SIG_BLOCK, &block, NULL);
    while (*n < want) sigsuspend(&none);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    /* alarm: fires once; a second alarm() returns what was left (rounded up) */
    alarm(1);
    printf("alarm(0) after alarm(1): %u\n", alarm(0));
    alarm(1);
    wait_for(&alarms, 1, SIGALRM);
    printf("alarm fired: %d\n", (int)alarms);

    /* setitimer: periodic, 20 ms then every 10 ms; getitimer gives the interval back */
    struct itimerval it = {{0, 10000}, {0, 20000}}, got;
    if (setitimer(ITIMER_REAL, &it, NULL)) perror("setitimer");
    getitimer(ITIMER_REAL, &got);
    printf("interval %ld.%06ld, value set: %d\n", (long)got.it_interval.tv_sec, (long)got.it_interval.tv_usec,
           got.it_value.tv_sec > 0 || got.it_value.tv_usec > 0);
    wait_for(&alarms, 6, SIGALRM);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, &got);
    printf("periodic: %d alarms; old interval %ld us\n", (int)alarms, (long)got.it_interval.tv_usec);
    getitimer(ITIMER_REAL, &got);
    printf("disarmed: %ld %ld\n", (long)got.it_value.tv_sec, (long)got.it_value.tv_usec);

    /* a POSIX timer with SIGEV_SIGNAL and a value, periodic, on CLOCK_MONOTONIC */
    struct sigaction sr;
    memset(&sr, 0, sizeof sr);
    sr.sa_sigaction = on_rt;
    sr.sa_flags = SA_SIGINFO;
    sigaction(SIGRTMIN, &sr, NULL);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    sev.sigev_value.sival_int = 42;
    timer_t t1;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t1)) perror("timer_create");
    struct itimerspec ts = {{0, 5000000}, {0, 5000000}}, gts;
    timer_settime(t1, 0, &ts, NULL);
    timer_gettime(t1, &gts);
    printf("gettime interval %ld ns, armed %d\n", gts.it_interval.tv_nsec, gts.it_value.tv_nsec > 0);
    wait_for(&rt_hits, 3, SIGRTMIN);
    printf("rt timer: %d hits, value %d, SI_TIMER %d\n", (int)rt_hits, (int)rt_value, rt_code == SI_TIMER);

    /* overruns: block the signal for ~10 periods, then take it: the rest are counted */
    sigset_t blk;
    sigemptyset(&blk);
    sigaddset(&blk, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &blk, NULL);
    struct timespec nap = {0, 52000000};
    nanosleep(&nap, NULL);
    int before = rt_hits;
    sigprocmask(SIG_UNBLOCK, &blk, NULL);
    printf("after unblocking: %d more, overrun >= 5: %d\n", (int)rt_hits - before, timer_getoverrun(t1) >= 5);
    timer_delete(t1);
    errno = 0;
    int r = timer_settime(t1, 0, &ts, NULL);
    printf("settime on a deleted timer: %d %s\n", r, strerror(errno));

    /* SIGEV_NONE: nothing is sent, the time left can be read */
    sev.sigev_notify = SIGEV_NONE;
    timer_t t2;
    timer_create(CLOCK_REALTIME, &sev, &t2);
    struct itimerspec once = {{0, 0}, {2, 0}};
    timer_settime(t2, 0, &once, NULL);
    timer_gettime(t2, &gts);
    printf("SIGEV_NONE left: %ld s (about 2)\n", (long)(gts.it_value.tv_sec + (gts.it_value.tv_nsec > 500000000)));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec abs = {{0, 0}, {now.tv_sec - 1, 0}};  /* in the past: expires at once */
    printf("absolute time in the past: %d\n", timer_settime(t2, TIMER_ABSTIME, &abs, NULL));
    timer_delete(t2);

    /* SIGEV_THREAD: musl runs the function on a thread of its own */
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = on_thread;
    sev.sigev_value.sival_int = 7;
    timer_t t3;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t3)) perror("timer_create thread");
    struct itimerspec one = {{0, 0}, {0, 3000000}};
    timer_settime(t3, 0, &one, NULL);
    pthread_mutex_lock(&mu);
    while (thread_hits == 0) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    printf("SIGEV_THREAD ran with %d\n", thread_hits);
    timer_delete(t3);

    /* errors */
    errno = 0;
    r = timer_create(12345, NULL, &t2);
    printf("bad clock: %d %s\n", r, strerror(errno));
    struct itimerval bad = {{0, 2000000}, {0, 0}};
    errno = 0;
    r = setitimer(ITIMER_REAL, &bad, NULL);
    printf("bad usec: %d %s\n", r, strerror(errno));
    errno = 0;
    r = setitimer(17, &it, NULL);
    printf("bad which: %d %s\n", r, strerror(errno));
    return 0;
}

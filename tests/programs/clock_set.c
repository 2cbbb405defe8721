/* clock_settime (kernel/calls/time.py). Mode "errors" (compared with the host build, run as
 * root: nothing it asks is ever set): only CLOCK_REALTIME is settable (EINVAL for the monotonic
 * and coarse clocks, a bad time; EPERM for a CPU-time clock), and only by root (EPERM for a
 * user, after the EINVAL checks). Mode "set" (the chip only, as root: a host's clock is not
 * ours to move): the set time is read back; an absolute CLOCK_REALTIME sleep and timer follow
 * a set, relative ones and CLOCK_MONOTONIC do not; a child (which a host may move to another
 * cluster) reads the same time. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void try_set(const char *what, clockid_t c, long long sec, long nsec) {
    struct timespec ts = {sec, nsec};
    int r = clock_settime(c, &ts);
    printf("%s: %d errno %d\n", what, r, r ? errno : 0);
    errno = 0;
}

static int errors(void) {
    clockid_t pc, tc;
    clock_getcpuclockid(0, &pc);
    pthread_getcpuclockid(pthread_self(), &tc);
    try_set("MONOTONIC", CLOCK_MONOTONIC, 100, 0);
    try_set("BOOTTIME", CLOCK_BOOTTIME, 100, 0);
    try_set("MONOTONIC_RAW", CLOCK_MONOTONIC_RAW, 100, 0);
    try_set("REALTIME_COARSE", CLOCK_REALTIME_COARSE, 100, 0);
    try_set("PROCESS_CPUTIME", CLOCK_PROCESS_CPUTIME_ID, 1, 0);
    try_set("THREAD_CPUTIME", CLOCK_THREAD_CPUTIME_ID, 1, 0);
    try_set("process clock by id", pc, 1, 0);
    try_set("thread clock by id", tc, 1, 0);
    try_set("clock 99", 99, 1, 0);
    try_set("REALTIME nsec 1e9", CLOCK_REALTIME, 1900000000, 1000000000);
    try_set("REALTIME nsec -1", CLOCK_REALTIME, 1900000000, -1);
    try_set("REALTIME sec -1", CLOCK_REALTIME, -1, 0);
    if (setresuid(1000, 1000, 1000)) return 1;
    try_set("user REALTIME", CLOCK_REALTIME, 1900000000, 0);
    try_set("user REALTIME nsec 1e9", CLOCK_REALTIME, 1900000000, 1000000000);
    try_set("user MONOTONIC", CLOCK_MONOTONIC, 100, 0);
    try_set("user PROCESS_CPUTIME", CLOCK_PROCESS_CPUTIME_ID, 1, 0);
    return 0;
}

static long long now_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *abs_sleeper(void *arg) {
    long long *out = arg, m0 = now_ns(CLOCK_MONOTONIC);
    struct timespec at = {time(NULL) + 10, 0};  /* ten seconds from now, absolute */
    int r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL);
    out[0] = r;
    out[1] = now_ns(CLOCK_MONOTONIC) - m0;
    return NULL;
}

static void *rel_sleeper(void *arg) {
    long long *out = arg, m0 = now_ns(CLOCK_MONOTONIC);
    struct timespec d = {0, 300000000};  /* 300 ms, relative */
    out[0] = clock_nanosleep(CLOCK_REALTIME, 0, &d, NULL);
    out[1] = now_ns(CLOCK_MONOTONIC) - m0;
    return NULL;
}

static volatile int fired;
static void on_alarm(int sig) {
    (void)sig;
    fired++;
}

static int set_mode(void) {
    const long long Y2030 = 1893456000LL;
    long long m0 = now_ns(CLOCK_MONOTONIC);
    try_set("set 2030", CLOCK_REALTIME, Y2030, 500000000);
    long long r = now_ns(CLOCK_REALTIME);
    printf("read back: %lld s, within 1 ms: %d\n", r / 1000000000, r - (Y2030 * 1000000000 + 500000000) < 1000000);
    printf("monotonic went on: %d\n", now_ns(CLOCK_MONOTONIC) >= m0);

    /* absolute sleep (10 s ahead) and relative sleep (300 ms); the clock jumps 20 s ahead */
    long long a[2], b[2];
    pthread_t ta, tb;
    pthread_create(&ta, NULL, abs_sleeper, a);
    pthread_create(&tb, NULL, rel_sleeper, b);
    nanosleep(&(struct timespec){0, 100000000}, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    printf("jump 20 s: %d\n", clock_settime(CLOCK_REALTIME, &ts));
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("absolute sleep woke at the jump: rc %lld, after 100-110 ms: %d\n", a[0],
           a[1] >= 100000000 && a[1] < 110000000);
    printf("relative sleep kept its 300 ms: rc %lld, %d\n", b[0], b[1] >= 300000000 && b[1] < 310000000);

    /* an absolute CLOCK_REALTIME timer 1 h ahead fires when the clock is set past it; a
       relative one (1 h) does not */
    signal(SIGALRM, on_alarm);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGALRM;
    timer_t ab, rel;
    timer_create(CLOCK_REALTIME, &ev, &ab);
    timer_create(CLOCK_REALTIME, &ev, &rel);
    clock_gettime(CLOCK_REALTIME, &ts);
    struct itimerspec its = {{0, 0}, {ts.tv_sec + 3600, 0}};
    timer_settime(ab, TIMER_ABSTIME, &its, NULL);
    its.it_value.tv_sec = 3600;
    timer_settime(rel, 0, &its, NULL);
    ts.tv_sec += 7200;
    printf("jump 2 h: %d\n", clock_settime(CLOCK_REALTIME, &ts));
    nanosleep(&(struct timespec){0, 1000000}, NULL);
    struct itimerspec left;
    timer_gettime(rel, &left);
    printf("absolute timer fired: %d; relative one still armed, > 3599 s left: %d\n", fired,
           left.it_value.tv_sec >= 3599);

    /* a child reads the chip's time (the parent sets it while the child waits) */
    int fds[2], back[2];
    if (pipe(fds) || pipe(back)) return 1;
    pid_t c = fork();
    if (c == 0) {
        char ch;
        if (read(fds[0], &ch, 1) != 1) _exit(1);
        long long t = now_ns(CLOCK_REALTIME) / 1000000000;
        if (write(back[1], &t, sizeof t) != sizeof t) _exit(1);
        _exit(0);
    }
    nanosleep(&(struct timespec){0, 50000000}, NULL);  /* (a host may move it meanwhile) */
    try_set("set 2031", CLOCK_REALTIME, Y2030 + 365 * 86400, 0);
    nanosleep(&(struct timespec){0, 1000000}, NULL);  /* (the setting crosses the chip) */
    if (write(fds[1], "x", 1) != 1) return 1;
    long long ct = 0;
    if (read(back[0], &ct, sizeof ct) != sizeof ct) return 1;
    waitpid(c, NULL, 0);
    printf("child read %lld s\n", ct);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "set")) return set_mode();
    return errors();
}

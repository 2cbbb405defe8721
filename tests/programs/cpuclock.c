/* CPU-time clocks by id (kernel/calls/time.py): clock_getcpuclockid and pthread_getcpuclockid
 * give Linux's dynamic clock ids; clock_gettime and clock_getres take them for the caller, its
 * threads and another process (a forked child, which a host may move to another cluster);
 * a thread clock of another process, a bad id and a reaped process are errors. Only what is
 * the same on every machine is printed (ok/errno, orderings). Compared with the host build. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static void burn(long n) {
    for (long i = 0; i < n; i++) sink += i * 7;
}

static long long ns(clockid_t c, int *err) {
    struct timespec ts = {0, 0};
    *err = clock_gettime(c, &ts) ? errno : 0;
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void gettime(const char *what, clockid_t c) {
    int e;
    long long v = ns(c, &e);
    printf("%s: errno %d positive %d\n", what, e, v > 0);
}

static void getres(const char *what, clockid_t c) {
    struct timespec ts;
    int r = clock_getres(c, &ts);
    printf("%s getres: %d errno %d\n", what, r, r ? errno : 0);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;

static void *worker(void *arg) {
    (void)arg;
    burn(200000);
    pthread_mutex_lock(&mu);
    stage = 1;
    pthread_cond_broadcast(&cv);
    while (stage != 2) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    clockid_t self, mine, byid, none, tc, other;
    burn(100000);
    printf("getcpuclockid(0): %d\n", clock_getcpuclockid(0, &self));
    printf("getcpuclockid(getpid()): %d\n", clock_getcpuclockid(getpid(), &byid));
    printf("getcpuclockid(missing): %d\n", clock_getcpuclockid(999999, &none));
    clockid_t init;
    printf("getcpuclockid(init): %d\n", clock_getcpuclockid(1, &init));
    int ie;
    ns(init, &ie);  /* (its value: a host's init ran; the chip's init is the host, 0) */
    printf("init: errno %d\n", ie);
    gettime("process by 0", self);
    gettime("process by pid", byid);
    getres("process by pid", byid);
    int e1, e2, e3;
    long long a = ns(self, &e1), b = ns(CLOCK_PROCESS_CPUTIME_ID, &e2);
    burn(100000);
    long long c = ns(byid, &e3);
    printf("ordered: %d\n", !e1 && !e2 && !e3 && a <= b && b < c);
    /* Linux's ids: PROF (0) counts user and system time, VIRT (1) user only */
    clockid_t prof = (clockid_t)((~0) * 8 + 0), virt = (clockid_t)((~0) * 8 + 1);
    long long v = ns(virt, &e1), p = ns(prof, &e2);
    printf("virt <= prof: %d errnos %d %d\n", v <= p, e1, e2);
    getres("which 3", (clockid_t)((~0) * 8 + 3));
    getres("clock 99", 99);

    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    pthread_mutex_lock(&mu);
    while (stage != 1) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    printf("pthread_getcpuclockid(self): %d\n", pthread_getcpuclockid(pthread_self(), &mine));
    printf("pthread_getcpuclockid(worker): %d\n", pthread_getcpuclockid(th, &tc));
    gettime("own thread", mine);
    gettime("worker thread", tc);
    getres("worker thread", tc);
    long long w = ns(tc, &e1), all = ns(self, &e2);
    printf("worker < process: %d\n", w < all);
    struct timespec ms = {0, 1000000};
    printf("nanosleep(own thread clock): %d\n", clock_nanosleep(mine, 0, &ms, NULL));
    printf("nanosleep(THREAD_CPUTIME): %d\n", clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ms, NULL));
    pthread_mutex_lock(&mu);
    stage = 2;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(th, NULL);

    int fds[2];
    char ch;
    if (pipe(fds)) return 1;
    pid_t kid = fork();
    if (kid == 0) {
        burn(50000);
        if (read(fds[0], &ch, 1) != 1) _exit(1);
        _exit(0);
    }
    struct timespec nap = {0, 20000000};
    nanosleep(&nap, NULL);  /* (a host may move the child meanwhile) */
    printf("getcpuclockid(child): %d\n", clock_getcpuclockid(kid, &other));
    gettime("child process", other);
    getres("child process", other);
    clockid_t kt = (clockid_t)((~kid) * 8 + 6);  /* the child's thread clock: not ours */
    gettime("child's thread", kt);
    getres("child's thread", kt);
    if (write(fds[1], "x", 1) != 1) return 1;
    waitpid(kid, NULL, 0);
    gettime("reaped child", other);
    getres("reaped child", other);
    printf("getcpuclockid(reaped): %d\n", clock_getcpuclockid(kid, &other));
    return 0;
}

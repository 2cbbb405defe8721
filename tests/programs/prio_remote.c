/* sched_* and get/setpriority of another process (a forked child, which a host may move to
 * another cluster while the parent sleeps 20 ms): found wherever it runs, its nice read and
 * set; a user may not renice root's process (EPERM); an ended and reaped one is ESRCH. The
 * sched_* calls by syscall(): musl's wrappers are ENOSYS stubs (Linux's are per thread). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#define sched_getscheduler(p) (int)syscall(SYS_sched_getscheduler, (p))
#define sched_getparam(p, sp) (int)syscall(SYS_sched_getparam, (p), (sp))
#define sched_setparam(p, sp) (int)syscall(SYS_sched_setparam, (p), (sp))
#define sched_setscheduler(p, pol, sp) (int)syscall(SYS_sched_setscheduler, (p), (pol), (sp))

static const char *err(int r) {
    return r >= 0 ? "ok" : errno == ESRCH ? "ESRCH" : errno == EPERM ? "EPERM" : errno == EACCES ? "EACCES"
         : errno == EINVAL ? "EINVAL" : "other";
}

int main(void) {
    setvbuf(stdout, 0, _IONBF, 0);
    pid_t c = fork();
    if (c == 0) {
        nap(200);  /* the parent renices it meanwhile */
        errno = 0;
        int n = getpriority(PRIO_PROCESS, 0);
        _exit(errno ? 99 : n);
    }
    nap(20);
    errno = 0;
    printf("getpriority(child): %d %s\n", getpriority(PRIO_PROCESS, c), errno ? "error" : "");
    printf("setpriority(child, 7): %s\n", err(setpriority(PRIO_PROCESS, c, 7)));
    errno = 0;
    printf("getpriority(child): %d\n", getpriority(PRIO_PROCESS, c));
    printf("sched_getscheduler(child): %d\n", sched_getscheduler(c));
    struct sched_param sp = {.sched_priority = 42};
    int r;
    r = sched_getparam(c, &sp);
    printf("sched_getparam(child): %s, priority %d\n", err(r), sp.sched_priority);
    sp.sched_priority = 0;
    printf("sched_setparam(child): %s\n", err(sched_setparam(c, &sp)));
    printf("sched_setscheduler(child, OTHER): %s\n", err(sched_setscheduler(c, SCHED_OTHER, &sp)));
    sp.sched_priority = 5;
    printf("sched_setscheduler(child, OTHER, 5): %s\n", err(sched_setscheduler(c, SCHED_OTHER, &sp)));
    sp.sched_priority = 9;  /* root's real-time policy, kept and read back wherever it runs */
    printf("sched_setscheduler(child, FIFO, 9): %s\n", err(sched_setscheduler(c, SCHED_FIFO, &sp)));
    printf("sched_getscheduler(child): %d\n", sched_getscheduler(c));
    sp.sched_priority = 0;
    r = sched_getparam(c, &sp);
    printf("sched_getparam(child): %s, priority %d\n", err(r), sp.sched_priority);
    sp.sched_priority = 11;
    printf("sched_setparam(child, 11): %s\n", err(sched_setparam(c, &sp)));
    r = sched_getparam(c, &sp);
    printf("sched_getparam(child): %s, priority %d\n", err(r), sp.sched_priority);
    sp.sched_priority = 0;
    printf("sched_setparam(child, 0) on FIFO: %s\n", err(sched_setparam(c, &sp)));
    printf("sched_setscheduler(child, OTHER): %s\n", err(sched_setscheduler(c, SCHED_OTHER, &sp)));
    pid_t parent = getpid();
    pid_t u = fork();
    if (u == 0) {  /* a user's answers about root's processes */
        if (setuid(1000) != 0) _exit(98);
        int a = setpriority(PRIO_PROCESS, parent, 10) == -1 && errno == EPERM;
        int b = setpriority(PRIO_PROCESS, c, 10) == -1 && errno == EPERM;
        errno = 0;
        int g = getpriority(PRIO_PROCESS, c) == 7 && errno == 0;
        int s = sched_getscheduler(c) == SCHED_OTHER;
        struct sched_param z = {0};
        int o = sched_setscheduler(c, SCHED_OTHER, &z) == -1 && errno == EPERM;
        _exit(a + 2 * b + 4 * g + 8 * s + 16 * o);  /* 31 */
    }
    int st;
    waitpid(u, &st, 0);
    printf("user: %d\n", WEXITSTATUS(st));
    waitpid(c, &st, 0);
    printf("child's own nice: %d\n", WEXITSTATUS(st));
    errno = 0;
    r = getpriority(PRIO_PROCESS, c);
    printf("reaped: getpriority %s, setpriority %s, sched_getscheduler %s\n", r == -1 && errno ? err(-1) : "ok",
           err(setpriority(PRIO_PROCESS, c, 1)), err(sched_getscheduler(c)));
    return 0;
}

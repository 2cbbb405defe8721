/* Children's CPU times (kernel/calls/sysinfo.py): times()' tms_cutime/tms_cstime and
 * getrusage(RUSAGE_CHILDREN) count the reaped children (and theirs, reaped by them), not one
 * not yet reaped nor one waited for with WNOWAIT; a fork's child starts with none. Each child
 * burns 30 ms of its CPU time (by its CPU-time clock, so that any machine agrees); only
 * comparisons are printed. Compared with the host build. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static void burn_ms(long ms) {
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 1000; i++) sink += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static long cu(void) {
    struct tms t;
    times(&t);
    return (long)(t.tms_cutime + t.tms_cstime);
}

static long ru_children_us(void) {
    struct rusage r;
    getrusage(RUSAGE_CHILDREN, &r);
    return r.ru_utime.tv_sec * 1000000L + r.ru_utime.tv_usec + r.ru_stime.tv_sec * 1000000L
           + r.ru_stime.tv_usec;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    long tick = sysconf(_SC_CLK_TCK);
    printf("at start: children's ticks %ld, rusage %ld\n", cu(), ru_children_us());
    pid_t c = fork();
    if (c == 0) {
        burn_ms(30);
        _exit(0);
    }
    siginfo_t si;
    waitid(P_PID, c, &si, WEXITED | WNOWAIT);
    printf("ended, not reaped (WNOWAIT): %ld, rusage %ld\n", cu(), ru_children_us());
    waitpid(c, NULL, 0);
    long one = cu(), one_us = ru_children_us();
    printf("reaped: >= 2 ticks of %ld: %d, rusage >= 25 ms: %d\n", tick, one >= 2 * tick / 100, one_us >= 25000);

    c = fork();
    if (c == 0) {  /* the fork's child: none of its parent's children counts */
        printf("fresh child: %ld, rusage %ld\n", cu(), ru_children_us());
        pid_t g = fork();
        if (g == 0) {
            burn_ms(30);
            _exit(0);
        }
        waitpid(g, NULL, 0);
        printf("child reaped its own: %d\n", ru_children_us() >= 25000);
        burn_ms(30);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    long all_us = ru_children_us();
    printf("grandchild counted too: %d\n", all_us - one_us >= 50000);

    pid_t z = fork();
    if (z == 0) {
        burn_ms(30);
        _exit(0);
    }
    waitid(P_PID, z, &si, WEXITED | WNOWAIT);  /* a zombie: not counted until reaped */
    printf("zombie not counted: %d\n", ru_children_us() == all_us);
    waitpid(z, NULL, 0);
    printf("then counted: %d\n", ru_children_us() - all_us >= 25000);
    return 0;
}

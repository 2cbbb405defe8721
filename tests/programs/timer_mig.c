/* A periodic ITIMER_REAL of 1 ms, counted to N by a handler (tests/test_timers.py moves the
   process while it runs). With a second argument, also prints the process's monotonic time
   from arming to the N-th signal, in microseconds (only meaningful on the chip). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t hits;
static void on_alarm(int sig) { (void)sig; hits++; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 30;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t blk, none;
    sigemptyset(&blk);
    sigaddset(&blk, SIGALRM);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &blk, NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    while (hits < n) sigsuspend(&none);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%d alarms\n", (int)hits);
    if (argc > 2)
        printf("elapsed %lld us\n", ((long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)) / 1000);
    return 0;
}

/* CPU-time interval timers (kernel/timers.py): ITIMER_VIRTUAL counts the process's user CPU
 * time (SIGVTALRM), ITIMER_PROF its user and system time (SIGPROF); neither runs while the
 * process sleeps; getitimer reads them back; a fork's child starts with them disarmed; bad
 * arguments are EINVAL. Prints only what is the same on every machine; compared with the host
 * build. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int vt, pr;
static volatile unsigned long sink;

static void on_sig(int sig) {
    if (sig == SIGVTALRM) vt++;
    else pr++;
}

static void spin_until(volatile int *n, int want) {
    while (*n < want) sink += 3;
}

static void show(const char *what, int rc) {
    printf("%s = %d errno %d\n", what, rc, rc ? errno : 0);
    errno = 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGVTALRM, &sa, NULL);
    sigaction(SIGPROF, &sa, NULL);

    struct itimerval it = {{0, 10000}, {0, 10000}}, got, zero = {{0, 0}, {0, 0}};
    show("setitimer(VIRTUAL, 10 ms)", setitimer(ITIMER_VIRTUAL, &it, NULL));
    getitimer(ITIMER_VIRTUAL, &got);
    /* (Linux adds a scheduler tick, 1 to 10 ms, to a CPU-time timer's value: set_cpu_itimer) */
    printf("interval %ld us, value in (0, 20 ms]: %d\n", (long)got.it_interval.tv_usec,
           got.it_value.tv_sec == 0 && got.it_value.tv_usec > 0 && got.it_value.tv_usec <= 20000);
    spin_until(&vt, 3);
    show("disarm, old", setitimer(ITIMER_VIRTUAL, &zero, &got));
    printf("vtalrm %d, old interval %ld us\n", vt, (long)got.it_interval.tv_usec);
    getitimer(ITIMER_VIRTUAL, &got);
    printf("disarmed: %ld %ld\n", (long)got.it_value.tv_usec, (long)got.it_interval.tv_usec);

    show("setitimer(PROF, 10 ms)", setitimer(ITIMER_PROF, &it, NULL));
    spin_until(&pr, 2);
    setitimer(ITIMER_PROF, &zero, NULL);
    printf("prof %d vtalrm %d\n", pr, vt);

    /* asleep, no CPU time passes: a one-shot 50 ms virtual timer is still far off after 100 ms */
    struct itimerval once = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_VIRTUAL, &once, NULL);
    struct timespec nap = {0, 100000000};
    nanosleep(&nap, NULL);
    getitimer(ITIMER_VIRTUAL, &got);
    printf("after a 100 ms sleep: vtalrm %d, still > 40 ms left: %d\n", vt,
           got.it_value.tv_sec == 0 && got.it_value.tv_usec > 40000);
    pid_t c = fork();
    if (c == 0) {
        struct itimerval g;
        getitimer(ITIMER_VIRTUAL, &g);
        printf("child: virtual %ld %ld\n", (long)g.it_value.tv_usec, (long)g.it_interval.tv_usec);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    spin_until(&vt, 4);
    getitimer(ITIMER_VIRTUAL, &got);
    printf("one-shot fired: vtalrm %d, now %ld %ld\n", vt, (long)got.it_value.tv_usec,
           (long)got.it_interval.tv_usec);

    struct itimerval bad = {{0, 0}, {0, 1000000}};
    show("setitimer(VIRTUAL, usec 1000000)", setitimer(ITIMER_VIRTUAL, &bad, NULL));
    show("setitimer(5)", setitimer(5, &it, NULL));
    show("getitimer(-1)", getitimer(-1, &got));
    return 0;
}

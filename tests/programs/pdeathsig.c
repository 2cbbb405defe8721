/* prctl(PR_SET_PDEATHSIG / PR_GET_PDEATHSIG): a child asks for SIGUSR1 when its parent ends
 * and gets it (si_pid: the parent that ended) once the parent exits; fork clears it in the
 * grandchild; a change of effective uid clears it; a bad signal is EINVAL. The parent sleeps
 * 100 ms before it exits (time for a host to move the child). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got, from;

static void on_usr1(int s, siginfo_t *si, void *uc) {
    (void)s; (void)uc;
    got++;
    from = si->si_pid;
}

static int pdeathsig(void) {
    int v = -1;
    if (prctl(PR_GET_PDEATHSIG, &v) != 0) return -2;
    return v;
}

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void reap(const char *name, pid_t c) {
    int st;
    if (waitpid(c, &st, 0) != c) { perror("waitpid"); exit(1); }
    printf("%s: exit %d\n", name, WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
}

int main(void) {
    setvbuf(stdout, 0, _IONBF, 0);
    printf("parent: pdeathsig %d\n", pdeathsig());
    int r = prctl(PR_SET_PDEATHSIG, 99);
    printf("set 99: %d %s\n", r, r ? (errno == EINVAL ? "EINVAL" : "other") : "");
    pid_t c1 = fork();
    if (c1 == 0) {  /* its fork's child does not inherit it */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        pid_t g = fork();
        if (g == 0) _exit(pdeathsig());
        int st;
        waitpid(g, &st, 0);
        _exit(pdeathsig() * 10 + WEXITSTATUS(st));  /* 150 + 0 */
    }
    reap("c1 (15, grandchild 0)", c1);
    pid_t c2 = fork();
    if (c2 == 0) {  /* a change of effective uid clears it */
        prctl(PR_SET_PDEATHSIG, SIGUSR2);
        int before = pdeathsig();
        if (setuid(1000) != 0) _exit(99);
        _exit(before * 10 + pdeathsig());  /* 120 + 0 */
    }
    reap("c2 (12, then 0)", c2);
    pid_t parent = getpid();
    pid_t c3 = fork();
    if (c3 == 0) {
        struct sigaction sa = {0};
        sa.sa_sigaction = on_usr1;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR1, &sa, NULL);
        sigset_t usr1, none;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigemptyset(&none);
        sigprocmask(SIG_BLOCK, &usr1, NULL);
        prctl(PR_SET_PDEATHSIG, SIGUSR1);
        if (getppid() != parent) _exit(7);  /* (the parent is still there: it sleeps) */
        alarm(5);  /* (never reached when the signal comes) */
        while (!got) sigsuspend(&none);
        printf("c3: pdeathsig %d, got SIGUSR1 %d from the parent %d, ppid changed %d\n",
               pdeathsig(), (int)got, from == parent, getppid() != parent);
        _exit(0);
    }
    nap(100);
    printf("parent: exits\n");
    return 0;
}

/* kill(2) of init, of process groups and of every process (-1), with Linux's permission
 * rule (root, or a real or effective uid matching the target's real or saved uid).
 * Safe natively as root: every signal that could reach a process outside the program's own
 * group is either 0 (only the checks) or refused (EPERM, EINVAL). argv[1] == "all", on the
 * chip only, also sends real signals to init and to every process (kill(-1, SIGUSR1)).
 * The parent sleeps 20 ms after forking its first child (time for a host to move it). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_usr1(int s) { (void)s; got++; }

static void show(const char *what, int r) {
    const char *e = r == 0 ? "0" : errno == EPERM ? "EPERM" : errno == ESRCH ? "ESRCH"
                  : errno == EINVAL ? "EINVAL" : "other";
    printf("%s: %s\n", what, e);
}

static void nap(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* a child that waits for SIGUSR1 (blocked until it waits) and exits with the count */
static pid_t waiter(void) {
    pid_t c = fork();
    if (c == 0) {
        sigset_t none;
        sigemptyset(&none);
        while (!got) sigsuspend(&none);
        _exit(got);  /* (its parent prints: the order is fixed) */
    }
    return c;
}

static void reap(const char *name, pid_t c) {
    int st;
    if (waitpid(c, &st, 0) != c) { perror("waitpid"); exit(1); }
    printf("%s: exit %d\n", name, WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    /* kill(0) stays in here: a group of its own (a session leader already leads one) */
    if (setpgid(0, 0) != 0 && getpgrp() != getpid()) { perror("setpgid"); return 1; }
    signal(SIGUSR1, on_usr1);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    show("kill(1, 0)", kill(1, 0));
    show("kill(1, 65)", kill(1, 65));
    show("kill(-99999, 0)", kill(-99999, 0));
    show("kill(INT_MIN, 0)", kill(INT_MIN, 0));
    pid_t c1 = waiter();
    nap(20);
    show("kill(0, SIGUSR1)", kill(0, SIGUSR1));  /* the parent and c1 */
    reap("c1", c1);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    printf("parent: got SIGUSR1 %d\n", (int)got);
    pid_t parent = getpid();
    pid_t c2 = fork();
    if (c2 == 0) {
        if (setuid(1000) != 0) { perror("setuid"); _exit(9); }
        show("user kill(1, 0)", kill(1, 0));
        show("user kill(1, SIGTERM)", kill(1, SIGTERM));
        show("user kill(parent, 0)", kill(parent, 0));
        show("user kill(parent, SIGUSR1)", kill(parent, SIGUSR1));
        show("user kill(-own group, 0)", kill(-getpgrp(), 0));  /* itself: allowed */
        show("user kill(-1, 0)", kill(-1, 0));  /* EPERM on each is no error for -1 */
        show("user kill(self, 0)", kill(getpid(), 0));
        _exit(0);
    }
    reap("c2", c2);
    pid_t c3 = fork();
    if (c3 == 0) {
        if (setpgid(0, 0) != 0 || setuid(1000) != 0) { perror("c3"); _exit(9); }
        show("user kill(-parent group, 0)", kill(-parent, 0));  /* only root's: EPERM */
        _exit(0);
    }
    reap("c3", c3);
    printf("parent: got SIGUSR1 %d\n", (int)got);
#ifdef __riscv
    if (argc > 1 && !strcmp(argv[1], "all")) {
        show("kill(1, SIGTERM)", kill(1, SIGTERM));  /* init ignores it */
        got = 0;
        sigprocmask(SIG_BLOCK, &usr1, NULL);
        pid_t c4 = waiter();
        show("kill(-1, SIGUSR1)", kill(-1, SIGUSR1));  /* c4, not the caller */
        reap("c4", c4);
        sigprocmask(SIG_UNBLOCK, &usr1, NULL);
        printf("parent: got SIGUSR1 %d\n", (int)got);
        show("kill(-1, 0) alone", kill(-1, 0));
    }
#else
    (void)argc; (void)argv;
#endif
    return 0;
}

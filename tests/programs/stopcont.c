/* Stop and continue (issue 22): SIGSTOP/SIGTSTP stop every thread of a process, SIGCONT
   resumes it (and runs its handler), waitpid/waitid report both (WUNTRACED, WCONTINUED,
   WNOWAIT), SIGCHLD says CLD_STOPPED/CLD_CONTINUED, a stopped process ends by SIGKILL, a
   handled SIGTSTP does not stop, signals sent to a stopped process wait for the continue.
   With argv[1] "apart" the parent fills most of its cluster first, so that its children are
   placed on another. With "alone" it only stops itself, with nothing to continue it (on
   shoal a deadlock; not run natively). The host build's output is the reference. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned char ballast[600 * 1024];
static int tick[2];

static void *ticker(void *arg) {
    char c = *(char *)arg;
    for (;;) {
        write(tick[1], &c, 1);
        usleep(5000);
    }
    return NULL;
}

static const char *how(int st) {
    static char out[64];
    if (WIFEXITED(st)) snprintf(out, sizeof out, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(out, sizeof out, "killed by %d", WTERMSIG(st));
    else if (WIFSTOPPED(st)) snprintf(out, sizeof out, "stopped by %d", WSTOPSIG(st));
    else if (WIFCONTINUED(st)) snprintf(out, sizeof out, "continued");
    else snprintf(out, sizeof out, "? %#x", st);
    return out;
}

static void chld_within(const char *what, long ns) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    siginfo_t si;
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    int n = sigtimedwait(&s, &si, &ts);
    if (n == SIGCHLD)
        printf("%-34s SIGCHLD yes code %d status %d\n", what, si.si_code, si.si_status);
    else
        printf("%-34s SIGCHLD no (%s)\n", what, errno == EAGAIN ? "EAGAIN" : "?");
}

static void chld(const char *what) { chld_within(what, 2000000000L); }

/* no bytes come while it is stopped; bytes come again once continued */
static int drained(void) {
    char buf[256];
    int n = 0, r;
    while ((r = read(tick[0], buf, sizeof buf)) > 0) n += r;
    return n;
}

static void wrote(int fd, char c) { write(fd, &c, 1); }
static int ctl[2];
static void on_cont(int s) { (void)s; wrote(tick[1], 'c'); }
static void on_tstp(int s) { (void)s; wrote(tick[1], 't'); }
static void on_usr1(int s) { (void)s; wrote(tick[1], 'u'); }

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "alone")) {
        printf("before\n");
        raise(SIGSTOP);
        printf("after\n");
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "apart"))
        for (int i = 0; i < (int)sizeof ballast; i += 4096) ballast[i] = 1;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    sigprocmask(SIG_BLOCK, &s, NULL);  /* SIGCHLD taken by sigtimedwait */
    pipe(tick);
    pipe(ctl);
    int st, r;

    /* 1. a two-thread child that ticks: stopped, continued, stopped by SIGTSTP, killed */
    pid_t c = fork();
    if (c == 0) {
        pthread_t th;
        static char a = 'a', b = 'b';
        pthread_create(&th, NULL, ticker, &b);
        ticker(&a);
    }
    char got[4] = {0};
    read(tick[0], got, 2);
    kill(c, SIGSTOP);
    r = waitpid(c, &st, WUNTRACED) == c;
    printf("waitpid WUNTRACED: %d %s\n", r, how(st));
    chld("after the stop");
    fcntl(tick[0], F_SETFL, O_NONBLOCK);
    drained();
    usleep(50000);
    printf("ticks while stopped: %d\n", drained());
    printf("waitpid WUNTRACED|WNOHANG again: %d\n", waitpid(c, &st, WUNTRACED | WNOHANG));
    kill(c, SIGCONT);
    r = waitpid(c, &st, WCONTINUED) == c;
    printf("waitpid WCONTINUED: %d %s\n", r, how(st));
    chld("after the continue");
    fcntl(tick[0], F_SETFL, 0);
    int sa = 0, sb = 0;
    for (int i = 0; i < 64 && !(sa && sb); i++) {
        char x;
        read(tick[0], &x, 1);
        sa |= x == 'a';
        sb |= x == 'b';
    }
    printf("both threads tick again: %d\n", sa && sb);
    kill(c, SIGTSTP);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, c, &si, WSTOPPED | WNOWAIT);
    printf("waitid WSTOPPED|WNOWAIT: %d pid ok %d code %d status %d\n", r, si.si_pid == c, si.si_code, si.si_status);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, c, &si, WSTOPPED);
    printf("waitid WSTOPPED again: %d pid ok %d code %d status %d\n", r, si.si_pid == c, si.si_code, si.si_status);
    chld("after SIGTSTP");
    kill(c, SIGKILL);
    r = waitpid(c, &st, 0) == c;
    printf("stopped, then SIGKILL: %d %s\n", r, how(st));
    chld("after the kill");

    /* 2. a child that stops itself, has SIGCONT, SIGTSTP and SIGUSR1 handled: SIGUSR1 sent while
       it is stopped waits for the continue, SIGTSTP is dropped by it (as every pending stop
       signal is), SIGCONT's handler runs; later a handled SIGTSTP does not stop it */
    fcntl(tick[0], F_SETFL, O_NONBLOCK);
    drained();
    fcntl(tick[0], F_SETFL, 0);
    c = fork();
    if (c == 0) {
        struct sigaction act = {.sa_handler = on_cont, .sa_flags = SA_RESTART};
        sigaction(SIGCONT, &act, NULL);
        act.sa_handler = on_tstp;
        sigaction(SIGTSTP, &act, NULL);
        act.sa_handler = on_usr1;
        sigaction(SIGUSR1, &act, NULL);
        wrote(tick[1], 'r');
        raise(SIGSTOP);
        char x;
        read(ctl[0], &x, 1);
        kill(getpid(), SIGTSTP);  /* handled: it does not stop */
        read(ctl[0], &x, 1);
        _exit(7);
    }
    read(tick[0], got, 1);
    printf("child 2 ready: %c\n", got[0]);
    r = waitpid(c, &st, WUNTRACED) == c;
    printf("waitpid WUNTRACED: %d %s\n", r, how(st));
    chld("it stopped itself");
    kill(c, SIGTSTP);
    kill(c, SIGUSR1);
    usleep(20000);
    fcntl(tick[0], F_SETFL, O_NONBLOCK);
    printf("handled while stopped: %d\n", drained());
    fcntl(tick[0], F_SETFL, 0);
    kill(c, SIGCONT);
    memset(got, 0, sizeof got);
    read(tick[0], got, 1);
    read(tick[0], got + 1, 1);
    if (got[0] > got[1]) { char x = got[0]; got[0] = got[1]; got[1] = x; }
    printf("handlers after the continue: %s\n", got);
    chld("after the continue");
    wrote(ctl[1], 'x');
    memset(got, 0, sizeof got);
    read(tick[0], got, 1);
    printf("a handled SIGTSTP: %s, ", got);
    printf("waitpid WUNTRACED|WNOHANG: %d\n", waitpid(c, &st, WUNTRACED | WNOHANG));
    wrote(ctl[1], 'x');
    usleep(20000);
    fcntl(tick[0], F_SETFL, O_NONBLOCK);
    printf("nothing else came: %d\n", drained());
    r = waitpid(c, &st, 0) == c;
    printf("waitpid (no WCONTINUED): %d %s\n", r, how(st));
    chld("after its exit");

    /* 3. SA_NOCLDSTOP: no SIGCHLD for a stop or a continue, one for the end */
    struct sigaction nocld = {.sa_handler = SIG_DFL, .sa_flags = SA_NOCLDSTOP};
    sigaction(SIGCHLD, &nocld, NULL);
    c = fork();
    if (c == 0) {
        raise(SIGSTOP);
        _exit(3);
    }
    r = waitpid(c, &st, WUNTRACED) == c;
    printf("SA_NOCLDSTOP, waitpid WUNTRACED: %d %s\n", r, how(st));
    chld_within("SA_NOCLDSTOP, after the stop", 100000000L);
    kill(c, SIGCONT);
    r = waitpid(c, &st, 0) == c;
    printf("SA_NOCLDSTOP, waitpid: %d %s\n", r, how(st));
    chld("SA_NOCLDSTOP, after its exit");

    /* 4. errors */
    r = waitid(P_ALL, 0, &si, WNOHANG);
    printf("waitid with no event: %d %s\n", r, errno == EINVAL ? "EINVAL" : "?");
    r = waitpid(-1, &st, WUNTRACED | WCONTINUED);
    printf("waitpid, no child left: %d %s\n", r, errno == ECHILD ? "ECHILD" : "?");
    return 0;
}

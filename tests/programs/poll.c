/* poll, ppoll, select and pselect (issue 22), one mode per argv[1]; the host build's output is
   the reference. Every line says what it checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *en(int e) {
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL"; case EFAULT: return "EFAULT"; case EBADF: return "EBADF";
    case EINTR: return "EINTR"; case EAGAIN: return "EAGAIN"; case EPIPE: return "EPIPE";
    default: return "other";
    }
}
#define TRY(label, expr) do { errno = 0; long r_ = (long)(expr); int e_ = errno; \
    printf("%s: %ld %s\n", label, r_, en(e_)); } while (0)

static void rev(const char *label, short r) {
    printf("%s:%s%s%s%s%s%s\n", label, r & POLLIN ? " IN" : "", r & POLLOUT ? " OUT" : "",
           r & POLLHUP ? " HUP" : "", r & POLLERR ? " ERR" : "", r & POLLNVAL ? " NVAL" : "",
           r ? "" : " none");
}

static short poll1(int fd, short events, int ms) {
    struct pollfd p = {fd, events, 0x7777};
    int n = poll(&p, 1, ms);
    if (n < 0) return -1;
    return p.revents;
}

static long ms_since(struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static int basic(void) {
    int p[2];
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    pipe(p);
    rev("empty pipe, read end", poll1(p[0], POLLIN | POLLOUT, 0));
    rev("empty pipe, write end", poll1(p[1], POLLIN | POLLOUT, 0));
    write(p[1], "hi", 2);
    rev("data, read end", poll1(p[0], POLLIN, 0));
    rev("data, read end, only POLLOUT asked", poll1(p[0], POLLOUT, 0));
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    int pages = 0;
    while (write(p[1], buf, sizeof buf) == sizeof buf) pages++;
    printf("filled with %d more pages\n", pages);
    rev("full, write end", poll1(p[1], POLLOUT, 0));
    read(p[0], buf, 2);
    rev("full less 2 bytes, write end", poll1(p[1], POLLOUT, 0));
    read(p[0], buf, sizeof buf);
    rev("a page read, write end", poll1(p[1], POLLOUT, 0));
    close(p[1]);
    rev("data, writer gone", poll1(p[0], POLLIN, 0));
    while (read(p[0], buf, sizeof buf) > 0) {}
    rev("drained, writer gone", poll1(p[0], POLLIN, 0));
    rev("drained, writer gone, nothing asked", poll1(p[0], 0, 0));
    close(p[0]);
    pipe(p);
    close(p[0]);
    rev("reader gone, write end", poll1(p[1], POLLOUT, 0));
    close(p[1]);

    FILE *tf = tmpfile();
    rev("regular file", poll1(fileno(tf), POLLIN | POLLOUT | POLLPRI, 0));
    int nul = open("/dev/null", O_RDWR);
    rev("/dev/null", poll1(nul, POLLIN | POLLOUT, 0));
    rev("stdout", poll1(1, POLLOUT, 0));
    rev("stderr", poll1(2, POLLOUT, 0));
    rev("closed descriptor", poll1(40, POLLIN, 0));
    close(nul);

    struct pollfd many[4] = {{-1, POLLIN, 0x55}, {1, POLLOUT, 0}, {44, POLLIN, 0}, {-5, 0, 0}};
    TRY("poll of four (one negative ignored, one closed)", poll(many, 4, 0));
    printf("revents %#x %#x %#x %#x\n", many[0].revents, many[1].revents, many[2].revents,
           many[3].revents);
    TRY("poll of nothing, 0 ms", poll(NULL, 0, 0));

    pipe(p);
    fd_set r, w;
    FD_ZERO(&r); FD_ZERO(&w);
    FD_SET(p[0], &r); FD_SET(p[1], &w); FD_SET(1, &w);
    struct timeval tv = {0, 0};
    TRY("select: empty pipe and stdout", select(p[1] + 1, &r, &w, NULL, &tv));
    printf("read set has the pipe %d, write set the pipe %d and stdout %d\n", FD_ISSET(p[0], &r),
           FD_ISSET(p[1], &w), FD_ISSET(1, &w));
    write(p[1], "z", 1);
    FD_ZERO(&r); FD_SET(p[0], &r);
    TRY("select: data", select(p[0] + 1, &r, NULL, NULL, &tv));
    printf("read set has the pipe %d\n", FD_ISSET(p[0], &r));
    FD_ZERO(&r); FD_SET(p[0], &r);
    struct timespec ts0 = {0, 0};
    TRY("pselect: data", pselect(p[0] + 1, &r, NULL, NULL, &ts0, NULL));
    read(p[0], buf, 1);
    FD_ZERO(&r); FD_SET(p[0], &r);
    TRY("select: drained, 0 s", select(p[0] + 1, &r, NULL, NULL, &tv));
    printf("read set has the pipe %d\n", FD_ISSET(p[0], &r));
    return 0;
}

static int errors(void) {
    struct pollfd pf = {1, POLLOUT, 0};
    TRY("poll of an unreadable array", poll((struct pollfd *)16, 1, 0));
    struct timespec bad = {0, 2000000000};
    TRY("ppoll with a bad timeout", ppoll(&pf, 1, &bad, NULL));
    struct timespec neg = {-1, 0};
    TRY("ppoll with a negative timeout", ppoll(&pf, 1, &neg, NULL));
    struct rlimit rl = {16, 16};
    setrlimit(RLIMIT_NOFILE, &rl);
    struct pollfd big[17];
    for (int i = 0; i < 17; i++) { big[i].fd = -1; big[i].events = 0; }
    TRY("poll of 16 (the limit)", poll(big, 16, 0));
    TRY("poll of 17 (past RLIMIT_NOFILE)", poll(big, 17, 0));
    fd_set r;
    FD_ZERO(&r); FD_SET(9, &r);
    struct timeval tv = {0, 0};
    TRY("select of a closed descriptor", select(10, &r, NULL, NULL, &tv));
    TRY("select with n < 0", select(-1, NULL, NULL, NULL, &tv));
    struct timeval badtv = {0, -5};
    TRY("select with a negative timeout", select(1, NULL, NULL, NULL, &badtv));
    TRY("select of an unreadable set", select(3, (fd_set *)16, NULL, NULL, &tv));
    return 0;
}

static volatile int got;
static void on_sig(int s) { got = s; }

static int wait_mode(void) {
    int p[2];
    char buf[64];
    struct timespec t0;
    pipe(p);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        usleep(20000);
        write(p[1], "late", 4);
        usleep(20000);
        _exit(0);  /* its write end closes */
    }
    close(p[1]);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rev("poll, 5 ms, before the child writes", poll1(p[0], POLLIN, 5));
    printf("waited at least 5 ms: %d\n", ms_since(&t0) >= 5);
    rev("poll, no timeout: the child's write wakes it", poll1(p[0], POLLIN, -1));
    printf("waited for the child: %d\n", ms_since(&t0) >= 20);
    printf("read %zd\n", read(p[0], buf, sizeof buf));
    fd_set r;
    FD_ZERO(&r); FD_SET(p[0], &r);
    TRY("select, no timeout: the child's exit wakes it", select(p[0] + 1, &r, NULL, NULL, NULL));
    printf("read set has the pipe %d, read gives %zd\n", FD_ISSET(p[0], &r), read(p[0], buf, 1));
    int st;
    waitpid(c, &st, 0);
    printf("child exited %d\n", WEXITSTATUS(st));

    /* a caught signal ends a wait with EINTR; SA_RESTART does not restart poll */
    int q[2];
    pipe(q);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 10000}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct pollfd pf = {q[0], POLLIN, 0};
    TRY("poll interrupted by SIGALRM", poll(&pf, 1, -1));
    printf("handler ran for %d\n", got);
    got = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    FD_ZERO(&r); FD_SET(q[0], &r);
    TRY("select interrupted by SIGALRM", select(q[0] + 1, &r, NULL, NULL, NULL));
    printf("handler ran for %d\n", got);

    /* ppoll's mask: a pending SIGUSR1 the caller blocks interrupts a ppoll that lets it in */
    got = 0;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t blk, none, now;
    sigemptyset(&blk); sigaddset(&blk, SIGUSR1);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &blk, NULL);
    kill(getpid(), SIGUSR1);
    struct timespec ts = {5, 0};
    TRY("ppoll, SIGUSR1 pending, blocked by the mask given", ppoll(&pf, 1, (struct timespec[]){{0, 1000000}}, &blk));
    printf("handler ran: %d\n", got);
    TRY("ppoll, SIGUSR1 pending, let in by the mask given", ppoll(&pf, 1, &ts, &none));
    printf("handler ran for %d\n", got);
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("SIGUSR1 blocked again after: %d\n", sigismember(&now, SIGUSR1));

    /* SIGALRM held back by ppoll's mask: the poll times out, the handler runs after */
    got = 0;
    sigset_t alrm;
    sigemptyset(&alrm); sigaddset(&alrm, SIGALRM);
    setitimer(ITIMER_REAL, &it, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    TRY("ppoll, 30 ms, SIGALRM held back", ppoll(&pf, 1, (struct timespec[]){{0, 30000000}}, &alrm));
    printf("waited 30 ms: %d, handler ran for %d\n", ms_since(&t0) >= 30, got);
    got = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    FD_ZERO(&r); FD_SET(q[0], &r);
    TRY("pselect, 30 ms, SIGALRM held back", pselect(q[0] + 1, &r, NULL, NULL,
        (struct timespec[]){{0, 30000000}}, &alrm));
    printf("handler ran for %d, set has the pipe %d\n", got, FD_ISSET(q[0], &r));
    return 0;
}

static int stdin_mode(void) {
    char buf[64];
    struct pollfd pf = {0, POLLIN, 0};
    int n = poll(&pf, 1, -1);
    printf("stdin ready: %d %d\n", n, pf.revents != 0);
    ssize_t got = read(0, buf, sizeof buf);
    printf("read %zd\n", got);
    n = poll(&pf, 1, -1);
    printf("stdin ready at its end: %d %d\n", n, pf.revents != 0);
    printf("read %zd\n", read(0, buf, sizeof buf));
    return 0;
}

/* a poll that only waits (a timeout, stdout ready for nothing asked): a migration may come */
static int nap(void) {
    struct timespec t0;
    struct pollfd pf = {1, 0, 0};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    TRY("poll of stdout asking nothing, 50 ms", poll(&pf, 1, 50));
    long ms = ms_since(&t0);
    printf("waited 50 ms: %d, not 100: %d\n", ms >= 50, ms < 100);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *m = argc > 1 ? argv[1] : "basic";
    if (!strcmp(m, "basic")) return basic();
    if (!strcmp(m, "errors")) return errors();
    if (!strcmp(m, "wait")) return wait_mode();
    if (!strcmp(m, "stdin")) return stdin_mode();
    if (!strcmp(m, "nap")) return nap();
    return 2;
}

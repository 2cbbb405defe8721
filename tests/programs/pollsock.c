/* poll and select on sockets and POSIX message queues (issue 22): readiness as Linux gives it
   (socketpair ends, a fresh socket, shutdown and close of the peer, a listening socket with a
   connection waiting, a TCP connection's data and end, a queue empty, part full and full),
   waits that a forked child ends (on the parent's cluster, or with argv[1] "apart" on
   another: the parent fills most of its cluster first), timeouts, and a wait a signal cuts
   short. With "nap": only two waits that time out (100 ms each, a queue's and a socket's),
   which a test migrates the process in the middle of. The host build's output is the
   reference. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned char ballast[600 * 1024];

static const char *bits(int r) {
    static char out[128];
    static const struct { int bit; const char *name; } names[] = {
        {POLLIN, "IN"}, {POLLPRI, "PRI"}, {POLLOUT, "OUT"}, {POLLERR, "ERR"}, {POLLHUP, "HUP"},
        {POLLNVAL, "NVAL"}, {POLLRDNORM, "RDNORM"}, {POLLWRNORM, "WRNORM"}, {POLLRDHUP, "RDHUP"}};
    out[0] = 0;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (r & names[i].bit) { strcat(out, out[0] ? "|" : ""); strcat(out, names[i].name); }
    return out[0] ? out : "0";
}

static void show(const char *what, int fd, short events, int timeout) {
    struct pollfd p = {fd, events, 0};
    errno = 0;
    int n = poll(&p, 1, timeout);
    printf("%-44s poll %d %s%s\n", what, n, n < 0 ? strerror(errno) : bits(p.revents), "");
}

static void on_alarm(int s) { (void)s; }

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int apart = argc > 1 && !strcmp(argv[1], "apart");
    if (apart)
        for (int i = 0; i < (int)sizeof ballast; i += 4096) ballast[i] = 1;
    const short ALL = POLLIN | POLLOUT | POLLRDHUP | POLLPRI;
    if (argc > 1 && !strcmp(argv[1], "nap")) {
        struct mq_attr at = {.mq_maxmsg = 2, .mq_msgsize = 16};
        mq_unlink("/pollnap");
        mqd_t q = mq_open("/pollnap", O_CREAT | O_RDWR, 0600, &at);
        int sv[2];
        socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
        show("queue, empty: wait 100 ms", q, POLLIN, 100);
        struct pollfd two[2] = {{sv[0], POLLIN, 0}, {q, POLLIN, 0}};
        struct timespec ts = {0, 100000000};
        int n = ppoll(two, 2, &ts, NULL);
        printf("ppoll of a socket and the queue: %d, %ld ns left\n", n, ts.tv_nsec);
        send(sv[1], "x", 1, 0);
        show("the socket, a datagram in", sv[0], ALL, 100);
        mq_unlink("/pollnap");
        return 0;
    }

    /* a socketpair, then a fresh socket */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    show("socketpair, nothing sent", sv[1], ALL, 0);
    write(sv[0], "abc", 3);
    show("socketpair, 3 bytes in", sv[1], ALL, 0);
    char buf[64];
    read(sv[1], buf, sizeof buf);
    show("socketpair, read", sv[1], ALL, 0);
    shutdown(sv[0], SHUT_WR);
    show("socketpair, peer shut down writing", sv[1], ALL, 0);
    show("socketpair, the end that shut down", sv[0], ALL, 0);
    close(sv[0]);
    show("socketpair, peer closed", sv[1], ALL, 0);
    close(sv[1]);
    int fresh = socket(AF_UNIX, SOCK_STREAM, 0);
    show("a fresh unix stream socket", fresh, ALL, 0);
    close(fresh);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    show("a fresh udp socket", udp, ALL, 0);
    close(udp);

    /* a queue */
    struct mq_attr at = {.mq_maxmsg = 2, .mq_msgsize = 16};
    mq_unlink("/pollsock");
    mqd_t q = mq_open("/pollsock", O_CREAT | O_RDWR, 0600, &at);
    show("queue, empty", q, POLLIN | POLLOUT, 0);
    mq_send(q, "one", 3, 0);
    show("queue, one of two", q, POLLIN | POLLOUT, 0);
    mq_send(q, "two", 3, 0);
    show("queue, full", q, POLLIN | POLLOUT, 0);
    mq_receive(q, buf, sizeof buf, NULL);
    mq_receive(q, buf, sizeof buf, NULL);
    show("queue, emptied; wait 30 ms", q, POLLIN, 30);

    /* a listening TCP socket and a child that connects */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(l, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    listen(l, 4);
    show("listening, nobody there", l, POLLIN | POLLOUT, 0);
    pid_t c = fork();
    if (c == 0) {
        usleep(20000);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&a, sizeof a)) _exit(1);
        usleep(20000);
        write(s, "hi", 2);
        char b[8];
        if (read(s, b, 2) != 2) _exit(2);
        write(s, "bye", 3);
        close(s);
        usleep(20000);
        mq_send(q, "m1", 2, 0);
        _exit(0);
    }
    show("listening, wait for a connection", l, POLLIN | POLLOUT, 5000);
    int conn = accept(l, NULL, NULL);
    show("connected, writable", conn, POLLOUT, 5000);
    show("connected, wait for data", conn, POLLIN, 5000);
    printf("read %zd\n", read(conn, buf, 2));
    show("connected, nothing more for 30 ms", conn, POLLIN | POLLRDHUP, 30);
    write(conn, "go", 2);
    show("connected, wait for the answer", conn, POLLIN, 5000);
    printf("read %zd\n", read(conn, buf, 3));
    show("connected, wait for the peer's close", conn, POLLIN | POLLRDHUP, 5000);
    show("connected, the peer closed", conn, ALL, 0);
    show("queue, wait for the child's message", q, POLLIN, 5000);

    /* select on both, then a wait a signal cuts short */
    fd_set rd, wr;
    FD_ZERO(&rd); FD_ZERO(&wr);
    FD_SET(conn, &rd); FD_SET(q, &rd); FD_SET(l, &rd); FD_SET(q, &wr);
    struct timeval tv = {0, 0};
    int n = select((conn > q ? conn : q) + 1 > l + 1 ? (conn > q ? conn : q) + 1 : l + 1, &rd, &wr, NULL, &tv);
    printf("select %d: conn %d queue %d listener %d, queue writable %d\n", n, FD_ISSET(conn, &rd) != 0,
           FD_ISSET(q, &rd) != 0, FD_ISSET(l, &rd) != 0, FD_ISSET(q, &wr) != 0);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
    show("listening, a signal comes in 30 ms", l, POLLIN, 5000);
    FD_ZERO(&rd); FD_SET(l, &rd);
    setitimer(ITIMER_REAL, &it, NULL);
    errno = 0;
    tv.tv_sec = 5;
    n = select(l + 1, &rd, NULL, NULL, &tv);
    printf("select on the listener, a signal comes: %d %s\n", n, strerror(errno));
    show("listening, after", l, POLLIN, 0);

    int st = 0;
    waitpid(c, &st, 0);
    printf("child %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    mq_close(q);
    mq_unlink("/pollsock");
    return 0;
}

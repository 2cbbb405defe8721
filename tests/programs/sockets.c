/* Sockets between processes (issue 22 part 6): one mode per run, the same output on the chip
   and natively. `far` as a second argument makes the parent big (600 KiB touched) before it
   forks, so that on the chip (tiny: 1 MiB clusters) each child is placed on another cluster. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *en(int e) {
    switch (e) {
    case EAGAIN: return "EAGAIN"; case EPIPE: return "EPIPE"; case ECONNREFUSED: return "ECONNREFUSED";
    case EADDRINUSE: return "EADDRINUSE"; case EINVAL: return "EINVAL"; case EFAULT: return "EFAULT";
    case ENOENT: return "ENOENT"; case ENOTCONN: return "ENOTCONN"; case EISCONN: return "EISCONN";
    case ENOTSOCK: return "ENOTSOCK"; case EBADF: return "EBADF"; case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENETUNREACH: return "ENETUNREACH"; case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EOPNOTSUPP: return "EOPNOTSUPP"; case ECONNRESET: return "ECONNRESET";
    case EPROTOTYPE: return "EPROTOTYPE"; case EDESTADDRREQ: return "EDESTADDRREQ";
    default: return "other";
    }
}
#define TRY(what, call) do { long r_ = (long)(call); \
    if (r_ < 0) printf("%s: -1 %s\n", what, en(errno)); else printf("%s: %ld\n", what, r_); } while (0)

static unsigned char *ballast;
static void far(int on) {
    if (!on) return;
    ballast = malloc(600 * 1024);
    for (int i = 0; i < 600 * 1024; i++) ballast[i] = (unsigned char)i;
}

static void show(const char *who, int st) {
    if (WIFEXITED(st)) printf("%s: exit %d\n", who, WEXITSTATUS(st));
    else printf("%s: signal %d\n", who, WTERMSIG(st));
}

static struct sockaddr_un un(const char *path) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path);
    return a;
}

static struct sockaddr_in in4(unsigned ip, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(ip);
    return a;
}

static int readall(int fd, char *buf, int n) {
    int got = 0, r;
    while (got < n && (r = read(fd, buf + got, n - got)) > 0) got += r;
    return got;
}

/* socketpair: a ping-pong between parent and child, then datagram boundaries and EOF */
static int pair_mode(int f) {
    far(f);
    int sv[2];
    TRY("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(sv[0]);
        char b[32];
        for (int i = 0; i < 5; i++) {
            int n = read(sv[1], b, sizeof b - 1);
            b[n] = 0;
            char out[40];
            int m = snprintf(out, sizeof out, "pong %s", b + 5);
            write(sv[1], out, m);
        }
        _exit(0);
    }
    close(sv[1]);
    for (int i = 0; i < 5; i++) {
        char b[40];
        int m = snprintf(b, sizeof b, "ping %d", i);
        write(sv[0], b, m);
        int n = read(sv[0], b, sizeof b - 1);
        b[n] = 0;
        printf("got '%s'\n", b);
    }
    int st;
    waitpid(c, &st, 0);
    show("child", st);
    char b[8];
    TRY("read after the peer ended", read(sv[0], b, sizeof b));
    signal(SIGPIPE, SIG_IGN);
    TRY("write after the peer ended", write(sv[0], "x", 1));
    int dv[2];
    TRY("dgram pair", socketpair(AF_UNIX, SOCK_DGRAM, 0, dv));
    send(dv[0], "one", 3, 0);
    send(dv[0], "three", 5, 0);
    send(dv[0], "", 0, 0);
    char d[16];
    TRY("dgram 1", recv(dv[1], d, sizeof d, 0));
    TRY("dgram 2 peek", recv(dv[1], d, 2, MSG_PEEK));
    TRY("dgram 2 truncated", recv(dv[1], d, 2, 0));
    TRY("dgram 3 empty", recv(dv[1], d, sizeof d, 0));
    TRY("dgram none left", recv(dv[1], d, sizeof d, MSG_DONTWAIT));
    return 0;
}

/* an echo server on a path; two clients (fork); one of them sends more than a buffer holds */
static int unix_mode(int f) {
    const char *path = "/tmp/shoal-sockets-echo";
    unlink(path);
    far(f);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = un(path);
    TRY("bind", bind(s, (struct sockaddr *)&a, sizeof a));
    TRY("listen", listen(s, 4));
    struct sockaddr_un got;
    socklen_t len = sizeof got;
    getsockname(s, (struct sockaddr *)&got, &len);
    printf("name %s (len %d)\n", got.sun_path, (int)len);
    fflush(stdout);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            int c = socket(AF_UNIX, SOCK_STREAM, 0);
            if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) _exit(10);
            if (i == 0) {
                for (int j = 0; j < 3; j++) {
                    char m[32], e[32];
                    int n = snprintf(m, sizeof m, "line %d", j);
                    write(c, m, n);
                    if (readall(c, e, n) != n || memcmp(m, e, n)) _exit(11);
                }
                _exit(0);
            }
            static char big[300000];
            for (int j = 0; j < (int)sizeof big; j++) big[j] = (char)(j * 13);
            if (write(c, big, sizeof big) != sizeof big) _exit(12);
            shutdown(c, SHUT_WR);
            char r[64];
            int n = read(c, r, sizeof r - 1);
            r[n > 0 ? n : 0] = 0;
            _exit(strcmp(r, "300000 bytes, sum 38249424") ? 13 : 0);
        }
        if (i == 0) {  /* the first is served before the second starts */
            int c = accept(s, NULL, NULL);
            char b[64];
            int n;
            long total = 0;
            while ((n = read(c, b, sizeof b)) > 0) { write(c, b, n); total += n; }
            printf("client 0: echoed %ld bytes\n", total);
            close(c);
        }
    }
    struct sockaddr_un peer;
    len = sizeof peer;
    int c = accept(s, (struct sockaddr *)&peer, &len);
    printf("client 1 connected, address length %d\n", (int)len);
    char b[4096];
    int n;
    long total = 0, sum = 0;
    while ((n = read(c, b, sizeof b)) > 0) {
        for (int j = 0; j < n; j++) sum += (unsigned char)b[j];
        total += n;
    }
    char r[64];
    n = snprintf(r, sizeof r, "%ld bytes, sum %ld", total, sum);
    write(c, r, n);
    printf("client 1: %s\n", r);
    close(c);
    for (int i = 0; i < 2; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        show(i ? "client 1" : "client 0", st);
    }
    close(s);
    unlink(path);
    return 0;
}

/* datagrams: a unix server and a client, then UDP on the loopback */
static int dgram_mode(int f) {
    const char *sp = "/tmp/shoal-sockets-dsrv", *cp = "/tmp/shoal-sockets-dcli";
    unlink(sp);
    unlink(cp);
    far(f);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = un(sp), ca = un(cp);
    bind(s, (struct sockaddr *)&a, sizeof a);
    fflush(stdout);
    pid_t k = fork();
    if (k == 0) {
        int c = socket(AF_UNIX, SOCK_DGRAM, 0);
        bind(c, (struct sockaddr *)&ca, sizeof ca);
        const char *m[] = {"a", "bb", "a longer datagram"};
        for (int i = 0; i < 3; i++) sendto(c, m[i], strlen(m[i]), 0, (struct sockaddr *)&a, sizeof a);
        char r[32];
        int n = recv(c, r, sizeof r, 0);
        _exit(n == 3 && !memcmp(r, "ack", 3) ? 0 : 20);
    }
    for (int i = 0; i < 3; i++) {
        char b[8];
        struct sockaddr_un from;
        socklen_t len = sizeof from;
        struct iovec v = {b, sizeof b};
        struct msghdr mh = {0};
        mh.msg_name = &from; mh.msg_namelen = len; mh.msg_iov = &v; mh.msg_iovlen = 1;
        int n = recvmsg(s, &mh, 0);
        printf("datagram %d: %d bytes '%.*s' from %s%s\n", i, n, n, b, from.sun_path,
               mh.msg_flags & MSG_TRUNC ? " (truncated)" : "");
    }
    sendto(s, "ack", 3, 0, (struct sockaddr *)&ca, sizeof ca);
    int st;
    waitpid(k, &st, 0);
    show("client", st);
    unlink(sp);
    unlink(cp);
    /* UDP */
    int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = in4(INADDR_ANY, 47311), to = in4(INADDR_LOOPBACK, 47311);
    TRY("udp bind", bind(u, (struct sockaddr *)&ua, sizeof ua));
    TRY("udp sendto", sendto(v, "hello udp", 9, 0, (struct sockaddr *)&to, sizeof to));
    char b[32];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    int n = recvfrom(u, b, sizeof b, 0, (struct sockaddr *)&from, &len);
    printf("udp got %d '%.*s' from %s, len %d\n", n, n, b, inet_ntoa(from.sin_addr), (int)len);
    TRY("udp reply", sendto(u, "back", 4, 0, (struct sockaddr *)&from, len));
    TRY("udp recv", recv(v, b, sizeof b, 0));
    TRY("udp connect", connect(v, (struct sockaddr *)&to, sizeof to));
    TRY("udp send connected", send(v, "again", 5, 0));
    TRY("udp recv again", recv(u, b, sizeof b, 0));
    TRY("udp send without address", send(u, "x", 1, 0));
    return 0;
}

/* TCP-like echo on the loopback; the client is a child (on another cluster with `far`) */
static int inet_mode(int f) {
    far(f);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    TRY("SO_REUSEADDR", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    struct sockaddr_in a = in4(INADDR_ANY, 47312);
    TRY("bind", bind(s, (struct sockaddr *)&a, sizeof a));
    TRY("listen", listen(s, 8));
    struct sockaddr_in got;
    socklen_t len = sizeof got;
    getsockname(s, (struct sockaddr *)&got, &len);
    printf("listening on %s:%d\n", inet_ntoa(got.sin_addr), ntohs(got.sin_port));
    fflush(stdout);
    pid_t k = fork();
    if (k == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in to = in4(INADDR_LOOPBACK, 47312);
        if (connect(c, (struct sockaddr *)&to, sizeof to) < 0) _exit(30);
        int nd = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nd, sizeof nd);
        for (int i = 0; i < 4; i++) {
            char m[32], e[32];
            int n = snprintf(m, sizeof m, "message %d", i);
            send(c, m, n, 0);
            if (readall(c, e, n) != n || memcmp(m, e, n)) _exit(31);
        }
        _exit(0);
    }
    struct sockaddr_in peer;
    len = sizeof peer;
    int c = accept4(s, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
    printf("accepted from %s (len %d)\n", inet_ntoa(peer.sin_addr), (int)len);
    len = sizeof got;
    getsockname(c, (struct sockaddr *)&got, &len);
    printf("its local end %s:%d\n", inet_ntoa(got.sin_addr), ntohs(got.sin_port));
    char b[64];
    int n;
    long total = 0;
    while ((n = recv(c, b, sizeof b, 0)) > 0) { send(c, b, n, 0); total += n; }
    printf("echoed %ld bytes, then %d\n", total, n);
    int st;
    waitpid(k, &st, 0);
    show("client", st);
    return 0;
}

/* a pre-forking server: two workers accept on one listening socket; clients elsewhere */
static int prefork_mode(int f) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  /* the last run's TIME_WAIT */
    struct sockaddr_in a = in4(INADDR_LOOPBACK, 47313);
    TRY("bind", bind(s, (struct sockaddr *)&a, sizeof a));
    TRY("listen", listen(s, 16));
    fflush(stdout);
    pid_t w[2], c[2];
    for (int i = 0; i < 2; i++) {
        w[i] = fork();
        if (w[i] == 0) {
            int x = accept(s, NULL, NULL);
            char b[32];
            int n = read(x, b, sizeof b);
            if (n <= 0) _exit(40);
            b[0] = 'R';  /* "req N" -> "Req N" */
            write(x, b, n);
            close(x);
            _exit(0);
        }
    }
    close(s);  /* the workers keep it */
    far(f);
    for (int i = 0; i < 2; i++) {
        c[i] = fork();
        if (c[i] < 0) { printf("fork: %s\n", en(errno)); return 1; }
        if (c[i] == 0) {
            int x = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(x, (struct sockaddr *)&a, sizeof a) < 0) _exit(41);
            char m[16], r[16];
            int n = snprintf(m, sizeof m, "req %d", i);
            write(x, m, n);
            if (readall(x, r, n) != n || r[0] != 'R' || memcmp(m + 1, r + 1, n - 1)) _exit(42);
            _exit(0);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st;
        waitpid(c[i], &st, 0);
        printf("client %d: ", i);
        show("", st);
    }
    for (int i = 0; i < 2; i++) {
        int st;
        waitpid(w[i], &st, 0);
        printf("worker %d: ", i);
        show("", st);
    }
    return 0;
}

/* the error paths */
static int errors_mode(void) {
    signal(SIGPIPE, SIG_IGN);
    char b[16];
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un nowhere = un("/tmp/shoal-sockets-nobody");
    unlink(nowhere.sun_path);
    TRY("connect to no name", connect(u, (struct sockaddr *)&nowhere, sizeof nowhere));
    TRY("listen unbound unix", listen(u, 1));
    TRY("accept not listening", accept(u, NULL, NULL));
    TRY("getpeername unconnected", getpeername(u, (struct sockaddr *)&nowhere, &(socklen_t){sizeof nowhere}));
    TRY("send unconnected", send(u, "x", 1, 0));
    TRY("shutdown how 7", shutdown(u, 7));
    TRY("bind bad pointer", bind(u, (struct sockaddr *)8, sizeof nowhere));
    TRY("bad family", socket(12345, SOCK_STREAM, 0));
    TRY("bad type", socket(AF_UNIX, 99, 0));
    TRY("bad fd", listen(99, 1));
    TRY("not a socket", listen(0, 1));
    TRY("inet socketpair", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0, 0}));
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in closed = in4(INADDR_LOOPBACK, 47314), far_away = in4(0x0A000001, 80);
    TRY("connect to a closed port", connect(t, (struct sockaddr *)&closed, sizeof closed));
    TRY("bind outside", bind(t, (struct sockaddr *)&far_away, sizeof far_away));
    TRY("bind short address", bind(t, (struct sockaddr *)&closed, 8));
    TRY("send unconnected tcp", send(t, "x", 1, 0));
    int l1 = socket(AF_INET, SOCK_STREAM, 0), l2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in p = in4(INADDR_ANY, 47315);
    TRY("bind", bind(l1, (struct sockaddr *)&p, sizeof p));
    TRY("bind again", bind(l1, (struct sockaddr *)&p, sizeof p));
    TRY("listen", listen(l1, 1));
    TRY("bind the same port", bind(l2, (struct sockaddr *)&p, sizeof p));
    TRY("listen on a datagram socket", listen(socket(AF_INET, SOCK_DGRAM, 0), 1));
    TRY("udp send no address", send(socket(AF_INET, SOCK_DGRAM, 0), "x", 1, 0));
    int us = socket(AF_UNIX, SOCK_STREAM, 0), us2 = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un name = un("/tmp/shoal-sockets-taken");
    unlink(name.sun_path);
    TRY("bind path", bind(us, (struct sockaddr *)&name, sizeof name));
    TRY("bind the same path", bind(us2, (struct sockaddr *)&name, sizeof name));
    TRY("connect to a path not listening", connect(us2, (struct sockaddr *)&name, sizeof name));
    int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
    TRY("dgram connect to a stream", connect(dg, (struct sockaddr *)&name, sizeof name));
    close(us);
    unlink(name.sun_path);
    /* options */
    int v;
    socklen_t vl = sizeof v;
    getsockopt(t, SOL_SOCKET, SO_TYPE, &v, &vl);
    printf("SO_TYPE %d (len %d)\n", v, (int)vl);
    getsockopt(dg, SOL_SOCKET, SO_TYPE, &v, &vl);
    printf("SO_TYPE dgram %d\n", v);
    getsockopt(t, SOL_SOCKET, SO_ERROR, &v, &vl);
    printf("SO_ERROR %d\n", v);
    v = 4096;
    setsockopt(t, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    getsockopt(t, SOL_SOCKET, SO_RCVBUF, &v, &vl);
    printf("SO_RCVBUF set 4096 gives %d\n", v);
    v = 1;
    setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v);
    v = 7;
    getsockopt(t, SOL_SOCKET, SO_REUSEADDR, &v, &vl);
    printf("SO_REUSEADDR %d\n", v);
    getsockopt(l1, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
    printf("SO_ACCEPTCONN %d\n", v);
    TRY("unknown option", getsockopt(t, SOL_SOCKET, 9999, &v, &vl));
    /* a NULL address: EFAULT only where bytes would be copied (Linux's move_addr_to_user) */
    socklen_t nl = sizeof(struct sockaddr_in);
    TRY("getsockname NULL", getsockname(t, NULL, &nl));
    nl = 0;
    TRY("getsockname NULL, length 0", getsockname(t, NULL, &nl));
    printf("  its length %d\n", (int)nl);
    nl = sizeof(struct sockaddr_in);
    TRY("getpeername NULL, not connected", getpeername(t, NULL, &nl));
    nl = sizeof(struct sockaddr_un);
    TRY("getsockname NULL unix", getsockname(dg, NULL, &nl));
    TRY("short option", setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &v, 2));
    /* EOF, EPIPE, SIGPIPE, MSG_NOSIGNAL, shutdown */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    TRY("send bad buffer", send(sv[0], (void *)8, 4, 0));
    TRY("connect connected", connect(sv[0], (struct sockaddr *)&name, sizeof name));
    write(sv[0], "abc", 3);
    TRY("shutdown SHUT_WR", shutdown(sv[0], SHUT_WR));
    TRY("read the rest", read(sv[1], b, sizeof b));
    TRY("then EOF", read(sv[1], b, sizeof b));
    TRY("write after SHUT_WR", write(sv[0], "x", 1));
    TRY("other way still open", write(sv[1], "yz", 2));
    TRY("read it", read(sv[0], b, sizeof b));
    TRY("shutdown SHUT_RD", shutdown(sv[0], SHUT_RD));
    TRY("read after SHUT_RD", read(sv[0], b, sizeof b));
    TRY("peer write after SHUT_RD", write(sv[1], "q", 1));
    close(sv[0]);
    close(sv[1]);
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    close(sv[1]);
    TRY("write, MSG_NOSIGNAL", send(sv[0], "x", 1, MSG_NOSIGNAL));
    signal(SIGPIPE, SIG_DFL);
    fflush(stdout);
    pid_t k = fork();
    if (k == 0) { write(sv[0], "x", 1); _exit(0); }
    int st;
    waitpid(k, &st, 0);
    show("writer to a closed peer", st);
    k = fork();
    if (k == 0) { send(sv[0], "x", 1, MSG_NOSIGNAL); _exit(3); }
    waitpid(k, &st, 0);
    show("with MSG_NOSIGNAL", st);
    return 0;
}

/* nonblocking: EAGAIN on an empty socket, a full one, an empty accept queue */
static int nonblock_mode(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    char b[1000];
    TRY("read empty", read(sv[0], b, sizeof b));
    TRY("recv MSG_DONTWAIT", recv(sv[0], b, sizeof b, MSG_DONTWAIT));
    long in = 0, w;
    memset(b, 'z', sizeof b);
    while ((w = write(sv[0], b, sizeof b)) > 0) in += w;
    printf("full after some bytes: %s, %s\n", in > 60000 ? "yes" : "no", en(errno));
    TRY("read some back", read(sv[1], b, 100));
    long out = 100;
    while ((w = read(sv[1], b, sizeof b)) > 0) out += w;
    printf("read all back: %s, then %s\n", out == in ? "yes" : "no", en(errno));
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = in4(INADDR_LOOPBACK, 47316);
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 2);
    TRY("accept none", accept(s, NULL, NULL));
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in q = in4(INADDR_ANY, 47317);
    bind(l, (struct sockaddr *)&q, sizeof q);
    listen(l, 2);
    TRY("accept4 flags", accept4(l, NULL, NULL, 0x1234));
    int n2 = socket(AF_UNIX, SOCK_DGRAM, 0);
    TRY("dgram recv DONTWAIT", recv(n2, b, 10, MSG_DONTWAIT));
    return 0;
}

/* no outside network on the chip: what the host gives depends on its network, so this mode
   is checked against Linux's documented errno for a host with no route (ENETUNREACH) */
static int outside_mode(void) {
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = in4(0x0A000001, 80);
    TRY("connect outside", connect(t, (struct sockaddr *)&a, sizeof a));
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    TRY("sendto outside", sendto(u, "x", 1, 0, (struct sockaddr *)&a, sizeof a));
    return 0;
}

/* two programs (no fork), for migration: a server and a client on the loopback; the client
   makes ROUNDS echo round trips of 1000 bytes, then streams 500000 bytes and asks for their sum */
static int srv_mode(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = in4(INADDR_LOOPBACK, 47320);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1)) return 1;
    int c = accept(s, NULL, NULL);
    static char b[1000];
    long total = 0, sum = 0;
    for (;;) {
        int n = readall(c, b, 1000);
        if (n < 1000) { total += n; for (int j = 0; j < n; j++) sum += (unsigned char)b[j]; break; }
        if (b[0] == 'E') { write(c, b, 1000); continue; }
        total += n;
        for (int j = 0; j < n; j++) sum += (unsigned char)b[j];
    }
    char r[64];
    int n = snprintf(r, sizeof r, "%ld %ld", total, sum);
    write(c, r, n);
    printf("server: %s\n", r);
    return 0;
}

static int cli_mode(int rounds) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = in4(INADDR_LOOPBACK, 47320);
    while (connect(c, (struct sockaddr *)&a, sizeof a) < 0) usleep(100);
    static char b[1000], e[1000];
    for (int i = 0; i < rounds; i++) {
        memset(b, 'a' + i % 26, sizeof b);
        b[0] = 'E';
        write(c, b, 1000);
        if (readall(c, e, 1000) != 1000 || memcmp(b, e, 1000)) { printf("round %d wrong\n", i); return 1; }
    }
    static char big[500000];
    for (int j = 0; j < (int)sizeof big; j++) big[j] = (char)('0' + j % 50);
    if (write(c, big, sizeof big) != sizeof big) return 2;
    shutdown(c, SHUT_WR);
    char r[64];
    int n = read(c, r, sizeof r - 1);
    r[n > 0 ? n : 0] = 0;
    printf("client: %d rounds, server says %s\n", rounds, r);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    const char *mode = argc > 1 ? argv[1] : "pair";
    int f = argc > 2 && !strcmp(argv[2], "far");
    if (!strcmp(mode, "pair")) return pair_mode(f);
    if (!strcmp(mode, "unix")) return unix_mode(f);
    if (!strcmp(mode, "dgram")) return dgram_mode(f);
    if (!strcmp(mode, "inet")) return inet_mode(f);
    if (!strcmp(mode, "prefork")) return prefork_mode(f);
    if (!strcmp(mode, "errors")) return errors_mode();
    if (!strcmp(mode, "nonblock")) return nonblock_mode();
    if (!strcmp(mode, "outside")) return outside_mode();
    if (!strcmp(mode, "srv")) return srv_mode();
    if (!strcmp(mode, "cli")) return cli_mode(argc > 2 ? atoi(argv[2]) : 10);
    return 2;
}

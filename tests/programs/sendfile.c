/* sendfile to the console, a pipe (blocking, with a reader; non-blocking and full; without a
 * reader: EPIPE), a socket and /dev/null, with and without an offset pointer; the errors.
 * The pipe's writer is a forked child (a host may move it to another cluster). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG 100000

static const char *err(long r) {
    return r >= 0 ? "ok" : errno == EINVAL ? "EINVAL" : errno == EBADF ? "EBADF" : errno == EAGAIN ? "EAGAIN"
         : errno == EPIPE ? "EPIPE" : "other";
}

static unsigned char pattern(long i) { return (unsigned char)(i * 7 + i / 251); }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[256], text[256];
    setvbuf(stdout, 0, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    snprintf(text, sizeof text, "%s/sf_text", dir);
    snprintf(path, sizeof path, "%s/sf_big", dir);
    int ft = open(text, O_RDWR | O_CREAT | O_TRUNC, 0644);
    const char *lines = "line one\nline two\nline three\nline four\n";
    write(ft, lines, strlen(lines));
    int fb = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    static unsigned char big[BIG];
    for (long i = 0; i < BIG; i++) big[i] = pattern(i);
    write(fb, big, BIG);

    /* to the console: from the offset, then at a given one (the offset stays) */
    lseek(ft, 0, SEEK_SET);
    printf("[");
    long n = sendfile(1, ft, NULL, 18);
    printf("] console: %ld, offset %lld\n", n, (long long)lseek(ft, 0, SEEK_CUR));
    off_t off = 5;
    printf("[");
    n = sendfile(1, ft, &off, 8);
    printf("] at 5: %ld, off %lld, offset %lld\n", n, (long long)off, (long long)lseek(ft, 0, SEEK_CUR));
    printf("[");
    n = sendfile(2, ft, NULL, 100);  /* the rest, to stderr */
    printf("] stderr: %ld\n", n);
    off = 1000;
    printf("past the end: %ld\n", (long)sendfile(1, ft, &off, 10));

    /* a pipe with a reader: every byte, blocking while the pipe is full (the writer is the
       child, at its own offset: a host may move it away from the pipe) */
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        off_t o = 0;
        long total = 0;
        while ((n = sendfile(p[1], fb, &o, BIG)) > 0) total += n;
        _exit(total == BIG && n == 0 && o == BIG ? 0 : 1);
    }
    close(p[1]);
    unsigned char buf[4096];
    long got = 0, bad = 0;
    ssize_t r;
    while ((r = read(p[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++) bad += buf[i] != pattern(got + i);
        got += r;
    }
    close(p[0]);
    int ws;
    waitpid(c, &ws, 0);
    printf("pipe: writer exit %d, %ld bytes read, %ld wrong\n", WEXITSTATUS(ws), got, bad);

    /* a full non-blocking pipe: what fits, then EAGAIN; no reader: EPIPE */
    pipe2(p, O_NONBLOCK);
    off = 0;
    n = sendfile(p[1], fb, &off, BIG);
    printf("nonblocking: %ld (%s), off %lld\n", n, err(n), (long long)off);
    n = sendfile(p[1], fb, &off, BIG);
    printf("full: %s, off %lld\n", err(n), (long long)off);
    close(p[0]);
    n = sendfile(p[1], fb, &off, 10);
    printf("no reader: %s\n", err(n));
    close(p[1]);

    /* a socket */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    off = 1000;
    n = sendfile(sv[0], fb, &off, 5000);
    unsigned char back[5000];
    got = 0, bad = 0;
    while (got < n) {
        r = recv(sv[1], back + got, sizeof back - got, 0);
        if (r <= 0) break;
        got += r;
    }
    for (long i = 0; i < got; i++) bad += back[i] != pattern(1000 + i);
    printf("socket: %ld sent, %ld received, %ld wrong, off %lld\n", n, got, bad, (long long)off);
    close(sv[1]);
    n = sendfile(sv[0], fb, &off, 10);
    printf("socket closed: %s\n", err(n));
    close(sv[0]);

    /* /dev/null, and the errors */
    int dn = open("/dev/null", O_WRONLY);
    off = 0;
    n = sendfile(dn, fb, &off, 4096);
    printf("/dev/null: %ld, off %lld\n", n, (long long)off);
    pipe(p);
    printf("from a pipe: %s\n", err(sendfile(1, p[0], NULL, 10)));
    printf("to a read end: %s\n", err(sendfile(p[0], fb, NULL, 10)));
    int ro = open(text, O_RDONLY);
    printf("to a read-only file: %s\n", err(sendfile(ro, fb, NULL, 10)));
    printf("bad fd: %s\n", err(sendfile(99, fb, NULL, 10)));
    off = -1;
    printf("negative offset: %s\n", err(sendfile(1, fb, &off, 10)));
    unlink(text);
    unlink(path);
    return 0;
}

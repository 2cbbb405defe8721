/* A pipe between a parent and its forked child (issue 22): with argv[1] "apart" the parent
   fills most of its cluster first, so that the child is placed on another one and the pipe's
   ends are on two clusters. The host build's output is the reference. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG (200 * 1024)
static volatile unsigned char ballast[600 * 1024];
static unsigned char buf[BIG];

static unsigned char at(int i) { return (unsigned char)(i * 131 + i / 4096); }

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && !strcmp(argv[1], "apart"))
        for (int i = 0; i < (int)sizeof ballast; i += 4096) ballast[i] = 1;
    int down[2], up[2], gone[2];
    pipe(down); pipe(up); pipe(gone);
    pid_t c = fork();
    if (c == 0) {
        close(down[1]); close(up[0]); close(gone[1]);
        close(gone[0]);  /* its reader goes: the parent's writes fail */
        fcntl(down[0], F_SETFL, O_NONBLOCK);
        char tmp[16];
        errno = 0;
        ssize_t r = read(down[0], tmp, sizeof tmp);
        int e = errno;
        fcntl(down[0], F_SETFL, 0);
        dprintf(up[1], "child: nonblocking read of an empty pipe %zd %s\n", r, e == EAGAIN ? "EAGAIN" : "?");
        long n = 0, sum = 0, bad = 0, reads = 0;
        ssize_t got;
        while ((got = read(down[0], buf, 10000)) > 0) {
            for (ssize_t i = 0; i < got; i++) { sum += buf[i]; bad += buf[i] != at((int)(n + i)); }
            n += got; reads++;
        }
        dprintf(up[1], "child: read %ld bytes (in order: %d), sum %ld, then end of file %zd\n", n, bad == 0,
                sum, got);
        /* records of PIPE_BUF bytes come whole */
        for (int k = 0; k < 40; k++) {
            memset(buf, 'a' + k % 26, 4096);
            write(up[1], buf, 4096);
        }
        _exit(3);
    }
    close(down[0]); close(up[1]); close(gone[0]);
    char line[256];
    FILE *in = fdopen(up[0], "r");
    setvbuf(in, NULL, _IONBF, 0);
    int ln = 0;
    char ch;
    while (read(up[0], &ch, 1) == 1) { line[ln++] = ch; if (ch == '\n') break; }
    line[ln] = 0;
    printf("%s", line);
    errno = 0;
    ssize_t w = write(gone[1], "x", 1);
    printf("parent: write to a pipe whose reader is gone: %zd %s\n", w, errno == EPIPE ? "EPIPE" : "?");
    for (int i = 0; i < BIG; i++) buf[i] = at(i);
    ssize_t put = write(down[1], buf, BIG);
    printf("parent: one write of %d bytes (the pipe holds 64 KiB): %zd\n", BIG, put);
    close(down[1]);
    ln = 0;
    while (read(up[0], &ch, 1) == 1) { line[ln++] = ch; if (ch == '\n') break; }
    line[ln] = 0;
    printf("%s", line);
    int whole = 0;
    long total = 0;
    for (;;) {
        ssize_t got = read(up[0], buf, 4096);
        if (got <= 0) break;
        total += got;
        int same = 1;
        for (int i = 1; i < got; i++) same &= buf[i] == buf[0];
        whole += same;
    }
    printf("parent: %ld bytes of records, reads of one letter each: %d\n", total, whole == 40);
    int st;
    waitpid(c, &st, 0);
    printf("child exited %d\n", WEXITSTATUS(st));
    return 0;
}

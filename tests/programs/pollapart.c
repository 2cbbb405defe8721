/* poll and select on pipe ends whose pipe lives on another cluster (issue 22 part 3): the
   parent makes the pipes and forks; with argv[1] "apart" it first fills most of its cluster
   so that the child is placed on another one, and every end the child polls is away from its
   pipe. The parent paces the child through a handshake; only the child prints until the
   parent has waited for it. The host build's output is the reference. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned char ballast[600 * 1024];
static char buf[4096];

static void nap(void) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void one(const char *what, int fd, short events, int ms) {
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, ms);
    printf("%s: poll %d revents %#x\n", what, r, (unsigned)p.revents);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "apart"))
        for (int i = 0; i < (int)sizeof ballast; i += 4096) ballast[i] = 1;
    int down[2], up[2], gone[2];
    pipe(down); pipe(up); pipe(gone);
    pid_t c = fork();
    if (c == 0) {
        close(down[1]); close(up[0]); close(gone[0]);
        one("empty read end", down[0], POLLIN, 0);
        one("write end", up[1], POLLOUT, 0);
        write(up[1], "a", 1);
        one("data comes", down[0], POLLIN, 5000);
        read(down[0], buf, 1);
        one("reader gone", gone[1], POLLOUT, 0);
        fd_set r, w;
        FD_ZERO(&r); FD_SET(down[0], &r);
        struct timeval tv = {0, 10000};
        int n = select(down[0] + 1, &r, NULL, NULL, &tv);
        printf("select, nothing: %d %d\n", n, FD_ISSET(down[0], &r));
        write(up[1], "b", 1);
        FD_ZERO(&r); FD_SET(down[0], &r);
        FD_ZERO(&w); FD_SET(gone[1], &w);
        tv.tv_sec = 5; tv.tv_usec = 0;
        n = select(down[0] + 1, &r, NULL, NULL, &tv);
        printf("select, data comes: %d %d\n", n, FD_ISSET(down[0], &r));
        read(down[0], buf, 1);
        FD_ZERO(&r); FD_SET(down[0], &r);
        n = select((gone[1] > down[0] ? gone[1] : down[0]) + 1, &r, &w, NULL, NULL);
        printf("select, mixed: %d %d %d\n", n, FD_ISSET(down[0], &r), FD_ISSET(gone[1], &w));
        write(up[1], "c", 1);
        one("writer goes", down[0], POLLIN, -1);
        printf("then read %zd\n", read(down[0], buf, 1));
        fcntl(up[1], F_SETFL, O_NONBLOCK);
        long filled = 0;
        ssize_t got;
        while ((got = write(up[1], buf, sizeof buf)) > 0) filled += got;
        printf("filled %ld, then %s\n", filled, errno == EAGAIN ? "EAGAIN" : "?");
        one("full", up[1], POLLOUT, 0);
        one("room comes", up[1], POLLOUT, -1);
        struct pollfd two[3] = {{down[0], POLLIN, 0}, {up[1], POLLOUT, 0}, {99, POLLIN, 0}};
        n = poll(two, 3, 0);
        printf("three: %d %#x %#x %#x\n", n, (unsigned)two[0].revents, (unsigned)two[1].revents,
               (unsigned)two[2].revents);
        _exit(3);
    }
    close(down[0]); close(up[1]); close(gone[0]); close(gone[1]);
    char ch;
    read(up[0], &ch, 1); nap(); write(down[1], "x", 1);
    read(up[0], &ch, 1); nap(); write(down[1], "y", 1);
    read(up[0], &ch, 1); nap(); close(down[1]);
    nap(); nap();
    long total = 0;
    ssize_t got;
    while ((got = read(up[0], buf, sizeof buf)) > 0) total += got;
    int st;
    waitpid(c, &st, 0);
    printf("parent: drained %ld, child status %d\n", total, WEXITSTATUS(st));
    return 0;
}

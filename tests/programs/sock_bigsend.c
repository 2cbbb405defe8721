/* One large write of N KiB, read by another process 1000 bytes at a time (or BIG bytes at a
 * time with "big") with a short sleep between reads, so that the writer's call goes in many
 * parts and waits between them: a migration or a page held elsewhere lands in the middle.
 *   sock_bigsend MODE KIB [big] [child-reads]
 * MODE: sock (write), sockv (writev of three parts), sendfile (a file's bytes into the
 * socket), pipe (write). The forked child writes and the parent reads, or the other way
 * round with "child-reads". Prints "writer wrote N" and "reader got N sum S". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIG (1 << 20)

static int reader(int fd, int big) {
    unsigned long long sum = 0, got = 0;
    size_t size = big ? BIG : 1000;
    char *buf = malloc(size);
    if (!buf) return 1;
    for (;;) {
        ssize_t r = read(fd, buf, size);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; i++) sum = sum * 31 + (unsigned char)buf[i];
        got += (unsigned long long)r;
        struct timespec ts = {0, 2000};
        nanosleep(&ts, 0);
    }
    printf("reader got %llu sum %llu\n", got, sum);
    fflush(stdout);
    return 0;
}

static int writer(int fd, const char *mode, size_t n) {
    char *b = malloc(n);
    if (!b) return 1;
    for (size_t i = 0; i < n; i++) b[i] = (char)(i * 7 + i / 251);
    ssize_t w;
    if (!strcmp(mode, "sockv")) {
        struct iovec iov[3] = {{b, n / 3}, {b + n / 3, n / 3}, {b + 2 * (n / 3), n - 2 * (n / 3)}};
        w = writev(fd, iov, 3);
    } else if (!strcmp(mode, "sendfile")) {
        char name[64];
        snprintf(name, sizeof name, "bigsend-%d", (int)getpid());
        int f = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (f < 0 || write(f, b, n) != (ssize_t)n) return 1;
        off_t off = 0;
        w = 0;
        while ((size_t)w < n) {  /* (Linux moves at most 0x7ffff000 bytes a call) */
            ssize_t r = sendfile(fd, f, &off, n - (size_t)w);
            if (r <= 0) break;
            w += r;
        }
        unlink(name);
    } else {
        w = write(fd, b, n);
    }
    printf("writer wrote %zd\n", w);
    fflush(stdout);
    close(fd);
    return w == (ssize_t)n ? 0 : 3;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1];
    size_t n = (size_t)atol(argv[2]) * 1024;
    int big = argc > 3 && !strcmp(argv[3], "big");
    int child_reads = argc > 4 && !strcmp(argv[4], "child-reads");
    int sv[2];  /* [0]: the writer's end, [1]: the reader's */
    if (!strcmp(mode, "pipe")) {
        int pp[2];
        if (pipe(pp)) return 1;
        sv[0] = pp[1];
        sv[1] = pp[0];
    } else if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        perror("socketpair");
        return 1;
    }
    pid_t c = fork();
    if (c < 0) return 1;
    int i_read = (c != 0) != child_reads;
    close(sv[i_read ? 0 : 1]);
    int r = i_read ? reader(sv[1], big) : writer(sv[0], mode, n);
    if (c != 0) {
        int st;
        waitpid(c, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) return 4;
    }
    return r;
}

/* One write of N KiB into a stream socket (or a pipe), read by the parent 1000 bytes at a
 * time with a short sleep between reads, so that the writer's call goes in many pieces and
 * waits between them: a migration or a page held elsewhere lands in the middle of it.
 *   sock_bigsend sock|pipe KIB    ->  "writer wrote N" / "reader got N sum S" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    size_t n = (size_t)atol(argv[2]) * 1024;
    int sv[2];
    if (argv[1][0] == 'p') {
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
    if (c != 0) {  /* the reader */
        close(sv[0]);
        unsigned long long sum = 0, got = 0;
        char buf[1000];
        for (;;) {
            ssize_t r = read(sv[1], buf, sizeof buf);
            if (r <= 0) break;
            for (ssize_t i = 0; i < r; i++) sum = sum * 31 + (unsigned char)buf[i];
            got += (unsigned long long)r;
            struct timespec ts = {0, 2000};
            nanosleep(&ts, 0);
        }
        int st;
        waitpid(c, &st, 0);
        printf("reader got %llu sum %llu\n", got, sum);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    }
    close(sv[1]);  /* the writer */
    char *b = malloc(n);
    if (!b) return 1;
    for (size_t i = 0; i < n; i++) b[i] = (char)(i * 7 + i / 251);
    ssize_t w = write(sv[0], b, n);
    printf("writer wrote %zd\n", w);
    fflush(stdout);
    close(sv[0]);
    return w == (ssize_t)n ? 0 : 3;
}

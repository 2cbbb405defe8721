/* A fork placed on a cluster that turns out to have no room for the child.
 *   fork_roomless hold KIB MS   touch KIB of memory, sleep MS ms, exit 0
 *   fork_roomless fork KIB      touch KIB (too big for a fork on its own cluster), fork a
 *                               child that sums its copy and exits with the sum's low byte
 * Prints what fork gave and what the child computed, as Linux does with memory to spare. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    size_t n = (size_t)atol(argv[2]) * 1024;
    unsigned char *b = malloc(n);
    if (!b) return 1;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(i * 13 + i / 4096);
    if (!strcmp(argv[1], "hold")) {
        long ms = argc > 3 ? atol(argv[3]) : 100;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return 0;
    }
    pid_t c = fork();
    if (c < 0) {
        printf("fork: -1 %s\n", strerror(errno));
        return 1;
    }
    if (c == 0) {
        unsigned s = 0;
        for (size_t i = 0; i < n; i++) s = s * 31 + b[i];
        _exit((int)(s % 199 + 1));
    }
    int st;
    waitpid(c, &st, 0);
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + b[i];
    printf("fork: ok; child computed %d, expected %u\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, s % 199 + 1);
    return 0;
}

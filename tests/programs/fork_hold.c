/* A parent with 256 KiB of data forks; the child only reads it for 30 ms (every page
 * shared copy-on-write), then writes the first half (those pages become its own), holds
 * them 30 ms and exits; the parent waits. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIZE (256 * 1024)

static void nap(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    unsigned char *m = malloc(SIZE);
    if (!m) return 1;
    for (int i = 0; i < SIZE; i++) m[i] = (unsigned char)(i * 7);
    fflush(stdout);
    pid_t c = fork();
    if (c < 0) { perror("fork"); return 1; }
    if (c == 0) {
        unsigned sum = 0;
        for (int i = 0; i < SIZE; i += 4096) sum += m[i];
        nap(30);
        for (int i = 0; i < SIZE / 2; i++) m[i] ^= 0x5a;
        nap(30);
        printf("child: sum %u\n", sum);
        return 0;
    }
    int st;
    if (waitpid(c, &st, 0) != c) { perror("waitpid"); return 1; }
    printf("parent: child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}

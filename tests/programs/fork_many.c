/* Forks children that wait for ever until fork fails or N are made (fork_many N): on a big
   chip they spread over the clusters, each of which needs its own emulator on the host. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int want = argc > 1 ? atoi(argv[1]) : 1000, n = 0;
    for (; n < want; n++) {
        pid_t p = fork();
        if (p == 0)
            for (;;) pause();
        if (p < 0) {
            printf("fork failed after %d: %s\n", n, strerror(errno));
            break;
        }
    }
    printf("forked %d\n", n);
    return 0;
}

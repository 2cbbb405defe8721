/* fork placement (tests/test_placement.py): the parent keeps 16 threads busy (its cluster's
   harts are full), then forks 4 children that each compute and exit with a checksum byte; the
   parent waits for them and prints what they computed. fork_spread ITERS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;
static unsigned iters;

static void *busy(void *arg) {
    volatile unsigned x = (unsigned)(unsigned long)arg;
    while (!stop) x = x * 1103515245u + 12345u;
    return NULL;
}

static unsigned work(unsigned seed) {
    unsigned x = seed, acc = 0;
    for (unsigned i = 0; i < iters; i++) {
        x = x * 1103515245u + 12345u;
        acc += x >> 16;
    }
    return acc;
}

int main(int argc, char **argv) {
    iters = argc > 1 ? (unsigned)atol(argv[1]) : 200000;
    pthread_t t[16];
    for (long i = 0; i < 16; i++) pthread_create(&t[i], NULL, busy, (void *)i);
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        if (kids[i] == 0) _exit((int)(work(1u + (unsigned)i) & 0xff));
    }
    for (int i = 0; i < 4; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        printf("child %d: %d\n", i, WEXITSTATUS(st));
    }
    stop = 1;
    for (int i = 0; i < 16; i++) pthread_join(t[i], NULL);
    return 0;
}

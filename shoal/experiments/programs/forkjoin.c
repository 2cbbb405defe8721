/* Nanvix's fork-join microbenchmark, as the seed's authors ran it: the master thread creates
   N threads that do nothing and joins them, ITERS times (the experiment runs it twice, with
   the warm-up alone and with warm-up + measured iterations, and takes the difference).
   forkjoin N ITERS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: forkjoin N ITERS\n");
        return 2;
    }
    int n = atoi(argv[1]), iters = atoi(argv[2]);
    if (n < 1 || n > 64 || iters < 0) {
        fprintf(stderr, "forkjoin: N from 1 to 64, ITERS >= 0\n");
        return 2;
    }
    pthread_t th[64];
    long joined = 0;
    for (int it = 0; it < iters; it++) {
        for (long i = 0; i < n; i++)
            if (pthread_create(&th[i], NULL, nothing, (void *)(i + 1)) != 0) {
                perror("pthread_create");
                return 1;
            }
        for (int i = 0; i < n; i++) {
            void *r;
            pthread_join(th[i], &r);
            joined += (long)r;
        }
    }
    printf("forkjoin %d x %d: %ld\n", n, iters, joined);
    return 0;
}

/* Compute-bound work in threads, for the balance policy: THREADS threads each mix ITERS
 * values from their own seed; the process prints one checksum of them all.
 *   pol_work THREADS ITERS SEED */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned iters, seed;
static unsigned results[64];

static void *work(void *arg) {
    unsigned i = (unsigned)(unsigned long)arg, x = (i + seed * 64u) * 2654435761u + 1u, acc = 0;
    for (unsigned n = 0; n < iters; n++) {
        x = x * 1103515245u + 12345u;
        acc += (x >> 16) ^ (acc << 3);
    }
    results[i] = acc;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    int threads = atoi(argv[1]);
    iters = (unsigned)atoi(argv[2]);
    seed = (unsigned)atoi(argv[3]);
    if (threads < 1 || threads > 64) return 2;
    pthread_t t[64];
    for (int i = 1; i < threads; i++) pthread_create(&t[i], NULL, work, (void *)(unsigned long)i);
    work((void *)0);
    unsigned sum = 0;
    for (int i = 1; i < threads; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < threads; i++) sum = sum * 31u + results[i];
    printf("work %u: %u\n", seed, sum);
    return 0;
}

/* bench/programs/busy.c: T threads, each running the same compute loop, for figure 2.
 *
 * Thread i runs N iterations of an integer + floating-point loop seeded by i, with no
 * system calls inside the loop; the main thread joins them all and prints one line whose
 * value depends only on N and T (so every cluster running the same argv prints the same).
 *
 * usage: busy N T        prints "busy N T SUM"
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long iters;
static uint32_t results[64];

static void *worker(void *arg) {
    long id = (long)arg;
    uint32_t x = 2463534242u + (uint32_t)id * 7919u, h = 0;
    double y = 1.0, acc = 0.0;
    for (long i = 0; i < iters; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        h = h * 31u + x % 1000003u;
        y = y * 0.999999 + (double)(x & 0xffff) * 1e-6;
        acc += y / (1.0 + (double)(i & 15));
    }
    results[id] = h ^ (uint32_t)(int64_t)acc;
    return NULL;
}

int main(int argc, char **argv) {
    iters = argc > 1 ? atol(argv[1]) : 100000;
    int nthreads = argc > 2 ? atoi(argv[2]) : 16;
    if (nthreads < 1 || nthreads > 64) {
        fprintf(stderr, "busy: threads must be 1..64\n");
        return 2;
    }
    pthread_t th[64];
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
            fprintf(stderr, "busy: pthread_create failed\n");
            return 1;
        }
    uint32_t sum = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        sum = sum * 16777619u ^ results[i];
    }
    printf("busy %ld %d %08x\n", iters, nthreads, (unsigned)sum);
    return 0;
}

/* Threads whose stacks and private data outgrow their cluster: each of T threads keeps a few
 * pages of its own stack dirty all the time (a recursion with a page-sized frame) and updates
 * its share of a heap larger than the cluster, so dirty stack pages are evicted to remote
 * memory and touched again at once, over and over. Every thread's result depends only on its
 * own data, so the output is the same however the threads interleave.
 * usage: rmem_threads THREADS KIB_PER_THREAD ROUNDS */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nthreads, rounds;
static size_t words;
static uint32_t *heap;
static uint64_t result[64];

static uint32_t frame(uint32_t *w, uint32_t seed, int depth) {
    volatile uint32_t local[1024];  /* a page of stack at every level, written and read back */
    for (int i = 0; i < 1024; i += 97) local[i] = seed + (uint32_t)i * 2654435761u;
    uint32_t s = seed;
    for (int i = 0; i < 64; i++) {
        s = s * 1103515245u + 12345u;
        size_t j = (s >> 3) % words;
        w[j] = w[j] * 31u + s + local[(i * 97) % 1024];
    }
    if (depth > 0) s ^= frame(w, s, depth - 1);
    for (int i = 0; i < 1024; i += 97) s += local[i];
    return s;
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    uint32_t *w = heap + (size_t)id * words;
    for (size_t i = 0; i < words; i++) w[i] = (uint32_t)(i + (size_t)id * 7919u);
    uint32_t s = (uint32_t)id;
    for (int r = 0; r < rounds; r++) s = frame(w, s + (uint32_t)r, 6);
    uint64_t sum = s;
    for (size_t i = 0; i < words; i++) sum = sum * 31 + w[i];
    result[id] = sum;
    return 0;
}

int main(int argc, char **argv) {
    nthreads = argc > 1 ? atoi(argv[1]) : 8;
    int kib = argc > 2 ? atoi(argv[2]) : 256;
    rounds = argc > 3 ? atoi(argv[3]) : 20;
    if (nthreads < 1 || nthreads > 64 || kib < 1 || rounds < 0) return 2;
    words = (size_t)kib * 256;
    heap = malloc(words * 4 * (size_t)nthreads);
    if (!heap) {
        printf("no memory\n");
        return 1;
    }
    pthread_t t[64];
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 << 10);
    for (int i = 0; i < nthreads; i++) pthread_create(&t[i], &a, worker, (void *)(intptr_t)i);
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], 0);
    for (int i = 0; i < nthreads; i++) printf("thread %d: %llu\n", i, (unsigned long long)result[i]);
    return 0;
}

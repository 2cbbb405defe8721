/* Many short threads, in batches: each one uses its stack, the heap and a private mapping
 * that it mprotects, madvises and unmaps in pieces. Every thread's stack is mapped and
 * unmapped by the C library, so a batch leaves nothing behind.
 *
 *   mem_threads [BATCHES [THREADS]]   (default 4 batches of 12; at most 32 threads) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096u
#define MIB (1024u * 1024u)

static unsigned work(long id) {
    volatile unsigned char deep[24 * 1024]; /* several pages of stack */
    for (unsigned i = 0; i < sizeof deep; i += 512)
        deep[i] = (unsigned char)(id + i / 512);
    unsigned sum = 0;
    for (unsigned i = 0; i < sizeof deep; i += 512)
        sum += deep[i];

    unsigned *heap = malloc(20000 + (size_t)id * 100);
    if (heap == NULL)
        return 0;
    for (unsigned i = 0; i < 5000; i++)
        heap[i] = i * (unsigned)id;
    sum += heap[4999] % 1000;
    free(heap);

    size_t len = 2 * MIB;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 0;
    for (size_t off = 0; off < len; off += 256 * 1024)
        m[off + (size_t)id] = (char)(id + 1);
    mprotect(m + 512 * 1024, 512 * 1024, PROT_READ);
    sum += (unsigned char)m[512 * 1024 + (size_t)id];
    madvise(m + MIB, 512 * 1024, MADV_DONTNEED);
    sum += (unsigned char)m[MIB + (size_t)id]; /* zero now */
    sum += (unsigned char)m[MIB + 256 * 1024 + (size_t)id];
    munmap(m, MIB);
    sum += (unsigned char)m[MIB + 512 * 1024 + (size_t)id];
    munmap(m + MIB, MIB);
    return sum;
}

static void *worker(void *arg) {
    return (void *)(unsigned long)work((long)arg);
}

int main(int argc, char **argv) {
    int batches = argc > 1 ? atoi(argv[1]) : 4;
    int n = argc > 2 ? atoi(argv[2]) : 12;
    if (n < 1 || n > 32)
        return 2;
    unsigned long total = 0;
    for (int b = 0; b < batches; b++) {
        pthread_t th[32];
        unsigned long batch = 0;
        for (long i = 0; i < n; i++) {
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            if (i % 3 == 1)
                pthread_attr_setstacksize(&attr, 256 * 1024);
            if (pthread_create(&th[i], &attr, worker, (void *)(i + b)) != 0) {
                printf("pthread_create failed in batch %d\n", b);
                return 1;
            }
            pthread_attr_destroy(&attr);
        }
        for (int i = 0; i < n; i++) {
            void *r;
            pthread_join(th[i], &r);
            batch += (unsigned long)r;
        }
        printf("batch %d: %d threads, sum %lu\n", b, n, batch);
        total += batch;
    }
    printf("total %lu\n", total);
    return 0;
}

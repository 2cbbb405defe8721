/* N threads (1..16) each sweep their own 16 KiB, 20 times: every load misses the 8 KiB
   D-cache, so the cluster's memory banks see N streams of refills (tests/test_caches.py). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NT 16
static unsigned char buf[NT][16384];
static unsigned sums[NT];

static void *work(void *a) {
    long id = (long)a;
    unsigned s = 0;
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 16384; i += 64) s += buf[id][i];
    sums[id] = s;
    return 0;
}

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : NT;
    if (nt < 1 || nt > NT) return 2;
    pthread_t t[NT];
    for (int i = 0; i < NT; i++)
        for (int j = 0; j < 16384; j++) buf[i][j] = (unsigned char)(i + j + argc);
    for (long i = 0; i < nt; i++) pthread_create(&t[i], 0, work, (void *)i);
    for (int i = 0; i < nt; i++) pthread_join(t[i], 0);
    unsigned s = 0;
    for (int i = 0; i < nt; i++) s += sums[i];
    printf("%d threads: %u\n", nt, s);
    return 0;
}

/* Holds PAGES pages of memory (touched) with THREADS threads asleep, for SLEEP_MS ms of
 * simulated time, then prints a checksum of its memory: a process to migrate, or to fill
 * a cluster so that nothing else fits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long ms;

static void *sleeper(void *arg) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return arg;
}

int main(int argc, char **argv) {
    long pages = argc > 1 ? atol(argv[1]) : 0;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    ms = argc > 3 ? atol(argv[3]) : 10;
    unsigned char *mem = NULL;
    if (pages > 0) {
        mem = malloc(pages * 4096);
        if (!mem) { printf("no memory\n"); return 1; }
        for (long i = 0; i < pages * 4096; i++) mem[i] = (unsigned char)(i * 7 + (i >> 12));
    }
    pthread_t th[64];
    for (int i = 1; i < threads && i < 64; i++)
        pthread_create(&th[i], NULL, sleeper, NULL);
    sleeper(NULL);
    for (int i = 1; i < threads && i < 64; i++)
        pthread_join(th[i], NULL);
    unsigned long long sum = 0;
    for (long i = 0; i < pages * 4096; i++) sum = sum * 31 + mem[i];
    printf("hold %ld pages %d threads: %llu\n", pages, threads, sum);
    return 0;
}

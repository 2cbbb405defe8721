/* shoal demo: a process with THREADS threads and PAGES pages of data migrates itself around
 * every compute cluster; after each hop the workers go on changing the data, and at the end
 * it prints a checksum that the host computes independently. */
#include <pthread.h>
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned char *data;
static long pages;
static int nthreads;
static pthread_barrier_t hop;

static void *worker(void *arg) {
    long id = (long)arg;
    int hops = shoal_clusters();
    for (int h = 0; h <= hops; h++) {
        for (long p = id; p < pages; p += nthreads)
            for (int i = 0; i < 4096; i += 64) data[p * 4096 + i] += (unsigned char)(h + 1);
        pthread_barrier_wait(&hop);  /* main migrates while the workers wait here */
        pthread_barrier_wait(&hop);
    }
    return NULL;
}

int main(int argc, char **argv) {
    pages = argc > 1 ? atol(argv[1]) : 64;
    nthreads = argc > 2 ? atoi(argv[2]) : 4;
    data = malloc(pages * 4096);
    if (!data) return 1;
    for (long i = 0; i < pages * 4096; i++) data[i] = (unsigned char)(i * 7 + (i >> 12));
    pthread_barrier_init(&hop, NULL, nthreads + 1);
    pthread_t th[64];
    for (long i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, worker, (void *)i);
    int hops = shoal_clusters(), ok = 0;
    for (int h = 0; h <= hops; h++) {
        pthread_barrier_wait(&hop);
        if (h < hops) {
            int to = (shoal_cluster() + 1) % hops;
            if (shoal_migrate(to) == 0 && shoal_cluster() == to) ok++;
        }
        pthread_barrier_wait(&hop);
    }
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    unsigned long long sum = 0;
    for (long i = 0; i < pages * 4096; i++) sum = sum * 31 + data[i];
    printf("tour %d hops of %d, back on cluster %d, checksum %llu\n", ok, hops, shoal_cluster(), sum);
    return 0;
}

/* 8 threads update shared data and 1 MiB of the process's own pages while the main thread
 * migrates the process across every compute cluster. The result does not depend on how
 * the threads interleave, so the same source built natively (-DNATIVE) gives the expected
 * output. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef NATIVE
#define shoal_migrate(c) 0
#define shoal_cluster() 0
#define shoal_clusters() 16
#else
#include <shoal.h>
#endif

#define NT 8
#define SIZE (1 << 20)
#define ROUNDS 6
static unsigned char big[SIZE];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *worker(void *arg) {
    long id = (long)arg;
    unsigned char *slice = big + id * (SIZE / NT);
    for (int r = 0; r < ROUNDS; r++) {
        for (int j = 0; j < SIZE / NT; j++)
            slice[j] = (unsigned char)(slice[j] * 3 + id + r + (j >> 5));
        pthread_mutex_lock(&lock);
        counter += id + 1;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int hops = argc > 1 ? atoi(argv[1]) : shoal_clusters();
    for (int i = 0; i < SIZE; i++) big[i] = (unsigned char)(i ^ (i >> 8));  /* all 1 MiB in use */
    pthread_t th[NT];
    for (long i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    int moved = 0;
    for (int c = 1; c <= hops; c++) {
        int to = c % shoal_clusters();
        if (shoal_migrate(to) == 0 && shoal_cluster() == to) moved++;
        struct timespec ts = {0, 100000};  /* let the workers run a while here */
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    unsigned long long sum = 0;
    for (int i = 0; i < SIZE; i++) sum = sum * 1099511628211ull + big[i];
    printf("counter %ld, checksum %llu\n", counter, sum);
    fprintf(stderr, "moved %d of %d\n", moved, hops);
    return 0;
}

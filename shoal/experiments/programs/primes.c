/* shoal demo: count primes below N with T threads (trial division, interleaved ranges),
 * combining the per-thread counts under a mutex. Prints "primes N T COUNT". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int limit, nthreads;
static long total;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int is_prime(int n) {
    if (n < 2) return 0;
    for (int d = 2; d * d <= n; d++)
        if (n % d == 0) return 0;
    return 1;
}

static void *worker(void *arg) {
    long id = (long)arg, count = 0;
    for (int n = (int)id; n < limit; n += nthreads)
        count += is_prime(n);
    pthread_mutex_lock(&lock);
    total += count;
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv) {
    limit = argc > 1 ? atoi(argv[1]) : 100000;
    nthreads = argc > 2 ? atoi(argv[2]) : 16;
    if (nthreads < 1 || nthreads > 64) {
        fprintf(stderr, "primes: threads must be 1..64\n");
        return 2;
    }
    pthread_t th[64];
    for (long i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    printf("primes %d %d %ld\n", limit, nthreads, total);
    return 0;
}

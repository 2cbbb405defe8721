/* Threads that compute, a system call or two each, and a result that shows where the
 * process ended: for the trace and GDB tests (a migration given on the command line moves
 * it while the workers run). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <shoal.h>

#define NT 4
volatile int where = -1;
static long sums[NT];
static long n = 200000;

static void *worker(void *arg) {
    long id = (long)arg, s = 0;
    for (long i = 0; i < n; i++)
        s += ((i % 1024) * (i % 1024) + id) % 7;
    sums[id] = s;
    return NULL;
}

int finish(long total) {
    where = shoal_cluster();
    printf("total %ld on cluster %d\n", total, where);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1)
        n = atol(argv[1]);
    where = shoal_cluster();
    pthread_t th[NT];
    for (long i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    long total = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        total += sums[i];
    }
    return finish(total);
}

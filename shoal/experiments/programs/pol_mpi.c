/* An MPI job for the placement bench: each rank mixes ITERS values in THREADS threads (rank r
 * works (1 + r % 3) / 2 times as long: uneven), then the ranks sum their checksums
 * (MPI_Allreduce); rank 0 prints the sum.
 *   pol_mpi THREADS ITERS */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned iters, rank;
static unsigned results[16];

static void *work(void *arg) {
    unsigned i = (unsigned)(unsigned long)arg, x = (i + rank * 16u) * 2654435761u + 1u, acc = 0;
    for (unsigned n = 0; n < iters; n++) {
        x = x * 1103515245u + 12345u;
        acc += (x >> 16) ^ (acc << 3);
    }
    results[i] = acc;
    return NULL;
}

int main(int argc, char **argv) {
    int r, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    rank = (unsigned)r;
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    if (threads < 1 || threads > 16) threads = 4;
    iters = (unsigned)((argc > 2 ? atoll(argv[2]) : 100000) * (1 + r % 3) / 2);
    pthread_t t[16];
    for (int i = 1; i < threads; i++) pthread_create(&t[i], NULL, work, (void *)(unsigned long)i);
    work((void *)0);
    unsigned mine = 0, sum = 0;
    for (int i = 1; i < threads; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < threads; i++) mine = mine * 31u + results[i];
    MPI_Allreduce(&mine, &sum, 1, MPI_UNSIGNED, MPI_SUM, MPI_COMM_WORLD);
    if (r == 0) printf("ranks %d sum %u\n", size, sum);
    MPI_Finalize();
    return 0;
}

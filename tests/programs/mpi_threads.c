/* Threads inside MPI ranks (MPI_THREAD_FUNNELED): each rank sums a series with 3 pthreads,
 * then the main thread reduces the ranks' sums. Rank 0 prints. */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>

static int rank, size;
static long part[3];

static void *work(void *arg) {
    long k = (long)arg, s = 0;
    for (long i = rank * 3 + k; i < 300000; i += size * 3) s += i % 1000;
    part[k] = s;
    return NULL;
}

int main(int argc, char **argv) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    pthread_t t[3];
    for (long k = 0; k < 3; k++) pthread_create(&t[k], NULL, work, (void *)k);
    for (int k = 0; k < 3; k++) pthread_join(t[k], NULL);
    long mine = part[0] + part[1] + part[2], total = 0;
    MPI_Reduce(&mine, &total, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    int is_main;
    MPI_Is_thread_main(&is_main);
    if (rank == 0) printf("funneled %s, main %d, total %ld\n", provided >= MPI_THREAD_FUNNELED ? "yes" : "no",
                          is_main, total);
    MPI_Finalize();
    return 0;
}

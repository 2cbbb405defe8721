/* Collective times for shoal bench mpi (experiments/benchmpi.py): each collective ITERS times
 * after one warm-up, every rank taking part; rank 0 prints "name bytes iters sim_ns" (the
 * simulated time from MPI_Wtime) and a checksum line that the bench compares with the value
 * it computes itself. mpi_coll ITERS */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double now(void) { return MPI_Wtime(); }

int main(int argc, char **argv) {
    int rank, size, iters = argc > 1 ? atoi(argv[1]) : 5;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    enum { BIG = 65536, A2A = 1024 };
    char *big = malloc(BIG), *sendv = malloc((size_t)A2A * size), *recvv = malloc((size_t)A2A * size);
    memset(big, rank, BIG);
    memset(sendv, rank, (size_t)A2A * size);
    long long sum = 0, mine = rank + 1, check = 0;
    double t0;
#define TIME(name, bytes, stmt)                                                       \
    do {                                                                                \
        stmt;                                                                           \
        MPI_Barrier(MPI_COMM_WORLD);                                                    \
        t0 = now();                                                                     \
        for (int i = 0; i < iters; i++) { stmt; }                                       \
        double dt = now() - t0;                                                         \
        if (rank == 0) printf("%s %d %d %.0f\n", name, bytes, iters, dt * 1e9);         \
    } while (0)
    TIME("barrier", 0, MPI_Barrier(MPI_COMM_WORLD));
    TIME("bcast", 8, MPI_Bcast(&mine, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD));
    TIME("allreduce", 8, MPI_Allreduce(&mine, &sum, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD));
    check += sum;
    TIME("bcast", BIG, MPI_Bcast(big, BIG, MPI_BYTE, 0, MPI_COMM_WORLD));
    TIME("alltoall", A2A, MPI_Alltoall(sendv, A2A, MPI_BYTE, recvv, A2A, MPI_BYTE, MPI_COMM_WORLD));
    for (int r = 0; r < size; r++) check += recvv[(size_t)r * A2A];
    if (rank == 0) printf("check %lld\n", check);
    free(big); free(sendv); free(recvv);
    MPI_Finalize();
    return 0;
}

/* Guest MPI ping-pong for shoal bench mpi (experiments/benchmpi.py) and bench/guest_mpi.py: ranks 0 and 1 bounce messages of each size
 * given on the command line (ITERS round trips after one warm-up), one buffer per rank (a
 * 1 MiB message fits a 2 MiB cluster). Rank 0 prints "size iters sim_ns" per size: the
 * simulated time of all the round trips, from MPI_Wtime. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int rank, iters = atoi(argv[1]), max = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    for (int a = 2; a < argc; a++) max = atoi(argv[a]) > max ? atoi(argv[a]) : max;
    char *buf = malloc(max > 0 ? max : 1);
    for (int i = 0; i < max; i++) buf[i] = (char)i;
    for (int a = 2; a < argc; a++) {
        int n = atoi(argv[a]);
        double t0 = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        for (int i = 0; i <= iters; i++) {
            if (i == 1) t0 = MPI_Wtime();
            if (rank == 0) {
                MPI_Send(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
                MPI_Recv(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else if (rank == 1) {
                MPI_Recv(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
            }
        }
        if (rank == 0) printf("%d %d %.0f\n", n, iters, (MPI_Wtime() - t0) * 1e9);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}

/* An OSU-style latency test (written for shoal, after the OSU micro-benchmarks' osu_latency):
 * ranks 0 and 1 ping-pong messages of 0, 1, 2, 4 ... MAX bytes (argv[1], default 4096),
 * SKIP warm-up rounds then ITERS timed ones; one-way latency in microseconds of MPI_Wtime,
 * which on the chip is simulated time. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define SKIP 2
#define ITERS 10

int main(int argc, char **argv) {
    int rank, size, max = argc > 1 ? atoi(argv[1]) : 4096;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (rank == 0) fprintf(stderr, "This test requires exactly two processes\n");
        MPI_Finalize();
        return 1;
    }
    char *s = malloc(max > 0 ? max : 1), *r = malloc(max > 0 ? max : 1);
    for (int i = 0; i < max; i++) s[i] = 'a', r[i] = 'b';
    if (rank == 0) printf("# OSU-style MPI latency test\n# %-10s%18s\n", "Size", "Latency (us)");
    for (int n = 0; n <= max; n = n ? 2 * n : 1) {
        double t0 = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        for (int i = 0; i < SKIP + ITERS; i++) {
            if (i == SKIP) t0 = MPI_Wtime();
            if (rank == 0) {
                MPI_Send(s, n, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
                MPI_Recv(r, n, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(r, n, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(s, n, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
            }
        }
        double lat = (MPI_Wtime() - t0) * 1e6 / (2.0 * ITERS);
        if (rank == 0) printf("%-12d%18.2f\n", n, lat);
    }
    free(s);
    free(r);
    MPI_Finalize();
    return 0;
}

/* MPI ping-pong between ranks 0 and 1 over message sizes on both sides of the eager limit:
 * each reply is the message plus one per byte; rank 0 checks it and prints a checksum.
 * Other ranks only take part in the barriers. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    static const int sizes[] = {0, 1, 8, 100, 104, 105, 1024, 4096, 65536, 200000};
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    unsigned char *buf = malloc(200000);
    for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int n = sizes[k], bad = 0, count = -1;
        unsigned long sum = 0;
        MPI_Status st;
        for (int it = 0; it < 2; it++) {
            if (rank == 0) {
                for (int i = 0; i < n; i++) buf[i] = (unsigned char)(i * 7 + n + it);
                MPI_Send(buf, n, MPI_BYTE, 1, k, MPI_COMM_WORLD);
                MPI_Recv(buf, n, MPI_BYTE, 1, k, MPI_COMM_WORLD, &st);
                MPI_Get_count(&st, MPI_BYTE, &count);
                for (int i = 0; i < n; i++) {
                    if (buf[i] != (unsigned char)(i * 7 + n + it + 1)) bad++;
                    sum += buf[i];
                }
            } else if (rank == 1) {
                MPI_Recv(buf, n, MPI_BYTE, 0, k, MPI_COMM_WORLD, &st);
                for (int i = 0; i < n; i++) buf[i]++;
                MPI_Send(buf, n, MPI_BYTE, 0, k, MPI_COMM_WORLD);
            }
        }
        if (rank == 0)
            printf("size %6d: count %6d source %d tag %d sum %lu %s\n", n, count, st.MPI_SOURCE, st.MPI_TAG,
                   sum, bad ? "BAD" : "ok");
        MPI_Barrier(MPI_COMM_WORLD);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}

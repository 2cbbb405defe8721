/* Messages larger than a compute cluster's memory (~1.8 MiB on mppa256: the buffers live
 * partly in remote memory on the I/O cluster): 3 MiB + 5 bytes each way at once, then a
 * 2.5 MiB message into a 1.5 MiB receive (MPI_ERR_TRUNCATE, the first 1.5 MiB kept). Every
 * byte is checked; rank 0 prints. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned char val(int rank, long i) { return (unsigned char)(i * 7 + rank * 13 + (i >> 12)); }

int main(int argc, char **argv) {
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long n = 3L * 1048576 + 5;
    unsigned char *out = malloc(n), *in = malloc(n);
    if (out == NULL || in == NULL) MPI_Abort(MPI_COMM_WORLD, 2);
    for (long i = 0; i < n; i++) out[i] = val(rank, i);
    int peer = rank ^ 1, bad = 0, count;
    MPI_Status st;
    if (peer < size) {
        MPI_Sendrecv(out, (int)n, MPI_BYTE, peer, 1, in, (int)n, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &st);
        MPI_Get_count(&st, MPI_BYTE, &count);
        for (long i = 0; i < n; i++) bad += in[i] != val(peer, i);
        if (rank == 0) printf("exchange: %d bytes each way, %d wrong\n", count, bad);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    long big = 5L * 524288, room = 3L * 524288;
    if (rank == 1) MPI_Send(out, (int)big, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
    if (rank == 0 && size > 1) {
        for (long i = 0; i < n; i++) in[i] = 0;
        int e = MPI_Recv(in, (int)room, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &st), cls;
        MPI_Error_class(e, &cls);
        MPI_Get_count(&st, MPI_BYTE, &count);
        bad = 0;
        for (long i = 0; i < room; i++) bad += in[i] != val(1, i);
        for (long i = room; i < n; i++) bad += in[i] != 0;
        printf("truncated: class truncate %d, count %d, %d wrong\n", cls == MPI_ERR_TRUNCATE, count, bad);
    }
    MPI_Finalize();
    return 0;
}

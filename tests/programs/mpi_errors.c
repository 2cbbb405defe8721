/* MPI errors. "return": with MPI_ERRORS_RETURN, each bad call returns its error class, and a
 * receive shorter than its message reports MPI_ERR_TRUNCATE; rank 0 prints them. "fatal":
 * rank 1 sends to a rank that does not exist under the default handler (the job ends).
 * "fault": rank 1 writes through a null pointer while rank 0 waits for it. "abort": rank 1
 * calls MPI_Abort(MPI_COMM_WORLD, 3). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    int rank, size, x[10] = {0};
    const char *mode = argc > 1 ? argv[1] : "return";
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (strcmp(mode, "return") == 0) {
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        int c[5];
        MPI_Error_class(MPI_Send(x, 1, MPI_INT, size + 5, 0, MPI_COMM_WORLD), &c[0]);
        MPI_Error_class(MPI_Send(x, 1, MPI_INT, 0, -5, MPI_COMM_WORLD), &c[1]);
        MPI_Error_class(MPI_Send(x, -1, MPI_INT, 0, 0, MPI_COMM_WORLD), &c[2]);
        MPI_Error_class(MPI_Recv(x, 1, MPI_INT, -7, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE), &c[3]);
        c[4] = -1;
        if (rank == 1) {
            int ten[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
            MPI_Send(ten, 10, MPI_INT, 0, 4, MPI_COMM_WORLD);
        } else if (rank == 0) {
            MPI_Status st;
            int e = MPI_Recv(x, 5, MPI_INT, 1, 4, MPI_COMM_WORLD, &st);
            MPI_Error_class(e, &c[4]);
            printf("truncated receive kept %d %d %d %d %d\n", x[0], x[1], x[2], x[3], x[4]);
        }
        if (rank == 0)
            printf("classes: bad rank %s, bad tag %s, bad count %s, bad source %s, truncate %s\n",
                   c[0] == MPI_ERR_RANK ? "MPI_ERR_RANK" : "?", c[1] == MPI_ERR_TAG ? "MPI_ERR_TAG" : "?",
                   c[2] == MPI_ERR_COUNT ? "MPI_ERR_COUNT" : "?", c[3] == MPI_ERR_RANK ? "MPI_ERR_RANK" : "?",
                   c[4] == MPI_ERR_TRUNCATE ? "MPI_ERR_TRUNCATE" : "?");
    } else if (strcmp(mode, "fatal") == 0) {
        if (rank == 1) MPI_Send(x, 1, MPI_INT, size + 5, 0, MPI_COMM_WORLD);
        if (rank == 0) MPI_Recv(x, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (strcmp(mode, "fault") == 0) {
        if (rank == 1) *(volatile int *)0 = 1;
        if (rank == 0) MPI_Recv(x, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (strcmp(mode, "abort") == 0) {
        if (rank == 1) MPI_Abort(MPI_COMM_WORLD, 3);
        if (rank == 0) MPI_Recv(x, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    printf("rank %d done\n", rank);
    MPI_Finalize();
    return 0;
}

/* A ring: a token goes ROUNDS times around (Send/Recv, each rank adds its rank); then every
 * rank passes a large array to its right neighbour with Isend/Irecv posted both ways at once
 * (rendezvous crossing), and a small one with Sendrecv_replace. Rank 0 prints the results. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define BIG 30000

int main(int argc, char **argv) {
    int rank, size, rounds = argc > 1 ? atoi(argv[1]) : 3;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    long token = 0;
    for (int r = 0; r < rounds; r++) {
        if (rank == 0) {
            token += 1000;
            MPI_Send(&token, 1, MPI_LONG, right, r, MPI_COMM_WORLD);
            MPI_Recv(&token, 1, MPI_LONG, left, r, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            printf("round %d: token %ld\n", r, token);
        } else {
            MPI_Recv(&token, 1, MPI_LONG, left, r, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            token += rank;
            MPI_Send(&token, 1, MPI_LONG, right, r, MPI_COMM_WORLD);
        }
    }
    int *out = malloc(BIG * sizeof(int)), *in = malloc(BIG * sizeof(int)), *back = malloc(BIG * sizeof(int));
    for (int i = 0; i < BIG; i++) out[i] = rank * 100000 + i;
    MPI_Request rq[4];
    MPI_Status st[4];
    MPI_Irecv(in, BIG, MPI_INT, left, 7, MPI_COMM_WORLD, &rq[0]);
    MPI_Irecv(back, BIG, MPI_INT, right, 8, MPI_COMM_WORLD, &rq[1]);
    MPI_Isend(out, BIG, MPI_INT, right, 7, MPI_COMM_WORLD, &rq[2]);
    MPI_Isend(out, BIG, MPI_INT, left, 8, MPI_COMM_WORLD, &rq[3]);
    double work = 0; /* overlap: compute while the transfers are under way */
    for (int i = 1; i < 20000; i++) work += 1.0 / i;
    MPI_Waitall(4, rq, st);
    int bad = 0;
    for (int i = 0; i < BIG; i++) bad += in[i] != left * 100000 + i || back[i] != right * 100000 + i;
    int small[3] = {rank, rank * rank, -rank};
    MPI_Sendrecv_replace(small, 3, MPI_INT, right, 9, left, 9, MPI_COMM_WORLD, &st[0]);
    bad += small[0] != left || small[1] != left * left || small[2] != -left || st[0].MPI_SOURCE != left;
    int total;
    MPI_Reduce(&bad, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("exchange of %d ints each way: %d errors; status source %d tag %d; work %.6f\n",
                          BIG, total, st[0].MPI_SOURCE, st[0].MPI_TAG, work);
    MPI_Finalize();
    return 0;
}

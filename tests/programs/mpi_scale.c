/* MPI at any rank count and mailbox size: collectives (barrier, bcast, allreduce, alltoall,
 * eager and rendezvous sizes), then a many-to-one flood: every rank posts N eager messages
 * and one rendezvous message to rank 0, and rank 0 one rendezvous message to every rank,
 * all before rank 0 receives any (a barrier in between), so that rank 0's mailbox is full
 * while the others' progress threads owe it clear-to-sends. Correct by the standard (only
 * non-blocking sends before the barrier). Rank 0 prints what it checked.
 *   mpi_scale N */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

enum { BIG = 64, PAIR = 32 }; /* 256 B and 128 B: above the 104 B eager limit */

int main(int argc, char **argv) {
    int rank, size, errors = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int n = argc > 1 ? atoi(argv[1]) : 20;

    MPI_Barrier(MPI_COMM_WORLD);
    long long v = rank == size - 1 ? 1000 + size : -1;
    MPI_Bcast(&v, 1, MPI_LONG_LONG, size - 1, MPI_COMM_WORLD);
    errors += v != 1000 + size;
    int big[BIG];
    for (int i = 0; i < BIG; i++) big[i] = rank == 0 ? i * 7 + 1 : 0;
    MPI_Bcast(big, BIG, MPI_INT, 0, MPI_COMM_WORLD);
    for (int i = 0; i < BIG; i++) errors += big[i] != i * 7 + 1;
    long long sq = (long long)rank * rank, sqsum = 0;
    MPI_Allreduce(&sq, &sqsum, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);

    int *s1 = malloc(sizeof(int) * (size_t)size), *r1 = malloc(sizeof(int) * (size_t)size);
    int *s2 = malloc(sizeof(int) * PAIR * (size_t)size), *r2 = malloc(sizeof(int) * PAIR * (size_t)size);
    for (int j = 0; j < size; j++) {
        s1[j] = rank * 1000 + j;
        for (int k = 0; k < PAIR; k++) s2[j * PAIR + k] = rank * 100000 + j * 100 + k;
    }
    MPI_Alltoall(s1, 1, MPI_INT, r1, 1, MPI_INT, MPI_COMM_WORLD);
    MPI_Alltoall(s2, PAIR, MPI_INT, r2, PAIR, MPI_INT, MPI_COMM_WORLD);
    int a2a = 0;
    for (int i = 0; i < size; i++) {
        a2a += r1[i] != i * 1000 + rank;
        for (int k = 0; k < PAIR; k++) a2a += r2[i * PAIR + k] != i * 100000 + rank * 100 + k;
    }
    errors += a2a;

    /* The flood. */
    int nreq = 0, msgs = rank == 0 ? 0 : n;
    MPI_Request *req = malloc(sizeof(MPI_Request) * (size_t)(n + 2 * size + 2));
    int (*out)[2] = malloc(sizeof(int[2]) * (size_t)(n + 1));
    int mine[BIG], from0[BIG];
    for (int i = 0; i < BIG; i++) mine[i] = rank * 10 + i;
    if (rank != 0) MPI_Irecv(from0, BIG, MPI_INT, 0, 7, MPI_COMM_WORLD, &req[nreq++]);
    for (int i = 0; i < msgs; i++) {
        out[i][0] = rank;
        out[i][1] = i;
        MPI_Isend(out[i], 2, MPI_INT, 0, 5, MPI_COMM_WORLD, &req[nreq++]);
    }
    if (rank != 0) MPI_Isend(mine, BIG, MPI_INT, 0, 6, MPI_COMM_WORLD, &req[nreq++]);
    else
        for (int d = 1; d < size; d++) MPI_Isend(big, BIG, MPI_INT, d, 7, MPI_COMM_WORLD, &req[nreq++]);
    MPI_Barrier(MPI_COMM_WORLD);
    long long fsum = 0;
    int inorder = 1;
    if (rank == 0) {
        int *next = calloc((size_t)size, sizeof(int));
        for (int k = 0; k < (size - 1) * n; k++) {
            int m[2];
            MPI_Status st;
            MPI_Recv(m, 2, MPI_INT, MPI_ANY_SOURCE, 5, MPI_COMM_WORLD, &st);
            if (st.MPI_SOURCE != m[0] || m[1] != next[m[0]]) inorder = 0;
            next[m[0]] = m[1] + 1;
            fsum += m[0] * 1000LL + m[1];
        }
        for (int k = 1; k < size; k++) {
            int got[BIG];
            MPI_Status st;
            MPI_Recv(got, BIG, MPI_INT, MPI_ANY_SOURCE, 6, MPI_COMM_WORLD, &st);
            for (int i = 0; i < BIG; i++) errors += got[i] != st.MPI_SOURCE * 10 + i;
        }
        free(next);
    }
    MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE);
    if (rank != 0)
        for (int i = 0; i < BIG; i++) errors += from0[i] != i * 7 + 1;
    errors += !inorder;
    int total = 0;
    MPI_Reduce(&errors, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("ranks %d bcast %lld allreduce %lld alltoall errors %d\n", size, v, sqsum, a2a);
        printf("flood %d messages from %d ranks, each sender in order: %s, sum %lld\n", (size - 1) * n, size - 1,
               inorder ? "yes" : "no", fsum);
        printf("errors %d\n", total);
    }
    free(s1); free(r1); free(s2); free(r2); free(req); free(out);
    MPI_Finalize();
    return 0;
}

/* MPI matching: messages between a pair are received in the order sent, whatever the tag
 * asked (MPI_ANY_TAG) and whatever their size (eager and rendezvous mixed); MPI_ANY_SOURCE
 * keeps each sender's order; probes see a message before it is received; the send modes;
 * Waitany, Waitsome, Testall and an Iprobe polling loop. Rank 0 prints. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define K 6

int main(int argc, char **argv) {
    int rank, size, errors = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    static int big[3000];
    /* 1. Rank 1 sends small and large messages under tags 1..3 in turn; rank 0 takes them with
     * MPI_ANY_TAG: the order is the order sent. */
    if (rank == 1) {
        for (int j = 0; j < K; j++) {
            int n = j % 2 ? 3000 : 1;
            for (int i = 0; i < n; i++) big[i] = j * 10 + i;
            MPI_Send(big, n, MPI_INT, 0, 1 + j % 3, MPI_COMM_WORLD);
        }
    } else if (rank == 0) {
        for (int j = 0; j < K; j++) {
            MPI_Status st;
            int cnt;
            MPI_Recv(big, 3000, MPI_INT, 1, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            MPI_Get_count(&st, MPI_INT, &cnt);
            printf("any tag: #%d tag %d count %d first %d\n", j, st.MPI_TAG, cnt, big[0]);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* 2. Every other rank sends K messages with payload (rank, j); rank 0 receives them with
     * MPI_ANY_SOURCE and MPI_ANY_TAG and checks each sender's sequence. */
    if (rank != 0) {
        for (int j = 0; j < K; j++) {
            int m[2] = {rank, j};
            MPI_Send(m, 2, MPI_INT, 0, (rank + j) % 4, MPI_COMM_WORLD);
        }
    } else {
        int next[64] = {0}, got = 0;
        for (int j = 0; j < K * (size - 1); j++) {
            int m[2];
            MPI_Status st;
            MPI_Recv(m, 2, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            errors += m[0] != st.MPI_SOURCE || m[1] != next[m[0]] || st.MPI_TAG != (m[0] + m[1]) % 4;
            next[m[0]]++;
            got++;
        }
        printf("any source: %d messages, every sender in order: %s\n", got, errors ? "no" : "yes");
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* 3. Probe then receive a message of a size the receiver did not know; Iprobe polling. */
    if (rank == size - 1) {
        int n = 37 + rank;
        for (int i = 0; i < n; i++) big[i] = i * i;
        MPI_Send(big, n, MPI_INT, 0, 9, MPI_COMM_WORLD);
        MPI_Send(big, 500, MPI_INT, 0, 10, MPI_COMM_WORLD);
    } else if (rank == 0) {
        MPI_Status st;
        int cnt, flag = 0, polls = 0;
        MPI_Probe(MPI_ANY_SOURCE, 9, MPI_COMM_WORLD, &st);
        MPI_Get_count(&st, MPI_INT, &cnt);
        int *p = malloc(cnt * sizeof(int));
        MPI_Recv(p, cnt, MPI_INT, st.MPI_SOURCE, 9, MPI_COMM_WORLD, &st);
        printf("probe: source %d tag %d count %d last %d\n", st.MPI_SOURCE, st.MPI_TAG, cnt, p[cnt - 1]);
        free(p);
        while (!flag) {
            MPI_Iprobe(size - 1, 10, MPI_COMM_WORLD, &flag, &st);
            polls++;
        }
        MPI_Get_count(&st, MPI_INT, &cnt);
        MPI_Recv(big, cnt, MPI_INT, size - 1, 10, MPI_COMM_WORLD, &st);
        printf("iprobe: count %d, polled %s\n", cnt, polls > 0 ? "yes" : "no");
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* 4. Send modes: synchronous, ready (the receive is posted first), buffered. */
    if (rank == 0) {
        int a = 0, b = 0, c = 0;
        MPI_Request r;
        MPI_Irecv(&b, 1, MPI_INT, 1, 21, MPI_COMM_WORLD, &r);
        MPI_Send(&a, 0, MPI_INT, 1, 20, MPI_COMM_WORLD); /* tell rank 1 the receive is posted */
        MPI_Wait(&r, MPI_STATUS_IGNORE);
        MPI_Recv(&a, 1, MPI_INT, 1, 22, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Recv(&c, 1, MPI_INT, 1, 23, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        printf("ssend %d rsend %d bsend %d\n", a, b, c);
    } else if (rank == 1) {
        int a = 111, b = 222, c = 333, z;
        MPI_Recv(&z, 0, MPI_INT, 0, 20, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Rsend(&b, 1, MPI_INT, 0, 21, MPI_COMM_WORLD);
        MPI_Ssend(&a, 1, MPI_INT, 0, 22, MPI_COMM_WORLD);
        int bsize = 1000;
        char *buf = malloc(bsize);
        MPI_Buffer_attach(buf, bsize);
        MPI_Bsend(&c, 1, MPI_INT, 0, 23, MPI_COMM_WORLD);
        void *back;
        MPI_Buffer_detach(&back, &bsize);
        free(back);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* 5. Waitany, Waitsome, Testall: rank 0 gathers one message from each rank. */
    if (rank == 0) {
        MPI_Request rq[64];
        int val[64], seen = 0, idx, flag = 0;
        for (int i = 1; i < size; i++) MPI_Irecv(&val[i], 1, MPI_INT, i, 30, MPI_COMM_WORLD, &rq[i - 1]);
        MPI_Status st;
        MPI_Waitany(size - 1, rq, &idx, &st);
        seen++;
        errors += val[idx + 1] != (idx + 1) * 3 || rq[idx] != MPI_REQUEST_NULL;
        int out, ind[64];
        MPI_Waitsome(size - 1, rq, &out, ind, MPI_STATUSES_IGNORE);
        seen += out;
        while (!flag) MPI_Testall(size - 1, rq, &flag, MPI_STATUSES_IGNORE);
        int sum = 0;
        for (int i = 1; i < size; i++) sum += val[i];
        printf("waitany/waitsome/testall: sum %d\n", sum);
    } else {
        int v = rank * 3;
        MPI_Request r;
        int flag = 0;
        MPI_Isend(&v, 1, MPI_INT, 0, 30, MPI_COMM_WORLD, &r);
        while (!flag) MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
    }
    int total;
    MPI_Reduce(&errors, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("errors %d\n", total);
    MPI_Finalize();
    return 0;
}

/* Nonblocking collectives: each against its blocking twin (same bits), two in flight on one
 * communicator with a blocking collective between them, completion by Test polling and by
 * Waitall mixed with point-to-point requests, MPI_IN_PLACE, a non-commutative user operation
 * (the rank order shows), MPI_Alltoallw with a type per peer, and a program that deadlocks if
 * a nonblocking barrier blocks at its start. Rank 0 prints; `errors` counts mismatches. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size, errors;

static void matmul(void *in, void *inout, int *len, MPI_Datatype *dt) {
    (void)dt;
    int *a = in, *b = inout;
    for (int k = 0; k < *len; k++, a += 4, b += 4) {
        int c[4] = {a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
                    a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]};
        memcpy(b, c, sizeof c);
    }
}

static void check(const char *what, const void *got, const void *want, size_t n) {
    int bad = memcmp(got, want, n) != 0, any;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    errors += any;
    if (rank == 0) printf("%-28s %s\n", what, any ? "DIFFERS" : "same as blocking");
}

static void show(const char *what, const int *v, int n) {
    if (rank != 0) return;
    printf("%-28s", what);
    for (int i = 0; i < n; i++) printf(" %d", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int n = size, big = 300; /* 300 ints: rendezvous messages */
    MPI_Request r[4];

    /* Barrier that must not block at its start: rank 0 sends after starting it, rank 1
     * receives before starting it. */
    int token = 0;
    if (rank == 0) {
        MPI_Ibarrier(MPI_COMM_WORLD, &r[0]);
        token = 42;
        if (n > 1) MPI_Send(&token, 1, MPI_INT, 1, 7, MPI_COMM_WORLD);
        MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    } else {
        if (rank == 1) MPI_Recv(&token, 1, MPI_INT, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Ibarrier(MPI_COMM_WORLD, &r[0]);
        MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    }
    if (rank == 0) printf("ibarrier after a send: token %d\n", token);

    /* Two broadcasts in flight (eager and rendezvous, different roots), a blocking
     * allreduce between their start and their end, completed by Test polling. */
    int *b1 = calloc((size_t)big, sizeof(int)), b0 = rank == 0 ? 1234 : 0, polls = 0, done = 0;
    if (rank == n - 1)
        for (int i = 0; i < big; i++) b1[i] = i * 7;
    MPI_Ibcast(&b0, 1, MPI_INT, 0, MPI_COMM_WORLD, &r[0]);
    MPI_Ibcast(b1, big, MPI_INT, n - 1, MPI_COMM_WORLD, &r[1]);
    int one = 1, sum;
    MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    while (!done) {
        MPI_Testall(2, r, &done, MPI_STATUSES_IGNORE);
        polls++;
    }
    int ok = b0 == 1234 && sum == n;
    for (int i = 0; i < big; i++) ok &= b1[i] == i * 7;
    int all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    errors += !all_ok;
    if (rank == 0) printf("two ibcasts around an allreduce: %s\n", all_ok ? "ok" : "BAD");

    /* Reductions: ints (SUM), doubles (SUM, order-sensitive bits), the non-commutative op. */
    int a[3], x[3], y[3];
    for (int i = 0; i < 3; i++) a[i] = rank * 10 + i;
    MPI_Reduce(a, x, 3, MPI_INT, MPI_SUM, n - 1, MPI_COMM_WORLD);
    MPI_Ireduce(a, y, 3, MPI_INT, MPI_SUM, n - 1, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    if (rank == n - 1 && n > 1) MPI_Send(y, 3, MPI_INT, 0, 1, MPI_COMM_WORLD);
    if (rank == 0 && n > 1) MPI_Recv(y, 3, MPI_INT, n - 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    show("ireduce int sum at last", y, 3);
    if (rank == n - 1) errors += memcmp(x, y, sizeof x) != 0;

    static double d[300], dx[300], dy[300];
    for (int i = 0; i < big; i++) d[i] = 1.0 / (rank + 3) + i * 1e-3;
    MPI_Allreduce(d, dx, big, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Iallreduce(d, dy, big, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("iallreduce double", dx, dy, sizeof dx);
    memcpy(dy, d, sizeof d);
    MPI_Iallreduce(MPI_IN_PLACE, dy, big, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("iallreduce in place", dx, dy, sizeof dx);

    MPI_Op mm;
    MPI_Op_create(matmul, 0, &mm);
    int m[4] = {1, rank + 1, 0, 1}, mx[4], my[4]; /* unit upper triangular: products show order */
    m[2] = rank % 2;
    MPI_Datatype mat;
    MPI_Type_contiguous(4, MPI_INT, &mat);
    MPI_Type_commit(&mat);
    MPI_Allreduce(m, mx, 1, mat, mm, MPI_COMM_WORLD);
    MPI_Iallreduce(m, my, 1, mat, mm, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("iallreduce user op", mx, my, sizeof mx);
    show("  product m0 m1 ... m(n-1)", my, 4);

    /* Reduce_scatter and its block form. */
    int *rs = malloc(sizeof(int) * (size_t)(3 * n)), counts[64], rx[3], ry[3];
    for (int i = 0; i < 3 * n; i++) rs[i] = rank * 100 + i;
    for (int i = 0; i < n; i++) counts[i] = 1 + i % 3;
    MPI_Reduce_scatter(rs, rx, counts, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Ireduce_scatter(rs, ry, counts, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("ireduce_scatter", rx, ry, sizeof(int) * (size_t)counts[rank]);
    show("  rank 0's part", ry, counts[0]);
    MPI_Reduce_scatter_block(rs, rx, 3, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Ireduce_scatter_block(rs, ry, 3, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("ireduce_scatter_block", rx, ry, sizeof rx);
    show("  rank 0's block", ry, 3);

    /* Gathers and scatters, v forms with uneven counts and gaps, in flight together with a
     * point-to-point ring exchange, all completed by one Waitall. */
    int mine[4], *g1 = calloc((size_t)(8 * n), sizeof(int)), *g2 = calloc((size_t)(8 * n), sizeof(int));
    int displs[64], vc[64];
    for (int i = 0; i < 4; i++) mine[i] = rank * 4 + i;
    for (int i = 0; i < n; i++) { vc[i] = 1 + i % 4; displs[i] = 5 * i + 1; }
    MPI_Gatherv(mine, vc[rank], MPI_INT, g1, vc, displs, MPI_INT, 0, MPI_COMM_WORLD);
    int ring_in = -1, ring_out = rank;
    MPI_Igatherv(mine, vc[rank], MPI_INT, g2, vc, displs, MPI_INT, 0, MPI_COMM_WORLD, &r[0]);
    MPI_Irecv(&ring_in, 1, MPI_INT, (rank + n - 1) % n, 3, MPI_COMM_WORLD, &r[1]);
    MPI_Isend(&ring_out, 1, MPI_INT, (rank + 1) % n, 3, MPI_COMM_WORLD, &r[2]);
    MPI_Waitall(3, r, MPI_STATUSES_IGNORE);
    errors += ring_in != (rank + n - 1) % n;
    check("igatherv", g1, g2, sizeof(int) * (size_t)(5 * n));
    show("  at root", g2, 5 * n < 20 ? 5 * n : 20);
    int s1[4] = {0}, s2[4] = {0};
    MPI_Scatterv(g1, vc, displs, MPI_INT, s1, vc[rank], MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Iscatterv(g1, vc, displs, MPI_INT, s2, vc[rank], MPI_INT, 0, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("iscatterv", s1, s2, sizeof s1);
    MPI_Gather(mine, 2, MPI_INT, g1, 2, MPI_INT, n / 2, MPI_COMM_WORLD);
    MPI_Igather(mine, 2, MPI_INT, g2, 2, MPI_INT, n / 2, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("igather", g1, g2, sizeof(int) * (size_t)(2 * n));
    MPI_Scatter(g1, 2, MPI_INT, s1, 2, MPI_INT, n / 2, MPI_COMM_WORLD);
    MPI_Iscatter(g1, 2, MPI_INT, s2, 2, MPI_INT, n / 2, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("iscatter", s1, s2, sizeof s1);
    show("  rank 0 got", s2, 2);

    /* Allgathers and all-to-alls (big pieces: rendezvous). */
    int *p1 = calloc((size_t)(big * n), sizeof(int)), *p2 = calloc((size_t)(big * n), sizeof(int));
    int *src = malloc(sizeof(int) * (size_t)(big * n));
    for (int i = 0; i < big * n; i++) src[i] = rank * 100000 + i;
    MPI_Allgather(src, big, MPI_INT, p1, big, MPI_INT, MPI_COMM_WORLD);
    MPI_Iallgather(src, big, MPI_INT, p2, big, MPI_INT, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("iallgather", p1, p2, sizeof(int) * (size_t)(big * n));
    memset(p2, 0, sizeof(int) * (size_t)(big * n));
    memcpy(p2 + rank * 2, src, 2 * sizeof(int));
    int ac[64], ad[64];
    for (int i = 0; i < n; i++) { ac[i] = 2; ad[i] = 2 * i; }
    MPI_Allgatherv(src, 2, MPI_INT, p1, ac, ad, MPI_INT, MPI_COMM_WORLD);
    MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, p2, ac, ad, MPI_INT, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("iallgatherv in place", p1, p2, sizeof(int) * (size_t)(2 * n));
    MPI_Alltoall(src, big, MPI_INT, p1, big, MPI_INT, MPI_COMM_WORLD);
    MPI_Ialltoall(src, big, MPI_INT, p2, big, MPI_INT, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("ialltoall", p1, p2, sizeof(int) * (size_t)(big * n));
    int sc[64], sd[64], rc[64], rd[64];
    for (int i = 0; i < n; i++) {
        sc[i] = 1 + (rank + i) % 3;
        sd[i] = 4 * i;
        rc[i] = 1 + (i + rank) % 3;
        rd[i] = 4 * i;
    }
    memset(p1, 0, sizeof(int) * (size_t)(4 * n));
    memset(p2, 0, sizeof(int) * (size_t)(4 * n));
    MPI_Alltoallv(src, sc, sd, MPI_INT, p1, rc, rd, MPI_INT, MPI_COMM_WORLD);
    MPI_Ialltoallv(src, sc, sd, MPI_INT, p2, rc, rd, MPI_INT, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("ialltoallv", p1, p2, sizeof(int) * (size_t)(4 * n));
    show("  rank 0 got", p2, 4 * n < 16 ? 4 * n : 16);

    /* Alltoallw: to even ranks ints, to odd ranks pairs of ints as one vector element; byte
     * displacements. Same data as alltoallv with 2 ints each. */
    MPI_Datatype pair, st[64], rt[64];
    MPI_Type_vector(2, 1, 1, MPI_INT, &pair);
    MPI_Type_commit(&pair);
    int wc[64], wd[64], wrc[64], wrd[64], cc[64], cd[64];
    for (int i = 0; i < n; i++) {
        int odd = i % 2, me_odd = rank % 2;
        st[i] = odd ? pair : MPI_INT; wc[i] = odd ? 1 : 2; wd[i] = (int)sizeof(int) * 2 * i;
        rt[i] = me_odd ? pair : MPI_INT; wrc[i] = me_odd ? 1 : 2; wrd[i] = (int)sizeof(int) * 2 * i;
        cc[i] = 2; cd[i] = 2 * i;
    }
    memset(p1, 0, sizeof(int) * (size_t)(2 * n));
    memset(p2, 0, sizeof(int) * (size_t)(2 * n));
    MPI_Alltoallv(src, cc, cd, MPI_INT, p1, cc, cd, MPI_INT, MPI_COMM_WORLD);
    MPI_Alltoallw(src, wc, wd, st, p2, wrc, wrd, rt, MPI_COMM_WORLD);
    check("alltoallw", p1, p2, sizeof(int) * (size_t)(2 * n));
    memset(p2, 0, sizeof(int) * (size_t)(2 * n));
    MPI_Ialltoallw(src, wc, wd, st, p2, wrc, wrd, rt, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    check("ialltoallw", p1, p2, sizeof(int) * (size_t)(2 * n));

    /* MPI_Wait frees the request; a freed one still completes. */
    MPI_Ibarrier(MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    if (rank == 0) printf("request null after wait: %d\n", r[0] == MPI_REQUEST_NULL);
    MPI_Ibcast(&b0, 1, MPI_INT, 0, MPI_COMM_WORLD, &r[0]);
    MPI_Request_free(&r[0]);
    MPI_Barrier(MPI_COMM_WORLD);
    /* A blocking probe moves a collective on: rank 2 relays the broadcast to rank 3 (binomial
     * tree) while it waits in MPI_Probe for what rank 3 sends only once it has the value. */
    int v = rank == 0 ? 77 : 0, got = -1;
    MPI_Ibcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD, &r[0]);
    if (n >= 4 && rank == 2) {
        MPI_Status st;
        MPI_Probe(3, 9, MPI_COMM_WORLD, &st);
        MPI_Recv(&got, 1, MPI_INT, 3, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    if (n >= 4 && rank == 3) MPI_Send(&v, 1, MPI_INT, 2, 9, MPI_COMM_WORLD);
    if (n >= 4 && rank == 2) MPI_Send(&got, 1, MPI_INT, 0, 9, MPI_COMM_WORLD);
    if (n >= 4 && rank == 0) {
        MPI_Recv(&got, 1, MPI_INT, 2, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        printf("probe while relaying a broadcast: %d\n", got);
    }

    /* Bad arguments are the call's own error (nothing starts). */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int c1, c2, c3;
    MPI_Error_class(MPI_Ibcast(&b0, 1, MPI_INT, n, MPI_COMM_WORLD, &r[0]), &c1);
    MPI_Error_class(MPI_Ireduce(a, x, 3, MPI_INT, MPI_SUM, -5, MPI_COMM_WORLD, &r[0]), &c2);
    MPI_Error_class(MPI_Ibarrier(MPI_COMM_NULL, &r[0]), &c3);
    if (rank == 0)
        printf("bad root: class root %d %d; null communicator: class comm %d\n", c1 == MPI_ERR_ROOT,
               c2 == MPI_ERR_ROOT, c3 == MPI_ERR_COMM);
    if (rank == 0) printf("errors %d\n", errors);
    MPI_Finalize();
    return 0;
}

/* Every collective, with every predefined operation on the basic types, MAXLOC/MINLOC, a
 * user operation that does not commute (2x2 matrix products: the standard's rank order
 * shows), communicators made by split and dup, and derived datatypes. Values are exact in
 * binary, so that any correct order of operations gives the same bits. Rank 0 prints. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 3
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

static void show_ints(const char *what, const int *v, int n) {
    if (rank != 0) return;
    printf("%-22s", what);
    for (int i = 0; i < n; i++) printf(" %d", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    static const MPI_Op iops[] = {MPI_SUM, MPI_PROD, MPI_MIN, MPI_MAX, MPI_LAND, MPI_LOR, MPI_LXOR,
                                  MPI_BAND, MPI_BOR, MPI_BXOR};
    static const char *inames[] = {"SUM", "PROD", "MIN", "MAX", "LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR"};
    int a[N], r[N];
    for (int i = 0; i < N; i++) a[i] = (rank * 5 + i * 3) % 7; /* zeros too, for the logical ops */
    for (int k = 0; k < 10; k++) {
        char what[32];
        MPI_Reduce(a, r, N, MPI_INT, iops[k], size - 1, MPI_COMM_WORLD);
        if (rank == size - 1) MPI_Send(r, N, MPI_INT, 0, k, MPI_COMM_WORLD);
        if (rank == 0) MPI_Recv(r, N, MPI_INT, size - 1, k, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        snprintf(what, sizeof what, "reduce int %s", inames[k]);
        show_ints(what, r, N);
        int all[N];
        MPI_Allreduce(a, all, N, MPI_INT, iops[k], MPI_COMM_WORLD);
        for (int i = 0; i < N; i++) errors += rank == 0 && all[i] != r[i];
    }
    /* Other basic types. */
    double d[N], dr[N];
    float f[N], fr[N];
    long l[N], lr[N];
    unsigned u[N], ur[N];
    short s[N], sr[N];
    unsigned char b[N], br[N];
    long long q[N], qr[N];
    for (int i = 0; i < N; i++) {
        d[i] = (rank + 1) * 0.5 + i;
        f[i] = (float)(rank - 2) * 0.25f + (float)i;
        l[i] = 100000L * (rank + 1) - i;
        u[i] = 0xF0u >> (rank % 4) | (unsigned)i;
        s[i] = (short)(rank * 7 - i);
        b[i] = (unsigned char)(0x11 << (rank % 4)) | (unsigned char)i;
        q[i] = (1LL << 40) * (rank + 1) + i;
    }
    static const MPI_Op aops[] = {MPI_SUM, MPI_PROD, MPI_MIN, MPI_MAX};
    for (int k = 0; k < 4; k++) {
        MPI_Allreduce(d, dr, N, MPI_DOUBLE, aops[k], MPI_COMM_WORLD);
        MPI_Allreduce(f, fr, N, MPI_FLOAT, aops[k], MPI_COMM_WORLD);
        MPI_Allreduce(l, lr, N, MPI_LONG, aops[k] == MPI_PROD ? MPI_SUM : aops[k], MPI_COMM_WORLD);
        MPI_Allreduce(s, sr, N, MPI_SHORT, aops[k], MPI_COMM_WORLD);
        MPI_Allreduce(q, qr, N, MPI_LONG_LONG, aops[k] == MPI_PROD ? MPI_MAX : aops[k], MPI_COMM_WORLD);
        if (rank == 0)
            printf("allreduce %-4s double %g %g %g float %g %g %g long %ld %ld %ld short %d %d %d llong %lld\n",
                   inames[k], dr[0], dr[1], dr[2], fr[0], fr[1], fr[2], lr[0], lr[1], lr[2], sr[0], sr[1],
                   sr[2], qr[2]);
    }
    static const MPI_Op bops[] = {MPI_BAND, MPI_BOR, MPI_BXOR};
    for (int k = 0; k < 3; k++) {
        MPI_Allreduce(u, ur, N, MPI_UNSIGNED, bops[k], MPI_COMM_WORLD);
        MPI_Allreduce(b, br, N, MPI_BYTE, bops[k], MPI_COMM_WORLD);
        if (rank == 0) printf("allreduce %-4s unsigned %#x %#x %#x byte %#x %#x %#x\n", inames[7 + k], ur[0], ur[1],
                              ur[2], br[0], br[1], br[2]);
    }
    /* MAXLOC / MINLOC, ties going to the lower rank. */
    struct { double v; int i; } dl = {(double)((rank * 3) % 4), rank}, dlo;
    struct { int v; int i; } il = {(rank * 5) % 3, rank}, ilo;
    MPI_Allreduce(&dl, &dlo, 1, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD);
    MPI_Allreduce(&il, &ilo, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD);
    if (rank == 0) printf("maxloc %g at %d, minloc %d at %d\n", dlo.v, dlo.i, ilo.v, ilo.i);
    /* A user operation that does not commute. */
    MPI_Op mm;
    MPI_Datatype mat4;
    MPI_Type_contiguous(4, MPI_INT, &mat4);
    MPI_Type_commit(&mat4);
    MPI_Op_create(matmul, 0, &mm);
    int m[4] = {1, rank + 1, 0, 1}, mr[4];
    if (rank % 2) m[2] = 1;
    MPI_Reduce(m, mr, 1, mat4, mm, 0, MPI_COMM_WORLD);
    show_ints("matrix product", mr, 4);
    MPI_Op_free(&mm);
    MPI_Type_free(&mat4);
    /* Scans. */
    int sc, ex = -1, one = rank + 1;
    MPI_Scan(&one, &sc, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Exscan(&one, &ex, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int both[2] = {sc, rank ? ex : 0}, gathered[128];
    MPI_Gather(both, 2, MPI_INT, gathered, 2, MPI_INT, 0, MPI_COMM_WORLD);
    show_ints("scan, exscan", gathered, 2 * size);
    /* Bcast (large, from the last rank), Scatter(v), Gather(v), Allgather(v), Alltoall(v). */
    int big = 5000, *bb = malloc(big * sizeof(int));
    for (int i = 0; i < big; i++) bb[i] = rank == size - 1 ? i * 3 : -1;
    MPI_Bcast(bb, big, MPI_INT, size - 1, MPI_COMM_WORLD);
    for (int i = 0; i < big; i++) errors += bb[i] != i * 3;
    int sbuf[256], rbuf[256], counts[64], displs[64];
    for (int i = 0; i < 4 * size; i++) sbuf[i] = 100 * rank + i;
    MPI_Scatter(sbuf, 4, MPI_INT, rbuf, 4, MPI_INT, 1 % size, MPI_COMM_WORLD);
    MPI_Gather(rbuf, 4, MPI_INT, gathered, 4, MPI_INT, 0, MPI_COMM_WORLD);
    show_ints("scatter then gather", gathered, 4 * size);
    for (int i = 0, at = 0; i < size; i++) {
        counts[i] = i + 1;
        displs[i] = at;
        at += i + 2; /* a gap between pieces */
    }
    for (int i = 0; i < 128; i++) gathered[i] = -7;
    for (int i = 0; i <= rank; i++) sbuf[i] = rank * 10 + i;
    MPI_Gatherv(sbuf, rank + 1, MPI_INT, gathered, counts, displs, MPI_INT, 0, MPI_COMM_WORLD);
    show_ints("gatherv", gathered, displs[size - 1] + size);
    MPI_Scatterv(gathered, counts, displs, MPI_INT, rbuf, rank + 1, MPI_INT, 0, MPI_COMM_WORLD);
    for (int i = 0; i <= rank; i++) errors += rbuf[i] != rank * 10 + i;
    MPI_Allgather(&one, 1, MPI_INT, rbuf, 1, MPI_INT, MPI_COMM_WORLD);
    show_ints("allgather", rbuf, size);
    for (int i = 0; i < 128; i++) gathered[i] = -7;
    MPI_Allgatherv(sbuf, rank + 1, MPI_INT, gathered, counts, displs, MPI_INT, MPI_COMM_WORLD);
    MPI_Bcast(gathered, 128, MPI_INT, size - 1, MPI_COMM_WORLD); /* the last rank's view */
    show_ints("allgatherv", gathered, displs[size - 1] + size);
    for (int i = 0; i < 2 * size; i++) sbuf[i] = rank * 1000 + i;
    MPI_Alltoall(sbuf, 2, MPI_INT, rbuf, 2, MPI_INT, MPI_COMM_WORLD);
    MPI_Gather(rbuf, 2 * size, MPI_INT, gathered, 2 * size, MPI_INT, 0, MPI_COMM_WORLD);
    show_ints("alltoall", gathered, 2 * size * size);
    int sc2[64], sd[64], rc[64], rd[64];
    for (int i = 0, at = 0; i < size; i++) {
        sc2[i] = i % 3;
        sd[i] = at;
        at += sc2[i];
    }
    for (int i = 0, at = 0; i < size; i++) {
        rc[i] = rank % 3;
        rd[i] = at;
        at += rc[i];
    }
    for (int i = 0; i < 128; i++) rbuf[i] = -1;
    MPI_Alltoallv(sbuf, sc2, sd, MPI_INT, rbuf, rc, rd, MPI_INT, MPI_COMM_WORLD);
    MPI_Gather(rbuf, 2 * size, MPI_INT, gathered, 2 * size, MPI_INT, 0, MPI_COMM_WORLD);
    show_ints("alltoallv", gathered, 2 * size * size);
    /* Reduce_scatter(_block). */
    int rs_in[64], rs_counts[64], rs_out[64];
    for (int i = 0; i < 2 * size; i++) rs_in[i] = rank + i;
    for (int i = 0; i < size; i++) rs_counts[i] = 2;
    MPI_Reduce_scatter(rs_in, rs_out, rs_counts, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Gather(rs_out, 2, MPI_INT, gathered, 2, MPI_INT, 0, MPI_COMM_WORLD);
    show_ints("reduce_scatter", gathered, 2 * size);
    MPI_Reduce_scatter_block(rs_in, rs_out, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Gather(rs_out, 2, MPI_INT, gathered, 2, MPI_INT, 0, MPI_COMM_WORLD);
    show_ints("reduce_scatter_block", gathered, 2 * size);
    /* In place. */
    int ip[2] = {rank, 2 * rank};
    MPI_Allreduce(MPI_IN_PLACE, ip, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    show_ints("allreduce in place", ip, 2);
    /* Communicators: split by parity (key: reversed rank), dup. */
    MPI_Comm half, copy;
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, size - rank, &half);
    int hr, hs, hsum;
    MPI_Comm_rank(half, &hr);
    MPI_Comm_size(half, &hs);
    MPI_Allreduce(&rank, &hsum, 1, MPI_INT, MPI_SUM, half);
    int info[3] = {hr, hs, hsum};
    MPI_Gather(info, 3, MPI_INT, gathered, 3, MPI_INT, 0, MPI_COMM_WORLD);
    show_ints("split: rank size sum", gathered, 3 * size);
    MPI_Comm_dup(half, &copy);
    int cmp;
    MPI_Comm_compare(half, copy, &cmp);
    int hb = hr == 0 ? 42 + rank % 2 : 0;
    MPI_Bcast(&hb, 1, MPI_INT, 0, copy);
    errors += hb != 42 + rank % 2 || cmp != MPI_CONGRUENT;
    MPI_Comm_free(&copy);
    MPI_Comm_free(&half);
    MPI_Comm none;
    MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? 0 : MPI_UNDEFINED, 0, &none);
    errors += (rank == 0) != (none != MPI_COMM_NULL);
    if (none != MPI_COMM_NULL) MPI_Comm_free(&none);
    /* Derived datatypes: a column of a 4x4 matrix (vector), rows (contiguous). */
    int mat[16], col[4], rows[8];
    MPI_Datatype column, tworows;
    MPI_Type_vector(4, 1, 4, MPI_INT, &column);
    MPI_Type_commit(&column);
    MPI_Type_contiguous(8, MPI_INT, &tworows);
    MPI_Type_commit(&tworows);
    for (int i = 0; i < 16; i++) mat[i] = rank == 1 ? i : 0;
    if (rank == 1) {
        MPI_Send(&mat[2], 1, column, 0, 77, MPI_COMM_WORLD);
        MPI_Send(&mat[8], 1, tworows, 0, 78, MPI_COMM_WORLD);
        MPI_Recv(&mat[1], 1, column, 0, 79, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        int tsum = 0;
        for (int i = 0; i < 16; i++) tsum += mat[i];
        MPI_Send(&tsum, 1, MPI_INT, 0, 80, MPI_COMM_WORLD);
    } else if (rank == 0) {
        MPI_Status st;
        int cnt, tsum, tsize;
        MPI_Recv(col, 4, MPI_INT, 1, 77, MPI_COMM_WORLD, &st);
        MPI_Get_count(&st, MPI_INT, &cnt);
        MPI_Recv(rows, 1, tworows, 1, 78, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        int back[16] = {0};
        for (int i = 0; i < 4; i++) back[4 * i] = 50 + i;
        MPI_Send(back, 1, column, 1, 79, MPI_COMM_WORLD); /* column 0 of back into column 1 of theirs */
        MPI_Recv(&tsum, 1, MPI_INT, 1, 80, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Type_size(column, &tsize);
        printf("vector column %d %d %d %d (count %d, size %d); rows %d..%d; sum after %d\n", col[0], col[1],
               col[2], col[3], cnt, tsize, rows[0], rows[7], tsum);
    }
    MPI_Type_free(&column);
    MPI_Type_free(&tworows);
    int total;
    MPI_Reduce(&errors, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("errors %d\n", total);
    free(bb);
    MPI_Finalize();
    return 0;
}

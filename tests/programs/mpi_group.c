/* Groups: MPI_Comm_group (as Nanvix's CAP Bench kernels find their rank), incl/excl,
 * translate_ranks, compare, MPI_Comm_create of the even ranks, and an invalid rank's error
 * class under MPI_ERRORS_RETURN. Rank 0 prints. */
#include <mpi.h>
#include <stdio.h>

static const char *cmp_name(int r) {
    return r == MPI_IDENT ? "ident" : r == MPI_SIMILAR ? "similar" : r == MPI_UNEQUAL ? "unequal" : "?";
}

int main(int argc, char **argv) {
    int rank, size, grank, gsize;
    MPI_Group world, evens, odds, rev;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    MPI_Group_rank(world, &grank);
    MPI_Group_size(world, &gsize);
    int ok = grank == rank && gsize == size && world != MPI_GROUP_EMPTY, all;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (rank == 0) printf("world group: rank and size as the communicator's: %d\n", all);

    int ev[64], ne = 0, rv[64];
    for (int i = 0; i < size; i += 2) ev[ne++] = i;
    for (int i = 0; i < size; i++) rv[i] = size - 1 - i;
    MPI_Group_incl(world, ne, ev, &evens);
    MPI_Group_excl(world, ne, ev, &odds);
    MPI_Group_incl(world, size, rv, &rev);
    int es, os, er, orank;
    MPI_Group_size(evens, &es);
    MPI_Group_size(odds, &os);
    MPI_Group_rank(evens, &er);
    MPI_Group_rank(odds, &orank);
    int in[64], out[64];
    for (int i = 0; i < size; i++) in[i] = i;
    MPI_Group_translate_ranks(world, size, in, evens, out);
    if (rank == 0) {
        printf("evens %d odds %d; rank 0 is %d in evens, %s in odds\n", es, os, er,
               orank == MPI_UNDEFINED ? "undefined" : "defined");
        printf("world ranks in evens:");
        for (int i = 0; i < size; i++) printf(" %d", out[i]);
        printf("\n");
    }
    int c1, c2, c3;
    MPI_Group_compare(world, rev, &c1);
    MPI_Group_compare(world, world, &c2);
    MPI_Group_compare(evens, odds, &c3);
    if (rank == 0) printf("compare: reversed %s, itself %s, evens/odds %s\n", cmp_name(c1), cmp_name(c2), cmp_name(c3));

    MPI_Comm ecomm;
    MPI_Comm_create(MPI_COMM_WORLD, evens, &ecomm);
    if ((ecomm != MPI_COMM_NULL) != (rank % 2 == 0)) printf("rank %d: wrong membership\n", rank);
    if (ecomm != MPI_COMM_NULL) {
        int crank, csize, sum;
        MPI_Comm_rank(ecomm, &crank);
        MPI_Comm_size(ecomm, &csize);
        MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, ecomm);
        if (rank == 0) printf("even communicator: size %d, my rank %d, sum of world ranks %d\n", csize, crank, sum);
        MPI_Comm_free(&ecomm);
    }
    MPI_Comm rcomm;
    MPI_Comm_create(MPI_COMM_WORLD, rev, &rcomm);
    int rr;
    MPI_Comm_rank(rcomm, &rr);
    if (rr != size - 1 - rank) printf("rank %d: reversed communicator rank %d\n", rank, rr);
    MPI_Comm_free(&rcomm);

    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
    MPI_Group bad;
    int bogus[1] = {size}, cls;
    int e = MPI_Group_incl(world, 1, bogus, &bad);
    MPI_Error_class(e, &cls);
    if (rank == 0) printf("incl of rank %d: class rank %d\n", size, cls == MPI_ERR_RANK);
    MPI_Group_free(&evens);
    MPI_Group_free(&odds);
    MPI_Group_free(&rev);
    MPI_Group_free(&world);
    if (rank == 0) printf("freed: null %d\n", world == MPI_GROUP_NULL);
    MPI_Finalize();
    return 0;
}

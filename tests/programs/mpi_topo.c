/* Cartesian topologies (MPI_Dims_create, Cart_create/coords/rank/shift/get, Topo_test),
 * indexed datatypes (sent, received, extents), datatype names, MPI_Get_address, and error
 * classes for what has no topology. Rank 0 prints. With "win": MPI_Win_create under
 * MPI_ERRORS_RETURN and then under MPI_ERRORS_ARE_FATAL (shoal has no windows). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

static int rank, size;

static void dims(int nnodes, int ndims, int *d) {
    MPI_Dims_create(nnodes, ndims, d);
    if (rank != 0) return;
    printf("dims_create(%d, %d):", nnodes, ndims);
    for (int i = 0; i < ndims; i++) printf(" %d", d[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    if (argc > 1 && strcmp(argv[1], "win") == 0) {
        MPI_Win win;
        char buf[64];
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        int e = MPI_Win_create(buf, sizeof buf, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &win), cls;
        MPI_Error_class(e, &cls);
        if (rank == 0) printf("win_create: class %s, window null %d\n",
                              cls == MPI_ERR_UNSUPPORTED_OPERATION ? "MPI_ERR_UNSUPPORTED_OPERATION" : "other",
                              win == MPI_WIN_NULL);
        fflush(stdout);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
        MPI_Win_allocate(64, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &buf, &win);
        printf("not reached\n");
        MPI_Finalize();
        return 0;
    }

    int d2[2] = {0, 0}, d3[3] = {0, 0, 0}, dfix[3] = {0, 3, 0}, d1[1] = {0};
    dims(6, 2, d2);
    d2[0] = d2[1] = 0;
    dims(12, 2, d2);
    dims(16, 3, d3);
    d2[0] = d2[1] = 0;
    dims(7, 2, d2);
    dims(6, 3, dfix);
    dims(5, 1, d1);
    d3[0] = d3[1] = d3[2] = 0;
    dims(8, 3, d3);

    /* A 2 x (size / 2) torus in the first dimension only; ranks past the grid get NULL. */
    int dd[2] = {2, size / 2}, per[2] = {1, 0}, coords[2], r, src, dst, topo;
    MPI_Comm cart;
    MPI_Cart_create(MPI_COMM_WORLD, 2, dd, per, 0, &cart);
    int in_grid = rank < 2 * (size / 2);
    if ((cart != MPI_COMM_NULL) != in_grid) printf("rank %d: wrong membership\n", rank);
    if (cart != MPI_COMM_NULL) {
        int crank, ok = 1;
        MPI_Comm_rank(cart, &crank);
        MPI_Cart_coords(cart, crank, 2, coords);
        MPI_Cart_rank(cart, coords, &r);
        ok &= r == crank;
        int wrap[2] = {coords[0] + 2, coords[1]}; /* periodic: wraps */
        MPI_Cart_rank(cart, wrap, &r);
        ok &= r == crank;
        MPI_Cart_shift(cart, 0, 1, &src, &dst);
        int s1, d1b;
        MPI_Cart_shift(cart, 1, 1, &s1, &d1b);
        int g[2], gp[2], gc[2], nd;
        MPI_Cart_get(cart, 2, g, gp, gc);
        MPI_Cartdim_get(cart, &nd);
        ok &= nd == 2 && g[0] == 2 && g[1] == size / 2 && gp[0] == 1 && gp[1] == 0 && gc[0] == coords[0] &&
              gc[1] == coords[1];
        MPI_Topo_test(cart, &topo);
        ok &= topo == MPI_CART;
        MPI_Comm dup;
        MPI_Comm_dup(cart, &dup); /* the topology goes with it */
        MPI_Topo_test(dup, &topo);
        ok &= topo == MPI_CART;
        MPI_Comm_free(&dup);
        int lines[4] = {crank, coords[0], coords[1], ok};
        int shifts[4] = {src, dst, s1, d1b}, all[64 * 8];
        int mine[8] = {lines[0], lines[1], lines[2], lines[3], shifts[0], shifts[1], shifts[2], shifts[3]};
        MPI_Gather(mine, 8, MPI_INT, all, 8, MPI_INT, 0, cart);
        if (crank == 0)
            for (int i = 0; i < 2 * (size / 2); i++)
                printf("cart rank %d at (%d,%d) ok %d; dim0 from %d to %d; dim1 from %d to %d\n", all[8 * i],
                       all[8 * i + 1], all[8 * i + 2], all[8 * i + 3], all[8 * i + 4], all[8 * i + 5],
                       all[8 * i + 6], all[8 * i + 7]);
        fflush(stdout);
        MPI_Comm_free(&cart);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Topo_test(MPI_COMM_WORLD, &topo);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int e = MPI_Cart_coords(MPI_COMM_WORLD, 0, 2, coords), cls;
    MPI_Error_class(e, &cls);
    if (rank == 0) printf("world: topo undefined %d, cart_coords class topology %d\n", topo == MPI_UNDEFINED,
                          cls == MPI_ERR_TOPOLOGY);
    int big[2] = {size + 1, 1};
    e = MPI_Cart_create(MPI_COMM_WORLD, 2, big, per, 0, &cart);
    MPI_Error_class(e, &cls);
    if (rank == 0) printf("grid larger than the communicator: error %d\n", e != MPI_SUCCESS);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);

    /* Indexed: blocks of 2, 1, 3 ints at 1, 5, 8 (lb 4 bytes, extent 40); two elements sent. */
    MPI_Datatype idx;
    int bl[3] = {2, 1, 3}, disp[3] = {1, 5, 8};
    MPI_Type_indexed(3, bl, disp, MPI_INT, &idx);
    MPI_Type_commit(&idx);
    MPI_Aint lb, ext;
    int tsize;
    MPI_Type_get_extent(idx, &lb, &ext);
    MPI_Type_size(idx, &tsize);
    if (rank == 0) printf("indexed: size %d lb %ld extent %ld\n", tsize, (long)lb, (long)ext);
    int buf[24], got[12];
    for (int i = 0; i < 24; i++) buf[i] = rank * 100 + i;
    if (size > 1) {
        if (rank == 1) MPI_Send(buf, 2, idx, 0, 5, MPI_COMM_WORLD);
        if (rank == 0) {
            MPI_Status st;
            int count, elems;
            MPI_Recv(got, 12, MPI_INT, 1, 5, MPI_COMM_WORLD, &st);
            MPI_Get_count(&st, MPI_INT, &count);
            printf("indexed x2 from rank 1 (%d ints):", count);
            for (int i = 0; i < count; i++) printf(" %d", got[i]);
            printf("\n");
            /* And back into the same layout. */
            int back[24];
            for (int i = 0; i < 24; i++) back[i] = -1;
            MPI_Sendrecv(got, 12, MPI_INT, 0, 6, back, 2, idx, 0, 6, MPI_COMM_WORLD, &st);
            MPI_Get_count(&st, idx, &count);
            MPI_Get_elements(&st, idx, &elems);
            printf("unpacked (count %d, elements %d):", count, elems);
            for (int i = 0; i < 24; i++) printf(" %d", back[i]);
            printf("\n");
        }
    }
    MPI_Type_free(&idx);

    /* Names: predefined types are named as in C; a derived one after set_name. */
    MPI_Datatype named[] = {MPI_CHAR, MPI_INT, MPI_DOUBLE, MPI_UNSIGNED_LONG, MPI_FLOAT, MPI_BYTE, MPI_2INT};
    if (rank == 0) {
        char name[MPI_MAX_OBJECT_NAME];
        int len;
        printf("names:");
        for (unsigned i = 0; i < sizeof named / sizeof named[0]; i++) {
            MPI_Type_get_name(named[i], name, &len);
            printf(" %s(%d)", name, len);
        }
        MPI_Datatype v;
        MPI_Type_vector(2, 1, 3, MPI_INT, &v);
        MPI_Type_get_name(v, name, &len);
        printf(" derived '%s'(%d)", name, len);
        MPI_Type_set_name(v, "pairs");
        MPI_Type_get_name(v, name, &len);
        printf(" then '%s'(%d)\n", name, len);
        MPI_Type_free(&v);
        MPI_Aint a0, a1;
        MPI_Get_address(&buf[0], &a0);
        MPI_Get_address(&buf[5], &a1);
        printf("address difference %ld\n", (long)(a1 - a0));
    }
    MPI_Finalize();
    return 0;
}

/* Cartesian topologies, indexed datatypes and type names, and the one-sided calls that are
 * not provided; part of shoal_mpi.c (included at its end: they use its tables). */

/* --- Cartesian topologies ----------------------------------------------------------------- */
static int cart_set(MPI_Comm comm, int ndims, const int *dims, const int *periods) {
    struct comm *c = comm_get(comm);
    int *a = malloc(sizeof(int) * (size_t)(2 * ndims + 1));
    if (a == NULL) fatal("MPI (topology)", "out of memory", ENOMEM);
    for (int i = 0; i < ndims; i++) {
        a[i] = dims[i];
        a[ndims + i] = periods[i] != 0;
    }
    free(c->cart);
    c->cart = a;
    c->ndims = ndims;
    return MPI_SUCCESS;
}

static struct comm *cart_get(MPI_Comm comm, const char *fn) {
    struct comm *c = comm_get(comm);
    if (c == NULL) {
        fail(MPI_COMM_WORLD, MPI_ERR_COMM, fn, "invalid communicator");
        return NULL;
    }
    if (c->cart == NULL) {
        fail(comm, MPI_ERR_TOPOLOGY, fn, "the communicator has no Cartesian topology");
        return NULL;
    }
    return c;
}

/* The free dimensions get nnodes / (the fixed ones' product), split as evenly as the prime
 * factors allow (each factor, largest first, to the smallest dimension), in non-increasing
 * order. */
int MPI_Dims_create(int nnodes, int ndims, int dims[]) {
    const char *fn = "MPI_Dims_create";
    if (nnodes < 1 || ndims < 0) return fail(MPI_COMM_WORLD, MPI_ERR_DIMS, fn, "invalid number of nodes or dimensions");
    int fixed = 1, nfree = 0;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] < 0) return fail(MPI_COMM_WORLD, MPI_ERR_DIMS, fn, "negative dimension");
        if (dims[i] > 0) fixed *= dims[i]; else nfree++;
    }
    if (nnodes % fixed != 0)
        return fail(MPI_COMM_WORLD, MPI_ERR_DIMS, fn, "the fixed dimensions do not divide the number of nodes");
    int rest = nnodes / fixed;
    if (nfree == 0) {
        if (rest != 1) return fail(MPI_COMM_WORLD, MPI_ERR_DIMS, fn, "the dimensions' product is not the number of nodes");
        return MPI_SUCCESS;
    }
    int f[32], nf = 0; /* prime factors, largest first */
    for (int p = 2; rest > 1 && nf < 32;) {
        if (rest % p == 0) { f[nf++] = p; rest /= p; }
        else if (p * p > rest) { f[nf++] = rest; rest = 1; }
        else p++;
    }
    for (int i = 0; i < nf / 2; i++) { int t = f[i]; f[i] = f[nf - 1 - i]; f[nf - 1 - i] = t; }
    int *d = malloc(sizeof(int) * (size_t)nfree);
    if (d == NULL) fatal(fn, "out of memory", ENOMEM);
    for (int i = 0; i < nfree; i++) d[i] = 1;
    for (int k = 0; k < nf; k++) {
        int m = 0;
        for (int i = 1; i < nfree; i++)
            if (d[i] < d[m]) m = i;
        d[m] *= f[k];
    }
    for (int i = 1; i < nfree; i++) /* non-increasing */
        for (int j = i; j > 0 && d[j] > d[j - 1]; j--) { int t = d[j]; d[j] = d[j - 1]; d[j - 1] = t; }
    for (int i = 0, k = 0; i < ndims; i++)
        if (dims[i] == 0) dims[i] = d[k++];
    free(d);
    return MPI_SUCCESS;
}

/* Ranks beyond the grid get MPI_COMM_NULL; the others keep their order (no reordering). */
int MPI_Cart_create(MPI_Comm comm_old, int ndims, const int dims[], const int periods[], int reorder,
                    MPI_Comm *comm_cart) {
    const char *fn = "MPI_Cart_create";
    (void)reorder;
    struct comm *c = coll_comm(comm_old, fn);
    if (c == NULL) return MPI_ERR_COMM;
    if (ndims < 0) return fail(comm_old, MPI_ERR_DIMS, fn, "negative number of dimensions");
    long grid = 1;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] <= 0) return fail(comm_old, MPI_ERR_DIMS, fn, "a dimension is not positive");
        grid *= dims[i];
    }
    if (grid > c->size) return fail(comm_old, MPI_ERR_ARG, fn, "the grid has more ranks than the communicator");
    int e = MPI_Comm_split(comm_old, c->rank < grid ? 0 : MPI_UNDEFINED, c->rank, comm_cart);
    if (e != MPI_SUCCESS || *comm_cart == MPI_COMM_NULL) return e;
    return cart_set(*comm_cart, ndims, dims, periods);
}

int MPI_Cartdim_get(MPI_Comm comm, int *ndims) {
    struct comm *c = cart_get(comm, "MPI_Cartdim_get");
    if (c == NULL) return MPI_ERR_TOPOLOGY;
    *ndims = c->ndims;
    return MPI_SUCCESS;
}

int MPI_Cart_coords(MPI_Comm comm, int rank, int maxdims, int coords[]) {
    struct comm *c = cart_get(comm, "MPI_Cart_coords");
    if (c == NULL) return MPI_ERR_TOPOLOGY;
    if (rank < 0 || rank >= c->size) return fail(comm, MPI_ERR_RANK, "MPI_Cart_coords", "invalid rank");
    if (maxdims < c->ndims) return fail(comm, MPI_ERR_ARG, "MPI_Cart_coords", "maxdims is less than the dimensions");
    for (int i = c->ndims - 1; i >= 0; i--) { /* row-major: the last dimension varies fastest */
        coords[i] = rank % c->cart[i];
        rank /= c->cart[i];
    }
    return MPI_SUCCESS;
}

int MPI_Cart_get(MPI_Comm comm, int maxdims, int dims[], int periods[], int coords[]) {
    struct comm *c = cart_get(comm, "MPI_Cart_get");
    if (c == NULL) return MPI_ERR_TOPOLOGY;
    int n = maxdims < c->ndims ? maxdims : c->ndims;
    for (int i = 0; i < n; i++) {
        dims[i] = c->cart[i];
        periods[i] = c->cart[c->ndims + i];
    }
    return MPI_Cart_coords(comm, c->rank, maxdims, coords);
}

int MPI_Cart_rank(MPI_Comm comm, const int coords[], int *rank) {
    struct comm *c = cart_get(comm, "MPI_Cart_rank");
    if (c == NULL) return MPI_ERR_TOPOLOGY;
    int r = 0;
    for (int i = 0; i < c->ndims; i++) {
        int d = c->cart[i], x = coords[i];
        if (c->cart[c->ndims + i]) x = ((x % d) + d) % d;
        else if (x < 0 || x >= d) return fail(comm, MPI_ERR_ARG, "MPI_Cart_rank", "a coordinate is out of range");
        r = r * d + x;
    }
    *rank = r;
    return MPI_SUCCESS;
}

int MPI_Cart_shift(MPI_Comm comm, int direction, int disp, int *rank_source, int *rank_dest) {
    struct comm *c = cart_get(comm, "MPI_Cart_shift");
    if (c == NULL) return MPI_ERR_TOPOLOGY;
    if (direction < 0 || direction >= c->ndims) return fail(comm, MPI_ERR_ARG, "MPI_Cart_shift", "invalid direction");
    int coords[64];
    if (c->ndims > 64) return fail(comm, MPI_ERR_DIMS, "MPI_Cart_shift", "too many dimensions");
    MPI_Cart_coords(comm, c->rank, c->ndims, coords);
    int d = c->cart[direction], periodic = c->cart[c->ndims + direction], me = coords[direction];
    int *out[2] = {rank_dest, rank_source};
    for (int k = 0; k < 2; k++) {
        int x = me + (k == 0 ? disp : -disp);
        if (!periodic && (x < 0 || x >= d)) {
            *out[k] = MPI_PROC_NULL;
            continue;
        }
        coords[direction] = x;
        MPI_Cart_rank(comm, coords, out[k]);
    }
    return MPI_SUCCESS;
}

int MPI_Topo_test(MPI_Comm comm, int *status) {
    struct comm *c = comm_get(comm);
    if (c == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Topo_test", "invalid communicator");
    *status = c->cart ? MPI_CART : MPI_UNDEFINED;
    return MPI_SUCCESS;
}

/* No call here builds a distributed graph, so no communicator has one. */
int MPI_Dist_graph_neighbors(MPI_Comm comm, int maxindegree, int sources[], int sourceweights[], int maxoutdegree,
                             int destinations[], int destweights[]) {
    (void)maxindegree, (void)sources, (void)sourceweights, (void)maxoutdegree, (void)destinations, (void)destweights;
    if (comm_get(comm) == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Dist_graph_neighbors", "invalid communicator");
    return fail(comm, MPI_ERR_TOPOLOGY, "MPI_Dist_graph_neighbors", "the communicator has no distributed graph topology");
}

/* --- datatypes ---------------------------------------------------------------------------- */
/* Blocks of blocklens[i] elements of `old` at displs[i] of its extents; lb and extent as the
 * standard's typemap gives them (from the lowest block start to the highest end). */
int MPI_Type_indexed(int count, const int blocklens[], const int displs[], MPI_Datatype old, MPI_Datatype *newtype) {
    const char *fn = "MPI_Type_indexed";
    struct dtype *o = dt_get(old);
    if (o == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, fn, "invalid datatype");
    if (count < 0) return fail(MPI_COMM_WORLD, MPI_ERR_COUNT, fn, "negative count");
    long n = 0;
    for (int i = 0; i < count; i++) {
        if (blocklens[i] < 0) return fail(MPI_COMM_WORLD, MPI_ERR_COUNT, fn, "negative block length");
        n += (long)blocklens[i] * o->nblocks;
    }
    int id = type_new();
    if (id < 0) return fail(MPI_COMM_WORLD, MPI_ERR_INTERN, fn, "too many datatypes");
    struct block *b = malloc(sizeof *b * (size_t)(n ? n : 1));
    if (b == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_INTERN, fn, "out of memory");
    int k = 0, any = 0;
    long lb = 0, ub = 0, size = 0;
    for (int i = 0; i < count; i++) {
        if (blocklens[i] == 0) continue;
        long start = (long)displs[i] * o->extent + o->lb, end = start + (long)blocklens[i] * o->extent;
        if (!any || start < lb) lb = start;
        if (!any || end > ub) ub = end;
        any = 1;
        size += (long)blocklens[i] * o->size;
        for (int j = 0; j < blocklens[i]; j++)
            for (int m = 0; m < o->nblocks; m++) {
                long disp = (long)displs[i] * o->extent + j * o->extent + o->blocks[m].disp;
                if (k > 0 && b[k - 1].disp + b[k - 1].len == disp) {
                    b[k - 1].len += o->blocks[m].len;
                } else {
                    b[k].disp = disp;
                    b[k].len = o->blocks[m].len;
                    k++;
                }
            }
    }
    types[id] = (struct dtype){1, 0, o->basic, size, ub - lb, k, b, lb, NULL};
    if (k == 0) { types[id].nblocks = 1; b[0].disp = 0; b[0].len = 0; }
    *newtype = id;
    return MPI_SUCCESS;
}

static const char *const basic_name[] = {
    [MPI_CHAR] = "MPI_CHAR", [MPI_SIGNED_CHAR] = "MPI_SIGNED_CHAR", [MPI_UNSIGNED_CHAR] = "MPI_UNSIGNED_CHAR",
    [MPI_BYTE] = "MPI_BYTE", [MPI_SHORT] = "MPI_SHORT", [MPI_UNSIGNED_SHORT] = "MPI_UNSIGNED_SHORT",
    [MPI_INT] = "MPI_INT", [MPI_UNSIGNED] = "MPI_UNSIGNED", [MPI_LONG] = "MPI_LONG",
    [MPI_UNSIGNED_LONG] = "MPI_UNSIGNED_LONG", [MPI_LONG_LONG_INT] = "MPI_LONG_LONG_INT",
    [MPI_UNSIGNED_LONG_LONG] = "MPI_UNSIGNED_LONG_LONG", [MPI_FLOAT] = "MPI_FLOAT", [MPI_DOUBLE] = "MPI_DOUBLE",
    [MPI_LONG_DOUBLE] = "MPI_LONG_DOUBLE", [MPI_WCHAR] = "MPI_WCHAR", [MPI_C_BOOL] = "MPI_C_BOOL",
    [MPI_INT8_T] = "MPI_INT8_T", [MPI_INT16_T] = "MPI_INT16_T", [MPI_INT32_T] = "MPI_INT32_T",
    [MPI_INT64_T] = "MPI_INT64_T", [MPI_UINT8_T] = "MPI_UINT8_T", [MPI_UINT16_T] = "MPI_UINT16_T",
    [MPI_UINT32_T] = "MPI_UINT32_T", [MPI_UINT64_T] = "MPI_UINT64_T", [MPI_PACKED] = "MPI_PACKED",
    [MPI_FLOAT_INT] = "MPI_FLOAT_INT", [MPI_DOUBLE_INT] = "MPI_DOUBLE_INT", [MPI_LONG_INT] = "MPI_LONG_INT",
    [MPI_2INT] = "MPI_2INT", [MPI_SHORT_INT] = "MPI_SHORT_INT", [MPI_LONG_DOUBLE_INT] = "MPI_LONG_DOUBLE_INT",
    [MPI_AINT] = "MPI_AINT", [MPI_COUNT] = "MPI_COUNT", [MPI_OFFSET] = "MPI_OFFSET",
};

/* A predefined type's name is its C name; a derived one has "" until MPI_Type_set_name. */
int MPI_Type_get_name(MPI_Datatype dt, char *type_name, int *resultlen) {
    struct dtype *t = dt_get(dt);
    if (t == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Type_get_name", "invalid datatype");
    const char *s = t->name ? t->name : dt < NBASIC && basic_name[dt] ? basic_name[dt] : "";
    snprintf(type_name, MPI_MAX_OBJECT_NAME, "%s", s);
    *resultlen = (int)strlen(type_name);
    return MPI_SUCCESS;
}

int MPI_Type_set_name(MPI_Datatype dt, const char *type_name) {
    struct dtype *t = dt_get(dt);
    if (t == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Type_set_name", "invalid datatype");
    char *s = strndup(type_name, MPI_MAX_OBJECT_NAME - 1);
    if (s == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_INTERN, "MPI_Type_set_name", "out of memory");
    free(t->name);
    t->name = s;
    return MPI_SUCCESS;
}

int MPI_Get_address(const void *location, MPI_Aint *address) {
    *address = (MPI_Aint)location;
    return MPI_SUCCESS;
}

/* --- one-sided communication: not provided ------------------------------------------------ */
static int no_windows(MPI_Comm comm, const char *fn) {
    if (comm_get(comm) == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, fn, "invalid communicator");
    return fail(comm, MPI_ERR_UNSUPPORTED_OPERATION, fn, "one-sided communication (windows) is not provided");
}

int MPI_Win_create(void *base, MPI_Aint size, int disp_unit, MPI_Info info, MPI_Comm comm, MPI_Win *win) {
    (void)base, (void)size, (void)disp_unit, (void)info;
    *win = MPI_WIN_NULL;
    return no_windows(comm, "MPI_Win_create");
}

int MPI_Win_allocate(MPI_Aint size, int disp_unit, MPI_Info info, MPI_Comm comm, void *baseptr, MPI_Win *win) {
    (void)size, (void)disp_unit, (void)info, (void)baseptr;
    *win = MPI_WIN_NULL;
    return no_windows(comm, "MPI_Win_allocate");
}

int MPI_Win_create_dynamic(MPI_Info info, MPI_Comm comm, MPI_Win *win) {
    (void)info;
    *win = MPI_WIN_NULL;
    return no_windows(comm, "MPI_Win_create_dynamic");
}

/* No window exists, so every handle is invalid. */
int MPI_Win_attach(MPI_Win win, void *base, MPI_Aint size) {
    (void)win, (void)base, (void)size;
    return fail(MPI_COMM_WORLD, MPI_ERR_WIN, "MPI_Win_attach", "invalid window");
}

int MPI_Win_free(MPI_Win *win) {
    (void)win;
    return fail(MPI_COMM_WORLD, MPI_ERR_WIN, "MPI_Win_free", "invalid window");
}

/* --- groups ------------------------------------------------------------------------------- */
/* A group is an ordered list of world ranks; handle 0 is MPI_GROUP_EMPTY. */
#define MAX_GROUPS 64
struct group { int used, size; int *world; };
static struct group groups[MAX_GROUPS] = {[MPI_GROUP_EMPTY] = {1, 0, NULL}};

static struct group *group_get(MPI_Group g) {
    if (g < 0 || g >= MAX_GROUPS || !groups[g].used) return NULL;
    return &groups[g];
}

/* Takes `world` (malloc'd, n entries). */
static int group_new(int n, int *world, MPI_Group *out, const char *fn) {
    pthread_mutex_lock(&L);
    for (int i = 1; i < MAX_GROUPS; i++)
        if (!groups[i].used) {
            groups[i] = (struct group){1, n, world};
            *out = i;
            pthread_mutex_unlock(&L);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&L);
    free(world);
    return fail(MPI_COMM_WORLD, MPI_ERR_INTERN, fn, "too many groups");
}

static int group_rank_of(const struct group *g, int wrank) {
    for (int i = 0; i < g->size; i++)
        if (g->world[i] == wrank) return i;
    return MPI_UNDEFINED;
}

static int *ints(int n, const char *fn) {
    int *a = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (a == NULL) fatal(fn, "out of memory", ENOMEM);
    return a;
}

#define GROUP_OR_FAIL(g, h, fn) \
    struct group *g = group_get(h); \
    if (g == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_GROUP, fn, "invalid group")

int MPI_Comm_group(MPI_Comm comm, MPI_Group *group) {
    struct comm *c = comm_get(comm);
    if (c == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Comm_group", "invalid communicator");
    int *w = ints(c->size, "MPI_Comm_group");
    memcpy(w, c->world, sizeof(int) * (size_t)c->size);
    return group_new(c->size, w, group, "MPI_Comm_group");
}

int MPI_Group_size(MPI_Group group, int *size) {
    GROUP_OR_FAIL(g, group, "MPI_Group_size");
    *size = g->size;
    return MPI_SUCCESS;
}

int MPI_Group_rank(MPI_Group group, int *rank) {
    GROUP_OR_FAIL(g, group, "MPI_Group_rank");
    *rank = group_rank_of(g, world_rank);
    return MPI_SUCCESS;
}

int MPI_Group_incl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup) {
    GROUP_OR_FAIL(g, group, "MPI_Group_incl");
    if (n < 0 || n > g->size) return fail(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Group_incl", "invalid count");
    if (n == 0) { *newgroup = MPI_GROUP_EMPTY; return MPI_SUCCESS; }
    int *w = ints(n, "MPI_Group_incl");
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= ranks[j] == ranks[i];
        if (ranks[i] < 0 || ranks[i] >= g->size || dup) {
            free(w);
            return fail(MPI_COMM_WORLD, MPI_ERR_RANK, "MPI_Group_incl", "invalid or repeated rank");
        }
        w[i] = g->world[ranks[i]];
    }
    return group_new(n, w, newgroup, "MPI_Group_incl");
}

int MPI_Group_excl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup) {
    GROUP_OR_FAIL(g, group, "MPI_Group_excl");
    if (n < 0 || n > g->size) return fail(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Group_excl", "invalid count");
    for (int i = 0; i < n; i++)
        if (ranks[i] < 0 || ranks[i] >= g->size) return fail(MPI_COMM_WORLD, MPI_ERR_RANK, "MPI_Group_excl", "invalid rank");
    int *w = ints(g->size, "MPI_Group_excl"), m = 0;
    for (int r = 0; r < g->size; r++) {
        int out = 0;
        for (int i = 0; i < n; i++) out |= ranks[i] == r;
        if (!out) w[m++] = g->world[r];
    }
    if (m == 0) { free(w); *newgroup = MPI_GROUP_EMPTY; return MPI_SUCCESS; }
    return group_new(m, w, newgroup, "MPI_Group_excl");
}

int MPI_Group_translate_ranks(MPI_Group group1, int n, const int ranks1[], MPI_Group group2, int ranks2[]) {
    GROUP_OR_FAIL(a, group1, "MPI_Group_translate_ranks");
    GROUP_OR_FAIL(b, group2, "MPI_Group_translate_ranks");
    for (int i = 0; i < n; i++) {
        if (ranks1[i] == MPI_PROC_NULL) { ranks2[i] = MPI_PROC_NULL; continue; }
        if (ranks1[i] < 0 || ranks1[i] >= a->size)
            return fail(MPI_COMM_WORLD, MPI_ERR_RANK, "MPI_Group_translate_ranks", "invalid rank");
        ranks2[i] = group_rank_of(b, a->world[ranks1[i]]);
    }
    return MPI_SUCCESS;
}

int MPI_Group_compare(MPI_Group group1, MPI_Group group2, int *result) {
    GROUP_OR_FAIL(a, group1, "MPI_Group_compare");
    GROUP_OR_FAIL(b, group2, "MPI_Group_compare");
    int same_order = a->size == b->size, same_set = a->size == b->size;
    for (int i = 0; i < a->size && same_set; i++) {
        same_order &= a->world[i] == b->world[i];
        same_set &= group_rank_of(b, a->world[i]) != MPI_UNDEFINED;
    }
    *result = same_order ? MPI_IDENT : same_set ? MPI_SIMILAR : MPI_UNEQUAL;
    return MPI_SUCCESS;
}

int MPI_Group_free(MPI_Group *group) {
    if (*group == MPI_GROUP_EMPTY) { *group = MPI_GROUP_NULL; return MPI_SUCCESS; } /* MPICH allows it */
    GROUP_OR_FAIL(g, *group, "MPI_Group_free");
    free(g->world);
    *g = (struct group){0, 0, NULL};
    *group = MPI_GROUP_NULL;
    return MPI_SUCCESS;
}

/* Collective over comm, every member passing the same group (a subset of comm): the group's
 * members get a communicator in the group's order, the others MPI_COMM_NULL. */
int MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm *newcomm) {
    struct comm *c = coll_comm(comm, "MPI_Comm_create");
    if (c == NULL) return MPI_ERR_COMM;
    GROUP_OR_FAIL(g, group, "MPI_Comm_create");
    for (int i = 0; i < g->size; i++)
        if (comm_rank_of(c, g->world[i]) == MPI_UNDEFINED)
            return fail(comm, MPI_ERR_GROUP, "MPI_Comm_create", "the group is not a subset of the communicator");
    int r = group_rank_of(g, world_rank);
    return MPI_Comm_split(comm, r == MPI_UNDEFINED ? MPI_UNDEFINED : 0, r, newcomm);
}

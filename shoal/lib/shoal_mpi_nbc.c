/* Nonblocking collectives (MPI_Ibarrier ... MPI_Ialltoallw), part of shoal_mpi.c (included at
 * its end: they use its requests, datatypes and communicators).
 *
 * A collective is a schedule, as in libNBC: rounds of point-to-point operations in the
 * communicator's collective context, and a local step after a round (a reduction, a copy).
 * A round starts when the one before it is over; rounds move on inside MPI calls (Wait,
 * Test, and every blocking call's wait), so a program that overlaps computation with the
 * collective and then waits sees it complete, as with MPICH without a progress thread. Each
 * call takes the next tag of the communicator's own sequence (all members call collectives
 * in the same order), above the blocking collectives' tags: two collectives in flight on one
 * communicator never take each other's messages. Results are the blocking calls' bit for bit
 * (reductions combine in the same rank order). */

struct nbc_op { int round, send; void *buf; int count; MPI_Datatype dt; int peer; };

struct nbc {
    struct req *q; /* the user's request */
    MPI_Comm comm;
    const char *fn;
    int tag, round, nrounds, err;
    int busy; /* a thread is moving it on (MPI_THREAD_MULTIPLE) */
    struct nbc_op *ops;
    int nops, cap;
    struct req **live; /* the current round's requests still counted (eager sends are not) */
    int nlive;
    void (*after)(struct nbc *, int round); /* the local step after a round, or NULL */
    /* What the local steps need. */
    int n, rank, count, *counts;
    MPI_Datatype dt;
    MPI_Op op;
    void *rbuf;
    char *tmp; /* n slots of `bytes`: the contributions, in rank order */
    long bytes;
    struct nbc *next;
};
#define NBC_TAG0 16 /* above T_BARRIER .. T_SCAN */

static void nbc_free(struct nbc *b) {
    free(b->ops);
    free(b->live);
    free(b->counts);
    free(b->tmp);
    free(b);
}

static struct nbc *nbc_new(struct comm *c, MPI_Comm comm, const char *fn) {
    struct nbc *b = calloc(1, sizeof *b);
    if (b == NULL) fatal(fn, "out of memory", ENOMEM);
    b->comm = comm;
    b->fn = fn;
    b->tag = NBC_TAG0 + (int)(c->nbc_seq++ & 0x3fffffff);
    b->round = -1;
    b->n = c->size;
    b->rank = c->rank;
    return b;
}

static void nbc_add(struct nbc *b, int round, int send, const void *buf, int count, MPI_Datatype dt, int peer) {
    if (b->nops == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 8;
        b->ops = realloc(b->ops, sizeof *b->ops * (size_t)b->cap);
        if (b->ops == NULL) fatal(b->fn, "out of memory", ENOMEM);
    }
    b->ops[b->nops++] = (struct nbc_op){round, send, (void *)buf, count, dt, peer};
    if (round + 1 > b->nrounds) b->nrounds = round + 1;
}

static void *nbc_alloc(struct nbc *b, long bytes) {
    void *p = malloc((size_t)bytes + 1);
    if (p == NULL) fatal(b->fn, "out of memory", ENOMEM);
    return p;
}

/* L held: whether b's current round is over. */
static int nbc_round_over(const struct nbc *b) {
    for (int i = 0; i < b->nlive; i++)
        if (!b->live[i]->done) return 0;
    return 1;
}

/* L held: whether some collective can move on without another message. */
static int nbc_movable(void) {
    for (struct nbc *b = nbc_active; b != NULL; b = b->next)
        if (!b->busy && nbc_round_over(b)) return 1;
    return 0;
}

/* L not held: the local step after b's round, then its next round (1), or its end (0: b may
 * be gone). */
static int nbc_advance(struct nbc *b) {
    if (b->round >= 0 && b->after != NULL && b->err == MPI_SUCCESS) b->after(b, b->round);
    b->round++;
    if (b->round < b->nrounds && b->err == MPI_SUCCESS) {
        if (b->live == NULL) {
            b->live = calloc((size_t)b->nops + 1, sizeof *b->live);
            if (b->live == NULL) fatal(b->fn, "out of memory", ENOMEM);
        }
        for (int i = 0; i < b->nops && b->err == MPI_SUCCESS; i++) {
            struct nbc_op *o = &b->ops[i];
            if (o->round != b->round) continue;
            struct req *r = NULL;
            int e = o->send ? start_send(o->buf, o->count, o->dt, o->peer, b->tag, b->comm, 1, 0, 0, &r, b->fn)
                            : start_recv(o->buf, o->count, o->dt, o->peer, b->tag, b->comm, 1, &r, b->fn);
            if (e != MPI_SUCCESS) b->err = e;
            if (r != NULL) b->live[b->nlive++] = r;
        }
        return 1; /* the round may be over already (eager sends): nbc_poke sees to it */
    }
    pthread_mutex_lock(&L);
    struct nbc **p = &nbc_active;
    while (*p != NULL && *p != b) p = &(*p)->next;
    if (*p == b) *p = b->next;
    struct req *q = b->q;
    q->st = (MPI_Status){MPI_ANY_SOURCE, MPI_ANY_TAG, b->err, 0, 0};
    q->done = 1;
    if (q->freed) req_release(q);
    pthread_cond_broadcast(&C);
    pthread_mutex_unlock(&L);
    return 0;
}

/* L not held: every collective whose round is over moves on (called from every wait). */
static void nbc_poke(void) {
    while (nbc_active != NULL) {
        pthread_mutex_lock(&L);
        struct nbc *b = nbc_active;
        while (b != NULL && (b->busy || !nbc_round_over(b))) b = b->next;
        if (b == NULL) {
            pthread_mutex_unlock(&L);
            return;
        }
        b->busy = 1;
        for (int i = 0; i < b->nlive; i++) {
            struct req *r = b->live[i];
            if (r->kind == R_RECV && r->st.MPI_ERROR != MPI_SUCCESS && b->err == MPI_SUCCESS) b->err = r->st.MPI_ERROR;
            req_release(r);
        }
        b->nlive = 0;
        pthread_mutex_unlock(&L);
        if (nbc_advance(b)) { /* still in flight */
            pthread_mutex_lock(&L);
            b->busy = 0;
            pthread_mutex_unlock(&L);
        }
    }
}

/* Makes b the user's request and starts its first round. */
static int nbc_start(struct nbc *b, MPI_Request *request) {
    pthread_mutex_lock(&L);
    struct req *q = req_new(R_COLL);
    q->comm = b->comm;
    q->nbc = b;
    b->q = q;
    b->next = nbc_active;
    nbc_active = b;
    b->busy = 1;
    *request = q->id;
    pthread_mutex_unlock(&L);
    if (nbc_advance(b)) {
        pthread_mutex_lock(&L);
        b->busy = 0;
        pthread_mutex_unlock(&L);
    }
    nbc_poke();
    return MPI_SUCCESS;
}

/* --- the schedules ------------------------------------------------------------------------ */
int MPI_Ibarrier(MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Ibarrier");
    if (c == NULL) return MPI_ERR_COMM;
    struct nbc *b = nbc_new(c, comm, "MPI_Ibarrier");
    int round = 0; /* dissemination, as MPI_Barrier */
    for (int k = 1; k < c->size; k <<= 1, round++) {
        nbc_add(b, round, 0, NULL, 0, MPI_BYTE, (c->rank - k + c->size) % c->size);
        nbc_add(b, round, 1, NULL, 0, MPI_BYTE, (c->rank + k) % c->size);
    }
    return nbc_start(b, request);
}

int MPI_Ibcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Ibcast");
    if (c == NULL) return MPI_ERR_COMM;
    if (root < 0 || root >= c->size) return fail(comm, MPI_ERR_ROOT, "MPI_Ibcast", "invalid root");
    struct nbc *b = nbc_new(c, comm, "MPI_Ibcast");
    int n = c->size, me = (c->rank - root + n) % n, mask = 1; /* binomial tree, as MPI_Bcast */
    while (mask < n) {
        if (me & mask) {
            nbc_add(b, 0, 0, buf, count, dt, (me - mask + root) % n);
            break;
        }
        mask <<= 1;
    }
    for (mask >>= 1; mask > 0; mask >>= 1)
        if (me + mask < n) nbc_add(b, 1, 1, buf, count, dt, (me + mask + root) % n);
    return nbc_start(b, request);
}

/* After the round that brought every contribution to its slot: rbuf = x0 op (x1 op ...), the
 * order of MPI_Reduce. counts: per-rank counts of the result (reduce_scatter), else NULL. */
static void nbc_combine(struct nbc *b, int round) {
    (void)round;
    char *acc = b->tmp + (b->n - 1) * b->bytes;
    for (int i = b->n - 2; i >= 0 && b->err == MPI_SUCCESS; i--) {
        int e = apply(b->op, b->dt, b->tmp + i * b->bytes, acc, b->count);
        if (e != MPI_SUCCESS) b->err = fail(b->comm, e, b->fn, "operation undefined for the datatype");
    }
    if (b->err == MPI_SUCCESS) memcpy(b->rbuf, acc, (size_t)b->bytes);
}

static int reduce_args(MPI_Comm comm, int count, MPI_Datatype dt, const char *fn) {
    if (dt_get(dt) == NULL) return fail(comm, MPI_ERR_TYPE, fn, "invalid datatype");
    if (count < 0) return fail(comm, MPI_ERR_COUNT, fn, "negative count");
    return MPI_SUCCESS;
}

/* A reduction schedule: every rank in `to` (all ranks if to < 0) gathers every contribution
 * in its slots, then combines them. */
static int ireduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, int root,
                   MPI_Comm comm, MPI_Request *request, const char *fn) {
    struct comm *c = coll_comm(comm, fn);
    if (c == NULL) return MPI_ERR_COMM;
    int e = reduce_args(comm, count, dt, fn);
    if (e != MPI_SUCCESS) return e;
    if (root >= c->size || root < -1) return fail(comm, MPI_ERR_ROOT, fn, "invalid root");
    struct nbc *b = nbc_new(c, comm, fn);
    const void *mine = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    if (root >= 0 && c->rank != root) {
        nbc_add(b, 0, 1, mine, count, dt, root);
        return nbc_start(b, request);
    }
    b->count = count;
    b->dt = dt;
    b->op = op;
    b->rbuf = recvbuf;
    b->bytes = (long)count * extent_of(dt);
    b->tmp = nbc_alloc(b, b->bytes * c->size);
    char *own = b->tmp + c->rank * b->bytes;
    memcpy(own, mine, (size_t)b->bytes);
    for (int i = 0; i < c->size; i++) {
        if (i == c->rank) continue;
        nbc_add(b, 0, 0, b->tmp + i * b->bytes, count, dt, i);
        if (root < 0) nbc_add(b, 0, 1, own, count, dt, i);
    }
    if (b->nrounds == 0) b->nrounds = 1; /* one rank: the step still copies */
    b->after = nbc_combine;
    return nbc_start(b, request);
}

int MPI_Ireduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, int root, MPI_Comm comm,
                MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Ireduce");
    if (c == NULL) return MPI_ERR_COMM;
    if (root < 0 || root >= c->size) return fail(comm, MPI_ERR_ROOT, "MPI_Ireduce", "invalid root");
    return ireduce(sendbuf, recvbuf, count, dt, op, root, comm, request, "MPI_Ireduce");
}

int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm,
                   MPI_Request *request) {
    return ireduce(sendbuf, recvbuf, count, dt, op, -1, comm, request, "MPI_Iallreduce");
}

/* Rank i gets block i of everyone's input and combines them (MPI_Reduce_scatter's order). */
int MPI_Ireduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[], MPI_Datatype dt, MPI_Op op,
                        MPI_Comm comm, MPI_Request *request) {
    const char *fn = "MPI_Ireduce_scatter";
    struct comm *c = coll_comm(comm, fn);
    if (c == NULL) return MPI_ERR_COMM;
    int n = c->size, me = c->rank;
    for (int i = 0; i < n; i++)
        if (recvcounts[i] < 0) return fail(comm, MPI_ERR_COUNT, fn, "negative count");
    int e = reduce_args(comm, recvcounts[me], dt, fn);
    if (e != MPI_SUCCESS) return e;
    struct nbc *b = nbc_new(c, comm, fn);
    long ext = extent_of(dt), at = 0, mine_at = 0;
    const char *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    b->count = recvcounts[me];
    b->dt = dt;
    b->op = op;
    b->rbuf = recvbuf;
    b->bytes = (long)b->count * ext;
    b->tmp = nbc_alloc(b, b->bytes * n);
    for (int i = 0; i < n; i++) {
        if (i == me) mine_at = at;
        else nbc_add(b, 0, 1, in + at * ext, recvcounts[i], dt, i);
        at += recvcounts[i];
    }
    memcpy(b->tmp + me * b->bytes, in + mine_at * ext, (size_t)b->bytes);
    for (int i = 0; i < n; i++)
        if (i != me) nbc_add(b, 0, 0, b->tmp + i * b->bytes, b->count, dt, i);
    if (b->nrounds == 0) b->nrounds = 1;
    b->after = nbc_combine;
    return nbc_start(b, request);
}

int MPI_Ireduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount, MPI_Datatype dt, MPI_Op op,
                              MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Ireduce_scatter_block");
    if (c == NULL) return MPI_ERR_COMM;
    int *r = uniform(c->size, recvcount, recvcount);
    int e = MPI_Ireduce_scatter(sendbuf, recvbuf, r, dt, op, comm, request);
    free(r);
    return e;
}

int MPI_Igatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                 const int displs[], MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Igatherv");
    if (c == NULL) return MPI_ERR_COMM;
    if (root < 0 || root >= c->size) return fail(comm, MPI_ERR_ROOT, "MPI_Igatherv", "invalid root");
    struct nbc *b = nbc_new(c, comm, "MPI_Igatherv");
    if (c->rank != root) {
        nbc_add(b, 0, 1, sendbuf, sendcount, sendtype, root);
        return nbc_start(b, request);
    }
    long ext = extent_of(recvtype);
    for (int i = 0; i < c->size; i++) {
        char *at = (char *)recvbuf + displs[i] * ext;
        if (i != root) nbc_add(b, 0, 0, at, recvcounts[i], recvtype, i);
        else if (sendbuf != MPI_IN_PLACE) local_copy(sendbuf, sendcount, sendtype, at, recvcounts[i], recvtype);
    }
    return nbc_start(b, request);
}

int MPI_Igather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Igather");
    if (c == NULL) return MPI_ERR_COMM;
    int *r = uniform(c->size, recvcount, recvcount);
    int e = MPI_Igatherv(sendbuf, sendcount, sendtype, recvbuf, r, r + c->size, recvtype, root, comm, request);
    free(r);
    return e;
}

int MPI_Iscatterv(const void *sendbuf, const int sendcounts[], const int displs[], MPI_Datatype sendtype,
                  void *recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Iscatterv");
    if (c == NULL) return MPI_ERR_COMM;
    if (root < 0 || root >= c->size) return fail(comm, MPI_ERR_ROOT, "MPI_Iscatterv", "invalid root");
    struct nbc *b = nbc_new(c, comm, "MPI_Iscatterv");
    if (c->rank != root) {
        nbc_add(b, 0, 0, recvbuf, recvcount, recvtype, root);
        return nbc_start(b, request);
    }
    long ext = extent_of(sendtype);
    for (int i = 0; i < c->size; i++) {
        const char *at = (const char *)sendbuf + displs[i] * ext;
        if (i != root) nbc_add(b, 0, 1, at, sendcounts[i], sendtype, i);
        else if (recvbuf != MPI_IN_PLACE) local_copy(at, sendcounts[i], sendtype, recvbuf, recvcount, recvtype);
    }
    return nbc_start(b, request);
}

int MPI_Iscatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                 MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Iscatter");
    if (c == NULL) return MPI_ERR_COMM;
    int *s = uniform(c->size, sendcount, sendcount);
    int e = MPI_Iscatterv(sendbuf, s, s + c->size, sendtype, recvbuf, recvcount, recvtype, root, comm, request);
    free(s);
    return e;
}

/* Every rank's piece to every other, with per-peer types and byte displacements (alltoallw;
 * the others are made of it). */
static int iexchange(const void *sendbuf, const int *scounts, const long *sdispls, const MPI_Datatype *stypes,
                     void *recvbuf, const int *rcounts, const long *rdispls, const MPI_Datatype *rtypes,
                     MPI_Comm comm, MPI_Request *request, const char *fn) {
    struct comm *c = coll_comm(comm, fn);
    if (c == NULL) return MPI_ERR_COMM;
    int n = c->size, me = c->rank;
    struct nbc *b = nbc_new(c, comm, fn);
    for (int k = 1; k < n; k++) {
        int from = (me - k + n) % n;
        nbc_add(b, 0, 0, (char *)recvbuf + rdispls[from], rcounts[from], rtypes[from], from);
    }
    for (int k = 1; k < n; k++) {
        int to = (me + k) % n;
        nbc_add(b, 0, 1, (const char *)sendbuf + sdispls[to], scounts[to], stypes[to], to);
    }
    if (sendbuf != MPI_IN_PLACE)
        local_copy((const char *)sendbuf + sdispls[me], scounts[me], stypes[me], (char *)recvbuf + rdispls[me],
                   rcounts[me], rtypes[me]);
    return nbc_start(b, request);
}

/* Per-peer arrays for iexchange from a v-call's counts and element displacements. */
struct xargs { long *sd, *rd; MPI_Datatype *st, *rt; };

static struct xargs xargs_of(int n, const int *sdispls, MPI_Datatype stype, const int *rdispls, MPI_Datatype rtype) {
    struct xargs x = {malloc(sizeof(long) * (size_t)n), malloc(sizeof(long) * (size_t)n),
                      malloc(sizeof(MPI_Datatype) * (size_t)n), malloc(sizeof(MPI_Datatype) * (size_t)n)};
    if (!x.sd || !x.rd || !x.st || !x.rt) fatal("MPI (collective)", "out of memory", ENOMEM);
    long se = extent_of(stype), re = extent_of(rtype);
    for (int i = 0; i < n; i++) {
        x.sd[i] = sdispls[i] * se;
        x.rd[i] = rdispls[i] * re;
        x.st[i] = stype;
        x.rt[i] = rtype;
    }
    return x;
}

static void xargs_free(struct xargs x) {
    free(x.sd);
    free(x.rd);
    free(x.st);
    free(x.rt);
}

int MPI_Ialltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype,
                   void *recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm,
                   MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Ialltoallv");
    if (c == NULL) return MPI_ERR_COMM;
    if (sendbuf == MPI_IN_PLACE) return fail(comm, MPI_ERR_ARG, "MPI_Ialltoallv", "MPI_IN_PLACE is not supported");
    struct xargs x = xargs_of(c->size, sdispls, sendtype, rdispls, recvtype);
    int e = iexchange(sendbuf, sendcounts, x.sd, x.st, recvbuf, recvcounts, x.rd, x.rt, comm, request, "MPI_Ialltoallv");
    xargs_free(x);
    return e;
}

int MPI_Ialltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Ialltoall");
    if (c == NULL) return MPI_ERR_COMM;
    int *s = uniform(c->size, sendcount, sendcount), *r = uniform(c->size, recvcount, recvcount);
    int e = MPI_Ialltoallv(sendbuf, s, s + c->size, sendtype, recvbuf, r, r + c->size, recvtype, comm, request);
    free(s);
    free(r);
    return e;
}

static long *byte_displs(int n, const int *displs) {
    long *d = malloc(sizeof(long) * (size_t)n);
    if (d == NULL) fatal("MPI (collective)", "out of memory", ENOMEM);
    for (int i = 0; i < n; i++) d[i] = displs[i];
    return d;
}

int MPI_Ialltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[], const MPI_Datatype sendtypes[],
                   void *recvbuf, const int recvcounts[], const int rdispls[], const MPI_Datatype recvtypes[],
                   MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Ialltoallw");
    if (c == NULL) return MPI_ERR_COMM;
    if (sendbuf == MPI_IN_PLACE) return fail(comm, MPI_ERR_ARG, "MPI_Ialltoallw", "MPI_IN_PLACE is not supported");
    long *sd = byte_displs(c->size, sdispls), *rd = byte_displs(c->size, rdispls);
    int e = iexchange(sendbuf, sendcounts, sd, sendtypes, recvbuf, recvcounts, rd, recvtypes, comm, request,
                      "MPI_Ialltoallw");
    free(sd);
    free(rd);
    return e;
}

int MPI_Alltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[], const MPI_Datatype sendtypes[],
                  void *recvbuf, const int recvcounts[], const int rdispls[], const MPI_Datatype recvtypes[],
                  MPI_Comm comm) {
    MPI_Request r;
    int e = MPI_Ialltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts, rdispls, recvtypes, comm, &r);
    return e != MPI_SUCCESS ? e : MPI_Wait(&r, MPI_STATUS_IGNORE);
}

int MPI_Iallgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                    const int displs[], MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Iallgatherv");
    if (c == NULL) return MPI_ERR_COMM;
    int n = c->size;
    int *s = uniform(n, sendcount, 0);
    const void *src = sendbuf;
    MPI_Datatype st = sendtype;
    if (sendbuf == MPI_IN_PLACE) { /* my piece is in place already: send it from there */
        src = (char *)recvbuf + displs[c->rank] * extent_of(recvtype);
        st = recvtype;
        for (int i = 0; i < n; i++) s[i] = recvcounts[c->rank];
    }
    struct xargs x = xargs_of(n, s + n, st, displs, recvtype);
    int e = iexchange(src, s, x.sd, x.st, recvbuf, recvcounts, x.rd, x.rt, comm, request, "MPI_Iallgatherv");
    xargs_free(x);
    free(s);
    return e;
}

int MPI_Iallgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                   MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request) {
    struct comm *c = coll_comm(comm, "MPI_Iallgather");
    if (c == NULL) return MPI_ERR_COMM;
    int *r = uniform(c->size, recvcount, recvcount);
    int e = MPI_Iallgatherv(sendbuf, sendcount, sendtype, recvbuf, r, r + c->size, recvtype, comm, request);
    free(r);
    return e;
}

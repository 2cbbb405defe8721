/* shoal_mp.h: a small message-passing layer over shoal's IKC, for SPMD programs.
 *
 * A group of `size` processes, each knowing its rank (0..size-1), names itself GROUP.RANK
 * with the name service; after shoal_mp_init every rank can send bytes to and receive
 * bytes from any other (portals: any size, the receiver names the sender), and the group
 * can meet at a barrier (sync signals), broadcast and reduce. Every call returns 0 or a
 * negative errno. Typical use: rank 0 spawns ranks 1..size-1 with shoal_spawn, passing them
 * their rank, and every rank calls shoal_mp_init(&mp, "group", rank, size). */
#ifndef SHOAL_MP_H
#define SHOAL_MP_H

#include <shoal.h>
#include <stdio.h>
#include <time.h>

#define SHOAL_MP_MAX 64
#define SHOAL_MP_PORT 4000 /* ports SHOAL_MP_PORT..+2 are the layer's */

typedef struct {
    int rank, size;
    int pids[SHOAL_MP_MAX];
    int in;                 /* this rank's portal */
    int out[SHOAL_MP_MAX];  /* portals to the others */
    int gather, release;    /* barrier: all-to-one and one-to-all sync endpoints */
    int gather_out, release_in;
} shoal_mp_t;

static inline int shoal_mp_init(shoal_mp_t *mp, const char *group, int rank, int size) {
    char name[96];
    if (size < 1 || size > SHOAL_MP_MAX || rank < 0 || rank >= size) return -22;
    mp->rank = rank;
    mp->size = size;
    mp->in = shoal_portal_create(SHOAL_MP_PORT);
    if (mp->in < 0) return mp->in;
    snprintf(name, sizeof name, "%s.%d", group, rank);
    int r = shoal_name_link(name);
    if (r < 0) return r;
    for (int i = 0; i < size; i++) {
        snprintf(name, sizeof name, "%s.%d", group, i);
        while ((mp->pids[i] = shoal_name_lookup(name)) < 0) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < size; i++) {
        mp->out[i] = i == rank ? -1 : shoal_portal_open(mp->pids[i], SHOAL_MP_PORT);
        if (i != rank && mp->out[i] < 0) return mp->out[i];
    }
    if (size > 1) {
        if (rank == 0) {
            mp->gather = shoal_sync_create(SHOAL_MP_PORT + 1, mp->pids, size, SHOAL_SYNC_ALL_TO_ONE);
            mp->release = shoal_sync_open(SHOAL_MP_PORT + 2, mp->pids, size, SHOAL_SYNC_ONE_TO_ALL);
            if (mp->gather < 0) return mp->gather;
            if (mp->release < 0) return mp->release;
        } else {
            mp->gather_out = shoal_sync_open(SHOAL_MP_PORT + 1, mp->pids, size, SHOAL_SYNC_ALL_TO_ONE);
            mp->release_in = shoal_sync_create(SHOAL_MP_PORT + 2, mp->pids, size, SHOAL_SYNC_ONE_TO_ALL);
            if (mp->gather_out < 0) return mp->gather_out;
            if (mp->release_in < 0) return mp->release_in;
        }
    }
    return 0;
}

/* Send `size` bytes to rank `to`; returns once the receiver has taken them. */
static inline int shoal_mp_send(shoal_mp_t *mp, int to, const void *buf, unsigned size) {
    if (to < 0 || to >= mp->size || to == mp->rank) return -22;
    int r = shoal_portal_write(mp->out[to], buf, size);
    return r < 0 ? r : 0;
}

/* Receive up to `size` bytes from rank `from`; returns the number of bytes received. */
static inline int shoal_mp_recv(shoal_mp_t *mp, int from, void *buf, unsigned size) {
    if (from < 0 || from >= mp->size || from == mp->rank) return -22;
    int r = shoal_portal_allow(mp->in, mp->pids[from]);
    return r < 0 ? r : shoal_portal_read(mp->in, buf, size);
}

static inline int shoal_mp_barrier(shoal_mp_t *mp) {
    if (mp->size == 1) return 0;
    if (mp->rank == 0) {
        int r = shoal_sync_wait(mp->gather);
        return r < 0 ? r : shoal_sync_signal(mp->release);
    }
    int r = shoal_sync_signal(mp->gather_out);
    return r < 0 ? r : shoal_sync_wait(mp->release_in);
}

/* Root's `size` bytes end up in every rank's buffer. */
static inline int shoal_mp_bcast(shoal_mp_t *mp, int root, void *buf, unsigned size) {
    if (mp->rank != root) {
        int r = shoal_mp_recv(mp, root, buf, size);
        return r < 0 ? r : 0;
    }
    for (int i = 0; i < mp->size; i++)
        if (i != root) {
            int r = shoal_mp_send(mp, i, buf, size);
            if (r < 0) return r;
        }
    return 0;
}

/* Element-wise sum of every rank's `n` doubles, into `out` at `root` (in rank order, so the
 * result is the same on every run). */
static inline int shoal_mp_reduce_sum(shoal_mp_t *mp, int root, const double *in, double *out, int n) {
    if (mp->rank != root) return shoal_mp_send(mp, root, in, sizeof(double) * (unsigned)n);
    double tmp[512];
    if (n > 512) return -22;
    for (int j = 0; j < n; j++) out[j] = 0.0;
    for (int i = 0; i < mp->size; i++) {
        const double *src = in;
        if (i != root) {
            int r = shoal_mp_recv(mp, i, tmp, sizeof(double) * (unsigned)n);
            if (r < 0) return r;
            src = tmp;
        }
        for (int j = 0; j < n; j++) out[j] += src[j];
    }
    return 0;
}

#endif

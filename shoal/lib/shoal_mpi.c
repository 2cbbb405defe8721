/* MPI over shoal's IKC (shoal/include/mpi.h), linked by `shoal cc` only into programs that
 * call it (an archive: nothing of it is loaded otherwise).
 *
 * Each rank has one mailbox and one portal (ports MBX_PORT, PORTAL_PORT) and names itself
 * "mpi.JOB.RANK" with the name service; a peer's pid is looked up on first contact, so a
 * rank that migrates keeps being reached (IKC endpoints follow processes).
 *
 * Protocols. A message of at most EAGER_MAX bytes travels whole in one mailbox message
 * (eager). A larger one, or any synchronous send, is a rendezvous: RTS (envelope) -> the
 * receiver matches it with a posted receive and answers CTS -> the sender announces DATA in a
 * mailbox message and writes the bytes to the receiver's portal (one portal transfer).
 *
 * Progress. Mailbox reads and portal reads are blocking calls on the chip, and a portal
 * transfer needs both ends in the kernel, so a single-threaded rank could wait in a portal
 * write for a peer that itself waits in one (two ranks exchanging large messages with
 * Isend/Irecv). So MPI_Init starts one progress thread per rank: it alone reads the mailbox,
 * matches envelopes against posted receives in order (the unexpected ones are queued, in
 * memory without bound, as MPICH does), and does the portal reads, which only start after the
 * sender's DATA notice, that is, once the sender is committed to write.
 *
 * Flow control. Mailboxes are bounded (16 slots by default) and a write to a full one waits
 * until its reader frees a slot. The progress thread never writes: a CTS it owes is queued and
 * written by the thread that calls MPI, in any call that waits or tests (MPI's weak progress,
 * as MPICH's default). So every progress thread drains its mailbox whatever the other ranks
 * do, every blocking write (an envelope, a CTS, DATA, a portal write) ends once the reader's
 * progress thread gets to it, and no cycle of full mailboxes can form, whatever the rank count
 * and slot count. (Credits per peer, as over InfiniBand, bound the receiver's memory instead,
 * but need credit-return messages and a fallback; the kernel's back-pressure on a full
 * mailbox already bounds what is in flight.) Neither thread holds the library's lock across a
 * call that can wait for another process.
 *
 * Ordering: a rank's envelopes leave from one thread in program order and a mailbox write
 * returns once queued at the receiver, so envelopes from one sender are matched in the order
 * sent (MPI's non-overtaking rule), whatever the protocol of each. */
#include <errno.h>
#include <mpi.h>
#include <pthread.h>
#include <shoal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MBX_PORT 7100
#define PORTAL_PORT 7101
#define MAX_TYPES 256
#define MAX_COMMS 64
#define MAX_OPS 32
#define USER_OP0 16

enum { M_EAGER = 1, M_RTS = 2, M_CTS = 3, M_DATA = 4 };
/* What every mailbox message starts with. CTS: id = the sender's request, tag = the
 * receiver's. DATA: id = the receiver's request, size = bytes that follow on the portal (a piece at
 * offset tag; ctx = 1 on the last piece). */
struct hdr { int32_t type, src, tag, ctx, size, id; };
#define HDR ((int)sizeof(struct hdr))
#define EAGER_MAX (SHOAL_MAILBOX_SIZE - HDR)
/* A rendezvous's data goes in portal transfers of at most this: a transfer's pages must all be
 * in the cluster's memory at once (the kernel copies it whole), and a compute cluster holds
 * ~1.8 MiB, so a 2 MiB message in one transfer never ended (its pages evicted each other). */
#define CHUNK (1L << 20)

/* --- state ------------------------------------------------------------------------------- */
static int initialized, finalized, thread_level;
static int world_rank, world_size, job;
static int my_mbx = -1, my_portal = -1;
static pthread_t main_thread;
static pthread_mutex_t L = PTHREAD_MUTEX_INITIALIZER;  /* requests, queues, tables */
static pthread_mutex_t PL = PTHREAD_MUTEX_INITIALIZER; /* the peer table (opens may wait) */
static pthread_cond_t C = PTHREAD_COND_INITIALIZER;    /* something completed or was cleared */
/* A rendezvous's DATA notice and its portal write, back to back (MPI_THREAD_MULTIPLE): the
 * receiver reads its portal for the notice it read last, whatever thread sent it. */
static pthread_mutex_t PW = PTHREAD_MUTEX_INITIALIZER;

/* A peer's pid and the descriptors open to it (-1: closed). Descriptors are a cache: at most
 * max_fds are open (IKC gives a process MAX_ENDPOINTS, two per peer would cap a rank at ~126
 * peers), the least recently used closed first; a closed one is opened again on next use (the
 * pid is kept, so that costs one location look-up). */
struct peer { int pid, mbx, portal; unsigned long used_mbx, used_portal; int busy_mbx, busy_portal; };
static struct peer *peers;
static int open_fds, max_fds;
static unsigned long fd_clock;

/* --- datatypes ---------------------------------------------------------------------------- */
struct block { long disp, len; };
struct dtype {
    int used, committed, basic; /* basic: the one predefined type it is made of, or -1 */
    long size, extent;
    int nblocks;
    struct block *blocks; /* byte blocks of one element, in order */
    long lb;              /* lower bound (MPI_Type_indexed's first displacement) */
    char *name;           /* MPI_Type_set_name's, or NULL */
};
static struct dtype types[MAX_TYPES];

typedef struct { float v; int i; } float_int;
typedef struct { double v; int i; } double_int;
typedef struct { long v; int i; } long_int;
typedef struct { int v; int i; } int_int;
typedef struct { short v; int i; } short_int;
typedef struct { long double v; int i; } ldouble_int;

static const int basic_size[] = {
    [MPI_CHAR] = 1, [MPI_SIGNED_CHAR] = 1, [MPI_UNSIGNED_CHAR] = 1, [MPI_BYTE] = 1,
    [MPI_SHORT] = sizeof(short), [MPI_UNSIGNED_SHORT] = sizeof(short), [MPI_INT] = sizeof(int),
    [MPI_UNSIGNED] = sizeof(unsigned), [MPI_LONG] = sizeof(long), [MPI_UNSIGNED_LONG] = sizeof(long),
    [MPI_LONG_LONG_INT] = sizeof(long long), [MPI_UNSIGNED_LONG_LONG] = sizeof(long long),
    [MPI_FLOAT] = sizeof(float), [MPI_DOUBLE] = sizeof(double), [MPI_LONG_DOUBLE] = sizeof(long double),
    [MPI_WCHAR] = sizeof(int), [MPI_C_BOOL] = sizeof(_Bool), [MPI_INT8_T] = 1, [MPI_INT16_T] = 2,
    [MPI_INT32_T] = 4, [MPI_INT64_T] = 8, [MPI_UINT8_T] = 1, [MPI_UINT16_T] = 2, [MPI_UINT32_T] = 4,
    [MPI_UINT64_T] = 8, [MPI_PACKED] = 1, [MPI_FLOAT_INT] = sizeof(float_int),
    [MPI_DOUBLE_INT] = sizeof(double_int), [MPI_LONG_INT] = sizeof(long_int), [MPI_2INT] = sizeof(int_int),
    [MPI_SHORT_INT] = sizeof(short_int), [MPI_LONG_DOUBLE_INT] = sizeof(ldouble_int),
    [MPI_AINT] = sizeof(MPI_Aint), [MPI_COUNT] = sizeof(MPI_Count), [MPI_OFFSET] = sizeof(MPI_Offset),
};
#define NBASIC ((int)(sizeof basic_size / sizeof basic_size[0]))

static struct dtype *dt_get(MPI_Datatype d) {
    if (d < 0 || d >= MAX_TYPES || !types[d].used) return NULL;
    return &types[d];
}

static int dt_contig(const struct dtype *t) {
    return t->nblocks == 1 && t->blocks[0].disp == 0 && t->blocks[0].len == t->extent;
}

static void pack(char *out, const char *in, int count, const struct dtype *t) {
    for (int i = 0; i < count; i++)
        for (int b = 0; b < t->nblocks; b++) {
            memcpy(out, in + i * t->extent + t->blocks[b].disp, (size_t)t->blocks[b].len);
            out += t->blocks[b].len;
        }
}

/* Unpacks at most `bytes` bytes (a shorter message fills fewer elements). */
static void unpack(char *out, const char *in, int count, const struct dtype *t, long bytes) {
    for (int i = 0; i < count && bytes > 0; i++)
        for (int b = 0; b < t->nblocks && bytes > 0; b++) {
            long n = t->blocks[b].len < bytes ? t->blocks[b].len : bytes;
            memcpy(out + i * t->extent + t->blocks[b].disp, in, (size_t)n);
            in += n;
            bytes -= n;
        }
}

/* --- communicators ----------------------------------------------------------------------- */
struct comm {
    int used, base, rank, size, errh;
    int *world;
    unsigned nbc_seq; /* nonblocking collectives started (their tags) */
    int ndims;        /* a Cartesian topology: ndims dims then ndims periods (shoal_mpi_extra.c) */
    int *cart;
};
static struct comm comms[MAX_COMMS];
static int next_base = 2; /* 0: WORLD, 1: SELF; each base gives contexts 2b (p2p), 2b+1 (collectives) */

static struct comm *comm_get(MPI_Comm c) {
    if (c < 0 || c >= MAX_COMMS || !comms[c].used) return NULL;
    return &comms[c];
}

static int comm_rank_of(const struct comm *c, int wrank) {
    for (int i = 0; i < c->size; i++)
        if (c->world[i] == wrank) return i;
    return MPI_UNDEFINED;
}

/* --- errors ------------------------------------------------------------------------------- */
static const char *err_text(int code) {
    static const char *t[] = {
        "No MPI error", "Invalid buffer pointer", "Invalid count", "Invalid datatype", "Invalid tag",
        "Invalid communicator", "Invalid rank", "Invalid root", "Invalid group", "Invalid operation",
        "Invalid topology", "Invalid dimension argument", "Invalid argument", "Unknown error",
        "Message truncated", "Other MPI error", "Internal MPI error", "Error code is in status",
        "Pending request", "Invalid request"};
    if (code == MPI_ERR_WIN) return "Invalid window";
    if (code == MPI_ERR_UNSUPPORTED_OPERATION) return "Unsupported operation";
    return code >= 0 && code < (int)(sizeof t / sizeof t[0]) ? t[code] : "Unknown error class";
}

/* The communicator's error handler: return the code, or end the rank with one line. */
static int fail(MPI_Comm c, int code, const char *fn, const char *what) {
    struct comm *cm = comm_get(c);
    if (cm != NULL && cm->errh == MPI_ERRORS_RETURN) return code;
    fprintf(stderr, "Fatal error in %s: %s, %s\n", fn, err_text(code), what);
    fflush(stdout);
    exit(code & 0xff ? code & 0xff : 1);
}

static void fatal(const char *fn, const char *what, int e) {
    fprintf(stderr, "Fatal error in %s: Other MPI error, %s (error %d)\n", fn, what, e);
    fflush(stdout);
    exit(15);
}

/* --- peers -------------------------------------------------------------------------------- */
static int peer_pid(int w) {
    pthread_mutex_lock(&PL);
    int pid = peers[w].pid;
    if (pid <= 0) {
        char name[64];
        snprintf(name, sizeof name, "mpi.%d.%d", job, w);
        /* Every rank links its name in MPI_Init; one that has not yet is waited for, with
         * growing naps (20 us to 1 ms), up to 2 s of simulated time: a rank that never gets
         * there (it failed before MPI_Init) ends this one too. */
        long waited = 0, nap = 20000;
        while ((pid = shoal_name_lookup(name)) < 0) {
            if (waited >= 2000000000L) fatal("MPI (peer lookup)", "a rank never called MPI_Init", pid);
            struct timespec ts = {0, nap};
            nanosleep(&ts, NULL);
            waited += nap;
            nap = nap * 2 > 1000000 ? 1000000 : nap * 2;
        }
        peers[w].pid = pid;
    }
    pthread_mutex_unlock(&PL);
    return pid;
}

/* With PL held: close the least recently used descriptor to a peer that no thread is writing
 * on. 0 if none. */
static int evict_one(void) {
    int best = -1, portal = 0;
    unsigned long oldest = ~0UL;
    for (int i = 0; i < world_size; i++) {
        if (peers[i].mbx >= 0 && !peers[i].busy_mbx && peers[i].used_mbx < oldest) {
            oldest = peers[i].used_mbx; best = i; portal = 0;
        }
        if (peers[i].portal >= 0 && !peers[i].busy_portal && peers[i].used_portal < oldest) {
            oldest = peers[i].used_portal; best = i; portal = 1;
        }
    }
    if (best < 0) return 0;
    int *fd = portal ? &peers[best].portal : &peers[best].mbx;
    if (portal) shoal_portal_close(*fd); else shoal_mailbox_close(*fd);
    *fd = -1;
    open_fds--;
    return 1;
}

/* A descriptor to world rank w's mailbox or portal, held (not closed by another thread's
 * eviction) until peer_put. The progress thread writes nothing. */
static int peer_fd(int w, int portal) {
    int pid = peer_pid(w);
    pthread_mutex_lock(&PL);
    int *fd = portal ? &peers[w].portal : &peers[w].mbx;
    if (*fd < 0) {
        if (open_fds >= max_fds) evict_one();
        for (;;) {
            *fd = portal ? shoal_portal_open(pid, PORTAL_PORT) : shoal_mailbox_open(pid, MBX_PORT);
            if (*fd != -EMFILE || !evict_one()) break; /* the program's own endpoints took room */
        }
        if (*fd < 0) {
            int e = *fd;
            *fd = -1;
            pthread_mutex_unlock(&PL);
            fatal("MPI (open)", "cannot reach a rank", e);
        }
        open_fds++;
    }
    *(portal ? &peers[w].used_portal : &peers[w].used_mbx) = ++fd_clock;
    (*(portal ? &peers[w].busy_portal : &peers[w].busy_mbx))++;
    int r = *fd;
    pthread_mutex_unlock(&PL);
    return r;
}

static void peer_put(int w, int portal) {
    pthread_mutex_lock(&PL);
    (*(portal ? &peers[w].busy_portal : &peers[w].busy_mbx))--;
    pthread_mutex_unlock(&PL);
}

/* One mailbox message to world rank `w`; waits only for its kernel's acknowledgement. */
static void send_msg(int w, const struct hdr *h, const void *data, int n) {
    unsigned char m[SHOAL_MAILBOX_SIZE];
    memcpy(m, h, HDR);
    if (n > 0) memcpy(m + HDR, data, (size_t)n);
    int r = shoal_mailbox_write(peer_fd(w, 0), m, (unsigned)(HDR + n));
    peer_put(w, 0);
    if (r < 0) fatal("MPI (mailbox write)", "a rank is gone", r);
}

/* --- requests ----------------------------------------------------------------------------- */
enum { R_SEND = 1, R_RECV = 2, R_COLL = 3 }; /* R_COLL: a nonblocking collective (shoal_mpi_nbc.c) */
struct nbc;
static int cart_set(MPI_Comm comm, int ndims, const int *dims, const int *periods);
static void nbc_free(struct nbc *b);
static void nbc_poke(void);
static int nbc_movable(void);
static struct nbc *nbc_active;
struct req {
    int id, kind, done, freed, bsend, cleared;
    int peer, tag, ctx;    /* send: destination world rank; recv: source world rank or ANY */
    MPI_Comm comm;
    void *ubuf;            /* the user's buffer, its count and type */
    int count;
    MPI_Datatype dt;
    char *pbuf;            /* the bytes sent, or where they land */
    long pbytes;           /* their number (recv: room) */
    int own;               /* pbuf is ours to free */
    int rreq;              /* send: the receiver's request (from CTS) */
    MPI_Status st;
    struct req *next;      /* posted receives, or sends cleared to write */
    struct nbc *nbc;       /* R_COLL: its schedule */
};
static struct req **reqs;
static int nreqs;
static struct req *posted, *posted_tail, *cleared, *cleared_tail;
static int bsend_pending, bsend_size;
static void *bsend_buf;

struct unexp { struct hdr h; int len; struct unexp *next; unsigned char data[]; };
static struct unexp *unexp_head, *unexp_tail;

/* Control messages the progress thread produced (CTS), for the calling thread to write. */
struct ctl { int dest; struct hdr h; struct ctl *next; };
static struct ctl *ctl_head, *ctl_tail;

static struct req *req_new(int kind) {
    int id = 0;
    while (id < nreqs && reqs[id] != NULL) id++;
    if (id == nreqs) {
        int n = nreqs ? 2 * nreqs : 64;
        struct req **r = realloc(reqs, sizeof *r * (size_t)n);
        if (r == NULL) fatal("MPI (request)", "out of memory", ENOMEM);
        for (int i = nreqs; i < n; i++) r[i] = NULL;
        reqs = r;
        nreqs = n;
    }
    struct req *q = calloc(1, sizeof *q);
    if (q == NULL) fatal("MPI (request)", "out of memory", ENOMEM);
    q->id = id;
    q->kind = kind;
    reqs[id] = q;
    return q;
}

static void req_release(struct req *q) {
    if (q->own) free(q->pbuf);
    if (q->nbc) nbc_free(q->nbc);
    if (q->bsend) bsend_pending--;
    reqs[q->id] = NULL;
    free(q);
}

static struct req *req_get(MPI_Request r) {
    return r >= 0 && r < nreqs ? reqs[r] : NULL;
}

/* req_get for a caller without L (the table may grow under another thread). */
static struct req *req_lookup(MPI_Request r) {
    pthread_mutex_lock(&L);
    struct req *q = req_get(r);
    pthread_mutex_unlock(&L);
    return q;
}

/* Called with L held. A receive's bytes are in pbuf: put them in the user's layout. */
static void complete(struct req *q) {
    if (q->kind == R_RECV && q->own && q->st.count_bytes > 0)
        unpack(q->ubuf, q->pbuf, q->count, dt_get(q->dt), q->st.count_bytes);
    q->done = 1;
    if (q->freed) req_release(q);
    pthread_cond_broadcast(&C);
}

static int env_match(const struct req *q, const struct hdr *h) {
    return q->ctx == h->ctx && (q->peer == MPI_ANY_SOURCE || q->peer == h->src) &&
           (q->tag == MPI_ANY_TAG || q->tag == h->tag);
}

/* A receive matched an envelope (L held): eager data lands now; a rendezvous gets its status
 * and the caller sends CTS. */
static void matched(struct req *q, const struct hdr *h, const void *data, int len) {
    struct comm *c = comm_get(q->comm);
    long size = h->type == M_EAGER ? len : h->size;
    q->st.MPI_SOURCE = c ? comm_rank_of(c, h->src) : h->src;
    q->st.MPI_TAG = h->tag;
    q->st.count_bytes = (int)(size < q->pbytes ? size : q->pbytes);
    q->st.MPI_ERROR = size > q->pbytes ? MPI_ERR_TRUNCATE : MPI_SUCCESS;
    q->peer = h->src;
    if (h->type == M_EAGER) {
        memcpy(q->pbuf, data, (size_t)q->st.count_bytes);
        complete(q);
    }
}

/* --- the progress thread ------------------------------------------------------------------ */
static void on_envelope(const struct hdr *h, const unsigned char *data, int len) {
    pthread_mutex_lock(&L);
    struct req *q = posted, *prev = NULL;
    while (q != NULL && !env_match(q, h)) {
        prev = q;
        q = q->next;
    }
    if (q == NULL) {
        struct unexp *u = malloc(sizeof *u + (size_t)len);
        if (u == NULL) fatal("MPI (receive)", "out of memory for an unexpected message", ENOMEM);
        u->h = *h;
        u->len = len;
        u->next = NULL;
        memcpy(u->data, data, (size_t)len);
        if (unexp_tail) unexp_tail->next = u; else unexp_head = u;
        unexp_tail = u;
        pthread_cond_broadcast(&C); /* a probe may be waiting */
        pthread_mutex_unlock(&L);
        return;
    }
    if (prev) prev->next = q->next; else posted = q->next;
    if (posted_tail == q) posted_tail = prev;
    q->next = NULL;
    matched(q, h, data, len);
    if (h->type == M_RTS) { /* CTS: queued for the calling thread, never written from here */
        struct ctl *c = malloc(sizeof *c);
        if (c == NULL) fatal("MPI (receive)", "out of memory for a clear-to-send", ENOMEM);
        *c = (struct ctl){h->src, {M_CTS, world_rank, q->id, 0, 0, h->id}, NULL};
        if (ctl_tail) ctl_tail->next = c; else ctl_head = c;
        ctl_tail = c;
        pthread_cond_broadcast(&C);
    }
    pthread_mutex_unlock(&L);
}

/* One piece of a rendezvous: `size` bytes at offset `tag`; `ctx` is 1 on the last. What lies
 * beyond the receive buffer (a truncated message) is read into nothing. */
static void on_data(const struct hdr *h) {
    pthread_mutex_lock(&L);
    struct req *q = req_get(h->id);
    pthread_mutex_unlock(&L);
    if (q == NULL) fatal("MPI (rendezvous)", "data for an unknown request", EINVAL);
    if (h->size > 0) {
        long room = q->pbytes - h->tag;
        room = room < 0 ? 0 : room > h->size ? h->size : room;
        int pid = peer_pid(h->src);
        int r = shoal_portal_allow(my_portal, pid);
        if (r >= 0) r = shoal_portal_read(my_portal, q->pbuf + (room ? h->tag : 0), (unsigned)room);
        if (r < 0) fatal("MPI (portal read)", "a transfer failed", r);
    }
    if (!h->ctx) return;
    pthread_mutex_lock(&L);
    complete(q);
    pthread_mutex_unlock(&L);
}

static void *progress(void *arg) {
    (void)arg;
    unsigned char m[SHOAL_MAILBOX_SIZE];
    for (;;) {
        int n = shoal_mailbox_read(my_mbx, m, sizeof m);
        if (n == -EINTR) continue;
        if (n < 0) fatal("MPI (progress)", "mailbox read failed", n);
        if (n < HDR) continue;
        struct hdr h;
        memcpy(&h, m, HDR);
        if (h.type == M_EAGER || h.type == M_RTS) {
            on_envelope(&h, m + HDR, n - HDR);
        } else if (h.type == M_CTS) {
            pthread_mutex_lock(&L);
            struct req *q = req_get(h.id);
            if (q != NULL && q->kind == R_SEND && !q->done) {
                q->rreq = h.tag;
                q->cleared = 1;
                q->next = NULL;
                if (cleared_tail) cleared_tail->next = q; else cleared = q;
                cleared_tail = q;
                pthread_cond_broadcast(&C);
            }
            pthread_mutex_unlock(&L);
        } else if (h.type == M_DATA) {
            on_data(&h);
        }
    }
    return NULL;
}

/* The calling thread's share (L held, released while writing): the CTS the progress thread
 * queued, then the rendezvous sends that were cleared, go out. */
static void progress_sends(void) {
    for (;;) { /* until both are empty: either may grow while L is released for a write */
        if (ctl_head != NULL) {
            struct ctl *c = ctl_head;
            ctl_head = c->next;
            if (ctl_head == NULL) ctl_tail = NULL;
            pthread_mutex_unlock(&L);
            send_msg(c->dest, &c->h, NULL, 0);
            free(c);
            pthread_mutex_lock(&L);
        } else if (cleared != NULL) {
            struct req *q = cleared;
            cleared = q->next;
            if (cleared == NULL) cleared_tail = NULL;
            pthread_mutex_unlock(&L);
            long off = 0;
            do { /* pieces of at most CHUNK: each fits in a cluster's memory (see CHUNK) */
                long n = q->pbytes - off < CHUNK ? q->pbytes - off : CHUNK;
                struct hdr h = {M_DATA, world_rank, (int32_t)off, off + n >= q->pbytes, (int32_t)n, q->rreq};
                pthread_mutex_lock(&PW);
                send_msg(q->peer, &h, NULL, 0);
                if (n > 0) {
                    int r = shoal_portal_write(peer_fd(q->peer, 1), q->pbuf + off, (unsigned)n);
                    peer_put(q->peer, 1);
                    if (r < 0) fatal("MPI (portal write)", "a transfer failed", r);
                }
                pthread_mutex_unlock(&PW);
                off += n;
            } while (off < q->pbytes);
            pthread_mutex_lock(&L);
            complete(q);
        } else {
            return;
        }
    }
}

/* --- init, finalize ----------------------------------------------------------------------- */
static void def_basic(void) {
    static struct block b[NBASIC];
    for (int i = 0; i < NBASIC; i++) {
        b[i].disp = 0;
        b[i].len = basic_size[i];
        types[i] = (struct dtype){1, 1, i, basic_size[i], basic_size[i], 1, &b[i]};
    }
}

static int env_int(const char *name, int dflt) {
    const char *s = getenv(name);
    return s && *s ? atoi(s) : dflt;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided) {
    (void)argc;
    (void)argv;
    if (initialized) return fail(MPI_COMM_WORLD, MPI_ERR_OTHER, "MPI_Init", "called twice");
    world_size = env_int("SHOAL_MPI_SIZE", 1);
    world_rank = env_int("SHOAL_MPI_RANK", 0);
    job = env_int("SHOAL_MPI_JOB", getpid());
    if (world_size < 1 || world_rank < 0 || world_rank >= world_size)
        fatal("MPI_Init", "bad SHOAL_MPI_RANK/SHOAL_MPI_SIZE", EINVAL);
    thread_level = required < MPI_THREAD_MULTIPLE ? required : MPI_THREAD_MULTIPLE;
    if (provided) *provided = thread_level;
    main_thread = pthread_self();
    def_basic();
    peers = malloc(sizeof *peers * (size_t)world_size);
    if (peers == NULL) fatal("MPI_Init", "out of memory", ENOMEM);
    for (int i = 0; i < world_size; i++) peers[i] = (struct peer){0, -1, -1, 0, 0, 0, 0};
    max_fds = env_int("SHOAL_MPI_PEER_FDS", 128); /* descriptors to peers kept open (>= 2) */
    if (max_fds < 2) max_fds = 2;
    peers[world_rank].pid = getpid();
    static int self_world;
    self_world = world_rank;
    int *w = malloc(sizeof *w * (size_t)world_size);
    if (w == NULL) fatal("MPI_Init", "out of memory", ENOMEM);
    for (int i = 0; i < world_size; i++) w[i] = i;
    comms[MPI_COMM_WORLD] = (struct comm){1, 0, world_rank, world_size, MPI_ERRORS_ARE_FATAL, w};
    comms[MPI_COMM_SELF] = (struct comm){1, 1, 0, 1, MPI_ERRORS_ARE_FATAL, &self_world};
    my_mbx = shoal_mailbox_create(MBX_PORT);
    my_portal = shoal_portal_create(PORTAL_PORT);
    if (my_mbx < 0 || my_portal < 0) fatal("MPI_Init", "cannot create the rank's endpoints", my_mbx < 0 ? my_mbx : my_portal);
    char name[64];
    snprintf(name, sizeof name, "mpi.%d.%d", job, world_rank);
    int r = shoal_name_link(name);
    if (r < 0) fatal("MPI_Init", "cannot name the rank", r);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 16384);
    pthread_t t;
    r = pthread_create(&t, &a, progress, NULL);
    pthread_attr_destroy(&a);
    if (r != 0) fatal("MPI_Init", "cannot start the progress thread", r);
    initialized = 1;
    return MPI_SUCCESS;
}

int MPI_Init(int *argc, char ***argv) {
    int p;
    return MPI_Init_thread(argc, argv, MPI_THREAD_SINGLE, &p);
}

int MPI_Finalize(void) {
    if (!initialized || finalized) return fail(MPI_COMM_WORLD, MPI_ERR_OTHER, "MPI_Finalize", "MPI is not running");
    MPI_Barrier(MPI_COMM_WORLD); /* nobody leaves while another may still send to it */
    finalized = 1;
    fflush(stdout);
    return MPI_SUCCESS;
}

int MPI_Initialized(int *flag) { *flag = initialized; return MPI_SUCCESS; }
int MPI_Finalized(int *flag) { *flag = finalized; return MPI_SUCCESS; }
int MPI_Query_thread(int *provided) { *provided = thread_level; return MPI_SUCCESS; }
int MPI_Is_thread_main(int *flag) { *flag = pthread_equal(pthread_self(), main_thread); return MPI_SUCCESS; }

int MPI_Abort(MPI_Comm comm, int errorcode) {
    (void)comm;
    fflush(stdout);
    fflush(stderr);
    _exit(errorcode & 0xff ? errorcode & 0xff : 1); /* shoal mpirun ends the other ranks */
}

int MPI_Get_version(int *version, int *subversion) {
    *version = MPI_VERSION;
    *subversion = MPI_SUBVERSION;
    return MPI_SUCCESS;
}

int MPI_Get_library_version(char *version, int *resultlen) {
    *resultlen = snprintf(version, MPI_MAX_LIBRARY_VERSION_STRING, "shoal MPI (over IKC)");
    return MPI_SUCCESS;
}

int MPI_Get_processor_name(char *name, int *resultlen) {
    *resultlen = snprintf(name, MPI_MAX_PROCESSOR_NAME, "cluster%d", shoal_cluster());
    return MPI_SUCCESS;
}

double MPI_Wtime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the chip's simulated clock */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double MPI_Wtick(void) {
    struct timespec ts;
    if (clock_getres(CLOCK_MONOTONIC, &ts) != 0 || (ts.tv_sec == 0 && ts.tv_nsec == 0)) return 1e-9;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int MPI_Error_string(int errorcode, char *string, int *resultlen) {
    *resultlen = snprintf(string, MPI_MAX_ERROR_STRING, "%s", err_text(errorcode));
    return MPI_SUCCESS;
}

int MPI_Error_class(int errorcode, int *errorclass) {
    *errorclass = errorcode;
    return MPI_SUCCESS;
}

int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler) {
    struct comm *c = comm_get(comm);
    if (c == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Comm_set_errhandler", "invalid communicator");
    if (errhandler != MPI_ERRORS_ARE_FATAL && errhandler != MPI_ERRORS_RETURN)
        return fail(comm, MPI_ERR_ARG, "MPI_Comm_set_errhandler", "invalid error handler");
    c->errh = errhandler;
    return MPI_SUCCESS;
}

int MPI_Comm_get_errhandler(MPI_Comm comm, MPI_Errhandler *errhandler) {
    struct comm *c = comm_get(comm);
    if (c == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Comm_get_errhandler", "invalid communicator");
    *errhandler = c->errh;
    return MPI_SUCCESS;
}

int MPI_Comm_call_errhandler(MPI_Comm comm, int errorcode) {
    return fail(comm, errorcode, "MPI_Comm_call_errhandler", "called by the program");
}

int MPI_Errhandler_free(MPI_Errhandler *errhandler) {
    *errhandler = MPI_ERRHANDLER_NULL;
    return MPI_SUCCESS;
}

int MPI_Comm_get_attr(MPI_Comm comm, int keyval, void *attribute_val, int *flag) {
    static int tag_ub = MPI_TAG_UB_VALUE, global = 1;
    (void)comm;
    *flag = 1;
    if (keyval == MPI_TAG_UB) *(int **)attribute_val = &tag_ub;
    else if (keyval == MPI_WTIME_IS_GLOBAL) *(int **)attribute_val = &global;
    else *flag = 0;
    return MPI_SUCCESS;
}

/* --- point to point ----------------------------------------------------------------------- */
#define CHECK_INIT(fn) \
    if (!initialized || finalized) fatal(fn, "MPI is not running (call MPI_Init first)", EINVAL)

/* Starts a send: an eager one is over when this returns (*out = NULL). `coll` picks the
 * communicator's collective context; `sync` forces a rendezvous (Ssend). */
static int start_send(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
                      int coll, int sync, int bsend, struct req **out, const char *fn) {
    CHECK_INIT(fn);
    *out = NULL;
    struct comm *c = comm_get(comm);
    if (c == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, fn, "invalid communicator");
    struct dtype *t = dt_get(dt);
    if (t == NULL || !t->committed) return fail(comm, MPI_ERR_TYPE, fn, "invalid datatype");
    if (count < 0) return fail(comm, MPI_ERR_COUNT, fn, "negative count");
    if (tag < 0 && !coll) return fail(comm, MPI_ERR_TAG, fn, "invalid tag");
    if (dest == MPI_PROC_NULL) return MPI_SUCCESS;
    if (dest < 0 || dest >= c->size) {
        char what[80];
        snprintf(what, sizeof what, "destination rank %d is not in 0..%d", dest, c->size - 1);
        return fail(comm, MPI_ERR_RANK, fn, what);
    }
    if (count > 0 && buf == NULL && t->size > 0) return fail(comm, MPI_ERR_BUFFER, fn, "null buffer");
    long bytes = (long)count * t->size;
    int w = c->world[dest];
    int ctx = 2 * c->base + coll;
    if (bytes <= EAGER_MAX && !sync) {
        unsigned char tmp[EAGER_MAX];
        const void *data = buf;
        if (!dt_contig(t)) {
            pack((char *)tmp, buf, count, t);
            data = tmp;
        }
        struct hdr h = {M_EAGER, world_rank, tag, ctx, (int32_t)bytes, -1};
        send_msg(w, &h, data, (int)bytes);
        return MPI_SUCCESS;
    }
    char *p = (char *)buf;
    int own = 0;
    if (!dt_contig(t) || bsend) {
        p = malloc((size_t)bytes);
        if (p == NULL) return fail(comm, MPI_ERR_BUFFER, fn, "out of memory to pack the message");
        pack(p, buf, count, t);
        own = 1;
    }
    pthread_mutex_lock(&L);
    struct req *q = req_new(R_SEND);
    q->peer = w;
    q->tag = tag;
    q->ctx = ctx;
    q->comm = comm;
    q->pbuf = p;
    q->pbytes = bytes;
    q->own = own;
    q->bsend = bsend;
    if (bsend) bsend_pending++;
    int id = q->id;
    pthread_mutex_unlock(&L);
    struct hdr h = {M_RTS, world_rank, tag, ctx, (int32_t)bytes, id};
    send_msg(w, &h, NULL, 0);
    *out = q;
    return MPI_SUCCESS;
}

static int start_recv(void *buf, int count, MPI_Datatype dt, int source, int tag, MPI_Comm comm,
                      int coll, struct req **out, const char *fn) {
    CHECK_INIT(fn);
    *out = NULL;
    struct comm *c = comm_get(comm);
    if (c == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, fn, "invalid communicator");
    struct dtype *t = dt_get(dt);
    if (t == NULL || !t->committed) return fail(comm, MPI_ERR_TYPE, fn, "invalid datatype");
    if (count < 0) return fail(comm, MPI_ERR_COUNT, fn, "negative count");
    if (tag < 0 && tag != MPI_ANY_TAG && !coll) return fail(comm, MPI_ERR_TAG, fn, "invalid tag");
    if (source != MPI_ANY_SOURCE && source != MPI_PROC_NULL && (source < 0 || source >= c->size))
    {
        char what[80];
        snprintf(what, sizeof what, "source rank %d is not in 0..%d", source, c->size - 1);
        return fail(comm, MPI_ERR_RANK, fn, what);
    }
    if (count > 0 && buf == NULL && t->size > 0) return fail(comm, MPI_ERR_BUFFER, fn, "null buffer");
    pthread_mutex_lock(&L);
    struct req *q = req_new(R_RECV);
    q->comm = comm;
    q->ctx = 2 * c->base + coll;
    q->tag = tag;
    q->ubuf = buf;
    q->count = count;
    q->dt = dt;
    q->pbytes = (long)count * t->size;
    if (source == MPI_PROC_NULL) {
        q->st = (MPI_Status){MPI_PROC_NULL, MPI_ANY_TAG, MPI_SUCCESS, 0, 0};
        q->done = 1;
        pthread_mutex_unlock(&L);
        *out = q;
        return MPI_SUCCESS;
    }
    q->peer = source == MPI_ANY_SOURCE ? MPI_ANY_SOURCE : c->world[source];
    if (dt_contig(t)) {
        q->pbuf = buf;
    } else {
        q->pbuf = malloc((size_t)q->pbytes + 1);
        if (q->pbuf == NULL) {
            req_release(q);
            pthread_mutex_unlock(&L);
            return fail(comm, MPI_ERR_BUFFER, fn, "out of memory to unpack the message");
        }
        q->own = 1;
    }
    /* An envelope that came before the receive was posted? The first that matches. */
    struct unexp *u = unexp_head, *prev = NULL;
    while (u != NULL && !env_match(q, &u->h)) {
        prev = u;
        u = u->next;
    }
    if (u == NULL) {
        if (posted_tail) posted_tail->next = q; else posted = q;
        posted_tail = q;
        pthread_mutex_unlock(&L);
        *out = q;
        return MPI_SUCCESS;
    }
    if (prev) prev->next = u->next; else unexp_head = u->next;
    if (unexp_tail == u) unexp_tail = prev;
    matched(q, &u->h, u->data, u->len);
    pthread_mutex_unlock(&L);
    if (u->h.type == M_RTS) {
        struct hdr h = {M_CTS, world_rank, q->id, 0, 0, u->h.id};
        send_msg(u->h.src, &h, NULL, 0);
    }
    free(u);
    *out = q;
    return MPI_SUCCESS;
}

/* Waits for one request (L not held); fills the status, releases it. Returns its error. */
static int finish(struct req *q, MPI_Status *status) {
    nbc_poke();
    pthread_mutex_lock(&L);
    for (;;) {
        progress_sends();
        if (q->done) break;
        if (nbc_active != NULL && nbc_movable()) { /* a collective in flight can move on */
            pthread_mutex_unlock(&L);
            nbc_poke();
            pthread_mutex_lock(&L);
            continue;
        }
        pthread_cond_wait(&C, &L);
    }
    int e = q->kind == R_SEND ? MPI_SUCCESS : q->st.MPI_ERROR;
    if (status != MPI_STATUS_IGNORE) {
        if (q->kind != R_SEND) *status = q->st;
        else status->MPI_ERROR = MPI_SUCCESS;
    }
    req_release(q);
    pthread_mutex_unlock(&L);
    return e;
}

static int p2p_err(MPI_Comm comm, int e, const char *fn) {
    return e == MPI_SUCCESS ? e : fail(comm, e, fn, e == MPI_ERR_TRUNCATE ? "message longer than the receive buffer" : "request failed");
}

static int do_send(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm, int sync,
                   const char *fn) {
    struct req *q;
    int e = start_send(buf, count, dt, dest, tag, comm, 0, sync, 0, &q, fn);
    if (e != MPI_SUCCESS || q == NULL) return e;
    return finish(q, MPI_STATUS_IGNORE);
}

int MPI_Send(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm) {
    return do_send(buf, count, dt, dest, tag, comm, 0, "MPI_Send");
}
int MPI_Ssend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm) {
    return do_send(buf, count, dt, dest, tag, comm, 1, "MPI_Ssend");
}
int MPI_Rsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm) {
    return do_send(buf, count, dt, dest, tag, comm, 0, "MPI_Rsend");
}

int MPI_Buffer_attach(void *buffer, int size) {
    if (bsend_buf != NULL) return fail(MPI_COMM_WORLD, MPI_ERR_BUFFER, "MPI_Buffer_attach", "a buffer is attached");
    bsend_buf = buffer;
    bsend_size = size;
    return MPI_SUCCESS;
}

int MPI_Buffer_detach(void *buffer_addr, int *size) {
    pthread_mutex_lock(&L);
    for (;;) { /* every buffered send goes out first */
        progress_sends();
        if (bsend_pending == 0) break;
        pthread_cond_wait(&C, &L);
    }
    pthread_mutex_unlock(&L);
    *(void **)buffer_addr = bsend_buf;
    *size = bsend_size;
    bsend_buf = NULL;
    bsend_size = 0;
    return MPI_SUCCESS;
}

/* Buffered: the message is copied (the library's memory stands for the attached buffer,
 * whose size is checked), so the call returns at once. */
static int do_bsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
                    struct req **out, const char *fn) {
    struct dtype *t = dt_get(dt);
    if (t != NULL && count >= 0 && (long)count * t->size + MPI_BSEND_OVERHEAD > bsend_size)
        return fail(comm, MPI_ERR_BUFFER, fn, "the attached buffer is too small");
    int e = start_send(buf, count, dt, dest, tag, comm, 0, 0, 1, out, fn);
    return e;
}

int MPI_Bsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm) {
    struct req *q;
    int e = do_bsend(buf, count, dt, dest, tag, comm, &q, "MPI_Bsend");
    if (e == MPI_SUCCESS && q != NULL) {
        pthread_mutex_lock(&L);
        if (q->done) req_release(q); else q->freed = 1;
        pthread_mutex_unlock(&L);
    }
    return e;
}

/* A request handle for a send that is over already (eager, PROC_NULL). */
static MPI_Request done_send(void) {
    pthread_mutex_lock(&L);
    struct req *q = req_new(R_SEND);
    q->done = 1;
    int id = q->id;
    pthread_mutex_unlock(&L);
    return id;
}

static int isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm, int sync,
                 MPI_Request *request, const char *fn) {
    struct req *q;
    int e = start_send(buf, count, dt, dest, tag, comm, 0, sync, 0, &q, fn);
    if (e != MPI_SUCCESS) return e;
    *request = q ? q->id : done_send();
    return MPI_SUCCESS;
}

int MPI_Isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm, MPI_Request *request) {
    return isend(buf, count, dt, dest, tag, comm, 0, request, "MPI_Isend");
}
int MPI_Issend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm, MPI_Request *request) {
    return isend(buf, count, dt, dest, tag, comm, 1, request, "MPI_Issend");
}
int MPI_Irsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm, MPI_Request *request) {
    return isend(buf, count, dt, dest, tag, comm, 0, request, "MPI_Irsend");
}
int MPI_Ibsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm, MPI_Request *request) {
    struct req *q;
    int e = do_bsend(buf, count, dt, dest, tag, comm, &q, "MPI_Ibsend");
    if (e != MPI_SUCCESS) return e;
    *request = q ? q->id : done_send();
    return MPI_SUCCESS;
}

int MPI_Recv(void *buf, int count, MPI_Datatype dt, int source, int tag, MPI_Comm comm, MPI_Status *status) {
    struct req *q;
    int e = start_recv(buf, count, dt, source, tag, comm, 0, &q, "MPI_Recv");
    if (e != MPI_SUCCESS) return e;
    return p2p_err(comm, finish(q, status), "MPI_Recv");
}

int MPI_Irecv(void *buf, int count, MPI_Datatype dt, int source, int tag, MPI_Comm comm, MPI_Request *request) {
    struct req *q;
    int e = start_recv(buf, count, dt, source, tag, comm, 0, &q, "MPI_Irecv");
    if (e != MPI_SUCCESS) return e;
    *request = q->id;
    return MPI_SUCCESS;
}

int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag,
                 void *recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag,
                 MPI_Comm comm, MPI_Status *status) {
    struct req *r, *s;
    int e = start_recv(recvbuf, recvcount, recvtype, source, recvtag, comm, 0, &r, "MPI_Sendrecv");
    if (e != MPI_SUCCESS) return e;
    e = start_send(sendbuf, sendcount, sendtype, dest, sendtag, comm, 0, 0, 0, &s, "MPI_Sendrecv");
    if (e != MPI_SUCCESS) return e;
    if (s != NULL) finish(s, MPI_STATUS_IGNORE);
    return p2p_err(comm, finish(r, status), "MPI_Sendrecv");
}

int MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype dt, int dest, int sendtag, int source,
                         int recvtag, MPI_Comm comm, MPI_Status *status) {
    struct dtype *t = dt_get(dt);
    if (t == NULL) return fail(comm, MPI_ERR_TYPE, "MPI_Sendrecv_replace", "invalid datatype");
    size_t n = count > 0 ? (size_t)count * (size_t)t->extent : 1;
    void *tmp = malloc(n);
    if (tmp == NULL) return fail(comm, MPI_ERR_BUFFER, "MPI_Sendrecv_replace", "out of memory");
    if (count > 0) memcpy(tmp, buf, n);
    int e = MPI_Sendrecv(tmp, count, dt, dest, sendtag, buf, count, dt, source, recvtag, comm, status);
    free(tmp);
    return e;
}

/* --- completion --------------------------------------------------------------------------- */
static void empty_status(MPI_Status *s) {
    if (s != MPI_STATUS_IGNORE) *s = (MPI_Status){MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_SUCCESS, 0, 0};
}

int MPI_Wait(MPI_Request *request, MPI_Status *status) {
    if (*request == MPI_REQUEST_NULL) {
        empty_status(status);
        return MPI_SUCCESS;
    }
    struct req *q = req_lookup(*request);
    if (q == NULL || q->freed) return fail(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Wait", "invalid request");
    MPI_Comm comm = q->comm;
    *request = MPI_REQUEST_NULL;
    return p2p_err(comm, finish(q, status), "MPI_Wait");
}

int MPI_Waitall(int count, MPI_Request requests[], MPI_Status statuses[]) {
    int err = 0;
    for (int i = 0; i < count; i++) {
        MPI_Status tmp, *s = statuses == MPI_STATUSES_IGNORE ? &tmp : &statuses[i];
        if (requests[i] == MPI_REQUEST_NULL) {
            empty_status(s);
            continue;
        }
        struct req *q = req_lookup(requests[i]);
        if (q == NULL || q->freed) return fail(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Waitall", "invalid request");
        requests[i] = MPI_REQUEST_NULL;
        s->MPI_ERROR = finish(q, s);
        if (s->MPI_ERROR != MPI_SUCCESS) err = 1;
    }
    return err ? fail(MPI_COMM_WORLD, MPI_ERR_IN_STATUS, "MPI_Waitall", "a request failed") : MPI_SUCCESS;
}

/* With L held: progress, then whether request i is over (NULL handles are not). */
static int ready(MPI_Request r) {
    struct req *q = req_get(r);
    return q != NULL && q->done;
}

int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status) {
    if (*request == MPI_REQUEST_NULL) {
        *flag = 1;
        empty_status(status);
        return MPI_SUCCESS;
    }
    if (req_lookup(*request) == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Test", "invalid request");
    nbc_poke();
    pthread_mutex_lock(&L);
    progress_sends();
    *flag = ready(*request);
    pthread_mutex_unlock(&L);
    if (*flag) return MPI_Wait(request, status);
    if (!*flag) sched_yield(); /* a polling loop lets the progress thread run */
    return MPI_SUCCESS;
}

int MPI_Testall(int count, MPI_Request requests[], int *flag, MPI_Status statuses[]) {
    nbc_poke();
    pthread_mutex_lock(&L);
    progress_sends();
    int all = 1;
    for (int i = 0; i < count; i++)
        if (requests[i] != MPI_REQUEST_NULL && !ready(requests[i])) all = 0;
    pthread_mutex_unlock(&L);
    *flag = all;
    if (all) return MPI_Waitall(count, requests, statuses);
    sched_yield();
    return MPI_SUCCESS;
}

int MPI_Testany(int count, MPI_Request requests[], int *index, int *flag, MPI_Status *status) {
    nbc_poke();
    pthread_mutex_lock(&L);
    progress_sends();
    int got = MPI_UNDEFINED, active = 0;
    for (int i = 0; i < count && got == MPI_UNDEFINED; i++) {
        if (requests[i] == MPI_REQUEST_NULL) continue;
        active = 1;
        if (ready(requests[i])) got = i;
    }
    pthread_mutex_unlock(&L);
    *index = got;
    *flag = got != MPI_UNDEFINED || !active;
    if (got != MPI_UNDEFINED) return MPI_Wait(&requests[got], status);
    if (!active) empty_status(status);
    else sched_yield();
    return MPI_SUCCESS;
}

int MPI_Waitany(int count, MPI_Request requests[], int *index, MPI_Status *status) {
    pthread_mutex_lock(&L);
    for (;;) {
        progress_sends();
        int active = 0;
        for (int i = 0; i < count; i++) {
            if (requests[i] == MPI_REQUEST_NULL) continue;
            if (req_get(requests[i]) == NULL) {
                pthread_mutex_unlock(&L);
                return fail(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Waitany", "invalid request");
            }
            active = 1;
            if (ready(requests[i])) {
                pthread_mutex_unlock(&L);
                *index = i;
                return MPI_Wait(&requests[i], status);
            }
        }
        if (!active) {
            pthread_mutex_unlock(&L);
            *index = MPI_UNDEFINED;
            empty_status(status);
            return MPI_SUCCESS;
        }
        if (nbc_active != NULL && nbc_movable()) {
            pthread_mutex_unlock(&L);
            nbc_poke();
            pthread_mutex_lock(&L);
            continue;
        }
        pthread_cond_wait(&C, &L);
    }
}

int MPI_Waitsome(int incount, MPI_Request requests[], int *outcount, int indices[], MPI_Status statuses[]) {
    int i;
    MPI_Status s;
    int e = MPI_Waitany(incount, requests, &i, &s);
    if (i == MPI_UNDEFINED) {
        *outcount = MPI_UNDEFINED;
        return e;
    }
    *outcount = 0;
    indices[(*outcount)] = i;
    if (statuses != MPI_STATUSES_IGNORE) statuses[*outcount] = s;
    (*outcount)++;
    for (int j = 0; j < incount; j++) {
        int flag;
        pthread_mutex_lock(&L);
        flag = requests[j] != MPI_REQUEST_NULL && ready(requests[j]);
        pthread_mutex_unlock(&L);
        if (flag) {
            MPI_Wait(&requests[j], statuses == MPI_STATUSES_IGNORE ? &s : &statuses[*outcount]);
            indices[(*outcount)++] = j;
        }
    }
    return e;
}

int MPI_Request_free(MPI_Request *request) {
    struct req *q = req_lookup(*request);
    if (q == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Request_free", "invalid request");
    pthread_mutex_lock(&L);
    if (q->done) req_release(q); else q->freed = 1;
    pthread_mutex_unlock(&L);
    *request = MPI_REQUEST_NULL;
    return MPI_SUCCESS;
}

/* Only a receive not matched yet can be cancelled. */
int MPI_Cancel(MPI_Request *request) {
    struct req *q = req_lookup(*request);
    if (q == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Cancel", "invalid request");
    pthread_mutex_lock(&L);
    struct req *p = posted, *prev = NULL;
    while (p != NULL && p != q) {
        prev = p;
        p = p->next;
    }
    if (p != NULL) {
        if (prev) prev->next = p->next; else posted = p->next;
        if (posted_tail == p) posted_tail = prev;
        q->st = (MPI_Status){MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_SUCCESS, 0, 1};
        if (q->own) { free(q->pbuf); q->own = 0; }
        complete(q);
    }
    pthread_mutex_unlock(&L);
    return MPI_SUCCESS;
}

int MPI_Test_cancelled(const MPI_Status *status, int *flag) {
    *flag = status->cancelled;
    return MPI_SUCCESS;
}

/* With L held: the first unexpected envelope that a receive of (source, tag, comm) takes. */
static struct unexp *probe(int source, int tag, MPI_Comm comm, const char *fn, int *err) {
    struct comm *c = comm_get(comm);
    *err = MPI_SUCCESS;
    if (c == NULL) { *err = MPI_ERR_COMM; return NULL; }
    if (source != MPI_ANY_SOURCE && (source < 0 || source >= c->size)) { *err = MPI_ERR_RANK; return NULL; }
    if (tag < 0 && tag != MPI_ANY_TAG) { *err = MPI_ERR_TAG; return NULL; }
    (void)fn;
    struct req q = {0};
    q.ctx = 2 * c->base;
    q.peer = source == MPI_ANY_SOURCE ? MPI_ANY_SOURCE : c->world[source];
    q.tag = tag;
    for (struct unexp *u = unexp_head; u != NULL; u = u->next)
        if (env_match(&q, &u->h)) return u;
    return NULL;
}

static void probe_status(struct unexp *u, MPI_Comm comm, MPI_Status *status) {
    if (status == MPI_STATUS_IGNORE) return;
    status->MPI_SOURCE = comm_rank_of(comm_get(comm), u->h.src);
    status->MPI_TAG = u->h.tag;
    status->MPI_ERROR = MPI_SUCCESS;
    status->count_bytes = u->h.type == M_EAGER ? u->len : u->h.size;
    status->cancelled = 0;
}

int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status) {
    CHECK_INIT("MPI_Iprobe");
    if (source == MPI_PROC_NULL) {
        *flag = 1;
        if (status != MPI_STATUS_IGNORE) *status = (MPI_Status){MPI_PROC_NULL, MPI_ANY_TAG, MPI_SUCCESS, 0, 0};
        return MPI_SUCCESS;
    }
    int e;
    nbc_poke();
    pthread_mutex_lock(&L);
    progress_sends();
    struct unexp *u = probe(source, tag, comm, "MPI_Iprobe", &e);
    *flag = u != NULL;
    if (u) probe_status(u, comm, status);
    pthread_mutex_unlock(&L);
    if (e != MPI_SUCCESS) return fail(comm, e, "MPI_Iprobe", "invalid argument");
    if (!*flag) sched_yield();
    return MPI_SUCCESS;
}

int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status) {
    CHECK_INIT("MPI_Probe");
    if (source == MPI_PROC_NULL) {
        if (status != MPI_STATUS_IGNORE) *status = (MPI_Status){MPI_PROC_NULL, MPI_ANY_TAG, MPI_SUCCESS, 0, 0};
        return MPI_SUCCESS;
    }
    int e;
    pthread_mutex_lock(&L);
    for (;;) {
        progress_sends();
        struct unexp *u = probe(source, tag, comm, "MPI_Probe", &e);
        if (e != MPI_SUCCESS) break;
        if (u != NULL) {
            probe_status(u, comm, status);
            break;
        }
        if (nbc_active != NULL && nbc_movable()) { /* the message may wait for a collective */
            pthread_mutex_unlock(&L);
            nbc_poke();
            pthread_mutex_lock(&L);
            continue;
        }
        pthread_cond_wait(&C, &L);
    }
    pthread_mutex_unlock(&L);
    return e == MPI_SUCCESS ? e : fail(comm, e, "MPI_Probe", "invalid argument");
}

int MPI_Get_count(const MPI_Status *status, MPI_Datatype dt, int *count) {
    struct dtype *t = dt_get(dt);
    if (t == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Get_count", "invalid datatype");
    if (t->size == 0) *count = status->count_bytes == 0 ? 0 : MPI_UNDEFINED;
    else *count = status->count_bytes % t->size ? MPI_UNDEFINED : (int)(status->count_bytes / t->size);
    return MPI_SUCCESS;
}

int MPI_Get_elements(const MPI_Status *status, MPI_Datatype dt, int *count) {
    struct dtype *t = dt_get(dt);
    if (t == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Get_elements", "invalid datatype");
    int bs = t->basic >= 0 ? basic_size[t->basic] : 1;
    *count = status->count_bytes % bs ? MPI_UNDEFINED : status->count_bytes / bs;
    return MPI_SUCCESS;
}

/* --- derived datatypes -------------------------------------------------------------------- */
/* Claims a free slot (under L: threads may make types at once). */
static int type_new(void) {
    pthread_mutex_lock(&L);
    int id = -1;
    for (int i = NBASIC; i < MAX_TYPES && id < 0; i++)
        if (!types[i].used) types[id = i].used = 1;
    pthread_mutex_unlock(&L);
    return id;
}

/* `count` blocks of `blocklen` elements of `old`, `stride` elements apart (a vector). */
static int make_vector(int count, int blocklen, long stride_bytes, MPI_Datatype old, MPI_Datatype *newtype,
                       const char *fn) {
    struct dtype *o = dt_get(old);
    if (o == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, fn, "invalid datatype");
    if (count < 0 || blocklen < 0) return fail(MPI_COMM_WORLD, MPI_ERR_COUNT, fn, "negative count");
    int id = type_new();
    if (id < 0) return fail(MPI_COMM_WORLD, MPI_ERR_INTERN, fn, "too many datatypes");
    long n = (long)count * blocklen * o->nblocks;
    struct block *b = malloc(sizeof *b * (size_t)(n ? n : 1));
    if (b == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_INTERN, fn, "out of memory");
    int k = 0;
    for (int i = 0; i < count; i++)
        for (int j = 0; j < blocklen; j++)
            for (int m = 0; m < o->nblocks; m++) {
                long disp = i * stride_bytes + j * o->extent + o->blocks[m].disp;
                if (k > 0 && b[k - 1].disp + b[k - 1].len == disp) {
                    b[k - 1].len += o->blocks[m].len; /* adjacent: one block */
                } else {
                    b[k].disp = disp;
                    b[k].len = o->blocks[m].len;
                    k++;
                }
            }
    long extent = count == 0 ? 0 : (count - 1) * stride_bytes + blocklen * o->extent;
    types[id] = (struct dtype){1, 0, o->basic, (long)count * blocklen * o->size, extent, k, b};
    if (k == 0) { types[id].nblocks = 1; b[0].disp = 0; b[0].len = 0; }
    *newtype = id;
    return MPI_SUCCESS;
}

int MPI_Type_contiguous(int count, MPI_Datatype old, MPI_Datatype *newtype) {
    return make_vector(1, count, 0, old, newtype, "MPI_Type_contiguous");
}

int MPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype old, MPI_Datatype *newtype) {
    struct dtype *o = dt_get(old);
    if (o == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Type_vector", "invalid datatype");
    return make_vector(count, blocklength, (long)stride * o->extent, old, newtype, "MPI_Type_vector");
}

int MPI_Type_commit(MPI_Datatype *dt) {
    struct dtype *t = dt_get(*dt);
    if (t == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Type_commit", "invalid datatype");
    t->committed = 1;
    return MPI_SUCCESS;
}

int MPI_Type_free(MPI_Datatype *dt) {
    struct dtype *t = dt_get(*dt);
    if (t == NULL || *dt < NBASIC) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Type_free", "invalid datatype");
    free(t->blocks);
    free(t->name);
    memset(t, 0, sizeof *t);
    *dt = MPI_DATATYPE_NULL;
    return MPI_SUCCESS;
}

int MPI_Type_size(MPI_Datatype dt, int *size) {
    struct dtype *t = dt_get(dt);
    if (t == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Type_size", "invalid datatype");
    *size = (int)t->size;
    return MPI_SUCCESS;
}

int MPI_Type_get_extent(MPI_Datatype dt, MPI_Aint *lb, MPI_Aint *extent) {
    struct dtype *t = dt_get(dt);
    if (t == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Type_get_extent", "invalid datatype");
    *lb = t->lb;
    *extent = t->extent;
    return MPI_SUCCESS;
}

/* --- operations --------------------------------------------------------------------------- */
struct op { MPI_User_function *fn; int commute; };
static struct op ops[MAX_OPS];

int MPI_Op_create(MPI_User_function *fn, int commute, MPI_Op *op) {
    pthread_mutex_lock(&L);
    for (int i = USER_OP0; i < MAX_OPS; i++)
        if (ops[i].fn == NULL) {
            ops[i] = (struct op){fn, commute};
            *op = i;
            pthread_mutex_unlock(&L);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&L);
    return fail(MPI_COMM_WORLD, MPI_ERR_OP, "MPI_Op_create", "too many operations");
}

int MPI_Op_free(MPI_Op *op) {
    if (*op < USER_OP0 || *op >= MAX_OPS || ops[*op].fn == NULL)
        return fail(MPI_COMM_WORLD, MPI_ERR_OP, "MPI_Op_free", "invalid operation");
    ops[*op].fn = NULL;
    *op = MPI_OP_NULL;
    return MPI_SUCCESS;
}

#define LOOP(T, E) { const T *a = in; T *b = io; for (long i = 0; i < n; i++) { T x = a[i], y = b[i]; (void)x; (void)y; b[i] = (T)(E); } return 0; }
#define ARITH(T) switch (op) { \
    case MPI_SUM: LOOP(T, x + y) case MPI_PROD: LOOP(T, x * y) \
    case MPI_MAX: LOOP(T, x > y ? x : y) case MPI_MIN: LOOP(T, x < y ? x : y) \
    case MPI_REPLACE: LOOP(T, x) case MPI_NO_OP: LOOP(T, y) }
#define LOGIC(T) switch (op) { \
    case MPI_LAND: LOOP(T, x && y) case MPI_LOR: LOOP(T, x || y) case MPI_LXOR: LOOP(T, !x != !y) \
    case MPI_BAND: LOOP(T, x & y) case MPI_BOR: LOOP(T, x | y) case MPI_BXOR: LOOP(T, x ^ y) }
#define INTEGER(T) { ARITH(T) LOGIC(T) return MPI_ERR_OP; }
#define LOC(T) { const T *a = in; T *b = io; \
    if (op != MPI_MAXLOC && op != MPI_MINLOC) return MPI_ERR_OP; \
    for (long i = 0; i < n; i++) { \
        int better = op == MPI_MAXLOC ? a[i].v > b[i].v : a[i].v < b[i].v; \
        if (better || (a[i].v == b[i].v && a[i].i < b[i].i)) b[i] = a[i]; } \
    return 0; }

/* io[i] = in[i] op io[i] for n elements of a predefined type; an error class if undefined. */
static int basic_op(int op, int type, const void *in, void *io, long n) {
    switch (type) {
    case MPI_CHAR: case MPI_SIGNED_CHAR: case MPI_INT8_T: INTEGER(signed char)
    case MPI_UNSIGNED_CHAR: case MPI_UINT8_T: INTEGER(unsigned char)
    case MPI_BYTE: { LOGIC(unsigned char) if (op == MPI_REPLACE || op == MPI_NO_OP) { ARITH(unsigned char) } return MPI_ERR_OP; }
    case MPI_SHORT: case MPI_INT16_T: INTEGER(short)
    case MPI_UNSIGNED_SHORT: case MPI_UINT16_T: INTEGER(unsigned short)
    case MPI_INT: case MPI_INT32_T: case MPI_WCHAR: INTEGER(int)
    case MPI_UNSIGNED: case MPI_UINT32_T: INTEGER(unsigned)
    case MPI_LONG: case MPI_AINT: INTEGER(long)
    case MPI_UNSIGNED_LONG: INTEGER(unsigned long)
    case MPI_LONG_LONG_INT: case MPI_INT64_T: case MPI_COUNT: case MPI_OFFSET: INTEGER(long long)
    case MPI_UNSIGNED_LONG_LONG: case MPI_UINT64_T: INTEGER(unsigned long long)
    case MPI_C_BOOL: { LOGIC(_Bool) return MPI_ERR_OP; }
    case MPI_FLOAT: { ARITH(float) return MPI_ERR_OP; }
    case MPI_DOUBLE: { ARITH(double) return MPI_ERR_OP; }
    case MPI_LONG_DOUBLE: { ARITH(long double) return MPI_ERR_OP; }
    case MPI_FLOAT_INT: LOC(float_int)
    case MPI_DOUBLE_INT: LOC(double_int)
    case MPI_LONG_INT: LOC(long_int)
    case MPI_2INT: LOC(int_int)
    case MPI_SHORT_INT: LOC(short_int)
    case MPI_LONG_DOUBLE_INT: LOC(ldouble_int)
    }
    return MPI_ERR_TYPE;
}

/* inout = in op inout, for `count` elements of `dt` in the user's layout. */
static int apply(MPI_Op op, MPI_Datatype dt, const void *in, void *inout, int count) {
    if (op >= USER_OP0 && op < MAX_OPS && ops[op].fn != NULL) {
        ops[op].fn((void *)in, inout, &count, &dt);
        return MPI_SUCCESS;
    }
    if (op < 0 || op > MPI_NO_OP) return MPI_ERR_OP;
    struct dtype *t = dt_get(dt);
    if (t == NULL || t->basic < 0) return MPI_ERR_TYPE;
    long per = basic_size[t->basic] ? t->size / basic_size[t->basic] : 0;
    if (dt_contig(t)) return basic_op(op, t->basic, in, inout, per * count);
    long bytes = (long)count * t->size;
    char *a = malloc((size_t)bytes + 1), *b = malloc((size_t)bytes + 1);
    if (a == NULL || b == NULL) { free(a); free(b); return MPI_ERR_INTERN; }
    pack(a, in, count, t);
    pack(b, inout, count, t);
    int e = basic_op(op, t->basic, a, b, per * count);
    unpack(inout, b, count, t, bytes);
    free(a);
    free(b);
    return e;
}

int MPI_Reduce_local(const void *inbuf, void *inoutbuf, int count, MPI_Datatype dt, MPI_Op op) {
    int e = apply(op, dt, inbuf, inoutbuf, count);
    return e ? fail(MPI_COMM_WORLD, e, "MPI_Reduce_local", "operation undefined for the datatype") : e;
}

/* --- collectives (over point-to-point in the communicator's collective context) ----------- */
enum { T_BARRIER = 1, T_BCAST, T_REDUCE, T_GATHER, T_SCATTER, T_ALLGATHER, T_ALLTOALL, T_SCAN };

static int csend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm, const char *fn) {
    struct req *q;
    int e = start_send(buf, count, dt, dest, tag, comm, 1, 0, 0, &q, fn);
    if (e == MPI_SUCCESS && q != NULL) e = finish(q, MPI_STATUS_IGNORE);
    return e;
}

static int crecv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm, const char *fn) {
    struct req *q;
    int e = start_recv(buf, count, dt, src, tag, comm, 1, &q, fn);
    if (e == MPI_SUCCESS) e = p2p_err(comm, finish(q, MPI_STATUS_IGNORE), fn);
    return e;
}

static int cisend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
                  struct req **q, const char *fn) {
    return start_send(buf, count, dt, dest, tag, comm, 1, 0, 0, q, fn);
}

static int wait_all(struct req **q, int n, MPI_Comm comm, const char *fn) {
    int err = MPI_SUCCESS;
    for (int i = 0; i < n; i++)
        if (q[i] != NULL) {
            int e = finish(q[i], MPI_STATUS_IGNORE);
            if (e != MPI_SUCCESS) err = e;
        }
    return p2p_err(comm, err, fn);
}

static struct comm *coll_comm(MPI_Comm comm, const char *fn) {
    CHECK_INIT(fn);
    struct comm *c = comm_get(comm);
    if (c == NULL) fail(MPI_COMM_WORLD, MPI_ERR_COMM, fn, "invalid communicator");
    return c;
}

static long extent_of(MPI_Datatype dt) {
    struct dtype *t = dt_get(dt);
    return t ? t->extent : 0;
}

/* Copy (sbuf, scount, stype) to (rbuf, rcount, rtype) on this rank. */
static void local_copy(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype) {
    struct dtype *s = dt_get(stype), *r = dt_get(rtype);
    if (s == NULL || r == NULL) return;
    long sb = (long)scount * s->size, rb = (long)rcount * r->size;
    char *tmp = malloc((size_t)sb + 1);
    if (tmp == NULL) fatal("MPI (copy)", "out of memory", ENOMEM);
    pack(tmp, sbuf, scount, s);
    unpack(rbuf, tmp, rcount, r, sb < rb ? sb : rb);
    free(tmp);
}

int MPI_Barrier(MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Barrier");
    if (c == NULL) return MPI_ERR_COMM;
    /* Dissemination: ceil(log2 n) rounds of one message each way. */
    for (int k = 1; k < c->size; k <<= 1) {
        struct req *r, *s;
        int e = start_recv(NULL, 0, MPI_BYTE, (c->rank - k + c->size) % c->size, T_BARRIER, comm, 1, &r, "MPI_Barrier");
        if (e == MPI_SUCCESS) e = cisend(NULL, 0, MPI_BYTE, (c->rank + k) % c->size, T_BARRIER, comm, &s, "MPI_Barrier");
        if (e != MPI_SUCCESS) return e;
        struct req *q[2] = {s, r};
        if ((e = wait_all(q, 2, comm, "MPI_Barrier")) != MPI_SUCCESS) return e;
    }
    return MPI_SUCCESS;
}

int MPI_Bcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Bcast");
    if (c == NULL) return MPI_ERR_COMM;
    if (root < 0 || root >= c->size) return fail(comm, MPI_ERR_ROOT, "MPI_Bcast", "invalid root");
    int n = c->size, me = (c->rank - root + n) % n, e;
    /* Binomial tree over ranks relative to the root. */
    int mask = 1;
    while (mask < n) {
        if (me & mask) {
            if ((e = crecv(buf, count, dt, (me - mask + root) % n, T_BCAST, comm, "MPI_Bcast"))) return e;
            break;
        }
        mask <<= 1;
    }
    for (mask >>= 1; mask > 0; mask >>= 1)
        if (me + mask < n && (e = csend(buf, count, dt, (me + mask + root) % n, T_BCAST, comm, "MPI_Bcast")))
            return e;
    return MPI_SUCCESS;
}

/* Rank order at the root, from the last rank down: x0 op (x1 op (... op x(n-1))), which
 * is the standard's order for any operation, commutative or not, and the same every run. */
int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, int root, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Reduce");
    if (c == NULL) return MPI_ERR_COMM;
    if (root < 0 || root >= c->size) return fail(comm, MPI_ERR_ROOT, "MPI_Reduce", "invalid root");
    if (dt_get(dt) == NULL) return fail(comm, MPI_ERR_TYPE, "MPI_Reduce", "invalid datatype");
    if (count < 0) return fail(comm, MPI_ERR_COUNT, "MPI_Reduce", "negative count");
    if (c->rank != root) return csend(sendbuf, count, dt, root, T_REDUCE, comm, "MPI_Reduce");
    const void *mine = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    long bytes = (long)count * extent_of(dt);
    char *acc = malloc((size_t)bytes + 1), *tmp = malloc((size_t)bytes + 1);
    if (acc == NULL || tmp == NULL) fatal("MPI_Reduce", "out of memory", ENOMEM);
    int e = MPI_SUCCESS;
    for (int i = c->size - 1; i >= 0 && e == MPI_SUCCESS; i--) {
        const char *x = tmp;
        if (i == root) memcpy(tmp, mine, (size_t)bytes);
        else e = crecv(tmp, count, dt, i, T_REDUCE, comm, "MPI_Reduce");
        if (e != MPI_SUCCESS) break;
        if (i == c->size - 1) {
            memcpy(acc, x, (size_t)bytes);
        } else if ((e = apply(op, dt, x, acc, count)) != MPI_SUCCESS) {
            e = fail(comm, e, "MPI_Reduce", "operation undefined for the datatype");
        }
    }
    if (e == MPI_SUCCESS) memcpy(recvbuf, acc, (size_t)bytes);
    free(acc);
    free(tmp);
    return e;
}

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Allreduce");
    if (c == NULL) return MPI_ERR_COMM;
    const void *s = sendbuf;
    if (sendbuf == MPI_IN_PLACE && c->rank != 0) {
        long bytes = (long)count * extent_of(dt);
        void *copy = malloc((size_t)bytes + 1);
        if (copy == NULL) fatal("MPI_Allreduce", "out of memory", ENOMEM);
        memcpy(copy, recvbuf, (size_t)bytes);
        int e = MPI_Reduce(copy, recvbuf, count, dt, op, 0, comm);
        free(copy);
        return e ? e : MPI_Bcast(recvbuf, count, dt, 0, comm);
    }
    int e = MPI_Reduce(s, recvbuf, count, dt, op, 0, comm);
    return e ? e : MPI_Bcast(recvbuf, count, dt, 0, comm);
}

static int scan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm, int ex) {
    const char *fn = ex ? "MPI_Exscan" : "MPI_Scan";
    struct comm *c = coll_comm(comm, fn);
    if (c == NULL) return MPI_ERR_COMM;
    long bytes = (long)count * extent_of(dt);
    const void *mine = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    char *acc = malloc((size_t)bytes + 1), *prefix = malloc((size_t)bytes + 1);
    if (acc == NULL || prefix == NULL) fatal(fn, "out of memory", ENOMEM);
    memcpy(acc, mine, (size_t)bytes);
    int e = MPI_SUCCESS;
    if (c->rank > 0) {
        e = crecv(prefix, count, dt, c->rank - 1, T_SCAN, comm, fn);
        if (e == MPI_SUCCESS && (e = apply(op, dt, prefix, acc, count)) != MPI_SUCCESS)
            e = fail(comm, e, fn, "operation undefined for the datatype");
    }
    if (e == MPI_SUCCESS && c->rank + 1 < c->size) e = csend(acc, count, dt, c->rank + 1, T_SCAN, comm, fn);
    if (e == MPI_SUCCESS) {
        if (!ex) memcpy(recvbuf, acc, (size_t)bytes);
        else if (c->rank > 0) memcpy(recvbuf, prefix, (size_t)bytes);
    }
    free(acc);
    free(prefix);
    return e;
}

int MPI_Scan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm) {
    return scan(sendbuf, recvbuf, count, dt, op, comm, 0);
}
int MPI_Exscan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm) {
    return scan(sendbuf, recvbuf, count, dt, op, comm, 1);
}

int MPI_Gatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                const int displs[], MPI_Datatype recvtype, int root, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Gatherv");
    if (c == NULL) return MPI_ERR_COMM;
    if (root < 0 || root >= c->size) return fail(comm, MPI_ERR_ROOT, "MPI_Gatherv", "invalid root");
    if (c->rank != root) return csend(sendbuf, sendcount, sendtype, root, T_GATHER, comm, "MPI_Gatherv");
    long ext = extent_of(recvtype);
    struct req **q = calloc((size_t)c->size, sizeof *q);
    if (q == NULL) fatal("MPI_Gatherv", "out of memory", ENOMEM);
    int e = MPI_SUCCESS;
    for (int i = 0; i < c->size && e == MPI_SUCCESS; i++) {
        char *at = (char *)recvbuf + displs[i] * ext;
        if (i == root) {
            if (sendbuf != MPI_IN_PLACE) local_copy(sendbuf, sendcount, sendtype, at, recvcounts[i], recvtype);
        } else {
            e = start_recv(at, recvcounts[i], recvtype, i, T_GATHER, comm, 1, &q[i], "MPI_Gatherv");
        }
    }
    if (e == MPI_SUCCESS) e = wait_all(q, c->size, comm, "MPI_Gatherv");
    free(q);
    return e;
}

int MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
               MPI_Datatype recvtype, int root, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Gather");
    if (c == NULL) return MPI_ERR_COMM;
    int *counts = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (counts == NULL) fatal("MPI_Gather", "out of memory", ENOMEM);
    for (int i = 0; i < c->size; i++) {
        counts[i] = recvcount;
        counts[c->size + i] = i * recvcount;
    }
    int e = MPI_Gatherv(sendbuf, sendcount, sendtype, recvbuf, counts, counts + c->size, recvtype, root, comm);
    free(counts);
    return e;
}

int MPI_Scatterv(const void *sendbuf, const int sendcounts[], const int displs[], MPI_Datatype sendtype,
                 void *recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Scatterv");
    if (c == NULL) return MPI_ERR_COMM;
    if (root < 0 || root >= c->size) return fail(comm, MPI_ERR_ROOT, "MPI_Scatterv", "invalid root");
    if (c->rank != root) return crecv(recvbuf, recvcount, recvtype, root, T_SCATTER, comm, "MPI_Scatterv");
    long ext = extent_of(sendtype);
    struct req **q = calloc((size_t)c->size, sizeof *q);
    if (q == NULL) fatal("MPI_Scatterv", "out of memory", ENOMEM);
    int e = MPI_SUCCESS;
    for (int i = 0; i < c->size && e == MPI_SUCCESS; i++) {
        const char *at = (const char *)sendbuf + displs[i] * ext;
        if (i == root) {
            if (recvbuf != MPI_IN_PLACE) local_copy(at, sendcounts[i], sendtype, recvbuf, recvcount, recvtype);
        } else {
            e = cisend(at, sendcounts[i], sendtype, i, T_SCATTER, comm, &q[i], "MPI_Scatterv");
        }
    }
    if (e == MPI_SUCCESS) e = wait_all(q, c->size, comm, "MPI_Scatterv");
    free(q);
    return e;
}

int MPI_Scatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                MPI_Datatype recvtype, int root, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Scatter");
    if (c == NULL) return MPI_ERR_COMM;
    int *counts = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (counts == NULL) fatal("MPI_Scatter", "out of memory", ENOMEM);
    for (int i = 0; i < c->size; i++) {
        counts[i] = sendcount;
        counts[c->size + i] = i * sendcount;
    }
    int e = MPI_Scatterv(sendbuf, counts, counts + c->size, sendtype, recvbuf, recvcount, recvtype, root, comm);
    free(counts);
    return e;
}

/* Every rank sends its piece to every other (n-1 messages each way, all in flight). */
static int exchange(const void *sendbuf, const int *scounts, const int *sdispls, MPI_Datatype stype, void *recvbuf,
                    const int *rcounts, const int *rdispls, MPI_Datatype rtype, MPI_Comm comm, int tag, const char *fn) {
    struct comm *c = comm_get(comm);
    long sext = extent_of(stype), rext = extent_of(rtype);
    struct req **q = calloc(2 * (size_t)c->size, sizeof *q);
    if (q == NULL) fatal(fn, "out of memory", ENOMEM);
    int e = MPI_SUCCESS, n = c->size, me = c->rank;
    for (int k = 1; k < n && e == MPI_SUCCESS; k++) {
        int from = (me - k + n) % n;
        e = start_recv((char *)recvbuf + rdispls[from] * rext, rcounts[from], rtype, from, tag, comm, 1, &q[k], fn);
    }
    for (int k = 1; k < n && e == MPI_SUCCESS; k++) {
        int to = (me + k) % n;
        e = cisend((const char *)sendbuf + sdispls[to] * sext, scounts[to], stype, to, tag, comm, &q[n + k], fn);
    }
    if (e == MPI_SUCCESS && sendbuf != MPI_IN_PLACE)
        local_copy((const char *)sendbuf + sdispls[me] * sext, scounts[me], stype,
                   (char *)recvbuf + rdispls[me] * rext, rcounts[me], rtype);
    if (e == MPI_SUCCESS) e = wait_all(q, 2 * n, comm, fn);
    free(q);
    return e;
}

int MPI_Alltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype,
                  void *recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm) {
    if (coll_comm(comm, "MPI_Alltoallv") == NULL) return MPI_ERR_COMM;
    if (sendbuf == MPI_IN_PLACE) return fail(comm, MPI_ERR_ARG, "MPI_Alltoallv", "MPI_IN_PLACE is not supported");
    return exchange(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls, recvtype, comm,
                    T_ALLTOALL, "MPI_Alltoallv");
}

static int *uniform(int n, int count, int step) {
    int *a = malloc(sizeof(int) * 2 * (size_t)n);
    if (a == NULL) fatal("MPI (collective)", "out of memory", ENOMEM);
    for (int i = 0; i < n; i++) {
        a[i] = count;
        a[n + i] = i * step;
    }
    return a;
}

int MPI_Alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                 MPI_Datatype recvtype, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Alltoall");
    if (c == NULL) return MPI_ERR_COMM;
    int *s = uniform(c->size, sendcount, sendcount), *r = uniform(c->size, recvcount, recvcount);
    int e = MPI_Alltoallv(sendbuf, s, s + c->size, sendtype, recvbuf, r, r + c->size, recvtype, comm);
    free(s);
    free(r);
    return e;
}

int MPI_Allgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                   const int displs[], MPI_Datatype recvtype, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Allgatherv");
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
    int e = exchange(src, s, s + n, st, recvbuf, recvcounts, displs, recvtype, comm, T_ALLGATHER, "MPI_Allgatherv");
    free(s);
    return e;
}

int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Allgather");
    if (c == NULL) return MPI_ERR_COMM;
    int *r = uniform(c->size, recvcount, recvcount);
    int e = MPI_Allgatherv(sendbuf, sendcount, sendtype, recvbuf, r, r + c->size, recvtype, comm);
    free(r);
    return e;
}

int MPI_Reduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[], MPI_Datatype dt, MPI_Op op,
                       MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Reduce_scatter");
    if (c == NULL) return MPI_ERR_COMM;
    int n = c->size, total = 0;
    int *displs = malloc(sizeof(int) * (size_t)n);
    if (displs == NULL) fatal("MPI_Reduce_scatter", "out of memory", ENOMEM);
    for (int i = 0; i < n; i++) {
        displs[i] = total;
        total += recvcounts[i];
    }
    long ext = extent_of(dt);
    char *full = malloc((size_t)total * (size_t)ext + 1);
    if (full == NULL) fatal("MPI_Reduce_scatter", "out of memory", ENOMEM);
    const void *src = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    int e = MPI_Reduce(src, full, total, dt, op, 0, comm);
    if (e == MPI_SUCCESS) e = MPI_Scatterv(full, recvcounts, displs, dt, recvbuf, recvcounts[c->rank], dt, 0, comm);
    free(full);
    free(displs);
    return e;
}

int MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount, MPI_Datatype dt, MPI_Op op,
                             MPI_Comm comm) {
    struct comm *c = coll_comm(comm, "MPI_Reduce_scatter_block");
    if (c == NULL) return MPI_ERR_COMM;
    int *r = uniform(c->size, recvcount, recvcount);
    int e = MPI_Reduce_scatter(sendbuf, recvbuf, r, dt, op, comm);
    free(r);
    return e;
}

/* --- communicators ------------------------------------------------------------------------ */
int MPI_Comm_rank(MPI_Comm comm, int *rank) {
    struct comm *c = comm_get(comm);
    if (c == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Comm_rank", "invalid communicator");
    *rank = c->rank;
    return MPI_SUCCESS;
}

int MPI_Comm_size(MPI_Comm comm, int *size) {
    struct comm *c = comm_get(comm);
    if (c == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Comm_size", "invalid communicator");
    *size = c->size;
    return MPI_SUCCESS;
}

/* A context every member agrees on: the largest next one any of them has (collective). */
static int agree_base(MPI_Comm comm, int *base) {
    int mine = next_base;
    int e = MPI_Allreduce(&mine, base, 1, MPI_INT, MPI_MAX, comm);
    if (e == MPI_SUCCESS) next_base = *base + 1;
    return e;
}

static int comm_new(int base, int rank, int size, int errh, int *world, MPI_Comm *out, const char *fn) {
    pthread_mutex_lock(&L);
    for (int i = 2; i < MAX_COMMS; i++)
        if (!comms[i].used) {
            comms[i] = (struct comm){1, base, rank, size, errh, world};
            *out = i;
            pthread_mutex_unlock(&L);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&L);
    free(world);
    return fail(MPI_COMM_WORLD, MPI_ERR_INTERN, fn, "too many communicators");
}

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm) {
    struct comm *c = coll_comm(comm, "MPI_Comm_dup");
    if (c == NULL) return MPI_ERR_COMM;
    int base, e = agree_base(comm, &base);
    if (e != MPI_SUCCESS) return e;
    int *w = malloc(sizeof(int) * (size_t)c->size);
    if (w == NULL) fatal("MPI_Comm_dup", "out of memory", ENOMEM);
    memcpy(w, c->world, sizeof(int) * (size_t)c->size);
    int ndims = c->ndims, *cart = c->cart;
    e = comm_new(base, c->rank, c->size, c->errh, w, newcomm, "MPI_Comm_dup");
    if (e == MPI_SUCCESS && ndims > 0) e = cart_set(*newcomm, ndims, cart, cart + ndims); /* topology too */
    return e;
}

int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm) {
    struct comm *c = coll_comm(comm, "MPI_Comm_split");
    if (c == NULL) return MPI_ERR_COMM;
    int n = c->size, mine[2] = {color, key};
    int *all = malloc(sizeof(int) * 2 * (size_t)n);
    if (all == NULL) fatal("MPI_Comm_split", "out of memory", ENOMEM);
    int e = MPI_Allgather(mine, 2, MPI_INT, all, 2, MPI_INT, comm);
    int base;
    if (e == MPI_SUCCESS) e = agree_base(comm, &base);
    if (e != MPI_SUCCESS || color == MPI_UNDEFINED) {
        free(all);
        *newcomm = MPI_COMM_NULL;
        return e;
    }
    /* Members of my colour, by (key, old rank). */
    int *order = malloc(sizeof(int) * (size_t)n), m = 0;
    if (order == NULL) fatal("MPI_Comm_split", "out of memory", ENOMEM);
    for (int i = 0; i < n; i++)
        if (all[2 * i] == color) {
            int j = m++;
            while (j > 0 && all[2 * order[j - 1] + 1] > all[2 * i + 1]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
    int *w = malloc(sizeof(int) * (size_t)m), rank = 0;
    if (w == NULL) fatal("MPI_Comm_split", "out of memory", ENOMEM);
    for (int i = 0; i < m; i++) {
        w[i] = c->world[order[i]];
        if (order[i] == c->rank) rank = i;
    }
    free(order);
    free(all);
    return comm_new(base, rank, m, c->errh, w, newcomm, "MPI_Comm_split");
}

int MPI_Comm_free(MPI_Comm *comm) {
    if (*comm == MPI_COMM_WORLD || *comm == MPI_COMM_SELF || comm_get(*comm) == NULL)
        return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Comm_free", "invalid communicator");
    free(comms[*comm].world);
    free(comms[*comm].cart);
    comms[*comm] = (struct comm){0};
    *comm = MPI_COMM_NULL;
    return MPI_SUCCESS;
}

int MPI_Comm_compare(MPI_Comm a, MPI_Comm b, int *result) {
    struct comm *x = comm_get(a), *y = comm_get(b);
    if (x == NULL || y == NULL) return fail(MPI_COMM_WORLD, MPI_ERR_COMM, "MPI_Comm_compare", "invalid communicator");
    if (a == b) { *result = MPI_IDENT; return MPI_SUCCESS; }
    if (x->size != y->size) { *result = MPI_UNEQUAL; return MPI_SUCCESS; }
    int same = 1;
    for (int i = 0; i < x->size; i++) same &= x->world[i] == y->world[i];
    *result = same ? MPI_CONGRUENT : MPI_UNEQUAL;
    return MPI_SUCCESS;
}

/* The rest of the library, one translation unit with this file (they use its statics). */
#include "shoal_mpi_nbc.c"
#include "shoal_mpi_extra.c"

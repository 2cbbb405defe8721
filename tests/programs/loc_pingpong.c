/* A client and a server that talk through two mailboxes (each has an output endpoint to the
 * other), for tests of locations that follow a moving process. Every message carries a
 * sequence number that the other side checks: none lost, none duplicated, order kept.
 *   loc_pingpong server TAG ROUNDS [AFTER C1 C2 ...]
 *       answer ROUNDS pings; after answering AFTER of them, migrate itself to C1, C2, ... in turn
 *   loc_pingpong client TAG ROUNDS [AT CLUSTER [PAUSE_US]]
 *       send ROUNDS pings, each after the answer to the previous one (and PAUSE_US later);
 *       before ping AT (if not -1), migrate itself to CLUSTER; print "rt I NS FROM" per round
 *       trip (simulated time, measured here; FROM: the server's cluster when it answered) and
 *       "total NS" from the first ping to the last answer */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct msg { long seq; long from; char pad[100]; };

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int lookup(const char *name) {
    int pid;
    while ((pid = shoal_name_lookup(name)) < 0) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return pid;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *mode = argv[1], *tag = argv[2];
    long rounds = atol(argv[3]);
    char me[64], peer[64];
    int server = !strcmp(mode, "server");
    snprintf(me, sizeof me, "%s.%s", tag, server ? "s" : "c");
    snprintf(peer, sizeof peer, "%s.%s", tag, server ? "c" : "s");
    int in = shoal_mailbox_create(server ? 1 : 2);
    if (in < 0 || shoal_name_link(me) != 0) { printf("%s: setup failed\n", me); return 1; }
    int out = shoal_mailbox_open(lookup(peer), server ? 2 : 1);
    if (out < 0) { printf("%s: open failed %d\n", me, out); return 1; }
    struct msg m;
    memset(&m, 0, sizeof m);
    if (server) {
        long after = argc > 4 ? atol(argv[4]) : -1;
        for (long i = 0; i < rounds; i++) {
            int r = shoal_mailbox_read(in, &m, sizeof m);
            if (r != sizeof m || m.seq != i) { printf("server: got seq %ld (%d), expected %ld\n", m.seq, r, i); return 1; }
            m.from = shoal_cluster();
            int w = shoal_mailbox_write(out, &m, sizeof m);
            if (w != sizeof m) { printf("server: write %d\n", w); return 1; }
            if (i + 1 == after)
                for (int k = 5; k < argc; k++)
                    if (shoal_migrate(atoi(argv[k])) != 0) { printf("server: move to %s failed\n", argv[k]); return 1; }
        }
        printf("server %s: %ld rounds, now on cluster %d\n", tag, rounds, shoal_cluster());
        return 0;
    }
    long at = argc > 5 ? atol(argv[4]) : -1;
    int dst = argc > 5 ? atoi(argv[5]) : -1;
    long pause = argc > 6 ? atol(argv[6]) : 0;
    long long first = 0;
    for (long i = 0; i < rounds; i++) {
        if (i == at && shoal_migrate(dst) != 0) { printf("client: move to %d failed\n", dst); return 1; }
        long long t0 = now_ns();
        if (i == 0) first = t0;
        m.seq = i;
        int w = shoal_mailbox_write(out, &m, sizeof m);
        if (w != sizeof m) { printf("client: write %d\n", w); return 1; }
        int r = shoal_mailbox_read(in, &m, sizeof m);
        if (r != sizeof m || m.seq != i) { printf("client: got seq %ld (%d), expected %ld\n", m.seq, r, i); return 1; }
        printf("rt %ld %lld %ld\n", i, now_ns() - t0, m.from);
        if (pause > 0) {
            struct timespec ts = {pause / 1000000, (pause % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
    }
    printf("total %lld\n", now_ns() - first);
    return 0;
}

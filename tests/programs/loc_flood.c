/* Many senders, one receiver, every kind of IKC, for tests that move them all while
 * messages are in flight. Each sender's messages carry its id and a sequence number that the
 * receiver checks: none lost, none duplicated, order kept per sender.
 *   loc_flood recv TAG SENDERS COUNT ROUNDS
 *       read SENDERS*COUNT mailbox messages; then one portal block from each sender in turn;
 *       then ROUNDS barriers (all senders signal it, it signals them all back)
 *   loc_flood send TAG ID COUNT ROUNDS
 *       write COUNT mailbox messages, one portal block, and take part in ROUNDS barriers */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXS 16
#define BLOCK 2048 /* unsigned words: 8 KiB */

struct msg { int id, pid; long seq; char pad[100]; };
static unsigned block[BLOCK];

static int lookup(const char *name) {
    int pid;
    while ((pid = shoal_name_lookup(name)) < 0) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return pid;
}

static unsigned word(int id, int i) { return (unsigned)(id * 2654435761u + i * 40503u); }

static int recv(const char *tag, int senders, long count, long rounds) {
    char name[64];
    snprintf(name, sizeof name, "%s.r", tag);
    int in = shoal_mailbox_create(1), portal = shoal_portal_create(2), all = -1;
    if (in < 0 || portal < 0 || shoal_name_link(name) != 0) { printf("recv: setup failed\n"); return 1; }
    long next[MAXS] = {0};
    int pids[MAXS + 1];
    pids[0] = getpid();
    for (long n = 0; n < senders * count; n++) {
        struct msg m;
        int r = shoal_mailbox_read(in, &m, sizeof m);
        if (r != sizeof m || m.id < 0 || m.id >= senders) { printf("recv: bad message (%d)\n", r); return 1; }
        if (m.seq != next[m.id]) { printf("recv: sender %d sent %ld, expected %ld\n", m.id, m.seq, next[m.id]); return 1; }
        next[m.id]++;
        pids[1 + m.id] = m.pid;
    }
    for (int id = 0; id < senders; id++) {
        if (shoal_portal_allow(portal, pids[1 + id]) != 0) { printf("recv: allow failed\n"); return 1; }
        int r = shoal_portal_read(portal, block, sizeof block);
        if (r != sizeof block) { printf("recv: portal read %d\n", r); return 1; }
        for (int i = 0; i < BLOCK; i++)
            if (block[i] != word(id, i)) { printf("recv: block of %d corrupt at %d\n", id, i); return 1; }
    }
    all = shoal_sync_create(3, pids, senders + 1, SHOAL_SYNC_ALL_TO_ONE);
    int back = shoal_sync_open(4, pids, senders + 1, SHOAL_SYNC_ONE_TO_ALL);
    if (all < 0 || back < 0) { printf("recv: sync setup %d %d\n", all, back); return 1; }
    for (long k = 0; k < rounds; k++) {
        if (shoal_sync_wait(all) != 0 || shoal_sync_signal(back) != 0) { printf("recv: barrier %ld\n", k); return 1; }
    }
    printf("recv %s: %d senders x %ld messages, %d blocks, %ld barriers, in order\n", tag, senders, count,
           senders, rounds);
    return 0;
}

static int send(const char *tag, int id, long count, long rounds) {
    char name[64];
    snprintf(name, sizeof name, "%s.r", tag);
    int rpid = lookup(name);
    int pids[2] = {rpid, getpid()};
    int back = shoal_sync_create(4, pids, 2, SHOAL_SYNC_ONE_TO_ALL);
    int out = shoal_mailbox_open(rpid, 1), portal = shoal_portal_open(rpid, 2);
    if (back < 0 || out < 0 || portal < 0) { printf("send %d: setup failed\n", id); return 1; }
    struct msg m;
    memset(&m, 0, sizeof m);
    m.id = id;
    m.pid = getpid();
    for (long s = 0; s < count; s++) {
        m.seq = s;
        int w = shoal_mailbox_write(out, &m, sizeof m);
        if (w != sizeof m) { printf("send %d: write %d\n", id, w); return 1; }
    }
    for (int i = 0; i < BLOCK; i++) block[i] = word(id, i);
    int w = shoal_portal_write(portal, block, sizeof block);
    if (w != sizeof block) { printf("send %d: portal write %d\n", id, w); return 1; }
    int all = shoal_sync_open(3, pids, 2, SHOAL_SYNC_ALL_TO_ONE);
    if (all < 0) { printf("send %d: sync open %d\n", id, all); return 1; }
    for (long k = 0; k < rounds; k++) {
        if (shoal_sync_signal(all) != 0 || shoal_sync_wait(back) != 0) { printf("send %d: barrier %ld\n", id, k); return 1; }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "recv") && atoi(argv[3]) <= MAXS)
        return recv(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]));
    if (argc == 6 && !strcmp(argv[1], "send"))
        return send(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]));
    return 2;
}

/* Communicating processes for migration tests (every message is checked: none lost, none
 * duplicated, order kept per sender).
 *   mig_ring ring NAME N LAPS        rank 0: spawns ranks 1..N-1; a token goes round LAPS times
 *   mig_ring stream NAME BLOCKS      a producer streams BLOCKS portal blocks to a consumer */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int lookup(const char *name) {
    int pid;
    while ((pid = shoal_name_lookup(name)) < 0) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return pid;
}

struct token { long seq; long laps; long stop; };

static int ring(const char *tag, int n, long laps, int rank) {
    char name[64], next[64];
    snprintf(name, sizeof name, "%s.%d", tag, rank);
    snprintf(next, sizeof next, "%s.%d", tag, (rank + 1) % n);
    int in = shoal_mailbox_create(1);
    shoal_name_link(name);
    int pids[64];
    if (rank == 0) {
        char sn[16], sl[16], sr[16];
        snprintf(sn, sizeof sn, "%d", n);
        snprintf(sl, sizeof sl, "%ld", laps);
        for (int i = 1; i < n; i++) {
            snprintf(sr, sizeof sr, "%d", i);
            char *args[] = {"mig_ring", "ring", (char *)tag, sn, sl, sr, NULL};
            pids[i] = shoal_spawn("mig_ring", args, SHOAL_ANY_CLUSTER);
        }
    }
    int out = shoal_mailbox_open(lookup(next), 1);
    long expect = rank;
    if (rank == 0) {
        struct token t = {1, 0, 0};
        shoal_mailbox_write(out, &t, sizeof t);
        expect = n;
    }
    for (;;) {
        struct token t;
        int r = shoal_mailbox_read(in, &t, sizeof t);
        if (r != sizeof t) { printf("%s: read %d\n", name, r); return 1; }
        if (t.stop) {
            if (rank != n - 1) shoal_mailbox_write(out, &t, sizeof t);
            break;
        }
        if (t.seq != expect) { printf("%s: got %ld, expected %ld\n", name, t.seq, expect); return 1; }
        expect += n;
        t.seq++;
        if (rank == 0 && ++t.laps >= laps) t.stop = 1;
        int w = shoal_mailbox_write(out, &t, sizeof t);
        if (w != sizeof t) { printf("%s: write %d\n", name, w); return 1; }
        if (t.stop) break;  /* rank 0 sent the stop token round: done */
    }
    if (rank == 0) {
        int bad = 0;
        for (int i = 1; i < n; i++) {
            int st = -1;
            if (shoal_wait(pids[i], &st) != pids[i] || st != 0) bad++;
        }
        printf("ring %s: %d processes, %ld laps, %ld messages each, %s\n", tag, n, laps, laps,
               bad ? "SOME RANK FAILED" : "ok");
        return bad != 0;
    }
    return 0;
}

static int stream(const char *tag, long blocks) {
    char prod[64], cons[64];
    snprintf(prod, sizeof prod, "%s.producer", tag);
    snprintf(cons, sizeof cons, "%s.consumer", tag);
    static unsigned buf[2048];
    if (shoal_name_lookup(prod) < 0 && shoal_name_link(prod) == 0) {
        char sb[16];
        snprintf(sb, sizeof sb, "%ld", blocks);
        char *args[] = {"mig_ring", "stream", (char *)tag, sb, NULL};
        int child = shoal_spawn("mig_ring", args, SHOAL_ANY_CLUSTER);
        int out = shoal_portal_open(lookup(cons), 2);
        for (long b = 0; b < blocks; b++) {
            for (int i = 0; i < 2048; i++) buf[i] = (unsigned)(b * 2654435761u + i);
            if (shoal_portal_write(out, buf, sizeof buf) != sizeof buf) { printf("stream write failed\n"); return 1; }
        }
        int st = -1;
        shoal_wait(child, &st);
        printf("stream %s: %ld blocks of %zu bytes, consumer %s\n", tag, blocks, sizeof buf, st == 0 ? "ok" : "FAILED");
        return st != 0;
    }
    int in = shoal_portal_create(2);
    shoal_portal_allow(in, lookup(prod));
    shoal_name_link(cons);
    for (long b = 0; b < blocks; b++) {
        int r = shoal_portal_read(in, buf, sizeof buf);
        if (r != sizeof buf) { printf("consumer read %d\n", r); return 1; }
        for (int i = 0; i < 2048; i++)
            if (buf[i] != (unsigned)(b * 2654435761u + i)) { printf("block %ld corrupt at %d\n", b, i); return 1; }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "ring"))
        return ring(argv[2], atoi(argv[3]), atol(argv[4]), argc > 5 ? atoi(argv[5]) : 0);
    if (argc >= 4 && !strcmp(argv[1], "stream"))
        return stream(argv[2], atol(argv[3]));
    return 2;
}

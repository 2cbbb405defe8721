/* N processes on N clusters meet at a barrier built from shoal's sync signals, 3 times.
 * Each worker does work that grows with its rank, then signals the master (ALL_TO_ONE) and
 * waits for the release (ONE_TO_ALL). After each barrier, every worker's arrival time must
 * precede the master's release: the master checks the times the workers send it. */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    int pids[16];
    if (argc == 2) {  /* master */
        char sn[8], sm[8];
        snprintf(sn, sizeof sn, "%d", n);
        snprintf(sm, sizeof sm, "%d", getpid());
        pids[0] = getpid();
        int times = shoal_mailbox_create(9);
        for (int i = 1; i < n; i++) {
            char si[8];
            snprintf(si, sizeof si, "%d", i);
            char *args[] = {"barrier", sn, sm, si, NULL};
            pids[i] = shoal_spawn("barrier", args, i);
        }
        int in = shoal_sync_create(1, pids, n, SHOAL_SYNC_ALL_TO_ONE);
        int out = shoal_sync_open(2, pids, n, SHOAL_SYNC_ONE_TO_ALL);
        int ok = 1;
        for (int round = 0; round < 3; round++) {
            shoal_sync_wait(in);
            long long release = now_ns();
            shoal_sync_signal(out);
            for (int i = 1; i < n; i++) {
                long long t;
                shoal_mailbox_read(times, &t, sizeof t);
                if (t > release) ok = 0;
            }
        }
        for (int i = 1; i < n; i++) {
            int st;
            shoal_wait(pids[i], &st);
        }
        printf("barrier %d processes x 3 rounds: %s\n", n, ok ? "ok" : "WRONG");
        return ok ? 0 : 1;
    }
    int master = atoi(argv[2]), rank = atoi(argv[3]);
    /* The pid list: the master's, then the workers' (they are spawned in order). */
    pids[0] = master;
    for (int i = 1; i < n; i++) pids[i] = master + i;
    int out = shoal_sync_open(1, pids, n, SHOAL_SYNC_ALL_TO_ONE);
    int in = shoal_sync_create(2, pids, n, SHOAL_SYNC_ONE_TO_ALL);
    int mb = shoal_mailbox_open(master, 9);
    volatile unsigned x = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20000 * rank * (round + 1); i++) x += i;
        long long arrived = now_ns();
        shoal_sync_signal(out);
        shoal_sync_wait(in);
        shoal_mailbox_write(mb, &arrived, sizeof arrived);
    }
    return 0;
}

/* A launcher, as a new user writes one: spawns N copies of `pol_work` (THREADS threads each, of
 * uneven length: worker i runs ITERS * (1 + i % 4) / 2 iterations a thread) one after the
 * other, then waits for them all and prints each one's exit status.
 *   pol_launch N THREADS ITERS WHERE
 * WHERE: "here" (each on the launcher's own cluster), "rr" (round robin over the other
 * clusters, the launcher's last), or "any" (SHOAL_ANY_CLUSTER). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shoal.h>

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    int n = atoi(argv[1]), iters = atoi(argv[3]);
    if (n < 1 || n > 256) return 2;
    int here = shoal_cluster(), clusters = shoal_clusters();
    static int pids[256];
    for (int i = 0; i < n; i++) {
        char it[16], seed[16];
        snprintf(it, sizeof it, "%d", (int)((long long)iters * (1 + i % 4) / 2));
        snprintf(seed, sizeof seed, "%d", i);
        char *child[] = {"pol_work", argv[2], it, seed, NULL};
        int where = here;
        if (!strcmp(argv[4], "rr"))
            where = (here + 1 + i) % clusters;
        else if (!strcmp(argv[4], "any"))
            where = SHOAL_ANY_CLUSTER;
        pids[i] = shoal_spawn("pol_work", child, where);
        if (pids[i] < 0) {
            printf("worker %d: spawn failed %d\n", i, pids[i]);
            return 1;
        }
    }
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int st = -1;
        if (shoal_wait(pids[i], &st) != pids[i] || st != 0) bad++;
    }
    printf("launched %d workers, %d failed\n", n, bad);
    return bad != 0;
}

/* SPMD with shoal_mp.h: rank 0 spawns SIZE-1 ranks on other clusters; rank 0 broadcasts N;
 * each rank sums f(i) over its share of 0..N-1; a reduce brings the total to rank 0; a barrier
 * ends each of 3 rounds. Prints the totals (computed here on the host too). */
#include <shoal_mp.h>
#include <stdio.h>
#include <stdlib.h>

static double f(long i) { return 1.0 / (1.0 + (double)i * (double)i); }

int main(int argc, char **argv) {
    int size = argc > 1 ? atoi(argv[1]) : 4;
    int rank = argc > 2 ? atoi(argv[2]) : 0;
    if (rank == 0) {
        for (int r = 1; r < size; r++) {
            char s[16], rk[16];
            snprintf(s, sizeof s, "%d", size);
            snprintf(rk, sizeof rk, "%d", r);
            char *args[] = {"mp_sum", s, rk, NULL};
            if (shoal_spawn("mp_sum", args, r % shoal_clusters()) < 0) return 1;
        }
    }
    shoal_mp_t mp;
    int e = shoal_mp_init(&mp, "sum", rank, size);
    if (e < 0) { printf("init %d\n", e); return 1; }
    for (int round = 1; round <= 3; round++) {
        long n = 0;
        if (rank == 0) n = 20000L * round;
        shoal_mp_bcast(&mp, 0, &n, sizeof n);
        double part[2] = {0.0, 0.0};
        for (long i = rank; i < n; i += size) { part[0] += f(i); part[1] += 1.0; }
        double total[2];
        shoal_mp_reduce_sum(&mp, 0, part, total, 2);
        if (rank == 0) printf("round %d: n=%ld terms=%.0f sum=%.12f\n", round, n, total[1], total[0]);
        shoal_mp_barrier(&mp);
    }
    return 0;
}

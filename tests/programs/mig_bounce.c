/* Moves itself between clusters 1 and 2 N times (mig_bounce N), summing a little work between
   moves: what the host keeps of each move must not grow with the moves (tests/test_records.py).
   On the host, shoal_migrate is a stub that succeeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __riscv
#include <shoal.h>
#else
static int shoal_migrate(int c) { (void)c; return 0; }
#endif

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10;
    uint32_t sum = 0;
    long ok = 0;
    for (int i = 0; i < n; i++) {
        ok += shoal_migrate(1 + (i & 1)) == 0;
        for (int j = 0; j < 1000; j++) sum = sum * 31 + (unsigned)(i ^ j);
    }
    printf("moves %d ok %ld sum %u\n", n, ok, (unsigned)sum);
    return 0;
}

/* A process with a data set of PAGES pages whose first HOT pages (the hot set) it rewrites
 * ROUNDS times, thinking a while between rounds: the workload of live migration (pre-copy
 * sends again what is dirtied, post-copy fetches what is touched). Prints a checksum of every
 * page, the same wherever it ran and however it moved.
 * usage: hotset PAGES HOT ROUNDS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PAGE 4096
#define THINK 4000 /* iterations of register-only work per round (so that HOT = 0 runs too) */

int main(int argc, char **argv) {
    int pages = argc > 1 ? atoi(argv[1]) : 256;
    int hot = argc > 2 ? atoi(argv[2]) : 16;
    int rounds = argc > 3 ? atoi(argv[3]) : 200;
    if (pages < 1 || hot < 0 || hot > pages || rounds < 0) {
        fprintf(stderr, "usage: hotset PAGES HOT ROUNDS (0 <= HOT <= PAGES)\n");
        return 2;
    }
    uint32_t *data = malloc((size_t)pages * PAGE);
    if (!data) {
        fprintf(stderr, "no memory\n");
        return 1;
    }
    const int words = PAGE / 4;
    for (int p = 0; p < pages; p++)
        for (int w = 0; w < words; w++)
            data[p * words + w] = (uint32_t)(p * 2654435761u + w);
    uint32_t x = 1;
    for (int r = 0; r < rounds; r++) {
        for (int p = 0; p < hot; p++)
            for (int w = 0; w < words; w += 4)
                data[p * words + w] = data[p * words + w] * 1103515245u + (uint32_t)r;
        for (int i = 0; i < THINK; i++)
            x = x * 1664525u + 1013904223u;
    }
    uint64_t sum = x;
    for (int i = 0; i < pages * words; i++)
        sum = sum * 31 + data[i];
    printf("hotset %d pages, %d hot, %d rounds: %llu\n", pages, hot, rounds, (unsigned long long)sum);
    return 0;
}

/* Rewrites every page of its data without pause: it dirties memory faster than the NoC can
 * carry it, so pre-copy can never catch up and must stop by its limits.
 * usage: dirtier PAGES PASSES */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int pages = argc > 1 ? atoi(argv[1]) : 128;
    int passes = argc > 2 ? atoi(argv[2]) : 400;
    /* volatile: each store happens in pass order (the compiler may not sum the passes up) */
    volatile uint32_t *d = calloc((size_t)pages, 4096);
    if (!d) return 1;
    for (int r = 0; r < passes; r++)
        for (int p = 0; p < pages; p++)
            d[p * 1024 + (r & 1023)] += (uint32_t)(p + r);  /* one store per page per pass */
    uint64_t sum = 0;
    for (int i = 0; i < pages * 1024; i++) sum = sum * 31 + d[i];
    printf("dirtier %d pages, %d passes: %llu\n", pages, passes, (unsigned long long)sum);
    return 0;
}

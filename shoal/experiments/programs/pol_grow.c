/* A process whose memory grows slowly, for the memory policy: it touches PAGES new pages,
 * one every SPIN loop iterations, then prints a checksum of them all.
 *   pol_grow PAGES SPIN SEED */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    int pages = atoi(argv[1]), spin = atoi(argv[2]);
    unsigned seed = (unsigned)atoi(argv[3]), x = seed * 2654435761u + 7u;
    unsigned char *mem = malloc((size_t)pages * 4096);
    if (!mem) return 3;
    volatile unsigned acc = 0;
    for (int p = 0; p < pages; p++) {
        for (int i = 0; i < spin; i++) acc += (unsigned)i ^ acc;
        for (int i = 0; i < 4096; i += 64) { x = x * 1103515245u + 12345u; mem[(size_t)p * 4096 + i] = (unsigned char)(x >> 16); }
    }
    unsigned long long sum = 0;
    for (int p = 0; p < pages; p++)
        for (int i = 0; i < 4096; i += 64) sum = sum * 131ull + mem[(size_t)p * 4096 + i];
    printf("grow %u: %llu\n", seed, sum);
    return 0;
}

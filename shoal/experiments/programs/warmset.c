/* A process whose data set of BYTES it reads again and again (ROUNDS times), writing back
 * one word in 16 (so that live migration finds it dirty): the locality experiments' workload
 * (shoal/experiments/locality.py). Up to 8 KiB it fits in an MPPA-256 core's D-cache, so
 * after the first round every load hits unless its frames conflict (E2: frame placement) or
 * the process moved to a core whose cache never held it (E3: migration). Prints a checksum,
 * the same wherever it ran and however it moved (a host build gives it too).
 * usage: warmset BYTES ROUNDS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long bytes = argc > 1 ? atol(argv[1]) : 6144;
    long rounds = argc > 2 ? atol(argv[2]) : 100;
    if (argc != 3 || bytes < 4 || bytes > (1L << 24) || rounds < 0) {
        fprintf(stderr, "usage: warmset BYTES ROUNDS (4 <= BYTES <= 16 MiB)\n");
        return 2;
    }
    size_t words = (size_t)bytes / 4;
    uint32_t *data = malloc(words * 4);
    if (!data) {
        fprintf(stderr, "no memory\n");
        return 1;
    }
    for (size_t i = 0; i < words; i++) data[i] = (uint32_t)i * 2654435761u;
    uint32_t sum = 0;
    for (long r = 0; r < rounds; r++) {
        for (size_t i = 0; i < words; i++) sum = sum * 31 + data[i];
        for (size_t i = (size_t)r % 16; i < words; i += 16) data[i] ^= sum;
    }
    printf("warmset %ld %ld: %u\n", bytes, rounds, (unsigned)sum);
    free(data);
    return 0;
}

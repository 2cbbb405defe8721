/* Write a pattern derived from argv[1] into static, heap and mmap memory, sleep so that other
 * containers run, then check that it is intact. stdout depends only on argv[1]; stderr has the
 * virtual addresses (the same in every container running this program). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define WORDS 4096
static volatile uint32_t data_area[WORDS] = {1};
static volatile uint32_t bss_area[WORDS];

static uint32_t pattern(uint32_t seed, uint32_t round, uint32_t i) {
    uint32_t x = seed * 2654435761u ^ round * 40503u ^ i * 2246822519u;
    x ^= x >> 15;
    return x * 2654435761u;
}

int main(int argc, char **argv) {
    uint32_t seed = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1;
    int rounds = argc > 2 ? atoi(argv[2]) : 6;
    volatile uint32_t *heap = malloc(WORDS * sizeof(uint32_t));
    volatile uint32_t *map = mmap(NULL, WORDS * sizeof(uint32_t), PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (heap == NULL || map == MAP_FAILED) {
        printf("allocation failed\n");
        return 2;
    }
    fprintf(stderr, "data %p bss %p heap %p mmap %p\n", (void *)data_area, (void *)bss_area, (void *)heap,
            (void *)map);
    unsigned long bad = 0, sum = 0;
    for (int r = 0; r < rounds; r++) {
        volatile uint32_t *areas[4] = {data_area, bss_area, heap, map};
        for (int a = 0; a < 4; a++)
            for (uint32_t i = 0; i < WORDS; i++)
                areas[a][i] = pattern(seed + (uint32_t)a, (uint32_t)r, i);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        for (int a = 0; a < 4; a++)
            for (uint32_t i = 0; i < WORDS; i++) {
                uint32_t v = areas[a][i];
                if (v != pattern(seed + (uint32_t)a, (uint32_t)r, i))
                    bad++;
                sum = sum * 31u + v;
            }
    }
    printf("seed %u rounds %d mismatches %lu sum %08lx\n", seed, rounds, bad, sum & 0xffffffffUL);
    return bad ? 1 : 0;
}

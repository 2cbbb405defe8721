/* Buffers larger than the cluster, mapped, filled, summed and unmapped again and again (and
 * half of one given back with madvise(DONTNEED)): remote memory must free the copies of pages
 * a program gave up, or it fills with dead pages and the program is killed as out of memory.
 * usage: rmem_churn MIB ROUNDS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    size_t bytes = (size_t)(argc > 1 ? atoi(argv[1]) : 4) << 20;
    int rounds = argc > 2 ? atoi(argv[2]) : 8;
    uint64_t total = 0;
    char *at = (char *)0x20000000;
    for (int r = 0; r < rounds; r++) {
        /* a different address each round: copies of old pages are not overwritten */
        uint32_t *b = mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (b == MAP_FAILED) {
            printf("mmap failed in round %d\n", r);
            return 1;
        }
        size_t n = bytes / 4;
        for (size_t i = 0; i < n; i++) b[i] = (uint32_t)(i * 2654435761u) ^ (uint32_t)r;
        madvise(b, bytes / 2, MADV_DONTNEED);  /* zero again on next touch */
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i += 7) sum = sum * 31 + b[i];
        total += sum;
        at += bytes + (1 << 20);
        munmap(b, bytes);
    }
    printf("rmem_churn: %llu\n", (unsigned long long)total);
    return 0;
}

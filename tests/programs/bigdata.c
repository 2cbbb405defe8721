/* A data set several times larger than a cluster's memory: MIB mebibytes, written, then
 * PASSES passes of a strided update over all of it, then a checksum. On a 2 MiB cluster it
 * runs only because pages go to the I/O cluster's remote memory and come back on touch.
 * usage: bigdata MIB PASSES */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int mib = argc > 1 ? atoi(argv[1]) : 8;
    int passes = argc > 2 ? atoi(argv[2]) : 2;
    size_t words = (size_t)mib << 18;
    uint32_t *d = malloc(words * 4);
    if (!d) {
        printf("no memory\n");
        return 1;
    }
    for (size_t i = 0; i < words; i++) d[i] = (uint32_t)(i * 2654435761u);
    for (int p = 0; p < passes; p++)
        for (size_t i = p; i < words; i += 61)  /* touches every page, in order */
            d[i] = d[i] * 1103515245u + (uint32_t)p + d[i / 2];  /* and one page behind */
    uint64_t sum = 0;
    for (size_t i = 0; i < words; i++) sum = sum * 31 + d[i];
    printf("bigdata %d MiB, %d passes: %llu\n", mib, passes, (unsigned long long)sum);
    return 0;
}

/* Memory access patterns for the L1 cache model's tests (tests/test_caches.py):
   cache_walk MODE BYTES REPS
     seq     read BYTES sequentially, word by word, REPS times
     stride  read one byte every 4096 (the set index repeats: ways thrash), REPS times
     random  read and write words at pseudo-random places (an LCG), BYTES/4 x REPS times
     write   write BYTES sequentially, REPS times
   Prints a checksum, so the host build checks the chip's result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: cache_walk seq|stride|random|write BYTES REPS\n");
        return 2;
    }
    const char *mode = argv[1];
    size_t bytes = (size_t)atol(argv[2]);
    int reps = atoi(argv[3]);
    unsigned *buf = malloc(bytes + 4096);
    if (buf == NULL) return 1;
    for (size_t i = 0; i < bytes / 4; i++) buf[i] = (unsigned)i * 2654435761u;
    unsigned sum = 0; /* 32 bits on both sides */
    unsigned x = 12345;
    for (int r = 0; r < reps; r++) {
        if (strcmp(mode, "seq") == 0) {
            for (size_t i = 0; i < bytes / 4; i++) sum += buf[i];
        } else if (strcmp(mode, "stride") == 0) {
            for (size_t i = 0; i < bytes; i += 4096) sum += ((volatile unsigned char *)buf)[i];
        } else if (strcmp(mode, "random") == 0) {
            for (size_t i = 0; i < bytes / 4; i++) {
                x = x * 1103515245u + 12345u;
                size_t j = (x >> 8) % (bytes / 4);
                sum += buf[j];
                buf[(j * 7) % (bytes / 4)] = (unsigned)sum;
            }
        } else {
            for (size_t i = 0; i < bytes / 4; i++) buf[i] = (unsigned)(i + r);
            sum += buf[bytes / 8];
        }
    }
    printf("%s %zu %d: %u\n", mode, bytes, reps, sum);
    free(buf);
    return 0;
}

/* Read N bytes of stdin (fewer if it ends) in reads of SIZE; print how many and their sum. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long want = argc > 1 ? atol(argv[1]) : 1 << 20;
    long size = argc > 2 ? atol(argv[2]) : 4096;
    static unsigned char buf[1 << 16];
    if (size < 1 || size > (long)sizeof buf) return 2;
    long got = 0;
    unsigned long sum = 0;
    while (got < want) {
        long n = want - got < size ? want - got : size;
        ssize_t r = read(0, buf, (size_t)n);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; i++) sum += buf[i];
        got += r;
    }
    printf("%ld bytes, sum %lu\n", got, sum);
    return 0;
}

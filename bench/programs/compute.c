/* bench/programs/compute.c: a compute-bound single-thread loop for figure 1.
 *
 * Each iteration mixes integer work (xorshift, multiply, remainder, a 4 KiB table in memory)
 * with double-precision floating point (multiply-add, divide). No system calls inside the
 * loop; one printf at the end. The output depends only on N, so the same ELF must print the
 * same line under shoal and under qemu-riscv32.
 *
 * usage: compute N      prints "compute N HASH CHECKSUM"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t table[1024];

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000000;
    uint32_t x = 2463534242u, h = 0;
    double y = 1.0, acc = 0.0;
    for (int i = 0; i < 1024; i++)
        table[i] = (uint32_t)i * 2654435761u;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        uint32_t k = x & 1023;
        table[k] += x;
        h = h * 31u + table[(k + 1) & 1023] % 1000003u;
        y = y * 0.999999 + (double)(x & 0xffff) * 1e-6;
        acc += y / (1.0 + (double)(i & 15));
    }
    printf("compute %ld %08x %.6f\n", n, (unsigned)h, acc);
    return 0;
}

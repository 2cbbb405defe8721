/* A loop of known length: argv[1] iterations of exactly two instructions (addi, bnez), so
 * two runs whose arguments differ by D (written with as many digits) differ by exactly 2 D
 * guest instructions. argv[2], if given, makes a store fault in the middle of a block. */
#include <stdio.h>
#include <stdlib.h>

static int *volatile nowhere;

int main(int argc, char **argv) {
    unsigned n = (unsigned)atoi(argv[1]);
#ifdef __riscv
    if (n)
        __asm__ volatile("1: addi %0, %0, -1\n\tbnez %0, 1b" : "+r"(n));
#else
    while (n) n = *(volatile unsigned *)&n - 1;  /* (the host build: conftest builds it too) */
#endif
    puts("done");
    if (argc > 2) {
        int *p = nowhere;
        /* A store that faults, with instructions after it in the same block. */
#ifdef __riscv
        __asm__ volatile("sw zero, 0(%0)\n\taddi %0, %0, 1\n\taddi %0, %0, 1\n\taddi %0, %0, 1"
                         : "+r"(p));
#else
        *p = 0;
#endif
    }
    return 0;
}

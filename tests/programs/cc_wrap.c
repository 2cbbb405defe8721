/* Undefined behaviour that gcc's unoptimised code computes plainly (two's complement wrap,
 * shifts by the register's low bits, a misaligned load): zig's Debug mode would abort on each
 * with UBSan. Inputs come from argc (1), so nothing is folded at compile time. */
#include <limits.h>
#include <stdio.h>

int main(int argc, char **argv) {
    (void)argv;
    volatile int big = INT_MAX, one = argc;
    int wrapped = big + one;              /* signed overflow */
    int minus = -big - one;               /* INT_MIN */
    int back = minus - one;               /* and past it */
    int prod = big * (one + 1);           /* multiplication overflow */
    int neg = -one;
    int left = neg << 3;                  /* shift of a negative value */
    int top = one << 31;                  /* into the sign bit */
    char buf[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    int mis = *(int *)(buf + one);        /* misaligned int load (both hosts are little-endian) */
    printf("%d %d %d %d %d %d %d\n", wrapped, minus, back, prod, left, top, mis);
    return 0;
}

/* a*b + c where rounding a*b first loses everything: a = 1 + 2^-30, b = 1 - 2^-30, c = -1,
 * so a*b = 1 - 2^-60 rounds to 1 and a separate add gives 0, where a fused multiply-add
 * (one rounding) gives -2^-60. Whether the compiler fuses is -ffp-contract's business. */
#include <stdio.h>

__attribute__((noinline)) static double expr(double a, double b, double c) {
    return a * b + c;
}

__attribute__((noinline)) static double stmts(double a, double b, double c) {
    double t = a * b;
    return t + c;
}

int main(int argc, char **argv) {
    (void)argv;
    double e = 0x1p-30 * argc, a = 1.0 + e, b = 1.0 - e, c = -1.0;
    printf("expr %.17g\nstmts %.17g\n", expr(a, b, c), stmts(a, b, c));
    return 0;
}

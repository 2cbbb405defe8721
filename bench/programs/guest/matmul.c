/* Dense matrix multiply in double: long blocks, floating point. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n);
    double *c = calloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < n * n; i++) { a[i] = (i % 17) * 0.25; b[i] = (i % 13) * 0.5; }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (int j = 0; j < n; j += 4) {
                c[i * n + j] += aik * b[k * n + j];
                c[i * n + j + 1] += aik * b[k * n + j + 1];
                c[i * n + j + 2] += aik * b[k * n + j + 2];
                c[i * n + j + 3] += aik * b[k * n + j + 3];
            }
        }
    double t = 0;
    for (int i = 0; i < n * n; i++) t += c[i];
    printf("matmul %.3f\n", t);
    return 0;
}

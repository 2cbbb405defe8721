/* Quicksort of pseudo-random integers, several rounds: branchy, short blocks, integer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void sort(int32_t *a, int lo, int hi) {
    while (lo < hi) {
        int32_t p = a[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i <= j) { int32_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { sort(a, lo, j); lo = i; } else { sort(a, i, hi); hi = j; }
    }
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 10;
    enum { N = 100000 };
    int32_t *a = malloc(N * sizeof *a);
    uint32_t x = 1, sum = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < N; i++) { x = x * 1664525u + 1013904223u; a[i] = (int32_t)(x >> 1); }
        sort(a, 0, N - 1);
        for (int i = 1; i < N; i++) if (a[i - 1] > a[i]) { puts("unsorted"); return 1; }
        sum += (uint32_t)a[N / 2];
    }
    printf("qsort %u\n", (unsigned)sum);
    return 0;
}

/* Touches N MiB (a byte per page), keeps it, and sums it back: touch_mb N. More than a
   cluster holds goes to remote memory, which the host keeps. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 16, n = 0;
    unsigned sum = 0;
    char **ps = calloc(mb, sizeof *ps);
    for (; n < mb; n++) {
        char *p = malloc(1 << 20);
        if (p == NULL) {
            printf("malloc failed at %zu MiB\n", n);
            break;
        }
        for (size_t j = 0; j < (1 << 20); j += 4096)
            p[j] = (char)(n + j / 4096);
        ps[n] = p;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < (1 << 20); j += 4096)
            sum += (unsigned char)ps[i][j];
    printf("touched %zu MiB sum %u\n", n, sum);
    return 0;
}

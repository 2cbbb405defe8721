/* mremap (issue 22): grow in place or move with the contents, shrink, MREMAP_FIXED, Linux's
 * errors; realloc of a large block. Output has no addresses. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define P 4096

static void fill(char *p, int pages, int seed) {
    for (int i = 0; i < pages; i++) memset(p + i * P, seed + i, P);
}

static int same(char *p, int pages, int seed) {
    for (int i = 0; i < pages; i++)
        for (int j = 0; j < P; j += 511)
            if (p[i * P + j] != (char)(seed + i)) return 0;
    return 1;
}

static long err(void *r) { return r == MAP_FAILED ? -errno : 0; }

int main(void) {
    char *a = mmap(0, 3 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(a, 3, 10);
    char *b = mremap(a, 3 * P, 8 * P, MREMAP_MAYMOVE);
    printf("grow %ld kept %d zero after %d\n", err(b), same(b, 3, 10), b[5 * P] == 0 && b[8 * P - 1] == 0);
    fill(b, 8, 20);
    char *c = mremap(b, 8 * P, 2 * P, 0);
    printf("shrink %ld same place %d kept %d\n", err(c), c == b, same(c, 2, 20));
    printf("shrink gone %d\n", mprotect(b + 4 * P, P, PROT_READ) == -1 ? errno : 0);  /* ENOMEM */

    /* a neighbour right after it: no growing in place, so without MREMAP_MAYMOVE: ENOMEM */
    char *n = mmap(c + 2 * P, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("neighbour %d\n", n == c + 2 * P);
    printf("grow fixed in place %ld\n", err(mremap(c, 2 * P, 4 * P, 0)));
    char *m = mremap(c, 2 * P, 4 * P, MREMAP_MAYMOVE);
    printf("grow moved %ld moved %d kept %d\n", err(m), m != c, same(m, 2, 20));
    printf("old place gone %d\n", mprotect(c, P, PROT_READ) == -1 ? errno : 0);

    /* MREMAP_FIXED: to an address of our choice */
    char *spot = mmap(0, 16 * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(spot, 16 * P);
    char *f = mremap(m, 4 * P, 4 * P, MREMAP_MAYMOVE | MREMAP_FIXED, spot + 4 * P);
    printf("fixed %ld there %d kept %d\n", err(f), f == spot + 4 * P, same(f, 2, 20));

    printf("unaligned %ld\n", err(mremap(f + 1, P, 2 * P, MREMAP_MAYMOVE)));
    printf("zero new length %ld\n", err(mremap(f, P, 0, MREMAP_MAYMOVE)));
    printf("fixed without maymove %ld\n", err(mremap(f, P, P, MREMAP_FIXED, spot)));
    printf("fixed overlapping %ld\n", err(mremap(f, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, f + P)));
    printf("bad flag %ld\n", err(mremap(f, P, 2 * P, 64)));
    printf("not mapped %ld\n", err(mremap(spot, P, 2 * P, MREMAP_MAYMOVE)));
    printf("past its mapping %ld\n", err(mremap(f, 6 * P, 8 * P, MREMAP_MAYMOVE)));
    /* a zero old length duplicates shared memory only: EINVAL for private (Linux 5.18 on) */
    printf("zero old length %ld\n", err(mremap(f, 0, P, MREMAP_MAYMOVE)));
    printf("zero old length in place %ld\n", err(mremap(f, 0, P, 0)));
    printf("zero old length unmapped %ld\n", err(mremap(spot, 0, P, MREMAP_MAYMOVE)));

    char *r = malloc(200000);
    memset(r, 7, 200000);
    r = realloc(r, 2000000);
    int ok = 1;
    for (int i = 0; i < 200000; i += 997) ok &= r[i] == 7;
    printf("realloc kept %d\n", ok);
    free(r);
    return 0;
}

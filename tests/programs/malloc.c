/* malloc/calloc/realloc/free over many sizes; every block's contents are checked. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 400
#define OPS 12000
#define LIVE_LIMIT (128 * 1024)

static uint32_t rng = 2463534242u;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static unsigned char *blk[SLOTS];
static size_t len[SLOTS];
static uint32_t tag[SLOTS];
static unsigned long errors, checksum;

static unsigned char pat(uint32_t t, size_t i) { return (unsigned char)(t * 131u + i * 7u + (i >> 8)); }

static void fill(int s) {
    for (size_t i = 0; i < len[s]; i++)
        blk[s][i] = pat(tag[s], i);
}

static void check(int s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (blk[s][i] != pat(tag[s], i)) {
            errors++;
            return;
        }
        checksum = checksum * 33u + blk[s][i];
    }
}

static size_t pick_size(void) {
    uint32_t r = next() % 100;
    if (r < 50)
        return 1 + next() % 64;
    if (r < 85)
        return 65 + next() % 1024;
    if (r < 98)
        return 1089 + next() % 8192;
    return 16384 + next() % 32768;
}

int main(void) {
    size_t live = 0, peak = 0;
    unsigned long nmalloc = 0, ncalloc = 0, nrealloc = 0, nfree = 0;
    for (int op = 0; op < OPS; op++) {
        int s = (int)(next() % SLOTS);
        uint32_t what = next() % 10;
        if (blk[s] == NULL) {
            size_t n = pick_size();
            if (live + n > LIVE_LIMIT)
                continue;
            if (what < 2) {
                blk[s] = calloc(n, 1);
                ncalloc++;
                if (blk[s])
                    for (size_t i = 0; i < n; i++)
                        if (blk[s][i] != 0) {
                            errors++;
                            break;
                        }
            } else {
                blk[s] = malloc(n);
                nmalloc++;
            }
            if (blk[s] == NULL) {
                printf("allocation of %zu failed\n", n);
                return 2;
            }
            len[s] = n;
            tag[s] = next();
            fill(s);
            live += n;
        } else if (what < 4) {
            size_t n = pick_size();
            if (live - len[s] + n > LIVE_LIMIT)
                n = len[s] / 2 + 1;
            unsigned char *p = realloc(blk[s], n);
            nrealloc++;
            if (p == NULL) {
                printf("realloc to %zu failed\n", n);
                return 2;
            }
            blk[s] = p;
            check(s, n < len[s] ? n : len[s]);
            live = live - len[s] + n;
            len[s] = n;
            tag[s] = next();
            fill(s);
        } else {
            check(s, len[s]);
            free(blk[s]);
            nfree++;
            blk[s] = NULL;
            live -= len[s];
            len[s] = 0;
        }
        if (live > peak)
            peak = live;
    }
    for (int s = 0; s < SLOTS; s++)
        if (blk[s]) {
            check(s, len[s]);
            free(blk[s]);
            nfree++;
        }
    free(NULL);
    void *z = malloc(0);
    free(z);
    printf("malloc %lu calloc %lu realloc %lu free %lu\n", nmalloc, ncalloc, nrealloc, nfree);
    printf("peak live %zu errors %lu checksum %08lx\n", peak, errors, checksum & 0xffffffffUL);
    return errors ? 1 : 0;
}

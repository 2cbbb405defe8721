/* Strings and a hash table: formatting keys, FNV-1a, chained buckets, lookups. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry { struct entry *next; uint32_t h; int value; char key[24]; };

static uint32_t fnv(const char *s) {
    uint32_t h = 2166136261u;
    while (*s) { h ^= (uint8_t)*s++; h *= 16777619u; }
    return h;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int rounds = argc > 2 ? atoi(argv[2]) : 4;  /* lookup passes: run length at a fixed table */
    enum { BUCKETS = 4096 };
    struct entry **tab = calloc(BUCKETS, sizeof *tab);
    struct entry *pool = malloc(sizeof(struct entry) * (size_t)n);
    char key[24];
    for (int i = 0; i < n; i++) {
        struct entry *e = &pool[i];
        int len = 0;
        unsigned v = (unsigned)i * 2654435761u;
        key[len++] = 'k';
        do { key[len++] = (char)('a' + v % 26); v /= 26; } while (v);
        key[len] = 0;
        memcpy(e->key, key, (size_t)len + 1);
        e->h = fnv(key);
        e->value = i;
        e->next = tab[e->h % BUCKETS];
        tab[e->h % BUCKETS] = e;
    }
    long found = 0;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++) {
            const char *k = pool[(i * 7 + r) % n].key;
            uint32_t h = fnv(k);
            for (struct entry *e = tab[h % BUCKETS]; e; e = e->next)
                if (e->h == h && strcmp(e->key, k) == 0) { found += e->value; break; }
        }
    printf("hash %ld\n", found);
    return 0;
}

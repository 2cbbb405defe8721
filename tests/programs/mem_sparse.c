/* Large sparse mappings: touch a few pages, mprotect parts (splitting regions), munmap pieces,
 * madvise(MADV_DONTNEED), map over touched pages, and check what reads back after each step.
 *
 *   mem_sparse            the whole sequence; prints one line per step, exit 0
 *   mem_sparse peak K R   R rounds: map 4 MiB x (K + 1) below a growing untouched spacer,
 *                         touch one page in each of K 4 MiB spans, unmap (the test reads the
 *                         peak frame count: K pages + K second-level tables, whatever R is)
 *   mem_sparse ro|none|gone|split   a touch that must kill the program with SIGSEGV
 *
 * Addresses are never printed: they differ between the host and the chip. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096u
#define MIB (1024u * 1024u)
#define SPAN (4u * MIB) /* what one Sv32 second-level table maps */

static const char *errname(int e) {
    return e == 0 ? "0" : e == ENOMEM ? "ENOMEM" : e == EINVAL ? "EINVAL" : "other";
}

static void say(const char *s) {
    printf("%s\n", s);
    fflush(stdout);
}

static char *map(size_t len, int prot) {
    char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap of %zu MiB failed\n", len / MIB);
        exit(1);
    }
    return p;
}

/* The sparse set: page numbers of a 64 MiB region, spread over all of its spans. */
#define REGION (64u * MIB)
#define NPAGES (REGION / PG)
#define NTOUCH 48
static unsigned touched[NTOUCH];

static unsigned page_of(int k) {
    return (unsigned)(k * 337 + (k * k) % 101) % NPAGES;
}

static unsigned value(unsigned pg, unsigned gen) {
    return pg * 2654435761u + gen * 40503u + 1u;
}

static void fill(char *a, unsigned lo, unsigned hi, unsigned gen) {
    for (int k = 0; k < NTOUCH; k++) {
        unsigned pg = touched[k];
        if (pg >= lo && pg < hi) {
            unsigned *w = (unsigned *)(a + (size_t)pg * PG);
            w[0] = value(pg, gen);
            w[PG / sizeof(unsigned) - 1] = ~value(pg, gen);
        }
    }
}

/* How many touched pages in [lo, hi) read back as generation `gen`, as zero, or as neither. */
static void check(const char *what, char *a, unsigned lo, unsigned hi, unsigned gen) {
    int same = 0, zero = 0, other = 0;
    for (int k = 0; k < NTOUCH; k++) {
        unsigned pg = touched[k];
        if (pg < lo || pg >= hi)
            continue;
        unsigned *w = (unsigned *)(a + (size_t)pg * PG);
        unsigned first = w[0], last = w[PG / sizeof(unsigned) - 1];
        if (first == value(pg, gen) && last == ~value(pg, gen))
            same++;
        else if (first == 0 && last == 0)
            zero++;
        else
            other++;
    }
    printf("%-34s kept %2d zero %2d other %d\n", what, same, zero, other);
}

static void result(const char *what, int r) {
    printf("%-34s %d errno %s\n", what, r, errname(r ? errno : 0));
    errno = 0;
}

static int sequence(void) {
    char *a = map(REGION, PROT_READ | PROT_WRITE);
    int distinct = 0;
    for (int k = 0; k < NTOUCH; k++) {
        touched[k] = page_of(k);
        int seen = 0;
        for (int j = 0; j < k; j++)
            seen |= touched[j] == touched[k];
        distinct += !seen;
    }
    printf("touching %d distinct pages of %u\n", distinct, NPAGES);
    fill(a, 0, NPAGES, 1);
    check("after touching", a, 0, NPAGES, 1);

    /* mprotect inside one region: it splits in three, then five. */
    const unsigned q = NPAGES / 4; /* 16 MiB in pages */
    result("mprotect middle read-only", mprotect(a + (size_t)q * PG, 2 * (size_t)q * PG, PROT_READ));
    check("read-only middle reads", a, q, 3 * q, 1);
    result("mprotect a hole in it rw", mprotect(a + (size_t)(q + 100) * PG, 1000 * PG, PROT_READ | PROT_WRITE));
    fill(a, q + 100, q + 1100, 2);
    check("rewritten inside the rw hole", a, q + 100, q + 1100, 2);
    check("outside it, still generation 1", a, 0, q + 100, 1);
    result("mprotect all rw again", mprotect(a, REGION, PROT_READ | PROT_WRITE));
    fill(a, 0, NPAGES, 3);
    check("rewritten everywhere", a, 0, NPAGES, 3);
    result("mprotect none then rw", mprotect(a, REGION, PROT_NONE) | mprotect(a, REGION, PROT_READ | PROT_WRITE));
    check("contents survive PROT_NONE", a, 0, NPAGES, 3);

    /* munmap pieces: the first page, a middle piece (a split), an unaligned tail. */
    result("munmap first page", munmap(a, PG));
    result("munmap 4 MiB in the middle", munmap(a + 30 * (size_t)MIB, 4 * MIB));
    result("munmap it again", munmap(a + 30 * (size_t)MIB, 4 * MIB));
    check("below the middle hole", a, 1, 30 * MIB / PG, 3);
    check("above the middle hole", a, 34 * MIB / PG, NPAGES, 3);
    char *b = mmap(a + 30 * (size_t)MIB, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("%-34s %s\n", "map the hole again", b == a + 30 * (size_t)MIB ? "same place" : "elsewhere");
    check("in the remapped hole", a, 30 * MIB / PG, 34 * MIB / PG, 3);

    /* MADV_DONTNEED: the frames go, the mapping stays, a touch finds zeros. */
    result("madvise dontneed 40-50 MiB", madvise(a + 40 * (size_t)MIB, 10 * MIB, MADV_DONTNEED));
    check("inside dontneed", a, 40 * MIB / PG, 50 * MIB / PG, 3);
    check("outside dontneed (above)", a, 50 * MIB / PG, NPAGES, 3);
    check("outside dontneed (below)", a, 34 * MIB / PG, 40 * MIB / PG, 3);
    fill(a, 40 * MIB / PG, 50 * MIB / PG, 4);
    check("rewritten after dontneed", a, 40 * MIB / PG, 50 * MIB / PG, 4);

    /* MAP_FIXED over touched pages replaces them with zeros. */
    b = mmap(a + 8 * (size_t)MIB, 8 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("%-34s %s\n", "map over 8-16 MiB", b == a + 8 * (size_t)MIB ? "same place" : "elsewhere");
    check("under the new mapping", a, 8 * MIB / PG, 16 * MIB / PG, 3);
    check("next to it", a, 16 * MIB / PG, 30 * MIB / PG, 3);

    /* A 512 MiB reservation made usable piece by piece, one page touched per 32 MiB. */
    const size_t big = 512u * MIB;
    char *r = map(big, PROT_NONE);
    unsigned long sum = 0;
    for (size_t off = 0; off < big; off += 32 * MIB) {
        if (mprotect(r + off + 16 * MIB, PG, PROT_READ | PROT_WRITE) != 0)
            say("mprotect in the reservation failed");
        *(unsigned *)(r + off + 16 * MIB) = (unsigned)(off / MIB) + 7;
    }
    for (size_t off = 0; off < big; off += 32 * MIB)
        sum += *(unsigned *)(r + off + 16 * MIB);
    printf("%-34s %lu\n", "reservation sum", sum);
    result("munmap the reservation", munmap(r, big));

    /* Over a hole (the first page): refused. Linux has changed the mapped part by then and
     * shoal has not, so nothing is read back afterwards. */
    result("mprotect over a hole", mprotect(a, 8 * MIB, PROT_READ));
    result("madvise over a hole", madvise(a, 8 * MIB, MADV_DONTNEED));
    result("munmap the region", munmap(a, REGION));
    say("done");
    return 0;
}

static int peak(int k, int rounds) {
    unsigned long sum = 0;
    for (int round = 0; round < rounds; round++) {
        /* The spacer pushes each round's region to spans no earlier round used. */
        size_t spacer = (size_t)(round + 1) * (size_t)(k + 1) * SPAN;
        char *s = map(spacer, PROT_READ | PROT_WRITE);
        size_t len = (size_t)(k + 1) * SPAN;
        char *a = map(len, PROT_READ | PROT_WRITE);
        for (int i = 0; i < k; i++)
            a[(size_t)i * SPAN + SPAN / 2] = (char)(i + round + 1);
        for (int i = 0; i < k; i++)
            sum += (unsigned char)a[(size_t)i * SPAN + SPAN / 2];
        if (munmap(a, len) != 0 || munmap(s, spacer) != 0)
            say("munmap failed");
    }
    printf("peak %d %d: sum %lu\n", k, rounds, sum);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "peak") && argc > 3)
        return peak(atoi(argv[2]), atoi(argv[3]));
    if (!*mode)
        return sequence();
    char *a = map(16 * MIB, PROT_READ | PROT_WRITE);
    for (size_t off = 0; off < 16 * MIB; off += MIB)
        a[off] = 1;
    if (!strcmp(mode, "ro")) {
        mprotect(a, 16 * MIB, PROT_READ);
        say("reading a read-only page");
        volatile char c = a[3 * MIB];
        say(c == 1 ? "read 1; now writing it" : "read something else; writing");
        a[3 * MIB] = 2;
    } else if (!strcmp(mode, "none")) {
        mprotect(a + 4 * MIB, 8 * MIB, PROT_NONE);
        say("reading next to a PROT_NONE range");
        volatile char c = a[12 * MIB];
        say(c == 1 ? "read 1; now reading inside it" : "read something else; reading inside");
        c = a[5 * MIB];
    } else if (!strcmp(mode, "gone")) {
        munmap(a + 4 * MIB, 4 * MIB);
        say("reading an unmapped touched page");
        volatile char c = a[5 * MIB];
        (void)c;
    } else if (!strcmp(mode, "split")) {
        mprotect(a + 2 * MIB, 3 * MIB, PROT_READ);
        a[1 * MIB] = 3;
        a[5 * MIB] = 3;
        say("wrote on both sides of a read-only piece; now inside it");
        a[2 * MIB] = 3;
    }
    say("still here?");
    return 0;
}

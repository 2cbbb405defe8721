/* A streaming pipeline for the locality and evacuation policies. Stage I of STAGES (each a
 * process, placed by the host) gets ROUNDS blocks of WORDS words from stage I-1 through a
 * portal, applies x -> x * (2I + 1) + I (WORK times, to give it some computing), and passes
 * each block on; stage 0 makes the blocks, the last stage prints a checksum of all it got.
 *   pol_pipe STAGES ROUNDS WORDS WORK I */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int lookup(int i) {
    char name[32];
    snprintf(name, sizeof name, "pp%d", i);
    int pid;
    while ((pid = shoal_name_lookup(name)) < 0) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return pid;
}

int main(int argc, char **argv) {
    if (argc < 6) return 2;
    int stages = atoi(argv[1]), rounds = atoi(argv[2]), words = atoi(argv[3]);
    int work = atoi(argv[4]), me = atoi(argv[5]);
    unsigned *buf = malloc(sizeof(unsigned) * words);
    if (!buf) return 3;
    int in = -1, out = -1;
    char name[32];
    snprintf(name, sizeof name, "pp%d", me);
    if (me > 0) {
        in = shoal_portal_create(1);
        if (shoal_name_link(name) != 0) return 4;
        shoal_portal_allow(in, lookup(me - 1));
    } else if (shoal_name_link(name) != 0) {
        return 4;
    }
    if (me + 1 < stages) out = shoal_portal_open(lookup(me + 1), 1);
    unsigned x = 12345, n = sizeof(unsigned) * words;
    unsigned long long sum = 0;
    for (int r = 0; r < rounds; r++) {
        if (me == 0) {
            for (int i = 0; i < words; i++) { x = x * 1103515245u + 12345u; buf[i] = x >> 8; }
        } else {
            int got = shoal_portal_read(in, buf, n);
            if (got != (int)n) { printf("stage %d read %d\n", me, got); return 1; }
            for (int w = 0; w < work; w++)
                for (int i = 0; i < words; i++) buf[i] = buf[i] * (2u * me + 1u) + (unsigned)me;
        }
        if (out >= 0) {
            int put = shoal_portal_write(out, buf, n);
            if (put != (int)n) { printf("stage %d write %d\n", me, put); return 1; }
        } else {
            for (int i = 0; i < words; i++) sum = sum * 1000003ull + buf[i];
        }
    }
    if (out < 0) printf("pipeline %d stages %d rounds: checksum %llu\n", stages, rounds, sum);
    return 0;
}

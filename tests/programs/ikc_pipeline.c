/* A pipeline of processes across clusters. Stage 0 spawns stages 1..N-1 (stage i on
 * cluster i), makes WORDS 32-bit words, and sends them down the pipe through portals; stage i
 * applies x -> x * (2i + 1) + i and passes them on; the last stage sends a checksum of what it
 * got back to stage 0 through a mailbox. Stage 0 waits for every stage and prints it.
 *   ikc_pipeline STAGES WORDS        (stage 0)
 *   ikc_pipeline STAGES WORDS I      (stage I, spawned) */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

static int lookup(const char *fmt, int i) {
    char name[32];
    snprintf(name, sizeof name, fmt, i);
    int pid;
    while ((pid = shoal_name_lookup(name)) < 0) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return pid;
}

static void link_name(const char *fmt, int i) {
    char name[32];
    snprintf(name, sizeof name, fmt, i);
    if (shoal_name_link(name) != 0) { printf("link %s failed\n", name); exit(1); }
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int stages = atoi(argv[1]), words = atoi(argv[2]);
    int me = argc > 3 ? atoi(argv[3]) : 0;
    unsigned *buf = malloc(sizeof(unsigned) * words);
    if (!buf) return 3;
    int in = -1, back = -1;
    if (me > 0) {
        in = shoal_portal_create(1);
        link_name("stage%d", me);
        shoal_portal_allow(in, lookup("stage%d", me - 1));
        int r = shoal_portal_read(in, buf, sizeof(unsigned) * words);
        if (r != (int)(sizeof(unsigned) * words)) { printf("stage %d read %d\n", me, r); return 1; }
        for (int i = 0; i < words; i++) buf[i] = buf[i] * (2u * me + 1u) + (unsigned)me;
    } else {
        back = shoal_mailbox_create(7);
        link_name("stage%d", 0);
        char *args[5], s1[16], s2[16], s3[16];
        snprintf(s1, sizeof s1, "%d", stages);
        snprintf(s2, sizeof s2, "%d", words);
        args[0] = "ikc_pipeline"; args[1] = s1; args[2] = s2; args[3] = s3; args[4] = NULL;
        int pids[64];
        for (int i = 1; i < stages; i++) {
            snprintf(s3, sizeof s3, "%d", i);
            pids[i] = shoal_spawn("ikc_pipeline", args, i % shoal_clusters());
            if (pids[i] < 0) { printf("spawn %d: %d\n", i, pids[i]); return 1; }
        }
        unsigned x = 12345;
        for (int i = 0; i < words; i++) { x = x * 1103515245u + 12345u; buf[i] = x >> 8; }
        int out = shoal_portal_open(lookup("stage%d", 1), 1);
        int w = shoal_portal_write(out, buf, sizeof(unsigned) * words);
        if (w != (int)(sizeof(unsigned) * words)) { printf("write %d\n", w); return 1; }
        unsigned long long sum = 0;
        int r = shoal_mailbox_read(back, &sum, sizeof sum);
        for (int i = 1; i < stages; i++) {
            int st = -1;
            int p = shoal_wait(pids[i], &st);
            if (p != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) printf("stage %d: %d %d\n", i, p, st);
        }
        printf("pipeline %d stages %d words: checksum %llu (%d bytes back)\n", stages, words, sum, r);
        return 0;
    }
    if (me + 1 < stages) {
        int out = shoal_portal_open(lookup("stage%d", me + 1), 1);
        int w = shoal_portal_write(out, buf, sizeof(unsigned) * words);
        return w == (int)(sizeof(unsigned) * words) ? 0 : 1;
    }
    unsigned long long sum = 0;
    for (int i = 0; i < words; i++) sum = sum * 1000003ull + buf[i];
    int mb = shoal_mailbox_open(lookup("stage%d", 0), 7);
    return shoal_mailbox_write(mb, &sum, sizeof sum) == sizeof sum ? 0 : 1;
}

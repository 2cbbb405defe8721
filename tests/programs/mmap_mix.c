/* Random mixes of file mappings and file calls (argv[1]: the seed, argv[2]: steps), checked
 * against a host build: two files, up to six mappings of them (private or shared, offsets,
 * lengths past the end), loads and stores through them (SIGBUS and SIGSEGV caught), pread,
 * pwrite, growing ftruncate, msync, mprotect, munmap; a checksum of what every step saw.
 * argv[3] "fork": once every slot is mapped, the process forks, and parent and child take
 * turns of a few steps each (one random stream, one checksum and the files' sizes in an
 * anonymous shared page), so each sees the other's stores and file calls in an order the
 * host build repeats; argv[4]: KiB of memory filled first (a parent too big for its child
 * beside it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int got_sig;
static void on_sig(int sig) { got_sig = sig; siglongjmp(jb, 1); }

struct ctl {
    unsigned long long rng;
    unsigned sum;  /* (32 bits on both sides) */
    int turn;
    long size[2];
};
static struct ctl *c;

static unsigned r(unsigned n) {
    c->rng = c->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(c->rng >> 33) % n;
}

struct map { unsigned char *at; long len; int file; int shared; };
static struct map m[6];
static int fd[2];

static void map_slot(struct map *mp, int f) {
    if (mp->at) munmap(mp->at, mp->len);
    mp->len = 1 + r(6 * 4096);
    mp->file = f;
    mp->shared = r(2);
    mp->at = mmap(NULL, mp->len, PROT_READ | PROT_WRITE, mp->shared ? MAP_SHARED : MAP_PRIVATE,
                  fd[f], 4096L * r(3));
    if (mp->at == MAP_FAILED) { mp->at = NULL; c->sum = c->sum * 31 + errno; }
}

static void step(void) {
    int k = r(6), f = r(2), op = r(10);
    struct map *mp = &m[k];
    volatile unsigned char *p;
    unsigned char buf[64];
    long off, n;
    got_sig = 0;
    if (sigsetjmp(jb, 1)) {
        c->sum = c->sum * 31 + 1000 + got_sig;
        return;
    }
    switch (op) {
    case 0:  /* map (replacing this slot's) */
        map_slot(mp, f);
        break;
    case 1: case 2:  /* loads */
        if (!mp->at) break;
        p = mp->at + r(mp->len);
        c->sum = c->sum * 31 + *p;
        break;
    case 3: case 4:  /* stores */
        if (!mp->at) break;
        p = mp->at + r(mp->len);
        *p = (unsigned char)r(256);
        c->sum = c->sum * 31 + 7;
        break;
    case 5:  /* pread */
        off = r(6 * 4096);
        n = pread(fd[f], buf, sizeof buf, off);
        c->sum = c->sum * 31 + (unsigned)n;
        for (long i = 0; i < n; i++) c->sum = c->sum * 31 + buf[i];
        break;
    case 6:  /* pwrite */
        off = r(6 * 4096);
        for (int i = 0; i < 16; i++) buf[i] = (unsigned char)r(256);
        n = pwrite(fd[f], buf, 16, off);
        if (off + 16 > c->size[f]) c->size[f] = off + 16;
        c->sum = c->sum * 31 + (unsigned)n;
        break;
    case 7:  /* grow */
        off = c->size[f] + r(4096);
        ftruncate(fd[f], off);
        c->size[f] = off;
        break;
    case 8:  /* msync or mprotect of this slot */
        if (!mp->at) break;
        if (r(2)) msync(mp->at, mp->len, MS_SYNC);
        else c->sum = c->sum * 31 + (unsigned)mprotect(mp->at, 4096, r(2) ? PROT_READ : PROT_READ | PROT_WRITE);
        break;
    case 9:  /* unmap its first page */
        if (!mp->at || mp->len <= 4096) break;
        munmap(mp->at, 4096);
        mp->at += 4096;
        mp->len -= 4096;
        break;
    }
}

int main(int argc, char **argv) {
    int steps = argc > 2 ? atoi(argv[2]) : 200;
    int forked = argc > 3 && !strcmp(argv[3], "fork");
    long ballast = argc > 4 ? atol(argv[4]) * 1024 : 0;
    volatile char *bal = ballast ? malloc(ballast) : NULL;
    for (long i = 0; i < ballast; i += 4096) bal[i] = 1;
    c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    c->rng = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    for (int i = 0; i < 2; i++) {
        char path[] = "/tmp/mmap_mix_XXXXXX";
        fd[i] = mkstemp(path);
        unlink(path);
        c->size[i] = r(5 * 4096);
        unsigned char *b = malloc(c->size[i] + 1);
        for (long j = 0; j < c->size[i]; j++) b[j] = (unsigned char)r(256);
        write(fd[i], b, c->size[i]);
        free(b);
    }
    pid_t child = -1;
    if (forked) {
        for (int k = 0; k < 6; k++) map_slot(&m[k], k % 2);
        child = fork();
        int me = child == 0;
        for (int t = 0; t < steps / 4; t++) {
            if (t % 2 != me) continue;
            while (__atomic_load_n(&c->turn, __ATOMIC_SEQ_CST) != t) { }
            for (int n = 1 + r(8); n > 0; n--) step();
            __atomic_store_n(&c->turn, t + 1, __ATOMIC_SEQ_CST);
        }
        if (child == 0) _exit(0);
        int st;
        waitpid(child, &st, 0);
        c->sum = c->sum * 31 + (unsigned)st;
    } else {
        for (int s = 0; s < steps; s++) step();
    }
    for (int f = 0; f < 2; f++) {
        unsigned char b[64];
        long n, off = 0;
        while ((n = pread(fd[f], b, sizeof b, off)) > 0) {
            for (long i = 0; i < n; i++) c->sum = c->sum * 31 + b[i];
            off += n;
        }
    }
    printf("%u\n", c->sum);
    return 0;
}

/* Random mixes of file mappings and file calls (argv[1]: the seed, argv[2]: steps), checked
 * against a host build: two files, up to six mappings of them (private or shared, offsets,
 * lengths past the end), loads and stores through them (SIGBUS and SIGSEGV caught), pread,
 * pwrite, growing ftruncate, msync, mprotect, munmap; a checksum of what every step saw. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int got_sig;
static void on_sig(int sig) { got_sig = sig; siglongjmp(jb, 1); }

static unsigned long long rng;
static unsigned r(unsigned n) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(rng >> 33) % n;
}

struct map { unsigned char *at; long len; int file; int shared; };

int main(int argc, char **argv) {
    rng = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    int steps = argc > 2 ? atoi(argv[2]) : 200;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    int fd[2];
    long size[2];
    for (int i = 0; i < 2; i++) {
        char path[] = "/tmp/mmap_mix_XXXXXX";
        fd[i] = mkstemp(path);
        unlink(path);
        size[i] = r(5 * 4096);
        unsigned char *b = malloc(size[i] + 1);
        for (long j = 0; j < size[i]; j++) b[j] = (unsigned char)r(256);
        write(fd[i], b, size[i]);
        free(b);
    }
    struct map m[6] = {{0}};
    unsigned sum = 0;  /* (32 bits on both sides) */
    for (int s = 0; s < steps; s++) {
        int k = r(6), f = r(2), op = r(10);
        struct map *mp = &m[k];
        volatile unsigned char *p;
        unsigned char buf[64];
        long off, n;
        got_sig = 0;
        if (sigsetjmp(jb, 1)) {
            sum = sum * 31 + 1000 + got_sig;
            continue;
        }
        switch (op) {
        case 0:  /* map (replacing this slot's) */
            if (mp->at) munmap(mp->at, mp->len);
            mp->len = 1 + r(6 * 4096);
            mp->file = f;
            mp->shared = r(2);
            mp->at = mmap(NULL, mp->len, PROT_READ | PROT_WRITE, mp->shared ? MAP_SHARED : MAP_PRIVATE,
                          fd[f], 4096L * r(3));
            if (mp->at == MAP_FAILED) { mp->at = NULL; sum = sum * 31 + errno; }
            break;
        case 1: case 2:  /* loads */
            if (!mp->at) break;
            p = mp->at + r(mp->len);
            sum = sum * 31 + *p;
            break;
        case 3: case 4:  /* stores */
            if (!mp->at) break;
            p = mp->at + r(mp->len);
            *p = (unsigned char)r(256);
            sum = sum * 31 + 7;
            break;
        case 5:  /* pread */
            off = r(6 * 4096);
            n = pread(fd[f], buf, sizeof buf, off);
            sum = sum * 31 + (unsigned long)n;
            for (long i = 0; i < n; i++) sum = sum * 31 + buf[i];
            break;
        case 6:  /* pwrite */
            off = r(6 * 4096);
            for (int i = 0; i < 16; i++) buf[i] = (unsigned char)r(256);
            n = pwrite(fd[f], buf, 16, off);
            if (off + 16 > size[f]) size[f] = off + 16;
            sum = sum * 31 + (unsigned long)n;
            break;
        case 7:  /* grow */
            off = size[f] + r(4096);
            ftruncate(fd[f], off);
            size[f] = off;
            break;
        case 8:  /* msync or mprotect of this slot */
            if (!mp->at) break;
            if (r(2)) msync(mp->at, mp->len, MS_SYNC);
            else sum = sum * 31 + (unsigned long)mprotect(mp->at, 4096, r(2) ? PROT_READ : PROT_READ | PROT_WRITE);
            break;
        case 9:  /* unmap its first page */
            if (!mp->at || mp->len <= 4096) break;
            munmap(mp->at, 4096);
            mp->at += 4096;
            mp->len -= 4096;
            break;
        }
    }
    for (int f = 0; f < 2; f++) {
        unsigned char b[64];
        long n, off = 0;
        while ((n = pread(fd[f], b, sizeof b, off)) > 0) {
            for (long i = 0; i < n; i++) sum = sum * 31 + b[i];
            off += n;
        }
    }
    printf("%u\n", sum);
    return 0;
}

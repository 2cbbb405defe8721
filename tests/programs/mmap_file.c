/* mmap of regular files and memfds as Linux has them: MAP_PRIVATE and MAP_SHARED, the bytes
 * of the file at an offset, zeros past its end in the last page, SIGBUS for a whole page past
 * it, private stores that the file never sees, shared stores that read() sees after msync and
 * munmap (and write() that a mapping sees), two processes sharing a mapping, munmap and
 * mprotect of parts, and the errors (EACCES, EBADF, ENODEV, EINVAL). argv[1] "pause": it
 * sleeps 20 ms in the middle (a test migrates it then); argv[2]: KiB of memory it fills
 * before its fork (a parent too big for its child beside it). Output compared with a host
 * build. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int got_sig;

static void on_sig(int sig) {
    got_sig = sig;
    siglongjmp(jb, 1);
}

static unsigned char pat(long i) { return (unsigned char)(i * 7 + (i >> 8) + 1); }

static int make(const char *tag, long size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/mmap_file_%s_XXXXXX", tag);
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); exit(1); }
    unlink(path);
    unsigned char buf[4096];
    for (long off = 0; off < size; off += sizeof buf) {
        long n = size - off < (long)sizeof buf ? size - off : (long)sizeof buf;
        for (long i = 0; i < n; i++) buf[i] = pat(off + i);
        if (write(fd, buf, n) != n) { perror("write"); exit(1); }
    }
    return fd;
}

/* A load at p: 0 if it worked (*out set), else the signal it raised. */
static int probe(volatile unsigned char *p, unsigned char *out) {
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) { *out = *p; return 0; }
    return got_sig;
}

static int poke(volatile unsigned char *p, unsigned char v) {
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) { *p = v; return 0; }
    return got_sig;
}

static const char *err(void *p) {
    static char b[32];
    if (p != MAP_FAILED) return "ok";
    snprintf(b, sizeof b, "%s", errno == EACCES ? "EACCES" : errno == EBADF ? "EBADF"
             : errno == ENODEV ? "ENODEV" : errno == EINVAL ? "EINVAL" : "other");
    return b;
}

static void sizes(void) {
    long sz[] = {0, 1, 4095, 4096, 4097, 100 * 1024};
    for (unsigned k = 0; k < sizeof sz / sizeof sz[0]; k++) {
        long size = sz[k];
        int fd = make("size", size);
        long len = size ? size : 1;
        unsigned char *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) { printf("size %ld: mmap %s\n", size, err(m)); continue; }
        long bad = 0;
        for (long i = 0; i < size; i++) bad += m[i] != pat(i);
        unsigned char c = 0xEE;
        long page_end = (len + 4095) / 4096 * 4096;
        int tail = size && size < page_end ? probe(m + size, &c) : -1;
        int last = probe(m + page_end - 1, &c);
        printf("size %ld: wrong %ld, past end in page: %d (%d), last byte: %d\n", size, bad,
               tail, tail == 0 ? c : -1, last);
        munmap(m, len);
        close(fd);
    }
    /* offsets: pages 1 and 24 of a 100 KiB file, and a mapping longer than the file */
    int fd = make("off", 100 * 1024);
    unsigned char *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 4096);
    unsigned char *n = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 24 * 4096);
    unsigned char c;
    long bad = 0;
    for (long i = 0; i < 8192; i++) bad += m[i] != pat(4096 + i);
    for (long i = 0; i < 1024; i++) bad += n[i] != pat(24 * 4096 + i);
    int s1 = probe(n + 1024, &c), s2 = probe(n + 4096, &c);
    printf("offsets: wrong %ld, zero after end %d, next page %s\n", bad, s1 == 0 && c == 0,
           s2 == SIGBUS ? "SIGBUS" : "no signal");
    unsigned char *far = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 100 * 4096);
    printf("offset past end: %s, touch %s\n", err(far),
           far != MAP_FAILED && probe(far, &c) == SIGBUS ? "SIGBUS" : "no signal");
    munmap(m, 8192); munmap(n, 8192); munmap(far, 4096);
    close(fd);
}

static void private_and_shared(void) {
    int fd = make("rw", 10000);
    unsigned char *p = mmap(NULL, 10000, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    unsigned char *s = mmap(NULL, 10000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    p[10] = 'P';
    p[5000] = 'Q';
    unsigned char b[16];
    pread(fd, b, 1, 10);
    printf("private store: mine %c, file %s, shared view %s\n", p[10], b[0] == pat(10) ? "unchanged" : "changed",
           s[10] == pat(10) ? "unchanged" : "changed");
    s[20] = 'S';
    s[9999] = 'E';
    msync(s, 10000, MS_SYNC);
    pread(fd, b, 1, 20);
    printf("shared store after msync: read %c; the private copy made before has %d\n", b[0], p[20]);
    pread(fd, b, 1, 9999);
    printf("last byte %c\n", b[0]);
    pwrite(fd, "W", 1, 30);
    printf("write() seen by shared %c, private copy %d, private own page %c\n", s[30], p[30],
           p[5000]);
    /* munmap of the middle page, mprotect of the first read-only */
    munmap(s + 4096, 4096);
    unsigned char c;
    printf("unmapped middle: %s\n", probe(s + 4096, &c) == SIGSEGV ? "SIGSEGV" : "no signal");
    mprotect(s, 4096, PROT_READ);
    printf("read-only part store: %s, rest store: %d\n", poke(s + 1, 'x') == SIGSEGV ? "SIGSEGV" : "no signal",
           poke(s + 8192, 'Y'));
    munmap(s, 10000);
    pread(fd, b, 1, 8192);
    printf("after munmap the file has %c\n", b[0]);
    /* a mapping outlives its descriptor */
    close(fd);
    printf("after close: private %c, file byte via it %d\n", p[10], p[8192] == 'Y');
    munmap(p, 10000);
    /* a store to a page past the end: SIGBUS, private or shared */
    fd = make("bus", 100);
    p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    s = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("store past end: private %s, shared %s\n", poke(p + 4096, 1) == SIGBUS ? "SIGBUS" : "?",
           poke(s + 4096, 1) == SIGBUS ? "SIGBUS" : "?");
    s[200] = 'Z';  /* past the end in the last page: never reaches the file */
    munmap(s, 8192);
    struct stat st;
    fstat(fd, &st);
    printf("size still %ld\n", (long)st.st_size);
    /* ftruncate makes it longer: the page is there now */
    ftruncate(fd, 6000);
    int grown = poke(p + 4096, 3);
    int again = probe(p + 4096, &c);
    printf("after growing: %d, then %d %d\n", grown, again, c);
    munmap(p, 8192);
    /* ftruncate shrinking it under a shared mapping with a written page past the new end */
    s = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    s[5000] = 'T';
    s[50] = 'K';
    ftruncate(fd, 100);
    int cut = probe(s + 5000, &c);
    pread(fd, b, 1, 50);
    printf("after shrinking: page past the end %s, byte 50 %c, file %c\n",
           cut == SIGBUS ? "SIGBUS" : "no signal", s[50], b[0]);
    munmap(s, 8192);
    close(fd);
}

/* The kernel's own stores and loads on mapped pages: read() into a private mapping (its page
 * becomes the process's own), read() of the file into its shared mapping, write() from it. */
static void calls_on_mappings(void) {
    int fd = make("calls", 8192);
    unsigned char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    unsigned char *s = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int other = make("src", 100);
    long got = pread(other, p + 4000, 100, 0);  /* spans pages 0 and 1 of the private mapping */
    unsigned char b[4];
    pread(fd, b, 1, 4000);
    printf("read() into private: %ld, mine %d, file %s\n", got, p[4099] == pat(99),
           b[0] == pat(4000) ? "unchanged" : "changed");
    got = pread(fd, s + 6000, 50, 10);  /* the file into its own shared mapping */
    pread(fd, b, 1, 6000);
    printf("read() of the file into its mapping: %ld, mapped %d, file %d\n", got, s[6000] == pat(10),
           b[0] == pat(10));
    s[7000] = 'M';
    got = pwrite(fd, s + 7000, 1, 7001);  /* from its mapping into the file */
    printf("write() from the mapping: %ld, mapped %c%c\n", got, s[7000], s[7001]);
    munmap(p, 8192); munmap(s, 8192);
    close(fd); close(other);
}

static void two_processes(int pause) {
    int fd = make("fork", 8192);
    volatile unsigned char *s = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    p[0] = 'p';  /* the parent's own before the fork: the child gets a copy */
    s[100] = 0;
    pid_t c = fork();
    if (c == 0) {
        while (s[100] != 1) { }  /* the parent's store, seen through the file */
        s[200] = 'c';
        s[100] = 2;
        p[1] = 'q';  /* the child's private page: nobody else sees it */
        _exit(p[0] == 'p' ? 0 : 3);
    }
    if (pause) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);  /* (a test migrates the parent now) */
    }
    s[100] = 1;
    while (s[100] != 2) { }
    int st;
    waitpid(c, &st, 0);
    unsigned char b[2];
    pread(fd, b, 1, 200);
    printf("fork: child wrote %c, file has %c, child status %d, private %c%c\n", s[200], b[0],
           WEXITSTATUS(st), p[0], p[1] == pat(1) ? '-' : '!');
    close(fd);
}

static void errors(void) {
    char path[] = "/tmp/mmap_file_err_XXXXXX";
    int fd = mkstemp(path);
    write(fd, "hello", 5);
    int wo = open(path, O_WRONLY), ro = open(path, O_RDONLY), ap = open(path, O_RDWR | O_APPEND);
    unlink(path);
    printf("O_WRONLY private: %s\n", err(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, wo, 0)));
    printf("O_RDONLY shared writable: %s\n", err(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0)));
    printf("O_RDONLY private writable: %s\n", err(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0)));
    printf("O_APPEND shared writable: %s\n", err(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ap, 0)));
    printf("O_APPEND shared read-only: %s\n", err(mmap(NULL, 4096, PROT_READ, MAP_SHARED, ap, 0)));
    void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    printf("mprotect writable of a read-only shared mapping: %s\n",
           mprotect(m, 4096, PROT_READ | PROT_WRITE) == 0 ? "ok" : errno == EACCES ? "EACCES" : "other");
    void *q = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ro, 0);
    printf("mprotect writable of a private one: %s\n", mprotect(q, 4096, PROT_READ | PROT_WRITE) == 0 ? "ok" : "fail");
    printf("private store after it: %c\n", (((char *)q)[0] = 'h' - 32, ((char *)q)[0]));
    printf("closed fd: %s\n", err(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 99, 0)));
    printf("fd -1 without MAP_ANONYMOUS: %s\n", err(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0)));
    int d = open("/tmp", O_RDONLY | O_DIRECTORY);
    printf("directory: %s\n", err(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, d, 0)));
    int pp[2];
    pipe(pp);
    printf("pipe: %s\n", err(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, pp[0], 0)));
    printf("unaligned offset: %s\n", err(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ro, 100)));
    printf("length 0: %s\n", err(mmap(NULL, 0, PROT_READ, MAP_PRIVATE, ro, 0)));
    printf("neither shared nor private: %s\n", err(mmap(NULL, 4096, PROT_READ, 0, ro, 0)));
    close(wo); close(ro); close(ap); close(d);
}

static void memfd(void) {
    int fd = memfd_create("mapped", 0);
    ftruncate(fd, 5000);
    char *m = mmap(NULL, 5000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    strcpy(m + 4090, "memfd bytes");
    char b[16] = {0};
    pread(fd, b, 11, 4090);
    char *r = mmap(NULL, 5000, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("memfd: read() %s, second mapping %s\n", b, r + 4090);
    munmap(m, 5000); munmap(r, 5000);
    close(fd);
}

int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);
    int pause = argc > 1 && !strcmp(argv[1], "pause");
    long ballast = argc > 2 ? atol(argv[2]) * 1024 : 0;
    volatile char *bal = ballast ? malloc(ballast) : NULL;
    for (long i = 0; i < ballast; i += 4096) bal[i] = 1;
    sizes();
    private_and_shared();
    calls_on_mappings();
    two_processes(pause);
    errors();
    memfd();
    return 0;
}

/* read() into a mapping of the very file it reads, as a tool that shifts a file's bytes in
 * place does: MAP_SHARED (pages untouched, read, written; one page, two, across them),
 * MAP_PRIVATE, readv and pread, of a file and of a memfd; then what the file holds.
 * argv[1]: "fork" to do it all in a child too, while the parent maps the file as well. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (3 * 4096)

static unsigned sum(const unsigned char *p, size_t n) {
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}

static void fill(int fd) {
    unsigned char b[SIZE];
    for (int i = 0; i < SIZE; i++) b[i] = (unsigned char)(i * 7 + i / 4096);
    pwrite(fd, b, SIZE, 0);
}

static void round_of(int fd, const char *what) {
    fill(fd);
    unsigned char *s = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (s == MAP_FAILED || p == MAP_FAILED) { printf("%s: mmap failed\n", what); return; }
    printf("%s untouched page 0 <- 0: %zd\n", what, pread(fd, s, 10, 0));
    s[4096] = 'w';
    printf("%s written page 1 <- 1: %zd\n", what, pread(fd, s + 4096 + 300, 100, 4096 + 100));
    printf("%s written page 1 <- itself: %zd\n", what, pread(fd, s + 4096, 4096, 4096));
    (void)*(volatile unsigned char *)(s + 8192);
    printf("%s read page 2 <- 0: %zd\n", what, pread(fd, s + 8192 + 1, 50, 7));
    printf("%s across 1-2 <- 0: %zd\n", what, pread(fd, s + 6000, 5000, 0));
    printf("%s all <- all: %zd\n", what, pread(fd, s, SIZE, 0));
    lseek(fd, 11000, SEEK_SET);
    struct iovec v[3] = {{s + 8000, 300}, {s + 10, 20}, {s + 4090, 12}};
    ssize_t n = readv(fd, v, 3);
    printf("%s readv: %zd at %ld\n", what, n, (long)lseek(fd, 0, SEEK_CUR));
    printf("%s private <- 1: %zd\n", what, pread(fd, p + 4096, 4096, 4096));
    p[0] = 'p';
    printf("%s private written <- 0: %zd\n", what, pread(fd, p + 1, 200, 0));
    printf("%s shared sum %08x private sum %08x\n", what, sum(s, SIZE), sum(p, SIZE));
    munmap(s, SIZE);
    munmap(p, SIZE);
    unsigned char b[SIZE];
    n = pread(fd, b, SIZE, 0);
    printf("%s file: %zd %08x\n", what, n, sum(b, SIZE));
}

static int temp(char *path) {  /* in $TMPDIR, else /tmp */
    const char *dir = getenv("TMPDIR");
    snprintf(path, 256, "%s/mmap_self_XXXXXX", dir ? dir : "/tmp");
    return mkstemp(path);
}

static void all(void) {
    char path[256];
    int fd = temp(path);
    round_of(fd, "file");
    close(fd);
    unlink(path);
    fd = memfd_create("self", 0);
    round_of(fd, "memfd");
    close(fd);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    all();
    if (argc > 1 && !strcmp(argv[1], "fork")) {
        char path[256];
        int fd = temp(path);
        fill(fd);
        unsigned char *s = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        s[0] = 'P';
        pid_t pid = fork();
        if (pid == 0) {
            printf("child <- file: %zd\n", pread(fd, s + 8192, 4096, 0));
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        printf("parent sees %08x\n", sum(s, SIZE));
        unlink(path);
    }
    return 0;
}

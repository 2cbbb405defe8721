/* A fork of a process whose anonymous MAP_SHARED memory does not fit beside its other pages
 * in its cluster's memory: argv[1] KiB of private data, argv[2] KiB of shared memory, both
 * written, then a fork whose child stores into each page of the shared memory. It prints what
 * the parent sees of it after the child, or fork's error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    size_t n = (size_t)atoi(argv[1]) << 10, sn = (size_t)atoi(argv[2]) << 10;
    char *m = malloc(n + 1);
    char *sh = mmap(NULL, sn, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!m || sh == MAP_FAILED) return 1;
    for (size_t i = 0; i < n; i += 64) m[i] = (char)i;
    memset(sh, 7, sn);
    for (size_t i = 0; i < n; i += 64) m[i]++;  /* (the shared pages are the oldest now) */
    pid_t c = fork();
    if (c < 0) {
        printf("fork: %s\n", strerror(errno));
        return 0;
    }
    if (c == 0) {
        for (size_t i = 0; i < sn; i += 4096) sh[i] = 1;
        _exit(3);
    }
    int st;
    waitpid(c, &st, 0);
    long sum = 0;  /* (every shared page here again: few frames left for the parent's own) */
    for (size_t i = 0; i < sn; i++) sum += sh[i];
    printf("child exit %d, shared sum %ld\n", WEXITSTATUS(st), sum);
    return 0;
}

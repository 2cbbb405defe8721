/* mmap of a POSIX shared memory object with MAP_PRIVATE is copy-on-write, as Linux's: the
   object's pages until the process stores, then its own (Open POSIX mmap/7-3, 7-4, fork/16-1
   got ENODEV). Also through a descriptor open read-only, across a fork (argv[1]: KiB the
   parent touches first, to put the child on another cluster of a small chip), and the
   refusals. The host build's output is the reference. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int kib = argc > 1 ? atoi(argv[1]) : 0;
    char *big = kib ? malloc((size_t)kib * 1024) : NULL;
    if (big) memset(big, 1, (size_t)kib * 1024);
    char name[64];
    snprintf(name, sizeof name, "/shm-private-%d", (int)getpid());
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, 3 * PG) != 0) { printf("setup: %s\n", strerror(errno)); return 1; }
    char *sh = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    strcpy(sh, "page zero");
    strcpy(sh + PG, "page one");
    strcpy(sh + 2 * PG, "page two");
    int ro = shm_open(name, O_RDONLY, 0);
    char *pv = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    if (pv == MAP_FAILED) { printf("private mmap: %s\n", strerror(errno)); return 1; }
    printf("private reads '%s' '%s'\n", pv, pv + PG);
    strcpy(pv, "mine");  /* copy-on-write: the object keeps its page */
    printf("after a private store: private '%s', object '%s'\n", pv, sh);
    strcpy(sh + PG, "page one, changed");  /* a page the process has not stored into */
    strcpy(sh, "zero, changed");            /* one it has */
    printf("after shared stores: private '%s' '%s'\n", pv, pv + PG);
    char *off = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 2 * PG);  /* at an offset */
    printf("at page 2: '%s'\n", off == MAP_FAILED ? strerror(errno) : off);
    pid_t c = fork();
    if (c == 0) {
        strcpy(pv + 2 * PG, "child's");
        printf("child: private '%s' '%s' '%s', object '%s'\n", pv, pv + PG, pv + 2 * PG, sh + 2 * PG);
        strcpy(sh + 2 * PG, "page two, by the child");
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("parent: private '%s', object '%s', child %d\n", pv + 2 * PG, sh + 2 * PG, WEXITSTATUS(st));
    /* refusals */
    errno = 0;
    void *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    printf("writable shared through O_RDONLY: %s\n", m == MAP_FAILED ? strerror(errno) : "mapped");
    errno = 0;
    m = mmap(NULL, PG, PROT_READ, 0, fd, 0);
    printf("neither shared nor private: %s\n", m == MAP_FAILED ? strerror(errno) : "mapped");
    printf("mprotect of the private one to write: %d\n", mprotect(off, PG, PROT_READ | PROT_WRITE));
    munmap(pv, 3 * PG);
    munmap(sh, 3 * PG);
    munmap(off, PG);
    close(fd);
    close(ro);
    shm_unlink(name);
    free(big);
    return 0;
}

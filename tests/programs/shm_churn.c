/* Host resources behind shared memory and named semaphores stay bounded.
 *   shm_churn objects N      N times: create an object, touch 16 pages, unmap, close, unlink
 *   shm_churn names N        create N objects and keep them: the N+1th name fails (ENOSPC)
 *   shm_churn fill PAGES NAME  an object of PAGES pages, touched page by page, kept (a full
 *                            tmpfs: SIGBUS at the first page that does not fit)
 *   shm_churn unlink NAME    removes it
 *   shm_churn sems N [US]    N times: sem_open a new name and sem_unlink it without sem_close;
 *                            prints how many opened and the first error (then sleeps US)
 *   shm_churn rawsems N      the same through shoal's system call (560), past the C library's
 *                            own table of SEM_NSEMS_MAX: the daemon's bound (shoal only) */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long n = atol(argv[2]);
    char name[64];
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(argv[1], "objects")) {
        for (long i = 0; i < n; i++) {
            snprintf(name, sizeof name, "/churn.%ld", i);
            int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
            if (fd < 0 || ftruncate(fd, 16 * 4096) != 0) { printf("%ld: %s\n", i, strerror(errno)); return 1; }
            char *p = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED) { printf("%ld: mmap %s\n", i, strerror(errno)); return 1; }
            for (int pg = 0; pg < 16; pg++) p[pg * 4096] = (char)i;
            munmap(p, 16 * 4096);
            close(fd);
            shm_unlink(name);
        }
        printf("objects: %ld made and freed\n", n);
    } else if (!strcmp(argv[1], "names")) {
        for (long i = 0; i < n; i++) {
            snprintf(name, sizeof name, "/names.%ld", i);
            int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
            if (fd < 0) { printf("names: %ld made, then %s\n", i, strerror(errno)); break; }
            close(fd);
        }
        for (long i = 0; i < n; i++) {
            snprintf(name, sizeof name, "/names.%ld", i);
            shm_unlink(name);
        }
    } else if (!strcmp(argv[1], "fill")) {
        int fd = shm_open(argv[3], O_CREAT | O_RDWR, 0600);
        if (fd < 0 || ftruncate(fd, n * 4096) != 0) { printf("fill: %s\n", strerror(errno)); return 1; }
        char *p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) { printf("mmap %s\n", strerror(errno)); return 1; }
        for (long pg = 0; pg < n; pg++) {
            p[pg * 4096] = 1;
            if (pg % 50 == 49) printf("fill: %ld pages\n", pg + 1);
        }
        printf("fill: all %ld pages\n", n);
    } else if (!strcmp(argv[1], "unlink")) {
        printf("unlink: %d\n", shm_unlink(argv[2]));
    } else if (!strcmp(argv[1], "sems")) {
        long i;
        for (i = 0; i < n; i++) {
            snprintf(name, sizeof name, "/sems.%ld", i);
            sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
            if (s == SEM_FAILED) break;
            sem_unlink(name);
        }
        printf("sems: %ld opened%s%s\n", i, i < n ? ", then " : "", i < n ? strerror(errno) : "");
        if (argc > 3) usleep(atol(argv[3]));
    } else if (!strcmp(argv[1], "rawsems")) {
        long i, r = 0;
        for (i = 0; i < n; i++) {
            snprintf(name, sizeof name, "/raw.%ld", i);
            r = syscall(560, name, O_CREAT | O_EXCL, 0600, 1);
            if (r < 0) break;
            syscall(562, name);
        }
        printf("rawsems: %ld opened%s%s\n", i, i < n ? ", then " : "", i < n ? strerror(errno) : "");
    }
    return 0;
}

/* Processes that add to one counter in POSIX shared memory with atomics (no lock).
 *   shm_atomic run WORKERS N NAME    creates the object, spawns WORKERS workers (shoal_spawn, or
 *                                    fork+exec natively), waits for them, prints the counter
 *   shm_atomic work N ID NAME        adds 1 to the counter N times (__atomic_fetch_add), and
 *                                    to its own slot (a plain store: the page is shared)
 * The object is one page: the counter, and each worker's own count after it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __riscv
#include <shoal.h>
#endif

static unsigned *map(const char *name, int create) {
    int fd = shm_open(name, (create ? O_CREAT | O_EXCL : 0) | O_RDWR, 0600);
    if (fd < 0) { perror("shm_open"); exit(1); }
    if (create && ftruncate(fd, 4096) != 0) { perror("ftruncate"); exit(1); }
    unsigned *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) { perror("mmap"); exit(1); }
    close(fd);
    return c;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *name = argv[argc - 1];
    if (!strcmp(argv[1], "work")) {
        unsigned *c = map(name, 0);
        int n = atoi(argv[2]), id = atoi(argv[3]) % 64;
        for (int i = 0; i < n; i++) {
            __atomic_fetch_add(&c[0], 1, __ATOMIC_SEQ_CST);
            c[1 + id]++;
        }
        return 0;
    }
    int workers = atoi(argv[2]);
    shm_unlink(name);
    unsigned *c = map(name, 1);
    int pids[64];
    for (int i = 0; i < workers && i < 64; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        char *args[] = {"shm_atomic", "work", argv[3], id, (char *)name, NULL};
#ifdef __riscv
        pids[i] = shoal_spawn("shm_atomic", args, SHOAL_ANY_CLUSTER);
#else
        pids[i] = fork();
        if (pids[i] == 0) { execv("/proc/self/exe", args); _exit(127); }
#endif
        if (pids[i] < 0) { printf("spawn failed: %d\n", pids[i]); return 1; }
    }
    int bad = 0;
    for (int i = 0; i < workers && i < 64; i++) {
        int st = 0;
#ifdef __riscv
        shoal_wait(pids[i], &st);
#else
        waitpid(pids[i], &st, 0);
#endif
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
    }
    printf("counter %u, %d workers failed, slots", c[0], bad);
    for (int i = 0; i < workers && i < 64; i++) printf(" %u", c[1 + i]);
    printf("\n");
    shm_unlink(name);
    return 0;
}

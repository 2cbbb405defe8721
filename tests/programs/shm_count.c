/* Processes that share a counter in POSIX shared memory (shm_open + mmap MAP_SHARED) under a
 * named semaphore. usage: shm_count add ID ROUNDS   (adds 1 ROUNDS times)
 *                         shm_count show            (prints the counter and the log)
 * The object holds the counter and, after it, one byte per increment saying who made it. */
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIZE (8 * 4096)

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = shm_open("/shoal_count", O_CREAT | O_RDWR, 0600);
    if (fd < 0) { perror("shm_open"); return 1; }
    if (ftruncate(fd, SIZE) != 0) { perror("ftruncate"); return 1; }
    unsigned *c = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) { perror("mmap"); return 1; }
    close(fd);
    sem_t *s = sem_open("/shoal_count_sem", O_CREAT, 0600, 1);
    if (s == SEM_FAILED) { perror("sem_open"); return 1; }
    unsigned char *log = (unsigned char *)(c + 1);
    if (!strcmp(argv[1], "add")) {
        int id = atoi(argv[2]), rounds = atoi(argv[3]);
        for (int i = 0; i < rounds; i++) {
            sem_wait(s);
            unsigned n = c[0];
            log[n % (SIZE - 4)] = (unsigned char)id;
            c[0] = n + 1;
            sem_post(s);
        }
        printf("process %d added %d\n", id, rounds);
    } else if (!strcmp(argv[1], "read")) {
        unsigned long long sum = 0;
        for (int r = atoi(argv[2]); r > 0; r--)
            for (unsigned i = 0; i < SIZE - 4; i++) sum += log[i];
        printf("read %llu\n", sum);
    } else {
        unsigned n = c[0], per[256] = {0};
        for (unsigned i = 0; i < n && i < SIZE - 4; i++) per[log[i]]++;
        printf("counter %u:", n);
        for (int i = 0; i < 256; i++) if (per[i]) printf(" %d x%u", i, per[i]);
        printf("\n");
        shm_unlink("/shoal_count");
        sem_unlink("/shoal_count_sem");
    }
    return 0;
}

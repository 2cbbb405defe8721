/* One thread reads pages of a buffer larger than its cluster (so most of them come from
 * remote memory) while the main thread unmaps the buffer under it: as on Linux, the reader's
 * next touch faults (SIGSEGV); it must not wait for ever for a page that is gone.
 * usage: rmem_unmap_race MIB USEC */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile uint32_t *buf;
static size_t words;

static void *reader(void *arg) {
    (void)arg;
    uint32_t s = 1, sum = 0;
    for (;;) {
        s = s * 1103515245u + 12345u;
        sum += buf[(s >> 4) % words];
    }
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv) {
    size_t bytes = (size_t)(argc > 1 ? atoi(argv[1]) : 4) << 20;
    int usec = argc > 2 ? atoi(argv[2]) : 3000;
    words = bytes / 4;
    buf = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return 1;
    for (size_t i = 0; i < words; i++) buf[i] = (uint32_t)i;
    pthread_t t;
    pthread_create(&t, 0, reader, 0);
    usleep(usec);
    munmap((void *)buf, bytes);
    pthread_join(t, 0);  /* not reached: the reader faults and the process is killed */
    printf("not reached\n");
    return 0;
}

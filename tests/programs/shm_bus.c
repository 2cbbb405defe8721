/* Shared memory past the end of its object: Linux gives SIGBUS to a load, store or atomic,
 * EFAULT to a system call that reads or writes the buffer there.
 *   shm_bus store|atomic|load NAME   a 16 KiB mapping of a 4 KiB object, touched at 8 KiB
 *   shm_bus trunc NAME               a store in the page, ftruncate(0), a load of it
 *   shm_bus syscall NAME             write()/read() from and into the mapping, in and past it
 *   shm_bus regrow NAME              ftruncate(0) then back to 4 KiB: the page reads zero
 *   shm_bus holder NAME US           an 8 KiB object: stores "abcd" in page 1, sleeps US, loads
 *   shm_bus peek NAME US             sleeps US, write()s page 1's "abcd" out, read()s into it
 *   shm_bus cutter NAME US           sleeps US, truncates the object to 4 KiB, write()s page 1
 * (holder, peek and cutter run at once, on different clusters: they share page 1) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void nap(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1], *name = argv[2];
    int creator = strcmp(mode, "holder") && strcmp(mode, "cutter") && strcmp(mode, "peek");
    if (creator) shm_unlink(name);
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
    if (fd < 0) { perror("shm_open"); return 1; }
    if (!strcmp(mode, "holder") && ftruncate(fd, 8192) != 0) { perror("ftruncate"); return 1; }
    if (creator && ftruncate(fd, 4096) != 0) { perror("ftruncate"); return 1; }
    volatile unsigned char *p = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (creator) shm_unlink(name);
    if (!strcmp(mode, "store")) {
        p[100] = 1;
        printf("in: ok\n");
        p[8192] = 1;
        printf("past the end: stored\n");
    } else if (!strcmp(mode, "load")) {
        printf("past the end: %d\n", p[8192 + 5]);
    } else if (!strcmp(mode, "atomic")) {
        __atomic_fetch_add((unsigned *)(p + 8192), 1, __ATOMIC_SEQ_CST);
        printf("past the end: added\n");
    } else if (!strcmp(mode, "trunc")) {
        p[10] = 42;
        printf("before: %d\n", p[10]);
        if (ftruncate(fd, 0) != 0) { perror("ftruncate"); return 1; }
        printf("after: %d\n", p[10]);
    } else if (!strcmp(mode, "syscall")) {
        memcpy((void *)p, "hello\n", 6);
        long w = write(1, (const void *)p, 6);
        errno = 0;
        long w2 = write(1, (const void *)(p + 8192), 6);
        printf("write in: %ld, past: %ld %s\n", w, w2, strerror(errno));
        int f = open("shm_bus.data", O_CREAT | O_RDWR | O_TRUNC, 0600);
        if (f < 0 || write(f, "data", 4) != 4 || lseek(f, 0, SEEK_SET) != 0) { perror("data"); return 1; }
        unlink("shm_bus.data");
        errno = 0;
        long r = read(f, (void *)(p + 8192), 4);
        printf("read past: %ld %s\n", r, strerror(errno));
    } else if (!strcmp(mode, "regrow")) {
        p[10] = 42;
        if (ftruncate(fd, 0) != 0 || ftruncate(fd, 4096) != 0) { perror("ftruncate"); return 1; }
        printf("regrown: %d\n", p[10]);
    } else if (!strcmp(mode, "holder")) {
        memcpy((void *)(p + 4096), "abcd", 4);
        printf("holder stored\n");
        nap(atol(argv[3]));
        printf("holder reads %d\n", p[4096 + 8]);
    } else if (!strcmp(mode, "peek")) {
        nap(atol(argv[3]));
        long w = write(1, (const void *)(p + 4096), 4);
        int f = open("shm_bus.peek", O_CREAT | O_RDWR | O_TRUNC, 0600);
        if (f < 0 || write(f, "xy", 2) != 2 || lseek(f, 0, SEEK_SET) != 0) { perror("data"); return 1; }
        unlink("shm_bus.peek");
        long r = read(f, (void *)(p + 4096 + 8), 2);
        printf(" peek: write %ld, read %ld: %c%c\n", w, r, p[4096 + 8], p[4096 + 9]);
    } else if (!strcmp(mode, "cutter")) {
        nap(atol(argv[3]));
        if (ftruncate(fd, 4096) != 0) { perror("ftruncate"); return 1; }
        errno = 0;
        long w = write(1, (const void *)(p + 4096), 4);
        printf("cut; write past: %ld %s\n", w, strerror(errno));
        shm_unlink(name);
    }
    return 0;
}

/* Code that the kernel writes: machine code (two versions of `int f(void)`) reaches an
 * RWX page through read() from a file (argv[1] = "file NAME"), from stdin ("stdin") or from
 * the process's own mailbox ("mailbox"); the program calls it, overwrites it, calls again. */
#include <shoal.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* li a0, 42; ret      and      li a0, 7; ret */
static const unsigned V1[2] = {0x02a00513, 0x00008067};
static const unsigned V2[2] = {0x00700513, 0x00008067};

static int call(void *page) {
    __asm__ volatile("fence.i" ::: "memory");
    return ((int (*)(void))page)();
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 1;
    int results[2];
    if (!strcmp(mode, "file") || !strcmp(mode, "stdin")) {
        int fd = !strcmp(mode, "stdin") ? 0 : open(argv[2], O_RDONLY);
        if (fd < 0) return 2;
        for (int i = 0; i < 2; i++) {
            if (read(fd, page, 8) != 8) return 3;
            results[i] = call(page);
        }
    } else if (!strcmp(mode, "mailbox")) {
        int in = shoal_mailbox_create(9), out = shoal_mailbox_open(getpid(), 9);
        for (int i = 0; i < 2; i++) {
            if (shoal_mailbox_write(out, i ? V2 : V1, 8) != 8) return 4;
            if (shoal_mailbox_read(in, page, 8) != 8) return 5;
            results[i] = call(page);
        }
    } else {  /* the guest's own stores: the CPU sees those itself */
        for (int i = 0; i < 2; i++) {
            memcpy(page, i ? V2 : V1, 8);
            results[i] = call(page);
        }
    }
    printf("%d %d\n", results[0], results[1]);
    return 0;
}

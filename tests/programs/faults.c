/* One misbehaviour per mode (argv[1]). Each prints a line (flushed) before it misbehaves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static void *volatile keep;
static int *volatile null_ptr;

static const char *errname(int e) {
    switch (e) {
    case 0: return "0";
    case EFAULT: return "EFAULT";
    case ENOMEM: return "ENOMEM";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    default: return "other";
    }
}

static void say(const char *s) {
    printf("%s\n", s);
    fflush(stdout);
}

static long work(int n) {
    long acc = 0;
    for (int i = 1; i <= n; i++)
        acc = (acc * 7 + i) % 1000003;
    return acc;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "null")) {
        say("storing to NULL");
        *null_ptr = 42;
        say("still here?");
        return 0;
    }
    if (!strcmp(mode, "nullload")) {
        say("loading from NULL");
        return *null_ptr;
    }
    if (!strcmp(mode, "ill")) {
        say("executing an illegal instruction");
#if defined(__riscv)
        __asm__ volatile(".4byte 0");
#elif defined(__x86_64__) || defined(__i386__)
        __asm__ volatile("ud2");
#endif
        say("still here?");
        return 0;
    }
    if (!strcmp(mode, "badrm")) {
        /* fcvt.d.w with the reserved rounding mode 5: illegal, exact result or not */
        say("converting with a reserved rounding mode");
#if defined(__riscv)
        __asm__ volatile(".4byte 0xd2005553");
#elif defined(__x86_64__) || defined(__i386__)
        __asm__ volatile("ud2");
#endif
        say("still here?");
        return 0;
    }
    if (!strcmp(mode, "abort")) {
        say("calling abort");
        abort();
    }
    if (!strcmp(mode, "efault")) {
        say("bad pointers");
        errno = 0;
        ssize_t r = write(1, (void *)16, 10);
        printf("write(1, 16, 10) = %zd errno %s\n", r, errname(errno));
        errno = 0;
        r = write(2, (void *)0xfffff000u, 4);
        printf("write(2, 0xfffff000, 4) = %zd errno %s\n", r, errname(errno));
        errno = 0;
        r = read(0, (void *)16, 10);
        printf("read(0, 16, 10) = %zd errno %s\n", r, errname(errno));
        errno = 0;
        int u = uname((struct utsname *)16);
        printf("uname(16) = %d errno %s\n", u, errname(errno));
        char buf[8];
        r = read(0, buf, sizeof buf);
        printf("read after EFAULT = %zd [%.*s]\n", r, (int)(r > 0 ? r : 0), buf);
        printf("still running, work %ld\n", work(100000));
        return 0;
    }
    if (!strcmp(mode, "enosys")) {
        say("unknown system calls");
        errno = 0;
        long r = syscall(999, 1, 2, 3);
        printf("syscall(999) = %ld errno %s\n", r, errname(errno));
        errno = 0;
        r = syscall(998);
        printf("syscall(998) = %ld errno %s\n", r, errname(errno));
        errno = 0;
        r = syscall(999);
        printf("syscall(999) again = %ld errno %s\n", r, errname(errno));
        printf("still running, work %ld\n", work(1000));
        return 7;
    }
    if (!strcmp(mode, "oom")) {
        say("allocating until memory runs out");
        unsigned long n = 0;
        for (;;) {
            char *p = malloc(16384);
            if (p == NULL) {
                printf("malloc returned NULL after %lu blocks\n", n);
                return 3;
            }
            memset(p, 0x5a, 16384);
            keep = p;
            n++;
        }
    }
    if (!strcmp(mode, "mmap")) {
        say("huge mappings");
        errno = 0;
        void *p = mmap(NULL, 3u << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mmap 3 GiB: %s errno %s\n", p == MAP_FAILED ? "MAP_FAILED" : "mapped", errname(errno));
        errno = 0;
        char *a = mmap(NULL, 1536u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mmap 1.5 GiB: %s errno %s\n", a == MAP_FAILED ? "MAP_FAILED" : "mapped", errname(errno));
        if (a != MAP_FAILED) {
            a[0] = 1;
            a[(1536u << 20) - 1] = 2;
            printf("touched both ends: %d %d\n", a[0], a[(1536u << 20) - 1]);
        }
        errno = 0;
        void *b = mmap(NULL, 1536u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("second mmap 1.5 GiB: %s errno %s\n", b == MAP_FAILED ? "MAP_FAILED" : "mapped",
               errname(errno));
        errno = 0;
        void *m = malloc(2000000000u);
        keep = m; /* without this, clang may assume the unused allocation succeeded */
        /* A volatile read: LLVM assumes malloc leaves errno alone and would reuse the 0. */
        int e = *(volatile int *)&errno;
        printf("malloc 2e9: %s errno %s\n", m ? "non-NULL" : "NULL", errname(e));
        if (a != MAP_FAILED)
            printf("munmap: %d\n", munmap(a, 1536u << 20));
        errno = 0;
        void *c = mmap(NULL, 1536u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mmap 1.5 GiB after munmap: %s errno %s\n", c == MAP_FAILED ? "MAP_FAILED" : "mapped",
               errname(errno));
        return 0;
    }
    if (!strcmp(mode, "work")) {
        /* A well-behaved neighbour: sleeps so that a faulting container dies while it runs. */
        long total = 0;
        for (int r = 0; r < 8; r++) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
            total += work(20000 + r);
        }
        printf("work done %ld\n", total);
        return 0;
    }
    printf("unknown mode [%s]\n", mode);
    return 64;
}

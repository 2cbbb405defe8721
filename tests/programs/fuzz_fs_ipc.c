/* 3000 random calls of the file server's and the IPC daemon's families, with arguments that
 * are sometimes right (small descriptors, real paths and names, a buffer) and often wrong
 * (bad pointers, huge sizes, negative values). Every call must get a result (an errno at
 * worst) and the program must reach its end. Waits get a deadline in the past, so that
 * nothing blocks forever. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
static unsigned s = 12345;
static unsigned rnd(void) { s = s * 1103515245u + 12345u; return s >> 3; }
static char buf[8192];
static long long past[2] = {0, 0};
static const char *paths[] = {"a", "/a/b", "dir", "dir/x", "/", "..", "/mq", "q1", "", "a/../dir"};
static long arg(void) {
    switch (rnd() % 10) {
    case 0: return 0;
    case 1: return -1;
    case 2: return 3 + (long)(rnd() % 8);  /* a descriptor that may be open */
    case 3: return 0x7fffffff;
    case 4: return (long)0xfffff000u;
    case 5: return 16;
    case 6: return (long)buf;
    case 7: return (long)paths[rnd() % 10];
    case 8: return (long)(rnd() % 0x1000) | 0x40;  /* flags: O_CREAT and others */
    default: return (long)rnd();
    }
}
int main(int argc, char **argv) {
    s = argc > 1 ? atoi(argv[1]) : 1;
    static const int calls[] = {56, 57, 61, 62, 63, 65, 67, 68, 34, 35, 38, 46, 82, 25, 276, 291,
                                180, 181, 184, 185, 418, 419, 560, 561, 562, 563, 564, 565};
    for (int i = 0; i < 3000; i++) {
        long n = calls[rnd() % (sizeof calls / sizeof calls[0])];
        long a = arg(), b = arg(), c = arg(), d = arg(), e = arg(), f = arg();
        if ((n == 63 || n == 65) && a < 3) continue;  /* stdin: nothing to fuzz there */
        if (n == 418 || n == 419) e = (long)past;
        if (n == 563) { b = (long)past; c = rnd() % 2; }
        syscall(n, a, b, c, d, e, f);
    }
    printf("survived\n");
    return 0;
}

/* 4000 system calls with random numbers (Linux and shoal ranges) and random arguments:
 * bad pointers, huge sizes, negative values. The kernel must answer every one with a result
 * (an errno at worst) and keep running; the program must reach its end. Calls that would
 * end the process, unmap its own code, or block forever are skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
static unsigned s = 12345;
static unsigned rnd(void) { s = s * 1103515245u + 12345u; return s >> 3; }
static long arg(void) {
    switch (rnd() % 8) {
    case 0: return 0;
    case 1: return -1;
    case 2: return (long)(rnd() % 64);
    case 3: return 0x7fffffff;
    case 4: return (long)0xfffff000u;
    case 5: return 16;
    case 6: { static char buf[256]; return (long)buf; }
    default: return (long)rnd();
    }
}
int main(int argc, char **argv) {
    s = argc > 1 ? atoi(argv[1]) : 1;
    int skip[] = {93, 94, 129, 130, 131, 220, 221, 530, 407, 422, 503, 63, 65, 215, 226, 222, 214, 233, 509, 513, 519, 515, 98, 101, 115, 124,
                133, 138, 139, 240, 421};  /* signals: sigsuspend and sigtimedwait wait, sigreturn and sigqueueinfo end it */
    for (int i = 0; i < 4000; i++) {
        long n = (rnd() % 2) ? (long)(rnd() % 300) : 500 + (long)(rnd() % 31);
        int bad = 0;
        for (unsigned j = 0; j < sizeof skip / sizeof skip[0]; j++) if (skip[j] == n) bad = 1;
        if (bad) continue;
        long a = arg(), b = arg(), c = arg(), d = arg(), e = arg(), f = arg();
        syscall(n, a, b, c, d, e, f);
    }
    printf("survived\n");
    return 0;
}

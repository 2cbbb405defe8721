/* Compute, then a system call, over and over: the emulator is mostly in C, and leaves it
   mostly into the kernel's trap hook (a Python callback). Prints "ready" first. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long rounds = argc > 1 ? atol(argv[1]) : 200000;
    volatile unsigned s = 0;
    printf("ready\n");
    fflush(stdout);
    for (long i = 0; i < rounds; i++) {
        for (int j = 0; j < 4000; j++)
            s += j;
        s += getppid();
    }
    printf("%u\n", s);
    return 0;
}

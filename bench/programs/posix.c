/* The POSIX benchmark's guest (bench/posix.py, issue 22): the cost of a process and of a pipe.

     posix fork N [KIB]  N times: fork, the child _exits at once (status i & 0x7f), waitpid
     posix pipe N [KIB]  a pipe each way to a forked child; N one-byte round trips (the child
                         sends back each byte + 1)

   With KIB, a filler child is forked first: it touches memory until the cluster has KIB KiB
   free (sysinfo's freeram is the cluster's under shoal; at most 1.75 MiB elsewhere) and says
   so; the parent then has too little room for a fork on its cluster, so shoal places its
   forks on another. The filler is killed and reaped after the loop.

   Each mode prints one line: the mode, N, whether every check held, and the nanoseconds of
   the loop by CLOCK_MONOTONIC (simulated time under shoal, host time under qemu-user). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int forks(int n) {
    int bad = 0;
    long long t0 = now_ns();
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c == 0) _exit(i & 0x7f);
        int st = 0;
        if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != (i & 0x7f)) bad++;
    }
    long long t1 = now_ns();
    printf("fork %d %s %lld\n", n, bad ? "bad" : "ok", t1 - t0);
    return bad != 0;
}

static int pingpong(int n) {
    int down[2], up[2];
    if (pipe(down) || pipe(up)) return 2;
    pid_t c = fork();
    if (c < 0) return 2;
    if (c == 0) {
        close(down[1]); close(up[0]);
        unsigned char b;
        while (read(down[0], &b, 1) == 1) {
            b++;
            if (write(up[1], &b, 1) != 1) _exit(1);
        }
        _exit(0);
    }
    close(down[0]); close(up[1]);
    int bad = 0;
    long long t0 = now_ns();
    for (int i = 0; i < n; i++) {
        unsigned char b = (unsigned char)i, r = 0;
        if (write(down[1], &b, 1) != 1 || read(up[0], &r, 1) != 1 || r != (unsigned char)(b + 1)) bad++;
    }
    long long t1 = now_ns();
    close(down[1]);
    int st = 0;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
    printf("pipe %d %s %lld\n", n, bad ? "bad" : "ok", t1 - t0);
    return bad != 0;
}

static pid_t filler(int kib) {
    int ready[2];
    if (pipe(ready)) return -1;
    pid_t f = fork();
    if (f == 0) {
        size_t most = 1792u << 10;
        volatile unsigned char *m = malloc(most);
        struct sysinfo si;
        for (size_t i = 0; m && i < most; i += 4096) {
            if (sysinfo(&si) || (unsigned long long)si.freeram * si.mem_unit <= (unsigned long long)kib * 1024)
                break;
            m[i] = 1;
        }
        if (write(ready[1], "r", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    if (f < 0 || read(ready[0], &c, 1) != 1) return -1;
    close(ready[0]); close(ready[1]);
    return f;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 3 || argc > 4 || (strcmp(argv[1], "fork") && strcmp(argv[1], "pipe"))) {
        fprintf(stderr, "usage: posix fork|pipe N [KIB]\n");
        return 2;
    }
    int n = atoi(argv[2]);
    pid_t f = argc == 4 ? filler(atoi(argv[3])) : 0;
    if (f < 0) return 2;
    int bad = !strcmp(argv[1], "fork") ? forks(n) : pingpong(n);
    int st = 0;
    if (f > 0 && (kill(f, SIGKILL) || waitpid(f, &st, 0) != f || !WIFSIGNALED(st))) bad = 1;
    return bad;
}

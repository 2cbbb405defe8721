/* fork's copy of memory (copy-on-write on one cluster), one mode per argv[1]; the host build's
   output is the reference. Parent and child write the same arrays (static, heap, stack) and
   each must see only its own values. Output order is fixed by waits and sleeps. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N (16 * 1024)  /* ints: 64 KiB, 16 pages */
static int glob[N];
static int *heap;

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, 0);
}

static void fill(int *a, int n, int seed) {
    for (int i = 0; i < n; i++) a[i] = i * seed + seed;
}

/* how many of a[] are not what fill(seed) wrote: 0 if the array is this process's own */
static int bad(const int *a, int n, int seed) {
    int k = 0;
    for (int i = 0; i < n; i++) k += a[i] != i * seed + seed;
    return k;
}

static long long sum(const int *a, int n) {
    long long s = 0;
    for (int i = 0; i < n; i++) s += a[i];
    return s;
}

static void show(const char *who, int st) {
    if (WIFEXITED(st)) printf("%s: exited %d\n", who, WEXITSTATUS(st));
    else printf("%s: killed by %d\n", who, WTERMSIG(st));
}

/* both write every array after the fork, the child first, then the parent (the child waits
   for the parent's writes before it checks again) */
static int arrays(void) {
    int stack[1024];
    fill(glob, N, 3);
    fill(heap, N, 5);
    fill(stack, 1024, 7);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        printf("child sees the parent's: %d %d %d\n", bad(glob, N, 3), bad(heap, N, 5), bad(stack, 1024, 7));
        fill(glob, N, 11);
        fill(heap + N / 2, N / 2, 13);  /* half of it: the other half stays shared */
        stack[5] = -1;
        fflush(stdout);
        nap(300);  /* the parent writes meanwhile */
        printf("child after: %d %d %d stack %d\n", bad(glob, N, 11), bad(heap, N / 2, 5),
               bad(heap + N / 2, N / 2, 13), stack[5]);
        fflush(stdout);
        _exit(bad(glob, N, 11) + bad(heap, N / 2, 5) == 0 ? 0 : 1);
    }
    nap(100);  /* the child has written */
    printf("parent sees its own: %d %d %d\n", bad(glob, N, 3), bad(heap, N, 5), bad(stack, 1024, 7));
    fill(glob, N / 2, 17);
    fill(heap, N / 2, 19);
    int st;
    waitpid(c, &st, 0);
    show("child", st);
    printf("parent after: %d %d %d %d\n", bad(glob, N / 2, 17), bad(heap, N / 2, 19),
           bad(heap + N / 2, N / 2, 5) != 0, bad(stack, 1024, 7));
    return 0;
}

/* a fork of a fork of a fork: each level changes a quarter and checks what it inherited */
static int chain(void) {
    fill(glob, N, 1);
    for (int level = 1; level <= 4; level++) {
        fflush(stdout);
        pid_t c = fork();
        if (c != 0) {
            int st;
            waitpid(c, &st, 0);
            for (int i = 0; i < N / 4; i++) glob[i] += 1000;  /* after the child: not seen by it */
            printf("level %d: child %s, sum %lld\n", level - 1, WIFEXITED(st) ? "exited" : "killed",
                   sum(glob, N));
            return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
        }
        int off = (level - 1) * (N / 4);
        for (int i = off; i < off + N / 4; i++) glob[i] = glob[i] * 2 + level;
        printf("level %d: sum %lld\n", level, sum(glob, N));
    }
    fflush(stdout);
    return 7;
}

/* the child writes its copy, then execs this program: the parent's memory is untouched */
static int exec_mode(const char *self) {
    fill(glob, N, 9);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        fill(glob, N / 4, 23);
        char *argv[] = {(char *)self, "hello", 0};
        execv(self, argv);
        _exit(127);
    }
    int st;
    waitpid(c, &st, 0);
    show("exec'd child", st);
    printf("parent: %d\n", bad(glob, N, 9));
    return 0;
}

/* a daemon's double fork, twice: two grandchildren and the parent share pages (the middle
   process has gone and been reaped), and each rewrites them in rounds, checking its own,
   while the test moves them */
static int shared_pair(void) {
    fill(glob, N, 3);
    fill(heap, N, 5);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        for (int g = 0; g < 2; g++) {
            if (fork() == 0) {
                int wrong = 0;
                for (int r = 0; r < 8; r++) {
                    nap(20);
                    wrong += bad(glob, N, 3 + 2 * r + g * (r > 0)) + bad(heap, N, 5);
                    fill(glob, N, 5 + 2 * r + g);
                }
                nap(200 * g);  /* one after the other */
                printf("grandchild %d: wrong %d, sum %lld\n", g, wrong, sum(glob, N));
                fflush(stdout);
                _exit(wrong ? 1 : 3 + g);
            }
        }
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    show("middle", st);
    int wrong = 0;
    for (int r = 0; r < 8; r++) {
        nap(20);
        wrong += bad(heap, N, 5 + 4 * r) + bad(glob, N / 2, 3);
        fill(heap, N, 9 + 4 * r);
    }
    nap(800);  /* the grandchildren have printed */
    printf("parent: wrong %d, sum %lld\n", wrong, sum(heap, N));
    return 0;
}

/* more than the cluster holds once both have written their copies (remote memory takes the
   rest); argv[2] KiB each, plus as much again allocated after the fork */
static int pressure(int kib) {
    int n = kib * 256;
    int *a = malloc(n * sizeof(int));
    fill(a, n, 3);
    fflush(stdout);
    pid_t c = fork();
    int *more = malloc(n * sizeof(int));
    fill(more, n, c == 0 ? 7 : 9);
    fill(a, n, c == 0 ? 11 : 13);
    long w = bad(a, n, c == 0 ? 11 : 13) + bad(more, n, c == 0 ? 7 : 9);
    if (c == 0) {
        printf("child: wrong %ld, sum %lld\n", w, sum(a, n) + sum(more, n));
        fflush(stdout);
        _exit(w != 0);
    }
    int st;
    waitpid(c, &st, 0);
    show("child", st);
    printf("parent: wrong %ld, sum %lld\n", w, sum(a, n) + sum(more, n));
    return 0;
}

/* a big heap, then a fork whose child only reads a little, and both pause */
static int big_heap(int kib) {
    int n = kib * 256;
    int *a = malloc(n * sizeof(int));
    fill(a, n, 3);
    fflush(stdout);
    pid_t c = fork();
    nap(200);  /* the test looks at the cluster's frames now */
    if (c == 0) {
        printf("child: %d\n", bad(a, n, 3));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    show("child", st);
    return 0;
}

/* rights and moves of shared pages: a store to one made read-only kills (SIGSEGV) and leaves
   the other's page as it was; made writable again, it is copied on the store; mremap moves the
   child's copy; the parent's pages stay its own throughout */
static int protect(void) {
    size_t len = 8 * 4096;
    int *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int n = (int)(len / sizeof(int));
    fill(m, n, 3);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0) {
            mprotect(m, len, PROT_READ);
            m[10] = 1;  /* SIGSEGV */
            _exit(0);
        }
        int st;
        waitpid(g, &st, 0);
        show("store to a read-only shared page", st);
        mprotect(m, len / 2, PROT_READ);
        mprotect(m, len / 2, PROT_READ | PROT_WRITE);
        fill(m, n / 2, 5);
        int *to = mremap(m, len, 2 * len, MREMAP_MAYMOVE);
        fill(to + n / 2, n / 2, 7);
        printf("child: %d %d\n", bad(to, n / 2, 5), bad(to + n / 2, n / 2, 7));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    show("child", st);
    printf("parent: %d\n", bad(m, n, 3));
    fill(m, n, 9);
    printf("parent after its own stores: %d\n", bad(m, n, 9));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    setvbuf(stdout, 0, _IOLBF, 0);  /* lines in time order, whatever stdout is */
    heap = malloc(N * sizeof(int));
    const char *m = argv[1];
    if (!strcmp(m, "arrays")) return arrays();
    if (!strcmp(m, "chain")) return chain();
    if (!strcmp(m, "exec")) return exec_mode(argv[0]);
    if (!strcmp(m, "hello")) {
        printf("hello after exec: %d\n", bad(glob, N, 0));  /* 0: zeroed, a new program's */
        return 5;
    }
    if (!strcmp(m, "pair")) return shared_pair();
    if (!strcmp(m, "protect")) return protect();
    if (!strcmp(m, "pressure")) return pressure(argc > 2 ? atoi(argv[2]) : 64);
    if (!strcmp(m, "bigheap")) return big_heap(argc > 2 ? atoi(argv[2]) : 64);
    return 2;
}

/* mlock family, msync, mincore, membarrier and prctl's thread names as Linux has them
 * (kernel/calls/mlock.py, proc.py: sys_prctl). Compared byte for byte with the host gcc build;
 * "query" prints membarrier's mask, which differs by architecture (checked by the test). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MEMBARRIER_CMD_GLOBAL 1
#define MEMBARRIER_CMD_GLOBAL_EXPEDITED 2
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED 8
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED 16

static void show(const char *what, long rc) {
    printf("%s = %ld errno %d\n", what, rc, rc < 0 ? errno : 0);
    errno = 0;
}

static void resident(const char *what, char *p, size_t n) {
    unsigned char v[8];
    memset(v, 7, sizeof v);
    long rc = mincore(p, n * 4096, v);
    printf("mincore %s = %ld:", what, rc);
    for (size_t i = 0; i < n; i++) printf(" %d", v[i]);
    printf("\n");
}

static void memory(void) {
    size_t pg = 4096;
    char *m = mmap(NULL, 6 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m + 5 * pg, pg);  /* a hole after five pages */
    m[0] = 1;
    m[2 * pg + 5] = 2;
    resident("touched 0 and 2", m, 5);
    show("mlock(page 3, 10 bytes from inside)", mlock(m + 3 * pg + 100, 10));
    resident("after mlock of 3", m, 5);
    show("mlock2(page 4, ONFAULT)", syscall(SYS_mlock2, m + 4 * pg, pg, 1));
    resident("after mlock2 ONFAULT", m, 5);
    show("mlock2(bad flags)", syscall(SYS_mlock2, m, pg, 2));
    show("mlock(into the hole)", mlock(m + 4 * pg, 2 * pg));
    show("munlock(into the hole)", munlock(m + 4 * pg, 2 * pg));
    show("munlock(page 3)", munlock(m + 3 * pg, pg));
    show("mlock(len 0)", mlock(m + 5 * pg, 0));
    show("mlockall(0)", mlockall(0));
    show("mlockall(8)", mlockall(8));
    show("mlockall(ONFAULT alone)", mlockall(4));
    show("munlockall", munlockall());
    show("msync(SYNC)", msync(m, 2 * pg, MS_SYNC));
    show("msync(ASYNC|INVALIDATE)", msync(m, pg, MS_ASYNC | MS_INVALIDATE));
    show("msync(ASYNC|SYNC)", msync(m, pg, MS_ASYNC | MS_SYNC));
    show("msync(bad flags)", msync(m, pg, 8));
    show("msync(unaligned)", msync(m + 1, pg, MS_SYNC));
    show("msync(into the hole)", msync(m + 4 * pg, 2 * pg, MS_SYNC));
    show("msync(len 0 in the hole)", msync(m + 5 * pg, 0, MS_SYNC));
    unsigned char v[4];
    show("mincore(unaligned)", mincore(m + 1, pg, v));
    show("mincore(into the hole)", mincore(m + 4 * pg, 2 * pg, v));
    show("mincore(len 0)", mincore(m, 0, v));
    show("mincore(1 byte)", mincore(m + 2 * pg, 1, v));
    printf("  vec %d\n", v[0]);
}

static void barriers(void) {
    show("GLOBAL", syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0));
    show("GLOBAL_EXPEDITED", syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0));
    show("PRIVATE_EXPEDITED unregistered",
         syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0));
    show("REGISTER_PRIVATE_EXPEDITED",
         syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0));
    show("PRIVATE_EXPEDITED", syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0));
    show("flags", syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 4, 0));
    show("bad command", syscall(SYS_membarrier, 1 << 20, 0, 0));
}

static char tname[16];
static void *thread(void *arg) {
    (void)arg;
    char n[16];
    prctl(PR_GET_NAME, n);
    printf("thread starts as '%s'\n", n);
    show("thread PR_SET_NAME", prctl(PR_SET_NAME, "worker"));
    prctl(PR_GET_NAME, tname);
    return NULL;
}

static void names(void) {
    char n[32];
    memset(n, 'x', sizeof n);
    show("PR_GET_NAME", prctl(PR_GET_NAME, n));
    /* (the program's file name: the host build's carries a suffix) */
    printf("  starts with memcalls %d, byte 15 %d\n", !strncmp(n, "memcalls", 8), n[15]);
    show("PR_SET_NAME long", prctl(PR_SET_NAME, "a-very-long-thread-name"));
    memset(n, 'x', sizeof n);
    prctl(PR_GET_NAME, n);
    printf("  '%s' len %zu byte 16 %c\n", n, strlen(n), n[16]);
    pthread_t th;
    pthread_create(&th, NULL, thread, NULL);
    pthread_join(th, NULL);
    prctl(PR_GET_NAME, n);
    printf("thread ended as '%s', main is '%s'\n", tname, n);
    show("PR_SET_NAME empty", prctl(PR_SET_NAME, ""));
    prctl(PR_GET_NAME, n);
    printf("  '%s'\n", n);
    show("PR_SET_NAME bad pointer", prctl(PR_SET_NAME, (char *)16));
    show("PR_GET_NAME bad pointer", prctl(PR_GET_NAME, (char *)16));
    show("unknown option", prctl(9999, 0, 0, 0, 0));
}

#ifdef __riscv
#include <shoal.h>
static int mig_mode(int to) {  /* the thread's name and the registration travel in the image */
    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
    prctl(PR_SET_NAME, "moved");
    if (shoal_migrate(to) != 0) return 1;
    char n[16];
    prctl(PR_GET_NAME, n);
    printf("on %d name '%s' barrier %ld\n", shoal_cluster(), n,
           syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0));
    return 0;
}
#endif

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "all";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "query")) {
        printf("query %ld\n", syscall(SYS_membarrier, 0, 0, 0));
        return 0;
    }
#ifdef __riscv
    if (!strcmp(mode, "mig")) return mig_mode(argc > 2 ? argv[2][0] - '0' : 1);
#endif
    if (!strcmp(mode, "exec")) {  /* exec drops the registration and names the thread anew */
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
        prctl(PR_SET_NAME, "before");
        execl(argv[0], argv[0], "after", (char *)0);
        printf("execl failed errno %d\n", errno);
        return 1;
    }
    if (!strcmp(mode, "after")) {
        char n[16];
        prctl(PR_GET_NAME, n);
        printf("after exec: name starts with memcalls %d\n", !strncmp(n, "memcalls", 8));
        show("PRIVATE_EXPEDITED", syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0));
        return 0;
    }
    memory();
    barriers();
    names();
    return 0;
}

/* A SIGBUS handler for shared memory past its object's end (Linux: the handler runs with
 * si_code BUS_ADRERR and si_addr the address touched; siglongjmp leaves it).
 *   shm_sigbus NAME   a 16 KiB mapping of an 8 KiB object: a store at 12 KiB, a load at
 *                     8 KiB + 3, an atomic at 15 KiB; ftruncate(4 KiB) and a load of page 1;
 *                     back to 8 KiB, page 1 reads zero; SIGBUS blocked: the default action */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile unsigned char *base;

static void on_bus(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    printf("  signal %d code %d at offset %ld\n", sig, si->si_code, (long)((char *)si->si_addr - (char *)base));
    siglongjmp(jb, 1);
}

static int touch(const char *what, long off, int how) {
    if (sigsetjmp(jb, 1)) return -1;
    volatile unsigned char *p = base + off;
    int v = 0;
    if (how == 0) v = *p;
    else if (how == 1) *p = 0x5a;
    else v = __atomic_fetch_add((volatile unsigned *)p, 1, __ATOMIC_SEQ_CST);
    printf("%s at %ld: ok %d\n", what, off, v);
    return v;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    shm_unlink(argv[1]);
    int fd = shm_open(argv[1], O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 8192) != 0) { perror("shm"); return 1; }
    base = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) { perror("mmap"); return 1; }
    shm_unlink(argv[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    touch("store", 4096 + 7, 1);
    printf("store past: %d\n", touch("store", 12288, 1));
    printf("load past: %d\n", touch("load", 8192 + 3, 0));
    printf("atomic past: %d\n", touch("atomic", 15360, 2));
    if (ftruncate(fd, 4096) != 0) { perror("ftruncate"); return 1; }
    printf("load after shrink: %d\n", touch("load", 4096 + 7, 0));
    if (ftruncate(fd, 8192) != 0) { perror("ftruncate"); return 1; }
    printf("load after regrow: %d\n", touch("load", 4096 + 7, 0));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("blocked:\n");
    touch("store", 12288, 1);  /* blocked: the default action, the process ends (135) */
    printf("not reached\n");
    return 0;
}

/* Calls whose answers are written into a page that is away when they come. argv[1] "shared":
 * the buffer is a page of a shared memory object that a child on another cluster writes in a
 * loop (shoal_migrate; on the host it stays), so the page moves away between a call and its
 * answer; "rmem": the buffer is private, and a child on the same cluster walks 2 MiB in a loop
 * (a small cluster evicts the buffer's page to remote memory meanwhile). Each call is made
 * ROUNDS times and must give what it gives when the page stays (no EFAULT); then a bad
 * address still gives EFAULT. The output is the host build's. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __riscv
#include <shoal.h>
#else
static int shoal_migrate(int c) { (void)c; return 0; }
#endif

#define ROUNDS 24
#define BIG (2 << 20)

static volatile unsigned char *page;  /* the buffers: the page's first 3 KiB */
static int bad;

static void check(const char *what, long got, long want) {
    if (got != want) {
        printf("%s: %ld (%s), not %ld\n", what, got, got < 0 ? strerror(errno) : "", want);
        bad++;
    }
}

static pid_t busy(int shared) {
    pid_t c = fork();
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);  /* (a parent killed by a timeout leaves no spinner) */
        if (shared) {
            shoal_migrate(2);
            while (!page[4000]) page[4090]++;  /* the page goes there, and back, and there */
        } else {
            unsigned char *big = malloc(BIG);
            for (;;)
                for (long i = 0; i < BIG; i += 4096) big[i]++;
        }
        _exit(0);
    }
    return c;
}

static void nap(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* Each round, once told: sends what the parent's calls wait for, a pause before each (the
 * calls wait, and the page goes meanwhile). */
static pid_t feeder(int token, int told, int st, int dg, struct sockaddr_un *sa, int q, mqd_t mq) {
    pid_t c = fork();
    if (c == 0) {
        char t;
        close(told);
        while (read(token, &t, 1) == 1) {
            nap(300);
            write(st, "stream", 6);
            nap(300);
            write(dg, "datagram", 8);
            nap(300);
            int cs = socket(AF_UNIX, SOCK_STREAM, 0);
            connect(cs, (struct sockaddr *)sa, sizeof *sa);
            nap(300);
            struct { long type; char text[16]; } m = {7, "sysv"};
            msgsnd(q, &m, 5, 0);
            nap(300);
            mq_send(mq, "posix", 5, 2);
            close(cs);
        }
        _exit(0);
    }
    return c;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int shared = argc < 2 || strcmp(argv[1], "rmem") != 0;
    char dir[] = "/tmp/answer_away";
    char path[64], link[64];
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/file", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    write(fd, "the file's twenty-nine bytes\n", 29);
    unlink(link);
    symlink(path, link);
    chdir(dir);
    if (shared) {
        int o = shm_open("/answer_away", O_CREAT | O_RDWR, 0600);
        ftruncate(o, 4096);
        page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, o, 0);
        close(o);
        shm_unlink("/answer_away");
    } else {
        page = aligned_alloc(4096, 4096);
    }
    memset((void *)page, 0, 4096);
    char *buf = (char *)page;
    pid_t c = busy(shared);

    int sv[2], dg[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", dir);
    unlink(sa.sun_path);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(ls, (struct sockaddr *)&sa, sizeof sa);
    listen(ls, 4);
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    struct mq_attr ma = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mq_unlink("/answer_away");
    mqd_t mq = mq_open("/answer_away", O_CREAT | O_RDWR, 0600, &ma);
    sem_t *sem = sem_open("/answer_away", O_CREAT, 0600, 3);
    int p[2], tok[2];
    pipe(p);
    pipe(tok);
    pid_t f = feeder(tok[0], tok[1], sv[0], dg[0], &sa, q, mq);

    for (int r = 0; r < ROUNDS; r++) {
        check("pread", pread(fd, buf, 29, 0), 29);
        check("pread bytes", memcmp(buf, "the file's twenty-nine bytes\n", 29), 0);
        lseek(fd, 4, SEEK_SET);
        check("read", read(fd, buf + 100, 100), 25);
        check("read bytes", memcmp(buf + 100, "file's", 6), 0);
        check("fstat", fstat(fd, (struct stat *)(buf + 256)), 0);
        check("fstat size", ((struct stat *)(buf + 256))->st_size, 29);
        check("stat", stat(path, (struct stat *)(buf + 512)), 0);
        check("stat size", ((struct stat *)(buf + 512))->st_size, 29);
        check("readlink", readlink(link, buf + 768, 64), (long)strlen(path));
        check("getcwd", getcwd(buf + 900, 64) == buf + 900, 1);
        check("getcwd path", strcmp(buf + 900, dir), 0);
        int d = open(dir, O_RDONLY | O_DIRECTORY);
        long n = syscall(SYS_getdents64, d, buf + 1024, 512);
        check("getdents", n > 0, 1);
        close(d);
        write(tok[1], "", 1);  /* the feeder sends each after a pause: the calls wait */
        check("recv", recv(sv[1], buf + 1600, 64, 0), 6);
        check("recv bytes", memcmp(buf + 1600, "stream", 6), 0);
        socklen_t *len = (socklen_t *)(buf + 1700);
        *len = sizeof(struct sockaddr_un);
        check("recvfrom", recvfrom(dg[1], buf + 1800, 64, 0, (struct sockaddr *)(buf + 1720), len), 8);
        check("recvfrom bytes", memcmp(buf + 1800, "datagram", 8), 0);
        *len = sizeof(struct sockaddr_un);
        int as = accept(ls, (struct sockaddr *)(buf + 1720), len);
        check("accept", as >= 0, 1);
        check("accept len", *len, 2);  /* (the connecting socket is not bound: its family only) */
        close(as);
        check("msgrcv", msgrcv(q, buf + 2048, 16, 0, 0), 5);
        check("msgrcv bytes", memcmp(buf + 2048 + sizeof(long), "sysv", 5), 0);
        check("mq_receive", mq_receive(mq, buf + 2200, 64, (unsigned *)(buf + 2300)), 5);
        check("mq_receive prio", *(unsigned *)(buf + 2300), 2);
        *len = sizeof(struct sockaddr_un);
        check("getsockname", getsockname(ls, (struct sockaddr *)(buf + 1720), len), 0);
        check("getsockname path", strcmp(((struct sockaddr_un *)(buf + 1720))->sun_path, sa.sun_path), 0);
        check("sem_getvalue", sem_getvalue(sem, (int *)(buf + 2400)), 0);
        check("sem value", *(int *)(buf + 2400), 3);
        write(p[1], "pipe", 4);
        check("pipe read", read(p[0], buf + 2500, 64), 4);
        pid_t k = fork();
        if (k == 0) {
            nap(300);
            _exit(r & 0x7f);
        }
        check("waitpid", waitpid(k, (int *)(buf + 2600), 0), k);
        check("waitpid status", WEXITSTATUS(*(int *)(buf + 2600)), r & 0x7f);
    }
    printf("%d rounds of 17 calls, %d wrong\n", ROUNDS, bad);
    close(tok[1]);
    waitpid(f, NULL, 0);

    /* a bad address is still EFAULT */
    long e = pread(fd, (void *)16, 8, 0);
    printf("pread to a bad address: %ld %s\n", e, strerror(errno));
    int d = open(dir, O_RDONLY | O_DIRECTORY);  /* (musl's fstat copies in user space: a crash) */
    e = syscall(SYS_getdents64, d, (void *)16, 512);
    printf("getdents64 to a bad address: %ld %s\n", e, strerror(errno));
    close(d);
    write(sv[0], "x", 1);
    e = recv(sv[1], (void *)16, 8, 0);
    printf("recv to a bad address: %ld %s\n", e, strerror(errno));

    if (shared) {
        page[4000] = 1;
    } else {
        kill(c, SIGKILL);
    }
    waitpid(c, NULL, 0);
    msgctl(q, IPC_RMID, NULL);
    mq_unlink("/answer_away");
    sem_unlink("/answer_away");
    unlink(sa.sun_path);
    unlink(link);
    unlink(path);
    return 0;
}

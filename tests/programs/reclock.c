/* fcntl record locks between processes (issue 22): conflicts, F_GETLK's answer, F_SETLKW's
 * wait and EDEADLK, a close dropping the process's locks, OFD locks, merging and splitting,
 * errors. usage: reclock DIR | reclock hold FILE | reclock probe FILE (two processes, which
 * may be on two clusters: hold locks, probe sees it and waits for it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int lk(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    int r = fcntl(fd, cmd, &fl);
    return r < 0 ? -errno : r;
}

static void getlk(const char *what, int fd, short type, off_t start, off_t len, pid_t holder) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    int r = fcntl(fd, F_GETLK, &fl);
    printf("%s %d type %d start %lld len %lld holder %s\n", what, r, fl.l_type, (long long)fl.l_start,
           (long long)fl.l_len, fl.l_type == F_UNLCK ? "-" : fl.l_pid == holder ? "expected" : "other");
}

static void nap(int ms) {
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}, NULL);
}

static int two(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) return 1;
    if (ftruncate(fd, 4096)) return 1;
    return fd;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "hold")) {
        int fd = two(argv[2]);
        printf("hold %d\n", lk(fd, F_SETLK, F_WRLCK, 0, 0));
        fflush(stdout);
        nap(30);
        printf("unlock %d\n", lk(fd, F_SETLK, F_UNLCK, 0, 0));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "probe")) {
        nap(10);
        int fd = two(argv[2]);
        struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
        fcntl(fd, F_GETLK, &fl);
        printf("probe sees type %d len %lld\n", fl.l_type, (long long)fl.l_len);
        printf("probe setlk %d\n", lk(fd, F_SETLK, F_RDLCK, 0, 0));
        printf("probe setlkw %d\n", lk(fd, F_SETLKW, F_RDLCK, 0, 0));
        return 0;
    }
    if (argc < 2) return 2;
    char path[512];
    snprintf(path, sizeof path, "%s/reclock-file", argv[1]);
    int fd = two(path);
    pid_t me = getpid();
    printf("wrlck 0-100 %d\n", lk(fd, F_SETLK, F_WRLCK, 0, 100));
    printf("rdlck 100-110 %d\n", lk(fd, F_SETLK, F_RDLCK, 100, 10));
    printf("rdlck 110-120 %d\n", lk(fd, F_SETLK, F_RDLCK, 110, 10));  /* merges with 100-110 */
    printf("own relock as rd 20-30 %d\n", lk(fd, F_SETLK, F_RDLCK, 20, 10));  /* splits 0-100 */
    getlk("own getlk", fd, F_WRLCK, 0, 0, me);  /* one's own locks never conflict */
    fflush(stdout);
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        getlk("child getlk wr 0-", fd, F_WRLCK, 0, 0, me);
        getlk("child getlk wr 20-", fd, F_WRLCK, 20, 0, me);
        getlk("child getlk rd 20-30", fd, F_RDLCK, 20, 10, me);
        getlk("child getlk wr 100-", fd, F_WRLCK, 100, 0, me);
        getlk("child getlk wr 120-", fd, F_WRLCK, 120, 0, me);
        printf("child rdlck 50-60 %d\n", lk(fd, F_SETLK, F_RDLCK, 50, 10));
        printf("child rdlck 20-30 %d\n", lk(fd, F_SETLK, F_RDLCK, 20, 10));
        printf("child wrlck 200-210 %d\n", lk(fd, F_SETLK, F_WRLCK, 200, 10));
        fflush(stdout);
        write(p[1], "w", 1);
        int r = lk(fd, F_SETLKW, F_WRLCK, 0, 10);  /* waits for the parent's unlock */
        printf("child setlkw 0-10 %d\n", r);
        fflush(stdout);
        write(p[1], "g", 1);
        nap(20);
        /* the parent now waits for 200-210, ours, while holding 60-100: EDEADLK for us */
        printf("child setlkw 60-70 %d\n", lk(fd, F_SETLKW, F_WRLCK, 60, 10));
        fflush(stdout);
        _exit(0);
    }
    char ch;
    read(p[0], &ch, 1);
    nap(20);
    int u = lk(fd, F_SETLK, F_UNLCK, 0, 20);
    read(p[0], &ch, 1);  /* printed after the woken child's line, so the order is not a race */
    printf("parent unlock 0-20 %d\n", u);
    fflush(stdout);
    int r = lk(fd, F_SETLKW, F_WRLCK, 200, 10);  /* the child's: granted when it ends */
    printf("parent setlkw 200-210 %d\n", r);
    fflush(stdout);
    int fd2 = open(path, O_RDWR);
    close(fd2);  /* any close of the file drops all of the process's locks: the child goes on */
    int status;
    waitpid(c, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));

    /* open file description locks: they conflict with the process's own POSIX locks */
    int o1 = open(path, O_RDWR), o2 = open(path, O_RDWR);
    printf("ofd wrlck %d\n", lk(o1, F_OFD_SETLK, F_WRLCK, 0, 10));
    printf("posix over ofd %d\n", lk(o2, F_SETLK, F_RDLCK, 0, 10));
    printf("other ofd %d\n", lk(o2, F_OFD_SETLK, F_RDLCK, 5, 10));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int g = fcntl(o2, F_OFD_GETLK, &fl);  /* l_pid: -1 since Linux 6.x, 0 before */
    printf("ofd getlk %d type %d pid-not-positive %d\n", g, fl.l_type, fl.l_pid <= 0);
    close(o1);  /* the description goes: its lock with it */
    printf("after close other ofd %d\n", lk(o2, F_OFD_SETLK, F_WRLCK, 0, 10));

    int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY);
    printf("wrlck on read-only %d\n", lk(ro, F_SETLK, F_WRLCK, 0, 1));
    printf("rdlck on write-only %d\n", lk(wo, F_SETLK, F_RDLCK, 0, 1));
    struct flock bad = {.l_type = F_RDLCK, .l_whence = 7};
    printf("bad whence %d\n", fcntl(ro, F_SETLK, &bad) < 0 ? -errno : 0);
    printf("negative start %d\n", lk(ro, F_SETLK, F_RDLCK, -5, 1));
    printf("negative len %d\n", lk(ro, F_SETLK, F_RDLCK, 10, -5));
    unlink(path);
    return 0;
}

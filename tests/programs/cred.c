/* A process's user and groups (issue 22): the set*id family's rules, getgroups/setgroups,
 * chown's family and its rules, access/modification/change times. Run as root (as every
 * process on the chip starts); the test compares it with the host build run as root.
 * usage: cred DIR | cred move (drops to uid 1000, then sleeps 20 ms: a migration meets it) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *what, long ret) {
    printf("%s %ld %d\n", what, ret, ret < 0 ? errno : 0);
    errno = 0;
}

static void resuid(const char *what) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("%s uid %u %u %u gid %u %u %u\n", what, r, e, s, gr, ge, gs);
}

static void owner(const char *what, int fd) {
    struct stat st;
    fstat(fd, &st);
    printf("%s owner %u group %u mode %o\n", what, st.st_uid, st.st_gid, st.st_mode & 07777);
}

int main(int argc, char **argv) {
    char f[512], g[512];
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "move")) {
        gid_t one = 5, back[2] = {0, 0};
        umask(027);
        setgroups(1, &one);
        setresgid(2000, 2001, 2002);
        setresuid(1000, 1001, 0);
        resuid("before");
        fflush(stdout);
        nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
        resuid("after");
        printf("groups %d %u umask %o\n", getgroups(2, back), back[0], umask(0));
        return 0;
    }
    snprintf(f, sizeof f, "%s/cred-f", argv[1]);
    snprintf(g, sizeof g, "%s/cred-g", argv[1]);
    printf("ids %u %u %u %u\n", getuid(), geteuid(), getgid(), getegid());
    resuid("start");

    chmod(argv[1], 0777);  /* (searchable by the child once it is not root) */
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    int fd = open(f, O_CREAT | O_RDWR | O_TRUNC, 0644);
    int gd = open(g, O_CREAT | O_RDWR | O_TRUNC, 0644);
    owner("new", fd);
    say("chown -1 -1", chown(f, -1, -1));
    say("chown 1000 2000", chown(f, 1000, 2000));
    owner("given", fd);
    say("chmod 6755", fchmod(fd, 06755));
    say("fchown uid 1001", fchown(fd, 1001, -1));
    owner("set-ids dropped", fd);
    say("lchown missing", lchown("/no/such/file", 1, 1));
    say("fchownat bad flag", fchownat(AT_FDCWD, f, 1, 1, 0x4000));
    say("fchown bad fd", fchown(99, 1, 1));
    say("chown gd 1000 2000", fchown(gd, 1000, 2000));

    struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 5}, {.tv_sec = 1200000000, .tv_nsec = 7}};
    say("futimens", futimens(fd, ts));
    struct stat st;
    fstat(fd, &st);
    printf("times a %lld.%ld m %lld.%ld\n", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec omit[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1300000000, .tv_nsec = 0}};
    say("utimensat omit atime", utimensat(AT_FDCWD, f, omit, 0));
    fstat(fd, &st);
    printf("times a %lld m %lld dev-nonzero %d\n", (long long)st.st_atim.tv_sec,
           (long long)st.st_mtim.tv_sec, st.st_dev != 0);
    struct timespec both_omit[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
    say("utimensat /dev/null/x omit", utimensat(AT_FDCWD, "/dev/null/x", both_omit, 0));
    say("utimensat /dev/null/x", utimensat(AT_FDCWD, "/dev/null/x", ts, 0));

    gid_t groups[2] = {5, 2000}, back[4];
    say("setgroups", setgroups(2, groups));
    say("getgroups 0", getgroups(0, back));
    say("getgroups 1", getgroups(1, back));
    int n = getgroups(4, back);
    printf("groups %d: %u %u\n", n, back[0], back[1]);
    fflush(stdout);

    pid_t pid = fork();
    if (pid == 0) {
        say("setresgid 2000", setresgid(2000, 2000, 2000));
        say("setresuid 1000 1000 0", setresuid(1000, 1000, 0));
        resuid("dropped");
        say("setuid 0 (saved)", setuid(0));
        resuid("back");
        say("seteuid 1000", seteuid(1000));
        say("setuid 5", setuid(5));
        say("setuid -1", setuid(-1));
        say("setgroups", setgroups(0, NULL));
        say("setgid 7", setgid(7));
        say("setfsuid 77", setfsuid(77));
        say("setfsuid -1", setfsuid(-1));
        say("fchown other's", fchown(fd, 1000, -1));
        say("fchown own to group 5", fchown(gd, -1, 5));
        say("fchown own to group 6", fchown(gd, -1, 6));
        say("fchown own to uid 1001", fchown(gd, 1001, -1));
        say("fchown own same", fchown(gd, 1000, 5));
        owner("own", gd);
        /* access by the real uid (1000 now): f is 1001's, mode 755; g is ours, mode 644 */
        say("access other's R", faccessat(dir, "cred-f", R_OK, 0));
        say("access other's W", faccessat(dir, "cred-f", W_OK, 0));
        say("access other's X", faccessat(dir, "cred-f", X_OK, 0));
        say("access own RW", faccessat(dir, "cred-g", R_OK | W_OK, 0));
        say("access own X", faccessat(dir, "cred-g", X_OK, 0));
        say("access missing", faccessat(dir, "cred-none", F_OK, 0));
        say("setreuid -1 0", setreuid(-1, 0));
        resuid("setreuid");
        say("setreuid 1000 1000", setreuid(1000, 1000));
        resuid("setreuid all");
        say("setuid 0", setuid(0));
        printf("ids %u %u %u %u\n", getuid(), geteuid(), getgid(), getegid());
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child %d\n", WEXITSTATUS(status));
    resuid("parent");
    close(fd);
    close(gd);
    unlink(f);
    unlink(g);
    return 0;
}

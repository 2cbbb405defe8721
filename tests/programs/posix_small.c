/* The small things a libc relies on (issue 22): /tmp, /dev/null, /dev/zero, /dev/urandom,
 * dup of every descriptor with a shared offset, rlimits, record locks, a working directory,
 * argv[0]. Each mode prints what Linux gives; the tests compare with the host's run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define CHECK(what, expr) do { errno = 0; long r_ = (long)(expr); \
    printf("%s = %ld errno %d\n", what, r_, r_ < 0 ? errno : 0); } while (0)

static int tmp_mode(void) {
    struct stat st;
    if (stat("/tmp", &st) != 0) { perror("stat /tmp"); return 1; }
    printf("/tmp dir %d sticky %d mode %o\n", S_ISDIR(st.st_mode), !!(st.st_mode & S_ISVTX),
           st.st_mode & 0777);
    FILE *f = tmpfile();
    if (!f) { perror("tmpfile"); return 1; }
    fputs("hello tmpfile\n", f);
    rewind(f);
    char line[64] = "";
    fgets(line, sizeof line, f);
    printf("tmpfile read back: %s", line);
    fclose(f);
    char name[] = "/tmp/shoal_posixXXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) { perror("mkstemp"); return 1; }
    printf("mkstemp prefix ok %d len %zu\n", strncmp(name, "/tmp/shoal_posix", 16) == 0, strlen(name));
    CHECK("write", write(fd, "abc", 3));
    CHECK("fstat size", (fstat(fd, &st), st.st_size));
    CHECK("unlink", unlink(name));
    close(fd);
    return 0;
}

static int dev_mode(void) {
    char buf[16];
    struct stat st;
    const char *names[] = {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"};
    for (int i = 0; i < 4; i++) {
        CHECK(names[i], stat(names[i], &st));
        printf("  chr %d mode %o rdev %u:%u\n", S_ISCHR(st.st_mode), st.st_mode & 0777,
               major(st.st_rdev), minor(st.st_rdev));
    }
    int n = open("/dev/null", O_RDWR);
    CHECK("open null", n >= 0);
    CHECK("read null", read(n, buf, sizeof buf));
    CHECK("write null", write(n, "swallowed", 9));
    CHECK("lseek null", lseek(n, 100, SEEK_SET));
    CHECK("fstat null", fstat(n, &st));
    printf("  chr %d rdev %u:%u\n", S_ISCHR(st.st_mode), major(st.st_rdev), minor(st.st_rdev));
    int d = dup(n);
    CHECK("dup null", d > n);
    CHECK("write dup", write(d, "x", 1));
    CHECK("close null", close(n));
    CHECK("read dup", read(d, buf, 4));
    CHECK("close dup", close(d));
    CHECK("read closed", read(d, buf, 4));
    memset(buf, 7, sizeof buf);
    int z = open("/dev/zero", O_RDONLY);
    CHECK("read zero", read(z, buf, sizeof buf));
    int all = 1;
    for (size_t i = 0; i < sizeof buf; i++) all &= buf[i] == 0;
    printf("  all zero %d\n", all);
    CHECK("write rdonly zero", write(z, "x", 1));
    CHECK("pread zero", pread(z, buf, 3, 1000));
    close(z);
    CHECK("write via path /dev/./null", (n = open("/dev/./null", O_WRONLY), write(n, "abc", 3)));
    CHECK("read wronly null", read(n, buf, 1));
    close(n);
    CHECK("open null O_DIRECTORY", open("/dev/null", O_RDONLY | O_DIRECTORY));
    CHECK("open null O_CREAT|O_EXCL", open("/dev/null", O_WRONLY | O_CREAT | O_EXCL, 0600));
    int u = open("/dev/urandom", O_RDONLY);
    unsigned char r1[64], r2[64];
    z = open("/dev/zero", O_RDWR);
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, z, 0);
    CHECK("mmap zero", m == MAP_FAILED ? -1 : 0);
    m[5000] = 'x';
    printf("  mapped %d %c\n", m[0], m[5000]);
    n = open("/dev/null", O_RDWR);
    CHECK("mmap null", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, n, 0) == MAP_FAILED ? -1 : 0);
    close(n); close(z);
    CHECK("read urandom", read(u, r1, sizeof r1));
    CHECK("read urandom again", read(u, r2, sizeof r2));
    printf("  differ %d\n", memcmp(r1, r2, sizeof r1) != 0);
    close(u);
    FILE *f = fopen("/dev/null", "w");
    int wrote = fprintf(f, "gone %d\n", 42);
    printf("fopen null %d fprintf %d", f != NULL, wrote);
    printf(" fclose %d\n", fclose(f));
    return 0;
}

static int dup_mode(void) {
    /* the console's descriptors */
    int o = dup(1);
    CHECK("dup stdout", o >= 3);
    CHECK("write dup stdout", write(o, "via dup\n", 8));
    int e = fcntl(2, F_DUPFD, 40);
    CHECK("F_DUPFD stderr from 40", e);
    CHECK("dup3 onto 20", dup3(o, 20, O_CLOEXEC));
    CHECK("write 20", write(20, "via dup3\n", 9));
    CHECK("close 1", close(1));
    CHECK("write 1 closed", write(1, "no\n", 3));
    CHECK("dup lowest gives 1", dup(20));
    CHECK("write 1 again", write(1, "back on 1\n", 10));
    CHECK("dup stdin", dup(0));
    CHECK("F_GETFL dup stdout & ACCMODE", fcntl(o, F_GETFL) & O_ACCMODE);
    close(o); close(e); close(20);
    /* errors */
    CHECK("dup bad", dup(99));
    CHECK("dup -1", dup(-1));
    CHECK("dup3 same", dup3(1, 1, 0));
    CHECK("dup3 bad flags", dup3(1, 30, 0x1));
    CHECK("dup3 from closed", dup3(40, 30, 0));
    CHECK("F_DUPFD negative", fcntl(1, F_DUPFD, -1));
    CHECK("F_DUPFD bad fd", fcntl(77, F_DUPFD, 0));
    /* a regular file: one offset shared by the copies */
    char path[] = "/tmp/shoal_dupXXXXXX";
    int fd = mkstemp(path);
    CHECK("write file", write(fd, "0123456789", 10));
    CHECK("F_GETFL of mkstemp's", fcntl(fd, F_GETFL) & ~0100000);  /* less O_LARGEFILE */
    int t = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY, 0600);
    CHECK("F_GETFL of O_CREAT|O_APPEND|O_NOCTTY", fcntl(t, F_GETFL) & ~0100000);
    close(t);
    int fd2 = dup(fd);
    CHECK("lseek dup to 2", lseek(fd2, 2, SEEK_SET));
    CHECK("offset seen by original", lseek(fd, 0, SEEK_CUR));
    char buf[8] = "";
    CHECK("read original", read(fd, buf, 3));
    printf("  got %.3s\n", buf);
    CHECK("offset seen by dup", lseek(fd2, 0, SEEK_CUR));
    CHECK("close original", close(fd));
    CHECK("read dup after close", read(fd2, buf, 3));
    printf("  got %.3s\n", buf);
    CHECK("F_SETFL O_APPEND on dup", fcntl(fd2, F_SETFL, O_APPEND));
    int fd3 = fcntl(fd2, F_DUPFD, 0);
    CHECK("append flag shared", (fcntl(fd3, F_GETFL) & O_APPEND) != 0);
    CHECK("dup2 file onto stdout", dup2(fd3, 1));
    CHECK("write via stdout", write(1, "END", 3));
    CHECK("size", lseek(fd3, 0, SEEK_END));
    char all[32] = "";
    long got = pread(fd3, all, sizeof all - 1, 0);
    fprintf(stderr, "file holds %ld: %s\n", got, all);
    close(fd2); close(fd3);
    unlink(path);
    return 0;
}

static void hex(const char *what, const unsigned char *b, int n) {
    printf("%s ", what);
    for (int i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

static int rand_mode(const char *first) {  /* urandom and getrandom draw from one stream */
    unsigned char b[16];
    int u = open("/dev/urandom", O_RDONLY);
    for (int i = 0; i < 2; i++) {
        int dev = (i == 0) == (first[0] == 'u');
        long n = dev ? read(u, b, sizeof b) : getrandom(b, sizeof b, 0);
        if (n != sizeof b) return 1;
        hex(dev ? "urandom" : "getrandom", b, sizeof b);
    }
    return close(u);
}


static void show(const char *what, int res) {
    struct rlimit r;
    int rc = getrlimit(res, &r);
    printf("%s: rc %d soft %llu hard %llu\n", what, rc, (unsigned long long)r.rlim_cur,
           (unsigned long long)r.rlim_max);
}

static int rlimit_mode(void) {
    struct rlimit r = {32, 64};
    CHECK("lower NOFILE to 32/64", setrlimit(RLIMIT_NOFILE, &r));
    show("NOFILE", RLIMIT_NOFILE);
    r.rlim_cur = 64;
    CHECK("raise soft to hard", setrlimit(RLIMIT_NOFILE, &r));
    show("NOFILE", RLIMIT_NOFILE);
    r.rlim_cur = 65;
    CHECK("soft over hard", setrlimit(RLIMIT_NOFILE, &r));
    r.rlim_cur = 5;
    r.rlim_max = 64;
    CHECK("soft 5", setrlimit(RLIMIT_NOFILE, &r));
    CHECK("open 3", open("/dev/null", O_RDONLY));
    CHECK("open 4", open("/dev/null", O_RDONLY));
    CHECK("open at the limit", open("/dev/null", O_RDONLY));
    CHECK("dup at the limit", dup(0));
    CHECK("dup2 to 5", dup2(0, 5));
    CHECK("F_DUPFD from 5", fcntl(0, F_DUPFD, 5));
    close(3);
    CHECK("dup below the limit", dup(0));
    struct rlimit as = {1u << 30, RLIM_INFINITY};
    CHECK("lower AS soft", setrlimit(RLIMIT_AS, &as));
    show("AS", RLIMIT_AS);
    as.rlim_max = 1u << 31;
    CHECK("lower AS hard", setrlimit(RLIMIT_AS, &as));
    show("AS", RLIMIT_AS);
    struct rlimit old;
    CHECK("prlimit gives the old pair", prlimit(0, RLIMIT_AS, &as, &old));
    printf("  old soft %llu hard %llu\n", (unsigned long long)old.rlim_cur, (unsigned long long)old.rlim_max);
    CHECK("bad resource", setrlimit(99, &r));
    CHECK("bad resource get", getrlimit(99, &r));
    CHECK("bad pointer", prlimit(0, RLIMIT_AS, (struct rlimit *)1, NULL));
    CHECK("no such process", prlimit(999999, RLIMIT_AS, NULL, &old));
    /* last: Linux refuses without CAP_SYS_RESOURCE (the chip grants it to no one) */
    as.rlim_max = RLIM_INFINITY;
    CHECK("raise AS hard", setrlimit(RLIMIT_AS, &as));
    return 0;
}

static long lk(int fd, int cmd, short type, short whence, long start, long len) {
    struct flock l = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = len};
    long r = fcntl(fd, cmd, &l);
    if (r == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK)) printf("  l_type %d start %ld len %ld\n", l.l_type, (long)l.l_start, (long)l.l_len);
    return r;
}

static int lock_mode(void) {
    char path[] = "/tmp/shoal_lockXXXXXX";
    int fd = mkstemp(path);
    write(fd, "0123456789", 10);
    int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY);
    CHECK("F_SETLK write", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 5));
    CHECK("F_GETLK own write lock", lk(fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 5));
    CHECK("F_SETLKW read", lk(fd, F_SETLKW, F_RDLCK, SEEK_CUR, -2, 0));
    CHECK("F_SETLK unlock", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
    CHECK("F_SETLK from end", lk(fd, F_SETLK, F_WRLCK, SEEK_END, -3, 3));
    CHECK("read lock on O_WRONLY", lk(wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
    CHECK("write lock on O_RDONLY", lk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    CHECK("read lock on O_RDONLY", lk(ro, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
    CHECK("unlock on O_WRONLY", lk(wo, F_SETLK, F_UNLCK, SEEK_SET, 0, 1));
    CHECK("bad type", lk(fd, F_SETLK, 7, SEEK_SET, 0, 1));
    CHECK("bad whence", lk(fd, F_SETLK, F_WRLCK, 9, 0, 1));
    CHECK("negative start", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, -5, 1));
    CHECK("negative length before 0", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 2, -3));
    CHECK("negative length", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, -3));
    CHECK("F_GETLK unlock", lk(fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 1));
    CHECK("bad fd", lk(99, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    CHECK("bad pointer", fcntl(fd, F_SETLK, (struct flock *)1));
    CHECK("lockf F_LOCK", lockf(fd, F_LOCK, 0));
    CHECK("lockf F_TLOCK", lockf(fd, F_TLOCK, 4));
    CHECK("lockf F_TEST", lockf(fd, F_TEST, 0));
    CHECK("lockf F_ULOCK", lockf(fd, F_ULOCK, 0));
    CHECK("unlock all", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));  /* OFD locks would conflict */
    struct flock o = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 0};
    CHECK("F_OFD_SETLK", fcntl(fd, F_OFD_SETLK, &o));
    o.l_pid = 1;
    CHECK("F_OFD_SETLK l_pid", fcntl(fd, F_OFD_SETLK, &o));
    CHECK("F_OFD_GETLK", lk(fd, F_OFD_GETLK, F_RDLCK, SEEK_SET, 0, 0));
    int n = open("/dev/null", O_RDWR);
    CHECK("lock /dev/null", lk(n, F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
    close(n); close(ro); close(wo); close(fd);
    return unlink(path);
}

static const char *top_dir;

static void pwd(void) {  /* the working directory, below top as TOP */
    char buf[512];
    size_t n = strlen(top_dir);
    if (!getcwd(buf, sizeof buf)) printf("  getcwd errno %d\n", errno);
    else if (!strncmp(buf, top_dir, n)) printf("  cwd TOP%s\n", buf + n);
    else printf("  cwd above TOP: %d\n", !strncmp(top_dir, buf, strlen(buf)));
}

static int cwd_mode(const char *top) {  /* top: an empty directory the test made */
    char buf[4];
    struct stat st;
    top_dir = top;
    CHECK("chdir top", chdir(top));
    pwd();
    CHECK("mkdir a", mkdir("a", 0755));
    CHECK("mkdir a/b", mkdir("a/b", 0755));
    CHECK("chdir a/./b/", chdir("a/./b/"));
    pwd();
    CHECK("create relative", close(open("f.txt", O_WRONLY | O_CREAT, 0644)));
    CHECK("stat relative", stat("f.txt", &st));
    CHECK("chdir ..", chdir(".."));
    pwd();
    CHECK("stat b/f.txt", stat("b/f.txt", &st));
    CHECK("openat AT_FDCWD", close(openat(AT_FDCWD, "b/f.txt", O_RDONLY)));
    CHECK("rename relative", rename("b/f.txt", "g.txt"));
    CHECK("unlink relative", unlink("g.txt"));
    int d = open("b", O_RDONLY | O_DIRECTORY);
    CHECK("chdir ../..", chdir("../.."));
    pwd();
    CHECK("fchdir", fchdir(d));
    pwd();
    CHECK("mkdir c", mkdir("c", 0755));
    CHECK("rmdir c", rmdir("c"));
    CHECK("getcwd too small", getcwd(buf, 2) ? 0 : -1);
    CHECK("chdir missing", chdir("nope"));
    CHECK("chdir empty", chdir(""));
    CHECK("chdir a file", (close(open("x", O_WRONLY | O_CREAT, 0644)), chdir("x")));
    CHECK("chdir /dev/null", chdir("/dev/null"));
    CHECK("fchdir a file", fchdir(open("x", O_RDONLY)));
    CHECK("fchdir bad fd", fchdir(99));
    pwd();
    CHECK("unlink x", unlink("x"));
    CHECK("chdir /", chdir("/"));
    pwd();
    close(d);
    CHECK("chdir top again", chdir(top));
    CHECK("rmdir a/b", rmdir("a/b"));
    CHECK("rmdir a", rmdir("a"));
    return 0;
}

#ifdef __riscv
#include <shoal.h>
static int migdup_mode(int to) {  /* dup's sharing survives a migration (the image) */
    int fd = open("/tmp/m.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(fd, "abcdefgh", 8);
    int fd2 = dup(fd), out = dup(1), z = open("/dev/zero", O_RDONLY), z2 = dup(z);
    struct rlimit r = {40, 50};
    setrlimit(RLIMIT_NOFILE, &r);
    chdir("/tmp");
    if (shoal_migrate(to) != 0) return 1;
    printf("on %d\n", shoal_cluster());
    char cwd[64];
    printf("cwd %s\n", getcwd(cwd, sizeof cwd));
    show("NOFILE", RLIMIT_NOFILE);
    lseek(fd2, 3, SEEK_SET);
    CHECK("offset of the original", lseek(fd, 0, SEEK_CUR));
    close(fd);
    char b[4] = "";
    CHECK("read the dup", read(fd2, b, 2));
    printf("  got %.2s\n", b);
    CHECK("write the dup of stdout", write(out, "out\n", 4));
    close(z);
    CHECK("read the dup of zero", read(z2, b, 4));
    return unlink("m.txt");
}
static int spawn_mode(void) {  /* a child starts in its parent's working directory */
    char *args[] = {"posix_small", "pwdfile", NULL};
    if (chdir("/tmp") != 0) return 1;
    int pid = shoal_spawn("posix_small", args, 1), st = -1;
    CHECK("spawn", pid > 0);
    CHECK("wait", shoal_wait(pid, &st) == pid);
    printf("child status %d\n", st);
    char line[256] = "";
    FILE *f = fopen("/tmp/cwd.txt", "r");  /* the child wrote it by a relative name */
    if (!f || !fgets(line, sizeof line, f)) return 1;
    printf("child: %s", line);
    /* no argv: argv[0] is the path as given */
    pid = shoal_spawn("./sub/../posix_small", NULL, 2);
    CHECK("wait no-argv child", shoal_wait(pid, &st) == pid);
    printf("its status %d\n", st);
    f = fopen("/tmp/argv0.txt", "r");
    if (!f || !fgets(line, sizeof line, f)) return 1;
    printf("its argv[0] %s\n", line);
    unlink("/tmp/argv0.txt");
    return unlink("cwd.txt");
}
#endif

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODE\n", argc ? argv[0] : "posix_small");
#ifdef __riscv
        FILE *f = argc ? fopen("/tmp/argv0.txt", "w") : NULL;  /* for spawn_mode's check */
        if (f) fprintf(f, "%s", argv[0]), fclose(f);
#endif
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(argv[1], "tmp")) return tmp_mode();
    if (!strcmp(argv[1], "pwd") || !strcmp(argv[1], "pwdfile")) {
        char cwd[256];
        FILE *f = argv[1][3] ? fopen("cwd.txt", "w") : stdout;
        fprintf(f, "argv[0] %s cwd %s\n", argv[0], getcwd(cwd, sizeof cwd));
        return fclose(f) != 0;
    }
    if (!strcmp(argv[1], "dev")) return dev_mode();
    if (!strcmp(argv[1], "cwd") && argc > 2) return cwd_mode(argv[2]);
    if (!strcmp(argv[1], "lock")) return lock_mode();
    if (!strcmp(argv[1], "rlimit")) return rlimit_mode();
#ifdef __riscv
    if (!strcmp(argv[1], "migdup")) return migdup_mode(atoi(argv[2]));
    if (!strcmp(argv[1], "spawn")) return spawn_mode();
#endif
    if (!strcmp(argv[1], "rand") && argc > 2) return rand_mode(argv[2]);
    if (!strcmp(argv[1], "dup")) return dup_mode();
    if (!strcmp(argv[1], "tmpkeep")) {  /* leaves a file in /tmp */
        FILE *f = fopen("/tmp/left.txt", "w");
        if (!f) { perror("fopen"); return 1; }
        fputs("left behind\n", f);
        return fclose(f) != 0;
    }
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}

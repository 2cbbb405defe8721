/* Hard and symbolic links, statfs, fallocate (tests/test_links.py): every line is the same on
   Linux (host gcc, any local file system) and on the chip. links DIR SECTION
   SECTION: hard, sym, statfs, falloc; "values" and "limits N" print the chip's own figures. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <unistd.h>

static char D[512];
static const char *P(const char *name) {
    static char buf[4][700];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", D, name);
    return buf[i];
}
/* the call first, then errno (never strerror: glibc and musl word them differently) */
#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %d\n", label, r_, r_ < 0 ? e_ : 0); } while (0)

static long nlink_of(const char *p) { struct stat st; return stat(p, &st) ? -1 : (long)st.st_nlink; }
static long size_of(const char *p) { struct stat st; return lstat(p, &st) ? -1 : (long)st.st_size; }

static void put(const char *p, const char *text) {
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { if (write(fd, text, strlen(text)) < 0) perror("write"); close(fd); }
}

static void hard(void) {
    const char *f = P("h_file"), *g = P("h_second"), *d = P("h_dir");
    put(f, "hello");
    mkdir(d, 0755);
    printf("nlink new %ld\n", nlink_of(f));
    SHOW("link", link(f, g));
    struct stat a, b;
    stat(f, &a); stat(g, &b);
    printf("nlink after link %ld %ld same ino %d\n", nlink_of(f), nlink_of(g), a.st_ino == b.st_ino);
    SHOW("link again (EEXIST)", link(f, g));
    SHOW("link missing (ENOENT)", link(P("h_none"), P("h_x")));
    SHOW("link dir (EPERM)", link(d, P("h_x")));
    SHOW("link into missing dir (ENOENT)", link(f, P("h_none/x")));
    SHOW("link under a file (ENOTDIR)", link(f, P("h_file/x")));
    SHOW("linkat bad flags (EINVAL)", linkat(AT_FDCWD, f, AT_FDCWD, P("h_x"), 0x1));
    SHOW("rename onto own hard link", rename(f, g));
    printf("both still there %ld %ld\n", nlink_of(f), nlink_of(g));
    int fd = open(f, O_RDWR);
    SHOW("unlink first", unlink(f));
    printf("second nlink %ld first stat %ld\n", nlink_of(g), nlink_of(f));
    fstat(fd, &a);
    printf("fstat nlink %ld\n", (long)a.st_nlink);
    SHOW("unlink second", unlink(g));
    fstat(fd, &a);
    printf("fstat nlink after last name %ld size %ld\n", (long)a.st_nlink, (long)a.st_size);
    char buf[16] = {0};
    long n = pread(fd, buf, sizeof buf - 1, 0);
    printf("read through handle %ld %s\n", n, buf);
    n = pwrite(fd, "HE", 2, 0);
    long m = pread(fd, buf, 5, 0);
    printf("write/read after unlink %ld %ld %.5s\n", n, m, buf);
    close(fd);
    /* a hard link to a symbolic link (no AT_SYMLINK_FOLLOW), and through one */
    put(f, "data");
    symlink("h_file", P("h_sym"));
    SHOW("linkat to the link itself", linkat(AT_FDCWD, P("h_sym"), AT_FDCWD, P("h_symlink2"), 0));
    lstat(P("h_symlink2"), &a);
    printf("is a link %d nlink %ld\n", S_ISLNK(a.st_mode), (long)a.st_nlink);
    SHOW("linkat following", linkat(AT_FDCWD, P("h_sym"), AT_FDCWD, P("h_third"), AT_SYMLINK_FOLLOW));
    lstat(P("h_third"), &a);
    printf("is a file %d nlink %ld\n", S_ISREG(a.st_mode), nlink_of(f));
    unlink(P("h_third")); unlink(P("h_symlink2")); unlink(P("h_sym")); unlink(f); rmdir(d);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void listing(const char *dir) {
    DIR *dp = opendir(dir);
    char *names[32];
    int n = 0;
    struct dirent *e;
    while (dp && (e = readdir(dp)) && n < 32) {
        if (e->d_name[0] == '.') continue;
        char *s = malloc(300);
        snprintf(s, 300, "%s:%s", e->d_name, e->d_type == DT_LNK ? "lnk" : e->d_type == DT_DIR ? "dir"
                 : e->d_type == DT_REG ? "reg" : "other");
        names[n++] = s;
    }
    if (dp) closedir(dp);
    qsort(names, n, sizeof *names, cmp);
    printf("listing");
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

static void sym(void) {
    struct stat st;
    char buf[720];  /* (an absolute target: the host test directory can be long) */
    mkdir(P("s"), 0755);
    SHOW("symlink dangling", symlink("target", P("s/dang")));
    lstat(P("s/dang"), &st);
    printf("lstat link %d size %ld\n", S_ISLNK(st.st_mode), (long)st.st_size);
    SHOW("stat dangling (ENOENT)", stat(P("s/dang"), &st));
    SHOW("open dangling (ENOENT)", open(P("s/dang"), O_RDONLY));
    SHOW("open excl dangling (EEXIST)", open(P("s/dang"), O_WRONLY | O_CREAT | O_EXCL, 0644));
    int fd = open(P("s/dang"), O_WRONLY | O_CREAT, 0644);
    printf("creat through dangling %d\n", fd >= 0);
    if (fd >= 0) { if (write(fd, "via link", 8) != 8) printf("short\n"); close(fd); }
    printf("target made size %ld\n", size_of(P("s/target")));
    SHOW("mkdir on a link (EEXIST)", mkdir(P("s/dang"), 0755));
    SHOW("symlink over (EEXIST)", symlink("x", P("s/dang")));
    SHOW("symlink empty (ENOENT)", symlink("", P("s/empty")));
    memset(buf, 0, sizeof buf);
    long n = readlink(P("s/dang"), buf, sizeof buf);
    printf("readlink %ld %s\n", n, buf);
    memset(buf, 0, sizeof buf);
    n = readlink(P("s/dang"), buf, 3);
    printf("readlink cut %ld %s\n", n, buf);
    SHOW("readlink file (EINVAL)", readlink(P("s/target"), buf, sizeof buf));
    SHOW("readlink missing (ENOENT)", readlink(P("s/none"), buf, sizeof buf));
    SHOW("readlink dir (EINVAL)", readlink(D, buf, sizeof buf));  /* (size 0: musl asks for 1) */
    /* chains and loops */
    symlink("c1", P("s/c0")); symlink("c2", P("s/c1")); symlink("target", P("s/c2"));
    printf("chain size %ld\n", (long)(stat(P("s/c0"), &st) ? -1 : st.st_size));
    symlink("loopb", P("s/loopa")); symlink("loopa", P("s/loopb")); symlink("self", P("s/self"));
    SHOW("stat loop (ELOOP)", stat(P("s/loopa"), &st));
    SHOW("open self (ELOOP)", open(P("s/self"), O_RDONLY));
    SHOW("lstat loop", lstat(P("s/loopa"), &st));
    char name[32], to[32];
    for (int i = 0; i < 40; i++) {  /* 40 links to follow: Linux's limit */
        snprintf(name, sizeof name, "s/k%d", i);
        snprintf(to, sizeof to, i == 39 ? "target" : "k%d", i + 1);
        symlink(to, P(name));
    }
    SHOW("stat through 40 links", stat(P("s/k0"), &st));
    symlink("k0", P("s/kk"));
    SHOW("stat through 41 links (ELOOP)", stat(P("s/kk"), &st));
    SHOW("O_NOFOLLOW on a link (ELOOP)", open(P("s/dang"), O_RDONLY | O_NOFOLLOW));
    fd = open(P("s/target"), O_RDONLY | O_NOFOLLOW);
    printf("O_NOFOLLOW on a file %d\n", fd >= 0);
    close(fd);
    /* relative with .., absolute, directories, physical .. */
    mkdir(P("s/a"), 0755); mkdir(P("s/a/b"), 0755);
    SHOW("symlink up", symlink("../../target", P("s/a/b/up")));
    printf("up size %ld\n", (long)(stat(P("s/a/b/up"), &st) ? -1 : st.st_size));
    SHOW("symlink absolute", symlink(P("s/target"), P("s/abs")));
    memset(buf, 0, sizeof buf);
    n = readlink(P("s/abs"), buf, sizeof buf - 1);
    printf("abs readlink right %d size %ld\n", n == (long)strlen(P("s/target")) && !strcmp(buf, P("s/target")),
           (long)(stat(P("s/abs"), &st) ? -1 : st.st_size));
    symlink("a/b", P("s/lb"));
    struct stat x, y;
    stat(P("s/lb/.."), &x); stat(P("s/a"), &y);
    printf("link/.. is the target's parent %d\n", x.st_ino == y.st_ino);
    put(P("s/a/b/inner"), "in");
    printf("through dir link %ld\n", size_of(P("s/lb/inner")));
    SHOW("stat file/ (ENOTDIR)", stat(P("s/target/"), &st));
    lstat(P("s/lb/"), &st);
    printf("lstat link/ is dir %d\n", S_ISDIR(st.st_mode));
    SHOW("rmdir a link (ENOTDIR)", rmdir(P("s/lb")));
    char here[700], cwd[700];
    snprintf(here, sizeof here, "%s", P("s/a/b"));
    SHOW("chdir through link", chdir(P("s/lb")));
    printf("getcwd has no link %d\n", getcwd(cwd, sizeof cwd) && !strcmp(cwd, here));
    printf("relative from there %ld\n", size_of("inner"));
    SHOW("chdir back", chdir(D));
    /* the link's own attributes */
    SHOW("fstatat nofollow", fstatat(AT_FDCWD, P("s/dang"), &st, AT_SYMLINK_NOFOLLOW));
    printf("is link %d\n", S_ISLNK(st.st_mode));
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    SHOW("utimensat nofollow", utimensat(AT_FDCWD, P("s/dang"), ts, AT_SYMLINK_NOFOLLOW));
    lstat(P("s/dang"), &x); stat(P("s/dang"), &y);
    printf("link time set %d target's not %d\n", x.st_mtime == 1000000000, y.st_mtime != 1000000000);
    SHOW("fchmodat nofollow on a link (EOPNOTSUPP)", fchmodat(AT_FDCWD, P("s/dang"), 0600, AT_SYMLINK_NOFOLLOW));
    SHOW("faccessat nofollow on a loop", faccessat(AT_FDCWD, P("s/loopa"), F_OK, AT_SYMLINK_NOFOLLOW));
    SHOW("access loop (ELOOP)", access(P("s/loopa"), F_OK));
    /* rename and unlink act on the link */
    SHOW("rename link", rename(P("s/dang"), P("s/dang2")));
    memset(buf, 0, sizeof buf);
    n = readlink(P("s/dang2"), buf, sizeof buf);
    printf("renamed link %ld %s old %ld\n", n, buf, size_of(P("s/dang")));
    SHOW("unlink link", unlink(P("s/dang2")));
    printf("target stays %ld link gone %ld\n", size_of(P("s/target")), size_of(P("s/dang2")));
    mkdir(P("s/l"), 0755);
    put(P("s/l/f"), "x"); mkdir(P("s/l/d"), 0755); symlink("f", P("s/l/ln"));
    listing(P("s/l"));
}

static void show_statfs(void) {
    struct statfs a, b;
    int fd = open(D, O_RDONLY | O_DIRECTORY);
    int r1 = statfs(D, &a), r2 = fstatfs(fd, &b);
    printf("statfs %d fstatfs %d\n", r1, r2);
    printf("same fs %d bsize>0 %d frsize>0 %d namelen %ld\n", a.f_type == b.f_type && a.f_bsize == b.f_bsize,
           a.f_bsize > 0, a.f_frsize > 0, (long)a.f_namelen);
    printf("blocks>=bfree %d bfree>=bavail %d files>=ffree %d\n", a.f_blocks >= a.f_bfree,
           a.f_bfree >= a.f_bavail, a.f_files >= a.f_ffree);
    close(fd);
    SHOW("statfs missing (ENOENT)", statfs(P("none"), &a));
    put(P("sf_file"), "x");
    SHOW("statfs under a file (ENOTDIR)", statfs(P("sf_file/x"), &a));
    SHOW("fstatfs bad fd (EBADF)", fstatfs(99, &a));
    unlink(P("sf_file"));
}

static void falloc(void) {
    const char *f = P("fa_file");
    struct stat st;
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    SHOW("fallocate 10000", fallocate(fd, 0, 0, 10000));
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    char buf[10000];
    long n = pread(fd, buf, sizeof buf, 0), zeros = 0;
    for (long i = 0; i < n; i++) zeros += buf[i] == 0;
    printf("read %ld zeros %ld\n", n, zeros);
    SHOW("fallocate inside", fallocate(fd, 0, 100, 50));
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    SHOW("fallocate keep size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 20000));
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    SHOW("fallocate past the end", fallocate(fd, 0, 20000, 100));
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    int r = posix_fallocate(fd, 0, 30000);
    fstat(fd, &st);
    printf("posix_fallocate %d size %ld\n", r, (long)st.st_size);
    pwrite(fd, "abcdef", 6, 0);
    SHOW("punch hole", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1, 3));
    pread(fd, buf, 6, 0);
    fstat(fd, &st);
    printf("after punch %c%d%d%d%c%c size %ld\n", buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], (long)st.st_size);
    SHOW("punch without keep size (EOPNOTSUPP)", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 1));
    SHOW("unknown mode (EOPNOTSUPP)", fallocate(fd, 0x100, 0, 1));
    SHOW("length 0 (EINVAL)", fallocate(fd, 0, 0, 0));
    SHOW("negative offset (EINVAL)", fallocate(fd, 0, -1, 10));
    SHOW("wrapping (EFBIG)", fallocate(fd, 0, LLONG_MAX - 10, 100));
    SHOW("bad fd (EBADF)", fallocate(99, 0, 0, 10));
    close(fd);
    fd = open(f, O_RDONLY);
    SHOW("read-only (EBADF)", fallocate(fd, 0, 0, 10));
    errno = 0;
    r = posix_fallocate(fd, 0, 10);
    /* POSIX returns the error number; zig's libc (lib/c/fcntl.zig) gives -1 and errno */
    printf("posix_fallocate read-only %d\n", r == -1 ? errno : r);
    close(fd);
    int p[2];
    if (pipe(p) == 0) {
        SHOW("pipe (ESPIPE)", fallocate(p[1], 0, 0, 10));
        close(p[0]); close(p[1]);
    }
    unlink(f);
}

int main(int argc, char **argv) {
    snprintf(D, sizeof D, "%s", argc > 1 ? argv[1] : "/tmp");
    const char *what = argc > 2 ? argv[2] : "hard";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(what, "hard")) hard();
    else if (!strcmp(what, "sym")) sym();
    else if (!strcmp(what, "statfs")) show_statfs();
    else if (!strcmp(what, "falloc")) falloc();
    else if (!strcmp(what, "values")) {  /* the chip's own figures (test_links.py checks them) */
        struct statfs a;
        statfs(D, &a);
        printf("type %lx bsize %ld frsize %ld blocks %llu bfree %llu bavail %llu files %llu ffree %llu namelen %ld\n",
               (unsigned long)a.f_type, (long)a.f_bsize, (long)a.f_frsize, (unsigned long long)a.f_blocks,
               (unsigned long long)a.f_bfree, (unsigned long long)a.f_bavail, (unsigned long long)a.f_files,
               (unsigned long long)a.f_ffree, (long)a.f_namelen);
        int fd = open(P("v_file"), O_RDWR | O_CREAT, 0644);
        int r = fallocate(fd, 0, 0, 8192);
        link(P("v_file"), P("v_second"));
        statfs(D, &a);
        printf("after %d: bfree %llu ffree %llu\n", r, (unsigned long long)a.f_bfree, (unsigned long long)a.f_ffree);
    } else if (!strcmp(what, "limits")) {  /* links DIR limits MAXFILE: EFBIG, ENOSPC, EMLINK */
        long long maxf = argc > 3 ? atoll(argv[3]) : 0;
        int fd = open(P("l_file"), O_RDWR | O_CREAT, 0644);
        SHOW("past fs_max_file_bytes (EFBIG)", fallocate(fd, 0, 0, maxf + 1));
        SHOW("up to fs_max_file_bytes", fallocate(fd, 0, 0, maxf));
        SHOW("keep size past it (EFBIG)", fallocate(fd, FALLOC_FL_KEEP_SIZE, maxf, 1));
        int fd2 = open(P("l_other"), O_RDWR | O_CREAT, 0644);
        SHOW("past fs_total_bytes (ENOSPC)", fallocate(fd2, 0, 0, maxf));
        SHOW("zero range (EOPNOTSUPP)", fallocate(fd, 0x10, 0, 1));
        char name[64];
        int i = 0;
        for (;; i++) {
            snprintf(name, sizeof name, "l_link%d", i);
            errno = 0;
            if (link(P("l_file"), P(name))) break;
        }
        printf("links made %d then errno %d\n", i, errno);
        SHOW("linkat AT_EMPTY_PATH", linkat(fd2, "", AT_FDCWD, P("l_byfd"), AT_EMPTY_PATH));
        unlink(P("l_other")); unlink(P("l_byfd"));
        SHOW("linkat AT_EMPTY_PATH unlinked (ENOENT)", linkat(fd2, "", AT_FDCWD, P("l_byfd2"), AT_EMPTY_PATH));
    }
    return 0;
}

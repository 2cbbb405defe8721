/* Search permission on the directories a path walks through, and execve's x bit, for a user
 * that is not root (issue 22, part 5; path_resolution(7), execve(2)): every call that takes a
 * path gives EACCES when a directory on the way may not be searched, before it looks at the
 * name (ENOTDIR first when the way goes through a file). usage: pathperm DIR drop (root makes
 * the tree in DIR, then gives up root for uid/gid 1000) | pathperm DIR (already a user, the
 * tree made by root before: the "drop" run's first half, kept with "make") | pathperm exec
 * PATH (execve PATH as "PATH hello", which prints the uid) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

static void say(const char *what, int r) {
    printf("%s %d\n", what, r < 0 ? -errno : 0);
}

static void say_fd(const char *what, int fd) {
    say(what, fd);
    if (fd >= 0) close(fd);
}

static void mk(const char *name, int mode, const char *text) {
    int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd >= 0) {
        if (text) write(fd, text, strlen(text));
        close(fd);
    }
    chmod(name, mode);
}

static int unix_sock(int type, const char *path, int bind_it) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int s = socket(AF_UNIX, type, 0);
    if (s < 0) return -1;
    int r = bind_it ? bind(s, (struct sockaddr *)&a, sizeof a) : connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    if (r < 0 || !bind_it) close(s);
    errno = e;
    return r < 0 ? -1 : s;
}

static int listening = -1;

static void make_tree(void) {
    chmod(".", 0777);
    mkdir("nx", 0700);  /* root's, nobody else may search it */
    mk("nx/f", 0666, "secret\n");
    mkdir("nx/sub", 0777);
    symlink("f", "nx/l");
    mkdir("xo", 0711);  /* search only: names inside reachable, no listing */
    mk("xo/f", 0644, "hello\n");
    mk("file", 0644, "plain\n");
    symlink("nx/f", "lnk");  /* a link through the closed directory */
    symlink("xo/f", "ok");
    mkdir("open", 0777);
    mk("open/script", 0744, "#!/nonexistent\n");  /* root's x bit only */
    mk("open/data", 0644, "\177ELF not really\n");  /* no x bit at all */
    mk("open/garbage", 0755, "garbage, no format\n");  /* x for all: ENOEXEC */
    mk("open/pub", 0666, NULL);
    mk("open/ro", 0644, NULL);
    mkdir("rd", 0744);  /* the others may list it, not search it */
    umask(022);
    listening = unix_sock(SOCK_STREAM, "rsock", 1);  /* 0755: the others may not write it */
    if (listening >= 0) listen(listening, 1);
    umask(0);
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "hello")) {
        printf("hello uid %d\n", getuid());
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "exec")) {  /* pathperm exec PATH: run PATH hello */
        char *args[] = {argv[2], "hello", NULL};
        say(argv[2], execve(argv[2], args, args + 2));
        return 1;
    }
    if (argc < 2 || chdir(argv[1])) return 2;
    if (argc > 2) {
        make_tree();
        if (!strcmp(argv[2], "make")) return 0;
        if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) return 3;
    }
    printf("uid %d\n", getuid());
    struct stat st;
    struct statfs sf;
    char buf[64];
    say("stat nx", stat("nx", &st));
    say("stat nx/f", stat("nx/f", &st));
    say("stat nx/missing", stat("nx/missing", &st));
    say("stat nx/.", stat("nx/.", &st));
    say("stat nx/..", stat("nx/..", &st));
    say("stat nx/sub/..", stat("nx/sub/..", &st));
    say("stat ./nx/./f", stat("./nx/./f", &st));
    say("stat file/x", stat("file/x", &st));
    say("stat file/.", stat("file/.", &st));
    say("stat file/..", stat("file/..", &st));
    say_fd("creat open/missing/.", open("open/missing/.", O_CREAT | O_WRONLY, 0644));
    say("mkdir open/missing/.", mkdir("open/missing/.", 0755));
    say("lstat lnk", lstat("lnk", &st));
    say("stat lnk", stat("lnk", &st));
    say("stat ok", stat("ok", &st));
    say("stat xo/f", stat("xo/f", &st));
    say("stat xo/missing", stat("xo/missing", &st));
    say_fd("open xo/f", open("xo/f", O_RDONLY));
    say_fd("open xo dir", open("xo", O_RDONLY | O_DIRECTORY));
    say_fd("open nx/f", open("nx/f", O_RDONLY));
    say_fd("open nx/sub/new creat", open("nx/sub/new", O_CREAT | O_WRONLY, 0644));
    say_fd("open lnk", open("lnk", O_RDONLY));
    say("mkdir nx/sub/d", mkdir("nx/sub/d", 0755));
    say("unlink nx/f", unlink("nx/f"));
    say("rmdir nx/sub", rmdir("nx/sub"));
    say("rename nx/f", rename("nx/f", "moved"));
    say("rename to nx/sub", rename("file", "nx/sub/file"));
    say("link nx/f", link("nx/f", "hard"));
    say("link to nx/sub", link("file", "nx/sub/hard"));
    say("symlink in nx/sub", symlink("x", "nx/sub/s"));
    say("symlink in xo", symlink("x", "xo/s"));
    say("readlink nx/l", (int)readlink("nx/l", buf, sizeof buf));
    say("readlink lnk", (int)readlink("lnk", buf, sizeof buf));
    say("chdir nx", chdir("nx"));
    say("chdir nx/sub", chdir("nx/sub"));
    say("access nx/f", access("nx/f", F_OK));
    say("access xo/f R", access("xo/f", R_OK));
    say("faccessat nx/f eaccess", faccessat(AT_FDCWD, "nx/f", F_OK, AT_EACCESS));
    say("utimensat nx/f", utimensat(AT_FDCWD, "nx/f", NULL, 0));
    say("chown nx/f", chown("nx/f", -1, -1));
    say("chmod nx/f", chmod("nx/f", 0600));
    say("statfs nx/f", statfs("nx/f", &sf));
    say("bind nx/sub/sock", unix_sock(SOCK_DGRAM, "nx/sub/sock", 1));
    say("bind in xo", unix_sock(SOCK_DGRAM, "xo/sock", 1));
    say("connect nx/sock", unix_sock(SOCK_STREAM, "nx/sock", 0));
    say("connect rsock (0755)", unix_sock(SOCK_STREAM, "rsock", 0));
    /* times: to now, the owner or a writer; anything else, the owner (utimensat(2)) */
    struct timespec now2[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    struct timespec mix[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    struct timespec set[2] = {{5, 0}, {0, UTIME_OMIT}};
    say("utimensat pub null", utimensat(AT_FDCWD, "open/pub", NULL, 0));
    say("utimensat pub now", utimensat(AT_FDCWD, "open/pub", now2, 0));
    say("utimensat pub mix", utimensat(AT_FDCWD, "open/pub", mix, 0));
    say("utimensat pub set", utimensat(AT_FDCWD, "open/pub", set, 0));
    say("utimensat ro null", utimensat(AT_FDCWD, "open/ro", NULL, 0));
    say("utimensat ro now", utimensat(AT_FDCWD, "open/ro", now2, 0));
    say("utimensat ro set", utimensat(AT_FDCWD, "open/ro", set, 0));
    int fd = open("open/ro", O_RDONLY);
    say("futimens ro", futimens(fd, NULL));
    close(fd);
    fd = open("rd", O_RDONLY | O_DIRECTORY);
    say("open rd", fd);
    say("fchdir rd", fchdir(fd));
    close(fd);
    char *args[] = {"x", NULL};
    say("execve nx/prog", execve("nx/prog", args, args + 1));
    say("execve nx", execve("nx", args, args + 1));
    say("execve open/script (root's x)", execve("open/script", args, args + 1));
    say("execve open/data (no x)", execve("open/data", args, args + 1));
    say("execve open/garbage", execve("open/garbage", args, args + 1));
    say("execve open (a directory)", execve("open", args, args + 1));
    say("access open/data X", access("open/data", X_OK));
    say("access open/garbage X", access("open/garbage", X_OK));
    return 0;
}

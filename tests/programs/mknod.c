/* mknod and mkfifo: a regular file is made as open(O_CREAT|O_EXCL) makes it, a FIFO as a
   named pipe (tests/programs/fifo.c uses it); node types the file system does not hold give
   EPERM (mknod(2)), a type that is none: EINVAL. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void say(const char *what, int r) {
    printf("%s: %s\n", what, r == 0 ? "ok" : strerror(errno));
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char a[256], b[256], c[256], d[256];
    snprintf(a, sizeof a, "%s/plain", dir);
    snprintf(b, sizeof b, "%s/typeless", dir);
    snprintf(c, sizeof c, "%s/nodir/x", dir);
    snprintf(d, sizeof d, "%s/fifo", dir);
    umask(022);
    say("mknod S_IFREG", mknod(a, S_IFREG | 0666, 0));
    struct stat st;
    if (stat(a, &st) == 0)
        printf("  regular %d mode %o size %ld\n", S_ISREG(st.st_mode), st.st_mode & 07777, (long)st.st_size);
    say("mknod again", mknod(a, S_IFREG | 0600, 0));
    say("mknod type 0", mknod(b, 0640, 0));
    if (stat(b, &st) == 0)
        printf("  regular %d mode %o\n", S_ISREG(st.st_mode), st.st_mode & 07777);
    int fd = open(b, O_WRONLY);
    printf("  write %ld\n", fd >= 0 ? (long)write(fd, "abc", 3) : -1L);
    close(fd);
    say("mknod missing dir", mknod(c, S_IFREG | 0600, 0));
    say("mknod bad type", mknod(d, 0170000 | 0600, 0));
    if (argc > 2) {  /* the nodes this file system does not hold (on a host's, they are made) */
        say("mkfifo", mkfifo(d, 0600));
        say("mknod S_IFIFO again", mknod(d, S_IFIFO | 0600, 0));
        if (stat(d, &st) == 0)
            printf("  fifo %d mode %o\n", S_ISFIFO(st.st_mode), st.st_mode & 07777);
        say("unlink fifo", unlink(d));
        say("mknod S_IFCHR", mknod(d, S_IFCHR | 0600, makedev(1, 3)));
        say("mknod S_IFSOCK", mknod(d, S_IFSOCK | 0600, 0));
        say("fifo absent", access(d, F_OK));
    }
    return 0;
}

/* chmod, fchmod, fchmodat, utimensat, futimens (tests/test_posix_small.py): every line is the
   same on Linux and on the chip. chmod_times DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned mode_of(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[512], sub[512], gone[512];
    snprintf(path, sizeof path, "%s/ct_file", dir);
    snprintf(sub, sizeof sub, "%s/ct_dir", dir);
    snprintf(gone, sizeof gone, "%s/ct_nothing", dir);
    unlink(path);
    rmdir(sub);
    umask(022);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    mkdir(sub, 0755);

    int r = chmod(path, 0600);
    printf("chmod %d -> %04o\n", r, mode_of(path));
    r = fchmod(fd, 0444);
    printf("fchmod %d -> %04o\n", r, mode_of(path));
    r = fchmodat(AT_FDCWD, sub, 01777, 0);
    printf("fchmodat %d -> %04o\n", r, mode_of(sub));
    errno = 0;
    r = chmod(gone, 0600);
    printf("chmod missing %d %d\n", r, errno);
    errno = 0;
    r = fchmod(99, 0600);
    printf("fchmod bad fd %d %d\n", r, errno);

    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    struct stat st;
    r = utimensat(AT_FDCWD, path, ts, 0);
    stat(path, &st);
    printf("utimensat %d mtime %lld\n", r, (long long)st.st_mtime);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    r = utimensat(AT_FDCWD, path, omit, 0);
    stat(path, &st);
    printf("omit %d mtime %lld\n", r, (long long)st.st_mtime);
    struct timespec later[2] = {{0, UTIME_OMIT}, {1234567890, 0}};
    r = futimens(fd, later);
    fstat(fd, &st);
    printf("futimens %d mtime %lld\n", r, (long long)st.st_mtime);
    r = utimensat(AT_FDCWD, path, NULL, 0);
    stat(path, &st);
    printf("now %d recent %d\n", r, st.st_mtime > 1600000000);
    errno = 0;
    r = utimensat(AT_FDCWD, gone, ts, 0);
    printf("utimensat missing %d %d\n", r, errno);
    struct timespec bad[2] = {{0, 0}, {0, 2000000000}};
    errno = 0;
    r = utimensat(AT_FDCWD, path, bad, 0);
    printf("bad nsec %d %d\n", r, errno);
    close(fd);
    chmod(path, 0644);
    unlink(path);
    rmdir(sub);
    return 0;
}

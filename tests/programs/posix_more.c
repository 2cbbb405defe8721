/* umask, preadv/pwritev, sync, posix_fadvise, times, getrusage, sysinfo (tests/test_posix_small.py):
   every line is the same on Linux and on the chip. posix_more DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[512], sub[512];
    snprintf(path, sizeof path, "%s/posix_more.txt", dir);
    snprintf(sub, sizeof sub, "%s/posix_more.d", dir);
    unlink(path);
    rmdir(sub);

    umask(022);
    printf("umask was %03o\n", (unsigned)umask(027));
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0666);
    struct stat st;
    fstat(fd, &st);
    printf("file mode %03o\n", (unsigned)(st.st_mode & 0777));
    mkdir(sub, 0777);
    stat(sub, &st);
    printf("dir mode %03o\n", (unsigned)(st.st_mode & 0777));
    umask(022);

    write(fd, "hello, world!", 13);
    char a[] = "THERE", b[] = "PLANET";
    struct iovec out[2] = {{a, 3}, {b, 2}};
    ssize_t r = pwritev(fd, out, 2, 7);
    printf("pwritev %zd\n", r);
    char x[6] = {0}, y[6] = {0};
    struct iovec in[2] = {{x, 5}, {y, 5}};
    r = preadv(fd, in, 2, 2);
    printf("preadv %zd: '%s' '%s'\n", r, x, y);
    printf("offset kept %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    errno = 0;
    r = preadv(fd, in, 2, -1);
    printf("negative offset %zd %d\n", r, errno);
    int p[2];
    pipe(p);
    errno = 0;
    r = pwritev(p[1], out, 2, 0);
    printf("pipe %zd %d\n", r, errno);
    errno = 0;
    r = preadv(99, in, 2, 0);
    printf("bad fd %zd %d\n", r, errno);

    sync();
    /* (posix_fadvise returns the error number on glibc; zig's musl returns -1: compare "failed") */
    int good = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int bad = posix_fadvise(fd, 0, 0, 99);
    int piped = posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL);
    printf("fadvise %d, bad advice refused %d, pipe refused %d\n", good, bad != 0, piped != 0);

    volatile unsigned spin = 0;
    for (unsigned i = 0; i < 3000000; i++) spin += i;
    struct tms t;
    clock_t now = times(&t);
    printf("times ok %d\n", now != (clock_t)-1 && t.tms_utime >= 0 && t.tms_cutime == 0);
    struct rusage ru;
    int gr = getrusage(RUSAGE_SELF, &ru);
    printf("getrusage %d maxrss>0 %d\n", gr, ru.ru_maxrss > 0);
    errno = 0;
    r = getrusage(7, &ru);
    printf("getrusage bad %zd %d\n", r, errno);
    struct sysinfo si;
    int sr = sysinfo(&si);
    printf("sysinfo %d ok %d\n", sr, si.mem_unit >= 1 && si.totalram > 0 && si.freeram <= si.totalram &&
           si.procs >= 1);
    close(fd);
    unlink(path);
    rmdir(sub);
    return 0;
}

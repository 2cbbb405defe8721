/* memfd_create: an anonymous file (no name anywhere), read, written, seeked, truncated, fstat'd,
 * dup'd and shared with a forked child; MFD_CLOEXEC; bad flags, a name too long and a bad
 * name pointer. It sleeps 20 ms after its first write (time for a host to move it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *err(int r) {
    return r >= 0 ? "ok" : errno == EINVAL ? "EINVAL" : errno == EFAULT ? "EFAULT"
         : errno == EBADF ? "EBADF" : "other";
}

int main(void) {
    setvbuf(stdout, 0, _IONBF, 0);
    int fd = memfd_create("test", MFD_CLOEXEC);
    printf("memfd_create: %s, fd above 2 %d, cloexec %d\n", err(fd), fd > 2,
           (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    printf("write: %zd\n", write(fd, "hello world", 11));
    struct timespec ts = {0, 20000000L};
    nanosleep(&ts, NULL);
    printf("offset: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    struct stat st;
    fstat(fd, &st);
    printf("fstat: size %lld, regular %d, mode %o, nlink %lu\n", (long long)st.st_size,
           S_ISREG(st.st_mode), st.st_mode & 07777, (unsigned long)st.st_nlink);
    char buf[64] = {0};
    lseek(fd, 0, SEEK_SET);
    printf("read: %zd [%.5s]\n", read(fd, buf, 5), buf);
    printf("ftruncate 12288: %d\n", ftruncate(fd, 12288));
    fstat(fd, &st);
    memset(buf, 'x', sizeof buf);
    ssize_t n = pread(fd, buf, 4, 4096);
    printf("size %lld, pread at 4096: %zd, zeros %d\n", (long long)st.st_size, n, !memcmp(buf, "\0\0\0\0", 4));
    printf("ftruncate 5: %d\n", ftruncate(fd, 5));
    int fd2 = memfd_create("test", 0);  /* the same name: another file */
    printf("second: %s, cloexec %d, write %zd\n", err(fd2), fcntl(fd2, F_GETFD) & FD_CLOEXEC,
           write(fd2, "x", 1));
    fstat(fd, &st);
    printf("first still %lld bytes\n", (long long)st.st_size);
    int d = dup(fd);
    lseek(fd, 2, SEEK_SET);
    printf("dup shares the offset: %lld\n", (long long)lseek(d, 0, SEEK_CUR));
    pid_t c = fork();
    if (c == 0) {
        _exit(write(d, "CHILD", 5) == 5 ? 0 : 1);
    }
    int ws;
    waitpid(c, &ws, 0);
    memset(buf, 0, sizeof buf);
    printf("child exit %d, file [%s]\n", WEXITSTATUS(ws), pread(fd, buf, sizeof buf - 1, 0) > 0 ? buf : "?");
    printf("bad flags: %s\n", err(memfd_create("x", 0x100)));
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    printf("name of 299: %s\n", err(memfd_create(longname, 0)));
    longname[249] = 0;
    int fd3 = memfd_create(longname, 0);
    printf("name of 249: %s\n", err(fd3));
    printf("bad name pointer: %s\n", err(memfd_create((const char *)16, 0)));
    close(fd);
    printf("closed: fstat %s, dup still reads %zd\n", err(fstat(fd, &st)), pread(d, buf, 7, 0));
    return 0;
}

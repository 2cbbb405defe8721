/* Reads and writes of a regular file larger than shoal's 1 MiB request are whole, as Linux's
   (up to 0x7ffff000 bytes): write, read, pwrite, pread, writev, readv, O_APPEND, /dev/zero,
   a read that meets the end of the file, EFAULT of a bad buffer (Open POSIX aio_suspend/9-1
   wrote 1,280,000 bytes and got 1,048,576). The host build's output is the reference. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define N 1280000

static unsigned sum(const unsigned char *p, size_t n) {
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}

int main(void) {
    unsigned char *buf = malloc(N);
    if (!buf) return 1;
    for (size_t i = 0; i < N; i++) buf[i] = (unsigned char)(i * 7 + i / 4096);
    unsigned want = sum(buf, N);
    char name[64];
    snprintf(name, sizeof name, "bigio-%d", (int)getpid());
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
    printf("write %zd\n", write(fd, buf, N));
    struct stat st;
    fstat(fd, &st);
    printf("size %lld offset %lld\n", (long long)st.st_size, (long long)lseek(fd, 0, SEEK_CUR));
    memset(buf, 0, N);
    lseek(fd, 0, SEEK_SET);
    ssize_t r = read(fd, buf, N);
    printf("read %zd same %d\n", r, sum(buf, N) == want);
    memset(buf, 0, N);
    r = pread(fd, buf, N, 1000);
    printf("pread at 1000: %zd (to the end), offset %lld\n", r, (long long)lseek(fd, 0, SEEK_CUR));
    r = pwrite(fd, buf, N, 50000);
    printf("pwrite at 50000: %zd, offset %lld\n", r, (long long)lseek(fd, 0, SEEK_CUR));
    fstat(fd, &st);
    printf("size %lld\n", (long long)st.st_size);
    /* three pieces, the middle one across the 1 MiB line */
    for (size_t i = 0; i < N; i++) buf[i] = (unsigned char)(i * 13);
    want = sum(buf, N);
    struct iovec v[3] = {{buf, 1000}, {buf + 1000, 1100000}, {buf + 1101000, N - 1101000}};
    lseek(fd, 0, SEEK_SET);
    printf("writev %zd\n", writev(fd, v, 3));
    memset(buf, 0, N);
    lseek(fd, 0, SEEK_SET);
    r = readv(fd, v, 3);
    printf("readv %zd same %d\n", r, sum(buf, N) == want);
    close(fd);
    fd = open(name, O_WRONLY | O_APPEND);
    r = write(fd, buf, 1100000);
    printf("append %zd, offset %lld\n", r, (long long)lseek(fd, 0, SEEK_CUR));
    close(fd);
    fd = open("/dev/zero", O_RDONLY);
    memset(buf, 1, N);
    ssize_t z = read(fd, buf, N);
    int zeros = 1;
    for (size_t i = 0; i < N; i++) zeros &= buf[i] == 0;
    printf("/dev/zero %zd zeros %d\n", z, zeros);
    close(fd);
    fd = open(name, O_RDWR);
    void *volatile bad = (void *)16;  /* (volatile: gcc would warn of the bad address) */
    errno = 0;
    r = write(fd, bad, N);
    printf("bad buffer: write %zd %s, ", r, strerror(errno));
    errno = 0;
    r = read(fd, bad, N);
    printf("read %zd %s\n", r, strerror(errno));
    close(fd);
    unlink(name);
    free(buf);
    return 0;
}

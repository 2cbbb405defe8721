/* close_range, sendfile and copy_file_range as Linux has them (kernel/calls/copy.py),
 * compared byte for byte with the host gcc build; files in /tmp. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436 /* (the same number on every architecture) */
#endif

static void show(const char *what, long rc) {
    printf("%s = %ld errno %d\n", what, rc, rc < 0 ? errno : 0);
    errno = 0;
}

static char src[64], dst[64];

static void contents(const char *what, const char *path) {
    static char buf[20000];
    int fd = open(path, O_RDONLY);
    long n = read(fd, buf, sizeof buf);
    unsigned sum = 0;
    for (long i = 0; i < n; i++) sum = sum * 31 + (unsigned char)buf[i];
    printf("%s: %ld bytes sum %u\n", what, n, sum);
    close(fd);
}

static void copies(void) {
    static char buf[10000];
    for (int i = 0; i < 10000; i++) buf[i] = (char)(i * 7 + i / 256);
    int s = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(s, buf, sizeof buf);
    lseek(s, 0, SEEK_SET);
    int d = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0600);
    show("sendfile 5000", sendfile(d, s, NULL, 5000));
    printf("  offsets in %ld out %ld\n", (long)lseek(s, 0, SEEK_CUR), (long)lseek(d, 0, SEEK_CUR));
    off_t off = 100;
    show("sendfile at 100", sendfile(d, s, &off, 50));
    printf("  off %ld, in offset %ld\n", (long)off, (long)lseek(s, 0, SEEK_CUR));
    off = 9990;
    show("sendfile past the end", sendfile(d, s, &off, 50));
    printf("  off %ld\n", (long)off);
    off = 20000;
    show("sendfile beyond the end", sendfile(d, s, &off, 50));
    show("sendfile count 0", sendfile(d, s, NULL, 0));
    off = -1;
    show("sendfile negative offset", sendfile(d, s, &off, 5));
    show("sendfile bad in", sendfile(d, 99, NULL, 5));
    show("sendfile bad out", sendfile(99, s, NULL, 5));
    int wo = open(src, O_WRONLY), ro = open(dst, O_RDONLY), ap = open(dst, O_WRONLY | O_APPEND);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    show("sendfile from O_WRONLY", sendfile(d, wo, NULL, 5));
    show("sendfile to O_RDONLY", sendfile(ro, s, NULL, 5));
    show("sendfile to O_APPEND", sendfile(ap, s, NULL, 5));
    show("sendfile from a directory", sendfile(d, dir, NULL, 5));
    int pp[2];
    pipe(pp);
    show("sendfile from a pipe", sendfile(d, pp[0], NULL, 5));
    contents("after sendfile", dst);

    loff_t oi = 0, oo = 8000;
    show("copy_file_range 3000 at 0 -> 8000", copy_file_range(s, &oi, d, &oo, 3000, 0));
    printf("  oi %ld oo %ld\n", (long)oi, (long)oo);
    show("copy_file_range by offsets", copy_file_range(s, NULL, d, NULL, 1000, 0));
    printf("  offsets in %ld out %ld\n", (long)lseek(s, 0, SEEK_CUR), (long)lseek(d, 0, SEEK_CUR));
    show("copy_file_range flags", copy_file_range(s, NULL, d, NULL, 10, 1));
    show("copy_file_range len 0", copy_file_range(s, NULL, d, NULL, 0, 0));
    oi = 100; oo = 150;
    show("copy_file_range overlap", copy_file_range(s, &oi, s, &oo, 100, 0));
    oi = 0; oo = 10000;
    show("copy_file_range one file apart", copy_file_range(s, &oi, s, &oo, 100, 0));
    show("copy_file_range directory", copy_file_range(dir, NULL, d, NULL, 10, 0));
    show("copy_file_range to O_APPEND", copy_file_range(s, NULL, ap, NULL, 10, 0));
    show("copy_file_range from O_WRONLY", copy_file_range(wo, NULL, d, NULL, 10, 0));
    show("copy_file_range pipe", copy_file_range(pp[0], NULL, d, NULL, 10, 0));
    show("copy_file_range bad fd", copy_file_range(s, NULL, 99, NULL, 10, 0));
    oi = 20000;
    show("copy_file_range past the end", copy_file_range(s, &oi, d, NULL, 10, 0));
    contents("src", src);
    contents("dst", dst);
    close(s), close(d), close(wo), close(ro), close(ap), close(dir), close(pp[0]), close(pp[1]);
}

static void open_ones(const char *what) {
    printf("%s:", what);
    for (int fd = 3; fd < 12; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0) printf(" %d%s", fd, fl & FD_CLOEXEC ? "c" : "");
    }
    printf("\n");
}

static void ranges(void) {
    int fd = open(src, O_RDONLY);
    for (int i = 0; i < 6; i++) dup(fd);  /* 3..9 */
    open_ones("open");
    show("close_range(5, 6, CLOEXEC)", syscall(SYS_close_range, 5, 6, 4));
    open_ones("cloexec 5 6");
    show("close_range(4, 4)", syscall(SYS_close_range, 4, 4, 0));
    open_ones("closed 4");
    show("close_range(7, 3) first > last", syscall(SYS_close_range, 7, 3, 0));
    show("close_range bad flags", syscall(SYS_close_range, 3, 9, 1));
    show("close_range(UNSHARE) one thread", syscall(SYS_close_range, 9, 9, 2));
    open_ones("closed 9");
    show("close_range(6, ~0)", syscall(SYS_close_range, 6, ~0U, 0));
    open_ones("closed from 6");
    show("close_range(100, 200) none open", syscall(SYS_close_range, 100, 200, 0));
    show("read of a closed one", read(7, src, 1));
    close(3);
    close(5);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(src, sizeof src, "/tmp/copyfile-%d.src", getpid());
    snprintf(dst, sizeof dst, "/tmp/copyfile-%d.dst", getpid());
    if (argc > 1 && !strcmp(argv[1], "console")) {  /* sendfile to the console: copied */
        int s = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600);
        write(s, "hello\n", 6);
        lseek(s, 0, SEEK_SET);
        long rc = sendfile(1, s, NULL, 6);
        fprintf(stderr, "sendfile to stdout = %ld errno %d\n", rc, rc < 0 ? errno : 0);
        unlink(src);
        return 0;
    }
    copies();
    ranges();
    unlink(src);
    unlink(dst);
    return 0;
}

/* truncate(2) by path, against the host: grow, shrink, through a symbolic link, and its errors
   (ENOENT, ENOTDIR, EISDIR, EINVAL for a negative length, EFAULT-free bad paths). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, int r) {
    int e = r < 0 ? errno : 0;
    printf("%s = %d errno %d\n", what, r, e);
}

static long size_of(const char *p) {
    struct stat st;
    if (stat(p, &st) != 0) return -1;
    return (long)st.st_size;
}

int main(void) {
    char f[64], l[64], d[64], nd[80];
    snprintf(f, sizeof f, "/tmp/trunc_%d.dat", (int)getpid());
    snprintf(l, sizeof l, "/tmp/trunc_%d.lnk", (int)getpid());
    snprintf(d, sizeof d, "/tmp/trunc_%d.dir", (int)getpid());
    snprintf(nd, sizeof nd, "%s/x", f);
    int fd = open(f, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) { perror("open"); return 1; }
    if (write(fd, "hello, truncate", 15) != 15) return 1;
    close(fd);
    int r = truncate(f, 5);
    show("shrink", r);
    printf("size %ld\n", size_of(f));
    r = truncate(f, 4096 + 3);
    show("grow", r);
    printf("size %ld\n", size_of(f));
    char buf[16] = {0};
    fd = open(f, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    printf("read %zd: %.5s then %d %d\n", n, buf, buf[5], buf[15]);
    r = symlink(f, l);
    show("symlink", r);
    r = truncate(l, 2);
    show("through link", r);
    printf("size %ld\n", size_of(f));
    r = truncate("/tmp/no_such_file_here", 1);
    show("missing", r);
    r = truncate(nd, 1);
    show("not a dir", r);
    r = mkdir(d, 0755);
    show("mkdir", r);
    r = truncate(d, 0);
    show("a directory", r);
    r = truncate(f, -1);
    show("negative", r);
    r = truncate("", 0);
    show("empty path", r);
    unlink(l);
    unlink(f);
    rmdir(d);
    return 0;
}

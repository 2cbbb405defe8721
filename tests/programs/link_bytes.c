/* Link targets and memfd names that are not UTF-8: a target is bytes (readlink gives them back
 * exactly, as Linux); a memfd's name is only a label. usage: link_bytes DIR */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2 || chdir(argv[1])) return 2;
    int r = symlink("bad\xff\xfe", "l");
    printf("symlink %d\n", r ? -errno : 0);
    char buf[64];
    ssize_t n = readlink("l", buf, sizeof buf);
    printf("readlink %zd:", n);
    for (ssize_t i = 0; i < n; i++) printf(" %02x", (unsigned char)buf[i]);
    printf("\n");
    unlink("l");
    int fd = memfd_create("name\xff", 0);
    printf("memfd %s\n", fd >= 0 ? "ok" : strerror(errno));
    return 0;
}

/* Writes N files of 16 KiB under /out (many_files N): a write-back that takes a while. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char buf[16384];

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    char name[64];
    mkdir("/out", 0755);
    for (int i = 0; i < n; i++) {
        memset(buf, 'a' + i % 26, sizeof buf);
        snprintf(name, sizeof name, "/out/f%05d", i);
        int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf || close(fd) != 0)
            return 1;
    }
    printf("wrote %d\n", n);
    return 0;
}

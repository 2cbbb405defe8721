/* A cat that maps its input, as tools do: argv[1] the file, argv[2] what to do:
 *   cat    - MAP_PRIVATE, PROT_READ, written to stdout in one write
 *   upper  - MAP_SHARED read-write, upper-cased in place, no msync: the file has it at exit
 *   scribble - MAP_PRIVATE writable over a file open read-only: stores stay the process's
 *   ro     - a writable MAP_SHARED mapping of a file open read-only: EACCES */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[2];
    int rw = !strcmp(mode, "upper");
    int fd = open(argv[1], rw ? O_RDWR : O_RDONLY);
    if (fd < 0) { printf("open: %s\n", strerror(errno)); return 1; }
    struct stat st;
    fstat(fd, &st);
    size_t n = st.st_size;
    if (!strcmp(mode, "ro")) {
        void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        printf("%s\n", m == MAP_FAILED ? strerror(errno) : "mapped");
        return 0;
    }
    char *m = mmap(NULL, n, PROT_READ | (strcmp(mode, "cat") ? PROT_WRITE : 0),
                   rw ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) { printf("mmap: %s\n", strerror(errno)); return 1; }
    close(fd);
    if (!strcmp(mode, "cat")) {
        for (size_t off = 0; off < n;) {  /* (a write may take less than all) */
            ssize_t w = write(1, m + off, n - off);
            if (w <= 0) return 1;
            off += w;
        }
    } else if (rw) {
        for (size_t i = 0; i < n; i++) m[i] = toupper((unsigned char)m[i]);
    } else {
        memset(m, '#', n / 2);
        write(1, m, n);
        fd = open(argv[1], O_RDONLY);
        char b[8] = {0};
        read(fd, b, 4);
        printf("\nfile still starts %s\n", b);
    }
    return 0;
}

/* The small things a libc relies on (issue 22): /tmp, /dev/null, /dev/zero, /dev/urandom,
 * dup of every descriptor with a shared offset, rlimits, record locks, a working directory,
 * argv[0]. Each mode prints what Linux gives; the tests compare with the host's run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(what, expr) do { errno = 0; long r_ = (long)(expr); \
    printf("%s = %ld errno %d\n", what, r_, r_ < 0 ? errno : 0); } while (0)

static int tmp_mode(void) {
    struct stat st;
    if (stat("/tmp", &st) != 0) { perror("stat /tmp"); return 1; }
    printf("/tmp dir %d sticky %d mode %o\n", S_ISDIR(st.st_mode), !!(st.st_mode & S_ISVTX),
           st.st_mode & 0777);
    FILE *f = tmpfile();
    if (!f) { perror("tmpfile"); return 1; }
    fputs("hello tmpfile\n", f);
    rewind(f);
    char line[64] = "";
    fgets(line, sizeof line, f);
    printf("tmpfile read back: %s", line);
    fclose(f);
    char name[] = "/tmp/shoal_posixXXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) { perror("mkstemp"); return 1; }
    printf("mkstemp prefix ok %d len %zu\n", strncmp(name, "/tmp/shoal_posix", 16) == 0, strlen(name));
    CHECK("write", write(fd, "abc", 3));
    CHECK("fstat size", (fstat(fd, &st), st.st_size));
    CHECK("unlink", unlink(name));
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: posix_small MODE\n"); return 2; }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(argv[1], "tmp")) return tmp_mode();
    if (!strcmp(argv[1], "tmpkeep")) {  /* leaves a file in /tmp */
        FILE *f = fopen("/tmp/left.txt", "w");
        if (!f) { perror("fopen"); return 1; }
        fputs("left behind\n", f);
        return fclose(f) != 0;
    }
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}

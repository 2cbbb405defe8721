/* A tree deeper than PATH_MAX, walked by relative names (Linux limits a call's own path to
 * PATH_MAX, not the absolute path it leads to): mkdir + chdir 40 levels of 200-byte names,
 * a file written and read at the bottom, the getcwd call (ENAMETOOLONG past a page: glibc
 * would then walk ".." itself, musl does not), openat from a
 * directory descriptor taken deep down, back up by "..", and the tree removed but one file.
 *   deep_cwd DIR   works under DIR (made) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LEVELS 40

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char name[201];
    memset(name, 'n', 200);
    name[200] = 0;
    char cwd[8192];
    if (mkdir(argv[1], 0755) != 0 || chdir(argv[1]) != 0) { perror("top"); return 1; }
    int deep = -1;
    for (int i = 0; i < LEVELS; i++) {
        name[0] = (char)('a' + i % 26);
        if (mkdir(name, 0755) != 0 || chdir(name) != 0) {
            printf("level %d: %s\n", i, strerror(errno));
            return 1;
        }
        if (i == LEVELS / 2) deep = open(".", O_RDONLY | O_DIRECTORY);
        if (i % 10 == 9) {
            long got = syscall(SYS_getcwd, cwd, sizeof cwd);
            printf("level %d getcwd: %s\n", i, got > 0 ? "ok" : errno == ENAMETOOLONG ? "ENAMETOOLONG" : "other");
        }
    }
    int fd = open("bottom.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    printf("create at the bottom: %s\n", fd >= 0 ? "ok" : strerror(errno));
    if (fd >= 0) { write(fd, "deep\n", 5); close(fd); }
    char buf[16] = {0};
    fd = open("bottom.txt", O_RDONLY);
    printf("read back: %zd %s", fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1, buf);
    struct stat st;
    printf("stat .: %d\n", stat(".", &st) == 0 && S_ISDIR(st.st_mode));
    fd = openat(deep, "from-fd.txt", O_CREAT | O_WRONLY, 0644);
    printf("openat from a deep dirfd: %s\n", fd >= 0 ? "ok" : strerror(errno));
    if (fd >= 0) { write(fd, "fd\n", 3); close(fd); }
    for (int i = 0; i < LEVELS; i++)
        if (chdir("..") != 0) { perror(".."); return 1; }
    printf("back at the top: %s\n", getcwd(cwd, sizeof cwd) ? "ok" : strerror(errno));
    return 0;
}

/* Names and depths at the file system's limits (the same source runs natively in a temporary
 * directory; outputs and trees are compared).
 *   fs_names long      names and paths around NAME_MAX (255 bytes) and PATH_MAX (4096 bytes
 *                      with the NUL), counted in bytes of UTF-8: prints each call's result
 *   fs_names rename    a chain of directories whose paths grow past PATH_MAX when its top is
 *                      renamed to a long name; then more files after it
 *   fs_names deep N    a chain of N directories "d", a file at the bottom
 *   fs_names put NAME TEXT   NAME holds TEXT (open O_TRUNC, as a program rewriting a file)
 *   fs_names cat NAME  prints NAME */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(x) do { if ((x) < 0) { printf("FAILED %s: errno %d (line %d)\n", #x, errno, __LINE__); exit(1); } } while (0)
#define ERR(name, call) do { errno = 0; long r_ = (long)(call); printf("%s %ld\n", name, r_ < 0 ? -(long)errno : 0L); } while (0)

static char path[8192];

/* n copies of "é" (two bytes in UTF-8), then `tail` */
static char *utf8_name(char *out, int n, const char *tail) {
    char *p = out;
    for (int i = 0; i < n; i++) { *p++ = (char)0xc3; *p++ = (char)0xa9; }
    strcpy(p, tail);
    return out;
}

static void put(const char *name, const char *text) {
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd);
    CHECK(write(fd, text, strlen(text)));
    CHECK(close(fd));
}

static int longnames(void) {
    char a[1024], b[1024];
    int fd;
    /* 255 bytes (127 two-byte characters and "x"): Linux's NAME_MAX, accepted */
    fd = open(utf8_name(a, 127, "x"), O_WRONLY | O_CREAT, 0644);
    printf("name_255_bytes %d\n", fd < 0 ? -errno : 0);
    if (fd >= 0) { CHECK(write(fd, "fits\n", 5)); close(fd); }
    /* 256 bytes and 510 bytes (255 characters): too long in bytes */
    ERR("name_256_bytes", open(utf8_name(b, 128, ""), O_WRONLY | O_CREAT, 0644));
    ERR("name_510_bytes", open(utf8_name(b, 255, ""), O_WRONLY | O_CREAT, 0644));
    ERR("mkdir_510_bytes", mkdir(b, 0755));
    put("plain.txt", "plain\n");
    ERR("rename_to_510_bytes", rename("plain.txt", b));
    struct stat st;
    ERR("stat_510_bytes", stat(b, &st));
    CHECK(mkdir("dir", 0755));
    snprintf(path, sizeof path, "dir/%s", utf8_name(b, 128, ""));
    ERR("in_dir_256_bytes", open(path, O_WRONLY | O_CREAT, 0644));
    snprintf(path, sizeof path, "dir/%s", utf8_name(b, 127, "y"));
    ERR("in_dir_255_bytes", mkdir(path, 0755));
    /* a whole path: 4095 bytes is the most a call takes (4096 with the NUL) */
    memset(path, 'p', 4095);
    path[4095] = 0;
    for (int i = 200; i < 4095; i += 200) path[i] = '/';
    ERR("path_4095_bytes", open(path, O_RDONLY));  /* ENOENT: long enough to be looked up */
    memset(path, 'p', 4096);
    path[4096] = 0;
    for (int i = 200; i < 4096; i += 200) path[i] = '/';
    ERR("path_4096_bytes", open(path, O_RDONLY));
    ERR("mkdir_4096_bytes", mkdir(path, 0755));
    memset(path, 'q', 8000);  /* no NUL in the first PATH_MAX bytes at all */
    path[8000] = 0;
    ERR("path_8000_bytes", open(path, O_RDONLY));
    put("after.txt", "still here\n");
    return 0;
}

/* "top/" then 16 names of 250 bytes: a path of about 4000 bytes, then the top renamed to a
 * 250-byte name: the deepest path is then about 4270 bytes long (Linux allows it: only what
 * one call names is limited) */
static int renames(void) {
    char seg[256];
    CHECK(mkdir("top", 0755));
    strcpy(path, "top");
    for (int i = 0; i < 16; i++) {
        memset(seg, 'a' + i, 250);
        seg[250] = 0;
        strcat(path, "/");
        strcat(path, seg);
        CHECK(mkdir(path, 0755));
    }
    strcat(path, "/f.txt");
    put(path, "at the bottom\n");
    printf("path %zu bytes\n", strlen(path));
    put("a_first.txt", "first\n");
    memset(seg, 'Z', 250);
    seg[250] = 0;
    CHECK(rename("top", seg));
    put("z_last.txt", "last\n");
    printf("renamed\n");
    return 0;
}

static int deep(int n) {
    path[0] = 0;
    for (int i = 0; i < n; i++) {
        strcat(path, i ? "/d" : "d");
        CHECK(mkdir(path, 0755));
    }
    strcat(path, "/leaf");
    put(path, "the bottom\n");
    put("next.txt", "after the deep tree\n");
    printf("made %d\n", n);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "long")) return longnames();
    if (argc >= 2 && !strcmp(argv[1], "rename")) return renames();
    if (argc >= 3 && !strcmp(argv[1], "deep")) return deep(atoi(argv[2]));
    if (argc >= 4 && !strcmp(argv[1], "put")) { put(argv[2], argv[3]); return 0; }
    if (argc >= 3 && !strcmp(argv[1], "cat")) {
        char buf[256];
        int fd = open(argv[2], O_RDONLY);
        CHECK(fd);
        long n = read(fd, buf, sizeof buf);
        CHECK(n);
        fwrite(buf, 1, (size_t)n, stdout);
        return 0;
    }
    fprintf(stderr, "usage: fs_names long | rename | deep N | put NAME TEXT | cat NAME\n");
    return 2;
}

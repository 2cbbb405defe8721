/* The writable file system, in a stock C program (the same source runs natively in a
 * temporary directory, and the outputs and trees are compared).
 *   fs_tree write   makes files and directories under ./out with stdio and POSIX calls
 *   fs_tree read    walks ./out and prints every path, its size and a checksum
 *   fs_tree errors  prints the errno of each misuse
 *   fs_tree fill N  writes N-byte chunks to ./big until a write fails; prints how it ended
 *   fs_tree copy A B  copies A to B in 97-byte pieces
 *   fs_tree hold    opens files, migrates (argument 2: cluster) while holding them, goes on */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __riscv
#include <shoal.h>
#endif

#define CHECK(x) do { if ((x) < 0) { printf("FAILED %s: errno %d (line %d)\n", #x, errno, __LINE__); exit(1); } } while (0)
#define ERR(name, call) do { errno = 0; long r_ = (long)(call); printf("%s %ld\n", name, r_ < 0 ? -(long)errno : r_); } while (0)

static unsigned sum(const unsigned char *p, long n) {
    unsigned h = 2166136261u;
    for (long i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static int write_tree(void) {
    CHECK(mkdir("out", 0755));
    CHECK(mkdir("out/sub", 0755));
    CHECK(mkdir("out/sub/deeper", 0755));
    CHECK(mkdir("out/gone", 0755));
    FILE *f = fopen("out/results.txt", "w");
    if (!f) { perror("fopen"); return 1; }
    for (int i = 0; i < 500; i++) fprintf(f, "line %d: %d squared is %d\n", i, i, i * i);
    fclose(f);
    /* O_APPEND, from two descriptors */
    int a = open("out/log.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    int b = open("out/log.txt", O_WRONLY | O_APPEND);
    CHECK(a); CHECK(b);
    for (int i = 0; i < 5; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "%c%d\n", i % 2 ? 'b' : 'a', i);
        CHECK(write(i % 2 ? b : a, line, n));
    }
    close(a); close(b);
    /* lseek, overwrite, a hole, pwrite/pread, ftruncate */
    int fd = open("out/sub/data.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd);
    unsigned char buf[10000];
    for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (unsigned char)(i * 7 + 3);
    CHECK(write(fd, buf, sizeof buf));
    CHECK(lseek(fd, 100, SEEK_SET));
    CHECK(write(fd, "HELLO", 5));
    off_t end = lseek(fd, 0, SEEK_END);
    printf("size after writes %ld\n", (long)end);
    CHECK(lseek(fd, 5000, SEEK_END));  /* a hole of zeros */
    CHECK(write(fd, "tail", 4));
    CHECK(pwrite(fd, "PW", 2, 20));
    char got[8] = {0};
    CHECK(pread(fd, got, 5, 100));
    printf("pread '%s' offset now %ld\n", got, (long)lseek(fd, 0, SEEK_CUR));
    CHECK(ftruncate(fd, 12000));
    struct stat st;
    CHECK(fstat(fd, &st));
    printf("fstat size %ld regular %d\n", (long)st.st_size, S_ISREG(st.st_mode));
    close(fd);
    /* O_EXCL, rename over a file, unlink, rmdir */
    fd = open("out/sub/deeper/excl", O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fd);
    CHECK(write(fd, "only once\n", 10));
    close(fd);
    ERR("excl_again", open("out/sub/deeper/excl", O_WRONLY | O_CREAT | O_EXCL, 0644));
    f = fopen("out/tmp.txt", "w");
    fputs("temporary\n", f);
    fclose(f);
    f = fopen("out/final.txt", "w");
    fputs("will be replaced\n", f);
    fclose(f);
    CHECK(rename("out/tmp.txt", "out/final.txt"));
    f = fopen("out/delete-me", "w");
    fputs("x", f);
    fclose(f);
    CHECK(unlink("out/delete-me"));
    CHECK(rmdir("out/gone"));
    CHECK(rename("out/sub/deeper", "out/moved"));
    /* an unlinked file stays readable while open */
    fd = open("out/results.txt", O_RDONLY);
    f = fopen("out/ephemeral", "w+");
    fputs("still here\n", f);
    fflush(f);
    CHECK(unlink("out/ephemeral"));
    rewind(f);
    char line[64];
    printf("after unlink: %s", fgets(line, sizeof line, f));
    fclose(f);
    CHECK(stat("out/results.txt", &st));
    printf("results.txt %ld bytes\n", (long)st.st_size);
    CHECK(stat("out/moved", &st));
    printf("moved is a directory %d\n", S_ISDIR(st.st_mode));
    /* dup: the copy reads on from where the original was */
    char head[8] = {0};
    CHECK(read(fd, head, 5));
    int copy = dup(fd);
    CHECK(copy);
    close(fd);
    CHECK(read(copy, head, 5));
    printf("dup read '%s'\n", head);
    close(copy);
    /* freopen: standard output into a file (dup3 onto descriptor 1) */
    if (!freopen("out/stdout.txt", "w", stdout)) { perror("freopen"); return 1; }
    printf("this line went to a file\n");
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void walk(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) { printf("opendir %s: errno %d\n", dir, errno); return; }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) < 0) { printf("stat %s: errno %d\n", path, errno); continue; }
        if (S_ISDIR(st.st_mode)) {
            printf("%s/\n", path);
            walk(path);
        } else {
            FILE *f = fopen(path, "rb");
            unsigned char *buf = malloc(st.st_size + 1);
            long got = (long)fread(buf, 1, st.st_size + 1, f);
            fclose(f);
            printf("%s %ld bytes (read %ld) sum %08x\n", path, (long)st.st_size, got, sum(buf, got));
            free(buf);
        }
        free(names[i]);
    }
}

static int errors(void) {
    char buf[16];
    int fd = open("err.txt", O_RDWR | O_CREAT, 0644);
    CHECK(mkdir("edir", 0755));
    CHECK(mkdir("edir/inner", 0755));
    ERR("open_missing", open("no/such/file", O_RDONLY));
    ERR("open_missing_creat_parent", open("no/such", O_WRONLY | O_CREAT, 0644));
    ERR("open_under_a_file", open("err.txt/x", O_RDONLY));
    ERR("open_dir_for_writing", open("edir", O_WRONLY));
    ERR("open_file_as_directory", open("err.txt", O_RDONLY | O_DIRECTORY));
    ERR("open_dir_with_creat", open("edir", O_RDONLY | O_CREAT, 0644));
    ERR("open_trunc_read_only", open("err.txt", O_RDONLY | O_TRUNC));
    ERR("read_bad_fd", read(77, buf, 4));
    ERR("write_bad_fd", write(77, buf, 4));
    ERR("close_bad_fd", close(77));
    ERR("lseek_bad_fd", lseek(77, 0, SEEK_SET));
    ERR("fstat_bad_fd", fstat(77, &(struct stat){0}));
    ERR("lseek_negative", lseek(fd, -5, SEEK_SET));
    ERR("lseek_bad_whence", lseek(fd, 0, 42));
    int ro = open("err.txt", O_RDONLY);
    ERR("write_read_only_fd", write(ro, "x", 1));
    int wo = open("err.txt", O_WRONLY);
    ERR("read_write_only_fd", read(wo, buf, 1));
    ERR("ftruncate_read_only_fd", ftruncate(ro, 0));
    int d = open("edir", O_RDONLY | O_DIRECTORY);
    ERR("read_directory", read(d, buf, 4));
    ERR("write_bad_pointer", write(fd, (void *)16, 4));
    ERR("write_ok", write(fd, "abc", 3));
    ERR("read_bad_pointer", pread(fd, (void *)16, 3, 0));
    ERR("mkdir_exists", mkdir("edir", 0755));
    ERR("mkdir_missing_parent", mkdir("nope/x", 0755));
    ERR("rmdir_not_empty", rmdir("edir"));
    ERR("rmdir_file", rmdir("err.txt"));
    ERR("unlink_directory", unlink("edir/inner"));
    ERR("unlink_missing", unlink("missing"));
    ERR("rename_missing", rename("missing", "x"));
    ERR("rename_dir_over_file", rename("edir/inner", "err.txt"));
    ERR("rename_file_over_dir", rename("err.txt", "edir"));
    ERR("rename_into_itself", rename("edir", "edir/inner/x"));
    ERR("stat_missing", stat("missing", &(struct stat){0}));
    ERR("open_bad_pointer", open((char *)16, O_RDONLY));
    ERR("open_empty_path", open("", O_RDONLY));
    close(fd); close(ro); close(wo); close(d);
    CHECK(rmdir("edir/inner"));
    CHECK(rmdir("edir"));
    CHECK(unlink("err.txt"));
    return 0;
}

static int fill(long chunk) {
    char *buf = malloc(chunk);
    memset(buf, 'z', chunk);
    int fd = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd);
    long total = 0;
    for (;;) {
        errno = 0;
        long n = write(fd, buf, chunk);
        if (n < 0) { printf("fill: %ld bytes, then errno %d\n", total, errno); break; }
        total += n;
        if (n < chunk) printf("fill: short write of %ld\n", n);
    }
    close(fd);
    /* many files until there is no room for one more */
    int made = 0;
    for (;;) {
        char name[32];
        snprintf(name, sizeof name, "f%d", made);
        errno = 0;
        int f = open(name, O_WRONLY | O_CREAT, 0644);
        if (f < 0) { printf("files: %d made, then errno %d\n", made, errno); break; }
        close(f);
        made++;
    }
    ERR("mkdir_full", mkdir("d", 0755));
    ERR("unlink_then_create", unlink("f0") == 0 ? open("again", O_WRONLY | O_CREAT, 0644) : -1);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "write";
    if (!strcmp(mode, "write")) return write_tree();
    if (!strcmp(mode, "read")) { walk("out"); return 0; }
    if (!strcmp(mode, "errors")) return errors();
    if (!strcmp(mode, "fill")) return fill(argc > 2 ? atol(argv[2]) : 4096);
    if (!strcmp(mode, "copy")) {  /* copy a file in small pieces (a host migrates it meanwhile) */
        int in = open(argv[2], O_RDONLY), out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(in); CHECK(out);
        char buf[97];
        long n, total = 0;
        while ((n = read(in, buf, sizeof buf)) > 0) { CHECK(write(out, buf, n)); total += n; }
        CHECK(n);
        printf("copied %ld bytes\n", total);
        return 0;
    }
#ifdef __riscv
    if (!strcmp(mode, "hold")) {
        int to = argc > 2 ? atoi(argv[2]) : 1;
        int w = open("held.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
        CHECK(w);
        CHECK(write(w, "before the move\n", 16));
        int r = open("out/results.txt", O_RDONLY);
        char buf[64] = {0};
        CHECK(read(r, buf, 20));
        printf("on %d read '%.20s'\n", shoal_cluster(), buf);
        CHECK(shoal_migrate(to));
        CHECK(write(w, "after the move\n", 15));
        CHECK(read(r, buf, 20));
        printf("on %d read '%.20s' at %ld\n", shoal_cluster(), buf, (long)lseek(r, 0, SEEK_CUR));
        CHECK(lseek(w, 0, SEEK_SET));
        memset(buf, 0, sizeof buf);
        CHECK(read(w, buf, sizeof buf - 1));
        printf("held.txt: %s", buf);
        return 0;
    }
#endif
    return 2;
}

/* access(2) and faccessat(2) as root sees them, in the current directory (a fresh one).
 * usage: access [--file NAME]  (NAME: a file the run was given read-only, tested for EROFS) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, int r) {
    printf("%-28s %d %s\n", what, r, r ? strerror(errno) : "ok");
}

int main(int argc, char **argv) {
    close(open("plain", O_CREAT | O_WRONLY, 0644));
    close(open("tool", O_CREAT | O_WRONLY, 0755));
    mkdir("dir", 0755);
    show("F_OK plain", access("plain", F_OK));
    show("R_OK|W_OK plain", access("plain", R_OK | W_OK));
    show("X_OK plain", access("plain", X_OK));
    show("X_OK tool", access("tool", X_OK));
    show("X_OK dir", access("dir", X_OK));
    show("F_OK missing", access("missing", F_OK));
    show("F_OK plain/x", access("plain/x", F_OK));
    show("F_OK empty", access("", F_OK));
    show("bad mode", access("plain", 8));
    show("W_OK /dev/null", access("/dev/null", W_OK));
    show("X_OK /dev/null", access("/dev/null", X_OK));
    int d = open("dir", O_RDONLY | O_DIRECTORY);
    close(open("dir/inner", O_CREAT | O_WRONLY, 0600));
    show("at dir inner", faccessat(d, "inner", R_OK, 0));
    show("at dir missing", faccessat(d, "nope", F_OK, 0));
    show("at bad flags", faccessat(AT_FDCWD, "plain", F_OK, 0x4000));
    show("at EACCESS", faccessat(AT_FDCWD, "plain", R_OK, AT_EACCESS));
    show("at bad fd", faccessat(99, "inner", F_OK, 0));
    chdir("dir");
    show("after chdir inner", access("inner", W_OK));
    if (argc > 2 && !strcmp(argv[1], "--file")) {
        show("R_OK given file", access(argv[2], R_OK));
        show("W_OK given file", access(argv[2], W_OK));
    }
    return 0;
}

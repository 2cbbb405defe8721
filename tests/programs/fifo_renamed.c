/* A FIFO renamed (or unlinked and made again) while an open of it waits: the waiting open
 * holds the FIFO it found, as Linux's (the path walk is over), and meets a partner that opens
 * it by its new name; one that opens a new FIFO at the old name does not meet it.
 * argv[1]: a directory to make the FIFOs in; argv[2] "apart": each child moves to another
 * cluster first (shoal_migrate; nothing on the host). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __riscv
#include <shoal.h>
#else
static int shoal_migrate(int c) { (void)c; return 0; }
#endif

static int apart;
static char a[256], b[256];

static void nap(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t reader(int cluster, const char *path) {
    pid_t c = fork();
    if (c == 0) {
        if (apart) shoal_migrate(cluster);
        int fd = open(path, O_RDONLY);
        char buf[32] = {0};
        int r = fd < 0 ? -1 : (int)read(fd, buf, sizeof buf - 1);
        printf("  reader: open %s, read %d '%s'\n", fd < 0 ? strerror(errno) : "ok", r, r > 0 ? buf : "");
        _exit(0);
    }
    return c;
}

static void writer(const char *path, const char *text) {
    int w = open(path, O_WRONLY);
    printf("  writer: open %s\n", w < 0 ? strerror(errno) : "ok");
    if (w >= 0) {
        write(w, text, strlen(text));
        close(w);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    apart = argc > 2 && !strcmp(argv[2], "apart");
    snprintf(a, sizeof a, "%s/fifo_renamed_a", dir);
    snprintf(b, sizeof b, "%s/fifo_renamed_b", dir);
    unlink(a);
    unlink(b);

    printf("renamed while a reader waits:\n");
    mkfifo(a, 0600);
    pid_t c = reader(2, a);
    nap(20);
    rename(a, b);
    writer(b, "by its new name");
    waitpid(c, NULL, 0);

    printf("a second name while a reader waits:\n");
    c = reader(3, b);
    nap(20);
    link(b, a);
    unlink(b);
    writer(a, "by its second name");
    waitpid(c, NULL, 0);

    printf("unlinked and made again while a reader waits:\n");
    c = reader(1, a);
    nap(20);
    unlink(a);
    mkfifo(a, 0600);
    int w = open(a, O_WRONLY | O_NONBLOCK);
    printf("  the new FIFO has no reader: %s\n", w < 0 ? strerror(errno) : "opened");
    kill(c, SIGKILL);
    int st;
    waitpid(c, &st, 0);
    printf("  the waiting reader killed: %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    unlink(a);
    return 0;
}

/* Named pipes (mkfifo) as Linux has them: stat of the node, the opens' meeting (blocking,
   O_NONBLOCK's immediate reader and ENXIO, O_RDWR), a forked child that writes to its
   parent through the FIFO (with argv[2] "apart" the parent fills most of its cluster first,
   so that the child is placed on another one; "late": the parent opens its reader 50 ms after
   the fork; "keep": a FIFO the host gave is stat'ed, one is left for the host), two writers, EOF, EPIPE, unlink and rename
   while open, data dropped when all ends close, a blocking open cut short by a signal. The
   host build's output is the reference. argv[1]: a directory to make the FIFOs in. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned char ballast[600 * 1024];

static void say(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, strerror(errno));
    else printf("%s: ok\n", what);
}

static volatile int alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    if (argc > 2 && !strcmp(argv[2], "apart"))
        for (int i = 0; i < (int)sizeof ballast; i += 4096) ballast[i] = 1;
    char f[256], g[256];
    snprintf(f, sizeof f, "%s/ff", dir);
    snprintf(g, sizeof g, "%s/ff2", dir);
    umask(022);
    struct stat st;
    say("mkfifo", mkfifo(f, 0666));
    say("mkfifo again", mkfifo(f, 0600));
    if (stat(f, &st) == 0)
        printf("  fifo %d reg %d mode %o links %ld size %ld\n", S_ISFIFO(st.st_mode), S_ISREG(st.st_mode),
               st.st_mode & 07777, (long)st.st_nlink, (long)st.st_size);
    say("chmod", chmod(f, 0640));
    if (stat(f, &st) == 0) printf("  mode %o\n", st.st_mode & 07777);

    /* O_NONBLOCK: a writer without a reader gets ENXIO; a reader opens at once */
    say("open wronly|nonblock, no reader", open(f, O_WRONLY | O_NONBLOCK));
    int r = open(f, O_RDONLY | O_NONBLOCK);
    say("open rdonly|nonblock", r);
    char buf[256];
    printf("  read with no writer: %ld\n", (long)read(r, buf, sizeof buf));
    int w = open(f, O_WRONLY | O_NONBLOCK);
    say("open wronly|nonblock, a reader", w);
    errno = 0;
    long n = read(r, buf, sizeof buf);
    printf("  read, empty: %ld %s\n", n, n < 0 ? strerror(errno) : "");
    printf("  write %ld\n", (long)write(w, "hello", 5));
    n = read(r, buf, sizeof buf);
    printf("  read %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    if (fstat(w, &st) == 0) printf("  fstat fifo %d mode %o\n", S_ISFIFO(st.st_mode), st.st_mode & 07777);
    /* unlink and rename while open: the ends go on */
    say("truncate", truncate(f, 0));
    char *args[] = {f, NULL};
    say("execv", execv(f, args));
    say("rename", rename(f, g));
    if (stat(g, &st) == 0) printf("  renamed fifo %d\n", S_ISFIFO(st.st_mode));
    say("unlink", unlink(g));
    say("stat after unlink", stat(g, &st));
    printf("  write after unlink %ld\n", (long)write(w, "abc", 3));
    n = read(r, buf, sizeof buf);
    printf("  read after unlink %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    if (fstat(r, &st) == 0) printf("  fstat after unlink fifo %d\n", S_ISFIFO(st.st_mode));
    close(w);
    printf("  read, writer gone: %ld\n", (long)read(r, buf, sizeof buf));
    close(r);

    /* EPIPE; data left when all ends close is dropped; O_RDWR opens at once */
    mkfifo(f, 0600);
    r = open(f, O_RDONLY | O_NONBLOCK);
    w = open(f, O_WRONLY | O_NONBLOCK);
    printf("  write 'left' %ld\n", (long)write(w, "left", 4));
    close(r);
    errno = 0;
    n = write(w, "x", 1);
    printf("  write, reader gone: %ld %s\n", n, n < 0 ? strerror(errno) : "");
    close(w);
    int rw = open(f, O_RDWR);
    say("open rdwr", rw);
    fcntl(rw, F_SETFL, O_NONBLOCK);
    errno = 0;
    n = read(rw, buf, sizeof buf);
    printf("  read, old data dropped: %ld %s\n", n, n < 0 ? strerror(errno) : "");
    printf("  rdwr write %ld\n", (long)write(rw, "self", 4));
    n = read(rw, buf, sizeof buf);
    printf("  rdwr read %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    close(rw);

    /* a blocking open cut short by a signal (no SA_RESTART): EINTR, and it counts no more */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    say("blocking open, interrupted", open(f, O_RDONLY));
    say("then wronly|nonblock", open(f, O_WRONLY | O_NONBLOCK));
    /* ... and with SA_RESTART: the handler runs, the open goes on and meets a late writer */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pid_t late = fork();
    if (late == 0) {
        usleep(60000);
        int cw = open(f, O_WRONLY);
        write(cw, "late writer\n", 12);
        close(cw);
        _exit(0);
    }
    setitimer(ITIMER_REAL, &it, NULL);
    r = open(f, O_RDONLY);
    say("blocking open, SA_RESTART", r);
    printf("  handler ran %d times\n", alarms);
    n = read(r, buf, sizeof buf);
    printf("  read %ld '%.*s'\n", n, (int)(n > 0 ? n - 1 : 0), buf);
    close(r);
    waitpid(late, NULL, 0);
    /* a reader killed while it waits in its open counts no more */
    pid_t doomed = fork();
    if (doomed == 0) {
        open(f, O_RDONLY);
        _exit(1);
    }
    usleep(20000);
    kill(doomed, SIGKILL);
    int ks;
    waitpid(doomed, &ks, 0);
    printf("  killed in its open: %d\n", WIFSIGNALED(ks) ? WTERMSIG(ks) : -1);
    say("then wronly|nonblock", open(f, O_WRONLY | O_NONBLOCK));

    /* a forked child writes, the parent reads (blocking opens meet); then two writers */
    pid_t c = fork();
    if (c == 0) {
        int cw = open(f, O_WRONLY);
        char line[64];
        int len = snprintf(line, sizeof line, "from the child\n");
        write(cw, line, len);
        close(cw);
        _exit(0);
    }
    if (argc > 2 && !strcmp(argv[2], "late"))
        usleep(50000);  /* the child waits in its open meanwhile */
    r = open(f, O_RDONLY);
    say("parent open rdonly", r);
    size_t got = 0;
    while ((n = read(r, buf + got, sizeof buf - 1 - got)) > 0) got += n;
    buf[got] = 0;
    printf("  parent read %ld: %s", (long)got, buf);
    close(r);
    int status;
    waitpid(c, &status, 0);
    printf("  child status %d\n", WEXITSTATUS(status));

    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            int cw = open(f, O_WRONLY);
            for (int j = 0; j < 3; j++) {
                char line[32];
                int len = snprintf(line, sizeof line, "writer %d line %d\n", i, j);
                write(cw, line, len);
            }
            close(cw);
            _exit(0);
        }
    }
    r = open(f, O_RDONLY);
    got = 0;
    /* EOF only once both have opened and closed: read until 6 lines or EOF after them */
    int lines = 0;
    while (lines < 6 && (n = read(r, buf + got, sizeof buf - 1 - got)) >= 0) {
        if (n == 0) {
            usleep(1000);  /* a writer not yet opened: EOF between them, as on Linux */
            continue;
        }
        for (long i = 0; i < n; i++) lines += buf[got + i] == '\n';
        got += n;
    }
    buf[got] = 0;
    char *ls[8];
    int k = 0;
    for (char *s = strtok(buf, "\n"); s && k < 8; s = strtok(NULL, "\n")) ls[k++] = s;
    qsort(ls, k, sizeof ls[0], cmp);
    printf("  two writers, %d lines:", k);
    for (int i = 0; i < k; i++) printf(" [%s]", ls[i]);
    printf("\n");
    for (int i = 0; i < 2; i++) waitpid(kids[i], &status, 0);
    printf("  read at the end: %ld\n", (long)read(r, buf, sizeof buf));
    close(r);
    say("unlink", unlink(f));
    if (argc > 2 && !strcmp(argv[2], "keep")) {  /* a FIFO the host gave, one the host gets */
        snprintf(g, sizeof g, "%s/hostfifo", dir);
        if (stat(g, &st) == 0) printf("  host fifo %d mode %o\n", S_ISFIFO(st.st_mode), st.st_mode & 07777);
        snprintf(g, sizeof g, "%s/kept", dir);
        say("mkfifo kept", mkfifo(g, 0666));
    }
    return 0;
}

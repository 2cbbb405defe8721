/* fork, exec, wait and pipes (issue 22), one mode per argv[1]; the host build's output is
   the reference. Children write to the same stdout as their parent (the order is made
   deterministic by waits and pipes). Every line says what it checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* errno by name (strerror's texts differ between musl and glibc) */
static const char *en(int e) {
    switch (e) {
    case 0: return "0";
    case ECHILD: return "ECHILD"; case EINVAL: return "EINVAL"; case EFAULT: return "EFAULT";
    case ENOENT: return "ENOENT"; case EACCES: return "EACCES"; case EAGAIN: return "EAGAIN";
    case EPIPE: return "EPIPE"; case ENOEXEC: return "ENOEXEC"; case E2BIG: return "E2BIG";
    case ENOSYS: return "ENOSYS"; case EBADF: return "EBADF"; case ESPIPE: return "ESPIPE";
    default: return "other";
    }
}
/* one call, then its result and errno (arguments are evaluated in no fixed order) */
#define TRY(label, expr) do { errno = 0; long r_ = (long)(expr); int e_ = errno; \
    printf("%s: %ld %s\n", label, r_, en(e_)); } while (0)

static void show(const char *what, int st) {
    if (WIFEXITED(st)) printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("%s: killed by %d\n", what, WTERMSIG(st));
    else printf("%s: status %#x\n", what, st);
}

static volatile int chld;
static void on_chld(int s) { (void)s; chld++; }

static int status_mode(void) {
    int st;
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) { printf("child a: fork gave 0\n"); exit(7); }
    pid_t w = waitpid(a, &st, 0);
    printf("waitpid gave the child: %d\n", w == a);
    show("a", st);
    pid_t b = fork();
    if (b == 0) { raise(SIGTERM); for (;;) ; }
    waitpid(b, &st, 0);
    show("b", st);
    pid_t c = fork();
    if (c == 0) { *(volatile int *)16 = 1; return 0; }
    waitpid(c, &st, 0);
    show("c", st);
    /* zombies wait to be reaped; WNOHANG says 0 while a child runs */
    int p[2];
    pipe(p);
    pid_t d = fork();
    if (d == 0) { char x; close(p[1]); read(p[0], &x, 1); _exit(3); }
    close(p[0]);
    printf("WNOHANG while it runs: %d\n", waitpid(d, &st, WNOHANG));
    write(p[1], "x", 1);
    close(p[1]);
    printf("then: %d\n", waitpid(d, &st, 0) == d);
    show("d", st);
    /* waitid with P_ALL, WEXITED */
    pid_t e = fork();
    if (e == 0) _exit(42);
    siginfo_t si;
    memset(&si, 0xff, sizeof si);
    int r = waitid(P_ALL, 0, &si, WEXITED);
    printf("waitid: %d pid ok %d signo %d code %d status %d\n", r, si.si_pid == e, si.si_signo,
           si.si_code, si.si_status);
    /* WNOWAIT leaves the zombie */
    pid_t f = fork();
    if (f == 0) _exit(5);
    r = waitid(P_PID, f, &si, WEXITED | WNOWAIT);
    printf("WNOWAIT: %d status %d; then waitpid %d\n", r, si.si_status, waitpid(f, &st, 0) == f);
    show("f", st);
    TRY("no child left", waitpid(-1, &st, 0));
    TRY("WNOHANG with none", waitpid(-1, &st, WNOHANG));
    return 0;
}

static int chain_mode(void) {
    /* each process forks the next; each waits for its child and adds its exit code */
    int depth = 0;
    for (;;) {
        fflush(stdout);
        pid_t c = fork();
        if (c < 0) { perror("fork"); return 1; }
        if (c == 0) {
            depth++;
            if (depth == 5) { printf("depth %d: the last\n", depth); exit(depth); }
            continue;
        }
        int st;
        waitpid(c, &st, 0);
        printf("depth %d: child said %d\n", depth, WEXITSTATUS(st));
        exit(depth == 0 ? 0 : WEXITSTATUS(st) + depth);
    }
}

static int ppid_mode(void) {
    pid_t me = getpid();
    int p[2];
    pipe(p);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int ok = getppid() == me && getpid() != me;
        write(p[1], &ok, sizeof ok);
        _exit(0);
    }
    int ok = 0;
    read(p[0], &ok, sizeof ok);
    printf("child's getppid is its parent, its pid its own: %d\n", ok);
    printf("fork gave the child's pid: %d\n", c > 0 && c != me);
    int st;
    waitpid(c, &st, 0);
    /* SIGCHLD with a handler */
    struct sigaction sa = {0};
    sa.sa_handler = on_chld;
    sigaction(SIGCHLD, &sa, 0);
    c = fork();
    if (c == 0) _exit(0);
    waitpid(c, &st, 0);
    while (!chld) usleep(1000);
    printf("SIGCHLD caught: %d\n", chld);
    return 0;
}

static int pipe_mode(void) {
    int down[2], up[2];
    if (pipe(down) || pipe2(up, O_CLOEXEC)) { perror("pipe"); return 1; }
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(down[1]);
        close(up[0]);
        char buf[64];
        int n, total = 0;
        while ((n = read(down[0], buf, sizeof buf)) > 0) {
            for (int i = 0; i < n; i++) buf[i] = buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i];
            write(up[1], buf, n);
            total += n;
        }
        printf("child: EOF after %d bytes (read gave %d)\n", total, n);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    const char *msg = "hello through a pipe, parent to child and back\n";
    write(down[1], msg, strlen(msg));
    close(down[1]);
    char buf[128];
    int n, got = 0;
    while ((n = read(up[0], buf + got, sizeof buf - 1 - got)) > 0) got += n;
    buf[got] = 0;
    printf("parent got %d: %s", got, buf);
    int st;
    waitpid(c, &st, 0);
    show("child", st);
    /* F_GETFD says which end is close-on-exec */
    printf("cloexec: %d %d\n", fcntl(up[0], F_GETFD), fcntl(down[1], F_GETFD) == -1);
    /* a big write larger than the buffer: the reader drains it */
    int big[2];
    pipe(big);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        close(big[1]);
        long sum = 0, n2, total = 0;
        unsigned char b2[1000];
        while ((n2 = read(big[0], b2, sizeof b2)) > 0) {
            for (int i = 0; i < n2; i++) sum += b2[i];
            total += n2;
        }
        printf("reader: %ld bytes, sum %ld\n", total, sum);
        _exit(0);
    }
    close(big[0]);
    static unsigned char data[200000];
    for (int i = 0; i < (int)sizeof data; i++) data[i] = i * 7;
    printf("writer wrote %zd\n", write(big[1], data, sizeof data));
    fflush(stdout);
    close(big[1]);
    waitpid(c, &st, 0);
    /* nonblocking: EAGAIN on an empty pipe, and on a full one */
    int nb[2];
    pipe2(nb, O_NONBLOCK);
    TRY("empty", read(nb[0], buf, 1));
    long in = 0;
    ssize_t w;
    while ((w = write(nb[1], data, 1000)) > 0) in += w;
    printf("full at %ld: %s\n", in, en(errno));
    read(nb[0], buf, 100);
    TRY("PIPE_BUF write on a nearly full pipe", write(nb[1], data, 200));
    TRY("a bigger one", write(nb[1], data, 5000));
    return 0;
}

static int epipe_mode(void) {
    int p[2];
    pipe(p);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    TRY("write with no reader", write(p[1], "x", 1));
    signal(SIGPIPE, SIG_DFL);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) { write(p[1], "x", 1); _exit(0); }
    int st;
    waitpid(c, &st, 0);
    show("writer without a reader", st);
    return 0;
}

static int errors_mode(void) {
    int st;
    int fds[2];
    TRY("pipe2 bad flags", pipe2(fds, 0x1));
    TRY("pipe bad pointer", pipe((int *)8));
    TRY("waitpid no child", waitpid(-1, &st, 0));
    TRY("waitpid bad options", waitpid(-1, &st, 0x4000));
    TRY("waitid no flags", syscall(SYS_waitid, P_ALL, 0, 0, 0, 0));
    TRY("waitid bad idtype", syscall(SYS_waitid, 7, 0, 0, WEXITED, 0));
    TRY("waitid P_PID 0", syscall(SYS_waitid, P_PID, 0, 0, WEXITED, 0));
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(0);
    TRY("waitid bad pointer", syscall(SYS_waitid, P_ALL, 0, (void *)8, WEXITED, 0));
    waitpid(c, &st, 0);
    TRY("clone bad flags", syscall(SYS_clone, CLONE_SIGHAND, 0, 0, 0, 0));
    TRY("clone thread without sighand", syscall(SYS_clone, CLONE_VM | CLONE_THREAD, 0, 0, 0, 0));
    char *argv[] = {"x", 0};
    TRY("execve missing", execve("/no/such/prog", argv, environ));
    TRY("execve bad path", execve((char *)8, argv, environ));
    TRY("execve bad argv", execve("/no/such/prog", (char **)8, environ));
    TRY("execve dir", execve("/", argv, environ));
    TRY("lseek on a pipe", (pipe(fds), lseek(fds[0], 0, SEEK_SET)));
    TRY("read of a write end", read(fds[1], &st, 1));
    return 0;
}

static int exec_mode(const char *self) {
    /* exec this very program (from the file image) in "echo" mode with its own argv/envp */
    int p[2];
    pipe(p);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        char *argv[] = {(char *)self, "echo", "one", "two words", fd, 0};
        char *envp[] = {"GREETING=hello", "EMPTY=", 0};
        execve(self, argv, envp);
        printf("execve failed: %s\n", en(errno));
        _exit(127);
    }
    close(p[1]);
    char buf[64] = {0};
    int n = read(p[0], buf, sizeof buf - 1);
    int st;
    waitpid(c, &st, 0);  /* (then print: the child's lines come first wherever it runs) */
    printf("through the kept descriptor: %d %s\n", n, buf);
    show("exec'd child", st);
    return 0;
}

static int echo_mode(int argc, char **argv) {
    printf("echo: argc %d\n", argc);
    for (int i = 2; i < argc - 1; i++) printf("  argv[%d] = %s\n", i, argv[i]);
    printf("  GREETING=%s EMPTY=[%s] HOME=%s\n", getenv("GREETING"), getenv("EMPTY"),
           getenv("HOME") ? getenv("HOME") : "(none)");
    int fd = atoi(argv[argc - 1]);
    write(fd, "kept", 4);
    return 9;
}

/* a | b | c: upper-cases, then counts */
static int pipeline_mode(const char *self) {
    int ab[2], bc[2];
    pipe(ab);
    pipe(bc);
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) {
        dup2(ab[1], 1);
        close(ab[0]); close(ab[1]); close(bc[0]); close(bc[1]);
        execl(self, self, "gen", (char *)0);
        _exit(127);
    }
    pid_t b = fork();
    if (b == 0) {
        dup2(ab[0], 0);
        dup2(bc[1], 1);
        close(ab[0]); close(ab[1]); close(bc[0]); close(bc[1]);
        execl(self, self, "upper", (char *)0);
        _exit(127);
    }
    pid_t c = fork();
    if (c == 0) {
        dup2(bc[0], 0);
        close(ab[0]); close(ab[1]); close(bc[0]); close(bc[1]);
        execl(self, self, "count", (char *)0);
        _exit(127);
    }
    close(ab[0]); close(ab[1]); close(bc[0]); close(bc[1]);
    int sa, sb, sc;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    waitpid(c, &sc, 0);
    show("gen", sa); show("upper", sb); show("count", sc);
    return 0;
}

static int gen_mode(void) {
    for (int i = 0; i < 300; i++) printf("line %d of the generator\n", i);
    return 0;
}

static int upper_mode(void) {
    int ch;
    while ((ch = getchar()) != EOF) putchar(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    return 1;
}

static int count_mode(void) {
    long lines = 0, bytes = 0, sum = 0;
    int ch;
    while ((ch = getchar()) != EOF) { bytes++; sum += ch; if (ch == '\n') lines++; }
    printf("count: %ld lines %ld bytes sum %ld\n", lines, bytes, sum);
    return 2;
}

static int spawn_mode(const char *self) {
    pid_t pid;
    char *argv[] = {(char *)self, "gen", 0};
    char *envp[] = {0};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int p[2];
    pipe(p);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    fflush(stdout);
    int r = posix_spawn(&pid, self, &fa, 0, argv, envp);
    printf("posix_spawn: %d\n", r);
    close(p[1]);
    char buf[4096];
    long n, total = 0;
    while ((n = read(p[0], buf, sizeof buf)) > 0) total += n;
    printf("read %ld bytes from the spawned program\n", total);
    int st;
    printf("waited: %d\n", waitpid(pid, &st, 0) == pid);
    show("spawned", st);
    r = posix_spawn(&pid, "/no/such/program", 0, 0, argv, envp);
    printf("posix_spawn of nothing: %s\n", en(r));
    return 0;
}

static int shell_mode(void) {
    /* no /bin/sh on the chip: system() and popen() fail cleanly (the host build is run with
       a PATH-less environment and an absent shell path is not possible there, so only the
       shape is printed) */
    FILE *f = popen("echo hi", "r");
    char buf[64] = {0};
    if (f) {
        fgets(buf, sizeof buf, f);
        int st = pclose(f);
        printf("popen: ran, exit %d\n", WEXITSTATUS(st));
    } else {
        printf("popen: refused\n");
    }
    int st = system("exit 3");
    printf("system: %s\n", st == -1 ? "refused" : WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "no shell" : "ran");
    return 0;
}

/* a parent too big for two copies on its cluster (tiny: 1 MiB): the child goes elsewhere */
static int big_mode(void) {
    static unsigned char data[600 * 1024];
    for (int i = 0; i < (int)sizeof data; i++) data[i] = (unsigned char)(i * 31 + 7);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        long sum = 0;
        for (int i = 0; i < (int)sizeof data; i++) sum += data[i];
        data[0] = 99;  /* its own copy */
        printf("child: sum %ld\n", sum);
        exit(sum % 200);
    }
    int st;
    waitpid(c, &st, 0);
    show("big child", st);
    printf("parent's copy untouched: %d\n", data[0]);
    return 0;
}

/* a child reads its parent's standard input, from where the parent stopped */
static int stdin_mode(void) {
    char a[6] = {0}, b[64] = {0};
    int n = read(0, a, 5);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int m = 0, r;
        while ((r = read(0, b + m, sizeof b - 1 - m)) > 0) m += r;
        printf("child read %d: %s", m, b);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("parent read %d: %s; then %zd\n", n, a, read(0, b, 1));
    return 0;
}

/* a child shares its parent's open file (one offset); its close leaves the parent's open */
static int files_mode(void) {
    char path[] = "/tmp/forkXXXXXX";
    int fd = mkstemp(path);
    unlink(path);  /* lives on while open */
    write(fd, "a", 1);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) { write(fd, "b", 1); close(fd); _exit(0); }
    int st;
    waitpid(c, &st, 0);
    write(fd, "c", 1);
    char buf[8] = {0};
    lseek(fd, 0, SEEK_SET);
    printf("read back: %zd %s\n", read(fd, buf, sizeof buf - 1), buf);
    return 0;
}

/* a child that sleeps (the host may move it meanwhile) and then talks */
static int sleeper_mode(void) {
    pid_t me = getpid();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        usleep(20000);
        printf("child: parent still %d\n", getppid() == me);
        _exit(3);
    }
    int st;
    waitpid(c, &st, 0);
    show("sleeper", st);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "status";
    if (!strcmp(mode, "status")) return status_mode();
    if (!strcmp(mode, "chain")) return chain_mode();
    if (!strcmp(mode, "ppid")) return ppid_mode();
    if (!strcmp(mode, "pipe")) return pipe_mode();
    if (!strcmp(mode, "epipe")) return epipe_mode();
    if (!strcmp(mode, "errors")) return errors_mode();
    if (!strcmp(mode, "exec")) return exec_mode(argv[0]);
    if (!strcmp(mode, "echo")) return echo_mode(argc, argv);
    if (!strcmp(mode, "pipeline")) return pipeline_mode(argv[0]);
    if (!strcmp(mode, "gen")) return gen_mode();
    if (!strcmp(mode, "upper")) return upper_mode();
    if (!strcmp(mode, "count")) return count_mode();
    if (!strcmp(mode, "spawn")) return spawn_mode(argv[0]);
    if (!strcmp(mode, "shell")) return shell_mode();
    if (!strcmp(mode, "big")) return big_mode();
    if (!strcmp(mode, "stdin")) return stdin_mode();
    if (!strcmp(mode, "files")) return files_mode();
    if (!strcmp(mode, "sleeper")) return sleeper_mode();
    return 1;
}

/* A program started by shoal_spawn runs as its spawner's user, never as root unless the
 * spawner is (Linux: a child keeps its parent's credentials through fork and execve).
 * usage: spawn_ids (prints its ids, spawns "spawn_ids child FILE" on clusters 0 and 1, prints
 * what each wrote) */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef __riscv
#include "shoal.h"
#else  /* the host build: fork and exec, whose child keeps the ids as Linux's does */
#include <sys/wait.h>
static int shoal_spawn(const char *file, char *const argv[], int cluster) {
    (void)file, (void)cluster;
    int pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}
static int shoal_wait(int pid, int *st) { return waitpid(pid, st, 0); }
#endif

static void ids(FILE *f, const char *who) {
    fprintf(f, "%s uid %d euid %d gid %d egid %d\n", who, (int)getuid(), (int)geteuid(), (int)getgid(),
            (int)getegid());
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "child")) {  /* its line to a file its spawner prints */
        FILE *f = fopen(argv[2], "w");
        if (!f) return 2;
        ids(f, "child");
        return fclose(f) != 0;
    }
    ids(stdout, "parent");
    for (int c = 0; c < 2; c++) {
        char path[64], line[128] = "";
        snprintf(path, sizeof path, "/tmp/spawn_ids.%d.%d", (int)getpid(), c);
        char *args[] = {"spawn_ids", "child", path, NULL};
        int pid = shoal_spawn("spawn_ids", args, c), st = -1;
        if (pid <= 0 || shoal_wait(pid, &st) != pid) return 1;
        FILE *f = fopen(path, "r");
        if (!f || !fgets(line, sizeof line, f)) return 3;
        fputs(line, stdout);
        fclose(f);
        unlink(path);
    }
    return 0;
}

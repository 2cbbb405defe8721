/* The environment (issue 22): every entry in order, then getenv, setenv and a child that
   inherits it (fork, exec of itself). The host build's output is the reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    int n = 0;
    for (char **e = environ; *e; e++, n++)
        if (strncmp(*e, "SHOAL_MPI_", 10)) printf("env[%d] = %s\n", n, *e);
    printf("%d entries\n", n);
    const char *g = getenv("GREETING");
    printf("GREETING: %s\n", g ? g : "(unset)");
    if (argc > 1 && !strcmp(argv[1], "child")) return 0;
    setenv("ADDED", "by setenv", 1);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        execl(argv[0], argv[0], "child", (char *)0);
        _exit(9);
    }
    int st;
    waitpid(c, &st, 0);
    printf("child exited %d\n", WEXITSTATUS(st));
    return 0;
}

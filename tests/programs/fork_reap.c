/* Forks N children one after another and reaps each (fork_reap N): child i exits with i % 7,
   and every fifth one kills itself with SIGKILL; a double fork every tenth, whose grandchild
   ends as an orphan. What the parent saw is printed: the host's memory for the records of
   all these must stay bounded (kernel/records.py, daemons/procman.py). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    long codes = 0, killed = 0;
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            perror("fork");
            return 1;
        }
        if (c == 0) {
            if (i % 10 == 9 && fork() == 0)
                _exit(0);  /* the grandchild: its parent is gone by the time it ends, or not */
            if (i % 5 == 4)
                raise(SIGKILL);
            _exit(i % 7);
        }
        int st;
        if (waitpid(c, &st, 0) != c) {
            perror("waitpid");
            return 1;
        }
        if (WIFEXITED(st))
            codes += WEXITSTATUS(st);
        else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
            killed++;
    }
    while (wait(NULL) > 0) {}  /* (none: grandchildren are not ours) */
    printf("children %d exit codes %ld killed %ld\n", n, codes, killed);
    return 0;
}

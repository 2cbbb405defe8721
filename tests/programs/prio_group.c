/* getpriority/setpriority with PRIO_PGRP (issue 22): a parent and its forked child, first in
   one process group, then the child in its own; with argv[1] "apart" the parent first fills
   most of its cluster so that the child is placed on another one. Only raises of the nice
   value (no privilege needed). The host build's output is the reference; with argv[2] "user"
   also PRIO_USER for the caller's user (on the chip only). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned char ballast[600 * 1024];

static void show(const char *what, int r) {
    printf("%s: %d %s\n", what, r, r == -1 ? (errno == ESRCH ? "ESRCH" : errno == EINVAL ? "EINVAL" : "?") : "");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    setpgid(0, 0);  /* a group of its own: natively, the runner's group is not reniced */
    if (argc > 1 && !strcmp(argv[1], "apart"))
        for (int i = 0; i < (int)sizeof ballast; i += 4096) ballast[i] = 1;
    int go[2], back[2];
    pipe(go); pipe(back);
    pid_t c = fork();
    char ch;
    if (c == 0) {
        read(go[0], &ch, 1);
        setpgid(0, 0);
        write(back[1], "b", 1);
        for (;;) pause();
    }
    errno = 0;
    show("set group 0 to 5", setpriority(PRIO_PGRP, 0, 5));
    show("child's", getpriority(PRIO_PROCESS, c));
    show("mine", getpriority(PRIO_PROCESS, 0));
    show("group 0", getpriority(PRIO_PGRP, 0));
    show("group by its id", getpriority(PRIO_PGRP, getpgrp()));
    write(go[1], "g", 1);
    read(back[0], &ch, 1);
    show("set the child's group to 9", setpriority(PRIO_PGRP, c, 9));
    show("child's", getpriority(PRIO_PROCESS, c));
    show("mine", getpriority(PRIO_PROCESS, 0));
    show("child's group", getpriority(PRIO_PGRP, c));
    errno = 0;
    show("no such group", getpriority(PRIO_PGRP, 999999));
    show("set no such group", setpriority(PRIO_PGRP, 999999, 10));
    show("negative group", getpriority(PRIO_PGRP, -3));
    show("bad which", getpriority(7, 0));
    show("a user with no process", getpriority(PRIO_USER, 54321));
    show("set a user with no process", setpriority(PRIO_USER, 54321, 12));
    if (argc > 2 && !strcmp(argv[2], "user")) {  /* (on the chip only: natively it renices the host's) */
        show("set my user to 11", setpriority(PRIO_USER, 0, 11));
        show("child's", getpriority(PRIO_PROCESS, c));
        show("mine", getpriority(PRIO_PROCESS, 0));
        show("my user", getpriority(PRIO_USER, 0));
        show("my user by its id", getpriority(PRIO_USER, getuid()));
    }
    kill(c, SIGKILL);
    int st;
    waitpid(c, &st, 0);
    printf("child killed by %d\n", WTERMSIG(st));
    return 0;
}

/* Process groups and sessions (tests/test_fork.py): relations only (the host's own group and
   session numbers come from whoever started it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t me = getpid(), grp = getpgid(0), sess = getsid(0);
    printf("getpgid(0) == getpgrp(): %d\n", grp == getpgrp());
    fflush(stdout);  /* (before fork: a pipe's buffer would go to both) */
    pid_t kid = fork();
    if (kid == 0) {
        int ok = getpgid(0) == grp && getsid(0) == sess;
        int r = setpgid(0, 0);  /* a group of its own */
        int led = getpgid(0) == getpid();
        errno = 0;
        int s1 = setsid();      /* a group leader cannot start a session */
        int e1 = errno;
        pid_t g = fork();
        if (g == 0) {
            pid_t s = setsid(); /* not a leader: a new session and group */
            _exit(s == getpid() && getsid(0) == getpid() && getpgid(0) == getpid() ? 0 : 1);
        }
        int st;
        waitpid(g, &st, 0);
        printf("child: inherits %d, setpgid %d leads %d, setsid as leader %d %d, grandchild's session %d\n",
               ok, r, led, s1, e1, WEXITSTATUS(st));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(kid, &st, 0);
    errno = 0;
    int r = setpgid(kid, kid);  /* it has ended: no such process any more */
    printf("setpgid of a reaped child %d %d\n", r, errno);
    errno = 0;
    r = setpgid(0, -1);
    printf("setpgid negative %d %d\n", r, errno);
    errno = 0;
    r = getpgid(99999);
    printf("getpgid unknown %d %d\n", r, errno);
    printf("own group unchanged %d, session unchanged %d, pid %d\n", getpgid(0) == grp, getsid(0) == sess,
           me == getpid());
    return 0;
}

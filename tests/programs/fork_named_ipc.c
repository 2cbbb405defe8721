/* A fork's child inherits its parent's named semaphores and message queue descriptors, as
   on Linux: it posts, waits and sends through them, also through ones unlinked before the
   fork, and its closes leave the parent's open (Open POSIX fork/14-1, fork/21-1).
   argv[1]: KiB the parent touches before the fork (enough to put the child on another
   cluster of a small chip). The host build's output is the reference. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char na[64], nb[64], nc[64], nq[64];

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int kib = argc > 1 ? atoi(argv[1]) : 0;
    char *big = kib ? malloc((size_t)kib * 1024) : NULL;
    if (big) memset(big, 1, (size_t)kib * 1024);
    snprintf(na, sizeof na, "/fni-a-%d", (int)getpid());
    snprintf(nb, sizeof nb, "/fni-b-%d", (int)getpid());
    snprintf(nc, sizeof nc, "/fni-c-%d", (int)getpid());
    snprintf(nq, sizeof nq, "/fni-q-%d", (int)getpid());
    sem_t *a = sem_open(na, O_CREAT | O_EXCL, 0600, 0);
    sem_t *b = sem_open(nb, O_CREAT | O_EXCL, 0600, 0);
    sem_t *c = sem_open(nc, O_CREAT | O_EXCL, 0600, 0);
    struct mq_attr at = {0, 4, 32, 0};
    mqd_t q = mq_open(nq, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
    if (a == SEM_FAILED || b == SEM_FAILED || c == SEM_FAILED || q == (mqd_t)-1) {
        printf("open failed: %s\n", strerror(errno));
        return 1;
    }
    sem_unlink(nb);  /* b and q live on for their holders only */
    mq_unlink(nq);
    mq_send(q, "before", 7, 1);
    pid_t pid = fork();
    if (pid == 0) {
        char buf[32];
        int ok = sem_post(b) == 0;
        printf("child: post b %s\n", ok ? "ok" : strerror(errno));
        ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
        printf("child: received %zd '%s'\n", n, n > 0 ? buf : strerror(errno));
        sem_post(a);  /* the parent waits for it */
        int w = sem_wait(c);  /* asleep until the parent posts it */
        printf("child: waited on c: %d\n", w);
        if (mq_send(q, "from child", 11, 2) != 0) printf("child: send %s\n", strerror(errno));
        int ca = sem_close(a), cb = sem_close(b);
        int cq = mq_close(q);
        errno = 0;
        sem_t *again = sem_open(nb, 0);
        printf("child: closes %d %d %d, sem_open of the unlinked name: %s\n", ca, cb, cq,
               again == SEM_FAILED ? strerror(errno) : "opened");
        _exit(ok ? 0 : 3);
    }
    int v = -1;
    char buf[32];
    int w = sem_wait(a);
    sem_getvalue(b, &v);
    printf("parent: waited on a: %d, b's value %d\n", w, v);
    sem_post(c);
    ssize_t n = mq_receive(q, buf, sizeof buf, NULL);  /* asleep until the child sends */
    int st;
    waitpid(pid, &st, 0);
    printf("parent: received %zd '%s'\n", n, n > 0 ? buf : strerror(errno));
    printf("parent: child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    /* the child's closes left the parent's handles open */
    int first = sem_trywait(b);
    errno = 0;
    int second = sem_trywait(b);
    printf("parent: trywait b %d, again %d (%s)\n", first, second, strerror(errno));
    int post = sem_post(a);
    printf("parent: post a %d, send %d\n", post, mq_send(q, "still", 6, 0));
    int ca = sem_close(a), cb = sem_close(b), cc = sem_close(c);
    printf("parent: closes %d %d %d %d\n", ca, cb, cc, mq_close(q));
    sem_unlink(na);
    sem_unlink(nc);
    free(big);
    return 0;
}

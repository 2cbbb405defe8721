/* POSIX message queues and named semaphores of root opened by a user that is not root
 * (issue 22, part 5; mq_open(3), sem_open(3), mq_overview(7)): an existing one opens only as
 * its mode allows (EACCES), only its owner unlinks it (the names' directory is sticky: EPERM),
 * a new one is the user's. Root makes them, forks a child that gives up root (uid/gid 1000),
 * then removes them. usage: posixipcperm TAG (names end with TAG: the host build's pid) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char n_ro[64], n_none[64], n_sro[64], n_srw[64], n_mine[64], n_smine[64];

static void say(const char *what, long r) {
    printf("%s %d\n", what, r < 0 ? -errno : 0);
}

static void say_mq(const char *what, mqd_t q) {
    say(what, q == (mqd_t)-1 ? -1 : 0);
    if (q != (mqd_t)-1) mq_close(q);
}

static void say_sem(const char *what, sem_t *s) {
    say(what, s == SEM_FAILED ? -1 : 0);
    if (s != SEM_FAILED) sem_close(s);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    snprintf(n_ro, sizeof n_ro, "/pq_ro_%s", argv[1]);
    snprintf(n_none, sizeof n_none, "/pq_none_%s", argv[1]);
    snprintf(n_sro, sizeof n_sro, "/ps_ro_%s", argv[1]);
    snprintf(n_srw, sizeof n_srw, "/ps_rw_%s", argv[1]);
    snprintf(n_mine, sizeof n_mine, "/pq_mine_%s", argv[1]);
    snprintf(n_smine, sizeof n_smine, "/ps_mine_%s", argv[1]);
    umask(0);
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 32};
    mqd_t a = mq_open(n_ro, O_CREAT | O_EXCL | O_RDWR, 0644, &attr);
    mqd_t b = mq_open(n_none, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    sem_t *c = sem_open(n_sro, O_CREAT | O_EXCL, 0644, 1);
    sem_t *d = sem_open(n_srw, O_CREAT | O_EXCL, 0666, 1);
    if (a == (mqd_t)-1 || b == (mqd_t)-1 || c == SEM_FAILED || d == SEM_FAILED) {
        printf("make %d\n", -errno);
        return 3;
    }
    mq_close(a);
    mq_close(b);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) _exit(4);
        umask(022);
        say_mq("mq_open ro rdonly", mq_open(n_ro, O_RDONLY));
        say_mq("mq_open ro wronly", mq_open(n_ro, O_WRONLY));
        say_mq("mq_open ro rdwr", mq_open(n_ro, O_RDWR));
        say_mq("mq_open ro creat wronly", mq_open(n_ro, O_CREAT | O_WRONLY, 0666, &attr));
        say_mq("mq_open ro creat excl", mq_open(n_ro, O_CREAT | O_EXCL | O_RDONLY, 0666, &attr));
        say_mq("mq_open none rdonly", mq_open(n_none, O_RDONLY));
        say("mq_unlink ro", mq_unlink(n_ro));
        say_mq("mq_open mine", mq_open(n_mine, O_CREAT | O_EXCL | O_RDWR, 0666, &attr));
        say_mq("mq_open mine again", mq_open(n_mine, O_RDWR));
        say("mq_unlink mine", mq_unlink(n_mine));
        say_sem("sem_open ro", sem_open(n_sro, 0));
        say_sem("sem_open rw", sem_open(n_srw, 0));
        say_sem("sem_open ro creat", sem_open(n_sro, O_CREAT, 0600, 0));
        say("sem_unlink rw", sem_unlink(n_srw));
        say_sem("sem_open mine", sem_open(n_smine, O_CREAT | O_EXCL, 0600, 0));
        say("sem_unlink mine", sem_unlink(n_smine));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(child, &st, 0);
    printf("child %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    /* root may open and unlink whatever the modes say */
    say_mq("root mq_open none", mq_open(n_none, O_RDWR));
    int gone = mq_unlink(n_ro) | mq_unlink(n_none) | sem_unlink(n_sro) | sem_unlink(n_srw);
    printf("root removed all %d\n", gone);
    return 0;
}

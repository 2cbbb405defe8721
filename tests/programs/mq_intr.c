/* Waits at the IPC daemon cut short by a caught signal (issue 22): mq_receive and mq_send
   restart under SA_RESTART and give EINTR without it, and so does sem_wait (as glibc's, over
   a restarted futex wait). The host build's output is the reference. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int got;
static void on_alrm(int s) { got++; (void)s; }

static void handler(int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    sa.sa_flags = flags;
    sigaction(SIGALRM, &sa, NULL);
}

static void in_ms(int ms) {
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char name[64], buf[64];
    snprintf(name, sizeof name, "/shoal-intr-%d", (int)getpid());
    struct mq_attr at = {0, 1, 32, 0};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
    if (q == (mqd_t)-1) { printf("mq_open failed %d\n", errno); return 1; }

    handler(0);
    in_ms(10);
    errno = 0;
    ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
    printf("receive without SA_RESTART: %zd EINTR %d, handler ran %d\n", n, errno == EINTR, got);

    got = 0;
    handler(SA_RESTART);
    pid_t c = fork();
    if (c == 0) {
        usleep(30000);
        mq_send(q, "after", 6, 0);
        _exit(0);
    }
    in_ms(10);
    errno = 0;
    n = mq_receive(q, buf, sizeof buf, NULL);
    printf("receive with SA_RESTART: %zd '%s', handler ran %d\n", n, n > 0 ? buf : "", got);
    waitpid(c, NULL, 0);

    mq_send(q, "full", 5, 0);  /* one message fills it */
    got = 0;
    handler(0);
    in_ms(10);
    errno = 0;
    int r = mq_send(q, "more", 5, 0);
    printf("send to a full queue without SA_RESTART: %d EINTR %d, handler ran %d\n", r, errno == EINTR, got);

    got = 0;
    handler(SA_RESTART);
    c = fork();
    if (c == 0) {
        usleep(30000);
        mq_receive(q, buf, sizeof buf, NULL);
        _exit(0);
    }
    in_ms(10);
    r = mq_send(q, "more", 5, 0);
    printf("send with SA_RESTART: %d, handler ran %d\n", r, got);
    waitpid(c, NULL, 0);
    mq_receive(q, buf, sizeof buf, NULL);
    printf("then received '%s'\n", buf);
    mq_close(q);
    mq_unlink(name);

    snprintf(name, sizeof name, "/shoal-intr-sem-%d", (int)getpid());
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    got = 0;
    handler(0);
    in_ms(10);
    errno = 0;
    r = sem_wait(s);
    printf("sem_wait without SA_RESTART: %d EINTR %d, handler ran %d\n", r, errno == EINTR, got);
    got = 0;
    handler(SA_RESTART);
    c = fork();
    if (c == 0) {
        usleep(30000);
        sem_post(sem_open(name, 0));  /* (its own handle: shoal's are per process) */
        _exit(0);
    }
    in_ms(10);
    r = sem_wait(s);
    waitpid(c, NULL, 0);
    printf("sem_wait with SA_RESTART: %d, handler ran %d\n", r, got);
    sem_close(s);
    sem_unlink(name);
    return 0;
}

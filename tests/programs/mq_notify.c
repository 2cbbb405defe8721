/* mq_notify: a process registered on an empty queue gets its signal (SI_MESGQ, its value)
 * when a message comes, once; a second registration is EBUSY; SIGEV_NONE registers and
 * sends nothing; a null sigevent removes it; a receiver that waits takes the message and no
 * signal is sent; a forked sender on another process sends the message that notifies.
 * The host build's output is the reference. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int hits, code, val, from;

static void on_usr1(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    hits++;
    code = si->si_code;
    val = si->si_value.sival_int;
    from = si->si_pid;
}

static void nap_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    char name[32];
    snprintf(name, sizeof name, "/mqn-%d", (int)getpid());
    struct mq_attr at = {.mq_maxmsg = 4, .mq_msgsize = 16};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
    if (q == (mqd_t)-1) { perror("mq_open"); return 1; }
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 77;
    printf("register: %d\n", mq_notify(q, &ev));
    errno = 0;
    int r = mq_notify(q, &ev);
    printf("again: %d EBUSY %d\n", r, errno == EBUSY);
    pid_t c = fork();
    if (c == 0) {  /* another process sends the message */
        mq_send(q, "hello", 5, 1);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    nap_ms(5);
    printf("notified: hits %d code SI_MESGQ %d value %d from the sender %d\n", hits, code == SI_MESGQ,
           val, from == c);
    char buf[16];
    mq_receive(q, buf, sizeof buf, NULL);
    mq_send(q, "again", 5, 1);  /* no registration now: nothing */
    nap_ms(5);
    printf("once: hits %d\n", hits);
    mq_receive(q, buf, sizeof buf, NULL);
    ev.sigev_notify = SIGEV_NONE;
    printf("none: %d\n", mq_notify(q, &ev));
    mq_send(q, "quiet", 5, 1);
    nap_ms(5);
    printf("none sent nothing: hits %d\n", hits);
    mq_receive(q, buf, sizeof buf, NULL);
    ev.sigev_notify = SIGEV_SIGNAL;
    printf("register after it fired: %d\n", mq_notify(q, &ev));
    printf("remove: %d\n", mq_notify(q, NULL));
    mq_send(q, "gone", 4, 1);
    nap_ms(5);
    printf("removed sent nothing: hits %d\n", hits);
    mq_receive(q, buf, sizeof buf, NULL);
    errno = 0;
    ev.sigev_signo = 65;
    r = mq_notify(q, &ev);
    printf("signal 65: %d EINVAL %d\n", r, errno == EINVAL);
    ev.sigev_signo = 0;  /* (the null signal: registered, nothing sent) */
    r = mq_notify(q, &ev);
    printf("signal 0: %d\n", r);
    mq_send(q, "null", 4, 1);
    nap_ms(5);
    printf("null signal sent nothing: hits %d\n", hits);
    errno = 0;
    r = mq_notify((mqd_t)99, NULL);
    printf("bad fd: %d EBADF %d\n", r, errno == EBADF);
    mq_close(q);
    mq_unlink(name);
    return 0;
}

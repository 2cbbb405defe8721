/* A thread's scheduling policy and priority, by thread id (kernel/calls/prio.py): the sched_*
 * calls take any thread's id; a real-time policy is granted to root, kept per thread, reported
 * back, inherited by new threads and by fork (not past SCHED_RESET_ON_FORK). Compared byte for
 * byte with the host gcc build (run as root). Modes: "root", "user" (after setresuid), "exec"
 * (the policy survives execve), "mig N" (shoal only: it travels with a migration). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

static void show(const char *what, long rc) {
    printf("%s = %ld errno %d\n", what, rc, rc < 0 ? errno : 0);
    errno = 0;
}

/* The calling thread's, by the raw calls (glibc's pthread_getschedparam answers from a cache
 * that a raw sched_setscheduler does not update; musl's asks the kernel). */
static void mine(const char *who) {
    struct sched_param sp = {.sched_priority = -7};
    long pol = syscall(SYS_sched_getscheduler, (int)syscall(SYS_gettid));
    long rc = syscall(SYS_sched_getparam, (int)syscall(SYS_gettid), &sp);
    printf("%s: rc %ld policy %ld priority %d\n", who, rc, pol, sp.sched_priority);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go, tid_of_waiter;

static void *waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    tid_of_waiter = (int)syscall(SYS_gettid);
    pthread_cond_broadcast(&cv);
    while (!go) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    mine("waiter at the end");
    return NULL;
}

static void *reporter(void *arg) {
    mine((const char *)arg);
    return NULL;
}

static void spawn_and_join(pthread_attr_t *attr, const char *who) {
    pthread_t th;
    int rc = pthread_create(&th, attr, reporter, (void *)who);
    if (rc == 0) pthread_join(th, NULL);
    printf("create %s rc %d\n", who, rc);
}

static void as_root(void) {
    pthread_t th;
    pthread_create(&th, NULL, waiter, NULL);
    pthread_mutex_lock(&mu);
    while (!tid_of_waiter) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    int pol = -1, tid = tid_of_waiter;
    struct sched_param sp = {.sched_priority = -7}, ten = {10}, zero = {0}, big = {100};
    printf("getschedparam(other) rc %d", pthread_getschedparam(th, &pol, &sp));
    printf(" policy %d priority %d\n", pol, sp.sched_priority);
    show("getscheduler(tid)", syscall(SYS_sched_getscheduler, tid));
    printf("setschedparam(other, FIFO 10) rc %d\n", pthread_setschedparam(th, SCHED_FIFO, &ten));
    printf("getschedparam(other) rc %d", pthread_getschedparam(th, &pol, &sp));
    printf(" policy %d priority %d\n", pol, sp.sched_priority);
    show("getscheduler(tid)", syscall(SYS_sched_getscheduler, tid));
    show("getparam(tid)", syscall(SYS_sched_getparam, tid, &sp));
    printf("  priority %d\n", sp.sched_priority);
    show("getscheduler(pid) still", syscall(SYS_sched_getscheduler, getpid()));
    printf("setschedprio(other, 20) rc %d\n", pthread_setschedprio(th, 20));
    printf("getschedparam(other) rc %d", pthread_getschedparam(th, &pol, &sp));
    printf(" policy %d priority %d\n", pol, sp.sched_priority);
    show("setparam(tid, 30)", syscall(SYS_sched_setparam, tid, &(struct sched_param){30}));
    show("getparam(tid)", syscall(SYS_sched_getparam, tid, &sp));
    printf("  priority %d\n", sp.sched_priority);
    show("setparam(tid, 0) on FIFO", syscall(SYS_sched_setparam, tid, &zero));
    show("setscheduler(tid, RR 100)", syscall(SYS_sched_setscheduler, tid, SCHED_RR, &big));
    show("setscheduler(tid, FIFO 0)", syscall(SYS_sched_setscheduler, tid, SCHED_FIFO, &zero));
    show("setscheduler(tid, BATCH 0)", syscall(SYS_sched_setscheduler, tid, SCHED_BATCH, &zero));
    show("getscheduler(tid)", syscall(SYS_sched_getscheduler, tid));
    show("setscheduler(tid, IDLE 0)", syscall(SYS_sched_setscheduler, tid, SCHED_IDLE, &zero));
    show("getscheduler(tid)", syscall(SYS_sched_getscheduler, tid));
    pthread_mutex_lock(&mu);
    go = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(th, NULL);
    show("getscheduler(missing tid)", syscall(SYS_sched_getscheduler, 999999));
    show("getparam(missing tid)", syscall(SYS_sched_getparam, 999999, &sp));

    /* explicit attributes, then inherited from a real-time creator */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&a, SCHED_RR);
    pthread_attr_setschedparam(&a, &(struct sched_param){5});
    spawn_and_join(&a, "explicit RR 5");
    pthread_attr_setschedpolicy(&a, SCHED_OTHER);
    pthread_attr_setschedparam(&a, &zero);
    spawn_and_join(&a, "explicit OTHER");
    printf("setschedparam(self, FIFO 7) rc %d\n", pthread_setschedparam(pthread_self(), SCHED_FIFO,
                                                                        &(struct sched_param){7}));
    spawn_and_join(NULL, "inherited");
    mine("main");

    /* fork: the child's thread has the caller's policy, unless SCHED_RESET_ON_FORK */
    pid_t c = fork();
    if (c == 0) {
        show("child getscheduler", syscall(SYS_sched_getscheduler, 0));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    show("setscheduler(self, FIFO|RESET 7)",
         syscall(SYS_sched_setscheduler, 0, SCHED_FIFO | SCHED_RESET_ON_FORK, &(struct sched_param){7}));
    show("getscheduler(self)", syscall(SYS_sched_getscheduler, 0));
    c = fork();
    if (c == 0) {
        show("reset child getscheduler", syscall(SYS_sched_getscheduler, 0));
        show("reset child getparam", syscall(SYS_sched_getparam, 0, &sp));
        printf("  priority %d\n", sp.sched_priority);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    show("back to OTHER", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &zero));
    mine("main");
}

static void as_user(void) {
    struct sched_param zero = {0}, one = {1};
    show("setscheduler(self, BATCH) root", syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &zero));
    show("setscheduler(self, OTHER|RESET) root",
         syscall(SYS_sched_setscheduler, 0, SCHED_OTHER | SCHED_RESET_ON_FORK, &zero));
    int fds[2];
    char ch;
    pipe(fds);
    pid_t c = fork();
    if (c == 0) {  /* stays root until told */
        read(fds[0], &ch, 1);
        _exit(0);
    }
    show("setresuid", setresuid(1000, 1000, 1000));
    show("setscheduler(root's child, OTHER)", syscall(SYS_sched_setscheduler, c, SCHED_OTHER, &zero));
    show("getscheduler(root's child)", syscall(SYS_sched_getscheduler, c));
    write(fds[1], "x", 1);
    waitpid(c, NULL, 0);
    show("getscheduler(self)", syscall(SYS_sched_getscheduler, 0));
    show("setscheduler(self, FIFO 1)", syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &one));
    show("setscheduler(self, OTHER) drops RESET", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &zero));
    show("setscheduler(self, IDLE|RESET)",
         syscall(SYS_sched_setscheduler, 0, SCHED_IDLE | SCHED_RESET_ON_FORK, &zero));
    show("setscheduler(self, BATCH|RESET) leaves IDLE",
         syscall(SYS_sched_setscheduler, 0, SCHED_BATCH | SCHED_RESET_ON_FORK, &zero));
    show("getscheduler(self)", syscall(SYS_sched_getscheduler, 0));
    show("setscheduler(missing)", syscall(SYS_sched_setscheduler, 999999, SCHED_OTHER, &zero));
    show("getscheduler(missing)", syscall(SYS_sched_getscheduler, 999999));
}

#ifdef __riscv
#include <shoal.h>
#endif

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "root";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "user")) {
        as_user();
        return 0;
    }
    if (!strcmp(mode, "exec")) {
        struct sched_param sp = {12};
        syscall(SYS_sched_setscheduler, 0, SCHED_RR, &sp);
        execl(argv[0], argv[0], "show", (char *)0);
        return 1;
    }
    if (!strcmp(mode, "show")) {
        mine("after exec");
        return 0;
    }
#ifdef __riscv
    if (!strcmp(mode, "mig")) {
        syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &(struct sched_param){33});
        if (shoal_migrate(argc > 2 ? argv[2][0] - '0' : 1) != 0) return 1;
        printf("on %d ", shoal_cluster());
        mine("migrated");
        return 0;
    }
#endif
    as_root();
    return 0;
}

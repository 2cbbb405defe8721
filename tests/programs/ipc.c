/* POSIX message queues and named semaphores between processes (on shoal: on different
 * clusters, through the IPC daemon of I/O cluster 0). Stock C: it builds natively too.
 *   ipc producer NAME BATCHES   sends BATCHES batches of 8 messages of mixed priorities
 *   ipc consumer NAME BATCHES   receives them (highest priority first), acknowledges each batch
 *   ipc counter N               N increments of a counter in the file `counter` under /lock
 *   ipc errors                  the errno of every misuse, and timeouts
 *   ipc unnamed                 an unnamed semaphore (sem_init) between two threads */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x) do { if ((long)(x) < 0) { printf("FAILED %s: errno %d (line %d)\n", #x, errno, __LINE__); exit(1); } } while (0)
#define ERR(name, call) do { errno = 0; long r_ = (long)(call); printf("%s %ld\n", name, r_ < 0 ? -(long)errno : r_); } while (0)
#define BATCH 8

static void names(const char *base, char *q, char *ack) {
    sprintf(q, "/%s", base);
    sprintf(ack, "/%s-ack", base);
}

static mqd_t open_q(const char *name, int flags) {
    struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = 64};
    mqd_t q = mq_open(name, flags | O_CREAT, 0600, &attr);
    CHECK(q);
    return q;
}

static int producer(const char *base, int batches) {
    char qn[64], an[64];
    names(base, qn, an);
    mqd_t q = open_q(qn, O_WRONLY), ack = open_q(an, O_RDONLY);
    for (int b = 0; b < batches; b++) {
        for (int m = 0; m < BATCH; m++) {
            char msg[64];
            unsigned prio = (unsigned)(m * 5 + b) % 4;
            int n = snprintf(msg, sizeof msg, "batch %d message %d", b, m);
            CHECK(mq_send(q, msg, n + 1, prio));
        }
        char buf[64];
        CHECK(mq_receive(ack, buf, sizeof buf, NULL));
    }
    CHECK(mq_close(q));
    CHECK(mq_close(ack));
    printf("producer sent %d\n", batches * BATCH);
    return 0;
}

static int consumer(const char *base, int batches) {
    char qn[64], an[64];
    names(base, qn, an);
    mqd_t q = open_q(qn, O_RDONLY), ack = open_q(an, O_WRONLY);
    for (int b = 0; b < batches; b++) {
        /* the whole batch is queued before any is taken: wait until it is */
        struct mq_attr attr;
        do {
            CHECK(mq_getattr(q, &attr));
            if (attr.mq_curmsgs < BATCH) usleep(200);
        } while (attr.mq_curmsgs < BATCH);
        for (int m = 0; m < BATCH; m++) {
            char buf[64];
            unsigned prio;
            CHECK(mq_receive(q, buf, sizeof buf, &prio));
            printf("%u %s\n", prio, buf);
        }
        CHECK(mq_send(ack, "ok", 3, 0));
    }
    CHECK(mq_close(q));
    CHECK(mq_close(ack));
    CHECK(mq_unlink(qn));
    CHECK(mq_unlink(an));
    return 0;
}

static int counter(int n) {
    sem_t *lock = sem_open("/lock", O_CREAT, 0644, 1);
    if (lock == SEM_FAILED) { printf("sem_open: errno %d\n", errno); return 1; }
    sem_t *again = sem_open("/lock", 0);
    if (again != lock) { printf("a second sem_open gave another sem_t\n"); return 1; }
    CHECK(sem_close(again));
    int fd = open("counter", O_RDWR | O_CREAT, 0644);
    CHECK(fd);
    for (int i = 0; i < n; i++) {
        CHECK(sem_wait(lock));
        int v = 0;
        CHECK(pread(fd, &v, sizeof v, 0));
        v++;
        CHECK(pwrite(fd, &v, sizeof v, 0));
        CHECK(sem_post(lock));
    }
    close(fd);
    CHECK(sem_close(lock));
    printf("counted %d\n", n);
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct timespec in(double s) {
    double t = now() + s;
    struct timespec ts = {(time_t)t, (long)((t - (time_t)t) * 1e9)};
    return ts;
}

static int errors(void) {
    struct mq_attr attr = {.mq_maxmsg = 2, .mq_msgsize = 16}, got;
    char buf[64];
    unsigned prio;
    mq_unlink("/e1");
    sem_unlink("/s1");
    ERR("mq_open_missing", mq_open("/nobody-here", O_RDONLY));
    mqd_t q = mq_open("/e1", O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    CHECK(q);
    ERR("mq_open_excl_again", mq_open("/e1", O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 16};
    ERR("mq_open_bad_attr", mq_open("/e2", O_RDWR | O_CREAT, 0600, &bad));
    struct mq_attr huge = {.mq_maxmsg = 100000, .mq_msgsize = 16};
    ERR("mq_open_too_many_messages", mq_open("/e2", O_RDWR | O_CREAT, 0600, &huge));
    ERR("mq_open_slash_in_name", mq_open("/a/b", O_RDWR | O_CREAT, 0600, &attr));
    ERR("mq_send_bad_fd", mq_send(99, "x", 1, 0));
    ERR("mq_send_too_long", mq_send(q, buf, 17, 0));
    ERR("mq_send_bad_prio", mq_send(q, "x", 1, 40000));
    ERR("mq_send_1", mq_send(q, "low", 4, 1));
    ERR("mq_send_2", mq_send(q, "high", 5, 7));
    struct timespec soon = in(0.05);
    double t0 = now();
    ERR("mq_timedsend_full", mq_timedsend(q, "x", 2, 0, &soon));
    printf("waited at least 50 ms %d\n", now() - t0 >= 0.049);
    struct timespec badts = {0, 2000000000L};
    ERR("mq_timedsend_bad_timespec", mq_timedsend(q, "x", 2, 0, &badts));
    CHECK(mq_getattr(q, &got));
    printf("attr maxmsg %ld msgsize %ld curmsgs %ld flags %ld\n", got.mq_maxmsg, got.mq_msgsize,
           got.mq_curmsgs, got.mq_flags);
    ERR("mq_receive_small_buffer", mq_receive(q, buf, 8, &prio));
    ERR("mq_receive_first", mq_receive(q, buf, sizeof buf, &prio));
    printf("first '%s' prio %u\n", buf, prio);
    ERR("mq_receive_second", mq_receive(q, buf, sizeof buf, &prio));
    printf("second '%s' prio %u\n", buf, prio);
    soon = in(0.03);
    t0 = now();
    ERR("mq_timedreceive_empty", mq_timedreceive(q, buf, sizeof buf, &prio, &soon));
    printf("waited at least 30 ms %d\n", now() - t0 >= 0.029);
    struct mq_attr nb = {.mq_flags = O_NONBLOCK}, old;
    CHECK(mq_setattr(q, &nb, &old));
    printf("old flags %ld\n", old.mq_flags);
    ERR("mq_receive_nonblock_empty", mq_receive(q, buf, sizeof buf, &prio));
    CHECK(mq_send(q, "a", 2, 0));
    CHECK(mq_send(q, "b", 2, 0));
    ERR("mq_send_nonblock_full", mq_send(q, "c", 2, 0));
    mqd_t ro = mq_open("/e1", O_RDONLY);
    ERR("mq_send_read_only", mq_send(ro, "x", 1, 0));
    mqd_t wo = mq_open("/e1", O_WRONLY);
    ERR("mq_receive_write_only", mq_receive(wo, buf, sizeof buf, &prio));
    ERR("mq_close", mq_close(ro));
    ERR("mq_close_again", mq_close(ro));
    ERR("mq_unlink", mq_unlink("/e1"));
    ERR("mq_unlink_again", mq_unlink("/e1"));
    ERR("mq_receive_after_unlink", mq_receive(q, buf, sizeof buf, &prio));
    mq_close(wo);
    mq_close(q);

    errno = 0;
    sem_t *s = sem_open("/s-missing", 0);
    printf("sem_open_missing %d\n", s == SEM_FAILED ? -errno : 0);
    s = sem_open("/s1", O_CREAT | O_EXCL, 0600, 0);
    if (s == SEM_FAILED) { printf("sem_open: errno %d\n", errno); return 1; }
    errno = 0;
    printf("sem_open_excl_again %d\n", sem_open("/s1", O_CREAT | O_EXCL, 0600, 0) == SEM_FAILED ? -errno : 0);
    errno = 0;
    printf("sem_open_bad_name %d\n", sem_open("/a/b", O_CREAT, 0600, 0) == SEM_FAILED ? -errno : 0);
    errno = 0;
    printf("sem_open_value_too_big %d\n",
           sem_open("/s2", O_CREAT, 0600, 0x80000000u) == SEM_FAILED ? -errno : 0);
    ERR("sem_trywait_zero", sem_trywait(s));
    soon = in(0.04);
    t0 = now();
    ERR("sem_timedwait_zero", sem_timedwait(s, &soon));
    printf("waited at least 40 ms %d\n", now() - t0 >= 0.039);
    ERR("sem_timedwait_bad_timespec", sem_timedwait(s, &badts));
    ERR("sem_post", sem_post(s));
    ERR("sem_post", sem_post(s));
    int v = -1;
    ERR("sem_getvalue", sem_getvalue(s, &v));
    printf("value %d\n", v);
    ERR("sem_trywait", sem_trywait(s));
    ERR("sem_unlink", sem_unlink("/s1"));
    ERR("sem_unlink_again", sem_unlink("/s1"));
    ERR("sem_close", sem_close(s));
    return 0;
}

static sem_t ping, pong;
static int rounds_done;

static void *bouncer(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        sem_wait(&ping);
        rounds_done++;
        sem_post(&pong);
    }
    return NULL;
}

static int unnamed(void) {
    CHECK(sem_init(&ping, 0, 0));
    CHECK(sem_init(&pong, 0, 0));
    pthread_t th;
    pthread_create(&th, NULL, bouncer, NULL);
    for (int i = 0; i < 100; i++) {
        sem_post(&ping);
        sem_wait(&pong);
    }
    pthread_join(th, NULL);
    int v = -1;
    sem_getvalue(&ping, &v);
    printf("unnamed: %d rounds, value %d, trywait %d\n", rounds_done, v, sem_trywait(&ping) < 0 ? errno : 0);
    sem_destroy(&ping);
    sem_destroy(&pong);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "errors";
    if (!strcmp(mode, "producer") && argc > 3) return producer(argv[2], atoi(argv[3]));
    if (!strcmp(mode, "consumer") && argc > 3) return consumer(argv[2], atoi(argv[3]));
    if (!strcmp(mode, "counter")) return counter(argc > 2 ? atoi(argv[2]) : 100);
    if (!strcmp(mode, "errors")) return errors();
    if (!strcmp(mode, "unnamed")) return unnamed();
    return 2;
}

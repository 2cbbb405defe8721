/* Programs for the engine's clock (tests/test_clock.py).
 *   clock sleep N US          N times: read CLOCK_MONOTONIC, print it (us), sleep US
 *   clock compute N           N chunks of arithmetic, printing the clock after each
 *   clock talk N              N requests to the name daemon, printing the clock after each
 *   clock selfmig N CLUSTER   a writer thread sends N messages to the process's own mailbox,
 *                             a reader thread reads them; meanwhile the main thread moves
 *                             the process to CLUSTER; prints what happened
 *   clock stream_server N     read N mailbox messages, print their checksum and the end time
 *   clock stream_client N     send N messages of 120 bytes back to back
 *   clock cat N               copy stdin to stdout, N bytes per read, 100 us apart
 *   clock timedwait MS SLEEP  a futex wait with an MS ms timeout that nobody ends, then a
 *                             nanosleep of SLEEP ms; prints how long each lasted (ms)
 * Clock readings go to stdout as "t <us>"; "BACKWARDS" if one is below the one before. */
#include <pthread.h>
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>

static long long last = -1;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void tick(void) {
    long long t = now_ns();
    printf("t %lld%s\n", t / 1000, t < last ? " BACKWARDS" : "");
    fflush(stdout);
    last = t;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int wait_name(const char *name) {
    int pid;
    while ((pid = shoal_name_lookup(name)) < 0)
        sleep_us(20);
    return pid;
}

static int mbx, nmsg;
static unsigned long long got_sum;
static int got;

static void *writer(void *arg) {
    (void)arg;
    int out = shoal_mailbox_open(getpid(), 1);
    char msg[SHOAL_MAILBOX_SIZE];
    for (int i = 0; i < nmsg; i++) {
        memset(msg, 0, sizeof msg);
        snprintf(msg, sizeof msg, "%d", i);
        int w = shoal_mailbox_write(out, msg, sizeof msg);
        if (w != (int)sizeof msg) {
            printf("write %d failed: %d\n", i, w);
            exit(1);
        }
    }
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    char msg[SHOAL_MAILBOX_SIZE];
    for (int i = 0; i < nmsg; i++) {
        int r = shoal_mailbox_read(mbx, msg, sizeof msg);
        if (r != (int)sizeof msg || atoi(msg) != i) {
            printf("read %d failed: %d '%s'\n", i, r, msg);
            exit(1);
        }
        got_sum += (unsigned long long)atoi(msg);
        got++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1];
    long n = atol(argv[2]);
    if (!strcmp(mode, "sleep")) {
        long us = argc > 3 ? atol(argv[3]) : 1000;
        for (long i = 0; i < n; i++) {
            tick();
            sleep_us(us);
        }
    } else if (!strcmp(mode, "compute")) {
        unsigned long long x = 1;
        for (long i = 0; i < n; i++) {
            for (int j = 0; j < 20000; j++)
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            tick();
        }
        printf("x %llu\n", x);
    } else if (!strcmp(mode, "talk")) {
        for (long i = 0; i < n; i++) {
            if (shoal_name_lookup("nobody") != -2) return 3;
            tick();
        }
    } else if (!strcmp(mode, "selfmig")) {
        int to = argc > 3 ? atoi(argv[3]) : 2;
        nmsg = (int)n;
        mbx = shoal_mailbox_create(1);
        pthread_t w, r;
        pthread_create(&r, NULL, reader, NULL);
        pthread_create(&w, NULL, writer, NULL);
        sleep_us(100);
        int m = shoal_migrate(to);
        int where = shoal_cluster();
        pthread_join(w, NULL);
        pthread_join(r, NULL);
        printf("migrate %d, now on cluster %d, read %d messages, sum %llu\n", m, where, got, got_sum);
    } else if (!strcmp(mode, "stream_server")) {
        int in = shoal_mailbox_create(1);
        shoal_name_link("stream");
        char msg[SHOAL_MAILBOX_SIZE];
        unsigned long long sum = 0;
        for (long i = 0; i < n; i++) {
            int r = shoal_mailbox_read(in, msg, sizeof msg);
            if (r != 120) return 4;
            sum = sum * 31 + (unsigned char)msg[0] + (unsigned char)msg[119];
        }
        printf("stream %ld sum %llu end_us %lld\n", n, sum, now_ns() / 1000);
    } else if (!strcmp(mode, "stream_client")) {
        int out = shoal_mailbox_open(wait_name("stream"), 1);
        char msg[120];
        for (long i = 0; i < n; i++) {
            memset(msg, (int)(i * 7), sizeof msg);
            msg[119] = (char)i;
            if (shoal_mailbox_write(out, msg, sizeof msg) != 120) return 5;
        }
    } else if (!strcmp(mode, "cat")) {
        /* copy stdin to stdout N bytes at a time, sleeping 100 us between reads */
        char buf[256];
        long got;
        if (n < 1 || n > (long)sizeof buf) return 2;
        while ((got = read(0, buf, (size_t)n)) > 0) {
            fwrite(buf, 1, (size_t)got, stdout);
            sleep_us(100);
        }
        fflush(stdout);
    } else if (!strcmp(mode, "timedwait")) {
        long sleep_ms = argc > 3 ? atol(argv[3]) : 200;
        int word = 0;
        struct timespec to = {n / 1000, (n % 1000) * 1000000};
        long long a = now_ns();
        long r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &to, NULL, 0);
        long long b = now_ns();
        printf("futex %ld (%s) after %lld ms\n", r, r < 0 && errno == ETIMEDOUT ? "timed out" : "?",
               (b - a) / 1000000);
        word = 1;  /* a redo after a freeze would now see a changed value */
        sleep_us(sleep_ms * 1000);
        long long c = now_ns();
        printf("nanosleep %ld ms lasted %lld ms\n", sleep_ms, (c - b) / 1000000);
    } else {
        return 2;
    }
    return 0;
}

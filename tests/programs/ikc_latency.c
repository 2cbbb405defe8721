/* One-way latencies, measured by the receiver against a timestamp the sender put in the
 * data (all clusters share the chip's simulated clock).
 *   ikc_latency mbx_server N          read N messages, print "mailbox <ns>" for each
 *   ikc_latency mbx_client N          send N messages, 200 us apart
 *   ikc_latency portal_server SIZE    allow the client, read SIZE bytes once, print "portal SIZE <ns> <sum>"
 *   ikc_latency portal_client SIZE [START_NS]  write SIZE bytes (at START_NS if given) */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pause_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int wait_name(const char *name) {
    int pid;
    while ((pid = shoal_name_lookup(name)) < 0)
        pause_us(20);
    return pid;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1];
    long n = atol(argv[2]);
    if (!strcmp(mode, "mbx_server")) {
        int in = shoal_mailbox_create(1);
        shoal_name_link("msrv");
        for (long i = 0; i < n; i++) {
            long long t0;
            char buf[SHOAL_MAILBOX_SIZE];
            int r = shoal_mailbox_read(in, buf, sizeof buf);
            long long t1 = now_ns();
            memcpy(&t0, buf, sizeof t0);
            printf("mailbox %d %lld\n", r, t1 - t0);
        }
        return 0;
    }
    if (!strcmp(mode, "mbx_client")) {
        int out = shoal_mailbox_open(wait_name("msrv"), 1);
        char buf[120] = {0};
        for (long i = 0; i < n; i++) {
            pause_us(200);
            long long t0 = now_ns();
            memcpy(buf, &t0, sizeof t0);
            int w = shoal_mailbox_write(out, buf, sizeof buf);
            if (w != (int)sizeof buf) { printf("write failed %d\n", w); return 1; }
        }
        return 0;
    }
    unsigned char *data = malloc(n > 8 ? n : 8);
    if (!data) return 3;
    if (!strcmp(mode, "portal_server")) {
        int p = shoal_portal_create(2);
        char me[32], peer[32];
        snprintf(me, sizeof me, "psrv%s", argc > 3 ? argv[3] : "");
        snprintf(peer, sizeof peer, "pcli%s", argc > 3 ? argv[3] : "");
        shoal_portal_allow(p, wait_name(peer));
        shoal_name_link(me);
        int r = shoal_portal_read(p, data, n);
        long long t1 = now_ns(), t0;
        memcpy(&t0, data, sizeof t0);
        unsigned long long sum = 0;
        for (long i = 8; i < r; i++) sum = sum * 31 + data[i];
        printf("portal %d %lld %llu\n", r, t1 - t0, sum);
        return 0;
    }
    if (!strcmp(mode, "portal_client")) {
        char me[32], peer[32];
        snprintf(me, sizeof me, "pcli%s", argc > 4 ? argv[4] : "");
        snprintf(peer, sizeof peer, "psrv%s", argc > 4 ? argv[4] : "");
        shoal_name_link(me);
        int out = shoal_portal_open(wait_name(peer), 2);
        for (long i = 0; i < n; i++) data[i] = (unsigned char)(i * 7 + 3);
        long long start = argc > 3 ? atoll(argv[3]) : 0;
        if (start > 0) {
            struct timespec ts = {start / 1000000000LL, start % 1000000000LL};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        } else {
            pause_us(500);
        }
        long long t0 = now_ns();
        memcpy(data, &t0, sizeof t0);
        int w = shoal_portal_write(out, data, n);
        if (w != n) { printf("portal write %d\n", w); return 1; }
        return 0;
    }
    return 2;
}

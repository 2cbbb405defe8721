/* IKC figures for bench/ikc.py, timed in simulated time by the guest (clock_gettime reads
 * the chip's clock, shared by all clusters). The server runs on the far cluster, the
 * client on cluster 0; both print one line per measurement.
 *   ikc oneway_server N | oneway_client N   N messages of 120 B, 200 us apart; the server
 *                                            prints "oneway <bytes> <ns>" (sender's stamp to
 *                                            the return of its read)
 *   ikc rtt_server N    | rtt_client N      N ping-pongs of 120 B each way; the client prints
 *                                            "rtt <ns>" (its write to the return of its read)
 *   ikc stream_server N | stream_client N   one uncounted handshake message, then N messages
 *                                            of 120 B back to back; the server prints
 *                                            "stream <count> <checksum> <ns>"
 *   ikc portal_server SIZE | portal_client SIZE   one SIZE-byte portal transfer; the server
 *                                            prints "portal <bytes> <ns> <checksum>"
 *   ikc io_rtt N                            N requests to the name daemon on I/O cluster 0
 *                                            (lookups of a missing name), 200 us apart; prints
 *                                            "io_rtt <ret> <ns>" (the call's duration) */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG 120

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

static int fail(const char *what, int r) {
    printf("%s failed: %d\n", what, r);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1];
    long n = atol(argv[2]);
    char buf[SHOAL_MAILBOX_SIZE] = {0};

    if (!strcmp(mode, "oneway_server") || !strcmp(mode, "stream_server")) {
        int in = shoal_mailbox_create(1);
        if (in < 0) return fail("mailbox_create", in);
        shoal_name_link("srv");
        int stream = !strcmp(mode, "stream_server");
        unsigned long long sum = 0;
        long long first = 0;
        if (stream) {  /* the handshake: one uncounted message, so that N = 0 still meets */
            int r = shoal_mailbox_read(in, buf, sizeof buf);
            if (r != MSG) return fail("mailbox_read", r);
        }
        for (long i = 0; i < n; i++) {
            int r = shoal_mailbox_read(in, buf, sizeof buf);
            long long t1 = now_ns(), t0;
            if (r != MSG) return fail("mailbox_read", r);
            memcpy(&t0, buf, sizeof t0);
            if (stream) {
                if (i == 0) first = t0;
                for (int j = 8; j < MSG; j++) sum = sum * 31 + (unsigned char)buf[j];
                if (i == n - 1) printf("stream %ld %llu %lld\n", n, sum, t1 - first);
            } else {
                printf("oneway %d %lld\n", r, t1 - t0);
            }
        }
        if (stream && n == 0) printf("stream 0 0 0\n");
        return 0;
    }
    if (!strcmp(mode, "oneway_client") || !strcmp(mode, "stream_client")) {
        int out = shoal_mailbox_open(wait_name("srv"), 1);
        if (out < 0) return fail("mailbox_open", out);
        int stream = !strcmp(mode, "stream_client");
        if (stream) {
            int w = shoal_mailbox_write(out, buf, MSG);
            if (w != MSG) return fail("mailbox_write", w);
        }
        for (long i = 0; i < n; i++) {
            if (!stream) pause_us(200);
            for (int j = 8; j < MSG; j++) buf[j] = (char)(i * 13 + j);
            long long t0 = now_ns();
            memcpy(buf, &t0, sizeof t0);
            int w = shoal_mailbox_write(out, buf, MSG);
            if (w != MSG) return fail("mailbox_write", w);
        }
        return 0;
    }
    if (!strcmp(mode, "rtt_server")) {
        int in = shoal_mailbox_create(1);
        if (in < 0) return fail("mailbox_create", in);
        shoal_name_link("srv");
        int out = shoal_mailbox_open(wait_name("cli"), 1);
        if (out < 0) return fail("mailbox_open", out);
        for (long i = 0; i < n; i++) {
            int r = shoal_mailbox_read(in, buf, sizeof buf);
            if (r != MSG) return fail("mailbox_read", r);
            int w = shoal_mailbox_write(out, buf, MSG);
            if (w != MSG) return fail("mailbox_write", w);
        }
        return 0;
    }
    if (!strcmp(mode, "rtt_client")) {
        int in = shoal_mailbox_create(1);
        if (in < 0) return fail("mailbox_create", in);
        shoal_name_link("cli");
        int out = shoal_mailbox_open(wait_name("srv"), 1);
        if (out < 0) return fail("mailbox_open", out);
        for (long i = 0; i < n; i++) {
            pause_us(200);
            memset(buf, (int)i, MSG);
            long long t0 = now_ns();
            int w = shoal_mailbox_write(out, buf, MSG);
            if (w != MSG) return fail("mailbox_write", w);
            int r = shoal_mailbox_read(in, buf, sizeof buf);
            long long t1 = now_ns();
            if (r != MSG || (unsigned char)buf[MSG - 1] != (unsigned char)i) return fail("echo", r);
            printf("rtt %lld\n", t1 - t0);
        }
        return 0;
    }
    if (!strcmp(mode, "io_rtt")) {
        for (long i = 0; i < n; i++) {
            pause_us(200);
            long long t0 = now_ns();
            int r = shoal_name_lookup("nosuchname");
            long long t1 = now_ns();
            printf("io_rtt %d %lld\n", r, t1 - t0);
        }
        return 0;
    }
    unsigned char *data = malloc(n > 8 ? n : 8);
    if (!data) return 3;
    if (!strcmp(mode, "portal_server")) {
        int p = shoal_portal_create(2);
        if (p < 0) return fail("portal_create", p);
        int a = shoal_portal_allow(p, wait_name("pcli"));
        if (a < 0) return fail("portal_allow", a);
        shoal_name_link("psrv");
        int r = shoal_portal_read(p, data, n);
        long long t1 = now_ns(), t0;
        if (r != n) return fail("portal_read", r);
        memcpy(&t0, data, sizeof t0);
        unsigned long long sum = 0;
        for (long i = 8; i < r; i++) sum = sum * 31 + data[i];
        printf("portal %d %lld %llu\n", r, t1 - t0, sum);
        return 0;
    }
    if (!strcmp(mode, "portal_client")) {
        shoal_name_link("pcli");
        int out = shoal_portal_open(wait_name("psrv"), 2);
        if (out < 0) return fail("portal_open", out);
        for (long i = 0; i < n; i++) data[i] = (unsigned char)(i * 7 + 3);
        pause_us(500);
        long long t0 = now_ns();
        memcpy(data, &t0, sizeof t0);
        int w = shoal_portal_write(out, data, n);
        if (w != n) return fail("portal_write", w);
        return 0;
    }
    return 2;
}

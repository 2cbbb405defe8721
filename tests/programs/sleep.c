/* nanosleep/usleep/clock_nanosleep against clock_gettime. stdout is the same on any machine;
 * stderr has the measured figures. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void) {
    static const long req[] = {1000, 50000, 1000000, 3000000, 10000000};
    long long start = now_ns(CLOCK_MONOTONIC);
    long long slept = 0;
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        struct timespec ts = {req[i] / 1000000000L, req[i] % 1000000000L};
        long long a = now_ns(CLOCK_MONOTONIC);
        int r = nanosleep(&ts, NULL);
        long long b = now_ns(CLOCK_MONOTONIC);
        printf("nanosleep %ld ns: ret %d %s\n", req[i], r, b - a >= req[i] ? "ok" : "SHORT");
        fprintf(stderr, "nanosleep %ld %lld\n", req[i], b - a);
        slept += req[i];
    }
    long long a = now_ns(CLOCK_MONOTONIC);
    usleep(2000);
    long long b = now_ns(CLOCK_MONOTONIC);
    printf("usleep 2000 us: %s\n", b - a >= 2000000 ? "ok" : "SHORT");
    fprintf(stderr, "usleep 2000000 %lld\n", b - a);
    slept += 2000000;

    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    long long target = (long long)dl.tv_sec * 1000000000LL + dl.tv_nsec + 5000000;
    dl.tv_sec = (time_t)(target / 1000000000LL);
    dl.tv_nsec = (long)(target % 1000000000LL);
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL);
    b = now_ns(CLOCK_MONOTONIC);
    printf("clock_nanosleep absolute: ret %d %s\n", r, b >= target ? "ok" : "EARLY");
    fprintf(stderr, "absolute 5000000 %lld\n", b - target);
    slept += 5000000;

    long long t1 = now_ns(CLOCK_MONOTONIC), t2 = now_ns(CLOCK_MONOTONIC);
    printf("monotonic non-decreasing: %s\n", t2 >= t1 ? "yes" : "no");
    time_t wall = time(NULL);
    printf("realtime after 2020: %s\n", wall > 1577836800 ? "yes" : "no");
    struct timespec res;
    printf("clock_getres: ret %d\n", clock_getres(CLOCK_MONOTONIC, &res));
    long long total = now_ns(CLOCK_MONOTONIC) - start;
    printf("total >= slept: %s\n", total >= slept ? "yes" : "no");
    fprintf(stderr, "total %lld slept %lld\n", total, slept);
    return 0;
}

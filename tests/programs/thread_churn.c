/* N threads made and joined one after another, each summing its own range; then a 10 ms
 * sleep (a long-running server that makes a thread per request). Prints the total. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *work(void *arg) {
    unsigned long i = (unsigned long)arg, s = 0;
    for (unsigned long j = 0; j < 100; j++) s += i * j;
    return (void *)s;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100;
    unsigned long total = 0;
    for (long i = 0; i < n; i++) {
        pthread_t t;
        void *r;
        if (pthread_create(&t, NULL, work, (void *)i)) return 1;
        pthread_join(t, &r);
        total += (unsigned long)r;
    }
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
    printf("%ld threads, total %lu\n", n, total);
    return 0;
}

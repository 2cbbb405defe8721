/* 16 threads: a mutex-protected counter, a condition variable hand-off, a barrier. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NT 16
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static long counter;
static int turn;
static long partial[NT];

static void *worker(void *arg) {
    long id = (long)arg;
    unsigned x = 12345u + (unsigned)id;
    long local = 0;
    for (int i = 0; i < 20000; i++) {
        x = x * 1103515245u + 12345u;
        local += (x >> 16) & 0xff;
    }
    partial[id] = local;
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&lock);
        counter += id;
        pthread_mutex_unlock(&lock);
    }
    pthread_barrier_wait(&barrier);
    /* Take turns in id order through a condition variable. */
    pthread_mutex_lock(&lock);
    while (turn != id)
        pthread_cond_wait(&cond, &lock);
    printf("thread %ld: partial %ld\n", id, partial[id]);
    turn++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return (void *)(local & 0xff);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : NT;
    pthread_t th[NT];
    pthread_barrier_init(&barrier, NULL, n);
    for (long i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
            printf("pthread_create failed\n");
            return 1;
        }
    long sum = 0;
    for (int i = 0; i < n; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        sum += (long)ret;
    }
    printf("counter %ld joined %ld\n", counter, sum);
    return 0;
}

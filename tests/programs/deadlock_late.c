/* A thread waits at once on a semaphore nobody posts; main computes for a while (argv[1] loop
 * steps), then waits too: a deadlock. The chip kills it as deadlocked; its time must be the
 * deadlock's (when the last thread blocked: after all of main's instructions), not 0. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>

static sem_t never;
static long n = 1000000;
static volatile long sink;

static void *waiter(void *arg) {
    sem_wait(&never);
    return arg;
}

int main(int argc, char **argv) {
    if (argc > 1)
        n = atol(argv[1]);
    sem_init(&never, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    long s = 0;
    for (long i = 0; i < n; i++)
        s += i ^ (s >> 3);
    sink = s;
    sem_wait(&never);
    pthread_join(t, NULL);
    printf("never printed\n");
    return 0;
}

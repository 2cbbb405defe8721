/* More synchronisation: semaphores, rwlocks, pthread_once, thread-local storage, timed waits
 * that time out, pthread_exit values, detached threads and atomics. Output is in a fixed order. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NT 6
static __thread long tls_value = 7;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_count;
static sem_t sem, done_sem;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long table[64];
static long atomic_sum;
static long tls_seen[NT];

static void init_once(void) { once_count++; }

static void *worker(void *arg) {
    long id = (long)arg;
    pthread_once(&once, init_once);
    tls_value = id * 100;
    for (int i = 0; i < 1000; i++) {
        __atomic_fetch_add(&atomic_sum, id + 1, __ATOMIC_SEQ_CST);
        if (i % 100 == 0) {
            pthread_rwlock_wrlock(&rw);
            table[(id * 7 + i / 100) % 64] += id + 1;
            pthread_rwlock_unlock(&rw);
        } else {
            pthread_rwlock_rdlock(&rw);
            volatile long x = table[i % 64];
            (void)x;
            pthread_rwlock_unlock(&rw);
        }
    }
    sem_wait(&sem); /* at most two workers at a time past here */
    tls_value += 1;
    sem_post(&sem);
    tls_seen[id] = tls_value;
    pthread_exit((void *)(id * id));
}

static void *detached(void *arg) {
    (void)arg;
    sem_post(&done_sem);
    return NULL;
}

int main(void) {
    sem_init(&sem, 0, 2);
    sem_init(&done_sem, 0, 0);
    pthread_t th[NT];
    for (long i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    long exits = 0;
    for (int i = 0; i < NT; i++) {
        void *r;
        pthread_join(th[i], &r);
        exits += (long)r;
    }
    long tsum = 0;
    for (int i = 0; i < 64; i++)
        tsum += table[i];
    printf("once %d exits %ld atomic %ld table %ld main tls %ld\n", once_count, exits, atomic_sum, tsum,
           tls_value);
    for (int i = 0; i < NT; i++)
        printf("thread %d tls %ld\n", i, tls_seen[i]);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t d;
    for (int i = 0; i < 3; i++)
        pthread_create(&d, &attr, detached, NULL);
    for (int i = 0; i < 3; i++)
        sem_wait(&done_sem);
    printf("detached threads done\n");

    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    struct timespec before, deadline, after;
    clock_gettime(CLOCK_REALTIME, &before);
    deadline = before;
    deadline.tv_nsec += 3000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&m);
    int r = pthread_cond_timedwait(&c, &m, &deadline);
    pthread_mutex_unlock(&m);
    clock_gettime(CLOCK_REALTIME, &after);
    long long waited = (after.tv_sec - before.tv_sec) * 1000000000LL + (after.tv_nsec - before.tv_nsec);
    printf("cond_timedwait: %s, waited >= 3 ms: %s\n", r == ETIMEDOUT ? "ETIMEDOUT" : "other",
           waited >= 3000000 ? "yes" : "no");
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    r = sem_timedwait(&done_sem, &deadline);
    printf("sem_timedwait: %d %s\n", r, errno == ETIMEDOUT ? "ETIMEDOUT" : "other");
    printf("trywait: %d\n", sem_trywait(&done_sem));
    return 0;
}

/* Two threads hand a token back and forth through an atomic variable, spinning (no system
 * call) while they wait: progress needs both harts to really run side by side. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

static int turn;
static long rounds = 40;
static long work_done[2];
static int use_yield;

static void player(int me) {
    for (long r = 0; r < rounds; r++) {
        while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != me)
            if (use_yield)
                sched_yield();
        work_done[me] += r * (me + 1);
        __atomic_store_n(&turn, 1 - me, __ATOMIC_RELEASE);
    }
}

static void *other(void *arg) {
    (void)arg;
    player(1);
    return NULL;
}

int main(int argc, char **argv) {
    use_yield = argc > 1 && atoi(argv[1]) != 0;
    pthread_t t;
    pthread_create(&t, NULL, other, NULL);
    player(0);
    pthread_join(t, NULL);
    printf("rounds %ld work %ld %ld turn %d\n", rounds, work_done[0], work_done[1], turn);
    return 0;
}

/* The tutorial's program (docs/tutorial.md): a parent on one cluster and a child on another.
 * The child sums 0..N-1 (mod 1000) with 4 threads and sends the result to its parent through
 * a mailbox; the parent waits for it and prints it.
 *   shoal run --file docs/examples/tutorial.c docs/examples/tutorial.c */
#include <pthread.h>
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NT 4
#define N 400000
#define PORT 1
static long part[NT];

static void *sum(void *arg) {
    long id = (long)arg, s = 0;
    for (long i = id; i < N; i += NT)
        s += i % 1000;
    part[id] = s;
    return NULL;
}

static int child(int parent) {
    pthread_t th[NT];
    for (long i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, sum, (void *)i);
    long total = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        total += part[i];
    }
    char msg[SHOAL_MAILBOX_SIZE];
    snprintf(msg, sizeof msg, "%ld, from cluster %d", total, shoal_cluster());
    int out = shoal_mailbox_open(parent, PORT);   /* endpoints are named by pid, not cluster */
    return shoal_mailbox_write(out, msg, sizeof msg) == sizeof msg ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1)
        return child(atoi(argv[1]));
    int in = shoal_mailbox_create(PORT);
    char me[16];
    snprintf(me, sizeof me, "%d", getpid());
    char *args[] = {"tutorial", me, NULL};
    int pid = shoal_spawn("tutorial", args, 1);       /* the child, on cluster 1 */
    char msg[SHOAL_MAILBOX_SIZE];
    if (pid < 0 || shoal_mailbox_read(in, msg, sizeof msg) < 0)
        return 1;
    int status;
    shoal_wait(pid, &status);
    printf("parent (pid %d) on cluster %d got %s\n", getpid(), shoal_cluster(), msg);
    return 0;
}

/* MPI_THREAD_MULTIPLE: on rank 0, thread t ping-pongs with rank 1 + t % (size - 1) on tag t,
 * all threads at once, with eager (8 ints) and rendezvous (2000 ints) messages, while the
 * peers' threads answer; then every thread makes a datatype and the main thread reduces.
 * Contents are checked; rank 0 prints. */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 4
#define ROUNDS 6
#define BIG 2000

static int rank, size, errors[THREADS];

static void *worker(void *arg) {
    int t = (int)(long)arg, peer = rank == 0 ? 1 + t % (size - 1) : 0;
    static int bufs[THREADS][BIG];
    int *buf = bufs[t];
    if (rank != 0 && rank != 1 + t % (size - 1)) return NULL;
    for (int r = 0; r < ROUNDS; r++) {
        int n = r % 2 ? BIG : 8;
        if (rank == 0) {
            for (int i = 0; i < n; i++) buf[i] = t * 1000000 + r * 10000 + i;
            MPI_Send(buf, n, MPI_INT, peer, t, MPI_COMM_WORLD);
            MPI_Recv(buf, n, MPI_INT, peer, t, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            for (int i = 0; i < n; i++) errors[t] += buf[i] != t * 1000000 + r * 10000 + i + 1;
        } else {
            MPI_Status st;
            int count;
            MPI_Recv(buf, BIG, MPI_INT, 0, t, MPI_COMM_WORLD, &st);
            MPI_Get_count(&st, MPI_INT, &count);
            errors[t] += count != n;
            for (int i = 0; i < count; i++) buf[i]++;
            MPI_Send(buf, count, MPI_INT, 0, t, MPI_COMM_WORLD);
        }
    }
    MPI_Datatype v;
    MPI_Type_contiguous(t + 1, MPI_INT, &v);
    MPI_Type_commit(&v);
    int s;
    MPI_Type_size(v, &s);
    errors[t] += s != (int)sizeof(int) * (t + 1);
    MPI_Type_free(&v);
    return NULL;
}

int main(int argc, char **argv) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    int mine = 0, total;
    for (int t = 0; t < THREADS; t++) mine += errors[t];
    MPI_Reduce(&mine, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("provided multiple %d; %d threads x %d round trips to %d peers: errors %d\n",
               provided == MPI_THREAD_MULTIPLE, THREADS, ROUNDS, size - 1, total);
    MPI_Finalize();
    return 0;
}

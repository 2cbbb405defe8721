/* A process that holds one of everything an image carries while it sleeps: a mailbox with a
 * message queued, an output endpoint to itself, a portal, a sync, an open file, two threads.
 * After the sleep (where a test checkpoints it) it uses them all and prints what it got.
 *   img_state [FILE]     (FILE: a file of the chip's file image; without it, no file) */
#include <fcntl.h>
#include <pthread.h>
#include <shoal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *napper(void *arg) {
    (void)arg;
    struct timespec ts = {0, 3000000};
    nanosleep(&ts, NULL);
    return (void *)5;
}

int main(int argc, char **argv) {
    int me = getpid();
    int in = shoal_mailbox_create(5);
    int out = shoal_mailbox_open(me, 5);
    int portal = shoal_portal_create(6);
    int pids[2] = {me, me + 1000};  /* a signaller that never comes: the endpoint is what matters */
    int sync = shoal_sync_create(7, pids, 2, SHOAL_SYNC_ALL_TO_ONE);
    int fd = argc > 1 ? open(argv[1], O_RDONLY) : -1;
    char head[4] = {0};
    if (fd >= 0) read(fd, head, 2);
    shoal_mailbox_write(out, "queued", 7);
    pthread_t th;
    pthread_create(&th, NULL, napper, NULL);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL); /* checkpointed here */
    char buf[SHOAL_MAILBOX_SIZE] = {0};
    int got = shoal_mailbox_read(in, buf, sizeof buf);
    shoal_mailbox_write(out, "again", 6);
    char buf2[SHOAL_MAILBOX_SIZE] = {0};
    int got2 = shoal_mailbox_read(in, buf2, sizeof buf2);
    char rest[8] = {0};
    if (fd >= 0) read(fd, rest, 3);
    void *ret;
    pthread_join(th, &ret);
    printf("endpoints %d %d %d %d file %s%s mailbox %d %s %d %s thread %ld\n", in >= 0, out >= 0,
           portal >= 0, sync >= 0, head, rest, got, buf, got2, buf2, (long)ret);
    return 0;
}

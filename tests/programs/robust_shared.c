/* A process-shared robust mutex in a POSIX shared memory object, between two processes:
   "hold" locks it and ends without unlocking (exit_group; or "killed": by SIGKILL from
   itself); "take" then locks it: EOWNERDEAD, as Linux walks a dying process's robust list,
   and a FUTEX_WAIT on a shared word is woken by another process's FUTEX_WAKE. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

struct shared { pthread_mutex_t m; uint32_t word; };

static struct shared *map(const char *name) {
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 4096)) return 0;
    struct shared *s = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return s == MAP_FAILED ? 0 : s;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct shared *s = map(argv[2]);
    if (!s) return 3;
    if (!strcmp(argv[1], "hold") || !strcmp(argv[1], "killed")) {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        pthread_mutex_init(&s->m, &a);
        printf("hold lock %d\n", pthread_mutex_lock(&s->m));
        fflush(stdout);
        if (argv[1][0] == 'k') kill(getpid(), SIGKILL);
        _exit(0);
    }
    if (!strcmp(argv[1], "take")) {
        int r = pthread_mutex_lock(&s->m);
        printf("take lock %d EOWNERDEAD %d\n", r, r == EOWNERDEAD);
        if (r == EOWNERDEAD) printf("consistent %d\n", pthread_mutex_consistent(&s->m));
        printf("unlock %d\n", pthread_mutex_unlock(&s->m));
        shm_unlink(argv[2]);
        return 0;
    }
    if (!strcmp(argv[1], "wait")) {  /* the word is 0 until "wake" stores 1 */
        struct timespec ts = {5, 0};
        long r = syscall(SYS_futex, &s->word, FUTEX_WAIT, 0, &ts, 0, 0);
        printf("wait %ld %d word %u\n", r, r ? errno : 0, s->word);
        return 0;
    }
    if (!strcmp(argv[1], "wake")) {
        nanosleep(&(struct timespec){0, 20000000}, 0);
        s->word = 1;
        printf("wake %ld\n", syscall(SYS_futex, &s->word, FUTEX_WAKE, 1, 0, 0, 0) < 0 ? -1L : 0L);
        return 0;
    }
    return 2;
}

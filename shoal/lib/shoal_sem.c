/* POSIX named semaphores on shoal, linked into every program `shoal cc` builds.
 *
 * Why this way (option (a) of issue 14): musl's sem_open maps a file of /dev/shm with
 * mmap(MAP_SHARED) and waits with futexes on that shared memory, which would need memory
 * shared between clusters. Here a named semaphore lives in the IPC daemon of I/O cluster 0
 * (shoal/ipcserver.py), reached by shoal's own system calls (560-565, kernel/ipc.py), so it
 * works between processes on any clusters and follows a process that migrates (the daemon
 * knows its handles by pid; the table below is in the process's own memory and moves with it).
 *
 * shoal cc links with -Wl,--wrap=sem_open,... so a program's calls come here unchanged; an
 * unnamed semaphore (sem_init, in the program's memory) is not in the table and goes on to
 * musl's own functions (__real_sem_*), futexes and all, exactly as before. A named one is a
 * slot of `named` below: sem_open of the same name in one process gives the same sem_t *,
 * and sem_close releases it when every open of it is closed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#define NR_SEM_OPEN 560
#define NR_SEM_CLOSE 561
#define NR_SEM_UNLINK 562
#define NR_SEM_WAIT 563
#define NR_SEM_POST 564
#define NR_SEM_GETVALUE 565
#define SLOTS 256 /* SEM_NSEMS_MAX */

long syscall(long, ...);
int __real_sem_wait(sem_t *);
int __real_sem_trywait(sem_t *);
int __real_sem_timedwait(sem_t *__restrict, const struct timespec *__restrict);
int __real_sem_post(sem_t *);
int __real_sem_getvalue(sem_t *__restrict, int *__restrict);

static sem_t named[SLOTS];
static int handle[SLOTS], refs[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int slot(sem_t *s) {
    return s >= named && s < named + SLOTS ? (int)(s - named) : -1;
}

sem_t *__wrap_sem_open(const char *name, int flags, ...) {
    mode_t mode = 0;
    unsigned value = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        value = va_arg(ap, unsigned);
        va_end(ap);
    }
    long h = syscall(NR_SEM_OPEN, name, flags, mode, value);
    if (h < 0) return SEM_FAILED;
    pthread_mutex_lock(&lock);
    int free_slot = -1;
    for (int i = 0; i < SLOTS; i++) {
        if (refs[i] && handle[i] == h) {
            refs[i]++;
            pthread_mutex_unlock(&lock);
            return &named[i];
        }
        if (!refs[i] && free_slot < 0) free_slot = i;
    }
    if (free_slot < 0) {
        pthread_mutex_unlock(&lock);
        syscall(NR_SEM_CLOSE, h);
        errno = EMFILE;
        return SEM_FAILED;
    }
    handle[free_slot] = (int)h;
    refs[free_slot] = 1;
    pthread_mutex_unlock(&lock);
    return &named[free_slot];
}

int __wrap_sem_close(sem_t *s) {
    int i = slot(s);
    pthread_mutex_lock(&lock);
    if (i < 0 || !refs[i]) {
        pthread_mutex_unlock(&lock);
        errno = EINVAL;
        return -1;
    }
    int last = --refs[i] == 0, h = handle[i];
    pthread_mutex_unlock(&lock);
    return last ? (int)syscall(NR_SEM_CLOSE, h) : 0;
}

int __wrap_sem_unlink(const char *name) {
    return (int)syscall(NR_SEM_UNLINK, name);
}

static int named_handle(sem_t *s) {
    int i = slot(s);
    return i >= 0 && refs[i] ? handle[i] : -1;
}

#define NAMED_OR_BAD(s, h) int h = named_handle(s); \
    if (slot(s) >= 0 && h < 0) { errno = EINVAL; return -1; }

int __wrap_sem_wait(sem_t *s) {
    NAMED_OR_BAD(s, h);
    return h < 0 ? __real_sem_wait(s) : (int)syscall(NR_SEM_WAIT, h, 0, 0);
}

int __wrap_sem_trywait(sem_t *s) {
    NAMED_OR_BAD(s, h);
    return h < 0 ? __real_sem_trywait(s) : (int)syscall(NR_SEM_WAIT, h, 0, 1);
}

int __wrap_sem_timedwait(sem_t *__restrict s, const struct timespec *__restrict at) {
    NAMED_OR_BAD(s, h);
    if (h < 0) return __real_sem_timedwait(s, at);
    long long ts[2] = {at->tv_sec, at->tv_nsec}; /* the kernel reads a struct timespec64 */
    return (int)syscall(NR_SEM_WAIT, h, ts, 0);
}

int __wrap_sem_post(sem_t *s) {
    NAMED_OR_BAD(s, h);
    return h < 0 ? __real_sem_post(s) : (int)syscall(NR_SEM_POST, h);
}

int __wrap_sem_getvalue(sem_t *__restrict s, int *__restrict v) {
    NAMED_OR_BAD(s, h);
    return h < 0 ? __real_sem_getvalue(s, v) : (int)syscall(NR_SEM_GETVALUE, h, v);
}

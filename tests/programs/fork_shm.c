/* fork of a process that maps shared memory (tests/test_forkshm.py): the children share the
   parent's mapping, as on Linux. Modes (argv[1]), N = iterations per child (argv[2]):
     mutex    anonymous MAP_SHARED, 4 children add to one counter under a process-shared mutex
              (argv[3]: KiB of private ballast first, so that each child goes elsewhere)
     sem      the same under a process-shared semaphore (sem_init pshared = 1)
     shmopen  shm_open + mmap(MAP_SHARED), unlinked and closed before the fork (the mapping
              keeps the object), the same counter under the mutex
     sysv     shmget/shmat: shm_nattch after fork (the child's attachment counts) and after the
              child's shmdt (the parent's stays); then the counter
     grand    a child maps anonymous shared memory of its own, and forks: its child writes
              into both mappings (the parent's and the child's)
     rmem     a private buffer of argv[3] KiB (more than a tiny cluster holds: pages in remote
              memory) and the shared counter: each child sees the parent's bytes, changes its
              own copy; the parent's stay its own. argv[4]: KiB of scratch touched then freed
              (the buffer's pages go to remote memory and the cluster has room: a fork here)
     rekey    a parent's thread waits on a process-shared semaphore from before the fork; the
              child posts it; MADV_DONTNEED keeps the shared bytes
   Only the parent prints, after its waits (the output is the same on any machine). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sched.h>

#define KIDS 4

struct shared {
    pthread_mutex_t m;
    sem_t s;
    volatile long counter;
    volatile long per[KIDS];
    volatile uint32_t sums[KIDS][2];
    volatile int word;
    volatile int go;
};

static int use_sem;

static void lock(struct shared *sh) {
    if (use_sem) {
        while (sem_wait(&sh->s) != 0 && errno == EINTR) {
        }
    } else {
        pthread_mutex_lock(&sh->m);
    }
}

static void unlock(struct shared *sh) {
    if (use_sem)
        sem_post(&sh->s);
    else
        pthread_mutex_unlock(&sh->m);
}

static void setup(struct shared *sh) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&sh->m, &a);
    if (sem_init(&sh->s, 1, 1) != 0) {
        printf("sem_init: %d\n", errno);
        exit(1);
    }
    sh->counter = 0;
}

static void work(struct shared *sh, int i, long n) {
    for (long j = 0; j < n; j++) {
        lock(sh);
        long c = sh->counter;
        if (j % 16 == 0)
            sched_yield(); /* inside the lock: the others wait on its futex */
        sh->counter = c + 1;
        sh->per[i]++;
        unlock(sh);
    }
}

static void wait_all(pid_t *kids, int n) {
    for (int i = 0; i < n; i++) {
        int st = 0;
        pid_t got = waitpid(kids[i], &st, 0);
        printf("child %d: %s status %d\n", i, got == kids[i] ? "reaped" : "lost",
               WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
}

static void report(struct shared *sh, long n) {
    printf("counter %ld of %ld\n", sh->counter, KIDS * n);
    for (int i = 0; i < KIDS; i++)
        printf("per[%d] %ld\n", i, sh->per[i]);
}

static int counters(struct shared *sh, long n, void (*before_exit)(struct shared *)) {
    pid_t kids[KIDS];
    fflush(stdout);
    for (int i = 0; i < KIDS; i++) {
        kids[i] = fork();
        if (kids[i] < 0) {
            printf("fork: %d\n", errno);
            return 1;
        }
        if (kids[i] == 0) {
            while (!sh->go) /* all start together, wherever they were placed */
                sched_yield();
            work(sh, i, n);
            if (before_exit)
                before_exit(sh);
            _exit(10 + i);
        }
    }
    sh->go = 1;
    wait_all(kids, KIDS);
    report(sh, n);
    return 0;
}

static struct shared *anon(size_t len) {
    void *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %d\n", errno);
        exit(1);
    }
    return p;
}

static int shmopen_mode(long n) {
    char name[64];
    snprintf(name, sizeof name, "/fork_shm_%d", (int)getpid());
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 8192) != 0) {
        printf("shm_open: %d\n", errno);
        return 1;
    }
    struct shared *sh = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    shm_unlink(name); /* the mappings keep it */
    setup(sh);
    int r = counters(sh, n, 0);
    printf("reopen after unlink: %d\n", shm_open(name, O_RDWR, 0) < 0 ? errno : 0);
    return r;
}

static int nattch(int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0)
        return -errno;
    return (int)ds.shm_nattch;
}

static int sysv_id;
static struct shared *sysv_at;

static void sysv_detach(struct shared *sh) {
    (void)sh;
    shmdt(sysv_at);
}

static int sysv_mode(long n) {
    sysv_id = shmget(IPC_PRIVATE, sizeof(struct shared), IPC_CREAT | 0600);
    sysv_at = shmat(sysv_id, 0, 0);
    if (sysv_id < 0 || sysv_at == (void *)-1) {
        printf("shmget/shmat: %d\n", errno);
        return 1;
    }
    struct shared *sh = sysv_at;
    setup(sh);
    printf("nattch before fork %d\n", nattch(sysv_id));
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        sh->word = nattch(sysv_id) * 100; /* 2: the parent's and its own */
        shmdt(sysv_at);
        _exit(nattch(sysv_id)); /* 1: the parent's */
    }
    int st;
    waitpid(c, &st, 0);
    printf("child saw nattch %d, after its shmdt %d\n", sh->word / 100, WEXITSTATUS(st));
    printf("nattch after the child's shmdt %d\n", nattch(sysv_id));
    int r = counters(sh, n, sysv_detach);
    printf("nattch after the counters %d\n", nattch(sysv_id));
    shmctl(sysv_id, IPC_RMID, 0);
    printf("after IPC_RMID still attached: nattch %d\n", nattch(sysv_id));
    shmdt(sysv_at);
    printf("after the last shmdt: %d\n", nattch(sysv_id) < 0 ? -nattch(sysv_id) : 0);
    return r;
}

static int grand_mode(long n) {
    struct shared *sh = anon(sizeof *sh);
    setup(sh);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        volatile int *mine = (volatile int *)anon(4096); /* the child's own shared mapping */
        mine[0] = 1;
        pid_t g = fork();
        if (g == 0) {
            work(sh, 1, n);
            mine[0] = 7;
            sh->word = 99;
            _exit(3);
        }
        work(sh, 0, n);
        int st;
        waitpid(g, &st, 0);
        _exit(mine[0] * 10 + WEXITSTATUS(st)); /* 73 */
    }
    int st;
    waitpid(c, &st, 0);
    printf("child status %d word %d counter %ld per %ld %ld\n", WEXITSTATUS(st), sh->word,
           sh->counter, sh->per[0], sh->per[1]);
    return 0;
}

static int rmem_mode(long n, long kib, long scratch) {
    struct shared *sh = anon(sizeof *sh);
    setup(sh);
    size_t len = (size_t)kib * 1024 / sizeof(uint32_t);
    uint32_t *buf = malloc(len * sizeof(uint32_t));
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint32_t)i * 2654435761u % 1000003u;
    uint32_t before = 0;
    for (size_t i = 0; i < len; i++)
        before += buf[i];
    if (scratch) { /* pushes buf out to remote memory, then frees its frames: a fork here */
        volatile char *x = malloc((size_t)scratch * 1024);
        for (size_t i = 0; i < (size_t)scratch * 1024; i += 4096)
            x[i] = 1;
        free((void *)x);
    }
    pid_t kids[2];
    fflush(stdout);
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] < 0) {
            printf("fork: %d\n", errno);
            return 1;
        }
        if (kids[k] == 0) {
            uint32_t s = 0;
            for (size_t i = 0; i < len; i++)
                s += buf[i];
            sh->sums[k][0] = s;
            for (size_t i = 0; i < len; i += 97)
                buf[i] = (uint32_t)k + 1;
            s = 0;
            for (size_t i = 0; i < len; i++)
                s += buf[i];
            sh->sums[k][1] = s;
            work(sh, k, n);
            _exit(0);
        }
    }
    wait_all(kids, 2);
    uint32_t after = 0;
    for (size_t i = 0; i < len; i++)
        after += buf[i];
    printf("parent sum %u, after the children %u\n", before, after);
    for (int k = 0; k < 2; k++)
        printf("child %d saw %u, then its own %u\n", k, sh->sums[k][0], sh->sums[k][1]);
    printf("counter %ld\n", sh->counter);
    return 0;
}

static void *sem_waiter(void *arg) {
    struct shared *sh = arg;
    while (sem_wait(&sh->s) != 0 && errno == EINTR) {
    }
    sh->word += 5;
    return 0;
}

/* A thread of the parent waits on a semaphore in anonymous shared memory (since before the
   fork: its futex was the process's own then); the child posts it. */
static int rekey_mode(void) {
    struct shared *sh = anon(sizeof *sh);
    setup(sh);
    sem_init(&sh->s, 1, 0);
    pthread_t th;
    pthread_create(&th, 0, sem_waiter, sh);
    usleep(20000); /* it waits by now */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        sh->word = 10;
        sem_post(&sh->s);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    pthread_join(th, 0);
    printf("waiter woken by the child: word %d\n", sh->word);
    madvise(sh, sizeof *sh, MADV_DONTNEED); /* shared memory keeps its bytes (Linux) */
    printf("after MADV_DONTNEED: word %d\n", sh->word);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "mutex";
    long n = argc > 2 ? atol(argv[2]) : 100;
    if (!strcmp(mode, "mutex") || !strcmp(mode, "sem")) {
        use_sem = !strcmp(mode, "sem");
        struct shared *sh = anon(sizeof *sh);
        setup(sh);
        if (argc > 3) { /* ballast of argv[3] KiB: a parent too big for a child beside it */
            size_t kib = (size_t)atol(argv[3]);
            volatile char *b = malloc(kib * 1024);
            for (size_t i = 0; i < kib * 1024; i += 4096)
                b[i] = 1;
        }
        return counters(sh, n, 0);
    }
    if (!strcmp(mode, "shmopen"))
        return shmopen_mode(n);
    if (!strcmp(mode, "sysv"))
        return sysv_mode(n);
    if (!strcmp(mode, "rekey"))
        return rekey_mode();
    if (!strcmp(mode, "grand"))
        return grand_mode(n);
    if (!strcmp(mode, "rmem"))
        return rmem_mode(n, argc > 3 ? atol(argv[3]) : 2048, argc > 4 ? atol(argv[4]) : 0);
    printf("unknown mode %s\n", mode);
    return 2;
}

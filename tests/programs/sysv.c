/* System V IPC as Linux has it (tests/test_sysv.py runs each mode on the chip and natively):
 *   basic            one process: queues, sets, segments and their error paths
 *   fork             parent and child: blocking msgrcv, SEM_UNDO at exit, EIDRM, EINTR, shm
 *   pair A|B KEY N   two processes (started apart): requests and answers over a queue, and a
 *                    counter in a segment under a lock made of one atomic semop
 * Nothing printed depends on the host (no ids, keys, pids or times). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg { long mtype; char text[64]; };
union semun { int val; struct semid_ds *buf; unsigned short *array; };

static const char *errname(int e) {
    switch (e) {
    case 0: return "0"; case EINVAL: return "EINVAL"; case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST"; case E2BIG: return "E2BIG"; case ENOMSG: return "ENOMSG";
    case EAGAIN: return "EAGAIN"; case EFAULT: return "EFAULT"; case ERANGE: return "ERANGE";
    case EFBIG: return "EFBIG"; case EIDRM: return "EIDRM"; case EINTR: return "EINTR";
    case ENOSPC: return "ENOSPC"; case ENOMEM: return "ENOMEM"; case EACCES: return "EACCES";
    }
    static char buf[16];
    snprintf(buf, sizeof buf, "errno %d", e);
    return buf;
}

#define ERR(call) do { errno = 0; long r_ = (long)(call); \
    printf("%-34s -> %ld %s\n", #call, r_, errname(errno)); } while (0)

static int snd(int q, long type, const char *s) {
    struct msg m = {type, ""};
    strcpy(m.text, s);
    return msgsnd(q, &m, strlen(s) + 1, IPC_NOWAIT);
}

static void rcv(int q, long type, int flags, size_t size) {
    struct msg m;
    memset(&m, 0, sizeof m);
    errno = 0;
    ssize_t n = msgrcv(q, &m, size, type, flags | IPC_NOWAIT);
    if (n < 0) printf("  rcv(%ld, %#o, %zu) -> %s\n", type, flags, size, errname(errno));
    else printf("  rcv(%ld, %#o, %zu) -> %zd type %ld '%.*s'\n", type, flags, size, n, m.mtype, (int)n, m.text);
}

static int basic(void) {
    errno = 0;
    int q = msgget(IPC_PRIVATE, 0640);
    const char *texts[] = {"one", "two", "three", "four", "five", "six"};
    long types[] = {3, 1, 2, 1, 5, 2};
    for (int i = 0; i < 6; i++) snd(q, types[i], texts[i]);
    struct msqid_ds ds;
    msgctl(q, IPC_STAT, &ds);
    printf("queue: qnum %lu cbytes %lu qbytes %lu mode %o lspid-is-me %d rtime %d\n", (unsigned long)ds.msg_qnum,
           ds.msg_cbytes, (unsigned long)ds.msg_qbytes, ds.msg_perm.mode & 0777, ds.msg_lspid == getpid(),
           (int)ds.msg_rtime);
    rcv(q, 2, 0, 64);            /* first of type 2: three */
    rcv(q, -2, 0, 64);           /* lowest type <= 2: two (type 1) */
    rcv(q, 1, MSG_EXCEPT, 64);   /* first not of type 1: one (3) */
    rcv(q, 0, 0, 2);             /* four is 5 bytes: E2BIG, stays */
    rcv(q, 0, MSG_NOERROR, 2);   /* truncated */
    rcv(q, 7, 0, 64);            /* none: ENOMSG */
    rcv(q, 0, 0, 64);
    rcv(q, 0, 0, 64);
    rcv(q, 0, 0, 64);            /* empty: ENOMSG */
    ds.msg_perm.mode = 0600;
    ds.msg_qbytes = 100;
    ERR(msgctl(q, IPC_SET, &ds));
    msgctl(q, IPC_STAT, &ds);
    printf("after set: mode %o qbytes %lu\n", ds.msg_perm.mode & 0777, (unsigned long)ds.msg_qbytes);
    char big[96];
    memset(big, 'x', sizeof big);
    struct { long t; char b[96]; } bm = {1, ""};
    memcpy(bm.b, big, sizeof big);
    ERR(msgsnd(q, &bm, 96, IPC_NOWAIT));
    ERR(msgsnd(q, &bm, 96, IPC_NOWAIT));   /* 192 > 100: EAGAIN */
    ERR(msgsnd(q, &bm, 8193, 0));          /* > MSGMAX: EINVAL */
    bm.t = 0;
    ERR(msgsnd(q, &bm, 4, 0));             /* type < 1: EINVAL */
    ERR(msgsnd(q, (void *)16, 4, 0));      /* EFAULT */
    ERR(msgrcv(q, &bm, -1, 0, 0));         /* EINVAL */
    ERR(msgctl(q, IPC_RMID, 0));
    ERR(msgsnd(q, &bm, 4, 0));             /* removed: EINVAL */
    ERR(msgctl(q, IPC_STAT, &ds));
    ERR(msgget(-123456, 0));               /* ENOENT */
    key_t key = ftok("/", 'S');
    int q1 = msgget(key, IPC_CREAT | 0600);
    ERR(msgget(key, IPC_CREAT | IPC_EXCL | 0600) < 0);  /* EEXIST */
    ERR(msgget(key, 0) == q1);
    msgctl(q1, IPC_RMID, 0);

    /* semaphores */
    int s = semget(IPC_PRIVATE, 3, 0600);
    unsigned short vals[3] = {1, 0, 5}, got[3];
    union semun arg = {.array = vals};
    ERR(semctl(s, 0, SETALL, arg));
    arg.array = got;
    semctl(s, 0, GETALL, arg);
    printf("all: %d %d %d\n", got[0], got[1], got[2]);
    struct sembuf ops[3] = {{0, -1, 0}, {2, 2, 0}, {1, -1, IPC_NOWAIT}};
    ERR(semop(s, ops, 3));                 /* the third cannot: EAGAIN, none is done */
    printf("vals: %d %d %d\n", semctl(s, 0, GETVAL), semctl(s, 1, GETVAL), semctl(s, 2, GETVAL));
    ops[2].sem_op = 0;
    ERR(semop(s, ops, 3));                 /* sem 1 is 0: all three at once */
    printf("vals: %d %d %d pid-is-me %d\n", semctl(s, 0, GETVAL), semctl(s, 1, GETVAL),
           semctl(s, 2, GETVAL), semctl(s, 2, GETPID) == getpid());
    struct sembuf two[2] = {{1, 1, 0}, {1, -1, 0}};  /* each sees the one before */
    ERR(semop(s, two, 2));
    struct sembuf up = {2, 32767, 0};
    ERR(semop(s, &up, 1));                 /* ERANGE */
    struct sembuf bad = {3, 1, 0};
    ERR(semop(s, &bad, 1));                /* EFBIG */
    struct sembuf many[501];
    memset(many, 0, sizeof many);
    ERR(semop(s, many, 501));              /* E2BIG */
    ERR(semop(s, many, 0));                /* EINVAL */
    ERR(semop(s, (void *)16, 1));          /* EFAULT */
    ERR(semctl(s, 0, SETVAL, (union semun){.val = 40000}));  /* ERANGE */
    ERR(semctl(s, 3, GETVAL));             /* EINVAL */
    ERR(semctl(s, 0, 99));                 /* EINVAL */
    struct sembuf wait0 = {0, -1, 0};
    struct timespec ts = {0, 50 * 1000 * 1000};
    ERR(semtimedop(s, &wait0, 1, &ts));    /* value 0: EAGAIN after 50 ms */
    ts.tv_nsec = -1;
    ERR(semtimedop(s, &wait0, 1, &ts));    /* EINVAL */
    printf("ncnt %d zcnt %d\n", semctl(s, 0, GETNCNT), semctl(s, 0, GETZCNT));
    struct semid_ds sds;
    ERR(semctl(s, 0, IPC_STAT, (union semun){.buf = &sds}));
    printf("set: nsems %lu mode %o otime-set %d\n", (unsigned long)sds.sem_nsems, sds.sem_perm.mode & 0777,
           sds.sem_otime != 0);
    key_t skey = ftok("/", 'T');
    int s1 = semget(skey, 2, IPC_CREAT | 0600);
    ERR(semget(skey, 3, 0));               /* more than it has: EINVAL */
    ERR(semget(skey, 1, 0) == s1);
    ERR(semget(IPC_PRIVATE, 0, 0600));     /* EINVAL */
    ERR(semget(IPC_PRIVATE, 32001, 0600)); /* EINVAL */
    semctl(s1, 0, IPC_RMID);
    ERR(semctl(s, 0, IPC_RMID));
    ERR(semctl(s, 0, GETVAL));             /* EINVAL */

    /* shared segments */
    int m = shmget(IPC_PRIVATE, 10000, 0600);
    char *a = shmat(m, 0, 0), *b = shmat(m, 0, 0);
    strcpy(a + 9000, "seen through the other attachment");
    printf("b: %s (%d)\n", b + 9000, a != b);
    char *r = shmat(m, 0, SHM_RDONLY);
    printf("r: %.4s\n", r + 9000);
    struct shmid_ds mds;
    shmctl(m, IPC_STAT, &mds);
    printf("seg: size %zu nattch %lu cpid-is-me %d mode %o\n", mds.shm_segsz, (unsigned long)mds.shm_nattch,
           mds.shm_cpid == getpid(), mds.shm_perm.mode & 0777);
    ERR(shmdt(r));
    ERR(shmdt(r));                         /* no longer attached: EINVAL */
    ERR(shmdt(a + 1));                     /* EINVAL */
    ERR(shmctl(m, IPC_RMID, 0));
    shmctl(m, IPC_STAT, &mds);
    printf("removed: nattch %lu dest %d\n", (unsigned long)mds.shm_nattch, !!(mds.shm_perm.mode & SHM_DEST));
    printf("still: %.4s\n", a + 9000);
    shmdt(a);
    shmdt(b);
    ERR(shmctl(m, IPC_STAT, &mds));        /* gone with the last detach: EINVAL */
    ERR(shmget(IPC_PRIVATE, 0, 0600));     /* EINVAL */
    key_t mkey = ftok("/", 'U');
    int m1 = shmget(mkey, 8192, IPC_CREAT | 0600);
    ERR(shmget(mkey, 8193, 0));            /* larger than it is: EINVAL */
    ERR(shmget(mkey, 100, IPC_CREAT | IPC_EXCL | 0600));  /* EEXIST */
    ERR(shmat(m1, (void *)12345, 0) == (void *)-1);       /* unaligned: EINVAL */
    shmctl(m1, IPC_RMID, 0);
    return 0;
}

static void on_usr1(int sig) { (void)sig; }

static int forked(void) {
    int q = msgget(IPC_PRIVATE, 0600), s = semget(IPC_PRIVATE, 2, 0600);
    int m = shmget(IPC_PRIVATE, 4096, 0600);
    semctl(s, 0, SETVAL, (union semun){.val = 1});
    pid_t c = fork();
    if (c == 0) {
        struct sembuf take = {0, -1, SEM_UNDO};
        semop(s, &take, 1);              /* taken, and never given back: undone at exit */
        struct msg mm;
        msgrcv(q, &mm, sizeof mm.text, 1, 0);    /* waits for the parent */
        printf("child got '%s'\n", mm.text);
        int *shared = shmat(m, 0, 0);
        shared[0] = 4242;
        shmdt(shared);
        snd(q, 2, "answer");
        fflush(stdout);
        _exit(0);
    }
    struct sembuf z = {1, 0, 0};
    while (semctl(s, 0, GETVAL) != 0) usleep(1000);  /* the child holds it */
    snd(q, 1, "question");
    struct msg mm;
    msgrcv(q, &mm, sizeof mm.text, 2, 0);
    printf("parent got '%s'\n", mm.text);
    int st;
    waitpid(c, &st, 0);
    printf("after exit: sem %d (undone)\n", semctl(s, 0, GETVAL));
    int *shared = shmat(m, 0, SHM_RDONLY);
    printf("segment: %d\n", shared[0]);
    shmdt(shared);
    semop(s, &z, 1);

    /* a child killed while it holds the semaphore: its SEM_UNDO is applied all the same */
    c = fork();
    if (c == 0) {
        struct sembuf take = {0, -1, SEM_UNDO};
        semop(s, &take, 1);
        for (;;) pause();
    }
    while (semctl(s, 0, GETVAL) != 0) usleep(1000);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    printf("after kill: sem %d, killed %d\n", semctl(s, 0, GETVAL), WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* EIDRM: a child waits on the queue, the parent removes it */
    c = fork();
    if (c == 0) {
        struct sembuf in = {1, 1, 0};
        semop(s, &in, 1);
        errno = 0;
        ssize_t n = msgrcv(q, &mm, sizeof mm.text, 9, 0);
        printf("child: msgrcv %zd %s\n", n, errname(errno));
        fflush(stdout);
        _exit(0);
    }
    while (semctl(s, 1, GETVAL) != 1) usleep(1000);
    usleep(20000);
    msgctl(q, IPC_RMID, 0);
    waitpid(c, &st, 0);

    /* EINTR: a caught signal ends semop (never restarted, SA_RESTART or not) */
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, 0);
    c = fork();
    if (c == 0) {
        struct sembuf w = {1, -5, 0};
        errno = 0;
        int r = semop(s, &w, 1);
        printf("child: semop %d %s\n", r, errname(errno));
        fflush(stdout);
        _exit(0);
    }
    while (semctl(s, 1, GETNCNT) != 1) usleep(1000);
    printf("ncnt while it waits: %d\n", semctl(s, 1, GETNCNT));
    kill(c, SIGUSR1);
    waitpid(c, &st, 0);
    printf("ncnt after: %d\n", semctl(s, 1, GETNCNT));

    /* IPC_RMID of a set a child waits on */
    c = fork();
    if (c == 0) {
        struct sembuf w = {0, 0, 0};
        semctl(s, 0, SETVAL, (union semun){.val = 3});
        errno = 0;
        int r = semop(s, &w, 1);
        printf("child: semop %d %s\n", r, errname(errno));
        fflush(stdout);
        _exit(0);
    }
    while (semctl(s, 0, GETZCNT) != 1) usleep(1000);
    semctl(s, 0, IPC_RMID);
    waitpid(c, &st, 0);
    shmctl(m, IPC_RMID, 0);
    return 0;
}

static int pair(const char *role, key_t key, int n) {
    int q = msgget(key, IPC_CREAT | 0600), s = semget(key, 3, IPC_CREAT | 0600);
    int m = shmget(key, 4096, IPC_CREAT | 0600);
    volatile int *counter = shmat(m, 0, 0);
    struct sembuf lock[2] = {{0, 0, 0}, {0, 1, SEM_UNDO}}, unlock = {0, -1, SEM_UNDO};
    for (int i = 0; i < n; i++) {
        semop(s, lock, 2);
        int v = counter[0];
        if (i % 7 == 0) usleep(100);
        counter[0] = v + 1;
        semop(s, &unlock, 1);
    }
    struct msg mm;
    if (role[0] == 'A') {  /* serves B's requests: squares */
        for (int i = 0; i < 5; i++) {
            msgrcv(q, &mm, sizeof mm.text, 1, 0);
            char out[64];
            snprintf(out, sizeof out, "%d", atoi(mm.text) * atoi(mm.text));
            snd(q, 2, out);
        }
    } else {
        for (int i = 1; i <= 5; i++) {
            char req[16];
            snprintf(req, sizeof req, "%d", i * 11);
            snd(q, 1, req);
            msgrcv(q, &mm, sizeof mm.text, 2, 0);
            printf("B: %d squared is %s\n", i * 11, mm.text);
        }
    }
    struct sembuf done = {1, 1, 0}, both[2] = {{1, -2, 0}, {1, 2, 0}};
    semop(s, &done, 1);
    semop(s, both, 2);  /* waits for the other */
    printf("%s: counter %d\n", role, counter[0]);
    shmdt((void *)counter);
    if (role[0] == 'A') {
        struct sembuf gone = {2, -1, 0};
        semop(s, &gone, 1);  /* B is done with everything */
        msgctl(q, IPC_RMID, 0);
        semctl(s, 0, IPC_RMID);
        shmctl(m, IPC_RMID, 0);
    } else {
        struct sembuf gone = {2, 1, 0};
        semop(s, &gone, 1);
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "basic")) return basic();
    if (argc >= 2 && !strcmp(argv[1], "fork")) return forked();
    if (argc >= 5 && !strcmp(argv[1], "pair")) return pair(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: sysv basic|fork|pair A|B KEY N\n");
    return 2;
}

/* System V IPC permissions for a user that is not root (issue 22, part 5; Linux's ipcperms,
 * msgget(2), msgctl(2), semop(2), semctl(2), shmat(2), shmctl(2)): root makes objects with
 * several modes, forks a child that gives up root (uid/gid 1000) and tries them, then
 * removes them. usage: sysvperm KEYBASE (keys KEYBASE+0..+6; the host build's from its pid)
 * | sysvperm KEYBASE make (root makes them and ends) | sysvperm KEYBASE use (a user's process
 * tries them: Chip.spawn(user=)) */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

struct msg {
    long type;
    char text[16];
};

static int say(const char *what, long r) {
    printf("%s %d\n", what, r < 0 ? -errno : 0);
    return (int)r;
}

static void own(const char *what, struct ipc_perm *p) {
    printf("%s uid %u gid %u cuid %u cgid %u mode %o\n", what, p->uid, p->gid, p->cuid, p->cgid,
           p->mode & 0777);
}

static void user_part(key_t k, struct msqid_ds *root_q) {
    struct msg m = {1, "hello"};
    int q_ro = msgget(k, 0), q_none = msgget(k + 1, 0), q_grp = msgget(k + 2, 0);
    int s_ro = semget(k + 3, 0, 0), s_none = semget(k + 4, 0, 0);
    int m_ro = shmget(k + 5, 0, 0), m_rw = shmget(k + 6, 0, 0);
    printf("uid %d\n", getuid());
    /* get of an existing key: the flags' mode bits are asked (msgget(2)) */
    say("msgget ro 0", msgget(k, 0) < 0 ? -1 : 0);
    say("msgget ro 0444", msgget(k, 0444) < 0 ? -1 : 0);
    say("msgget ro 0644", msgget(k, 0644) < 0 ? -1 : 0);
    say("msgget ro 0200", msgget(k, 0200) < 0 ? -1 : 0);
    say("msgget none 0", msgget(k + 1, 0) < 0 ? -1 : 0);
    say("msgget none 0400", msgget(k + 1, 0400) < 0 ? -1 : 0);
    say("msgget ro excl", msgget(k, IPC_CREAT | IPC_EXCL | 0600) < 0 ? -1 : 0);
    say("semget none 0600", semget(k + 4, 0, 0600) < 0 ? -1 : 0);
    say("semget none too many", semget(k + 4, 5, 0600) < 0 ? -1 : 0);  /* EINVAL first */
    say("shmget ro 0644", shmget(k + 5, 0, 0644) < 0 ? -1 : 0);
    say("shmget rw 0666", shmget(k + 6, 0, 0666) < 0 ? -1 : 0);
    /* messages */
    struct msg r;
    say("msgsnd ro", msgsnd(q_ro, &m, 6, IPC_NOWAIT));
    say("msgrcv ro", msgrcv(q_ro, &r, sizeof r.text, 0, IPC_NOWAIT));
    say("msgrcv ro empty", msgrcv(q_ro, &r, sizeof r.text, 0, IPC_NOWAIT));
    say("msgrcv none", msgrcv(q_none, &r, sizeof r.text, 0, IPC_NOWAIT));
    say("msgsnd none", msgsnd(q_none, &m, 6, IPC_NOWAIT));
    say("msgsnd group", msgsnd(q_grp, &m, 6, IPC_NOWAIT));
    say("msgrcv group", msgrcv(q_grp, &r, sizeof r.text, 0, IPC_NOWAIT));
    struct msqid_ds ds;
    say("msgctl stat ro", msgctl(q_ro, IPC_STAT, &ds));
    say("msgctl stat none", msgctl(q_none, IPC_STAT, &ds));
    say("msgctl set ro", msgctl(q_ro, IPC_SET, root_q));
    say("msgctl rmid ro", msgctl(q_ro, IPC_RMID, NULL));
    /* semaphores */
    struct sembuf up = {0, 1, IPC_NOWAIT}, zero = {0, 0, IPC_NOWAIT}, far = {7, 1, IPC_NOWAIT};
    say("semop ro alter", semop(s_ro, &up, 1));
    say("semop ro wait-for-zero", semop(s_ro, &zero, 1));
    say("semop none read", semop(s_none, &zero, 1));
    say("semop none far", semop(s_none, &far, 1));  /* EFBIG before EACCES */
    say("semctl ro getval", semctl(s_ro, 0, GETVAL));
    say("semctl ro getval far", semctl(s_ro, 9, GETVAL));
    say("semctl none getval far", semctl(s_none, 9, GETVAL));  /* EACCES before EINVAL */
    say("semctl ro setval", semctl(s_ro, 0, SETVAL, 1));
    unsigned short two[2] = {1, 1};
    say("semctl ro setall", semctl(s_ro, 0, SETALL, two));
    say("semctl none getall", semctl(s_none, 0, GETALL, two));
    say("semctl ro rmid", semctl(s_ro, 0, IPC_RMID));
    /* segments */
    void *p = shmat(m_ro, NULL, 0);
    say("shmat ro rw", p == (void *)-1 ? -1 : 0);
    p = shmat(m_ro, NULL, SHM_RDONLY);
    say("shmat ro rdonly", p == (void *)-1 ? -1 : 0);
    if (p != (void *)-1) shmdt(p);
    p = shmat(m_ro, NULL, SHM_RDONLY | SHM_EXEC);
    say("shmat ro exec", p == (void *)-1 ? -1 : 0);
    p = shmat(m_rw, NULL, 0);
    say("shmat rw", p == (void *)-1 ? -1 : 0);
    if (p != (void *)-1) shmdt(p);
    struct shmid_ds sd;
    say("shmctl stat ro", shmctl(m_ro, IPC_STAT, &sd));
    say("shmctl lock ro", shmctl(m_ro, SHM_LOCK, NULL));
    say("shmctl rmid ro", shmctl(m_ro, IPC_RMID, NULL));
    /* its own queue: owner and creator, given away and still the creator's */
    int mine = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    msgctl(mine, IPC_STAT, &ds);
    own("mine", &ds.msg_perm);
    ds.msg_qbytes = 1 << 20;
    say("msgctl set qbytes up", msgctl(mine, IPC_SET, &ds));
    msgctl(mine, IPC_STAT, &ds);
    ds.msg_perm.uid = 0;
    ds.msg_perm.gid = 0;
    say("msgctl give away", msgctl(mine, IPC_SET, &ds));
    say("msgctl stat given", msgctl(mine, IPC_STAT, &ds));
    own("given", &ds.msg_perm);
    say("msgsnd given", msgsnd(mine, &m, 6, IPC_NOWAIT));
    say("msgctl rmid given", msgctl(mine, IPC_RMID, NULL));
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    key_t k = (key_t)strtol(argv[1], NULL, 0);
    if (argc > 2 && !strcmp(argv[2], "use")) {
        struct msqid_ds none = {0};
        user_part(k, &none);
        return 0;
    }
    int q_ro = msgget(k, IPC_CREAT | IPC_EXCL | 0644);
    int q_none = msgget(k + 1, IPC_CREAT | IPC_EXCL | 0600);
    int q_grp = msgget(k + 2, IPC_CREAT | IPC_EXCL | 0660);
    int s_ro = semget(k + 3, 2, IPC_CREAT | IPC_EXCL | 0644);
    int s_none = semget(k + 4, 2, IPC_CREAT | IPC_EXCL | 0600);
    int m_ro = shmget(k + 5, 4096, IPC_CREAT | IPC_EXCL | 0644);
    int m_rw = shmget(k + 6, 4096, IPC_CREAT | IPC_EXCL | 0666);
    if (q_ro < 0 || q_none < 0 || q_grp < 0 || s_ro < 0 || s_none < 0 || m_ro < 0 || m_rw < 0) {
        printf("make %d\n", -errno);
        return 3;
    }
    struct msqid_ds mq;
    msgctl(q_grp, IPC_STAT, &mq);
    mq.msg_perm.gid = 1000;  /* the child's group may read and write it */
    say("root set group", msgctl(q_grp, IPC_SET, &mq));
    struct msg m = {1, "hello"};
    msgsnd(q_ro, &m, 6, 0);
    msgctl(q_ro, IPC_STAT, &mq);
    own("root's queue", &mq.msg_perm);
    fflush(stdout);
    if (argc > 2) return 0;  /* make: the objects stay for a user's process (use) */
    pid_t child = fork();
    if (child == 0) {
        if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) _exit(4);
        user_part(k, &mq);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(child, &st, 0);
    printf("child %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    int gone = 0;
    gone |= msgctl(q_ro, IPC_RMID, NULL) | msgctl(q_none, IPC_RMID, NULL) | msgctl(q_grp, IPC_RMID, NULL);
    gone |= semctl(s_ro, 0, IPC_RMID) | semctl(s_none, 0, IPC_RMID);
    gone |= shmctl(m_ro, IPC_RMID, NULL) | shmctl(m_rw, IPC_RMID, NULL);
    printf("root removed all %d\n", gone);
    return 0;
}

/* Scheduling policy, priorities and nice values as Linux reports them (kernel/calls/prio.py).
 * Compared byte for byte with the host gcc build. Modes: "root" (as root), "user" (after
 * setresuid to an ordinary user: lowering nice is EACCES, real-time EPERM), "cpu". */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long rc) {
    printf("%s = %ld errno %d\n", what, rc, rc < 0 ? errno : 0);
    errno = 0;
}

static void limits(void) {
    int pols[] = {SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, 4, 77, -1};
    for (unsigned i = 0; i < sizeof pols / sizeof *pols; i++) {
        errno = 0;
        int mx = sched_get_priority_max(pols[i]), e1 = errno;
        errno = 0;
        int mn = sched_get_priority_min(pols[i]), e2 = errno;
        printf("policy %d: max %d errno %d min %d errno %d\n", pols[i], mx, e1, mn, e2);
    }
}

static void getters(void) {
    struct sched_param sp = {.sched_priority = 42};
    show("getscheduler(0)", syscall(SYS_sched_getscheduler, 0));
    show("getscheduler(self)", syscall(SYS_sched_getscheduler, getpid()));
    show("getscheduler(-1)", syscall(SYS_sched_getscheduler, -1));
    show("getscheduler(missing)", syscall(SYS_sched_getscheduler, 999999));
    show("getparam(0)", syscall(SYS_sched_getparam, 0, &sp));
    printf("  priority %d\n", sp.sched_priority);
    show("getparam(0, NULL)", syscall(SYS_sched_getparam, 0, NULL));
    show("getparam(-3)", syscall(SYS_sched_getparam, -3, &sp));
    show("getparam(missing)", syscall(SYS_sched_getparam, 999999, &sp));
}

static void setters(void) {
    struct sched_param zero = {0}, one = {1}, big = {100};
    show("setscheduler(OTHER, 0)", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &zero));
    show("setscheduler(OTHER, 1)", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &one));
    show("setscheduler(FIFO, 0)", syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &zero));
    show("setscheduler(RR, 100)", syscall(SYS_sched_setscheduler, 0, SCHED_RR, &big));
    show("setscheduler(77, 0)", syscall(SYS_sched_setscheduler, 0, 77, &zero));
    show("setscheduler(-5, 0)", syscall(SYS_sched_setscheduler, 0, -5, &zero));
    show("setscheduler(-1 pid)", syscall(SYS_sched_setscheduler, -1, SCHED_OTHER, &zero));
    show("setscheduler(NULL)", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL));
    show("setscheduler(missing)", syscall(SYS_sched_setscheduler, 999999, SCHED_OTHER, &zero));
    show("setparam(0)", syscall(SYS_sched_setparam, 0, &zero));
    show("setparam(1)", syscall(SYS_sched_setparam, 0, &one));
    show("setparam(missing)", syscall(SYS_sched_setparam, 999999, &zero));
    show("getscheduler after", syscall(SYS_sched_getscheduler, 0));
}

static void nice_values(int root) {
    errno = 0;
    show("getpriority(self)", getpriority(PRIO_PROCESS, 0));
    show("getpriority(bad which)", getpriority(7, 0));
    show("getpriority(missing)", getpriority(PRIO_PROCESS, 999999));
    show("setpriority(bad which)", setpriority(7, 0, 1));
    show("setpriority(missing)", setpriority(PRIO_PROCESS, 999999, 1));
    show("setpriority(5)", setpriority(PRIO_PROCESS, 0, 5));
    show("getpriority", getpriority(PRIO_PROCESS, getpid()));
    show("setpriority(100) clamps", setpriority(PRIO_PROCESS, getpid(), 100));
    show("getpriority", getpriority(PRIO_PROCESS, 0));
    show("setpriority(12)", setpriority(PRIO_PROCESS, 0, 12));
    show("getpriority", getpriority(PRIO_PROCESS, 0));
    show("nice(2)", nice(2));
    pid_t c = fork();
    if (c == 0) {  /* inherited by the child */
        show("child getpriority", getpriority(PRIO_PROCESS, 0));
        show("child setpriority(16)", setpriority(PRIO_PROCESS, 0, 16));
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    show("parent after child", getpriority(PRIO_PROCESS, 0));
    if (root) {
        show("setpriority(-20) root", setpriority(PRIO_PROCESS, 0, -20));
        show("setpriority(-100) clamps", setpriority(PRIO_PROCESS, 0, -100));
        show("getpriority", getpriority(PRIO_PROCESS, 0));
        show("setpriority(0)", setpriority(PRIO_PROCESS, 0, 0));
    } else {
        show("setpriority(13) lower", setpriority(PRIO_PROCESS, 0, 13));
        show("setpriority(19) higher", setpriority(PRIO_PROCESS, 0, 19));
        show("setpriority(14) lower", setpriority(PRIO_PROCESS, 0, 14));
        show("setpriority(-1)", setpriority(PRIO_PROCESS, 0, -1));
    }
    show("getpriority", getpriority(PRIO_PROCESS, 0));
}

#ifdef __riscv
#include <shoal.h>
static int mig_mode(int to) {  /* the nice value travels in the image */
    setpriority(PRIO_PROCESS, 0, 7);
    if (shoal_migrate(to) != 0) return 1;
    printf("on %d nice %d\n", shoal_cluster(), getpriority(PRIO_PROCESS, 0));
    return 0;
}
#endif

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "root";
    setvbuf(stdout, NULL, _IONBF, 0);
#ifdef __riscv
    if (!strcmp(mode, "mig")) return mig_mode(argc > 2 ? argv[2][0] - '0' : 1);
#endif
    if (!strcmp(mode, "exec")) {  /* exec keeps the nice value */
        setpriority(PRIO_PROCESS, 0, 6);
        execl(argv[0], argv[0], "shownice", (char *)0);
        printf("execl failed errno %d\n", errno);
        return 1;
    }
    if (!strcmp(mode, "shownice")) {
        printf("after exec nice %d\n", getpriority(PRIO_PROCESS, 0));
        return 0;
    }
    if (!strcmp(mode, "cpu")) {
        unsigned cpu = 9999, node = 9999;
        long rc = syscall(SYS_getcpu, &cpu, &node, NULL);
        int s = sched_getcpu();
        printf("getcpu = %ld cpu ok %d node ok %d sched_getcpu ok %d\n", rc, cpu < 1024,
               node < 1024, s >= 0 && s < 1024);
        show("getcpu(NULL, NULL)", syscall(SYS_getcpu, NULL, NULL, NULL));
        return 0;
    }
    if (!strcmp(mode, "user")) {
        struct rlimit r;
        getrlimit(RLIMIT_NICE, &r);
        printf("RLIMIT_NICE %ld\n", (long)r.rlim_cur);
        show("setresuid", setresuid(1000, 1000, 1000));
        struct sched_param one = {1};
        show("setscheduler(FIFO, 1) user", syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &one));
        setters();
        nice_values(0);
        return 0;
    }
    limits();
    getters();
    setters();
    nice_values(1);
    return 0;
}

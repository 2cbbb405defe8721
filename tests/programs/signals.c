/* Signals with handlers (issue 22), one mode per argv[1]; the same output natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __riscv
#include <shoal.h>
#endif

static volatile sig_atomic_t hits, last_sig;
static volatile int order[16], norder;
static volatile long got_code, got_pid_ok, got_value, mask_in_handler;
static volatile uintptr_t got_addr, stack_at;

static void on_plain(int sig) { hits++; last_sig = sig; if (norder < 16) order[norder++] = sig; }

static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++; last_sig = sig;
    got_code = si->si_code;
    got_pid_ok = si->si_pid == getpid();
    got_value = si->si_value.sival_int;
    if (norder < 16) order[norder++] = sig == SIGUSR1 || sig == SIGUSR2 ? sig : 100 + si->si_value.sival_int;
}

static void on_mask(int sig) {
    sigset_t cur;
    (void)sig;
    sigprocmask(SIG_BLOCK, 0, &cur);
    mask_in_handler = sigismember(&cur, SIGUSR1) * 1 + sigismember(&cur, SIGUSR2) * 2 + sigismember(&cur, SIGTERM) * 4;
    hits++;
}

static void on_stack(int sig) {
    int local;
    stack_t ss;
    (void)sig;
    stack_at = (uintptr_t)&local;
    sigaltstack(0, &ss);
    mask_in_handler = ss.ss_flags;
    hits++;
}

static void set(int sig, void (*h)(int), int flags, int masksig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (masksig) sigaddset(&sa.sa_mask, masksig);
    if (sigaction(sig, &sa, 0)) printf("sigaction %d failed: errno %d\n", sig, errno);
}

static void seti(int sig, int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = flags | SA_SIGINFO;
    sigaction(sig, &sa, 0);
}

static int basic(void) {
    set(SIGUSR1, on_plain, 0, 0);
    int r = raise(SIGUSR1);
    printf("raise -> %d, hits %d, sig %d\n", r, hits, last_sig);
    seti(SIGUSR2, 0);
    kill(getpid(), SIGUSR2);
    printf("kill: sig %d code %ld pid ok %ld\n", last_sig, got_code, got_pid_ok);
    raise(SIGUSR2);
    printf("raise: code %ld (SI_TKILL %d)\n", got_code, SI_TKILL);
    seti(SIGRTMIN + 1, 0);
    union sigval v = {.sival_int = 42};
    sigqueue(getpid(), SIGRTMIN + 1, v);
    printf("sigqueue: sig rtmin+%d code %ld value %ld\n", last_sig - SIGRTMIN, got_code, got_value);
    /* floating point survives a handler that uses it too */
    volatile double x = 1.5;
    double y = x * 3.0;
    raise(SIGUSR1);
    printf("fp after handler %.3f hits %d\n", y + x, hits);
    /* the mask while a handler runs: its own signal and sa_mask */
    set(SIGUSR1, on_mask, 0, SIGTERM);
    raise(SIGUSR1);
    printf("mask in handler %ld\n", mask_in_handler);
    set(SIGUSR1, on_mask, SA_NODEFER, 0);
    raise(SIGUSR1);
    printf("mask in handler with SA_NODEFER %ld\n", mask_in_handler);
    /* SA_RESETHAND: once, then the default */
    set(SIGUSR2, on_plain, SA_RESETHAND, 0);
    raise(SIGUSR2);
    struct sigaction old;
    sigaction(SIGUSR2, 0, &old);
    printf("after SA_RESETHAND handler is default: %d\n", old.sa_handler == SIG_DFL);
    /* ignored: nothing happens */
    signal(SIGUSR2, SIG_IGN);
    hits = 0;
    raise(SIGUSR2);
    printf("ignored hits %d\n", hits);
    fflush(stdout);
    signal(SIGUSR2, SIG_DFL);
    raise(SIGUSR2);  /* the default action ends the process */
    printf("not reached\n");
    return 0;
}

static int masks(void) {
    sigset_t s, pend, old;
    set(SIGUSR1, on_plain, 0, 0);
    seti(SIGRTMIN, 0);
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &s, &old);
    printf("old mask had USR1: %d\n", sigismember(&old, SIGUSR1));
    raise(SIGUSR1);
    raise(SIGUSR1);
    for (int i = 0; i < 3; i++) {
        union sigval v = {.sival_int = i};
        sigqueue(getpid(), SIGRTMIN, v);
    }
    sigpending(&pend);
    printf("blocked: hits %d, pending USR1 %d RTMIN %d USR2 %d\n", hits, sigismember(&pend, SIGUSR1),
           sigismember(&pend, SIGRTMIN), sigismember(&pend, SIGUSR2));
    sigprocmask(SIG_UNBLOCK, &s, 0);
    printf("unblocked: hits %d (USR1 once, RTMIN three times), order", hits);
    for (int i = 0; i < norder; i++) printf(" %d", order[i] == SIGUSR1 ? 1 : order[i]);
    printf("\n");
    sigpending(&pend);
    printf("pending after: USR1 %d\n", sigismember(&pend, SIGUSR1));
    /* SIGKILL and SIGSTOP cannot be blocked */
    sigfillset(&s);
    sigprocmask(SIG_SETMASK, &s, 0);
    sigprocmask(SIG_SETMASK, 0, &old);
    printf("fill: KILL %d STOP %d USR1 %d\n", sigismember(&old, SIGKILL), sigismember(&old, SIGSTOP),
           sigismember(&old, SIGUSR1));
    /* sigsuspend waits with a temporary mask, the old one comes back */
    hits = 0;
    raise(SIGUSR1);
    sigemptyset(&s);
    int r = sigsuspend(&s);
    sigprocmask(SIG_SETMASK, 0, &old);
    printf("sigsuspend %d errno %d hits %d mask back %d\n", r, errno, hits, sigismember(&old, SIGUSR1));
    /* sigtimedwait takes a blocked pending signal without its handler */
    raise(SIGUSR1);
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    siginfo_t si;
    r = sigwaitinfo(&s, &si);
    printf("sigwaitinfo %d signo %d hits %d\n", r, si.si_signo, hits);
    struct timespec ts = {0, 1000000};
    r = sigtimedwait(&s, &si, &ts);
    printf("sigtimedwait %d errno %d\n", r, errno);
    return 0;
}

static char altbuf[65536];

static int altstack(void) {
    stack_t ss = {.ss_sp = altbuf, .ss_size = sizeof altbuf, .ss_flags = 0}, old;
    printf("sigaltstack %d\n", sigaltstack(&ss, &old));
    printf("old flags %d (SS_DISABLE %d)\n", old.ss_flags, SS_DISABLE);
    set(SIGUSR1, on_stack, SA_ONSTACK, 0);
    raise(SIGUSR1);
    printf("on alt stack: %d, flags in handler %ld (SS_ONSTACK %d)\n",
           stack_at >= (uintptr_t)altbuf && stack_at < (uintptr_t)altbuf + sizeof altbuf, mask_in_handler, SS_ONSTACK);
    set(SIGUSR2, on_stack, 0, 0);
    raise(SIGUSR2);
    printf("without SA_ONSTACK on alt stack: %d\n",
           stack_at >= (uintptr_t)altbuf && stack_at < (uintptr_t)altbuf + sizeof altbuf);
    ss.ss_size = 100;
    int r = sigaltstack(&ss, 0);
    printf("small: %d errno %d\n", r, errno);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, 0);
    sigaltstack(0, &old);
    printf("disabled flags %d\n", old.ss_flags);
    return 0;
}

static sigjmp_buf jb;
static volatile char *volatile page;

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++;
    got_addr = (uintptr_t)si->si_addr;
    got_code = si->si_code;
    last_sig = sig;
    if (hits == 1) siglongjmp(jb, 1);
    mprotect((void *)page, 4096, PROT_READ | PROT_WRITE);  /* returning runs the store again */
}

static int fault(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    volatile int *bad = (int *)16;
    if (!sigsetjmp(jb, 1)) {
        *bad = 1;
        printf("not reached\n");
    }
    printf("longjmp out: sig %d addr %lu code %ld (MAPERR %d)\n", last_sig, (unsigned long)got_addr, got_code, SEGV_MAPERR);
    page = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[8] = 7;
    printf("store after the handler: %d, addr off %ld code %ld (ACCERR %d) hits %d\n", page[8],
           (long)(got_addr - (uintptr_t)page), got_code, SEGV_ACCERR, hits);
    fflush(stdout);
    signal(SIGSEGV, SIG_DFL);
    *bad = 2;  /* the default action */
    return 0;
}

#define TRY(what, e) do { errno = 0; long r_ = (e); printf("%s = %ld errno %d\n", what, r_, r_ < 0 ? errno : 0); } while (0)

static int errors(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_plain;
    TRY("sigaction 0", sigaction(0, &sa, 0));
    TRY("sigaction 65", syscall(SYS_rt_sigaction, 65, 0, 0, 8));
    TRY("sigaction KILL", sigaction(SIGKILL, &sa, 0));
    TRY("sigaction STOP", sigaction(SIGSTOP, &sa, 0));
    TRY("sigaction KILL old only", sigaction(SIGKILL, 0, &sa));
    TRY("rt_sigaction bad new", syscall(SYS_rt_sigaction, SIGUSR1, (void *)8, 0, 8));
    TRY("rt_sigaction bad old", syscall(SYS_rt_sigaction, SIGUSR1, 0, (void *)8, 8));
    TRY("rt_sigaction size 4", syscall(SYS_rt_sigaction, SIGUSR1, 0, 0, 4));
    TRY("rt_sigprocmask bad how", syscall(SYS_rt_sigprocmask, 7, &sa.sa_mask, 0, 8));
    TRY("rt_sigprocmask bad set", syscall(SYS_rt_sigprocmask, SIG_BLOCK, (void *)8, 0, 8));
    TRY("rt_sigpending size 9", syscall(SYS_rt_sigpending, &sa.sa_mask, 9));
    TRY("kill bad signal", kill(getpid(), 99));
    TRY("kill no such pid", kill(0x3ffffff0, SIGUSR1));
    TRY("kill signal 0", kill(getpid(), 0));
    TRY("tkill tid 0", syscall(SYS_tkill, 0, SIGUSR1));
    TRY("tgkill bad tid", syscall(SYS_tgkill, getpid(), 0x3ffffff0, SIGUSR1));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_code = SI_USER;
    TRY("sigqueueinfo claims kill", syscall(SYS_rt_sigqueueinfo, getpid() + 1, SIGUSR1, &si));
    return 0;
}

/* blocking calls: EINTR, or restarted with SA_RESTART */
static sem_t sem;
static pthread_t main_thread;

static void *poker(void *arg) {
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, 0);
    pthread_kill(main_thread, SIGUSR1);
    if (arg) {
        nanosleep(&ts, 0);
        sem_post(&sem);
    }
    return 0;
}

static int eintr(void) {
    pthread_t th;
    main_thread = pthread_self();
    set(SIGUSR1, on_plain, 0, 0);
    pthread_create(&th, 0, poker, 0);
    struct timespec ts = {5, 0}, rem = {0, 0};
    int r = nanosleep(&ts, &rem);
    printf("nanosleep %d errno %d hits %d rem > 4s %d\n", r, errno, hits, rem.tv_sec >= 4);
    pthread_join(th, 0);
    sem_init(&sem, 0, 0);
    pthread_create(&th, 0, poker, 0);
    r = sem_wait(&sem);
    printf("sem_wait %d errno %d hits %d\n", r, errno, hits);
    pthread_join(th, 0);
    set(SIGUSR1, on_plain, SA_RESTART, 0);
    pthread_create(&th, 0, poker, (void *)1);
    r = sem_wait(&sem);
    printf("sem_wait with SA_RESTART %d hits %d\n", r, hits);
    pthread_join(th, 0);
    return 0;
}

/* pthread_cancel: a thread in a condition wait, one asleep, one polling */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static volatile int cleaned;

static void cleanup(void *arg) { cleaned += (int)(intptr_t)arg; }

static void *waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    pthread_cleanup_push(cleanup, (void *)1);
    for (;;) pthread_cond_wait(&cv, &mu);
    pthread_cleanup_pop(0);
    return 0;
}

static void *sleeper(void *arg) {
    (void)arg;
    pthread_cleanup_push(cleanup, (void *)10);
    for (;;) {
        struct timespec ts = {10, 0};
        nanosleep(&ts, 0);
    }
    pthread_cleanup_pop(0);
    return 0;
}

static volatile int spin_started;

static void *spinner(void *arg) {
    (void)arg;
    pthread_cleanup_push(cleanup, (void *)100);
    for (;;) { spin_started = 1; pthread_testcancel(); }
    pthread_cleanup_pop(0);
    return 0;
}

static int cancel(void) {
    void *(*fns[3])(void *) = {waiter, sleeper, spinner};
    for (int i = 0; i < 3; i++) {
        pthread_t th;
        void *res;
        pthread_create(&th, 0, fns[i], 0);
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, 0);
        int r = pthread_cancel(th);
        pthread_join(th, &res);
        if (i == 0) pthread_mutex_unlock(&mu);
        printf("cancel %d: %d canceled %d cleanup %d\n", i, r, res == PTHREAD_CANCELED, cleaned);
    }
    return 0;
}

/* two processes (on two clusters on the chip): the child says it is ready, the parent
   signals it; a default action ends the next one; a signal to an ended pid is ESRCH */
static volatile int ready;
static void on_ready(int sig) { (void)sig; ready = 1; }

static int child(int parent, int wait_usr1) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, 0);  /* a fork child inherits the parent's mask */
    seti(SIGUSR1, 0);
    kill(parent, SIGUSR1);
    for (int i = 0; i < 2000 && !hits; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, 0);
    }
    if (!wait_usr1) return 3;
    printf("child: sig %d code %ld value %ld\n", last_sig, got_code, got_value);
    return hits ? 0 : 1;
}

static int start(const char *self, const char *what, int cluster) {
    char me[16];
    snprintf(me, sizeof me, "%d", getpid());
#ifdef __riscv
    char *args[] = {(char *)self, (char *)what, me, 0};
    return shoal_spawn(self, args, cluster);
#else
    (void)self; (void)cluster;
    int pid = fork();
    if (pid == 0) exit(child(getpid() ? atoi(me) : 0, !strcmp(what, "child")));
    return pid;
#endif
}

static int reap(int pid) {
    int st = 0;
#ifdef __riscv
    shoal_wait(pid, &st);
#else
    waitpid(pid, &st, 0);
#endif
    return st;
}

static int pair(const char *self) {
    sigset_t s, none;
    set(SIGUSR1, on_ready, 0, 0);
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &s, 0);
    int pid = start(self, "child", 1);
    while (!ready) sigsuspend(&none);
    union sigval v = {.sival_int = 7};
    int r = sigqueue(pid, SIGUSR1, v);
    int st = reap(pid);
    printf("sigqueue %d; child exited %d status %d\n", r, WIFEXITED(st), WEXITSTATUS(st));
    ready = 0;
    pid = start(self, "victim", 2);
    while (!ready) sigsuspend(&none);
    r = kill(pid, SIGTERM);
    st = reap(pid);
    printf("kill %d; victim signaled %d by %d\n", r, WIFSIGNALED(st), WTERMSIG(st));
    errno = 0;
    r = kill(pid, SIGUSR1);
    printf("kill of an ended pid %d errno %d\n", r, errno);
    return 0;
}

/* handler installed, one signal blocked and pending across a migration */
static int mig(void) {
    sigset_t s, pend;
    set(SIGUSR1, on_plain, 0, 0);
    set(SIGUSR2, on_plain, SA_RESTART, 0);
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigprocmask(SIG_BLOCK, &s, 0);
    raise(SIGUSR2);
#ifdef __riscv
    shoal_migrate(2);
    if (shoal_cluster() != 2) printf("did not move\n");
#endif
    sigpending(&pend);
    printf("after the move: pending USR2 %d hits %d\n", sigismember(&pend, SIGUSR2), hits);
    raise(SIGUSR1);
    printf("USR1 handled: hits %d\n", hits);
    sigprocmask(SIG_UNBLOCK, &s, 0);
    printf("USR2 unblocked: hits %d last %d\n", hits, last_sig);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IOLBF, 0);
    const char *m = argc > 1 ? argv[1] : "basic";
    if (!strcmp(m, "basic")) return basic();
    if (!strcmp(m, "masks")) return masks();
    if (!strcmp(m, "altstack")) return altstack();
    if (!strcmp(m, "fault")) return fault();
    if (!strcmp(m, "errors")) return errors();
    if (!strcmp(m, "eintr")) return eintr();
    if (!strcmp(m, "cancel")) return cancel();
    if (!strcmp(m, "pair")) return pair(argv[0]);
    if (!strcmp(m, "mig")) return mig();
    if (!strcmp(m, "child") || !strcmp(m, "victim")) return child(atoi(argv[2]), !strcmp(m, "child"));
    return 2;
}

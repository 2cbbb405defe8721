/* Guest misbehaviours the kernel must refuse cleanly (issue 12), one per mode (argv[1]).
 * Each prints what the calls returned; the test knows what Linux or shoal's API promises. */
#include <errno.h>
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW(name, expr) printf("%s %d\n", name, (int)(expr))

static char big_arg[4096];

static int spawn_too_big(int cluster) {
    static char *args[65];
    memset(big_arg, 'x', sizeof big_arg - 1);
    for (int i = 0; i < 64; i++) args[i] = big_arg;  /* 64 x 4 KiB: over the 256 KiB allowed */
    args[64] = NULL;
    return shoal_spawn("guest_harden", args, cluster);
}

static int sync_dup(void) {
    int me = getpid();
    int pids[3] = {me, me, me};
    return shoal_sync_create(40, pids, 3, SHOAL_SYNC_ALL_TO_ONE) * 1000
           + shoal_sync_open(41, pids, 3, SHOAL_SYNC_ALL_TO_ONE);
}

static int portal_close_mailbox(void) {
    int in = shoal_mailbox_create(50);
    int out = shoal_mailbox_open(getpid(), 50);
    int a = shoal_portal_close(out), b = shoal_portal_close(in), c = shoal_sync_close(out);
    int d = shoal_mailbox_close(out), e = shoal_mailbox_close(in);
    return (a == -EBADF && b == -EBADF && c == -EBADF && d == 0 && e == 0) ? 0 : -1;
}

/* n one-page mappings, alternating rights so that no two are alike (Linux would merge
 * those); returns how many succeeded, *err the first failure's errno. */
static int map_many(int n, void **keep, int *err) {
    *err = 0;
    for (int i = 0; i < n; i++) {
        void *p = mmap(NULL, 4096, (i & 1) ? PROT_READ : PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { *err = errno; return i; }
        if (keep) keep[i] = p;
    }
    return n;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "sync_dup")) {
        int me = getpid();
        int pids[3] = {me, me, me};
        SHOW("create_all_to_one", shoal_sync_create(40, pids, 3, SHOAL_SYNC_ALL_TO_ONE));
        SHOW("create_one_to_all", shoal_sync_create(41, pids, 3, SHOAL_SYNC_ONE_TO_ALL));
        SHOW("open_all_to_one", shoal_sync_open(42, pids, 3, SHOAL_SYNC_ALL_TO_ONE));
        SHOW("open_one_to_all", shoal_sync_open(43, pids, 3, SHOAL_SYNC_ONE_TO_ALL));
        int two[3] = {me, 99, 99};
        SHOW("create_dup_others", shoal_sync_create(44, two, 3, SHOAL_SYNC_ALL_TO_ONE));
        return 0;
    }
    if (!strcmp(mode, "migrate")) {
        int n = shoal_clusters();
        SHOW("migrate_-1", shoal_migrate(-1));
        SHOW("migrate_-2", shoal_migrate(-2));
        SHOW("migrate_n", shoal_migrate(n));
        SHOW("migrate_big", shoal_migrate(0x7fffffff));
        SHOW("migrate_here", shoal_migrate(shoal_cluster()));
        return 0;
    }
    if (!strcmp(mode, "mmap")) {  /* mmap N: map N pages, touch a few, unmap them all */
        int n = argc > 2 ? atoi(argv[2]) : 20000;
        void **keep = malloc(sizeof(void *) * n);
        int err;
        int got = map_many(n, keep, &err);
        for (int i = 0; i < got; i += 998)  /* even: writable */ ((volatile char *)keep[i])[0] = 0;
        int bad = 0;
        for (int i = 0; i < got; i++) bad += munmap(keep[i], 4096) != 0;
        printf("mapped %d err %d unmapped_failures %d\n", got, err, bad);
        return 0;
    }
    if (!strcmp(mode, "mmap_limit")) {  /* until refused; then one more after freeing one */
        int err;
        int got = map_many(1 << 20, NULL, &err);
        printf("mapped %d err %s\n", got, err == ENOMEM ? "ENOMEM" : "other");
        return 0;
    }
    if (!strcmp(mode, "spawn_big")) {  /* spawn_big N */
        int n = argc > 2 ? atoi(argv[2]) : 40, e2big = 0;
        for (int i = 0; i < n; i++) e2big += spawn_too_big(1) == -E2BIG;
        SHOW("e2big", e2big);
        char *ok[] = {"guest_harden", "exit", "5", NULL};
        int pid = shoal_spawn("guest_harden", ok, 1), st = 0;
        SHOW("spawn_after", pid > 0);
        SHOW("wait", shoal_wait(pid, &st) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return 0;
    }
    if (!strcmp(mode, "exit")) return atoi(argv[2]);
    if (!strcmp(mode, "waitfor")) return -shoal_wait(atoi(argv[2]), NULL);  /* 10: ECHILD */
    if (!strcmp(mode, "wait")) {
        char *sleeper[] = {"guest_harden", "exit", "3", NULL};
        int c1 = shoal_spawn("guest_harden", sleeper, 0);
        char pid[16];
        snprintf(pid, sizeof pid, "%d", c1);
        char *waiter[] = {"guest_harden", "waitfor", pid, NULL};
        int c2 = shoal_spawn("guest_harden", waiter, 1), st = 0;
        SHOW("not_my_child", shoal_wait(c2, &st) == c2 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        SHOW("my_child", shoal_wait(c1, &st) == c1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        SHOW("again", shoal_wait(c1, &st));
        SHOW("host_spawned", shoal_wait(getpid() == 1 ? 2 : 1, &st));
        return 0;
    }
    if (!strcmp(mode, "portal_close")) {
        int in = shoal_mailbox_create(50);
        int out = shoal_mailbox_open(getpid(), 50);
        SHOW("portal_close_mailbox_out", shoal_portal_close(out));
        SHOW("portal_close_mailbox_in", shoal_portal_close(in));
        SHOW("sync_close_mailbox_out", shoal_sync_close(out));
        SHOW("mailbox_close_out", shoal_mailbox_close(out));
        SHOW("mailbox_close_in", shoal_mailbox_close(in));
        return 0;
    }
    if (!strcmp(mode, "ebreak")) {
        __asm__ volatile("ebreak");
        return 0;
    }
    if (!strcmp(mode, "badfetch")) {
        ((void (*)(void))0xFFFFFFF0u)();
        return 0;
    }
    if (!strcmp(mode, "store")) {
        *(volatile int *)0x12344 = 1;
        return 0;
    }
    if (!strcmp(mode, "load")) {
        return *(volatile int *)0x5ab8;
    }
    if (!strcmp(mode, "stress")) {  /* stress ROUNDS: all of the above, over and over */
        int rounds = argc > 2 ? atoi(argv[2]) : 20, bad = 0;
        static void *keep[300];
        for (int r = 0; r < rounds; r++) {
            bad += sync_dup() != -EINVAL * 1000 - EINVAL;
            bad += shoal_migrate(-1) != -EINVAL;
            bad += shoal_migrate(shoal_clusters() + r) != -EINVAL;
            bad += spawn_too_big(shoal_cluster()) != -E2BIG;
            bad += portal_close_mailbox() != 0;
            bad += shoal_wait(r + 1000, NULL) != -ECHILD;
            int err, got = map_many(300, keep, &err);
            bad += got != 300;
            for (int i = 0; i < got; i++) munmap(keep[i], 4096);
            static const char *crash[] = {"ebreak", "badfetch", "store", "load"};
            char *args[] = {"guest_harden", (char *)crash[r % 4], NULL};
            int pid = shoal_spawn("guest_harden", args, shoal_cluster()), st = 0;
            bad += pid <= 0 || shoal_wait(pid, &st) != pid || !WIFSIGNALED(st);
        }
        printf("stress rounds %d bad %d\n", rounds, bad);
        return bad != 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}

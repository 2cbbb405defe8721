/* Every IKC, service and file-image refusal, one per line: "name result". Each call must
 * come back with a negative errno at once; nothing may hang. */
#include <errno.h>
#include <fcntl.h>
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW(name, expr) printf("%s %d\n", name, (int)(expr))

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "child")) return 7;
    if (argc > 1 && !strcmp(argv[1], "crash")) { *(volatile int *)0 = 1; return 0; }
    int me = getpid();
    char big[SHOAL_MAILBOX_SIZE + 1] = {0};
    int in = shoal_mailbox_create(3);
    SHOW("mailbox_create_again", shoal_mailbox_create(3));
    SHOW("mailbox_create_bad_port", shoal_mailbox_create(-1));
    SHOW("mailbox_open_unknown_pid", shoal_mailbox_open(9999, 1));
    int out = shoal_mailbox_open(me, 4); /* exists as a process, but no mailbox on port 4 */
    SHOW("mailbox_write_unknown_port", shoal_mailbox_write(out, "x", 1));
    int self = shoal_mailbox_open(me, 3);
    SHOW("mailbox_write_too_big", shoal_mailbox_write(self, big, sizeof big));
    SHOW("mailbox_write_bad_pointer", shoal_mailbox_write(self, (void *)16, 8));
    SHOW("mailbox_write_self", shoal_mailbox_write(self, "hello", 5));
    char buf[SHOAL_MAILBOX_SIZE];
    SHOW("mailbox_read_self", shoal_mailbox_read(in, buf, sizeof buf));
    SHOW("mailbox_read_on_output", shoal_mailbox_read(self, buf, sizeof buf));
    SHOW("mailbox_write_on_input", shoal_mailbox_write(in, "x", 1));
    SHOW("mailbox_close", shoal_mailbox_close(self));
    SHOW("mailbox_write_closed", shoal_mailbox_write(self, "x", 1));
    SHOW("mailbox_close_input", shoal_mailbox_close(in));
    SHOW("mailbox_write_after_receiver_closed", shoal_mailbox_write(shoal_mailbox_open(me, 3), "x", 1));
    SHOW("mailbox_read_bad_descriptor", shoal_mailbox_read(77, buf, 4));
    int p = shoal_portal_create(5);
    SHOW("portal_read_without_allow", shoal_portal_read(p, buf, 4));
    SHOW("portal_allow_bad_pid", shoal_portal_allow(p, 0));
    SHOW("portal_write_unknown_port", shoal_portal_write(shoal_portal_open(me, 6), "x", 1));
    SHOW("portal_open_unknown_pid", shoal_portal_open(4242, 5));
    int pids[2] = {me, 9999};
    SHOW("sync_create_bad_mode", shoal_sync_create(1, pids, 2, 9));
    SHOW("sync_create_one_pid", shoal_sync_create(1, pids, 1, SHOAL_SYNC_ALL_TO_ONE));
    SHOW("sync_open_unknown_pid", shoal_sync_open(1, (int[]){9999, me}, 2, SHOAL_SYNC_ALL_TO_ONE));
    SHOW("sync_wait_bad_descriptor", shoal_sync_wait(99));
    char *args[] = {"ikc_errors", "child", NULL};
    SHOW("spawn_missing_file", shoal_spawn("no_such_program", args, 0));
    SHOW("spawn_bad_cluster", shoal_spawn("ikc_errors", args, 99));
    SHOW("spawn_not_elf", shoal_spawn("input.txt", args, 1));
    SHOW("spawn_no_memory", shoal_spawn("hog", args, 1));
    SHOW("spawn_bad_pointer", shoal_spawn((const char *)16, args, 1));
    int st = 0;
    int child = shoal_spawn("ikc_errors", args, 1);
    SHOW("wait_child", shoal_wait(child, &st) == child);
    SHOW("wait_child_exit_code", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char *crash[] = {"ikc_errors", "crash", NULL};
    int bad = shoal_spawn("ikc_errors", crash, SHOAL_ANY_CLUSTER);
    SHOW("wait_crashed", shoal_wait(bad, &st) == bad);
    SHOW("wait_crashed_signal", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    SHOW("wait_self", shoal_wait(me, &st));
    SHOW("wait_unknown", shoal_wait(31337, &st));
    SHOW("wait_bad_status_pointer", shoal_wait(child, (int *)16));
    SHOW("name_lookup_missing", shoal_name_lookup("nobody"));
    SHOW("name_link", shoal_name_link("errors"));
    SHOW("name_link_again", shoal_name_link("errors"));
    SHOW("name_lookup", shoal_name_lookup("errors") == me);
    SHOW("name_unlink", shoal_name_unlink("errors"));
    SHOW("name_lookup_unlinked", shoal_name_lookup("errors"));
    SHOW("name_too_long", shoal_name_link("a-name-that-is-far-too-long-for-the-name-service-of-shoal-to-keep-it"));
    errno = 0;
    SHOW("open_missing", open("missing.txt", O_RDONLY) < 0 ? -errno : 0);
    SHOW("open_for_writing", open("input.txt", O_WRONLY) < 0 ? -errno : 0);
    SHOW("cluster_in_range", shoal_cluster() >= 0 && shoal_cluster() < shoal_clusters());
    return 0;
}

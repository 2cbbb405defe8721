/* What a sender gets from a process that has ended (after moving, or not).
 *   loc_gone target TAG [C1 C2 ...]   make a mailbox and a portal, wait for one message,
 *                                     migrate itself to C1, C2, ... in turn, then end
 *   loc_gone sender TAG WAIT_US       open both, send the message, wait until the target's
 *                                     name is gone (it ended), WAIT_US more, then write to both and open again;
 *                                     print what each call returned */
#include <shoal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char buf[64] = "opened";
    if (!strcmp(argv[1], "target")) {
        int in = shoal_mailbox_create(1), portal = shoal_portal_create(2);
        if (in < 0 || portal < 0 || shoal_name_link(argv[2]) != 0) return 1;
        if (shoal_mailbox_read(in, buf, sizeof buf) != sizeof buf) return 1;
        for (int k = 3; k < argc; k++)
            if (shoal_migrate(atoi(argv[k])) != 0) return 1;
        return 0;
    }
    if (argc < 4) return 2;
    int pid;
    while ((pid = shoal_name_lookup(argv[2])) < 0) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    int out = shoal_mailbox_open(pid, 1), portal = shoal_portal_open(pid, 2);
    if (out < 0 || portal < 0 || shoal_mailbox_write(out, buf, sizeof buf) != sizeof buf) return 1;
    /* Only a parent may wait for a process: the target's name goes when it ends. */
    while (shoal_name_lookup(argv[2]) == pid) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    long us = atol(argv[3]);
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    int w = shoal_mailbox_write(out, buf, sizeof buf);
    int p = shoal_portal_write(portal, buf, sizeof buf);
    int again = shoal_mailbox_open(pid, 1);
    printf("mailbox %d portal %d reopen %d\n", w, p, again);
    return 0;
}

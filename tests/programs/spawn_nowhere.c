/* Spawn `argv[1]` on any cluster, then on cluster 1, and wait for what started: prints each
 * spawn's result (a pid, or -errno), so a test can check what the process manager answers
 * when no cluster takes new processes (all evacuated: -EAGAIN) and that the caller goes on. */
#include <errno.h>
#include <stdio.h>
#include <shoal.h>

int main(int argc, char **argv) {
    char *child[] = {argv[1], "7", NULL};
    int any = shoal_spawn(argv[1], child, SHOAL_ANY_CLUSTER);
    int one = shoal_spawn(argv[1], child, 1);
    printf("any %d one %d eagain %d\n", any, one, -EAGAIN);
    int st = 0;
    if (any > 0)
        shoal_wait(any, &st);
    if (one > 0)
        shoal_wait(one, &st);
    printf("done on cluster %d\n", shoal_cluster());
    return 0;
}

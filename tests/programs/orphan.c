/* An orphan sees its parent change to init (Linux outside a PID namespace: getppid() == 1),
 * the classic test daemons and libc-test's daemon-failure use. The parent forks, waits until
 * its child has seen it as parent, sleeps a little (time for the host to move the child) and
 * exits without waiting; the child then polls getppid() until it changes.
 * argv[1]: "here" (a small parent: the child on its cluster), "fat" (the same with a child
 * of 400 KiB more, longer to move) or "big" (a parent too big for
 * two copies on a 1 MiB cluster: the child is built on another one); argv[2]: how long the
 * parent stays after its child has seen it (microseconds, 20000 by default). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile unsigned char ballast[600 * 1024];

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc > 1 && !strcmp(argv[1], "big"))
        for (int i = 0; i < (int)sizeof ballast; i++) ballast[i] = (unsigned char)(i * 31 + 7);
    pid_t me = getpid();
    printf("pid above init: %d\n", me > 1);
    int ready[2];
    if (pipe(ready) != 0) { perror("pipe"); return 1; }
    fflush(stdout);
    pid_t c = fork();
    if (c < 0) { perror("fork"); return 1; }
    if (c == 0) {
        close(ready[0]);
        if (argc > 1 && !strcmp(argv[1], "fat")) {  /* a child with more to move */
            volatile unsigned char *m = malloc(400 * 1024);
            for (int i = 0; m && i < 400 * 1024; i += 64) m[i] = (unsigned char)i;
        }
        int first = getppid() == me;
        write(ready[1], "x", 1);
        close(ready[1]);  /* (no pipe left: the host may move it) */
        int tries = 0;
        while (getppid() == me && tries < 100000) { usleep(1000); tries++; }
        printf("child: parent was mine %d, changed %d\n", first, getppid() != me);
        printf("child: adopted by init %d\n", getppid() == 1);
        return getppid() == 1 ? 0 : 5;
    }
    close(ready[1]);
    char b;
    if (read(ready[0], &b, 1) != 1) { perror("read"); return 1; }
    close(ready[0]);
    usleep(argc > 2 ? atoi(argv[2]) : 20000);  /* (short: it ends while its child moves) */
    printf("parent: leaving child %d\n", c > me);
    return 7;
}

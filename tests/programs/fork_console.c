/* A forked child that outlives its parent and then uses the console: it waits to be
 * adopted by init, sleeps 50 ms (a host may checkpoint it there and restore it on another
 * chip), then reads a line of standard input and writes it to stdout and stderr. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, 0, _IOLBF, 0);
    printf("parent: start\n");
    pid_t me = getpid();
    pid_t c = fork();
    if (c < 0) { perror("fork"); return 1; }
    if (c == 0) {
        while (getppid() == me) usleep(1000);
        usleep(50000);
        char buf[64];
        ssize_t n = read(0, buf, sizeof buf - 1);
        if (n < 0) { perror("read"); return 1; }
        buf[n] = 0;
        printf("child: read %zd [%s]\n", n, buf);
        fprintf(stderr, "child: stderr %d\n", (int)strlen(buf));
        return 3;
    }
    printf("parent: forked\n");
    return 0;
}

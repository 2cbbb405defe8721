/* Sleeps 20 ms, says "before", sleeps 10 ms more, says "after": a run paused at "before" is
 * 20 ms into the program, the end 10 ms later. */
#include <stdio.h>
#include <time.h>

static void nap(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    nap(20);
    puts("before");
    fflush(stdout);
    nap(10);
    puts("after");
    return 0;
}

/* assert() must check what it says at every -O level, as with gcc (NDEBUG only when the user
 * defines it). The condition is known only at run time, so no compiler can fold it away. */
#include <assert.h>
#include <stdio.h>

int main(int argc, char **argv) {
    (void)argv;
    printf("before\n");
    fflush(stdout);
    assert(argc == 42);
    printf("after\n");
    return 0;
}

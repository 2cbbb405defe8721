/* fork of a process with an anonymous MAP_SHARED mapping: Linux shares the pages with the
   child (it prints "shared 42"), and so does shoal (the mapping becomes a shared memory
   object at the fork: kernel/forkmem.py). */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int *m = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    pid_t c = fork();
    if (c == 0) {
        m[0] = 42;
        _exit(0);
    }
    if (c < 0) {
        printf("fork -1 %d\n", errno);
        return 0;
    }
    waitpid(c, 0, 0);
    printf("shared %d\n", m[0]);
    return 0;
}

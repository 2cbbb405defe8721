/* The error paths of POSIX shared memory, printed as errno names: the same as on Linux. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *name(int e) {
    switch (e) {
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EACCES: return "EACCES";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    default: return "other";
    }
}

static void say(const char *what, long r) {
    printf("%s: %s\n", what, r == -1 ? name(errno) : "ok");
}

int main(void) {
    shm_unlink("/shoal_err");
    errno = 0;
    say("open missing", shm_open("/shoal_err", O_RDWR, 0600));
    int fd = shm_open("/shoal_err", O_CREAT | O_EXCL | O_RDWR, 0600);
    say("create", fd);
    say("create again exclusive", shm_open("/shoal_err", O_CREAT | O_EXCL | O_RDWR, 0600));
    say("truncate", ftruncate(fd, 3 * 4096));
    char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    say("map shared", (long)p);
    strcpy(p + 4096, "written through one mapping");
    int ro = shm_open("/shoal_err", O_RDONLY, 0);
    say("open read-only", ro);
    say("map read-only object writable", (long)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
    char *q = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 4096);
    say("map read-only at page 1", (long)q);
    printf("seen through the other: %s\n", q);
    say("unlink", shm_unlink("/shoal_err"));
    say("unlink again", shm_unlink("/shoal_err"));
    printf("still mapped after unlink: %s\n", p + 4096);
    return 0;
}

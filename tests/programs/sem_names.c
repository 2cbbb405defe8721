/* Named semaphore names as long as Linux takes them: glibc's semaphore is the file
   /dev/shm/sem.NAME, so NAME may have NAME_MAX - 4 bytes; one more is ENAMETOOLONG for
   sem_open and sem_unlink (Open POSIX sem_unlink/5-1); a name of PATH_MAX bytes is too (POSIX;
   glibc says EINVAL, then ENOENT: the test compares all but that line). Also a slash inside.
   The host build's output is the reference. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char name[PATH_MAX + 2];

static const char *err(int e) {
    return e == ENAMETOOLONG ? "ENAMETOOLONG" : e == EINVAL ? "EINVAL" : e == ENOENT ? "ENOENT"
         : e == 0 ? "ok" : strerror(e);
}

static void try(int len) {
    name[0] = '/';
    memset(name + 1, 'n', (size_t)len);
    name[len + 1] = 0;
    errno = 0;
    sem_t *s = sem_open(name, O_CREAT, 0600, 1);
    printf("%4d bytes: sem_open %s", len, s == SEM_FAILED ? err(errno) : "ok");
    errno = 0;
    int r = sem_unlink(name);
    printf(", sem_unlink %s\n", r ? err(errno) : "ok");
    if (s != SEM_FAILED) sem_close(s);
}

int main(void) {
    try(NAME_MAX - 5);
    try(NAME_MAX - 4);
    try(NAME_MAX - 3);
    try(NAME_MAX);
    try(PATH_MAX - 1);
    errno = 0;
    sem_t *s = sem_open("/a/b", O_CREAT, 0600, 1);
    printf("a slash inside: %s\n", s == SEM_FAILED ? err(errno) : "ok");
    return 0;
}

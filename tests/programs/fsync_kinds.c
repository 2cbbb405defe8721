/* fsync and fdatasync by what the descriptor names: a file, a directory or a shared memory
   object syncs; a pipe, a FIFO, a socket, a message queue, a character device and the
   console (the host's stdout here is a pipe) give EINVAL, as Linux's vfs_fsync_range; a
   closed descriptor EBADF (Open POSIX fsync/7-1). The host build's output is the reference. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void both(const char *what, int fd) {
    errno = 0;
    int a = fsync(fd);
    const char *ea = a ? strerror(errno) : "ok";
    errno = 0;
    int b = fdatasync(fd);
    printf("%-10s fsync %s, fdatasync %s\n", what, ea, b ? strerror(errno) : "ok");
}

int main(void) {
    char name[64], q[64], s[64];
    snprintf(name, sizeof name, "fsync-kinds-%d", (int)getpid());
    snprintf(q, sizeof q, "/fsync-q-%d", (int)getpid());
    snprintf(s, sizeof s, "/fsync-s-%d", (int)getpid());
    int fd = open(name, O_RDWR | O_CREAT, 0600);
    write(fd, "x", 1);
    both("file", fd);
    both("directory", open(".", O_RDONLY | O_DIRECTORY));
    int p[2];
    pipe(p);
    both("pipe read", p[0]);
    both("pipe write", p[1]);
    char fifo[80];
    snprintf(fifo, sizeof fifo, "%s.fifo", name);
    mkfifo(fifo, 0600);
    both("fifo", open(fifo, O_RDWR));
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    both("socket", sv[0]);
    both("/dev/null", open("/dev/null", O_WRONLY));
    struct mq_attr at = {0, 2, 16, 0};
    mqd_t m = mq_open(q, O_RDWR | O_CREAT, 0600, &at);
    both("mqueue", (int)m);
    int sh = shm_open(s, O_RDWR | O_CREAT, 0600);
    both("shm", sh);
    both("stdout", dup(1));
    both("closed", 99);
    mq_unlink(q);
    shm_unlink(s);
    unlink(fifo);
    unlink(name);
    return 0;
}

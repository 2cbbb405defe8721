/* Calls whose value-result arguments (socket calls' socklen_t * and struct msghdr, fcntl
 * F_GETLK's struct flock) lie in a shared mapping (a memfd's, MAP_SHARED) that the process
 * has only read so far: a read copy, as a program's buffers in shared memory are. Linux
 * writes them as any memory; each call gives its result, and no datagram or connection is
 * lost. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int mfd = -1, pages;

/* A page of the memfd whose first bytes are `v` (n bytes), mapped shared and only loaded. */
static void *read_copy(const void *v, size_t n) {
    if (mfd < 0) {
        mfd = memfd_create("mapped_args", 0);
        ftruncate(mfd, 4096 * 64);
    }
    pwrite(mfd, v, n, 4096 * pages);
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 4096 * pages++);
    (void)*(volatile int *)p;
    return p;
}

static socklen_t *len_of(socklen_t v) { return read_copy(&v, sizeof v); }

#define SHOW(what, r, len) printf("%-12s %d %s len %d\n", what, (int)(r), (r) < 0 ? strerror(errno) : "ok", (int)(len))

static void abstract(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "mapped_args_%08d_%s", (int)getpid(), name);
}

int main(void) {
    char buf[256];
    int s[2], r;
    socklen_t *lp;
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    lp = len_of(4);
    r = getsockopt(s[0], SOL_SOCKET, SO_TYPE, buf, lp);
    SHOW("getsockopt", r, *lp);
    lp = len_of(0);
    r = getsockopt(s[0], SOL_SOCKET, SO_TYPE, buf, lp);
    SHOW("getsockopt 0", r, *lp);
    lp = len_of(sizeof(struct sockaddr_un));
    r = getpeername(s[0], (struct sockaddr *)buf, lp);
    SHOW("getpeername", r, *lp);

    struct sockaddr_un a, b;
    abstract(&a, "a");
    abstract(&b, "b");
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1);
    int u = socket(AF_UNIX, SOCK_DGRAM, 0), v = socket(AF_UNIX, SOCK_DGRAM, 0);
    bind(u, (struct sockaddr *)&a, alen);
    bind(v, (struct sockaddr *)&b, alen);
    lp = len_of(sizeof a);
    r = getsockname(u, (struct sockaddr *)buf, lp);
    SHOW("getsockname", r, *lp);
    sendto(v, "one", 3, 0, (struct sockaddr *)&a, alen);
    sendto(v, "two!", 4, 0, (struct sockaddr *)&a, alen);
    lp = len_of(sizeof a);
    r = recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)(buf + 100), lp);
    SHOW("recvfrom", r, *lp);
    struct iovec io = {buf, sizeof buf};
    struct msghdr mh = {.msg_name = buf + 100, .msg_namelen = sizeof a, .msg_iov = &io, .msg_iovlen = 1};
    struct msghdr *mp = read_copy(&mh, sizeof mh);
    r = recvmsg(u, mp, 0);
    SHOW("recvmsg", r, mp->msg_namelen);
    printf("got %.*s, flags %d\n", r > 0 ? r : 0, buf, mp->msg_flags);

    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t il = sizeof in;
    bind(l, (struct sockaddr *)&in, sizeof in);
    listen(l, 4);
    getsockname(l, (struct sockaddr *)&in, &il);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&in, sizeof in);
    lp = len_of(sizeof in);
    int fd = accept(l, (struct sockaddr *)buf, lp);
    SHOW("accept", fd < 0 ? fd : 0, *lp);
    write(c, "hello", 5);
    r = fd < 0 ? -1 : (int)read(fd, buf, sizeof buf);
    printf("accepted reads %d\n", r);
    lp = len_of(sizeof in);
    r = getpeername(c, (struct sockaddr *)buf, lp);
    SHOW("getpeername", r, *lp);

    int lf = memfd_create("locked", 0);
    ftruncate(lf, 100);
    struct flock want = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20};
    struct flock *fl = read_copy(&want, sizeof want);
    r = fcntl(lf, F_GETLK, fl);
    SHOW("F_GETLK", r, fl->l_type == F_UNLCK);
    struct flock want64 = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    struct flock *fl64 = read_copy(&want64, sizeof want64);
    r = fcntl(lf, F_OFD_GETLK, fl64);
    SHOW("F_OFD_GETLK", r, fl64->l_type == F_UNLCK);
    return 0;
}

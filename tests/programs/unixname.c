/* An AF_UNIX socket's path name is a file (issue 22): bind makes a socket file (S_IFSOCK,
 * mode 0777 & ~umask, DT_SOCK), EADDRINUSE if the name exists, open gives ENXIO, the name
 * outlives its socket (ECONNREFUSED) until unlinked (ENOENT). usage: unixname DIR */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un at(const char *dir, const char *name) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, name);
    return a;
}

static int ret(int r) { return r < 0 ? -errno : r; }

static int try_bind(struct sockaddr_un *a) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = ret(bind(s, (struct sockaddr *)a, sizeof *a));
    if (r) close(s);
    return r ? r : s;
}

static int try_connect(struct sockaddr_un *a) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = ret(connect(s, (struct sockaddr *)a, sizeof *a));
    close(s);
    return r;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    umask(027);
    struct sockaddr_un a = at(argv[1], "sock"), f = at(argv[1], "plain"), m = at(argv[1], "no/sock");
    unlink(a.sun_path);
    int l = try_bind(&a);
    printf("bind %d\n", l >= 0 ? 0 : l);
    listen(l, 4);
    struct stat st;
    int r = ret(lstat(a.sun_path, &st));
    printf("lstat %d sock %d mode %o size %lld\n", r, S_ISSOCK(st.st_mode), st.st_mode & 07777,
           (long long)st.st_size);
    printf("bind again %d\n", try_bind(&a));
    printf("connect %d\n", try_connect(&a));
    printf("open %d\n", ret(open(a.sun_path, O_RDONLY)));
    DIR *d = opendir(argv[1]);
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strcmp(e->d_name, "sock")) printf("readdir type %d\n", e->d_type);
    closedir(d);
    close(l);
    printf("connect after close %d\n", try_connect(&a));
    printf("bind after close %d\n", try_bind(&a));
    printf("unlink %d\n", ret(unlink(a.sun_path)));
    printf("connect after unlink %d\n", try_connect(&a));
    int l2 = try_bind(&a);
    printf("bind after unlink %d\n", l2 >= 0 ? 0 : l2);
    close(l2);
    unlink(a.sun_path);
    close(open(f.sun_path, O_CREAT | O_WRONLY, 0644));
    printf("connect to a file %d\n", try_connect(&f));
    printf("bind over a file %d\n", try_bind(&f));
    unlink(f.sun_path);
    printf("bind in a missing dir %d\n", try_bind(&m));
    printf("connect in a missing dir %d\n", try_connect(&m));
    return 0;
}

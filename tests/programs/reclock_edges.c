/* fcntl record locks at their edges, against the host build: bad whence and types, negative
   lengths, ranges past OFFSET_MAX (EOVERFLOW), pipes, sockets, the console, bad pointers. */
#define _GNU_SOURCE
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
static int fd;
static void t(const char *what, int cmd, short type, short whence, long long start, long long len) {
  struct flock fl; memset(&fl, 0, sizeof fl);
  fl.l_type = type; fl.l_whence = whence; fl.l_start = start; fl.l_len = len;
  int r = fcntl(fd, cmd, &fl);
  printf("%s: %d %d", what, r, r < 0 ? errno : 0);
  if (cmd == F_GETLK || cmd == F_OFD_GETLK) printf(" type %d start %lld len %lld", fl.l_type, (long long)fl.l_start, (long long)fl.l_len);
  printf("\n");
}
/* "many N DIR": N write locks on every other byte (each one a lock of its own) */
static int many(int n, const char *dir) {
  char p[256]; snprintf(p, sizeof p, "%s/many", dir);
  fd = open(p, O_RDWR|O_CREAT|O_TRUNC, 0644);
  int ok = 0, err = 0;
  for (int i = 0; i < n; i++) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2LL * i, .l_len = 1};
    if (fcntl(fd, F_SETLK, &fl) == 0) ok++; else err = errno;
  }
  /* unlocking inside one lock splits it: refused alike at the bound, granted below it */
  struct flock all = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
  int r = fcntl(fd, F_SETLK, &all);
  printf("many %d ok %d err %d whole %d\n", n, ok, err, r);
  int split = 0;
  for (int i = 0; i < n; i++) {
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 2LL * i + 1, .l_len = 1};
    if (fcntl(fd, F_SETLK, &fl) == 0) split++; else err = errno;
  }
  printf("split %d err %d\n", split, err);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 3 && !strcmp(argv[1], "many")) return many(atoi(argv[2]), argv[3]);
  char p[256]; snprintf(p, sizeof p, "%s/lk", argc > 1 ? argv[1] : "/tmp");
  fd = open(p, O_RDWR|O_CREAT|O_TRUNC, 0644);
  write(fd, "0123456789", 10);
  t("badwhence", F_SETLK, F_WRLCK, 3, 0, 1);
  t("badwhence-1", F_SETLK, F_WRLCK, -1, 0, 1);
  t("badtype", F_SETLK, 7, 0, 0, 1);
  t("getunlck", F_GETLK, F_UNLCK, 0, 0, 1);
  t("neglen", F_SETLK, F_WRLCK, 0, 5, -6);
  t("neglen ok", F_SETLK, F_WRLCK, 0, 5, -5);
  t("negstart", F_SETLK, F_WRLCK, 0, -1, 1);
  t("end neg", F_SETLK, F_WRLCK, 2, -11, 1);
  t("end neg ok", F_SETLK, F_WRLCK, 2, -10, 1);
  t("end neglen", F_SETLK, F_WRLCK, 2, 0, -11);
  t("ovf", F_SETLK, F_WRLCK, 0, INT64_MAX, 2);
  t("ovf edge", F_SETLK, F_WRLCK, 0, INT64_MAX, 1);
  t("ovf2", F_SETLK, F_WRLCK, 0, INT64_MAX - 5, 7);
  t("ovf2 ok", F_SETLK, F_WRLCK, 0, INT64_MAX - 5, 6);
  t("min", F_SETLK, F_WRLCK, 0, 0, INT64_MIN);
  t("max len", F_SETLK, F_WRLCK, 0, 1, INT64_MAX);
  lseek(fd, 100, SEEK_SET);
  t("cur ovf", F_SETLK, F_WRLCK, 1, INT64_MAX, 1);
  t("cur ovf2", F_SETLK, F_WRLCK, 1, INT64_MAX - 100, 1);
  t("cur neg", F_SETLK, F_WRLCK, 1, -101, 1);
  t("end ovf", F_SETLK, F_WRLCK, 2, INT64_MAX, 1);
  t("unlck all", F_SETLK, F_UNLCK, 0, 0, 0);
  t("ofd pid", F_OFD_SETLK, F_WRLCK, 0, 0, 1);
  t("ofd ovf", F_OFD_SETLK, F_WRLCK, 0, INT64_MAX, 2);
  t("ofd get", F_OFD_GETLK, F_WRLCK, 0, 0, 0);
  int pfd[2]; pipe(pfd);
  fd = pfd[0];
  t("pipe rd wr", F_SETLK, F_WRLCK, 0, 0, 1);
  t("pipe rd rd", F_SETLK, F_RDLCK, 0, 0, 1);
  t("pipe get", F_GETLK, F_WRLCK, 0, 0, 1);
  t("pipe badwhence", F_SETLK, F_RDLCK, 9, 0, 1);
  t("pipe ovf", F_SETLK, F_RDLCK, 0, INT64_MAX, 5);
  fd = pfd[1];
  t("pipe wr wr", F_SETLK, F_WRLCK, 0, 0, 1);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  fd = s;
  t("sock wr", F_SETLK, F_WRLCK, 0, 0, 1);
  t("sock rd", F_SETLK, F_RDLCK, 0, 0, 1);
  t("sock cur", F_SETLK, F_RDLCK, 1, 0, 1);
  fd = 1;
  t("stdout rd", F_SETLK, F_RDLCK, 0, 0, 1);
  fd = 0;
  t("stdin wr", F_SETLK, F_WRLCK, 0, 0, 1);
  fd = 99;
  t("badfd", F_SETLK, F_WRLCK, 0, 0, 1);
  fd = open(p, O_RDONLY);
  t("rdonly wr", F_SETLK, F_WRLCK, 0, 0, 1);
  t("rdonly get wr", F_GETLK, F_WRLCK, 0, 0, 1);
  int r = fcntl(fd, F_SETLK, (void*)8); printf("badptr %d %d\n", r, errno);
  r = fcntl(fd, F_GETLK, (void*)0); printf("nullptr %d %d\n", r, errno);
  return 0;
}

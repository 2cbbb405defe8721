/* ids and groups at their edges, as the host build gives them (run as root):
   "groups": setgroups keeps repeats and sorts unsigned, refuses (gid_t)-1; getgroups' sizes;
             chown and stat of the working directory by AT_FDCWD, "" and AT_EMPTY_PATH.
   "self U G": the ids U:G (dropped to here when run as root), then the set*id calls to one's
             own ids, which Linux allows to anyone (uids past 2^31 too). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define R(x) do { errno = 0; long r_ = (long)(x); printf("%s = %ld %d\n", #x, r_, r_ < 0 ? errno : 0); } while (0)

static void show(const char *what) {
  static gid_t g[16];
  int n = getgroups(16, g);
  printf("%s: %d:", what, n);
  for (int i = 0; i < n; i++) printf(" %u", (unsigned)g[i]);
  printf("\n");
}

static int groups(const char *dir) {
  static gid_t a[] = {5, 5, 1, 4294967294u, 3}, b[] = {7, 4294967295u};
  R(setgroups(5, a)); show("repeats");
  R(setgroups(2, b)); show("minus one");
  R(syscall(SYS_setgroups, -1, a));
  R(syscall(SYS_setgroups, 65537, a));
  R(syscall(SYS_setgroups, 2, (void *)8));
  R(syscall(SYS_getgroups, -1, a));
  R(syscall(SYS_getgroups, 0, (void *)0));
  R(syscall(SYS_getgroups, 4, a));
  R(syscall(SYS_getgroups, 5, (void *)8));
  R(setgroups(0, NULL)); show("none");
  char sub[256]; snprintf(sub, sizeof sub, "%s/cwd", dir);
  mkdir(sub, 0755);
  R(chdir(sub));
  R(fchownat(AT_FDCWD, "", 1234, 567, AT_EMPTY_PATH));
  R(fchownat(AT_FDCWD, "", 1, 1, 0));
  struct stat st;
  R(fstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH));
  printf("cwd owner %u %u dir %d\n", (unsigned)st.st_uid, (unsigned)st.st_gid, S_ISDIR(st.st_mode));
  R(fstatat(AT_FDCWD, "", &st, 0));
  return 0;
}

static int self(uid_t u, gid_t g) {
  if (getuid() == 0) {  /* the host build: become U:G as --user starts a process */
    if (setgroups(0, NULL) || setresgid(g, g, g) || setresuid(u, u, u)) { perror("drop"); return 1; }
  }
  printf("uid %u gid %u\n", (unsigned)getuid(), (unsigned)getgid());
  R(setuid(u));
  R(setgid(g));
  R(setreuid(u, u));
  R(setregid(g, g));
  R(setresuid(u, -1, u));
  R(setresgid(-1, g, g));
  R(setuid(0));
  uid_t r, e, s;
  getresuid(&r, &e, &s);
  printf("res %u %u %u\n", (unsigned)r, (unsigned)e, (unsigned)s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 3 && !strcmp(argv[1], "self")) return self(strtoul(argv[2], 0, 10), strtoul(argv[3], 0, 10));
  if (argc > 2 && !strcmp(argv[1], "groups")) return groups(argv[2]);
  return 2;
}

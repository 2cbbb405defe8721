/* AF_UNIX names as socket files, against the host build (run in DIR): a missing directory,
   address lengths, EADDRINUSE over any name, ENXIO to open, unlink and rename of a bound name,
   a sun_path filling all 108 bytes with no NUL (Linux accepts it), sendto with an address on a
   stream socket (EOPNOTSUPP unconnected). */
#define _GNU_SOURCE
#include <stdio.h>
#include <errno.h>
#include <unistd.h>
#include <string.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#define R(x) do { errno = 0; long r_ = (long)(x); printf("%s = %ld %d\n", #x, r_, r_ < 0 ? errno : 0); } while (0)
static struct sockaddr_un sa(const char *p) { struct sockaddr_un u; memset(&u, 0, sizeof u); u.sun_family = AF_UNIX; strncpy(u.sun_path, p, sizeof u.sun_path); return u; }
int main(int argc, char **argv) {
  setvbuf(stdout, 0, _IONBF, 0);
  if (argc < 2 || chdir(argv[1])) return 2;  /* names relative to DIR: any DIR fits sun_path */
  const char *d = ".";
  char p[200]; int s = socket(AF_UNIX, SOCK_STREAM, 0), s2 = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un u;
  snprintf(p, sizeof p, "%s/nodir/x", d); u = sa(p);
  R(bind(s, (void *)&u, sizeof u));
  R(connect(s2, (void *)&u, sizeof u));
  snprintf(p, sizeof p, "%s/sk", d); u = sa(p);
  R(bind(s, (void *)&u, 1));
  R(bind(s, (void *)&u, offsetof(struct sockaddr_un, sun_path)));
  R(bind(s, (void *)&u, sizeof u));
  R(bind(s, (void *)&u, sizeof u));
  R(bind(s2, (void *)&u, sizeof u));
  struct stat st; R(lstat(p, &st)); printf("sock %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
  R(open(p, O_RDONLY));
  R(open(p, O_RDONLY|O_CREAT, 0644));
  R(listen(s, 1));
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  R(connect(c, (void *)&u, sizeof u));
  R(unlink(p));
  int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
  R(connect(c2, (void *)&u, sizeof u));
  snprintf(p, sizeof p, "%s/reg", d); close(open(p, O_CREAT|O_WRONLY, 0644)); u = sa(p);
  R(connect(c2, (void *)&u, sizeof u));
  int s3 = socket(AF_UNIX, SOCK_STREAM, 0);
  R(bind(s3, (void *)&u, sizeof u));
  /* a sun_path filling all 108 bytes, no NUL */
  struct sockaddr_un lu; memset(&lu, 0, sizeof lu); lu.sun_family = AF_UNIX; memset(lu.sun_path, 'a', sizeof lu.sun_path);
  int s4 = socket(AF_UNIX, SOCK_STREAM, 0);
  R(bind(s4, (void *)&lu, sizeof lu));
  socklen_t ln = sizeof lu; struct sockaddr_un got; memset(&got, 0, sizeof got);
  R(getsockname(s4, (void *)&got, &ln)); printf("len %u\n", ln);
  char big[200]; memset(big, 0, sizeof big); ((struct sockaddr_un *)big)->sun_family = AF_UNIX; memset(big + 2, 'b', 150);
  int s5 = socket(AF_UNIX, SOCK_STREAM, 0);
  R(bind(s5, (void *)big, sizeof big));
  R(bind(s5, (void *)big, 111));
  R(bind(s5, (void *)8, sizeof lu));
  int s6 = socket(AF_UNIX, SOCK_DGRAM, 0);
  snprintf(p, sizeof p, "%s/dg", d); u = sa(p);
  R(bind(s6, (void *)&u, sizeof u));
  R(sendto(s2, "x", 1, 0, (void *)&u, sizeof u));
  int s7 = socket(AF_UNIX, SOCK_DGRAM, 0);
  R(sendto(s7, "x", 1, 0, (void *)&u, sizeof u));
  R(unlink(p));
  R(sendto(s7, "x", 1, 0, (void *)&u, sizeof u));
  snprintf(p, sizeof p, "%s/sk2", d); u = sa(p);
  int s8 = socket(AF_UNIX, SOCK_STREAM, 0);
  R(bind(s8, (void *)&u, sizeof u));
  R(rename(p, "sk3"));
  R(listen(s8, 1));
  int c3 = socket(AF_UNIX, SOCK_STREAM, 0);
  u = sa("sk3");
  R(connect(c3, (void *)&u, sizeof u));
  R(mkdir("sub", 0755));
  u = sa("sub");
  R(bind(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&u, sizeof u));
  u = sa("sub/");
  R(bind(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&u, sizeof u));
  u = sa("reg/x");
  R(bind(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&u, sizeof u));
  return 0;
}

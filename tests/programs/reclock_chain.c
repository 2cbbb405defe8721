/* Three processes wait for one another's record locks in a circle (child 0 for child 1, child 1
   for the parent, the parent for child 0): the F_SETLKW that closes it is EDEADLK, as Linux
   follows a chain of waiting owners; against the host build. */
#define _GNU_SOURCE
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
static int lk(int fd, int cmd, short type, off_t start) { struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = 1}; return fcntl(fd, cmd, &fl) ? -errno : 0; }
int main(int argc, char **argv) {
  setvbuf(stdout, 0, _IONBF, 0);
  char p[256]; snprintf(p, sizeof p, "%s/lk3", argc > 1 ? argv[1] : "/tmp");
  close(open(p, O_RDWR|O_CREAT|O_TRUNC, 0644));
  int go[2]; pipe(go);
  pid_t kids[2];
  for (int i = 0; i < 2; i++) {  /* child i holds byte i+1, then waits for byte i+2 (child 1: byte 0) */
    kids[i] = fork();
    if (kids[i] == 0) {
      int fd = open(p, O_RDWR);
      lk(fd, F_SETLK, F_WRLCK, i + 1);
      write(go[1], "x", 1);
      usleep(50000 * (i + 1));
      int r = lk(fd, F_SETLKW, F_WRLCK, (i + 2) % 3);
      printf("child %d waited: %d\n", i, r);
      _exit(0);
    }
  }
  int fd = open(p, O_RDWR);
  printf("parent holds 0: %d\n", lk(fd, F_SETLK, F_WRLCK, 0));
  char c; read(go[0], &c, 1); read(go[0], &c, 1);
  usleep(200000);  /* child 0 waits for 2 (child 1's), child 1 waits for 0 (ours) */
  printf("parent waits for 1: %d\n", lk(fd, F_SETLKW, F_WRLCK, 1));
  lk(fd, F_SETLK, F_UNLCK, 0);
  int st; while (wait(&st) > 0) {}
  return 0;
}

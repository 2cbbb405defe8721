/* A process waiting in F_SETLKW: killed while it waits (its wait goes with it), cut short by
   a handled signal (EINTR), or its wait made again after the handler (SA_RESTART) until the
   holder unlocks; against the host build. */
#define _GNU_SOURCE
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
static volatile int ran;
static void on_alarm(int s) { (void)s; ran++; }
static int lk(int fd, int cmd, short type) { struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10}; return fcntl(fd, cmd, &fl) ? -errno : 0; }
int main(int argc, char **argv) {
  setvbuf(stdout, 0, _IONBF, 0);
  char p[256]; snprintf(p, sizeof p, "%s/lw", argc > 1 ? argv[1] : "/tmp");
  int fd = open(p, O_RDWR|O_CREAT|O_TRUNC, 0644);
  printf("parent lock %d\n", lk(fd, F_SETLK, F_WRLCK));
  int pp[2]; pipe(pp);
  pid_t c = fork();
  if (c == 0) {  /* waits, and is killed while it waits */
    int f2 = open(p, O_RDWR);
    write(pp[1], "w", 1);
    lk(f2, F_SETLKW, F_WRLCK);
    printf("child 1 got the lock\n");
    _exit(0);
  }
  char ch; read(pp[0], &ch, 1); usleep(20000);
  kill(c, SIGKILL); int st; waitpid(c, &st, 0);
  printf("child 1 killed %d\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  c = fork();
  if (c == 0) {  /* an alarm cuts its wait short: EINTR */
    int f2 = open(p, O_RDWR);
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_alarm; sigaction(SIGALRM, &sa, 0);
    alarm(1);
    printf("child 2 setlkw %d\n", lk(f2, F_SETLKW, F_WRLCK));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    fcntl(f2, F_GETLK, &fl);
    printf("child 2 sees holder type %d\n", fl.l_type);
    _exit(0);
  }
  waitpid(c, &st, 0);
  printf("child 2 exit %d\n", WEXITSTATUS(st));
  c = fork();
  if (c == 0) {  /* SA_RESTART: the handler runs and the wait goes on until the unlock */
    int f2 = open(p, O_RDWR);
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_alarm; sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    alarm(1);
    int r = lk(f2, F_SETLKW, F_WRLCK);
    printf("child 4 setlkw %d handler ran %d\n", r, ran);
    _exit(0);
  }
  sleep(2);
  int u = lk(fd, F_SETLK, F_UNLCK);
  waitpid(-1, &st, 0);  /* child 4, which took the lock at the unlock and ended */
  printf("parent unlock %d\n", u);  /* after child 4's line: the order is not a race */
  c = fork();
  if (c == 0) { int f2 = open(p, O_RDWR); printf("child 3 setlk %d\n", lk(f2, F_SETLK, F_WRLCK)); _exit(0); }
  waitpid(c, &st, 0);
  return 0;
}

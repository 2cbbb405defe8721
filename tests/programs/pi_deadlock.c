/* Two threads take two PI futexes in opposite orders (ABBA): Linux walks the chain of owners
   and answers the one that would close the circle EDEADLK; against the host build. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdint.h>
#include <errno.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <linux/futex.h>
static uint32_t L1, L2;
static volatile int stage;
static long fx(uint32_t *a, int op) { return syscall(SYS_futex, a, op, 0, 0, 0, 0) ? -errno : 0; }
static void *b(void *arg) {
  printf("B lock L2 %ld\n", fx(&L2, FUTEX_LOCK_PI));
  stage = 1;
  while (stage != 2) usleep(1000);
  while (!(__atomic_load_n(&L2, __ATOMIC_SEQ_CST) & FUTEX_WAITERS)) usleep(1000);  /* A waits for L2 */
  long r = fx(&L1, FUTEX_LOCK_PI);
  printf("B lock L1 %ld\n", r);
  if (r == 0) fx(&L1, FUTEX_UNLOCK_PI);
  printf("B unlock L2 %ld\n", fx(&L2, FUTEX_UNLOCK_PI));
  return 0;
}
int main(void) {
  setvbuf(stdout, 0, _IONBF, 0);
  printf("A lock L1 %ld\n", fx(&L1, FUTEX_LOCK_PI));
  pthread_t t; pthread_create(&t, 0, b, 0);
  while (stage != 1) usleep(1000);
  stage = 2;
  long r = fx(&L2, FUTEX_LOCK_PI);  /* (printed after the join: B's unlock line and this one race) */
  if (r == 0) fx(&L2, FUTEX_UNLOCK_PI);
  fx(&L1, FUTEX_UNLOCK_PI);
  pthread_join(t, 0);
  printf("A lock L2 %ld\n", r);
  printf("done\n");
  return 0;
}

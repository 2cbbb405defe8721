/* Robust lists and PI futexes at their edges, against the host build: a cycle that never comes
   back to the head (the walk stops at ROBUST_LIST_LIMIT, every entry still marked), an entry
   at an unmapped address, list_op_pending on the list; PI operations on unmapped, read-only
   and misaligned words (UNLOCK_PI: EPERM before EINVAL), EDEADLK, ESRCH, OWNER_DIED kept. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdint.h>
#include <errno.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <string.h>
#include <stddef.h>
#include <time.h>
#define R(x) do { errno = 0; long r_ = (long)(x); printf("%s = %ld %d\n", #x, r_, r_ < 0 ? errno : 0); } while (0)
static long fx(void *a, int op, int v, void *ts) { return syscall(SYS_futex, a, op, v, ts, 0, 0); }
struct ent { struct robust_list l; int pad; uint32_t word; };
static struct robust_list_head head;
static struct ent e[3];
static int mode;
static void *thr(void *arg) {
  int tid = syscall(SYS_gettid);
  head.futex_offset = offsetof(struct ent, word);
  if (mode == 0) {  /* a cycle that never comes back to the head */
    e[0].l.next = &e[1].l; e[1].l.next = &e[2].l; e[2].l.next = &e[0].l;
    for (int i = 0; i < 3; i++) e[i].word = tid;
    head.list.next = &e[0].l;
  } else if (mode == 1) {  /* an entry pointing at unmapped memory */
    e[0].l.next = (void *)0x10; e[0].word = tid; head.list.next = &e[0].l;
  } else {  /* a self loop as list_op_pending too */
    e[0].l.next = &e[0].l; e[0].word = tid; head.list.next = &e[0].l; head.list_op_pending = &e[0].l;
  }
  syscall(SYS_set_robust_list, &head, sizeof head);
  return 0;
}
int main(void) {
  R(syscall(SYS_set_robust_list, &head, sizeof head + 1));
  R(syscall(SYS_get_robust_list, 999999, &(void *){0}, &(size_t){0}));
  R(syscall(SYS_get_robust_list, 0, (void *)8, &(size_t){0}));
  for (mode = 0; mode < 3; mode++) {
    memset(e, 0, sizeof e); memset(&head, 0, sizeof head);
    pthread_t t; pthread_create(&t, 0, thr, 0); pthread_join(t, 0);
    printf("mode %d words %x %x %x\n", mode, e[0].word & 0xC0000000u, e[1].word & 0xC0000000u, e[2].word & 0xC0000000u);
  }
  /* PI futexes at bad addresses */
  R(fx((void *)0x10, FUTEX_LOCK_PI, 0, 0));
  R(fx((void *)0x10, FUTEX_UNLOCK_PI, 0, 0));
  R(fx((void *)0x10, FUTEX_TRYLOCK_PI, 0, 0));
  static uint32_t w[2];
  R(fx((char *)w + 1, FUTEX_LOCK_PI, 0, 0));
  R(fx((char *)w + 2, FUTEX_UNLOCK_PI, 0, 0));
  void *ro = mmap(0, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  R(fx(ro, FUTEX_LOCK_PI, 0, 0));
  R(fx(ro, FUTEX_TRYLOCK_PI, 0, 0));
  w[0] = 0;
  R(fx(w, FUTEX_LOCK_PI, 0, 0)); printf("owner is me %d\n", (w[0] & FUTEX_TID_MASK) == syscall(SYS_gettid));
  R(fx(w, FUTEX_LOCK_PI, 0, 0));  /* EDEADLK */
  R(fx(w, FUTEX_TRYLOCK_PI, 0, 0));
  R(fx(w, FUTEX_UNLOCK_PI, 0, 0)); printf("word %u\n", w[0]);
  R(fx(w, FUTEX_UNLOCK_PI, 0, 0));  /* EPERM */
  w[0] = 0x3FFFFFF0;  /* an owner that does not exist */
  R(fx(w, FUTEX_LOCK_PI, 0, 0));
  R(fx(w, FUTEX_TRYLOCK_PI, 0, 0));
  w[0] = FUTEX_OWNER_DIED;
  R(fx(w, FUTEX_LOCK_PI, 0, 0)); printf("word died kept %d\n", !!(w[0] & FUTEX_OWNER_DIED));
  R(fx(w, FUTEX_UNLOCK_PI, 0, 0));
  struct timespec bad = {0, 2000000000};
  w[0] = 0x3FFFFFF0;
  R(fx(w, FUTEX_LOCK_PI, 0, &bad));
  R(fx(w, FUTEX_LOCK_PI, 0, (void *)8));
  R(fx(w, 0x7f, 0, 0));
  return 0;
}

/* RLIMIT_DATA and RLIMIT_AS enforced as Linux's may_expand_vm (issue 22): with the data limit
 * at 0, no private writable memory may be added (mmap, brk, mprotect to writable: ENOMEM;
 * malloc: NULL, ENOMEM) while read-only and shared mappings still may; with the
 * address-space limit under what the process has, no mapping at all. Output by write(2):
 * stdio's buffers would need memory. usage: rlimit_mem data | as */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static void say(const char *what, long ok) {
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s %ld %d\n", what, ok, ok ? 0 : errno);
    write(1, buf, n);
    errno = 0;
}

static long mapped(void *p) { return p != MAP_FAILED; }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct rlimit r;
    void *ro = mmap(0, 65536, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!strcmp(argv[1], "data")) {
        getrlimit(RLIMIT_DATA, &r);
        r.rlim_cur = 0;  /* Linux: 0 means the hard limit for mappings (Valgrind), not for brk */
        say("setrlimit data 0", setrlimit(RLIMIT_DATA, &r) == 0);
        say("mmap private rw", mapped(mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
        say("sbrk 1 MiB", sbrk(1 << 20) != (void *)-1);
        r.rlim_cur = 4096;  /* less than any of the following adds */
        say("setrlimit data 4096", setrlimit(RLIMIT_DATA, &r) == 0);
        say("mmap private rw", mapped(mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
        say("mmap private ro", mapped(mmap(0, 65536, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
        say("mmap shared rw", mapped(mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)));
        say("mprotect ro to rw", mprotect(ro, 65536, PROT_READ | PROT_WRITE) == 0);
        say("mprotect ro to ro|exec", mprotect(ro, 65536, PROT_READ | PROT_EXEC) == 0);
        say("sbrk 1 MiB", sbrk(1 << 20) != (void *)-1);
        void *volatile big = malloc(4 << 20);  /* (volatile: a compiler may not elide it) */
        char line[64];  /* (only NULL is compared: musl's malloc may leave errno as it was) */
        write(1, line, snprintf(line, sizeof line, "malloc 4 MiB null %d\n", big == NULL));
        r.rlim_cur = r.rlim_max;
        say("setrlimit data back", setrlimit(RLIMIT_DATA, &r) == 0);
        say("mmap private rw again", mapped(mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
    } else {
        getrlimit(RLIMIT_AS, &r);
        r.rlim_cur = 1 << 20;  /* less than any process here has */
        say("setrlimit as 1 MiB", setrlimit(RLIMIT_AS, &r) == 0);
        say("mmap none", mapped(mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
        say("mmap shared", mapped(mmap(0, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0)));
        say("munmap", munmap(ro, 4096) == 0);
        say("mmap fixed over mapped", mapped(mmap((char *)ro + 8192, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)));
        say("sbrk 1 MiB", sbrk(1 << 20) != (void *)-1);
        r.rlim_cur = r.rlim_max;
        say("setrlimit as back", setrlimit(RLIMIT_AS, &r) == 0);
        say("mmap none again", mapped(mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
    }
    return 0;
}

/* Moves itself, then at once makes system calls on pages that may still be at the source
 * (post-copy): a write from them (the kernel reads them: the call waits for the pages), a read
 * into them across a page boundary (the kernel stores into them), then a checksum of all.
 * usage: postcopy_io [METHOD] [CLUSTER]  (METHOD as shoal.h's SHOAL_*; -DNATIVE: no move) */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef NATIVE
#define shoal_migrate_by(c, m) 0
#else
#include <shoal.h>
#endif

#define PAGES 64

int main(int argc, char **argv) {
    int method = argc > 1 ? atoi(argv[1]) : 3;
    int to = argc > 2 ? atoi(argv[2]) : 1;
    char *buf = malloc(PAGES * 4096);
    if (!buf) return 1;
    for (int i = 0; i < PAGES * 4096; i++) buf[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    int r = shoal_migrate_by(to, method);
    write(1, buf + 60 * 4096 + 5, 40);
    write(1, "\n", 1);
    ssize_t got = read(0, buf + 50 * 4096 + 4000, 200);
    unsigned long long sum = 0;
    for (int i = 0; i < PAGES * 4096; i++) sum = sum * 31 + (unsigned char)buf[i];
    printf("migrate %d, read %ld, checksum %llu\n", r, (long)got, sum);
    return 0;
}

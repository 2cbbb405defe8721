/* Writes MiB mebibytes to stdout in writes of CHUNK KiB (default 1024 KiB), or with one
   writev of up to 1024 pieces when the third argument is "v"; exits 0 if every byte went. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 1;
    long chunk = (argc > 2 ? atol(argv[2]) : 1024) * 1024;
    int vec = argc > 3 && argv[3][0] == 'v';
    char *buf = malloc(chunk);
    if (!buf) return 2;
    memset(buf, 'x', chunk);
    long total = mib * 1024 * 1024, done = 0;
    if (vec) {
        struct iovec iov[1024];
        int n = 0;
        for (long left = total; left > 0 && n < 1024; left -= chunk, n++) {
            iov[n].iov_base = buf;
            iov[n].iov_len = left < chunk ? left : chunk;
        }
        while (n > 0) {   /* a short writev goes on from where it stopped */
            ssize_t w = writev(1, iov, n);
            if (w < 0) return 3;
            done += w;
            while (n > 0 && (size_t)w >= iov[0].iov_len) { w -= iov[0].iov_len; memmove(iov, iov + 1, --n * sizeof iov[0]); }
            if (n > 0) { iov[0].iov_base = (char *)iov[0].iov_base + w; iov[0].iov_len -= w; }
        }
    } else {
        while (done < total) {
            long n = total - done < chunk ? total - done : chunk;
            ssize_t w = write(1, buf, n);
            if (w <= 0) return 3;
            done += w;
        }
    }
    fprintf(stderr, "wrote %ld\n", done);
    return done == total ? 0 : 1;
}

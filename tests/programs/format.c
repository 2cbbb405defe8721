/* qsort (ints, doubles, strings, structs) and formatting: printf %f/%e/%g, snprintf, strtod. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 88172645u;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

struct rec {
    int key;
    int seq;
};
static int cmp_rec(const void *a, const void *b) {
    const struct rec *x = a, *y = b;
    if (x->key != y->key)
        return (x->key > y->key) - (x->key < y->key);
    return (x->seq > y->seq) - (x->seq < y->seq);
}

#define N 3000
static int ints[N];
static double dbl[N];
static struct rec recs[N];
static char words[500][12];
static char *wp[500];

int main(void) {
    for (int i = 0; i < N; i++) {
        ints[i] = (int)(next() % 200001) - 100000;
        dbl[i] = ((double)(int32_t)next()) / ((double)(next() % 9973 + 1));
        recs[i].key = (int)(next() % 50);
        recs[i].seq = i;
    }
    qsort(ints, N, sizeof ints[0], cmp_int);
    qsort(dbl, N, sizeof dbl[0], cmp_double);
    qsort(recs, N, sizeof recs[0], cmp_rec);
    int sorted = 1;
    unsigned long h = 0;
    for (int i = 1; i < N; i++) {
        sorted &= ints[i - 1] <= ints[i] && dbl[i - 1] <= dbl[i];
        sorted &= cmp_rec(&recs[i - 1], &recs[i]) < 0;
    }
    for (int i = 0; i < N; i++)
        h = h * 1000003u + (unsigned)ints[i] + (unsigned)recs[i].seq;
    printf("ints sorted %d min %d median %d max %d hash %08lx\n", sorted, ints[0], ints[N / 2], ints[N - 1],
           h & 0xffffffffUL);
    printf("doubles min %.6f max %.6f median %.10e\n", dbl[0], dbl[N - 1], dbl[N / 2]);
    for (int i = 0; i < 500; i++) {
        int n = 1 + (int)(next() % 10);
        for (int j = 0; j < n; j++)
            words[i][j] = (char)('a' + next() % 26);
        words[i][n] = 0;
        wp[i] = words[i];
    }
    qsort(wp, 500, sizeof wp[0], cmp_str);
    printf("words first %s last %s w100 %s w250 %s\n", wp[0], wp[499], wp[100], wp[250]);

    static const double vals[] = {0.0, -0.0, 1.0, -1.5, 0.1, 2.5, 3.5, 0.125, 1e-5, 123456.789,
                                  1e21, 1.0 / 3.0, 2.0 / 3.0, 6.02214076e23, 1.602176634e-19,
                                  4.9406564584124654e-324, 1.7976931348623157e308, 9.5, 99.995, 1e100,
                                  __builtin_inf(), -__builtin_inf(), __builtin_nan("")};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        double v = vals[i];
        printf("%zu: f[%f] .2f[%.2f] .0f[%.0f] e[%e] .3e[%.3E] g[%g] .17g[%.17g] #g[%#g] w[%+12.4f] "
               "l[%-12.3g]\n",
               i, v, v, v, v, v, v, v, v, v, v);
    }
    printf("big %.0f\n", 1e300 * 1e8 / 1e8);
    printf("ints [%d] [%5d] [%-5d|] [%05d] [%+d] [%x] [%#X] [%o] [%llu] [%lld] [%hhd] [%c] [%%]\n", -42, 42,
           42, 42, 42, 0xbeefu, 0xbeefu, 8u, 18446744073709551615ull, -9223372036854775807ll - 1, 300,
           'Z');
    printf("strs [%s] [%10s] [%-10s|] [%.3s] [%*d] [%-*d|] [%.*f]\n", "shoal", "right", "left", "truncate", 6,
           7, 6, 7, 3, 3.14159265);

    char buf[16];
    int r = snprintf(buf, sizeof buf, "%s-%d-%.3f", "hello", 12345, 2.0 / 7.0);
    printf("snprintf ret %d buf [%s]\n", r, buf);
    r = snprintf(NULL, 0, "%08.2f|%e", -3.14159, 1e-7);
    printf("snprintf(NULL, 0) ret %d\n", r);
    r = snprintf(buf, 1, "abc");
    printf("snprintf size 1 ret %d buf [%s]\n", r, buf);
    char big[256];
    r = snprintf(big, sizeof big, "%.20f %.15e %g %g %g", 0.1, 1.0 / 7.0, 1e-5, 123456789.0, 0.0001234);
    printf("snprintf ret %d [%s]\n", r, big);

    static const char *inputs[] = {"3.14159", "  -12.5e2xyz", "0x1.8p3", "1e-310", "1e400", "-1e-400",
                                   "inf", "-Infinity", "nan", ".5", "5.", "1e", "abc", "",
                                   "0.1000000000000000055511151231257827", "2.2250738585072014e-308",
                                   "123456789012345678901234567890", "+0", "-0.0", "1_000"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char *end;
        errno = 0;
        double d = strtod(inputs[i], &end);
        printf("strtod[%s] = %.17g used %d erange %d\n", inputs[i], d, (int)(end - inputs[i]), errno == ERANGE);
    }
    double acc = 0;
    for (int i = 1; i <= 1000; i++) {
        char s[64];
        snprintf(s, sizeof s, "%.17g", 1.0 / i);
        double back = strtod(s, NULL);
        if (back != 1.0 / i)
            printf("round trip failed for 1/%d\n", i);
        acc += back;
    }
    printf("harmonic %.15f\n", acc);
    long l = strtol("  -0x7fz", NULL, 16);
    unsigned long ul = strtoul("4294967295", NULL, 10);
    printf("strtol %ld strtoul %lu atoi %d atof %.3f\n", l, ul, atoi("  77abc"), atof("2.5e1"));
    return sorted ? 0 : 1;
}

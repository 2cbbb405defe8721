/* Integer <-> double conversions at every edge: each printed as its exact bits, so the chip
 * (fcvt.d.w / fcvt.d.wu in shoal's Unicorn, whose int32/uint32 -> float64 paths are its own)
 * must agree with the host bit for bit. Also a sweep of pseudo-random values and the sums
 * a loop like busy.c's builds from them. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

int main(void) {
    static const int32_t s[] = {0, 1, -1, 2, -2, 3, 7, -8, 255, 256, -65536, 16777215, 16777216,
                                16777217, -16777217, 1073741824, 2147483647, -2147483647,
                                (int32_t)0x80000000, 123456789, -987654321};
    static const uint32_t u[] = {0u, 1u, 2u, 0x7fffffffu, 0x80000000u, 0x80000001u, 0xfffffffeu,
                                 0xffffffffu, 0x00ffffffu, 0x01000001u, 3000000000u, 65535u};
    for (unsigned i = 0; i < sizeof s / sizeof s[0]; i++) {
        volatile int32_t v = s[i];
        printf("i32 %ld %016llx %a\n", (long)v, (unsigned long long)bits((double)v), (double)v);
    }
    for (unsigned i = 0; i < sizeof u / sizeof u[0]; i++) {
        volatile uint32_t v = u[i];
        printf("u32 %lu %016llx %a\n", (unsigned long)v, (unsigned long long)bits((double)v), (double)v);
    }
    /* the same conversions with an explicit static mode and with dyn (frm = rne) */
    for (unsigned i = 0; i < sizeof s / sizeof s[0]; i++) {
        int32_t v = s[i];
        uint32_t w = (uint32_t)s[i];
        double a, b, c;
#if defined(__riscv)
        __asm__ volatile("fcvt.d.w %0, %1, rtz" : "=f"(a) : "r"(v));
        __asm__ volatile("fcvt.d.w %0, %1, dyn" : "=f"(b) : "r"(v));
        __asm__ volatile("fcvt.d.wu %0, %1, rup" : "=f"(c) : "r"(w));
#else
        a = (double)v, b = (double)v, c = (double)w;
#endif
        printf("modes %016llx %016llx %016llx\n", (unsigned long long)bits(a),
               (unsigned long long)bits(b), (unsigned long long)bits(c));
    }
    uint32_t x = 2463534242u;
    uint64_t hs = 0, hu = 0;
    double acc = 0.0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        volatile uint32_t vu = x >> (i & 31);
        volatile int32_t vs = (int32_t)x >> (i & 31);
        double du = (double)vu, ds = (double)vs;
        hs = hs * 1099511628211ull ^ bits(ds);
        hu = hu * 1099511628211ull ^ bits(du);
        acc += du / (1.0 + (double)(i & 15)) - ds;
    }
    printf("sweep %016llx %016llx %.17g\n", (unsigned long long)hs, (unsigned long long)hu, acc);
    return 0;
}

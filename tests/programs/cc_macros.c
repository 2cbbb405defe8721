/* The macros a program tests to learn how it was built, printed as gcc would set them. */
#include <stdio.h>

int main(void) {
#ifdef NDEBUG
    printf("NDEBUG\n");
#endif
#ifdef __OPTIMIZE__
    printf("__OPTIMIZE__\n");
#endif
#ifdef __OPTIMIZE_SIZE__
    printf("__OPTIMIZE_SIZE__\n");
#endif
#ifdef __NO_INLINE__
    printf("__NO_INLINE__\n");
#endif
#ifdef __FAST_MATH__
    printf("__FAST_MATH__\n");
#endif
#if defined(__SSP__) || defined(__SSP_STRONG__) || defined(__SSP_ALL__)
    printf("__SSP__\n");
#endif
    printf("__STDC_VERSION__ %ld\n", (long)__STDC_VERSION__);
    /* gcc compiles __DATE__ and __TIME__ silently ("Mmm dd yyyy" and "hh:mm:ss"). */
    printf("date+time %u\n", (unsigned)sizeof(__DATE__ " " __TIME__));
    return 0;
}

/* The accrued FP exception flags after each kind of operation, exact and inexact, in double
 * and float: shoal's Unicorn runs these on the host FPU and reads the host's inexact flag
 * (shoal/native/unicorn-budget.patch), so what the guest sees must equal the host's own.
 * Operands are volatile so that nothing is folded at compile time. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

static volatile double d0 = 0.0, d1 = 1.0, d3 = 3.0, d4 = 4.0, dq = 0.25, dh = 0.5,
                       dmax = DBL_MAX, dmin = DBL_MIN, d2 = 2.0, dbig = 1e300;
static volatile float f1 = 1.0f, f3 = 3.0f, f4 = 4.0f, fq = 0.25f, fmx = FLT_MAX, f2 = 2.0f;
static volatile double sink;
static volatile float fsink;

static void show(const char *what) {
    int e = fetestexcept(FE_ALL_EXCEPT);
    printf("%-14s%s%s%s%s%s\n", what, e & FE_INEXACT ? " inexact" : "", e & FE_OVERFLOW ? " overflow" : "",
           e & FE_UNDERFLOW ? " underflow" : "", e & FE_DIVBYZERO ? " divbyzero" : "",
           e & FE_INVALID ? " invalid" : "");
    feclearexcept(FE_ALL_EXCEPT);
}

int main(void) {
    feclearexcept(FE_ALL_EXCEPT);
    sink = dq * d4;        show("mul exact");
    sink = d1 / d3;        show("div inexact");
    sink = d1 / d4;        show("div exact");
    sink = d1 + dq;        show("add exact");
    sink = d1 + 1e-30 * d1; show("add inexact");
    sink = d3 - dh;        show("sub exact");
    sink = fma(dq, d4, d1); show("fma exact");
    sink = fma(d1 / d4, d3, d1 / d3); show("fma inexact");
    sink = sqrt(d4);       show("sqrt exact");
    sink = sqrt(d2);       show("sqrt inexact");
    sink = dmax * d2;      show("mul overflow");
    sink = dbig * dbig;    show("mul overflow2");
    sink = dmin * dh;      show("mul tiny exact");
    sink = dmin * dmin;    show("mul underflow");
    sink = d1 / d0;        show("div by zero");
    sink = d0 / d0;        show("0/0");
    fsink = fq * f4;       show("fmul exact");
    fsink = f1 / f3;       show("fdiv inexact");
    fsink = fmx * f2;      show("fmul overflow");
    fsink = sqrtf(f4);     show("fsqrt exact");
    fsink = sqrtf(f2);     show("fsqrt inexact");
    fsink = fmaf(fq, f4, f1); show("fmaf exact");
    fsink = fmaf(f1 / f3, f3, f1); show("fmaf inexact");
    /* a long exact computation (as matmul on small integers), then one inexact step */
    double acc = 0.0;
    for (int i = 0; i < 100000; i++)
        acc += (double)(i % 17) * 0.25 * (double)(i % 13);
    printf("acc %.17g\n", acc);
    show("exact loop");
    sink = acc / d3;       show("then inexact");   /* through a volatile: not moved past show */
    sink = sink + dq;      show("cleared, add");
    printf("acc %.17g\n", sink);
    /* other rounding modes: results rounded as asked, not as the host's default would */
    static const int modes[] = {FE_TOWARDZERO, FE_UPWARD, FE_DOWNWARD, FE_TONEAREST};
    static const char *names[] = {"rtz", "up", "down", "near"};
    for (int m = 0; m < 4; m++) {
        fesetround(modes[m]);
        feclearexcept(FE_ALL_EXCEPT);
        sink = d1 / d3;
        double q = sink;
        sink = d1 / d4;
        double e = sink;
        fsink = f1 / f3;
        float fq3 = fsink;
        sink = sqrt(d2);
        double r = sink;
        printf("%-5s %a %a %a %a", names[m], q, e, (double)fq3, r);
        show("");
    }
    return 0;
}

/* Numeric assertions shared by the unit tests (include after <cmocka.h>). Each prints the
 * numbers involved when it fails. */
#ifndef DK_TEST_ASSERTS_H
#define DK_TEST_ASSERTS_H

#include <math.h>
#include <stddef.h>

/* |actual - expected| <= tol. */
#define assert_close_abs(actual, expected, tol)                                            \
    do {                                                                                   \
        const double a_ = (double)(actual), e_ = (double)(expected), t_ = (double)(tol);   \
        if (!(fabs(a_ - e_) <= t_))                                                        \
            fail_msg("%s = %.17g, expected %.17g (|diff| %.3g > %.3g)", #actual, a_, e_,   \
                     fabs(a_ - e_), t_);                                                   \
    } while (0)

/* |got - want| <= tol (1 + |want|). */
static inline void assert_close_rel(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want))))
        fail_msg("got %.17g, want %.17g", got, want);
}

/* ||a - b|| <= tol ||b|| and max |a - b| <= tol max |b| (both pass when a == b == 0). */
static inline void assert_arrays_close(const double *a, const double *b, size_t n, double tol)
{
    double num = 0, den = 0, worst = 0, big = 0;
    for (size_t e = 0; e < n; e++) {
        num += (a[e] - b[e]) * (a[e] - b[e]);
        den += b[e] * b[e];
        worst = fmax(worst, fabs(a[e] - b[e]));
        big = fmax(big, fabs(b[e]));
    }
    if (!(sqrt(num) <= tol * sqrt(den) + 1e-300) || !(worst <= tol * big + 1e-300))
        print_error("relative error %.3g (max %.3g of %.3g), tolerance %.3g\n", sqrt(num) / sqrt(den), worst, big,
                    tol);
    assert_true(sqrt(num) <= tol * sqrt(den) + 1e-300);
    assert_true(worst <= tol * big + 1e-300);
}

#endif

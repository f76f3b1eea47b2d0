/* The float32 kernels keep the relative accuracy of small basis values: where a B-spline
 * tends to 0 at an end of its support (x just below the knot where it ends, or just above
 * the one where it starts), forward values, coefficient gradients and first and second
 * derivatives (layer and jet kernels) must match a float64 reference to a relative error
 * of a few float32 roundings divided by the distance to the knot (in units of the span),
 * not to an absolute error of about float32's epsilon. The kernels evaluate the functions
 * on each half of a span as polynomials expanded at that half's knot
 * (kernels/dk_bspline_local.inc, bs_piece). Expanded at t_m, as they were before, the
 * function ending at t_{m+1} cancels there; in float32 that error, through the coefficient
 * gradients and Adam's normalisation, moved 20 training steps 6e-5 away from float64
 * instead of 1.8e-7.
 *
 * The reference is pykan's Cox-de Boor recursion (kan_reference.h) in float64 at the same
 * float32 inputs and knots, derivatives by the standard formula applied to lower degrees. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "kan_reference.h"
#include "kernels/dk_bspline.h"
#include "kernels/dk_kan_jet.h"
#include "kernels/dk_kan_layer.h"

enum { G = 6, MAX_NK = 32, N_DELTA = 4 };
static const double DELTAS[N_DELTA] = {0.3, 0.1, 0.03, 0.01}; /* distance below t_{m+1}, in spans */
static const double EPS32 = 5.96e-8;                          /* float32's unit roundoff */

/* d-th derivative of function c of degree k on the knots t[0..n-1] at x (float64). */
static double ref_deriv(const double *t, int n, int k, int d, int c, double x)
{
    if (d == 0) {
        double B[256];
        full_basis(t, n, k, x, B);
        return B[c];
    }
    const double a = t[c + k] - t[c], b = t[c + k + 1] - t[c + 1];
    return (a > 0 ? k / a * ref_deriv(t, n, k - 1, d - 1, c, x) : 0.0) -
           (b > 0 ? k / b * ref_deriv(t, n, k - 1, d - 1, c + 1, x) : 0.0);
}

/* Non-uniform knots: spans of random widths in [0.5, 1.5] from -1.3 (float32 values). */
static void make_knots(int k, ref_rng *rng, float *tf, double *td)
{
    const int nk = G + 2 * k + 1;
    double v = -1.3;
    for (int m = 0; m < nk; m++) {
        tf[m] = (float)v;
        td[m] = tf[m];
        v += 0.5 + ref_uni(rng);
    }
}

/* The worst, over inputs at DELTAS below each inner span's end, of the measured relative
 * error divided by the bound eps32 * (8 + 4k / delta): rounding in the span coordinate s
 * (a few eps) becomes a relative error of k eps / delta in (1 - s)^k. */
typedef struct worst {
    double value, grad, dx, d1, d2;
} worst;

static void note(double *w, double got, double ref, double delta, int k)
{
    if (ref == 0.0)
        return;
    const double rel = fabs(got - ref) / fabs(ref), bound = EPS32 * (8.0 + 4.0 * k / delta);
    if (rel / bound > *w)
        *w = rel / bound;
}

static worst measure(int k)
{
    ref_rng rng = {11, (uint64_t)k, 0};
    const int nk = G + 2 * k + 1, nb = G + k;
    float tf[MAX_NK], coef[MAX_NK], zero = 0.0f, one = 1.0f;
    double td[MAX_NK];
    make_knots(k, &rng, tf, td);
    const dk_kan_shape s = dk_kan_shape_make(1, 1, G, k, 1, 1);
    const size_t bytes = dk_kan_workspace_bytes(&s, DK_F32), jbytes = dk_kan_jet_workspace_bytes(&s, 1, DK_F32);
    void *ws = aligned_alloc(64, ((bytes > jbytes ? bytes : jbytes) + 63) / 64 * 64);
    assert_non_null(ws);
    const dk_kan_params_f32 p = {tf, coef, &zero, &one, &one};
    worst w = {0, 0, 0, 0, 0};
    /* spans of the grid range [t_k, t_{G+k}): the function ending at a span's right knot
     * just below it (end 0), and the one starting at its left knot just above it (end 1) */
    for (int m = k; m < G + k; m++)
        for (int end = 0; end < 2; end++) {
            const int c = end ? m : m - k;
            for (int q = 0; q < nb; q++)
                coef[q] = q == c ? 1.0f : 0.0f;
            for (int e = 0; e < N_DELTA; e++) {
                const double h = td[m + 1] - td[m];
                const float x = (float)(end ? td[m] + DELTAS[e] * h : td[m + 1] - DELTAS[e] * h);
                const double delta = fabs(x - (end ? td[m] : td[m + 1])) / h;
                const double v = ref_deriv(td, nk, k, 0, c, x), v1 = ref_deriv(td, nk, k, 1, c, x);
                const double v2 = k >= 2 ? ref_deriv(td, nk, k, 2, c, x) : 0.0;
                float y, dy = 1.0f, dx, gc[MAX_NK], gb, gs, y1, y2;
                dk_kan_forward_f32(&s, &p, 1, &x, &y, ws);
                note(&w.value, y, v, delta, k);
                const dk_kan_grads_f32 g = {gc, &gb, &gs};
                dk_kan_backward_f32(&s, &p, 1, &x, &dy, &dx, &g, ws);
                note(&w.grad, gc[c], v, delta, k);
                note(&w.dx, dx, v1, delta, k);
                dk_kan_jet_forward_f32(&s, &p, 1, 1, 1, &x, NULL, NULL, &y, &y1, &y2, ws);
                note(&w.d1, y1, v1, delta, k);
                if (k >= 2)
                    note(&w.d2, y2, v2, delta, k);
            }
        }
    free(ws);
    return w;
}

static void test_small_basis_values_keep_relative_accuracy(void **state)
{
    (void)state;
    for (int k = 1; k <= 7; k++) {
        const worst w = measure(k);
        print_message("k = %d: worst error over bound: value %.3f, coef gradient %.3f, dx %.3f, y' %.3f, y'' %.3f\n",
                      k, w.value, w.grad, w.dx, w.d1, w.d2);
        assert_true(w.value <= 1.0);
        assert_true(w.grad <= 1.0);
        assert_true(w.dx <= 1.0);
        assert_true(w.d1 <= 1.0);
        assert_true(w.d2 <= 1.0);
    }
}

/* Where the kernels switch pieces: x at every knot and span midpoint and the neighbouring
 * floats, the last float below the grid's end, and spans so narrow (a few float32 ulps at
 * 1000) that a midpoint rounds onto a knot and leaves a half empty. The layer's output,
 * random coefficients, must equal the reference spline to float rounding: 1e-5 of the sum
 * of |coefficients| in float32 (spline values are convex combinations of them), 1e-13 in
 * float64 at the same points. */
static float float_above(float v) { return nextafterf(v, INFINITY); }
static float float_below(float v) { return nextafterf(v, -INFINITY); }

static void check_points(int k, const float *tf, const double *td, int nk, ref_rng *rng)
{
    const int nb = nk - k - 1;
    float coef32[MAX_NK], zero = 0.0f, one = 1.0f;
    double coef64[MAX_NK], t64[MAX_NK], zero64 = 0.0, one64 = 1.0, scale = 0.0;
    for (int c = 0; c < nb; c++) {
        coef32[c] = (float)ref_sym(rng, 1.0);
        coef64[c] = coef32[c];
        scale += fabs(coef64[c]);
    }
    for (int m = 0; m < nk; m++)
        t64[m] = td[m];
    const dk_kan_shape s = dk_kan_shape_make(1, 1, nk - 2 * k - 1, k, 1, 1);
    const size_t b32 = dk_kan_workspace_bytes(&s, DK_F32), b64 = dk_kan_workspace_bytes(&s, DK_F64);
    void *ws = aligned_alloc(64, ((b32 > b64 ? b32 : b64) + 63) / 64 * 64);
    assert_non_null(ws);
    const dk_kan_params_f32 p32 = {tf, coef32, &zero, &one, &one};
    const dk_kan_params_f64 p64 = {t64, coef64, &zero64, &one64, &one64};
    for (int m = 0; m < nk; m++) {
        const float mid = m + 1 < nk ? (float)(tf[m] + (tf[m + 1] - tf[m]) * 0.5f) : tf[m];
        const float xs[] = {tf[m], float_below(tf[m]), float_above(tf[m]), mid, float_below(mid), float_above(mid)};
        for (size_t e = 0; e < sizeof xs / sizeof *xs; e++) {
            const float x = xs[e];
            const double ref = ref_spline(td, nk, k, coef64, x), xd = x;
            float y;
            double y64;
            dk_kan_forward_f32(&s, &p32, 1, &x, &y, ws);
            dk_kan_forward_f64(&s, &p64, 1, &xd, &y64, ws);
            if (fabs(y - ref) > 1e-5 * scale || fabs(y64 - ref) > 1e-13 * scale) {
                print_error("k = %d, x = %.9g (knot %d, case %zu): float32 %.9g, float64 %.17g, reference %.17g\n", k,
                            (double)x, m, e, (double)y, y64, ref);
                fail();
            }
        }
    }
    free(ws);
}

static void test_pieces_switch_cleanly(void **state)
{
    (void)state;
    for (int k = 1; k <= 7; k++) {
        ref_rng rng = {12, (uint64_t)k, 0};
        float tf[MAX_NK];
        double td[MAX_NK];
        make_knots(k, &rng, tf, td);
        check_points(k, tf, td, G + 2 * k + 1, &rng);
        /* Spans of 1 to 4 float32 ulps at 1000: midpoints round onto knots. */
        const int nk = G + 2 * k + 1;
        float v = 1000.0f;
        for (int m = 0; m < nk; m++) {
            tf[m] = v;
            td[m] = v;
            for (int u = 0; u < 1 + m % 4; u++)
                v = float_above(v);
        }
        check_points(k, tf, td, nk, &rng);
    }
}

/* Whether the layer and jet kernels give finite values, gradients, dx and first and second
 * derivatives at a point of every half span of uniform knots h apart from 0 (G = 6,
 * coefficients 1, 2, ...), in the precision of the suffix; *unit_diff: the largest
 * difference of the forward values from those of the same spline at spacing 1 (B-splines
 * do not change when knots and x are scaled alike), against their size. */
#define ALL_FINITE_AT_SPACING(SFX, REAL, DTYPE)                                                                           \
    static bool all_finite_##SFX(int k, double h, double *unit_diff)                                                  \
    {                                                                                                                 \
        const int nk = G + 2 * k + 1, nb = G + k;                                                                     \
        REAL t[MAX_NK], t1[MAX_NK], coef[MAX_NK], zero = 0, one = 1;                                                  \
        for (int m = 0; m < nk; m++) {                                                                                \
            t[m] = (REAL)(m * h);                                                                                     \
            t1[m] = (REAL)m;                                                                                          \
        }                                                                                                             \
        for (int c = 0; c < nb; c++)                                                                                  \
            coef[c] = (REAL)(c + 1);                                                                                  \
        const dk_kan_shape s = dk_kan_shape_make(1, 1, G, k, 1, 1);                                                   \
        const size_t bytes = dk_kan_workspace_bytes(&s, DTYPE), jbytes = dk_kan_jet_workspace_bytes(&s, 1, DTYPE);     \
        void *ws = aligned_alloc(64, ((bytes > jbytes ? bytes : jbytes) + 63) / 64 * 64);                             \
        assert_non_null(ws);                                                                                          \
        const dk_kan_params_##SFX p = {t, coef, &zero, &one, &one}, p1 = {t1, coef, &zero, &one, &one};              \
        bool finite = true;                                                                                           \
        *unit_diff = 0;                                                                                               \
        for (int m = 0; m + 1 < nk; m++)                                                                              \
            for (int half = 0; half < 2; half++) {                                                                    \
                const REAL x = (REAL)((m + (half ? 0.8 : 0.3)) * h), x1 = (REAL)(m + (half ? 0.8 : 0.3));            \
                REAL y, y_unit, dy = 1, dx, gc[MAX_NK], gb, gs, y1, y2;                                               \
                const dk_kan_grads_##SFX g = {gc, &gb, &gs};                                                          \
                dk_kan_forward_##SFX(&s, &p, 1, &x, &y, ws);                                                          \
                dk_kan_forward_##SFX(&s, &p1, 1, &x1, &y_unit, ws);                                                   \
                const double d = fabs((double)y - (double)y_unit) / nb;                                               \
                *unit_diff = d > *unit_diff || !isfinite(d) ? d : *unit_diff;                                         \
                dk_kan_backward_##SFX(&s, &p, 1, &x, &dy, &dx, &g, ws);                                               \
                dk_kan_jet_forward_##SFX(&s, &p, 1, 1, 1, &x, NULL, NULL, &y, &y1, &y2, ws);                          \
                finite = finite && isfinite(y) && isfinite(dx) && isfinite(y1) && isfinite(y2);                      \
                for (int c = 0; c < nb; c++)                                                                          \
                    finite = finite && isfinite(gc[c]);                                                               \
            }                                                                                                         \
        free(ws);                                                                                                     \
        return finite;                                                                                                \
    }
ALL_FINITE_AT_SPACING(f32, float, DK_F32)
ALL_FINITE_AT_SPACING(f64, double, DK_F64)

/* At the spacing limit(k, largest) for k = 1..7 in both precisions: every kernel output
 * finite, and the spline the same as at spacing 1; at `beyond` times it (from degree
 * beyond_from_k on) not finite, so that the limit guards a real overflow. */
static void check_spacing_limit(const char *which, double (*limit)(int, double), double beyond, int beyond_from_k)
{
    for (int k = 1; k <= 7; k++) {
        const double h32 = limit(k, FLT_MAX), h64 = limit(k, DBL_MAX);
        double d32, d64, unused;
        assert_true(all_finite_f32(k, h32, &d32));
        assert_true(all_finite_f64(k, h64, &d64));
        print_message("k = %d: %s spacing %.3g (float32, differs from spacing 1 by %.2g), %.3g (float64, %.2g)\n", k,
                      which, h32, d32, h64, d64);
        assert_true(d32 < 1e-5);
        assert_true(d64 < 1e-13);
        if (k >= beyond_from_k) {
            assert_false(all_finite_f32(k, h32 * beyond, &unused));
            assert_false(all_finite_f64(k, h64 * beyond, &unused));
        }
    }
}

/* The smallest spacing that config checks, grid updates and extensions and checkpoint
 * loading require (dk_bspline_min_spacing); a thousandth of it overflows the derivatives
 * of order k behind each piece, of order 1/h^k. */
static void test_min_spacing_keeps_the_kernels_finite(void **state)
{
    (void)state;
    check_spacing_limit("smallest", dk_bspline_min_spacing, 1e-3, 1);
}

/* The widest spacing, checked where the smallest is (dk_bspline_max_spacing); a thousand
 * times it overflows the pieces, which multiply derivatives of order d, about 1/h^d, by
 * h^d / d! (k >= 2; at k = 1 they hold no power of h above the first). */
static void test_max_spacing_keeps_the_kernels_finite(void **state)
{
    (void)state;
    check_spacing_limit("widest", dk_bspline_max_spacing, 1e3, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_basis_values_keep_relative_accuracy),
        cmocka_unit_test(test_pieces_switch_cleanly),
        cmocka_unit_test(test_min_spacing_keeps_the_kernels_finite),
        cmocka_unit_test(test_max_spacing_keeps_the_kernels_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

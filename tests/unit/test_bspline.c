/* Local B-spline evaluation against pykan's full Cox-de Boor recursion, finite differences
 * and the defining properties of the basis. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kan_reference.h"

#include "common/dk_rng.h"
#include "kernels/dk_bspline.h"

enum { SEED = 20240611, N_X = 400 };

static uint64_t draw_index;
static double uni(void) { return dk_rng_uniform(SEED, 77, draw_index++); }

/* Strictly increasing knots with spacings uniform on [0.2, 1.8] times a random h, heap
 * allocated to the exact size so that AddressSanitizer sees any read past the ends. */
static double *random_knots(int n)
{
    double *t = malloc((size_t)n * sizeof *t);
    double h = 0.05 + uni();
    t[0] = -2.0 + uni();
    for (int m = 1; m < n; m++)
        t[m] = t[m - 1] + h * (0.2 + 1.6 * uni());
    return t;
}

static float *to_float(const double *t, int n)
{
    float *f = malloc((size_t)n * sizeof *f);
    for (int m = 0; m < n; m++)
        f[m] = (float)t[m];
    return f;
}

static int n_knots_for(int G, int k) { return G + 2 * k + 1; }

static void test_partition_of_unity_inside_grid_range(void **state)
{
    (void)state;
    for (int k = 1; k <= 5; k++) {
        const int G = 3 + k, n = n_knots_for(G, k);
        double *t = random_knots(n);
        float *tf = to_float(t, n);
        for (int s = 0; s < N_X; s++) {
            double x = t[k] + (t[n - 1 - k] - t[k]) * uni();
            double v[DK_MAX_DEGREE + 1], sum = 0;
            assert_true(dk_bspline_eval_f64(t, n, k, x, 0, v) >= 0);
            for (int r = 0; r <= k; r++)
                sum += v[r];
            /* k+1 terms each O(1): a few ulps */
            assert_true(fabs(sum - 1.0) < 1e-14);
            float vf[DK_MAX_DEGREE + 1], sumf = 0;
            float xf = tf[k] + (tf[n - 1 - k] - tf[k]) * (float)uni();
            if (xf >= tf[n - 1 - k])
                continue;
            assert_true(dk_bspline_eval_f32(tf, n, k, xf, 0, vf) >= 0);
            for (int r = 0; r <= k; r++)
                sumf += vf[r];
            /* float: a few ulps of 6e-8 */
            assert_true(fabsf(sumf - 1.0f) < 1e-6f);
        }
        free(t);
        free(tf);
    }
}

static void test_zero_outside_extended_grid_and_at_last_knot(void **state)
{
    (void)state;
    const int k = 3, n = n_knots_for(5, k);
    double *t = random_knots(n);
    const double sentinel = 12345.0;
    double xs[] = {t[0] - 1e-9, t[0] - 3.0, t[n - 1], t[n - 1] + 1e-9, t[n - 1] + 5.0, NAN, -INFINITY, INFINITY};
    for (size_t q = 0; q < sizeof xs / sizeof xs[0]; q++) {
        double v[4 * (DK_MAX_DEGREE + 1)];
        for (int r = 0; r < 4 * (k + 1); r++)
            v[r] = sentinel;
        assert_int_equal(dk_bspline_eval_f64(t, n, k, xs[q], 3, v), -1);
        for (int r = 0; r < 4 * (k + 1); r++)
            assert_true(v[r] == sentinel);
        double B[64];
        if (isfinite(xs[q])) { /* the recursion itself gives inf * 0 at +-inf */
            full_basis(t, n, k, xs[q], B);
            for (int c = 0; c < n - 1 - k; c++)
                assert_true(B[c] == 0.0);
        }
    }
    /* the first knot belongs to the grid (half-open pieces) */
    double v[DK_MAX_DEGREE + 1];
    assert_int_equal(dk_bspline_eval_f64(t, n, k, t[0], 0, v), 0);
    float *tf = to_float(t, n);
    float vf[DK_MAX_DEGREE + 1];
    assert_int_equal(dk_bspline_eval_f32(tf, n, k, tf[n - 1], 0, vf), -1);
    assert_int_equal(dk_bspline_eval_f32(tf, n, k, nanf(""), 0, vf), -1);
    assert_int_equal(dk_bspline_eval_f32(tf, n, k, tf[0] - 1.0f, 0, vf), -1);
    free(t);
    free(tf);
}

/* Every basis function, in or out of the returned window, against the full recursion,
 * for x anywhere on the extended grid (end regions included). */
static void test_local_values_match_full_cox_de_boor(void **state)
{
    (void)state;
    const int ks[] = {1, 2, 3, 4, 5, 7};
    for (size_t q = 0; q < sizeof ks / sizeof ks[0]; q++) {
        const int k = ks[q], G = 1 + (int)q * 2, n = n_knots_for(G, k), nb = n - 1 - k;
        double *t = random_knots(n);
        float *tf = to_float(t, n);
        double *tfd = malloc((size_t)n * sizeof *tfd);
        for (int m = 0; m < n; m++)
            tfd[m] = tf[m];
        for (int s = 0; s < N_X; s++) {
            double x = t[0] + (t[n - 1] - t[0]) * uni();
            if (s < 2 * n) /* the knots themselves */
                x = t[s / 2];
            double B[64], v[DK_MAX_DEGREE + 1];
            full_basis(t, n, k, x, B);
            int c0 = dk_bspline_eval_f64(t, n, k, x, 0, v);
            if (x == t[n - 1]) {
                assert_int_equal(c0, -1);
                continue;
            }
            assert_true(c0 >= 0 && c0 <= nb - (k + 1));
            for (int c = 0; c < nb; c++) {
                double local = (c >= c0 && c <= c0 + k) ? v[c - c0] : 0.0;
                /* values are <= 1 and built from O(k^2) operations: a few ulps */
                assert_true(fabs(local - B[c]) < 1e-14);
            }
            float xf = (float)x, vf[DK_MAX_DEGREE + 1];
            if (xf >= tf[n - 1])
                continue;
            full_basis(tfd, n, k, (double)xf, B);
            c0 = dk_bspline_eval_f32(tf, n, k, xf, 0, vf);
            assert_true(c0 >= 0 && c0 <= nb - (k + 1));
            for (int c = 0; c < nb; c++) {
                double local = (c >= c0 && c <= c0 + k) ? vf[c - c0] : 0.0;
                /* float arithmetic against double on the same knots: relative error of the
                 * knot differences (near-cancelling for x close to a knot) of ~1e-7 */
                assert_true(fabs(local - B[c]) < 2e-6);
            }
        }
        free(t);
        free(tf);
        free(tfd);
    }
}

/* D^d B at x by a central difference of D^{d-1} B: x sits mid-span so x +- h stays in the
 * span, where every B is a polynomial. */
static void test_derivatives_match_finite_differences(void **state)
{
    (void)state;
    for (int k = 1; k <= 5; k++) {
        const int G = 4, n = n_knots_for(G, k);
        double *t = random_knots(n);
        for (int s = 0; s < 200; s++) {
            int m = (int)(uni() * (n - 1));
            double w = t[m + 1] - t[m];
            double x = t[m] + w * (0.25 + 0.5 * uni());
            /* h^2 truncation (~1e-12 relative) against eps/h rounding (~1e-10) */
            double h = 1e-6 * w;
            double v[4 * (DK_MAX_DEGREE + 1)], vp[4 * (DK_MAX_DEGREE + 1)], vm[4 * (DK_MAX_DEGREE + 1)];
            int c0 = dk_bspline_eval_f64(t, n, k, x, 3, v);
            assert_int_equal(dk_bspline_eval_f64(t, n, k, x + h, 3, vp), c0);
            assert_int_equal(dk_bspline_eval_f64(t, n, k, x - h, 3, vm), c0);
            for (int d = 1; d <= 3; d++) {
                double scale = 0;
                for (int r = 0; r <= k; r++)
                    scale = fmax(scale, fmax(fabs(v[(d - 1) * (k + 1) + r]) / w, fabs(v[d * (k + 1) + r])));
                for (int r = 0; r <= k; r++) {
                    double fd = (vp[(d - 1) * (k + 1) + r] - vm[(d - 1) * (k + 1) + r]) / (2 * h);
                    double an = v[d * (k + 1) + r];
                    if (d > k)
                        assert_true(an == 0.0);
                    /* scale: the size of D^d B in this window (|D^{d-1}B| / span is its
                     * natural unit); 1e-6 of it leaves room for the ~1e-10 rounding of the
                     * difference quotient and still catches any wrong weight */
                    assert_true(fabs(an - fd) <= 1e-6 * scale + 1e-12);
                }
            }
        }
        free(t);
    }
}

/* On the first and last k spans fewer than k+1 functions exist; the window is clamped to
 * the existing functions and the missing positions are zero. */
static void test_fewer_than_k_plus_1_nonzero_near_grid_ends(void **state)
{
    (void)state;
    for (int k = 1; k <= 5; k++) {
        const int G = 3, n = n_knots_for(G, k), nb = n - 1 - k;
        double *t = random_knots(n);
        for (int m = 0; m < n - 1; m++) {
            double x = 0.5 * (t[m] + t[m + 1]), v[DK_MAX_DEGREE + 1];
            int c0 = dk_bspline_eval_f64(t, n, k, x, 0, v);
            int lo = m - k < 0 ? 0 : m - k, hi = m > nb - 1 ? nb - 1 : m; /* existing non-zero functions */
            int expect_c0 = m - k < 0 ? 0 : (m - k > nb - k - 1 ? nb - k - 1 : m - k);
            assert_int_equal(c0, expect_c0);
            int nonzero = 0;
            for (int r = 0; r <= k; r++) {
                int c = c0 + r;
                if (c >= lo && c <= hi)
                    assert_true(v[r] > 0.0);
                else
                    assert_true(v[r] == 0.0);
                nonzero += v[r] != 0.0;
            }
            assert_int_equal(nonzero, hi - lo + 1);
            if (m < k || m > n - 2 - k)
                assert_true(nonzero < k + 1);
        }
        free(t);
    }
}

static void test_span_search_on_non_uniform_knots(void **state)
{
    (void)state;
    const int n = 23;
    double *t = random_knots(n);
    float *tf = to_float(t, n);
    for (int s = 0; s < 2000; s++) {
        double x = t[0] - 0.5 + (t[n - 1] - t[0] + 1.0) * uni();
        if (s < n)
            x = t[s];
        int expect = -1;
        for (int m = 0; m < n - 1; m++)
            if (t[m] <= x && x < t[m + 1])
                expect = m;
        assert_int_equal(dk_bspline_span_f64(t, n, x), expect);
        float xf = (float)x;
        expect = -1;
        for (int m = 0; m < n - 1; m++)
            if (tf[m] <= xf && xf < tf[m + 1])
                expect = m;
        assert_int_equal(dk_bspline_span_f32(tf, n, xf), expect);
    }
    assert_int_equal(dk_bspline_span_f64(t, n, t[n - 1]), -1);
    assert_int_equal(dk_bspline_span_f64(t, n, NAN), -1);
    free(t);
    free(tf);
}

/* pykan: linspace(lo, hi, G+1), then k knots each side spaced h = (hi - lo)/G. */
static void test_uniform_grid_matches_pykan_extended_grid(void **state)
{
    (void)state;
    const int G = 5, k = 3, n = n_knots_for(G, k);
    double t[32];
    float tf[32];
    dk_bspline_uniform_grid_f64(-1.0, 1.0, G, k, t);
    dk_bspline_uniform_grid_f32(-1.0f, 1.0f, G, k, tf);
    const double h = 0.4;
    assert_true(t[k] == -1.0 && t[k + G] == 1.0);
    for (int m = 0; m < n; m++) {
        assert_true(fabs(t[m] - (-1.0 + (m - k) * h)) < 1e-14);
        assert_true(fabsf(tf[m] - (float)(-1.0 + (m - k) * h)) < 1e-6f);
    }
}

/* pykan's extend_grid: inner knots kept as given, k knots on each side stepping by the mean
 * width (grid[-1] - grid[0]) / G even when the inner knots are not uniform; on a uniform
 * inner grid it agrees with dk_bspline_uniform_grid_f64. */
static void test_extend_grid_steps_by_mean_width(void **state)
{
    (void)state;
    for (int k = 1; k <= 3; k++) {
        const int G = 7, n = n_knots_for(G, k);
        double inner[8], t[32], u[32];
        inner[0] = -0.7;
        for (int i = 1; i <= G; i++)
            inner[i] = inner[i - 1] + 0.1 + uni(); /* non-uniform widths */
        dk_bspline_extend_grid_f64(inner, G, k, t);
        const double h = (inner[G] - inner[0]) / G;
        for (int i = 0; i <= G; i++)
            assert_true(t[k + i] == inner[i]);
        for (int e = 1; e <= k; e++) {
            assert_true(fabs(t[k - e] - (inner[0] - e * h)) < 1e-14);
            assert_true(fabs(t[k + G + e] - (inner[G] + e * h)) < 1e-14);
        }
        for (int i = 0; i <= G; i++)
            inner[i] = -1.5 + 4.0 * i / G;
        dk_bspline_extend_grid_f64(inner, G, k, t);
        dk_bspline_uniform_grid_f64(-1.5, 2.5, G, k, u);
        for (int m = 0; m < n; m++)
            assert_true(fabs(t[m] - u[m]) < 1e-14);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_of_unity_inside_grid_range),
        cmocka_unit_test(test_zero_outside_extended_grid_and_at_last_knot),
        cmocka_unit_test(test_local_values_match_full_cox_de_boor),
        cmocka_unit_test(test_derivatives_match_finite_differences),
        cmocka_unit_test(test_fewer_than_k_plus_1_nonzero_near_grid_ends),
        cmocka_unit_test(test_span_search_on_non_uniform_knots),
        cmocka_unit_test(test_uniform_grid_matches_pykan_extended_grid),
        cmocka_unit_test(test_extend_grid_steps_by_mean_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

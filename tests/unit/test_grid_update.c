/* Grid update from samples (pykan's update_grid_from_samples), one layer and a whole
 * network. References written here: pykan's knot formula re-implemented step by step, the
 * naive Cox-de Boor basis of kan_reference.h, polynomial splines in closed form (blossoms)
 * and a normal-equations least-squares solve. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kan_reference.h"
#include "test_asserts.h"
#include "kernels/dk_bspline.h"
#include "layers/dk_grid_update.h"
#include "layers/dk_network.h"
#include "layers/dk_spline_fit.h"

static ref_rng rng = {2025, 41, 0};

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Column i of x [n][in], sorted. */
static double *sorted_column(const double *x, long n, int in, int i)
{
    double *xs = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (long p = 0; p < n; p++)
        xs[p] = x[(size_t)p * in + i];
    qsort(xs, (size_t)n, sizeof *xs, by_value);
    return xs;
}

/* pykan, transcribed:
 *   x_pos = sort(x); ids = [int(batch / num_interval * i) for i in range(num_interval)] + [-1]
 *   grid_adaptive = x_pos[ids]; h = (grid_adaptive[-1] - grid_adaptive[0]) / num_interval
 *   grid_uniform = grid_adaptive[0] + h * arange(num_interval + 1)
 *   grid = grid_eps * grid_uniform + (1 - grid_eps) * grid_adaptive
 *   extend_grid: h = (grid[-1] - grid[0]) / (len - 1); k times prepend grid[0] - h, append grid[-1] + h */
static void pykan_knots(const double *x, long n, int in, int i, int G, int k, double eps, double *t)
{
    double *xs = sorted_column(x, n, in, i), grid[256];
    double adaptive[256];
    for (int m = 0; m < G; m++)
        adaptive[m] = xs[(long)((double)n / (double)G * (double)m)];
    adaptive[G] = xs[n - 1];
    const double h = (adaptive[G] - adaptive[0]) / G;
    for (int m = 0; m <= G; m++)
        grid[m] = eps * (adaptive[0] + h * (double)m) + (1.0 - eps) * adaptive[m];
    const double he = (grid[G] - grid[0]) / G;
    for (int m = 0; m <= G; m++)
        t[k + m] = grid[m];
    for (int e = 1; e <= k; e++) {
        t[k - e] = t[k - e + 1] - he;
        t[k + G + e] = t[k + G + e - 1] + he;
    }
    free(xs);
}

/* Coefficients of the polynomial sum_m a[m] x^m (degree <= k) in the B-spline basis on
 * knots t (Marsden's identity): c_c = sum_m a[m] e_m(t_{c+1}, ..., t_{c+k}) / binom(k, m),
 * e_m the elementary symmetric polynomials. Exact on [t_k, t_{nk-1-k}]. */
static void polynomial_coef(const double *t, int nk, int k, const double *a, double *coef)
{
    for (int c = 0; c < nk - 1 - k; c++) {
        double e[DK_MAX_DEGREE + 1] = {1.0};
        for (int q = 1; q <= k; q++)
            for (int m = q; m >= 1; m--)
                e[m] += t[c + q] * e[m - 1];
        double s = 0.0, binom = 1.0;
        for (int m = 0; m <= k; m++) {
            s += a[m] * e[m] / binom;
            binom = binom * (k - m) / (m + 1);
        }
        coef[c] = s;
    }
}

static double polynomial(const double *a, int k, double x)
{
    double s = 0.0;
    for (int m = k; m >= 0; m--)
        s = s * x + a[m];
    return s;
}

static void assert_strictly_increasing(const double *t, int n)
{
    for (int m = 1; m < n; m++)
        if (!(t[m] > t[m - 1]))
            fail_msg("knot %d = %.17g does not exceed knot %d = %.17g", m, t[m], m - 1, t[m - 1]);
}

static double *copy_of(const double *a, size_t n)
{
    double *b = malloc(sizeof(double) * n);
    assert_non_null(b);
    memcpy(b, a, sizeof(double) * n);
    return b;
}

/* A layer's knots and coefficients as they were before an update, sized from the layer so
 * that no test spells the sizes out again. */
typedef struct splines {
    double *grid, *coef;
} splines;

static splines copy_splines(const layer *L)
{
    return (splines){copy_of(L->grid, (size_t)L->in * L->nk), copy_of(L->coef, (size_t)L->in * L->out * L->nb)};
}

static void free_splines(splines *s)
{
    free(s->grid);
    free(s->coef);
}

/* The update changed nothing, bit for bit. */
static void assert_splines_unchanged(const layer *L, const splines *old)
{
    assert_memory_equal(L->grid, old->grid, sizeof(double) * L->in * L->nk);
    assert_memory_equal(L->coef, old->coef, sizeof(double) * L->in * L->out * L->nb);
}

/* max |L now - old| over the n samples x [n][in], every input and edge, with the naive basis. */
static double change_at_samples(const layer *L, const splines *old, long n, const double *x)
{
    const int in = L->in, out = L->out, k = L->k, nk = L->nk, nb = L->nb;
    double worst = 0.0;
    for (int i = 0; i < in; i++)
        for (long p = 0; p < n; p++)
            for (int j = 0; j < out; j++) {
                const size_t e = ((size_t)i * out + j) * nb;
                const double xp = x[(size_t)p * in + i];
                worst = fmax(worst, fabs(ref_spline(L->grid + (size_t)i * nk, nk, k, L->coef + e, xp) -
                                         ref_spline(old->grid + (size_t)i * nk, nk, k, old->coef + e, xp)));
            }
    return worst;
}

/* The knots are pykan's, bit for bit (same operations in the same order), for grid_eps 0,
 * 0.02 and 1, sample counts that are and are not multiples of G, uniform and clustered
 * samples. */
static void test_knots_follow_pykans_formula(void **state)
{
    (void)state;
    enum { IN = 2, OUT = 2, G = 10, K = 3, NK = G + 2 * K + 1 };
    const long ns[] = {1000, 997, 37};
    const double eps[] = {0.0, 0.02, 1.0};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            const long n = ns[a];
            layer L = make_layer(&rng, IN, OUT, G, K);
            double *x = malloc(sizeof(double) * (size_t)n * IN);
            for (long p = 0; p < n; p++) {
                x[p * IN] = ref_sym(&rng, 1.2);
                const double u = ref_sym(&rng, 1.0);
                x[p * IN + 1] = 2.0 * u * fabs(u) + 0.5; /* crowded in the middle */
            }
            dk_grid_update_report r = {0};
            assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, K, G, eps[b], n, x, L.grid, L.coef, 0, &r), DK_OK);
            for (int i = 0; i < IN; i++) {
                double t[NK];
                pykan_knots(x, n, IN, i, G, K, eps[b], t);
                for (int m = 0; m < NK; m++)
                    assert_close_abs(L.grid[i * NK + m], t[m], 0.0);
            }
            assert_int_equal(r.inputs, IN);
            assert_int_equal(r.kept, 0);
            assert_int_equal(r.eps_raised, 0);
            assert_int_equal(r.underdetermined, 0);
            assert_string_equal(r.notes, "");
            free(x);
            free_layer(&L);
        }
}

/* An edge that is a polynomial of degree <= k on the samples lies in every spline space of
 * degree k, so the refit must keep it exactly: on the samples (to 1e-9) and everywhere
 * between them, for k = 1..3, non-uniform old grids, several inputs and outputs. */
static void test_polynomial_edges_are_kept_exactly(void **state)
{
    (void)state;
    enum { IN = 3, OUT = 2, G = 7, N = 400 };
    const double eps[] = {0.0, 0.02, 1.0};
    for (int k = 1; k <= 3; k++)
        for (int b = 0; b < 3; b++) {
            layer L = make_layer(&rng, IN, OUT, G, k);
            double a[IN * OUT][DK_MAX_DEGREE + 1], x[N * IN], lo[IN], hi[IN];
            for (int i = 0; i < IN; i++) {
                const double *t = L.grid + (size_t)i * L.nk;
                /* a sub-range of the old grid range, where the old spline is the polynomial */
                lo[i] = t[k] + 0.2 * (t[k + G] - t[k]) * ref_uni(&rng);
                hi[i] = t[k + G] - 0.2 * (t[k + G] - t[k]) * ref_uni(&rng);
                for (int j = 0; j < OUT; j++) {
                    for (int m = 0; m <= k; m++)
                        a[i * OUT + j][m] = ref_sym(&rng, 1.0);
                    polynomial_coef(t, L.nk, k, a[i * OUT + j], L.coef + ((size_t)i * OUT + j) * L.nb);
                }
                for (int p = 0; p < N; p++)
                    x[p * IN + i] = lo[i] + (hi[i] - lo[i]) * ref_uni(&rng);
            }
            splines old = copy_splines(&L);
            dk_grid_update_report r = {0};
            assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, k, G, eps[b], N, x, L.grid, L.coef, 2, &r), DK_OK);
            const double diff = change_at_samples(&L, &old, N, x);
            assert_true(diff < 1e-9);
            assert_true(r.max_change < 1e-9);
            for (int i = 0; i < IN; i++) {
                const double *t = L.grid + (size_t)i * L.nk;
                assert_strictly_increasing(t, L.nk);
                for (int q = 0; q < 200; q++) {
                    const double xq = t[k] + (t[k + G] - t[k]) * ref_uni(&rng);
                    for (int j = 0; j < OUT; j++)
                        assert_close_abs(ref_spline(t, L.nk, k, L.coef + ((size_t)i * OUT + j) * L.nb, xq),
                                         polynomial(a[i * OUT + j], k, xq), 1e-9);
                }
            }
            assert_int_equal(r.underdetermined, 0);
            free_splines(&old);
            free_layer(&L);
        }
}

/* A general old spline with samples reaching beyond the old knots (where the old layer
 * computes 0): the old function is not in the new space, so the refit is the least-squares
 * one. Its coefficients match a normal-equations solve on pykan's knots, and max_change is
 * the true largest change at the samples. */
static void test_general_edges_get_the_least_squares_fit(void **state)
{
    (void)state;
    enum { OUT = 2, G = 6, N = 600 };
    for (int k = 1; k <= 3; k++) {
        layer L = make_layer(&rng, 1, OUT, G, k);
        const double lo = L.grid[0], hi = L.grid[L.nk - 1], w = hi - lo;
        double x[N];
        for (int p = 0; p < N; p++) /* a fifth of the range on each side is outside the old knots */
            x[p] = lo - 0.2 * w + 1.4 * w * ref_uni(&rng);
        splines old = copy_splines(&L);
        dk_grid_update_report r = {0};
        assert_int_equal(dk_grid_update_layer(NULL, 1, OUT, k, G, 0.02, N, x, L.grid, L.coef, 0, &r), DK_OK);
        double t[64], y[N * OUT], ref[OUT * 64], *xs = sorted_column(x, N, 1, 0);
        pykan_knots(x, N, 1, 0, G, k, 0.02, t);
        for (int m = 0; m < L.nk; m++)
            assert_true(L.grid[m] == t[m]);
        for (int p = 0; p < N; p++)
            for (int j = 0; j < OUT; j++)
                y[p * OUT + j] = ref_spline(old.grid, L.nk, k, old.coef + (size_t)j * L.nb, xs[p]);
        ref_spline_lstsq(t, L.nk, k, N, xs, OUT, y, ref);
        assert_arrays_close(L.coef, ref, (size_t)OUT * L.nb, 1e-8);
        const double diff = change_at_samples(&L, &old, N, x);
        print_message("k %d: least-squares change at %d samples (a fifth outside the old knots): %.3g\n", k, N, diff);
        assert_close_abs(r.max_change, diff, 1e-12);
        assert_true(diff > 1e-6); /* not trivially exact: the test would prove nothing */
        assert_int_equal(r.underdetermined, 0);
        free(xs);
        free_splines(&old);
        free_layer(&L);
    }
}

/* The largest |spline| of input 0's edges over 2001 points spanning [lo, hi]. */
static double largest_value(const double *grid, const double *coef, int nk, int k, int out, double lo, double hi)
{
    const int nb = nk - k - 1;
    double m = 0.0;
    for (int q = 0; q <= 2000; q++)
        for (int j = 0; j < out; j++)
            m = fmax(m, fabs(ref_spline(grid, nk, k, coef + (size_t)j * nb, lo + (hi - lo) * q / 2000.0)));
    return m;
}

/* After an update of a one-input layer L (old: its splines before) from the samples x [n]:
 * the largest |spline| over the new knots' span of the old splines, of the least-squares
 * fit at the samples alone (the update without anchors), and of the update's result. */
typedef struct spline_sizes {
    double old, plain, updated;
} spline_sizes;

static spline_sizes sizes_after_update(const layer *L, const splines *old, long n, const double *x)
{
    const int k = L->k, out = L->out;
    const double t0 = L->grid[0], t1 = L->grid[L->nk - 1];
    double *xs = sorted_column(x, n, 1, 0), *y = calloc((size_t)n * out, sizeof *y), plain[4 * 64];
    assert_non_null(y);
    for (long p = 0; p < n; p++)
        for (int j = 0; j < out; j++)
            y[p * out + j] = ref_spline(old->grid, L->nk, k, old->coef + (size_t)j * L->nb, xs[p]);
    dk_spline_fit_ws *ws = NULL;
    assert_int_equal(dk_spline_fit_ws_create(&ws), DK_OK);
    assert_int_equal(dk_spline_fit(ws, L->grid, L->G, k, n, xs, NULL, out, y, plain, NULL), DK_OK);
    dk_spline_fit_ws_destroy(&ws);
    const spline_sizes s = {largest_value(old->grid, old->coef, L->nk, k, out, t0, t1),
                            largest_value(L->grid, plain, L->nk, k, out, t0, t1),
                            largest_value(L->grid, L->coef, L->nk, k, out, t0, t1)};
    free(xs);
    free(y);
    return s;
}

/* No more samples than coefficients, a third of them beyond the old knots (old value 0):
 * the minimum-norm interpolant (pykan's fit) exists but swings to hundreds of times the old
 * spline's size beyond the samples, so the update refits with anchors: the new spline stays
 * of the old one's size over all its knots, at the price of a small change at the samples. */
static void test_few_samples_partly_outside_are_anchored(void **state)
{
    (void)state;
    enum { OUT = 2, G = 10, K = 3, N = 12 };
    layer L = make_layer(&rng, 1, OUT, G, K);
    const double lo = L.grid[0], hi = L.grid[L.nk - 1], w = hi - lo;
    double x[N];
    for (int p = 0; p < N; p++)
        x[p] = p < 4 ? hi + 0.1 * w * (p + 1) : lo + w * ref_uni(&rng);
    splines old = copy_splines(&L);
    dk_grid_update_report r = {0};
    assert_int_equal(dk_grid_update_layer(NULL, 1, OUT, K, G, 0.02, N, x, L.grid, L.coef, 0, &r), DK_OK);
    assert_strictly_increasing(L.grid, L.nk);
    assert_int_equal(r.underdetermined, 1); /* 12 samples, 13 coefficients */
    assert_int_equal(r.anchored, 1);
    /* What the samples alone give is an exact interpolant that swings. */
    const spline_sizes size = sizes_after_update(&L, &old, N, x);
    const double change = change_at_samples(&L, &old, N, x);
    print_message("few samples: old spline size %.3g, interpolant %.3g, anchored fit %.3g; change at the samples %.3g\n",
                  size.old, size.plain, size.updated, change);
    assert_true(size.plain > 10.0 * size.old);
    assert_true(size.updated < 2.0 * size.old);
    assert_true(change < 0.5 * size.old);
    free_splines(&old);
    free_layer(&L);
}

/* Many samples, but one basis function of the new knots is touched by a single sample near
 * the end of its support, in a gap between two clusters (grid_eps = 1: uniform knots over
 * the samples' range). The samples' fit gives it the coefficient that fits that sample, a
 * swing of hundreds of times the old spline's size in the gap; the update detects it and
 * returns the anchored fit instead, which is checked against a weighted least-squares
 * solve written here: weight 1 at the samples, k + 3 anchors evenly spread in each knot
 * interval at the old spline's values, with squared weight 1e-3 n / n_anchors. */
static void test_swinging_refit_is_anchored(void **state)
{
    (void)state;
    enum { OUT = 2, G = 10, K = 3, DENSE = 300, N = 2 * DENSE + 1 };
    layer L = make_layer(&rng, 1, OUT, G, K);
    const double lo = L.grid[K], hi = L.grid[K + G], w = hi - lo, h = w / G;
    double x[N];
    for (int p = 0; p < DENSE; p++) {
        x[p] = lo + 0.5 * w * p / (DENSE - 1);                 /* [lo, lo + 5h]: a knot of the new grid */
        x[DENSE + p] = lo + 0.9 * w + 0.1 * w * p / (DENSE - 1); /* [lo + 9h, hi] */
    }
    x[N - 1] = lo + 5.01 * h; /* the tip of the basis function on [lo + 5h, lo + 9h] */
    splines old = copy_splines(&L);
    dk_grid_update_report r = {0};
    assert_int_equal(dk_grid_update_layer(NULL, 1, OUT, K, G, 1.0, N, x, L.grid, L.coef, 0, &r), DK_OK);
    assert_int_equal(r.anchored, 1);
    assert_int_equal(r.underdetermined, 0);
    const spline_sizes size = sizes_after_update(&L, &old, N, x);
    print_message("gap: old spline size %.3g, samples' fit %.3g, anchored fit %.3g; change at the samples %.3g\n",
                  size.old, size.plain, size.updated, r.max_change);
    assert_true(size.plain > 10.0 * size.old);
    assert_true(size.updated < 2.0 * size.old);
    assert_close_abs(r.max_change, change_at_samples(&L, &old, N, x), 1e-12);

    /* The weighted least-squares reference. */
    enum { PER = K + 3, N_ANCHOR = PER * (G + 2 * K), N_FIT = N + N_ANCHOR };
    static double xa[N_FIT], ya[N_FIT * OUT], wa[N_FIT];
    for (int p = 0; p < N_FIT; p++) {
        if (p < N) {
            xa[p] = x[p]; /* the order of the rows does not matter */
        } else {
            const int m = (p - N) / PER, q = (p - N) % PER;
            xa[p] = L.grid[m] + (L.grid[m + 1] - L.grid[m]) * (q + 0.5) / PER;
        }
        wa[p] = p < N ? 1.0 : sqrt(1e-3 * N / N_ANCHOR);
        for (int j = 0; j < OUT; j++)
            ya[p * OUT + j] = ref_spline(old.grid, L.nk, K, old.coef + (size_t)j * L.nb, xa[p]);
    }
    double ref[OUT * 64];
    ref_spline_weighted_lstsq(L.grid, L.nk, K, N_FIT, xa, wa, OUT, ya, ref);
    assert_arrays_close(L.coef, ref, (size_t)OUT * L.nb, 1e-8);
    free_splines(&old);
    free_layer(&L);
}

/* The swing that the update tolerates, computed here as dk_grid_update.h defines it: over
 * outputs j, the largest |value| of the unweighted least-squares fit (normal equations) at
 * the anchors (k + 3 per interval of the new knots t, evenly spread) over the old spline's
 * largest |value| at the samples and the anchors. */
static double swing_here(const splines *old, const double *t, int nk, int k, int out, long n, const double *x)
{
    enum { MAX_ANCHORS = 64 * 8 };
    const int nb = nk - k - 1, per = k + 3;
    double plain[4 * 64], anchor[MAX_ANCHORS], *y = malloc(sizeof(double) * (size_t)n * out), worst = 0.0;
    assert_non_null(y);
    assert_true((nk - 1) * per <= MAX_ANCHORS);
    for (long p = 0; p < n; p++)
        for (int j = 0; j < out; j++)
            y[p * out + j] = ref_spline(old->grid, nk, k, old->coef + (size_t)j * nb, x[p]);
    ref_spline_lstsq(t, nk, k, n, x, out, y, plain);
    for (int a = 0; a < (nk - 1) * per; a++)
        anchor[a] = t[a / per] + (t[a / per + 1] - t[a / per]) * (a % per + 0.5) / per;
    for (int j = 0; j < out; j++) {
        double old_max = 0.0, new_max = 0.0;
        for (long p = 0; p < n; p++)
            old_max = fmax(old_max, fabs(y[p * out + j]));
        for (int a = 0; a < (nk - 1) * per; a++) {
            old_max = fmax(old_max, fabs(ref_spline(old->grid, nk, k, old->coef + (size_t)j * nb, anchor[a])));
            new_max = fmax(new_max, fabs(ref_spline(t, nk, k, plain + (size_t)j * nb, anchor[a])));
        }
        worst = fmax(worst, new_max / old_max);
    }
    free(y);
    return worst;
}

/* The samples of test_swinging_refit_is_anchored with the lone sample in the gap at
 * lo + (5 + s) h: the further it sits inside its basis function's support, the smaller the
 * swing. Updates a copy of L0; returns the swing computed here and whether it anchored. */
typedef struct swing_trial {
    double swing;
    long anchored;
} swing_trial;

static swing_trial update_with_lone_sample(const layer *L0, double s)
{
    enum { DENSE = 300, N = 2 * DENSE + 1 };
    const int k = L0->k, G = L0->G;
    const double lo = L0->grid[k], hi = L0->grid[k + G], w = hi - lo, h = w / G;
    double x[N];
    for (int p = 0; p < DENSE; p++) {
        x[p] = lo + 0.5 * w * p / (DENSE - 1);
        x[DENSE + p] = lo + 0.9 * w + 0.1 * w * p / (DENSE - 1);
    }
    x[N - 1] = lo + (5.0 + s) * h;
    layer L = *L0;
    splines old = copy_splines(L0), updated = copy_splines(L0);
    L.grid = updated.grid;
    L.coef = updated.coef;
    dk_grid_update_report r = {0};
    assert_int_equal(dk_grid_update_layer(NULL, 1, L.out, k, G, 1.0, N, x, L.grid, L.coef, 0, &r), DK_OK);
    assert_int_equal(r.underdetermined, 0);
    const swing_trial trial = {swing_here(&old, L.grid, L.nk, k, L.out, N, x), r.anchored};
    free_splines(&old);
    free_splines(&updated);
    return trial;
}

/* The anchored refit starts at a swing of 10 times the old spline's size (dk_grid_update.h),
 * not somewhere else: the lone sample is moved by bisection until the swing lies within 2%
 * of 10 on each side, and the update anchors just above 10 and not just below. */
static void test_anchoring_starts_at_ten_times(void **state)
{
    (void)state;
    layer L0 = make_layer(&rng, 1, 2, 10, 3);
    double above = 0.01, below = 2.0; /* inside the gap's basis function: swing >> 10, then ~1 */
    swing_trial a = update_with_lone_sample(&L0, above), b = update_with_lone_sample(&L0, below);
    assert_true(a.swing > 10.0 && b.swing < 10.0);
    for (int step = 0; step < 60 && (a.swing > 10.2 || b.swing < 9.8); step++) {
        const double mid = 0.5 * (above + below);
        const swing_trial m = update_with_lone_sample(&L0, mid);
        if (m.swing > 10.0) {
            above = mid;
            a = m;
        } else {
            below = mid;
            b = m;
        }
    }
    print_message("lone sample at 5 + %.6f h: swing %.4f, anchored %ld; at 5 + %.6f h: swing %.4f, anchored %ld\n",
                  above, a.swing, a.anchored, below, b.swing, b.anchored);
    assert_true(a.swing > 10.0 && a.swing <= 10.2);
    assert_true(b.swing < 10.0 && b.swing >= 9.8);
    assert_int_equal(a.anchored, 1);
    assert_int_equal(b.anchored, 0);
    free_layer(&L0);
}

/* Input 1's samples are all equal: its knots and coefficients stay bit for bit, input 0 is
 * updated, and the note names the case. */
static void test_all_equal_samples_keep_the_input(void **state)
{
    (void)state;
    enum { IN = 2, OUT = 3, G = 5, K = 3, N = 50 };
    layer L = make_layer(&rng, IN, OUT, G, K);
    double x[N * IN];
    for (int p = 0; p < N; p++) {
        x[p * IN] = ref_sym(&rng, 1.0);
        x[p * IN + 1] = 0.25;
    }
    splines old = copy_splines(&L);
    dk_grid_update_report r = {0};
    assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, K, G, 0.02, N, x, L.grid, L.coef, 1, &r), DK_OK);
    assert_memory_equal(L.grid + L.nk, old.grid + L.nk, sizeof(double) * L.nk);
    assert_memory_equal(L.coef + OUT * L.nb, old.coef + OUT * L.nb, sizeof(double) * OUT * L.nb);
    assert_memory_not_equal(L.grid, old.grid, sizeof(double) * L.nk);
    assert_int_equal(r.inputs, 2);
    assert_int_equal(r.kept, 1);
    assert_string_equal(r.notes, "layer 1 input 1: all 50 samples equal 0.25: grid kept; ");
    /* a single sample is the same case */
    memset(&r, 0, sizeof r);
    assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, K, G, 0.02, 1, x, L.grid, L.coef, 0, &r), DK_OK);
    assert_int_equal(r.kept, 2);
    free_splines(&old);
    free_layer(&L);
}

static void test_no_samples_keep_the_layer(void **state)
{
    (void)state;
    enum { IN = 3, OUT = 2, G = 5, K = 2 };
    layer L = make_layer(&rng, IN, OUT, G, K);
    splines old = copy_splines(&L);
    dk_grid_update_report r = {0};
    assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, K, G, 0.02, 0, NULL, L.grid, L.coef, 4, &r), DK_OK);
    assert_splines_unchanged(&L, &old);
    assert_int_equal(r.inputs, IN);
    assert_int_equal(r.kept, IN);
    assert_string_equal(r.notes, "layer 4: no samples: grids kept; ");
    free_splines(&old);
    free_layer(&L);
}

/* Updates one-input layer L with grid_eps = 0 from n samples x, which must raise grid_eps:
 * the knots are pykan's formula with grid_eps = 0.01, and the report counts one raise. */
static void update_raising_grid_eps(layer *L, int out, int k, int G, int n, const double *x,
                                    dk_grid_update_report *r)
{
    assert_int_equal(dk_grid_update_layer(NULL, 1, out, k, G, 0.0, n, x, L->grid, L->coef, 0, r), DK_OK);
    double ref[64];
    pykan_knots(x, n, 1, 0, G, k, 0.01, ref);
    for (int m = 0; m < L->nk; m++)
        assert_true(L->grid[m] == ref[m]);
    assert_int_equal(r->eps_raised, 1);
}

/* grid_eps = 0 with 90% of the samples tied: the quantile knots collapse onto 0.25,
 * so grid_eps is raised to 0.01 for that input (pykan's formula with 0.01), every gap is at
 * least 0.01 h, and the old values at the samples are kept (the edge is a polynomial). */
static void test_tied_samples_raise_grid_eps(void **state)
{
    (void)state;
    enum { OUT = 2, G = 10, K = 3, N = 1000 };
    layer L = make_layer(&rng, 1, OUT, G, K);
    const double *t = L.grid;
    double a[OUT][4], x[N];
    for (int j = 0; j < OUT; j++) {
        for (int m = 0; m <= K; m++)
            a[j][m] = ref_sym(&rng, 1.0);
        polynomial_coef(t, L.nk, K, a[j], L.coef + (size_t)j * L.nb);
    }
    const double lo = t[K], w = t[K + G] - t[K], tie = lo + 0.6 * w;
    for (int p = 0; p < N; p++) /* inside the old grid range, where the old edge is the polynomial */
        x[p] = p % 10 == 3 ? lo + w * (0.1 + 0.8 * ref_uni(&rng)) : tie;
    splines old = copy_splines(&L);
    dk_grid_update_report r = {0};
    update_raising_grid_eps(&L, OUT, K, G, N, x, &r);
    assert_strictly_increasing(L.grid, L.nk);
    const double h = (L.grid[K + G] - L.grid[K]) / G;
    for (int m = 1; m < L.nk; m++)
        assert_true(L.grid[m] - L.grid[m - 1] >= 0.01 * h * (1.0 - 1e-9));
    assert_non_null(strstr(r.notes, "layer 0 input 0: 900 of the 1000 samples are tied"));
    assert_non_null(strstr(r.notes, "grid_eps raised to 0.01"));
    const double diff = change_at_samples(&L, &old, N, x);
    print_message("tied samples: change %.3g, underdetermined %d, notes: %s\n", diff, r.underdetermined, r.notes);
    assert_true(diff < 1e-9);
    free_splines(&old);
    free_layer(&L);
}

/* The same rule without a single tie: 995 distinct samples packed near the middle and 5 far
 * out (a heavy tail) make the uniform spacing h so wide that quantile knots fall closer than
 * 0.01 h. grid_eps is raised, and the note names the cause as the samples show it, not ties. */
static void test_outliers_without_ties_raise_grid_eps(void **state)
{
    (void)state;
    enum { OUT = 1, G = 20, K = 3, N = 1000 };
    layer L = make_layer(&rng, 1, OUT, G, K);
    double x[N];
    for (int p = 0; p < N; p++)
        x[p] = p < N - 5 ? 1e-3 * (p - N / 2) : 1e3 * (p - (N - 6)); /* -0.5..0.5, then 1000..5000 */
    dk_grid_update_report r = {0};
    update_raising_grid_eps(&L, OUT, K, G, N, x, &r);
    if (!strstr(r.notes, "layer 0 input 0: quantile knots closer than 0.01 of the uniform spacing, no sample tied "
                         "(outliers or a heavy tail stretch the range): grid_eps raised to 0.01"))
        fail_msg("notes: %s", r.notes);
    free_layer(&L);
}

/* 3 samples for G = 10 (13 coefficients): strictly increasing knots, the fit is counted as
 * underdetermined, and the minimum-norm solution still interpolates the old values. With
 * grid_eps = 0 the quantile knots repeat and grid_eps is raised as well. */
static void test_three_samples_are_interpolated(void **state)
{
    (void)state;
    enum { OUT = 2, G = 10, K = 3, N = 3 };
    const double eps[] = {0.02, 0.0};
    for (int b = 0; b < 2; b++) {
        layer L = make_layer(&rng, 1, OUT, G, K);
        double x[N] = {-0.4, 0.7, 0.1};
        splines old = copy_splines(&L);
        dk_grid_update_report r = {0};
        assert_int_equal(dk_grid_update_layer(NULL, 1, OUT, K, G, eps[b], N, x, L.grid, L.coef, 2, &r), DK_OK);
        assert_strictly_increasing(L.grid, L.nk);
        assert_close_abs(L.grid[K], -0.4, 1e-15);
        assert_close_abs(L.grid[K + G], 0.7, 1e-15);
        assert_true(change_at_samples(&L, &old, N, x) < 1e-9);
        assert_int_equal(r.underdetermined, 1);
        assert_int_equal(r.eps_raised, b == 1);
        assert_non_null(strstr(r.notes, "layer 2 input 0: fit of rank 3 for 13 coefficients (3 distinct samples)"));
        free_splines(&old);
        free_layer(&L);
    }
}

/* All samples beyond the old knots: the old edges are 0 there, so the new coefficients are
 * exactly 0 (minimum norm) on knots spanning the samples. */
static void test_samples_all_outside_the_old_grid(void **state)
{
    (void)state;
    enum { IN = 2, OUT = 2, G = 5, K = 3, N = 100 };
    layer L = make_layer(&rng, IN, OUT, G, K);
    double x[N * IN];
    for (int p = 0; p < N; p++)
        for (int i = 0; i < IN; i++)
            x[p * IN + i] = 10.0 + 5.0 * ref_uni(&rng);
    dk_grid_update_report r = {0};
    assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, K, G, 0.02, N, x, L.grid, L.coef, 0, &r), DK_OK);
    for (int i = 0; i < IN; i++) {
        double ref[64];
        pykan_knots(x, N, IN, i, G, K, 0.02, ref);
        for (int m = 0; m < L.nk; m++)
            assert_true(L.grid[i * L.nk + m] == ref[m]);
    }
    for (int e = 0; e < IN * OUT * L.nb; e++)
        assert_true(L.coef[e] == 0.0);
    assert_true(r.max_change == 0.0);
    free_layer(&L);
}

static void test_bad_input_changes_nothing(void **state)
{
    (void)state;
    enum { IN = 2, OUT = 1, G = 5, K = 3, N = 10 };
    layer L = make_layer(&rng, IN, OUT, G, K);
    double x[N * IN];
    for (int e = 0; e < N * IN; e++)
        x[e] = ref_sym(&rng, 1.0);
    x[7 * IN + 1] = NAN;
    splines old = copy_splines(&L);
    dk_grid_update_report r = {0};
    assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, K, G, 0.02, N, x, L.grid, L.coef, 3, &r), DK_ERR_NUMERIC);
    assert_non_null(strstr(dk_error_message(), "grid update of layer 3: input 1 of sample 7 is nan"));
    dk_error_clear();
    assert_splines_unchanged(&L, &old);
    assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, K, G, 1.5, N, x, L.grid, L.coef, 3, &r), DK_ERR_USAGE);
    dk_error_clear();
    free_splines(&old);
    free_layer(&L);
}

/* Many notes: the list stops at a whole note and says so with "...". */
static void test_notes_are_truncated_cleanly(void **state)
{
    (void)state;
    enum { IN = 60, OUT = 1, G = 3, K = 1, N = 4 };
    layer L = make_layer(&rng, IN, OUT, G, K);
    double x[N * IN];
    for (int e = 0; e < N * IN; e++)
        x[e] = 0.5;
    dk_grid_update_report r = {0};
    assert_int_equal(dk_grid_update_layer(NULL, IN, OUT, K, G, 0.02, N, x, L.grid, L.coef, 12, &r), DK_OK);
    assert_int_equal(r.kept, IN);
    const size_t len = strlen(r.notes);
    assert_true(len < sizeof r.notes);
    assert_string_equal(r.notes + len - 5, "; ...");
    assert_non_null(strstr(r.notes, "layer 12 input 0: all 4 samples equal 0.5: grid kept; layer 12 input 1:"));
    free_layer(&L);
}

/* ---- the whole network ------------------------------------------------------------ */

enum { NET_N = 500 };
static const int widths[] = {2, 4, 3, 1};

/* A [2,4,3,1] network whose every edge spline is a cubic polynomial on its grid range [-1, 1]
 * (polynomial = true), small enough that every layer's inputs stay inside it, or the random
 * splines of dk_network_create (polynomial = false). */
static dk_network *make_network(dk_dtype dt, bool polynomial)
{
    dk_network_settings s = {.widths = widths, .n_widths = 4, .G = 5, .k = 3, .grid_lo = -1.0, .grid_hi = 1.0,
                             .dtype = dt, .seed = 17, .noise_scale = 0.5, .scale_base_mu = 0.0,
                             .scale_base_sigma = 0.3, .scale_sp = 1.0, .max_batch = 64, .n_threads = 1, .jet = 0};
    dk_network *net = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_OK);
    for (int l = 0; polynomial && l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        const int in = v->shape.in, out = v->shape.out, nk = v->shape.n_knots, nb = v->shape.n_basis;
        for (int i = 0; i < in; i++) {
            double t[64], c[64], a[4];
            dk_load_block(dt, net->state, v->grid + (size_t)i * nk, (size_t)nk, t);
            for (int j = 0; j < out; j++) {
                for (int m = 0; m <= 3; m++)
                    a[m] = ref_sym(&rng, 0.25 / in);
                polynomial_coef(t, nk, 3, a, c);
                dk_store_block(dt, net->params, v->coef + ((size_t)i * out + j) * nb, (size_t)nb, c);
            }
        }
    }
    return net;
}

static dk_network *copy_network(const dk_network *a)
{
    dk_network_settings s = {.widths = widths, .n_widths = 4, .G = a->G, .k = a->k, .grid_lo = -1.0,
                             .grid_hi = 1.0, .dtype = a->dtype, .seed = 1, .noise_scale = 0.0, .scale_base_mu = 0.0,
                             .scale_base_sigma = 0.0, .scale_sp = 1.0, .max_batch = a->max_batch,
                             .n_threads = a->n_threads, .jet = 0};
    dk_network *b = NULL;
    assert_int_equal(dk_network_create(&b, &s), DK_OK);
    const size_t es = dk_dtype_size(a->dtype);
    memcpy(b->params, a->params, a->n_params * es);
    memcpy(b->state, a->state, a->n_state * es);
    return b;
}

/* Outputs [NET_N] and, for each layer l, its inputs [NET_N][widths[l]] (all float64),
 * computed by the test in chunks of its own size. */
static void run_network(dk_network *net, const double *x, double *y, double **h)
{
    enum { CHUNK = 50 };
    const dk_dtype dt = net->dtype;
    void *xc = malloc(CHUNK * 2 * dk_dtype_size(dt));
    for (int b0 = 0; b0 < NET_N; b0 += CHUNK) {
        dk_store_block(dt, xc, 0, CHUNK * 2, x + b0 * 2);
        const void *out = dk_network_forward(net, CHUNK, xc);
        dk_load_block(dt, out, 0, CHUNK, y + b0);
        for (int l = 0; h && l < net->n_layers; l++)
            dk_load_block(dt, l == 0 ? xc : net->acts[l], 0, (size_t)CHUNK * widths[l], h[l] + (size_t)b0 * widths[l]);
    }
    free(xc);
}

static void random_samples(double *x)
{
    for (int e = 0; e < NET_N * 2; e++)
        x[e] = ref_sym(&rng, 0.9);
}

/* Every layer keeps its polynomial edges on its own inputs, so the whole network keeps its
 * output on the samples; each layer's knots span its inputs; and a second network with the
 * same bits updated from the same samples ends with the same bits. */
static void check_network_update(dk_dtype dt, double tol)
{
    dk_network *net = make_network(dt, true);
    double x[NET_N * 2], y0[NET_N], y1[NET_N], *h[3];
    for (int l = 0; l < 3; l++)
        h[l] = malloc(sizeof(double) * NET_N * widths[l]);
    random_samples(x);
    run_network(net, x, y0, h);
    for (int l = 1; l < 3; l++) /* the construction keeps every input inside the old grid range */
        for (int e = 0; e < NET_N * widths[l]; e++)
            assert_true(h[l][e] > -1.0 && h[l][e] < 1.0);
    dk_network *twin = copy_network(net);
    dk_grid_update_report r = {0}, r2 = {0};
    assert_int_equal(dk_network_update_grid(net, NULL, NET_N, x, 0.02, &r), DK_OK);
    run_network(net, x, y1, h);
    double worst = 0.0;
    for (int b = 0; b < NET_N; b++)
        worst = fmax(worst, fabs(y1[b] - y0[b]));
    print_message("%s network: output change at %d samples %.3g, report max_change %.3g\n", dk_dtype_name(dt), NET_N,
                  worst, r.max_change);
    assert_true(worst < tol);
    assert_true(r.max_change < tol);
    assert_int_equal(r.inputs, 2 + 4 + 3);
    assert_int_equal(r.kept + r.eps_raised + r.underdetermined, 0);
    for (int l = 0; l < 3; l++) {
        const dk_layer_view *v = &net->layers[l];
        const int nk = v->shape.n_knots;
        for (int i = 0; i < widths[l]; i++) {
            double t[64], lo = INFINITY, hi = -INFINITY;
            dk_load_block(dt, net->state, v->grid + (size_t)i * nk, (size_t)nk, t);
            assert_strictly_increasing(t, nk);
            for (int b = 0; b < NET_N; b++) {
                lo = fmin(lo, h[l][b * widths[l] + i]);
                hi = fmax(hi, h[l][b * widths[l] + i]);
            }
            const double ulp = dt == DK_F64 ? 1e-15 : 1e-7;
            assert_close_abs(t[3], lo, ulp);
            assert_close_abs(t[3 + 5], hi, ulp);
        }
    }
    assert_int_equal(dk_network_update_grid(twin, NULL, NET_N, x, 0.02, &r2), DK_OK);
    const size_t es = dk_dtype_size(dt);
    assert_memory_equal(net->params, twin->params, net->n_params * es);
    assert_memory_equal(net->state, twin->state, net->n_state * es);
    assert_memory_equal(&r, &r2, sizeof r);
    for (int l = 0; l < 3; l++)
        free(h[l]);
    dk_network_destroy(&net);
    dk_network_destroy(&twin);
}

static void test_network_update_keeps_the_function_on_the_samples(void **state)
{
    (void)state;
    check_network_update(DK_F64, 1e-8);
    check_network_update(DK_F32, 1e-4);
}

/* A float32 network's update is measured on the splines it stores: rounded to float32, they
 * move by some 1e-8 where the float64 refit of polynomial edges is exact to 1e-16. One
 * layer (its inputs are the samples, float32 values), cubic edges; reference: the stored
 * splines before and after, evaluated here at the samples and at the anchors (k + 3 per
 * interval of the new knots). */
static void test_float32_update_measures_the_stored_splines(void **state)
{
    (void)state;
    enum { IN = 2, OUT = 3, G = 5, K = 3, NK = G + 2 * K + 1, NB = G + K, N = 200, PER = K + 3 };
    const int w[] = {IN, OUT};
    dk_network_settings s = {.widths = w, .n_widths = 2, .G = G, .k = K, .grid_lo = -1.0, .grid_hi = 1.0,
                             .dtype = DK_F32, .seed = 3, .noise_scale = 0.5, .scale_sp = 1.0, .max_batch = 64,
                             .n_threads = 1};
    dk_network *net = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_OK);
    const dk_layer_view *v = &net->layers[0];
    double t0[IN][NK], c0[IN][OUT][NB], t1[IN][NK], c1[IN][OUT][NB], x[N * IN];
    for (int i = 0; i < IN; i++) {
        dk_load_block(DK_F32, net->state, v->grid + (size_t)i * NK, NK, t0[i]);
        for (int j = 0; j < OUT; j++) {
            double a[4] = {ref_sym(&rng, 0.3), ref_sym(&rng, 0.3), ref_sym(&rng, 0.3), ref_sym(&rng, 0.3)};
            polynomial_coef(t0[i], NK, K, a, c0[i][j]);
            dk_store_block(DK_F32, net->params, v->coef + ((size_t)i * OUT + j) * NB, NB, c0[i][j]);
            dk_load_block(DK_F32, net->params, v->coef + ((size_t)i * OUT + j) * NB, NB, c0[i][j]); /* as stored */
        }
    }
    for (int e = 0; e < N * IN; e++)
        x[e] = (float)ref_sym(&rng, 0.9);
    dk_grid_update_report r = {0};
    assert_int_equal(dk_network_update_grid(net, NULL, N, x, 0.02, &r), DK_OK);
    double at_samples = 0.0, between = 0.0;
    for (int i = 0; i < IN; i++) {
        dk_load_block(DK_F32, net->state, v->grid + (size_t)i * NK, NK, t1[i]);
        for (int j = 0; j < OUT; j++) {
            dk_load_block(DK_F32, net->params, v->coef + ((size_t)i * OUT + j) * NB, NB, c1[i][j]);
            for (int p = 0; p < N; p++) {
                const double xp = x[p * IN + i];
                at_samples = fmax(at_samples, fabs(ref_spline(t1[i], NK, K, c1[i][j], xp) -
                                                   ref_spline(t0[i], NK, K, c0[i][j], xp)));
            }
            for (int a = 0; a < (NK - 1) * PER; a++) {
                const double xa = t1[i][a / PER] + (t1[i][a / PER + 1] - t1[i][a / PER]) * (a % PER + 0.5) / PER;
                between = fmax(between, fabs(ref_spline(t1[i], NK, K, c1[i][j], xa) -
                                             ref_spline(t0[i], NK, K, c0[i][j], xa)));
            }
        }
    }
    print_message("float32 update: max_change %.3g (stored splines %.3g), between %.3g (stored %.3g)\n",
                  r.max_change, at_samples, r.max_change_between, between);
    assert_true(at_samples > 1e-10); /* the rounding shows */
    assert_true(fabs(r.max_change - at_samples) <= 1e-13);
    /* The anchors sit where the unrounded knots put them, 1e-8 away: the change there (beyond
     * the samples it is no longer small) agrees to that. */
    assert_true(fabs(r.max_change_between - between) <= 1e-6 * between);
    dk_network_destroy(&net);
}

/* An input whose new knots collide once rounded to float32 (samples spread over 8 float32
 * ulps at 0.5, G = 10) keeps its knots and coefficients bit for bit, is counted as kept,
 * and its fit is neither stored nor measured: the change reported is the other input's
 * (cubic edges: only float32 rounding, below 1e-6), finite. */
static void test_float32_collision_keeps_the_input_unmeasured(void **state)
{
    (void)state;
    enum { IN = 2, OUT = 2, G = 10, K = 3, NK = G + 2 * K + 1, NB = G + K, N = 40 };
    const int w[] = {IN, OUT};
    dk_network_settings s = {.widths = w, .n_widths = 2, .G = G, .k = K, .grid_lo = -1.0, .grid_hi = 1.0,
                             .dtype = DK_F32, .seed = 4, .noise_scale = 0.5, .scale_sp = 1.0, .max_batch = 64,
                             .n_threads = 1};
    dk_network *net = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_OK);
    const dk_layer_view *v = &net->layers[0];
    double t[NK], c[NB], x[N * IN];
    dk_load_block(DK_F32, net->state, v->grid + NK, NK, t); /* input 1: cubic edges */
    for (int j = 0; j < OUT; j++) {
        const double a[4] = {0.1, -0.2 * j, 0.3, 0.05};
        polynomial_coef(t, NK, K, a, c);
        dk_store_block(DK_F32, net->params, v->coef + ((size_t)OUT + j) * NB, NB, c);
    }
    const float ulp = 0x1p-24f; /* of float32 values in [0.5, 1) */
    for (int p = 0; p < N; p++) {
        x[p * IN] = 0.5f + 2.0f * ulp * (float)(p % 4);
        x[p * IN + 1] = (float)ref_sym(&rng, 0.9);
    }
    float grid0[NK], coef0[OUT * NB];
    memcpy(grid0, (const float *)net->state + v->grid, sizeof grid0);
    memcpy(coef0, (const float *)net->params + v->coef, sizeof coef0);
    dk_grid_update_report r = {0};
    assert_int_equal(dk_network_update_grid(net, NULL, N, x, 0.02, &r), DK_OK);
    print_message("float32 collision: kept %ld, max_change %.3g, between %.3g; %s\n", r.kept, r.max_change,
                  r.max_change_between, r.notes);
    assert_int_equal(r.kept, 1);
    assert_non_null(strstr(r.notes, "layer 0 input 0: knots in ["));
    assert_non_null(strstr(r.notes, "are not strictly increasing in float32: grid kept"));
    assert_memory_equal(grid0, (const float *)net->state + v->grid, sizeof grid0);
    assert_memory_equal(coef0, (const float *)net->params + v->coef, sizeof coef0);
    assert_true(isfinite(r.max_change) && r.max_change < 1e-6);
    dk_network_destroy(&net);
}

/* Random splines (dk_network_create's noise): not in the new spaces, so the output moves by
 * the least-squares error of each layer; the call is still deterministic. */
static void test_network_update_of_random_splines(void **state)
{
    (void)state;
    dk_network *net = make_network(DK_F64, false), *twin = copy_network(net);
    double x[NET_N * 2], y0[NET_N], y1[NET_N];
    random_samples(x);
    run_network(net, x, y0, NULL);
    double scale = 0.0;
    for (int b = 0; b < NET_N; b++)
        scale = fmax(scale, fabs(y0[b]));
    dk_grid_update_report r = {0}, r2 = {0};
    assert_int_equal(dk_network_update_grid(net, NULL, NET_N, x, 0.02, &r), DK_OK);
    assert_int_equal(dk_network_update_grid(twin, NULL, NET_N, x, 0.02, &r2), DK_OK);
    run_network(net, x, y1, NULL);
    double worst = 0.0;
    for (int b = 0; b < NET_N; b++)
        worst = fmax(worst, fabs(y1[b] - y0[b]));
    print_message("random splines: output change %.3g of output size %.3g, report max_change %.3g\n", worst, scale,
                  r.max_change);
    assert_true(worst < 0.05 * scale);
    assert_true(r.max_change > 0.0 && r.max_change < 0.05);
    assert_memory_equal(net->params, twin->params, net->n_params * sizeof(double));
    assert_memory_equal(net->state, twin->state, net->n_state * sizeof(double));
    dk_network_destroy(&net);
    dk_network_destroy(&twin);
}

/* A failure in a later layer (its inputs overflow to infinity) puts every layer back. The
 * first layer's huge sample gives knots that overflow, so that input is kept, not broken. */
static void test_network_update_failure_changes_nothing(void **state)
{
    (void)state;
    dk_network *net = make_network(DK_F64, false), *twin = copy_network(net);
    double *sb = (double *)net->params + net->layers[0].scale_base;
    for (int e = 0; e < 2 * 4; e++)
        sb[e] = 1.0; /* silu(1.5e308) summed over both inputs overflows */
    memcpy(twin->params, net->params, net->n_params * sizeof(double));
    double x[NET_N * 2];
    random_samples(x);
    x[10] = x[11] = 1.5e308;
    dk_grid_update_report r = {0};
    assert_int_equal(dk_network_update_grid(net, NULL, NET_N, x, 0.02, &r), DK_ERR_NUMERIC);
    assert_non_null(strstr(dk_error_message(), "grid update of layer 1"));
    dk_error_clear();
    assert_non_null(strstr(r.notes, "layer 0 input 0: samples in"));
    assert_memory_equal(net->params, twin->params, net->n_params * sizeof(double));
    assert_memory_equal(net->state, twin->state, net->n_state * sizeof(double));
    dk_network_destroy(&net);
    dk_network_destroy(&twin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knots_follow_pykans_formula),
        cmocka_unit_test(test_polynomial_edges_are_kept_exactly),
        cmocka_unit_test(test_general_edges_get_the_least_squares_fit),
        cmocka_unit_test(test_few_samples_partly_outside_are_anchored),
        cmocka_unit_test(test_swinging_refit_is_anchored),
        cmocka_unit_test(test_anchoring_starts_at_ten_times),
        cmocka_unit_test(test_all_equal_samples_keep_the_input),
        cmocka_unit_test(test_no_samples_keep_the_layer),
        cmocka_unit_test(test_tied_samples_raise_grid_eps),
        cmocka_unit_test(test_outliers_without_ties_raise_grid_eps),
        cmocka_unit_test(test_three_samples_are_interpolated),
        cmocka_unit_test(test_samples_all_outside_the_old_grid),
        cmocka_unit_test(test_bad_input_changes_nothing),
        cmocka_unit_test(test_notes_are_truncated_cleanly),
        cmocka_unit_test(test_network_update_keeps_the_function_on_the_samples),
        cmocka_unit_test(test_network_update_of_random_splines),
        cmocka_unit_test(test_float32_update_measures_the_stored_splines),
        cmocka_unit_test(test_float32_collision_keeps_the_input_unmeasured),
        cmocka_unit_test(test_network_update_failure_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

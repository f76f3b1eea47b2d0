/* Grid extension of one layer: the refined splines against the original ones, both
 * evaluated with the naive Cox-de Boor basis of kan_reference.h. */
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
#include "layers/dk_grid_refine.h"
#include "layers/dk_network.h"

static ref_rng rng = {2024, 31, 0};

/* Largest |new - old| over `n` random points of each input's whole knot span and a bit
 * beyond (grid range, extension intervals, outside), all edges. */
static double max_difference(int in, int out, int k, int G0, const double *t0, const double *c0, int G1,
                             const double *t1, const double *c1, int n)
{
    const int nk0 = G0 + 2 * k + 1, nk1 = G1 + 2 * k + 1;
    double worst = 0.0;
    for (int i = 0; i < in; i++) {
        const double *a = t0 + (size_t)i * nk0, *b = t1 + (size_t)i * nk1;
        for (int p = 0; p < n; p++) {
            const double lo = a[0], hi = a[nk0 - 1], pad = 0.1 * (hi - lo);
            double x = lo - pad + (hi - lo + 2 * pad) * ref_uni(&rng);
            for (int j = 0; j < out; j++) {
                double d = fabs(ref_spline(b, nk1, k, c1 + ((size_t)i * out + j) * (G1 + k), x) -
                                ref_spline(a, nk0, k, c0 + ((size_t)i * out + j) * (G0 + k), x));
                worst = d > worst ? d : worst;
            }
        }
    }
    return worst;
}

/* On a uniform grid the knots of G' = 2G (or 3G) contain the old ones: the old spline is in
 * the new space, so refinement reproduces it up to rounding, whatever its coefficients. */
static void test_nested_refinement_is_exact(void **state)
{
    (void)state;
    enum { IN = 3, OUT = 4, K = 3, G = 5 };
    const int nk = G + 2 * K + 1, nb = G + K;
    double t0[IN * (G + 2 * K + 1)], c0[IN * OUT * (G + K)];
    for (int i = 0; i < IN; i++)
        dk_bspline_uniform_grid_f64(-1.0 - 0.5 * i, 1.0 + 0.25 * i, G, K, t0 + i * nk);
    for (int c = 0; c < IN * OUT * nb; c++)
        c0[c] = ref_sym(&rng, 1.0);
    for (int mult = 2; mult <= 3; mult++) {
        int G1 = mult * G, nk1 = G1 + 2 * K + 1;
        double *t1 = malloc(sizeof(double) * IN * nk1), *c1 = malloc(sizeof(double) * IN * OUT * (G1 + K));
        double change = -1.0;
        assert_int_equal(dk_grid_refine_layer(IN, OUT, K, G, t0, c0, G1, t1, c1, &change), DK_OK);
        assert_true(change >= 0.0 && change < 1e-12);
        assert_true(max_difference(IN, OUT, K, G, t0, c0, G1, t1, c1, 500) < 1e-12);
        for (int i = 0; i < IN; i++) {
            /* same range, G1 uniform intervals, strictly increasing */
            assert_true(fabs(t1[i * nk1 + K] - t0[i * nk + K]) < 1e-15);
            assert_true(fabs(t1[i * nk1 + K + G1] - t0[i * nk + K + G]) < 1e-15);
            for (int q = 1; q < nk1; q++)
                assert_true(t1[i * nk1 + q] > t1[i * nk1 + q - 1]);
        }
        free(t1);
        free(c1);
    }
}

/* A smooth edge function on a non-uniform grid (as after a grid update), refined G = 10 ->
 * 25: the new knots interpolate the old ones but contain only every second one, so the old
 * spline is not in the new space and the refit keeps it to within the approximation error
 * of the new spline space. */
static void test_smooth_function_survives_non_nested_refinement(void **state)
{
    (void)state;
    enum { K = 3, G = 10, G1 = 25, OUT = 2, N_FIT = 200 };
    layer L = make_layer(&rng, 1, OUT, G, K); /* random non-uniform knots */
    const double *t = L.grid, lo = t[K], hi = t[K + G];
    double x[N_FIT], rhs[N_FIT * OUT], c0[OUT * (G + K)];
    for (int p = 0; p < N_FIT; p++) {
        x[p] = lo + (hi - lo) * (p + 0.5) / N_FIT;
        rhs[p * OUT] = sin(2 * x[p]);
        rhs[p * OUT + 1] = exp(x[p]) / 3;
    }
    ref_spline_lstsq(t, L.nk, K, N_FIT, x, OUT, rhs, c0);
    double t1[G1 + 2 * K + 1], c1[OUT * (G1 + K)], change;
    assert_int_equal(dk_grid_refine_layer(1, OUT, K, G, t, c0, G1, t1, c1, &change), DK_OK);
    double diff = max_difference(1, OUT, K, G, t, c0, G1, t1, c1, 2000);
    /* The old spline's third derivative jumps at the old knots the new grid lacks: measured
     * 2.0e-4 on [-0.91, 1.98] (about 1e-4 of the functions' size), and the fit reports the
     * same size of change at its own points. */
    print_message("non-nested refinement G %d -> %d on [%g, %g]: max change %.3g at random points, %.3g at the fit "
                  "points\n", G, G1, lo, hi, diff, change);
    assert_true(diff < 1e-3);
    assert_true(change > 0.5 * diff && change < 2.0 * diff);
    free_layer(&L);
}

/* pykan's refine on an adapted (non-uniform) grid: new inner knot j is the piecewise-linear
 * interpolant of the old inner knots at j G / G'; the k outer knots on each side are the
 * old ones, bit for bit. For G' = 2G and 3G every old knot is a new knot and the refit is
 * exact everywhere; G' = 9 from G = 6 checks the fractional interpolation. */
static void test_refinement_keeps_non_uniform_grid_shape(void **state)
{
    (void)state;
    enum { IN = 3, OUT = 2, G = 6 };
    const int G_new[] = {12, 18, 9};
    for (int k = 1; k <= 3; k++) {
        layer L = make_layer(&rng, IN, OUT, G, k);
        for (int g = 0; g < 3; g++) {
            const int G1 = G_new[g], nk1 = G1 + 2 * k + 1;
            double *t1 = malloc(sizeof(double) * IN * nk1), *c1 = malloc(sizeof(double) * IN * OUT * (G1 + k));
            double change = -1.0;
            assert_int_equal(dk_grid_refine_layer(IN, OUT, k, G, L.grid, L.coef, G1, t1, c1, &change), DK_OK);
            for (int i = 0; i < IN; i++) {
                const double *a = L.grid + (size_t)i * L.nk + k, *b = t1 + (size_t)i * nk1;
                for (int j = 0; j <= G1; j++) {
                    const double s = (double)j * G / G1;
                    const int m = (int)floor(s);
                    if (s == m)
                        assert_true(b[k + j] == a[m]);
                    else
                        assert_close_abs(b[k + j], a[m] + (s - m) * (a[m + 1] - a[m]), 1e-15);
                }
                for (int e = 1; e <= k; e++) {
                    assert_true(b[k - e] == a[-e]);
                    assert_true(b[k + G1 + e] == a[G + e]);
                }
            }
            if (G1 % G == 0) {
                double diff = max_difference(IN, OUT, k, G, L.grid, L.coef, G1, t1, c1, 500);
                assert_true(change >= 0.0 && change < 1e-12);
                assert_true(diff < 1e-12);
            }
            free(t1);
            free(c1);
        }
        free_layer(&L);
    }
}

/* The bound: an edge holding sin(2x) + x^2 (least-squares fit on a G = 10 uniform
 * grid on [-2, 2], cubic) refined to G' = 20 changes by less than 1e-6 at the refinement
 * points, (q + 1/2) / (k + 3) of each new interval, measured with the naive basis. */
static void test_smooth_edge_refined_to_twice_the_grid_changes_below_1e_6(void **state)
{
    (void)state;
    enum { K = 3, G = 10, G1 = 20, N_FIT = 400 };
    double t[G + 2 * K + 1], x[N_FIT], rhs[N_FIT], c0[G + K];
    dk_bspline_uniform_grid_f64(-2.0, 2.0, G, K, t);
    for (int p = 0; p < N_FIT; p++) {
        x[p] = -2.0 + 4.0 * (p + 0.5) / N_FIT;
        rhs[p] = sin(2 * x[p]) + x[p] * x[p];
    }
    ref_spline_lstsq(t, G + 2 * K + 1, K, N_FIT, x, 1, rhs, c0);
    double t1[G1 + 2 * K + 1], c1[G1 + K], change = -1.0;
    assert_int_equal(dk_grid_refine_layer(1, 1, K, G, t, c0, G1, t1, c1, &change), DK_OK);
    double worst = 0.0;
    for (int m = 0; m < G1; m++)
        for (int q = 0; q < K + 3; q++) {
            double xp = t1[K + m] + (t1[K + m + 1] - t1[K + m]) * (q + 0.5) / (K + 3);
            worst = fmax(worst, fabs(ref_spline(t1, G1 + 2 * K + 1, K, c1, xp) - ref_spline(t, G + 2 * K + 1, K, c0, xp)));
        }
    print_message("sin(2x)+x^2, G %d -> %d: max change %.3g (reported %.3g)\n", G, G1, worst, change);
    assert_true(worst < 1e-6);
    assert_true(change >= 0.0 && change < 1e-6);
}

/* Over every edge of every layer, the largest |spline of `fine` - spline of `net`| as the
 * two networks store them (float32 values rounded), at k + 3 points in each interval of
 * the new knots: what dk_network_refine's max_change must be. */
static double stored_spline_change(const dk_network *net, const dk_network *fine)
{
    const int k = net->k, per = k + 3;
    double worst = 0.0, t0[64], t1[64], c0[64], c1[64];
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *a = &net->layers[l], *b = &fine->layers[l];
        const int nk0 = a->shape.n_knots, nk1 = b->shape.n_knots, nb0 = a->shape.n_basis, nb1 = b->shape.n_basis;
        assert_true(nk1 <= 64);
        for (int i = 0; i < a->shape.in; i++) {
            for (int m = 0; m < nk0; m++)
                t0[m] = dk_load(net->dtype, net->state, a->grid + (size_t)i * nk0 + m);
            for (int m = 0; m < nk1; m++)
                t1[m] = dk_load(fine->dtype, fine->state, b->grid + (size_t)i * nk1 + m);
            for (int j = 0; j < a->shape.out; j++) {
                const size_t e = (size_t)i * a->shape.out + j;
                for (int c = 0; c < nb0; c++)
                    c0[c] = dk_load(net->dtype, net->params, a->coef + e * nb0 + c);
                for (int c = 0; c < nb1; c++)
                    c1[c] = dk_load(fine->dtype, fine->params, b->coef + e * nb1 + c);
                for (int m = 0; m + 1 < nk1; m++)
                    for (int q = 0; q < per; q++) {
                        const double x = t1[m] + (t1[m + 1] - t1[m]) * (q + 0.5) / per;
                        worst = fmax(worst, fabs(ref_spline(t1, nk1, k, c1, x) - ref_spline(t0, nk0, k, c0, x)));
                    }
            }
        }
    }
    return worst;
}

/* The whole network: G = 5 -> 10 on pykan's uniform initial grids is nested (outer knots
 * kept), so the refined network computes the same function (float64 to rounding, float32
 * to its precision) for any input, including hidden inputs beyond the grid range, with the
 * new layout and every non-spline parameter carried over. */
static void check_network_refine(dk_dtype dt, double tol)
{
    const int widths[] = {2, 5, 3, 1};
    dk_network_settings s = {.widths = widths, .n_widths = 4, .G = 5, .k = 3, .grid_lo = -1.0, .grid_hi = 1.0,
                             .dtype = dt, .seed = 9, .noise_scale = 0.3, .scale_base_mu = 2.0,
                             .scale_base_sigma = 1.0, .scale_sp = 1.0, .max_batch = 64, .n_threads = 1, .jet = 1};
    dk_network *net = NULL, *fine = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_OK);
    for (size_t e = 0; e < net->n_params; e++) /* make the splines matter */
        dk_store(dt, net->params, e, dk_load(dt, net->params, e) + ref_sym(&rng, 0.2));
    double change = -1.0;
    assert_int_equal(dk_network_refine(net, 10, &fine, &change), DK_OK);
    assert_true(change >= 0.0 && change < tol);
    /* The change reported is that of the stored splines: in float32 their rounding (some
     * 1e-8), not the float64 refit's 1e-16. */
    const double stored = stored_spline_change(net, fine);
    print_message("%s: max_change %.3g, stored splines' change %.3g\n", dk_dtype_name(dt), change, stored);
    assert_true(fabs(change - stored) <= 1e-13);
    if (dt == DK_F32)
        assert_true(stored > 1e-10);
    assert_int_equal(fine->G, 10);
    assert_int_equal(fine->n_dir, 2);
    assert_int_equal(fine->layers[1].shape.n_basis, 13);
    for (int l = 0; l < 3; l++) {
        const dk_layer_view *a = &net->layers[l], *b = &fine->layers[l];
        size_t io = (size_t)a->shape.in * a->shape.out;
        for (size_t e = 0; e < io; e++) {
            assert_true(dk_load(dt, net->params, a->scale_base + e) == dk_load(dt, fine->params, b->scale_base + e));
            assert_true(dk_load(dt, net->params, a->scale_sp + e) == dk_load(dt, fine->params, b->scale_sp + e));
        }
    }
    enum { N = 64 };
    double xd[2 * N], y0[N];
    float xf[2 * N];
    for (int e = 0; e < 2 * N; e++)
        xf[e] = (float)(xd[e] = ref_sym(&rng, 0.99));
    const void *x = dt == DK_F64 ? (const void *)xd : (const void *)xf;
    const void *y = dk_network_forward(net, N, x);
    int n_outside = 0; /* rows with some hidden input beyond the grid range [-1, 1] */
    for (int b = 0; b < N; b++) {
        y0[b] = dk_load(dt, y, b);
        int out = 0;
        for (int l = 1; l < 3; l++)
            for (int i = 0; i < widths[l]; i++) {
                double h = dk_load(dt, net->acts[l], (size_t)b * widths[l] + i);
                out |= h < -1.0 || h >= 1.0;
            }
        n_outside += out;
    }
    assert_true(n_outside >= N / 4); /* the case that pykan's re-extension would break */
    y = dk_network_forward(fine, N, x);
    for (int b = 0; b < N; b++)
        assert_true(fabs(dk_load(dt, y, b) - y0[b]) <= tol * (1.0 + fabs(y0[b])));
    dk_network_destroy(&net);
    dk_network_destroy(&fine);
}

static void test_network_refine_preserves_the_function(void **state)
{
    (void)state;
    check_network_refine(DK_F64, 1e-11);
    check_network_refine(DK_F32, 1e-4);
}

/* float32 cannot hold apart the knots of a fine grid on a range of a few ulps: refining
 * says so instead of producing repeated knots. */
static void test_float32_knot_collision_is_an_error(void **state)
{
    (void)state;
    const int widths[] = {1, 1};
    dk_network_settings s = {.widths = widths, .n_widths = 2, .G = 5, .k = 3, .grid_lo = -1.0, .grid_hi = 1.0,
                             .dtype = DK_F32, .seed = 1, .noise_scale = 0.3, .scale_base_sigma = 1.0, .scale_sp = 1.0,
                             .max_batch = 4, .n_threads = 1};
    dk_network *net = NULL, *fine = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_OK);
    const dk_layer_view *v = &net->layers[0];
    for (int m = 0; m < v->shape.n_knots; m++) /* spacing 4e-5: about 5 float32 ulps at 100 */
        dk_store(DK_F32, net->state, v->grid + m, 100.0 + 4e-5 * m);
    assert_int_equal(dk_network_refine(net, 10, &fine, NULL), DK_OK); /* 2e-5: still apart */
    dk_network_destroy(&fine);
    dk_error_clear();
    assert_int_equal(dk_network_refine(net, 40, &fine, NULL), DK_ERR_NUMERIC); /* 5e-6 < 1 ulp */
    assert_null(fine);
    assert_non_null(strstr(dk_error_message(), "not strictly increasing in float32"));
    dk_error_clear();
    dk_network_destroy(&net);
}

static void test_bad_sizes_are_rejected(void **state)
{
    (void)state;
    double t[16] = {0}, c[16] = {0};
    assert_int_equal(dk_grid_refine_layer(1, 1, 3, 5, t, c, 0, t, c, NULL), DK_ERR_USAGE);
    assert_non_null(strstr(dk_error_message(), "G 5 -> 0"));
    dk_error_clear();
    /* a degenerate range (all knots equal) is reported, not divided by */
    assert_int_equal(dk_grid_refine_layer(1, 1, 1, 1, t, c, 2, t, c, NULL), DK_ERR_NUMERIC);
    assert_non_null(strstr(dk_error_message(), "empty grid range"));
    dk_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_refinement_is_exact),
        cmocka_unit_test(test_smooth_function_survives_non_nested_refinement),
        cmocka_unit_test(test_refinement_keeps_non_uniform_grid_shape),
        cmocka_unit_test(test_smooth_edge_refined_to_twice_the_grid_changes_below_1e_6),
        cmocka_unit_test(test_network_refine_preserves_the_function),
        cmocka_unit_test(test_float32_knot_collision_is_an_error),
        cmocka_unit_test(test_bad_sizes_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

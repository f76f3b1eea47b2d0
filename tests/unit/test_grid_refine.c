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
#include "kernels/dk_bspline.h"
#include "layers/dk_grid_refine.h"
#include "layers/dk_network.h"

static ref_rng rng = {2024, 31, 0};

static double spline(const double *t, int nk, int k, const double *coef, double x)
{
    double B[256];
    full_basis(t, nk, k, x, B);
    double s = 0.0;
    for (int c = 0; c < nk - 1 - k; c++)
        s += coef[c] * B[c];
    return s;
}

/* Largest |new - old| over `n` random points of each input's range, all edges. */
static double max_difference(int in, int out, int k, int G0, const double *t0, const double *c0, int G1,
                             const double *t1, const double *c1, int n)
{
    const int nk0 = G0 + 2 * k + 1, nk1 = G1 + 2 * k + 1;
    double worst = 0.0;
    for (int i = 0; i < in; i++) {
        const double *a = t0 + (size_t)i * nk0, *b = t1 + (size_t)i * nk1;
        for (int p = 0; p < n; p++) {
            double x = a[k] + (a[k + G0] - a[k]) * ref_uni(&rng);
            for (int j = 0; j < out; j++) {
                double d = fabs(spline(b, nk1, k, c1 + ((size_t)i * out + j) * (G1 + k), x) -
                                spline(a, nk0, k, c0 + ((size_t)i * out + j) * (G0 + k), x));
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

/* A smooth edge function on a non-uniform grid (as after a grid update) is not in the new
 * space; refining G = 10 -> 20 keeps it to within the approximation error of the new
 * uniform spline space. */
static void test_smooth_function_survives_non_nested_refinement(void **state)
{
    (void)state;
    enum { K = 3, G = 10, G1 = 20, OUT = 2 };
    layer L = make_layer(&rng, 1, OUT, G, K); /* random non-uniform knots */
    const int nk = L.nk, nb = L.nb, n = 200;
    const double *t = L.grid, lo = t[K], hi = t[K + G];
    /* Old coefficients: least-squares fit of sin(2x) and exp(x)/3 by the naive basis. */
    double *A = calloc((size_t)n * nb, sizeof(double)), *rhs = calloc((size_t)n * OUT, sizeof(double));
    for (int p = 0; p < n; p++) {
        double x = lo + (hi - lo) * (p + 0.5) / n;
        double B[256];
        full_basis(t, nk, K, x, B); /* writes nk - 1 values; the first nb are the basis */
        memcpy(A + (size_t)p * nb, B, sizeof(double) * nb);
        rhs[p * OUT] = sin(2 * x);
        rhs[p * OUT + 1] = exp(x) / 3;
    }
    /* normal equations are fine for this small, well-sampled system */
    double N[64 * 64] = {0}, r[64 * OUT];
    memset(r, 0, sizeof r);
    for (int p = 0; p < n; p++)
        for (int a = 0; a < nb; a++) {
            for (int b = 0; b < nb; b++)
                N[a * nb + b] += A[(size_t)p * nb + a] * A[(size_t)p * nb + b];
            for (int j = 0; j < OUT; j++)
                r[a * OUT + j] += A[(size_t)p * nb + a] * rhs[p * OUT + j];
        }
    for (int a = 0; a < nb; a++) /* Gauss-Jordan, SPD: no pivoting */
        for (int b = 0; b < nb; b++)
            if (b != a) {
                double f = N[b * nb + a] / N[a * nb + a];
                for (int c = 0; c < nb; c++)
                    N[b * nb + c] -= f * N[a * nb + c];
                for (int j = 0; j < OUT; j++)
                    r[b * OUT + j] -= f * r[a * OUT + j];
            }
    double c0[OUT * 64];
    for (int j = 0; j < OUT; j++)
        for (int a = 0; a < nb; a++)
            c0[j * nb + a] = r[a * OUT + j] / N[a * nb + a];
    double t1[G1 + 2 * K + 1], c1[OUT * (G1 + K)], change;
    assert_int_equal(dk_grid_refine_layer(1, OUT, K, G, t, c0, G1, t1, c1, &change), DK_OK);
    double diff = max_difference(1, OUT, K, G, t, c0, G1, t1, c1, 2000);
    /* The old spline's third derivative jumps at its irregular knots, which no uniform
     * cubic spline reproduces exactly: measured 1.8e-4 on a range of 2.9 (about 6e-5 of the
     * functions' size); the fit reports the same size of change at its own points. */
    assert_true(diff < 1e-3);
    assert_true(change > 0.5 * diff && change < 2.0 * diff);
    free(A);
    free(rhs);
    free_layer(&L);
}

/* The whole network: G = 5 -> 10 on pykan's uniform initial grids is nested, so the
 * refined network computes the same function (float64 to rounding, float32 to its
 * precision) wherever every layer's input lies in its grid range, with the new layout and
 * every non-spline parameter carried over. (Outside the range the extension knots move
 * closer, as in pykan, and the function is not preserved there.) */
static void check_network_refine(dk_dtype dt, double tol)
{
    const int widths[] = {2, 5, 3, 1};
    dk_network_settings s = {.widths = widths, .n_widths = 4, .G = 5, .k = 3, .grid_lo = -1.0, .grid_hi = 1.0,
                             .dtype = dt, .seed = 9, .noise_scale = 0.3, .scale_base_mu = 0.0,
                             .scale_base_sigma = 1.0, .scale_sp = 1.0, .max_batch = 64, .n_threads = 1, .jet = 1};
    dk_network *net = NULL, *fine = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_OK);
    for (size_t e = 0; e < net->n_params; e++) /* make the splines matter */
        dk_store(dt, net->params, e, dk_load(dt, net->params, e) + ref_sym(&rng, 0.2));
    double change = -1.0;
    assert_int_equal(dk_network_refine(net, 10, &fine, &change), DK_OK);
    assert_true(change >= 0.0 && change < tol);
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
    int inside[N], n_inside = 0;
    for (int b = 0; b < N; b++) {
        y0[b] = dk_load(dt, y, b);
        inside[b] = 1;
        for (int l = 1; l < 3; l++)
            for (int i = 0; i < widths[l]; i++) {
                double h = dk_load(dt, net->acts[l], (size_t)b * widths[l] + i);
                inside[b] &= h >= -1.0 && h < 1.0;
            }
        n_inside += inside[b];
    }
    assert_true(n_inside >= N / 4);
    y = dk_network_forward(fine, N, x);
    for (int b = 0; b < N; b++)
        if (inside[b])
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
        cmocka_unit_test(test_network_refine_preserves_the_function),
        cmocka_unit_test(test_bad_sizes_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

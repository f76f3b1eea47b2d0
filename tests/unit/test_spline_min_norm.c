/* The banded minimum-norm solve of the initial splines (layers/dk_spline_min_norm.h)
 * against LAPACK's SVD (dgelsd, the initialisation's other path and pykan's lstsq), for
 * every degree and grids from 1 to 600 intervals, uniform and non-uniform: the same
 * coefficients to 1e-10 relative (2.4e-11 measured), the values met (A c = y to 1e-10), and
 * the network's initialisation above the threshold uses it. */
#include <lapacke.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_rng.h"
#include "kernels/dk_bspline.h"
#include "layers/dk_network.h"
#include "layers/dk_spline_min_norm.h"

enum { RHS = 3 };

/* Knots t[0 .. G+2k]: uniform on [-1, 1] extended by k intervals, or (skewed) with the
 * interval m of width proportional to 1 + 3 u_m. */
static void make_knots(int G, int k, int skewed, double *t)
{
    const int n = G + 2 * k + 1;
    t[0] = -1.0;
    for (int m = 1; m < n; m++)
        t[m] = t[m - 1] + (skewed ? 1.0 + 3.0 * dk_rng_uniform(5, 1, (uint64_t)(G * 131 + k * 7 + m)) : 1.0);
}

/* The same fit by dgelsd on the dense collocation matrix. */
static void dense_min_norm(const double *t, int G, int k, const double *Y, double *coef)
{
    const int rows = G + 1, nb = G + k, nk = G + 2 * k + 1, ldb = nb > rows ? nb : rows;
    double *A = calloc((size_t)rows * nb, sizeof *A), *B = calloc((size_t)ldb * RHS, sizeof *B);
    double *sing = calloc((size_t)rows, sizeof *sing);
    for (int p = 0; p < rows; p++) {
        double vals[DK_MAX_DEGREE + 1];
        int c0 = dk_bspline_eval_f64(t, nk, k, t[k + p], 0, vals);
        assert_true(c0 >= 0);
        for (int r = 0; r <= k; r++)
            A[(size_t)p * nb + c0 + r] = vals[r];
        for (int q = 0; q < RHS; q++)
            B[(size_t)p * RHS + q] = Y[(size_t)p * RHS + q];
    }
    lapack_int rank = 0;
    assert_int_equal(LAPACKE_dgelsd(LAPACK_ROW_MAJOR, rows, nb, RHS, A, nb, B, RHS, sing, -1.0, &rank), 0);
    memcpy(coef, B, sizeof(double) * (size_t)nb * RHS);
    free(A);
    free(B);
    free(sing);
}

static void test_banded_matches_the_svd(void **state)
{
    const int grids[] = {1, 2, 3, 5, 10, 40, 300, 600};
    double worst = 0.0, worst_fit = 0.0;
    for (size_t g = 0; g < sizeof grids / sizeof *grids; g++)
        for (int k = 1; k <= DK_MAX_DEGREE; k++)
            for (int skewed = 0; skewed < 2; skewed++) {
                const int G = grids[g], rows = G + 1, nb = G + k, nk = G + 2 * k + 1;
                double *t = malloc(sizeof(double) * nk), *Y = malloc(sizeof(double) * rows * RHS);
                double *fast = malloc(sizeof(double) * nb * RHS), *ref = malloc(sizeof(double) * nb * RHS);
                double *work = malloc(sizeof(double) * dk_spline_min_norm_work(G, k, RHS));
                make_knots(G, k, skewed, t);
                for (int i = 0; i < rows * RHS; i++)
                    Y[i] = dk_rng_uniform(9, 2, (uint64_t)i) - 0.5;
                assert_int_equal(dk_spline_min_norm_at_grid(t, G, k, RHS, Y, fast, work), DK_OK);
                dense_min_norm(t, G, k, Y, ref);
                double scale = 0.0, diff = 0.0;
                for (int i = 0; i < nb * RHS; i++) {
                    scale = fmax(scale, fabs(ref[i]));
                    diff = fmax(diff, fabs(fast[i] - ref[i]));
                }
                if (!(diff <= 1e-10 * scale))
                    fail_msg("G = %d, k = %d, %s knots: banded and SVD differ by %.3g of %.3g", G, k,
                             skewed ? "skewed" : "uniform", diff, scale);
                worst = fmax(worst, diff / scale);
                /* The spline goes through the values: A c = y. */
                for (int p = 0; p < rows; p++) {
                    double vals[DK_MAX_DEGREE + 1];
                    int c0 = dk_bspline_eval_f64(t, nk, k, t[k + p], 0, vals);
                    for (int q = 0; q < RHS; q++) {
                        double v = 0.0;
                        for (int r = 0; r <= k; r++)
                            v += vals[r] * fast[(size_t)(c0 + r) * RHS + q];
                        worst_fit = fmax(worst_fit, fabs(v - Y[(size_t)p * RHS + q]));
                    }
                }
                free(t);
                free(Y);
                free(fast);
                free(ref);
                free(work);
            }
    print_message("banded vs SVD: largest difference %.3g of the largest coefficient; largest misfit %.3g\n", worst,
                  worst_fit);
    assert_true(worst_fit < 1e-10);
}

/* Above the threshold the network's initial coefficients are the banded solution of its
 * noise; below it, dgelsd's (the same to 1e-11): either way the spline at the grid points
 * is the noise pykan draws, which this checks at G = 299 and G = 20. */
static void test_network_initialisation_fits_the_noise(void **state)
{
    const int grids[] = {20, 299};
    for (int g = 0; g < 2; g++) {
        const int G = grids[g], k = 3, widths[] = {2, 3};
        dk_network *net = NULL;
        dk_network_settings s = {.widths = widths, .n_widths = 2, .G = G, .k = k, .grid_lo = -1.0, .grid_hi = 1.0,
                                 .dtype = DK_F64, .seed = 4, .noise_scale = 0.3, .scale_base_mu = 0.0,
                                 .scale_base_sigma = 1.0, .scale_sp = 1.0, .max_batch = 1, .n_threads = 1};
        assert_int_equal(dk_network_create(&net, &s), DK_OK);
        const dk_layer_view *v = &net->layers[0];
        const double *coef = (const double *)net->params + v->coef, *t = (const double *)net->state + v->grid;
        const int nb = G + k, nk = G + 2 * k + 1;
        double worst = 0.0;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                const size_t edge = v->coef + ((size_t)i * 3 + j) * nb;
                for (int p = 0; p <= G; p++) {
                    double vals[DK_MAX_DEGREE + 1];
                    int c0 = dk_bspline_eval_f64(t + (size_t)i * nk, nk, k, t[(size_t)i * nk + k + p], 0, vals);
                    double value = 0.0;
                    for (int r = 0; r <= k; r++)
                        value += vals[r] * coef[((size_t)i * 3 + j) * nb + c0 + r];
                    double noise = (dk_rng_uniform(4, DK_STREAM_INIT_NOISE, edge + p) - 0.5) * 0.3 / G;
                    worst = fmax(worst, fabs(value - noise));
                }
            }
        print_message("G = %d: initial splines meet their noise to %.3g\n", G, worst);
        assert_true(worst < 1e-15);
        dk_network_destroy(&net);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_banded_matches_the_svd),
        cmocka_unit_test(test_network_initialisation_fits_the_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

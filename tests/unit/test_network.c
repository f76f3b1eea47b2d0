/* The network: flat-buffer layout, pykan initialisation, and end-to-end gradients of a
 * multi-layer KAN against central finite differences. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_rng.h"
#include "layers/dk_network.h"
#include "kan_reference.h"

static dk_network *make(const int *widths, int n_widths, int G, int k, dk_dtype dtype, int max_batch,
                        unsigned long long seed)
{
    dk_network_settings s = {.widths = widths, .n_widths = n_widths, .G = G, .k = k, .grid_lo = -1.0,
                             .grid_hi = 1.0, .dtype = dtype, .seed = seed, .noise_scale = 0.3,
                             .scale_base_mu = 0.0, .scale_base_sigma = 1.0, .scale_sp = 1.0,
                             .max_batch = max_batch, .n_threads = 1};
    dk_network *net = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_OK);
    return net;
}

static void test_layout_packs_every_layer_contiguously(void **state)
{
    (void)state;
    const int widths[] = {3, 4, 2};
    dk_network *net = make(widths, 3, 6, 3, DK_F64, 8, 1);
    /* per layer: coef in*out*(G+k) + scale_base in*out + scale_sp in*out */
    size_t expect = 3 * 4 * (9 + 2) + 4 * 2 * (9 + 2);
    assert_int_equal(net->n_params, expect);
    assert_int_equal(net->layers[0].coef, 0);
    assert_int_equal(net->layers[0].scale_base, 3 * 4 * 9);
    assert_int_equal(net->layers[0].scale_sp, 3 * 4 * 9 + 12);
    assert_int_equal(net->layers[1].coef, 3 * 4 * 11);
    assert_int_equal(net->n_state, 3 * (6 + 7) + 12 + 4 * (6 + 7) + 8);
    dk_network_destroy(&net);
    assert_null(net);
}

/* pykan initialises each spline as the minimum-norm least-squares fit of noise
 * (rand - 1/2) * noise_scale / G at the G+1 grid points: with more coefficients than
 * points the fit interpolates, so the spline reproduces the noise at those points. */
static void test_init_splines_interpolate_the_noise_at_grid_points(void **state)
{
    (void)state;
    const int widths[] = {2, 3, 1};
    const int G = 5, k = 3;
    const unsigned long long seed = 42;
    dk_network *net = make(widths, 3, G, k, DK_F64, 4, seed);
    const double *p = net->params, *st = net->state;
    for (int l = 0; l < 2; l++) {
        const dk_layer_view *v = &net->layers[l];
        int in = v->shape.in, out = v->shape.out, nb = v->shape.n_basis, nk = v->shape.n_knots;
        for (int i = 0; i < in; i++) {
            const double *t = st + v->grid + (size_t)i * nk;
            /* knots: uniform on [-1, 1] extended by k on each side */
            for (int q = 0; q < nk; q++)
                assert_true(fabs(t[q] - (-1.0 + (q - k) * 2.0 / G)) < 1e-12);
            for (int j = 0; j < out; j++) {
                size_t edge = (size_t)i * out + j;
                for (int q = 0; q <= G; q++) {
                    double x = t[k + q], spline = 0.0, B[64];
                    full_basis(t, nk, k, x, B); /* independent of the kernels */
                    for (int c = 0; c < nb; c++)
                        spline += p[v->coef + edge * nb + c] * B[c];
                    double noise =
                        (dk_rng_uniform(seed, DK_STREAM_INIT_NOISE, v->coef + edge * nb + q) - 0.5) * 0.3 / G;
                    assert_true(fabs(spline - noise) < 1e-12);
                }
                double sb = p[v->scale_base + edge], sp = p[v->scale_sp + edge];
                assert_true(fabs(sb) <= 1.0 / sqrt((double)in) + 1e-15);
                assert_true(fabs(sp - 1.0 / sqrt((double)in)) < 1e-15);
                assert_true(st[v->mask + edge] == 1.0);
            }
        }
    }
    dk_network_destroy(&net);
}

/* pykan: scale_base = mu/sqrt(in) + sigma * (2 rand - 1)/sqrt(in), one uniform draw per
 * edge from stream DK_STREAM_INIT_SCALE_BASE at the edge's scale_base parameter offset.
 * A bound |scale_base| <= 1/sqrt(in) alone does not see a draw of sigma * rand (in [0, 1))
 * in place of sigma * (2 rand - 1), so every value is recomputed here from the draw, with
 * mu = 0.3 so that a wrong offset, a missing mu or a missing 1/sqrt(in) shows too, and
 * with enough edges (42, each negative with probability 0.35) that some scale_base must
 * be negative, which sigma * rand with mu > 0 can never give. Everything else (knots,
 * masks, coefficients, scale_sp) must be what the same seed gives with mu = 0: mu only
 * moves scale_base. Both float64 and float32 storage are checked. */
static void test_init_scale_base_is_mu_plus_sigma_times_symmetric_draw(void **state)
{
    (void)state;
    const int widths[] = {4, 6, 3}; /* in = 4 and 6: different 1/sqrt(in) per layer */
    const int G = 5, k = 3;
    const unsigned long long seed = 42;
    const double mu = 0.3, sigma = 1.0;
    const dk_dtype dtypes[] = {DK_F64, DK_F32};
    for (int d = 0; d < 2; d++) {
        const dk_dtype dt = dtypes[d];
        dk_network_settings s = {.widths = widths, .n_widths = 3, .G = G, .k = k, .grid_lo = -1.0,
                                 .grid_hi = 1.0, .dtype = dt, .seed = seed, .noise_scale = 0.3,
                                 .scale_base_mu = mu, .scale_base_sigma = sigma, .scale_sp = 1.0,
                                 .max_batch = 4, .n_threads = 1};
        dk_network *net = NULL, *ref = make(widths, 3, G, k, dt, 4, seed); /* ref: mu = 0 */
        assert_int_equal(dk_network_create(&net, &s), DK_OK);
        assert_int_equal(net->n_params, ref->n_params);
        assert_int_equal(net->n_state, ref->n_state);
        int n_edges = 0, n_negative = 0, n_positive = 0;
        for (int l = 0; l < net->n_layers; l++) {
            const dk_layer_view *v = &net->layers[l];
            const int in = v->shape.in, out = v->shape.out, nb = v->shape.n_basis;
            const double inv_sqrt_in = 1.0 / sqrt((double)in);
            for (size_t edge = 0; edge < (size_t)in * out; edge++) {
                double u = dk_rng_uniform(seed, DK_STREAM_INIT_SCALE_BASE, v->scale_base + edge);
                double expect = mu / sqrt((double)in) + sigma * (u * 2.0 - 1.0) / sqrt((double)in);
                double sb = dk_load(dt, net->params, v->scale_base + edge);
                /* 1e-15 relative to the terms' size: mu and the draw may nearly cancel */
                double tol = 1e-15 * (fabs(mu) + fabs(sigma)) * inv_sqrt_in;
                if (dt == DK_F32)
                    tol += 0x1p-24 * fabs(expect); /* one float32 rounding */
                if (!(fabs(sb - expect) <= tol))
                    fail_msg("dtype %d layer %d edge %zu: scale_base %.17g, expected %.17g (u = %.17g)", (int)dt,
                             l, edge, sb, expect, u);
                n_edges++;
                n_negative += sb < 0.0;
                n_positive += sb > 0.0;
                /* untouched by mu: scale_sp, mask and coefficients */
                assert_true(fabs(dk_load(dt, net->params, v->scale_sp + edge) - inv_sqrt_in) <=
                            (dt == DK_F32 ? 0x1p-24 : 1e-16) * inv_sqrt_in);
                assert_true(dk_load(dt, net->params, v->scale_sp + edge) ==
                            dk_load(dt, ref->params, v->scale_sp + edge));
                assert_true(dk_load(dt, net->state, v->mask + edge) == 1.0);
                for (int c = 0; c < nb; c++)
                    assert_true(dk_load(dt, net->params, v->coef + edge * nb + c) ==
                                dk_load(dt, ref->params, v->coef + edge * nb + c));
            }
        }
        assert_int_equal(n_edges, 4 * 6 + 6 * 3);
        print_message("dtype %d: %d of %d initial scale_base negative, %d positive\n", (int)dt, n_negative, n_edges,
                      n_positive);
        /* mu = 0.3, sigma = 1: 2u - 1 < -0.3 for some of the 42 draws of this seed */
        assert_true(n_negative >= 1);
        assert_true(n_positive >= 1);
        /* knots and masks: the whole state equals the mu = 0 network's */
        assert_memory_equal(net->state, ref->state, net->n_state * dk_dtype_size(dt));
        dk_network_destroy(&net);
        dk_network_destroy(&ref);
    }
}

static void test_same_seed_same_parameters_other_seed_differs(void **state)
{
    (void)state;
    const int widths[] = {2, 5, 1};
    dk_network *a = make(widths, 3, 5, 3, DK_F64, 4, 7), *b = make(widths, 3, 5, 3, DK_F64, 4, 7);
    dk_network *c = make(widths, 3, 5, 3, DK_F64, 4, 8);
    size_t bytes = a->n_params * sizeof(double);
    assert_memory_equal(a->params, b->params, bytes);
    assert_memory_not_equal(a->params, c->params, bytes);
    dk_network_destroy(&a);
    dk_network_destroy(&b);
    dk_network_destroy(&c);
}

/* L = sum_b,j w[b,j] * y[b,j] for fixed random weights w. */
static double weighted_output(dk_network *net, int rows, const double *x, const double *w)
{
    const double *y = dk_network_forward(net, rows, x);
    int n_out = net->widths[net->n_layers];
    double L = 0.0;
    for (int q = 0; q < rows * n_out; q++)
        L += w[q] * y[q];
    return L;
}

static void test_network_gradients_match_central_differences(void **state)
{
    (void)state;
    const int widths[] = {3, 4, 3, 2};
    const int rows = 13;
    dk_network *net = make(widths, 4, 7, 3, DK_F64, rows, 3);
    double *p = net->params;
    /* Move away from the initial state so that every term contributes. */
    for (size_t q = 0; q < net->n_params; q++)
        p[q] += 0.3 * (dk_rng_uniform(99, 1, q) - 0.5);
    double x[3 * 13], w[2 * 13];
    for (int q = 0; q < rows * 3; q++)
        x[q] = 1.8 * dk_rng_uniform(99, 2, (uint64_t)q) - 0.9;
    for (int q = 0; q < rows * 2; q++)
        w[q] = dk_rng_uniform(99, 3, (uint64_t)q) - 0.5;

    weighted_output(net, rows, x, w);
    dk_network_backward(net, rows, w); /* dL/dy = w */
    double *analytic = malloc(sizeof(double) * net->n_params);
    memcpy(analytic, net->grads, sizeof(double) * net->n_params);

    /* Central differences, h chosen for float64: truncation h^2 ~ 1e-10, rounding
     * eps/h ~ 1e-11. Splines are C^2 for k = 3, so the hidden activations crossing a knot
     * do not spoil the O(h^2) error. */
    const double h = 1e-5;
    double diff2 = 0.0, ref2 = 0.0, worst = 0.0;
    for (size_t q = 0; q < net->n_params; q++) {
        double saved = p[q];
        p[q] = saved + h;
        double up = weighted_output(net, rows, x, w);
        p[q] = saved - h;
        double down = weighted_output(net, rows, x, w);
        p[q] = saved;
        double fd = (up - down) / (2 * h);
        diff2 += (analytic[q] - fd) * (analytic[q] - fd);
        ref2 += fd * fd;
        double e = fabs(analytic[q] - fd) / (fabs(fd) + 1e-6);
        worst = e > worst ? e : worst;
    }
    double rel = sqrt(diff2 / ref2);
    print_message("network gradient: relative L2 error %.3e over %zu parameters, worst element %.3e\n", rel,
                  net->n_params, worst);
    assert_true(rel < 1e-6);
    assert_true(worst < 1e-4);
    free(analytic);
    dk_network_destroy(&net);
}

/* A float32 network computes the same function as a float64 one built from the same seed,
 * to float32 precision. */
static void test_float32_forward_matches_float64(void **state)
{
    (void)state;
    const int widths[] = {2, 5, 1};
    const int rows = 32;
    dk_network *d = make(widths, 3, 5, 3, DK_F64, rows, 11), *f = make(widths, 3, 5, 3, DK_F32, rows, 11);
    double xd[64];
    float xf[64];
    for (int q = 0; q < 64; q++) {
        xf[q] = (float)(2.0 * dk_rng_uniform(5, 5, (uint64_t)q) - 1.0);
        xd[q] = xf[q];
    }
    const double *yd = dk_network_forward(d, rows, xd);
    const float *yf = dk_network_forward(f, rows, xf);
    for (int b = 0; b < rows; b++)
        assert_true(fabs(yd[b] - yf[b]) < 1e-5 * (1.0 + fabs(yd[b])));
    dk_network_destroy(&d);
    dk_network_destroy(&f);
}

static void test_bad_settings_are_usage_errors(void **state)
{
    (void)state;
    const int widths[] = {2, 0, 1};
    dk_network_settings s = {.widths = widths, .n_widths = 3, .G = 5, .k = 3, .grid_lo = -1, .grid_hi = 1,
                             .max_batch = 1, .n_threads = 1};
    dk_network *net = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_ERR_USAGE);
    assert_non_null(strstr(dk_error_message(), "width 1 is 0"));
    assert_null(net);
}

/* no_init: the same layout, every value left zero for the caller (refinement, loading). */
static void test_no_init_leaves_values_zero(void **state)
{
    (void)state;
    const int widths[] = {3, 4, 2};
    dk_network_settings s = {.widths = widths, .n_widths = 3, .G = 6, .k = 3, .grid_lo = -1.0, .grid_hi = 1.0,
                             .dtype = DK_F64, .seed = 1, .noise_scale = 0.3, .scale_base_sigma = 1.0, .scale_sp = 1.0,
                             .max_batch = 8, .n_threads = 1, .no_init = true};
    dk_network *bare = NULL, *net = make(widths, 3, 6, 3, DK_F64, 8, 1);
    assert_int_equal(dk_network_create(&bare, &s), DK_OK);
    assert_int_equal(bare->n_params, net->n_params);
    assert_int_equal(bare->n_state, net->n_state);
    for (size_t e = 0; e < bare->n_params; e++)
        assert_true(((const double *)bare->params)[e] == 0.0);
    for (size_t e = 0; e < bare->n_state; e++)
        assert_true(((const double *)bare->state)[e] == 0.0);
    dk_network_destroy(&bare);
    dk_network_destroy(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_packs_every_layer_contiguously),
        cmocka_unit_test(test_init_splines_interpolate_the_noise_at_grid_points),
        cmocka_unit_test(test_init_scale_base_is_mu_plus_sigma_times_symmetric_draw),
        cmocka_unit_test(test_same_seed_same_parameters_other_seed_differs),
        cmocka_unit_test(test_network_gradients_match_central_differences),
        cmocka_unit_test(test_float32_forward_matches_float64),
        cmocka_unit_test(test_bad_settings_are_usage_errors),
        cmocka_unit_test(test_no_init_leaves_values_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Second-order network evaluation and the PDE task, end to end in float64:
 *   - dk_network_jet_forward's derivatives against central finite differences of the plain
 *     forward pass, through three layers;
 *   - dk_network_jet_backward against finite differences of a loss on u, Du and D2u;
 *   - the PDE loss against a residual formed here from finite-difference derivatives and
 *     the closed-form source term, and its gradient against finite differences;
 *   - the split over ranks and into chunks changes nothing but rounding.
 * Networks use degree-5 splines here: their second derivatives are C^3, so a second
 * difference straddling a knot is still accurate to O(h^2). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_rng.h"
#include "layers/dk_network.h"
#include "tasks/dk_pde_task.h"

static const double PI = 3.14159265358979323846;

static dk_network *make_net(const int *widths, int n_widths, int G, int k, int max_batch, unsigned long long seed)
{
    dk_network_settings s = {.widths = widths, .n_widths = n_widths, .G = G, .k = k, .grid_lo = -1.0,
                             .grid_hi = 1.0, .dtype = DK_F64, .seed = seed, .noise_scale = 0.3,
                             .scale_base_mu = 0.0, .scale_base_sigma = 1.0, .scale_sp = 1.0,
                             .max_batch = max_batch, .n_threads = 1, .jet = 1};
    dk_network *net = NULL;
    assert_int_equal(dk_network_create(&net, &s), DK_OK);
    /* pykan's initial splines are nearly flat; make them matter. */
    double *p = net->params;
    for (size_t i = 0; i < net->n_params; i++)
        p[i] += 0.5 * (2.0 * dk_rng_uniform(seed, 77, i) - 1.0);
    return net;
}

static double forward_scalar(dk_network *net, const double *x)
{
    return *(const double *)dk_network_forward(net, 1, x);
}

static void test_jet_forward_matches_finite_differences(void **state)
{
    (void)state;
    const int widths[] = {3, 4, 3, 1};
    enum { D = 3, N = 6 };
    dk_network *net = make_net(widths, 4, 6, 5, N, 11);
    double x[N * D];
    for (int i = 0; i < N * D; i++)
        x[i] = 0.9 * (2.0 * dk_rng_uniform(5, 1, (uint64_t)i) - 1.0);
    const void *pu1, *pu2;
    const double *u = dk_network_jet_forward(net, N, x, &pu1, &pu2);
    double uc[N], u1[N * D], u2[N * D];
    memcpy(uc, u, sizeof uc);
    memcpy(u1, pu1, sizeof u1);
    memcpy(u2, pu2, sizeof u2);
    const double h1 = 1e-5, h2 = 1e-3;
    for (int b = 0; b < N; b++) {
        double xb[D];
        memcpy(xb, x + b * D, sizeof xb);
        double f0 = forward_scalar(net, xb);
        assert_true(fabs(f0 - uc[b]) <= 1e-13 * (1.0 + fabs(f0)));
        for (int a = 0; a < D; a++) {
            double save = xb[a];
            xb[a] = save + h1;
            double fp = forward_scalar(net, xb);
            xb[a] = save - h1;
            double fm = forward_scalar(net, xb);
            xb[a] = save + h2;
            double fp2 = forward_scalar(net, xb);
            xb[a] = save - h2;
            double fm2 = forward_scalar(net, xb);
            xb[a] = save;
            double d1 = (fp - fm) / (2 * h1), d2 = (fp2 - 2 * f0 + fm2) / (h2 * h2);
            assert_true(fabs(d1 - u1[b * D + a]) <= 1e-7 * (1.0 + fabs(d1)));
            assert_true(fabs(d2 - u2[b * D + a]) <= 1e-4 * (1.0 + fabs(d2)));
        }
    }
    dk_network_destroy(&net);
}

/* L = sum_b w0_b u_b + sum_ba w1_ba u1_ba + w2_ba u2_ba: the gradient from
 * dk_network_jet_backward against central differences of L in every parameter. */
static double jet_functional(dk_network *net, int n, const double *x, const double *w0, const double *w1,
                             const double *w2, int d)
{
    const void *pu1, *pu2;
    const double *u = dk_network_jet_forward(net, n, x, &pu1, &pu2);
    const double *u1 = pu1, *u2 = pu2;
    double L = 0.0;
    for (int b = 0; b < n; b++) {
        L += w0[b] * u[b];
        for (int a = 0; a < d; a++)
            L += w1[b * d + a] * u1[b * d + a] + w2[b * d + a] * u2[b * d + a];
    }
    return L;
}

static void test_jet_backward_matches_finite_differences(void **state)
{
    (void)state;
    const int widths[] = {2, 3, 2, 1};
    enum { D = 2, N = 5 };
    dk_network *net = make_net(widths, 4, 5, 3, N, 12);
    double x[N * D], w0[N], w1[N * D], w2[N * D];
    for (int i = 0; i < N * D; i++) {
        x[i] = 0.95 * (2.0 * dk_rng_uniform(6, 1, (uint64_t)i) - 1.0);
        w1[i] = 2.0 * dk_rng_uniform(6, 2, (uint64_t)i) - 1.0;
        w2[i] = 2.0 * dk_rng_uniform(6, 3, (uint64_t)i) - 1.0;
    }
    for (int b = 0; b < N; b++)
        w0[b] = 2.0 * dk_rng_uniform(6, 4, (uint64_t)b) - 1.0;
    jet_functional(net, N, x, w0, w1, w2, D);
    dk_network_jet_backward(net, N, w0, w1, w2);
    double *grad = malloc(sizeof(double) * net->n_params);
    memcpy(grad, net->grads, sizeof(double) * net->n_params);
    double *p = net->params;
    const double h = 1e-6;
    double worst = 0.0;
    for (size_t i = 0; i < net->n_params; i++) {
        double save = p[i];
        p[i] = save + h;
        double Lp = jet_functional(net, N, x, w0, w1, w2, D);
        p[i] = save - h;
        double Lm = jet_functional(net, N, x, w0, w1, w2, D);
        p[i] = save;
        double fd = (Lp - Lm) / (2 * h), err = fabs(fd - grad[i]) / (1.0 + fabs(fd));
        worst = err > worst ? err : worst;
    }
    assert_true(worst < 1e-6);
    free(grad);
    dk_network_destroy(&net);
}

static dk_pde_task *make_task(const char *problem, dk_pde_params pp, long interior, long boundary, int rank,
                              int world, dk_network *net)
{
    dk_pde_task_settings s = {.problem = dk_pde_problem_find(problem), .params = pp, .dtype = DK_F64, .seed = 3,
                              .alpha = 0.7, .interior = interior, .boundary = boundary,
                              .sampling = DK_SAMPLING_HALTON, .eval_grid = 5, .eval_points = 50,
                              .rank = rank, .world_size = world};
    assert_non_null(s.problem);
    dk_pde_task *t = NULL;
    assert_int_equal(dk_pde_task_create(&t, &s), DK_OK);
    assert_int_equal(dk_pde_task_bind(t, net), DK_OK);
    return t;
}

/* poisson2d's source, written out here rather than taken from the problem file. */
static double poisson2d_source(double x, double y)
{
    const double pi = 3.14159265358979323846;
    return -pi * pi * (1 + 4 * y * y) * sin(pi * x) * sin(pi * y * y) + 2 * pi * sin(pi * x) * cos(pi * y * y);
}

static void test_poisson_loss_matches_residual_from_finite_differences(void **state)
{
    (void)state;
    const int widths[] = {2, 5, 1};
    dk_network *net = make_net(widths, 3, 6, 5, 64, 13);
    dk_pde_task *t = make_task("poisson2d", (dk_pde_params){0}, 40, 12, 0, 1, net);
    double li, lb;
    double loss = dk_pde_task_loss(t, net, &li, &lb);
    /* Interior: alpha mean (Laplacian u - f)^2 with the Laplacian by second differences. */
    const double h = 1e-3, *xi = t->x_int;
    double sum = 0.0;
    for (long p = 0; p < t->local_int; p++) {
        double xy[2] = {xi[2 * p], xi[2 * p + 1]}, f0 = forward_scalar(net, xy), lap = 0.0;
        for (int a = 0; a < 2; a++) {
            double save = xy[a];
            xy[a] = save + h;
            double fp = forward_scalar(net, xy);
            xy[a] = save - h;
            double fm = forward_scalar(net, xy);
            xy[a] = save;
            lap += (fp - 2 * f0 + fm) / (h * h);
        }
        double r = lap - poisson2d_source(xy[0], xy[1]);
        sum += r * r;
    }
    double expect_interior = 0.7 * sum / 40.0;
    assert_true(fabs(li - expect_interior) <= 1e-5 * expect_interior);
    /* Boundary: mean (u - exact)^2, exact = sin(pi x) sin(pi y^2), points on the square's sides. */
    const double *xb = t->x_bnd;
    sum = 0.0;
    for (long p = 0; p < t->local_bnd; p++) {
        double xy[2] = {xb[2 * p], xb[2 * p + 1]};
        assert_true(fabs(fabs(xy[0]) - 1.0) < 1e-15 || fabs(fabs(xy[1]) - 1.0) < 1e-15);
        double e = forward_scalar(net, xy) - sin(PI * xy[0]) * sin(PI * xy[1] * xy[1]);
        sum += e * e;
    }
    assert_true(fabs(lb - sum / 12.0) <= 1e-12 * (sum / 12.0) + 1e-300);
    assert_true(fabs(loss - (li + lb)) <= 1e-15 * loss);
    dk_pde_task_destroy(&t);
    dk_network_destroy(&net);
}

static void check_loss_gradient(const char *problem, dk_pde_params pp, const int *widths, int n_widths)
{
    dk_network *net = make_net(widths, n_widths, 5, 3, 64, 14);
    dk_pde_task *t = make_task(problem, pp, 30, 16, 0, 1, net);
    double li, lb;
    dk_pde_task_loss(t, net, &li, &lb);
    double *grad = malloc(sizeof(double) * net->n_params);
    memcpy(grad, net->grads, sizeof(double) * net->n_params);
    double *p = net->params, gmax = 0.0;
    for (size_t i = 0; i < net->n_params; i++)
        gmax = fabs(grad[i]) > gmax ? fabs(grad[i]) : gmax;
    /* Errors relative to the largest component: central differences of a loss of size L
     * carry about 1e-16 L / h of rounding whatever the component. */
    const double h = 1e-6;
    double worst = 0.0;
    for (size_t i = 0; i < net->n_params; i++) {
        double save = p[i];
        p[i] = save + h;
        double Lp = dk_pde_task_loss(t, net, &li, &lb);
        p[i] = save - h;
        double Lm = dk_pde_task_loss(t, net, &li, &lb);
        p[i] = save;
        double fd = (Lp - Lm) / (2 * h), err = fabs(fd - grad[i]) / gmax;
        worst = err > worst ? err : worst;
    }
    assert_true(gmax > 0.0);
    assert_true(worst < 1e-7);
    free(grad);
    dk_pde_task_destroy(&t);
    dk_network_destroy(&net);
}

static void test_loss_gradients_match_finite_differences(void **state)
{
    (void)state;
    const int w2[] = {2, 4, 1}, w3[] = {3, 3, 2, 1};
    check_loss_gradient("poisson2d", (dk_pde_params){0}, w2, 3);
    check_loss_gradient("helmholtz2d", (dk_pde_params){.a1 = 1, .a2 = 2, .wavenumber = 3}, w2, 3);
    check_loss_gradient("heat_nd", (dk_pde_params){.dim = 2, .diffusivity = 0.3}, w3, 4);
    check_loss_gradient("poisson_nd", (dk_pde_params){.dim = 3}, w3, 4);
}

/* Three ranks' shares add up to the one-rank loss and gradient, and a network with a small
 * batch capacity (several chunks per set) computes the same numbers. */
static void test_rank_split_and_chunks_change_only_rounding(void **state)
{
    (void)state;
    const int widths[] = {3, 4, 1};
    const dk_pde_params pp = {.dim = 3};
    dk_network *net = make_net(widths, 3, 5, 3, 200, 15);
    dk_pde_task *whole = make_task("poisson_nd", pp, 101, 37, 0, 1, net);
    double li, lb, loss = dk_pde_task_loss(whole, net, &li, &lb);
    double *grad = malloc(sizeof(double) * net->n_params), *sum = calloc(net->n_params, sizeof(double));
    memcpy(grad, net->grads, sizeof(double) * net->n_params);
    double loss_sum = 0.0;
    for (int r = 0; r < 3; r++) {
        dk_network *small = make_net(widths, 3, 5, 3, 9, 15);
        dk_pde_task *part = make_task("poisson_nd", pp, 101, 37, r, 3, small);
        assert_true(part->chunk == 9);
        loss_sum += dk_pde_task_loss(part, small, &li, &lb);
        for (size_t i = 0; i < net->n_params; i++)
            sum[i] += ((const double *)small->grads)[i];
        dk_pde_task_destroy(&part);
        dk_network_destroy(&small);
    }
    assert_true(fabs(loss_sum - loss) <= 1e-13 * loss);
    for (size_t i = 0; i < net->n_params; i++)
        assert_true(fabs(sum[i] - grad[i]) <= 1e-12 * (1e-3 + fabs(grad[i])));
    free(grad);
    free(sum);
    dk_pde_task_destroy(&whole);
    dk_network_destroy(&net);
}

/* Errors against the exact solution on the 5 x 5 evaluation grid, recomputed here. */
static void test_evaluation_matches_direct_computation(void **state)
{
    (void)state;
    const int widths[] = {2, 3, 1};
    dk_network *net = make_net(widths, 3, 5, 3, 64, 16);
    dk_pde_task *t = make_task("helmholtz2d", (dk_pde_params){.a1 = 1, .a2 = 4, .wavenumber = 1}, 10, 8, 0, 1, net);
    assert_int_equal(t->n_eval, 25);
    double sse, sse_exact, mx;
    dk_pde_task_evaluate(t, net, &sse, &sse_exact, &mx);
    double s = 0.0, se = 0.0, m = 0.0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            double xy[2] = {-1.0 + 0.5 * i, -1.0 + 0.5 * j};
            double exact = sin(PI * xy[0]) * sin(4 * PI * xy[1]), e = forward_scalar(net, xy) - exact;
            s += e * e;
            se += exact * exact;
            m = fabs(e) > m ? fabs(e) : m;
        }
    assert_true(fabs(sse - s) <= 1e-12 * s);
    assert_true(fabs(sse_exact - se) <= 1e-12 * se + 1e-14);
    assert_true(fabs(mx - m) <= 1e-14);
    dk_pde_task_destroy(&t);
    dk_network_destroy(&net);
}

/* In float32 the evaluation points are stored rounded, and the exact solution they are
 * scored against is taken at the rounded point, as the boundary data are: on a 7 x 7 grid
 * (spacing 1/3) and at random points, u* at the unrounded point differs by up to 1e-7. */
static void test_float32_evaluation_scores_the_stored_points(void **state)
{
    (void)state;
    const struct {
        const char *problem;
        dk_pde_params params;
    } cases[] = {{"helmholtz2d", {.a1 = 1, .a2 = 4, .wavenumber = 1}}, {"poisson_nd", {.dim = 4}}};
    for (int c = 0; c < 2; c++) {
        dk_pde_task_settings s = {.problem = dk_pde_problem_find(cases[c].problem), .params = cases[c].params,
                                  .dtype = DK_F32, .seed = 3, .alpha = 0.7, .interior = 10, .boundary = 8,
                                  .sampling = DK_SAMPLING_HALTON, .eval_grid = 7, .eval_points = 50,
                                  .rank = 0, .world_size = 1};
        dk_pde_task *t = NULL;
        assert_int_equal(dk_pde_task_create(&t, &s), DK_OK);
        assert_true(t->n_eval == 49 || t->n_eval == 50);
        const float *x = t->x_eval;
        for (long p = 0; p < t->local_eval; p++) {
            double at[4];
            for (int a = 0; a < t->dim; a++)
                at[a] = x[p * t->dim + a];
            const double want = s.problem->exact(&s.params, at);
            if (t->u_eval[p] != want)
                fail_msg("%s: point %ld: u* %.17g, at the stored point %.17g", cases[c].problem, p, t->u_eval[p],
                         want);
        }
        dk_pde_task_destroy(&t);
    }
}

/* helmholtz2d's u = sin(pi x) sin(4 pi y) on [-1, 1]^2 vanishes on every grid line y = j/4:
 * the 2 x 2, 3 x 3 and 5 x 5 evaluation grids see only rounding noise of it, so no relative
 * error exists there; 4 x 4 and 51 x 51 grids see the solution. Its rms over the domain is
 * 1/2 (the mean of sin^2 over whole periods is 1/2 per factor). */
static void test_relative_error_needs_a_nonzero_solution(void **state)
{
    (void)state;
    const int widths[] = {2, 3, 1};
    dk_network *net = make_net(widths, 3, 5, 3, 64, 16);
    const long grids[] = {2, 3, 5, 4, 51};
    const bool defined[] = {false, false, false, true, true};
    for (int i = 0; i < 5; i++) {
        dk_pde_task_settings s = {.problem = dk_pde_problem_find("helmholtz2d"),
                                  .params = {.a1 = 1, .a2 = 4, .wavenumber = 1}, .dtype = DK_F64, .alpha = 1,
                                  .interior = 10, .boundary = 8, .sampling = DK_SAMPLING_HALTON,
                                  .eval_grid = grids[i], .eval_points = 10, .rank = 0, .world_size = 1};
        dk_pde_task *t = NULL;
        assert_int_equal(dk_pde_task_create(&t, &s), DK_OK);
        assert_int_equal(dk_pde_task_bind(t, net), DK_OK);
        assert_true(fabs(t->solution_rms - 0.5) < 0.03);
        double sse, sse_exact, mx;
        dk_pde_task_evaluate(t, net, &sse, &sse_exact, &mx);
        assert_true(sse > 0);
        if (dk_pde_task_rel_l2_defined(t, sse_exact) != defined[i])
            fail_msg("eval_grid %ld: sum u*^2 = %g over %ld points, solution rms %g: expected %s", grids[i], sse_exact,
                     t->n_eval, t->solution_rms, defined[i] ? "defined" : "undefined");
        dk_pde_task_destroy(&t);
    }
    dk_network_destroy(&net);
}

static void test_too_few_points_for_the_ranks_is_an_error(void **state)
{
    (void)state;
    dk_pde_task_settings s = {.problem = dk_pde_problem_find("poisson2d"), .dtype = DK_F64, .alpha = 1,
                              .interior = 3, .boundary = 100, .eval_grid = 5, .eval_points = 10, .rank = 0,
                              .world_size = 4};
    dk_pde_task *t = NULL;
    assert_int_equal(dk_pde_task_create(&t, &s), DK_ERR_USAGE);
    assert_null(t);
    assert_non_null(strstr(dk_error_message(), "interior_points = 3"));
    dk_error_clear();
}

/* Rows per call: jet buffers near 4M elements on the CPU, at most 16384 rows; eight times
 * both on a GPU; never more than the largest point set a rank holds. */
static void test_chunk_rows_cpu_and_gpu(void **state)
{
    (void)state;
    const long interiors[] = {1000000, 50000};
    for (int i = 0; i < 2; i++) {
        dk_pde_task_settings s = {.problem = dk_pde_problem_find("poisson2d"), .dtype = DK_F64, .alpha = 1,
                                  .interior = interiors[i], .boundary = 1000, .eval_grid = 5, .eval_points = 10,
                                  .rank = 0, .world_size = 1};
        dk_pde_task *t = NULL;
        assert_int_equal(dk_pde_task_create(&t, &s), DK_OK);
        const int narrow[] = {2, 16, 16, 1}, wide[] = {2, 1024, 1};
        const long most = interiors[i];
        assert_int_equal(dk_pde_task_max_rows(t, narrow, 4, 0), 16384); /* 4M / 32 = 131072, capped */
        assert_int_equal(dk_pde_task_max_rows(t, narrow, 4, 1), most < 131072 ? most : 131072);
        assert_int_equal(dk_pde_task_max_rows(t, wide, 3, 0), 2048); /* 4M / (2 x 1024) */
        assert_int_equal(dk_pde_task_max_rows(t, wide, 3, 1), 16384);
        dk_pde_task_destroy(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jet_forward_matches_finite_differences),
        cmocka_unit_test(test_jet_backward_matches_finite_differences),
        cmocka_unit_test(test_poisson_loss_matches_residual_from_finite_differences),
        cmocka_unit_test(test_loss_gradients_match_finite_differences),
        cmocka_unit_test(test_rank_split_and_chunks_change_only_rounding),
        cmocka_unit_test(test_evaluation_matches_direct_computation),
        cmocka_unit_test(test_float32_evaluation_scores_the_stored_points),
        cmocka_unit_test(test_relative_error_needs_a_nonzero_solution),
        cmocka_unit_test(test_too_few_points_for_the_ranks_is_an_error),
        cmocka_unit_test(test_chunk_rows_cpu_and_gpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

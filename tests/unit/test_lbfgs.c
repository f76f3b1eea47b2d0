/* L-BFGS against closed forms: the minimiser of a convex quadratic solved independently by
 * LAPACK (dposv), the all-ones minimiser of Rosenbrock, a quadratic whose L-BFGS iterates are
 * worked out by hand, and the strong Wolfe conditions re-checked at every accepted point with
 * an independent evaluation of the objective. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "rosenbrock.h"
#include "test_asserts.h"
#include <lapacke.h>

#include "common/dk_rng.h"
#include "optim/dk_lbfgs.h"


/* torch.optim.LBFGS / pykan defaults, with the tolerances off. */
static const dk_lbfgs_settings defaults = {
    .history = 10, .max_evals = 25, .c1 = 1e-4, .c2 = 0.9, .tolerance_grad = 0.0,
    .tolerance_change = 0.0};

enum { TEST_STREAM = 77 }; /* test-only random stream */

static double max_abs(size_t n, const double *a)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* ---- objectives ------------------------------------------------------------------------ */

/* f = 1/2 x'Ax - b'x, g = Ax - b, minimiser x_star. Records the first point evaluated since
 * `first_seen` was cleared, to check the first trial step. */
enum { QN = 20 };
typedef struct quadratic {
    size_t n;
    double a[QN * QN], b[QN], x_star[QN];
    long calls;
    int first_seen;
    double first_x[QN];
} quadratic;

static dk_err quadratic_objective(void *ctx, const double *x, double *f, double *g)
{
    quadratic *q = ctx;
    double fx = 0.0;
    for (size_t i = 0; i < q->n; i++) {
        double ax = 0.0;
        for (size_t j = 0; j < q->n; j++)
            ax += q->a[i * q->n + j] * x[j];
        g[i] = ax - q->b[i];
        fx += x[i] * (0.5 * ax - q->b[i]);
    }
    *f = fx;
    if (!q->first_seen) {
        memcpy(q->first_x, x, q->n * sizeof *x);
        q->first_seen = 1;
    }
    q->calls++;
    return DK_OK;
}

/* x* = A^{-1} b by Cholesky (LAPACK dposv), independent of the optimiser. */
static void quadratic_solution(const quadratic *q, double *x_star)
{
    double a[QN * QN];
    memcpy(a, q->a, sizeof a);
    memcpy(x_star, q->b, q->n * sizeof *x_star);
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)q->n, 1, a,
                                    (lapack_int)q->n, x_star, 1);
    assert_int_equal(info, 0);
}

/* A = Q diag(lambda) Q' with Q from modified Gram-Schmidt (applied twice) on uniform random
 * vectors and lambda log-spaced over [1, 1e3] (condition number 1e3); b uniform in [-1, 1);
 * x_star from quadratic_solution. */
static void quadratic_build(quadratic *q, uint64_t seed)
{
    const size_t n = QN;
    memset(q, 0, sizeof *q);
    q->n = n;
    double basis[QN][QN];
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < n; i++)
            basis[k][i] = 2.0 * dk_rng_uniform(seed, TEST_STREAM, k * n + i) - 1.0;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t j = 0; j < k; j++) {
                double p = 0.0;
                for (size_t i = 0; i < n; i++)
                    p += basis[j][i] * basis[k][i];
                for (size_t i = 0; i < n; i++)
                    basis[k][i] -= p * basis[j][i];
            }
            double norm = 0.0;
            for (size_t i = 0; i < n; i++)
                norm += basis[k][i] * basis[k][i];
            norm = sqrt(norm);
            for (size_t i = 0; i < n; i++)
                basis[k][i] /= norm;
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double aij = 0.0;
            for (size_t k = 0; k < n; k++)
                aij += basis[k][i] * pow(10.0, 3.0 * (double)k / (double)(n - 1)) * basis[k][j];
            q->a[i * n + j] = aij;
        }
    /* exact symmetry, as a real Hessian has */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            q->a[i * n + j] = q->a[j * n + i];
    for (size_t i = 0; i < n; i++)
        q->b[i] = 2.0 * dk_rng_uniform(seed, TEST_STREAM, n * n + i) - 1.0;
    quadratic_solution(q, q->x_star);
}

/* Chained Rosenbrock f = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, minimum 0 at all ones;
 * optionally +inf (with an +inf gradient) outside the ball |x| <= radius. */
typedef struct rosenbrock {
    double radius; /* 0: no wall */
    long calls, infinite;
} rosenbrock;

static dk_err rosenbrock_objective_n(void *ctx, const double *x, double *f, double *g,
                                     size_t n)
{
    rosenbrock *r = ctx;
    r->calls++;
    if (r->radius > 0.0) {
        double norm2 = 0.0;
        for (size_t i = 0; i < n; i++)
            norm2 += x[i] * x[i];
        if (norm2 > r->radius * r->radius) {
            r->infinite++;
            *f = INFINITY;
            for (size_t i = 0; i < n; i++)
                g[i] = INFINITY;
            return DK_OK;
        }
    }
    *f = rosenbrock_value_grad(n, x, g);
    return DK_OK;
}

static dk_err rosenbrock2(void *ctx, const double *x, double *f, double *g)
{
    return rosenbrock_objective_n(ctx, x, f, g, 2);
}

static dk_err rosenbrock10(void *ctx, const double *x, double *f, double *g)
{
    return rosenbrock_objective_n(ctx, x, f, g, 10);
}

/* f = 1/2 |x|^2. */
static dk_err half_norm2(void *ctx, const double *x, double *f, double *g)
{
    const size_t n = *(const size_t *)ctx;
    double fx = 0.0;
    for (size_t i = 0; i < n; i++) {
        fx += 0.5 * x[i] * x[i];
        g[i] = x[i];
    }
    *f = fx;
    return DK_OK;
}

/* f = |x|^2 with the gradient's sign flipped: -g is an ascent direction, so no step decreases f. */
static dk_err lying_gradient(void *ctx, const double *x, double *f, double *g)
{
    const size_t n = *(const size_t *)ctx;
    double fx = 0.0;
    for (size_t i = 0; i < n; i++) {
        fx += x[i] * x[i];
        g[i] = -2.0 * x[i];
    }
    *f = fx;
    return DK_OK;
}

typedef struct failing {
    int calls, fail_at;
} failing;

static dk_err failing_objective(void *ctx, const double *x, double *f, double *g)
{
    failing *fo = ctx;
    if (++fo->calls == fo->fail_at)
        DK_ERROR(DK_ERR_NUMERIC, "test objective: call %d failed", fo->calls);
    *f = 0.5 * (x[0] * x[0] + 4.0 * x[1] * x[1]);
    g[0] = x[0];
    g[1] = 4.0 * x[1];
    return DK_OK;
}

/* ---- the strong Wolfe check -------------------------------------------------------------- */

/* Checks an accepted step from (x_old, f_old, g_old) to (x_new, f_new, g_new):
 *  - f_new and g_new are the objective at x_new (independent evaluation, bitwise),
 *  - the report's g.d matches d = (x_new - x_old) / t,
 *  - sufficient decrease f_new <= f_old + c1 t g.d (exactly as the optimiser computes it),
 *  - curvature |g_new.d| <= c2 |g.d|.
 * Reconstructing d from x costs up to one rounding of x per element, |d_i error| <=
 * eps (|x_old_i| + |x_new_i|) / t, which bounds the slack allowed in the dot products. */
static void check_strong_wolfe(size_t n, dk_lbfgs_objective objective, void *ctx,
                               const dk_lbfgs_settings *s, const dk_lbfgs_report *rep,
                               const double *x_old, double f_old, const double *g_old,
                               const double *x_new, double f_new, const double *g_new)
{
    double f_ind = 0.0, g_ind[QN];
    assert_true(n <= QN);
    assert_int_equal(objective(ctx, x_new, &f_ind, g_ind), DK_OK);
    assert_memory_equal(&f_ind, &f_new, sizeof f_new);
    assert_memory_equal(g_ind, g_new, n * sizeof *g_new);

    const double t = rep->step;
    assert_true(t > 0.0);
    double gd = 0.0, gnd = 0.0, slack_gd = 0.0, slack_gnd = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double di = (x_new[i] - x_old[i]) / t;
        const double err = 4.0 * 0x1p-52 * (fabs(x_old[i]) + fabs(x_new[i])) / t +
                           4.0 * 0x1p-52 * fabs(di);
        gd += g_old[i] * di;
        gnd += g_ind[i] * di;
        slack_gd += fabs(g_old[i]) * (err + 0x1p-52 * n * fabs(di));
        slack_gnd += fabs(g_ind[i]) * (err + 0x1p-52 * n * fabs(di));
    }
    assert_true(rep->directional < 0.0);
    assert_close_abs(gd, rep->directional, slack_gd);
    assert_true(f_new <= f_old + s->c1 * t * rep->directional);
    if (!(fabs(gnd) <= s->c2 * fabs(rep->directional) + slack_gnd))
        fail_msg("curvature: |g_new.d| = %.6g > c2 |g.d| = %.6g", fabs(gnd),
                 s->c2 * fabs(rep->directional));
}

/* One step on the quadratic q from (x, f, g), updated in place: it must make progress, and
 * the accepted point must satisfy the strong Wolfe conditions. Returns the step's report. */
static dk_lbfgs_report wolfe_checked_step(dk_lbfgs *lb, quadratic *q, const dk_lbfgs_settings *s, double *x,
                                          double *f, double *g)
{
    double x_old[QN], g_old[QN];
    const double f_old = *f;
    memcpy(x_old, x, sizeof x_old);
    memcpy(g_old, g, sizeof g_old);
    dk_lbfgs_report rep;
    assert_int_equal(dk_lbfgs_step(lb, x, f, g, quadratic_objective, q, &rep), DK_OK);
    assert_int_equal(rep.status, DK_LBFGS_PROGRESS);
    check_strong_wolfe(QN, quadratic_objective, q, s, &rep, x_old, f_old, g_old, x, *f, g);
    return rep;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* With exact line searches on a quadratic, L-BFGS directions are parallel to conjugate-gradient
 * directions whatever gamma is (g_k is orthogonal to all earlier s_i, so the first loop leaves
 * q = -g_k and the second adds only the newest s), so it terminates in at most n iterations.
 * Cubic interpolation is exact on a quadratic and c2 = 1e-6 makes the search (nearly) exact. A
 * wrong sign, index or scaling in the two-loop recursion loses conjugacy, and with condition
 * number 1e3 the error would then shrink only by about (sqrt(k)-1)/(sqrt(k)+1) = 0.94 per step
 * (the loop order does not matter here, since only the newest pair acts: the dense-update test
 * below covers it). This run takes n = 20 iterations, the last one from 3e-4 to 6e-11. */
static void test_quadratic_terminates_in_n_plus_one_iterations(void **state)
{
    (void)state;
    quadratic q;
    quadratic_build(&q, 2024);

    dk_lbfgs_settings s = defaults;
    s.history = QN;
    s.c2 = 1e-6;
    s.c1 = 1e-7;
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, QN, &s), DK_OK);
    double x[QN] = {0}, g[QN], f;
    assert_int_equal(quadratic_objective(&q, x, &f, g), DK_OK);
    const double g0 = max_abs(QN, g);
    int iterations = 0;
    while (max_abs(QN, g) > 1e-9 * g0 && iterations < QN + 1) {
        wolfe_checked_step(lb, &q, &s, x, &f, g);
        iterations++;
    }
    assert_true(max_abs(QN, g) <= 1e-9 * g0);
    assert_true(iterations <= QN + 1);
    for (size_t i = 0; i < QN; i++)
        assert_close_abs(x[i], q.x_star[i], 1e-8 * max_abs(QN, q.x_star));
    dk_lbfgs_destroy(&lb);
    assert_null(lb);
}

/* A quadratic with torch's settings (history 10 < n, c2 = 0.9): no finite termination, but
 * every step must satisfy both strong Wolfe conditions, and it converges (torch.optim.LBFGS
 * needs 160 iterations here). The smallest eigenvalue of A is 1, so |x - x*| <= |g|. A
 * relative gradient much below 1e-8 is out of reach in float64: the decrease a step could
 * still make is then at the rounding level of f. */
static void test_every_step_satisfies_strong_wolfe(void **state)
{
    (void)state;
    quadratic q;
    quadratic_build(&q, 99);
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, QN, &defaults), DK_OK);
    double x[QN], g[QN], f;
    for (size_t i = 0; i < QN; i++)
        x[i] = 3.0 * cos((double)i);
    assert_int_equal(quadratic_objective(&q, x, &f, g), DK_OK);
    const double g0 = max_abs(QN, g);
    int iterations = 0;
    while (max_abs(QN, g) > 1e-8 * g0) {
        assert_true(iterations < 250);
        const dk_lbfgs_report rep = wolfe_checked_step(lb, &q, &defaults, x, &f, g);
        assert_true(rep.evals >= 1 && rep.evals <= defaults.max_evals);
        iterations++;
    }
    double g_norm = 0.0;
    for (size_t i = 0; i < QN; i++)
        g_norm += g[i] * g[i];
    for (size_t i = 0; i < QN; i++)
        assert_close_abs(x[i], q.x_star[i], sqrt(g_norm));
    dk_lbfgs_destroy(&lb);
}

/* The two-loop recursion against the BFGS update it factorises, in dense form
 * (Nocedal & Wright eq. 6.17 and 7.19), applied to the newest `history` pairs oldest first:
 *   H <- (I - rho s y') H (I - rho y s') + rho s s',  rho = 1 / y's,  from H0 = gamma I,
 *   gamma = s'y / y'y of the newest pair; then d = -H g.
 * The quadratic with c2 = 0.9 makes the line searches inexact, so every stored pair shapes d
 * (with exact searches only the newest would, and a wrong loop order would go unnoticed).
 * With history pairs stored the first trial is t = 1, so the first point the objective sees
 * in a step is x + d. */
static void test_direction_matches_dense_bfgs_update(void **state)
{
    (void)state;
    enum { M = 4, STEPS = 9 };
    quadratic q;
    quadratic_build(&q, 31);
    dk_lbfgs_settings set = defaults;
    set.history = M;
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, QN, &set), DK_OK);
    static double xs[STEPS + 1][QN], gs[STEPS + 1][QN];
    double f;
    for (size_t i = 0; i < QN; i++)
        xs[0][i] = sin(1.0 + (double)i);
    assert_int_equal(quadratic_objective(&q, xs[0], &f, gs[0]), DK_OK);
    double x[QN], g[QN];
    memcpy(x, xs[0], sizeof x);
    memcpy(g, gs[0], sizeof g);
    dk_lbfgs_report rep;
    for (int k = 1; k <= STEPS; k++) {
        q.first_seen = 0;
        assert_int_equal(dk_lbfgs_step(lb, x, &f, g, quadratic_objective, &q, &rep), DK_OK);
        assert_int_equal(rep.status, DK_LBFGS_PROGRESS);
        memcpy(xs[k], x, sizeof x);
        memcpy(gs[k], g, sizeof g);
    }
    assert_int_equal(dk_lbfgs_pairs(lb), M);
    q.first_seen = 0;
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, quadratic_objective, &q, &rep), DK_OK);

    static double h[QN][QN];
    double sv[QN], yv[QN], hy[QN];
    {
        double sy = 0.0, yy = 0.0;
        for (size_t i = 0; i < QN; i++) {
            const double si = xs[STEPS][i] - xs[STEPS - 1][i], yi = gs[STEPS][i] - gs[STEPS - 1][i];
            sy += si * yi;
            yy += yi * yi;
        }
        for (size_t i = 0; i < QN; i++)
            for (size_t j = 0; j < QN; j++)
                h[i][j] = i == j ? sy / yy : 0.0;
    }
    for (int k = STEPS - M; k < STEPS; k++) {
        double sy = 0.0;
        for (size_t i = 0; i < QN; i++) {
            sv[i] = xs[k + 1][i] - xs[k][i];
            yv[i] = gs[k + 1][i] - gs[k][i];
            sy += sv[i] * yv[i];
        }
        const double rho = 1.0 / sy;
        double yhy = 0.0;
        for (size_t i = 0; i < QN; i++) {
            hy[i] = 0.0;
            for (size_t j = 0; j < QN; j++)
                hy[i] += h[i][j] * yv[j];
            yhy += yv[i] * hy[i];
        }
        for (size_t i = 0; i < QN; i++)
            for (size_t j = 0; j < QN; j++)
                h[i][j] += -rho * (hy[i] * sv[j] + sv[i] * hy[j]) +
                           (rho * rho * yhy + rho) * sv[i] * sv[j];
    }
    double d_ref[QN], d_scale = 0.0;
    for (size_t i = 0; i < QN; i++) {
        d_ref[i] = 0.0;
        for (size_t j = 0; j < QN; j++)
            d_ref[i] -= h[i][j] * gs[STEPS][j];
        d_scale = fmax(d_scale, fabs(d_ref[i]));
    }
    for (size_t i = 0; i < QN; i++)
        assert_close_abs(q.first_x[i] - xs[STEPS][i], d_ref[i], 1e-9 * d_scale);
    double gd = 0.0;
    for (size_t i = 0; i < QN; i++)
        gd += gs[STEPS][i] * d_ref[i];
    assert_close_abs(rep.directional, gd, 1e-9 * fabs(gd));
    dk_lbfgs_destroy(&lb);
}

/* Runs L-BFGS with the defaults until max|g| <= tol; returns the iterations. Checks strong
 * Wolfe at every step. */
static int run_rosenbrock(size_t n, dk_lbfgs_objective obj, rosenbrock *r, double *x,
                          int max_iterations, double tol)
{
    dk_lbfgs_settings s = defaults;
    s.tolerance_grad = tol;
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, n, &s), DK_OK);
    double g[QN], f, x_old[QN], g_old[QN];
    assert_int_equal(obj(r, x, &f, g), DK_OK);
    int iterations = 0;
    for (;;) {
        memcpy(x_old, x, n * sizeof *x);
        memcpy(g_old, g, n * sizeof *g);
        const double f_old = f;
        dk_lbfgs_report rep;
        assert_int_equal(dk_lbfgs_step(lb, x, &f, g, obj, r, &rep), DK_OK);
        if (rep.status == DK_LBFGS_CONVERGED) {
            assert_int_equal(rep.evals, 0);
            break;
        }
        assert_int_equal(rep.status, DK_LBFGS_PROGRESS);
        iterations++;
        if (rep.evals < s.max_evals)
            check_strong_wolfe(n, obj, r, &s, &rep, x_old, f_old, g_old, x, f, g);
        if (iterations > max_iterations)
            fail_msg("no convergence in %d iterations (f = %g)", max_iterations, f);
    }
    dk_lbfgs_destroy(&lb);
    return iterations;
}

static void test_rosenbrock_2d_converges_to_ones(void **state)
{
    (void)state;
    rosenbrock r = {0};
    double x[2] = {-1.2, 1.0};
    /* 38 iterations (torch.optim.LBFGS with strong_wolfe: 38) */
    const int iterations = run_rosenbrock(2, rosenbrock2, &r, x, 100, 1e-9);
    /* Hessian at the minimum has smallest eigenvalue 0.4, so |x - 1| <= 1e-9 / 0.4. */
    assert_close_abs(x[0], 1.0, 1e-8);
    assert_close_abs(x[1], 1.0, 1e-8);
    assert_true(iterations <= 100);
}

static void test_rosenbrock_10d_converges_to_ones(void **state)
{
    (void)state;
    rosenbrock r = {0};
    double x[10];
    for (int i = 0; i < 10; i++)
        x[i] = i % 2 == 0 ? -1.2 : 1.0;
    /* 87 iterations (torch.optim.LBFGS with strong_wolfe: 106) */
    run_rosenbrock(10, rosenbrock10, &r, x, 200, 1e-9);
    for (int i = 0; i < 10; i++)
        assert_close_abs(x[i], 1.0, 1e-7);
}

/* f = 2 |x - c|^2 inside |x| <= 0.5 and +inf outside, c = (1/4, 1/4). By hand from x0 = 0:
 * g0 = (-1, -1), so the first trial is t = min(1, 1/|g0|_1) = 1/2 at (1/2, 1/2), outside the
 * wall; the zoom has nothing to interpolate towards +inf and bisects to t = 1/4, which is c
 * itself (f = 0, g = 0): accepted after 2 evaluations, and the next step has converged. */
static dk_err walled_bowl(void *ctx, const double *x, double *f, double *g)
{
    long *infinite = ctx;
    if (x[0] * x[0] + x[1] * x[1] > 0.25) {
        ++*infinite;
        *f = INFINITY;
        g[0] = g[1] = NAN;
        return DK_OK;
    }
    *f = 2.0 * ((x[0] - 0.25) * (x[0] - 0.25) + (x[1] - 0.25) * (x[1] - 0.25));
    g[0] = 4.0 * (x[0] - 0.25);
    g[1] = 4.0 * (x[1] - 0.25);
    return DK_OK;
}

static void test_infinite_objective_shrinks_the_step(void **state)
{
    (void)state;
    long infinite = 0;
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, 2, &defaults), DK_OK);
    double x[2] = {0.0, 0.0}, g[2], f;
    assert_int_equal(walled_bowl(&infinite, x, &f, g), DK_OK);
    dk_lbfgs_report rep;
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, walled_bowl, &infinite, &rep), DK_OK);
    assert_int_equal(rep.status, DK_LBFGS_PROGRESS);
    assert_int_equal(rep.evals, 2);
    assert_int_equal(infinite, 1);
    assert_true(rep.step == 0.25);
    assert_true(x[0] == 0.25 && x[1] == 0.25 && f == 0.0 && g[0] == 0.0 && g[1] == 0.0);
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, walled_bowl, &infinite, &rep), DK_OK);
    assert_int_equal(rep.status, DK_LBFGS_CONVERGED);
    dk_lbfgs_destroy(&lb);

    /* Rosenbrock behind a wall at |x| = 1.42, just outside the minimiser (|(1, 1)| = 1.414):
     * from (0, 0) two trial points land outside; the run still reaches (1, 1). */
    rosenbrock r = {.radius = 1.42};
    double xr[2] = {0.0, 0.0};
    run_rosenbrock(2, rosenbrock2, &r, xr, 100, 1e-9);
    assert_true(r.infinite > 0);
    assert_close_abs(xr[0], 1.0, 1e-8);
    assert_close_abs(xr[1], 1.0, 1e-8);
}

static void test_two_runs_are_bitwise_identical(void **state)
{
    (void)state;
    double xs[2][10], fs[2], gs[2][10];
    dk_lbfgs_report reps[2][40];
    for (int run = 0; run < 2; run++) {
        rosenbrock r = {0};
        dk_lbfgs *lb = NULL;
        assert_int_equal(dk_lbfgs_create(&lb, 10, &defaults), DK_OK);
        for (int i = 0; i < 10; i++)
            xs[run][i] = 0.1 * i - 0.5;
        assert_int_equal(rosenbrock10(&r, xs[run], &fs[run], gs[run]), DK_OK);
        for (int k = 0; k < 40; k++)
            assert_int_equal(dk_lbfgs_step(lb, xs[run], &fs[run], gs[run], rosenbrock10, &r,
                                           &reps[run][k]),
                             DK_OK);
        dk_lbfgs_destroy(&lb);
    }
    assert_memory_equal(xs[0], xs[1], sizeof xs[0]);
    assert_memory_equal(&fs[0], &fs[1], sizeof fs[0]);
    assert_memory_equal(gs[0], gs[1], sizeof gs[0]);
    for (int k = 0; k < 40; k++) {
        assert_int_equal(reps[0][k].evals, reps[1][k].evals);
        assert_memory_equal(&reps[0][k].step, &reps[1][k].step, sizeof(double));
    }
}

/* f = 1/2 |x|^2 from x0 = (1, -2, 0.5, 0.5), by hand:
 *   step 1: empty history, d = -g = -x0, first trial t = min(1, 1/|g|_1) = 1/4; there
 *     g(t).d = -(3/4)|x0|^2 meets |g.d| <= 0.9 |x0|^2, so t = 1/4 is accepted after one
 *     evaluation and x1 = 3/4 x0 exactly;
 *   step 2: the pair s = y = -x0/4 gives gamma = 1 and H = I on span{x0}, so d = -g (the
 *     Newton step), t = 1 is accepted and x2 = 0;
 *   step 3: g = 0 <= tolerance_grad = 0: converged without evaluating. */
static void test_hand_worked_steps_on_a_sphere(void **state)
{
    (void)state;
    size_t n = 4;
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, n, &defaults), DK_OK);
    double x[4] = {1.0, -2.0, 0.5, 0.5}, g[4], f;
    const double x0[4] = {1.0, -2.0, 0.5, 0.5};
    assert_int_equal(half_norm2(&n, x, &f, g), DK_OK);
    dk_lbfgs_report rep;

    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, half_norm2, &n, &rep), DK_OK);
    assert_int_equal(rep.status, DK_LBFGS_PROGRESS);
    assert_int_equal(rep.evals, 1);
    assert_true(rep.step == 0.25);
    assert_true(rep.directional == -5.5);
    for (int i = 0; i < 4; i++)
        assert_true(x[i] == 0.75 * x0[i] && g[i] == x[i]);
    assert_true(f == 0.5 * 0.5625 * 5.5);
    assert_int_equal(dk_lbfgs_pairs(lb), 1);
    captured_text out;
    dk_lbfgs_view(lb, capture_begin(&out));
    char *text = capture_end(&out);
    assert_non_null(strstr(text, "4 parameters, 1 of 10 pairs stored, 1 steps, 1 evaluations"));
    free(text);

    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, half_norm2, &n, &rep), DK_OK);
    assert_int_equal(rep.status, DK_LBFGS_PROGRESS);
    assert_int_equal(rep.evals, 1);
    assert_true(rep.step == 1.0);
    assert_close_abs(rep.directional, -0.5625 * 5.5, 1e-15);
    for (int i = 0; i < 4; i++) {
        assert_close_abs(x[i], 0.0, 1e-15);
        assert_close_abs(g[i], 0.0, 1e-15);
    }

    /* At the optimum: converged, nothing evaluated, nothing moved. */
    for (int i = 0; i < 4; i++)
        x[i] = g[i] = 0.0;
    f = 0.0;
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, half_norm2, &n, &rep), DK_OK);
    assert_int_equal(rep.status, DK_LBFGS_CONVERGED);
    assert_int_equal(rep.evals, 0);
    assert_true(rep.step == 0.0);
    for (int i = 0; i < 4; i++)
        assert_true(x[i] == 0.0);
    dk_lbfgs_destroy(&lb);
}

/* After dk_lbfgs_reset the next step is steepest descent with torch's first-step rule: the
 * first trial point is x - min(1, 1/|g|_1) g and the accepted point is x - t g. Without the
 * reset the same state takes a quasi-Newton direction (a different g.d). */
static void test_reset_forgets_the_history(void **state)
{
    (void)state;
    quadratic q;
    quadratic_build(&q, 7);
    dk_lbfgs *lb = NULL, *twin = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, QN, &defaults), DK_OK);
    assert_int_equal(dk_lbfgs_create(&twin, QN, &defaults), DK_OK);
    double x[QN] = {0}, g[QN], f, xt[QN], gt[QN], ft;
    assert_int_equal(quadratic_objective(&q, x, &f, g), DK_OK);
    dk_lbfgs_report rep;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(dk_lbfgs_step(lb, x, &f, g, quadratic_objective, &q, &rep), DK_OK);
        assert_int_equal(rep.status, DK_LBFGS_PROGRESS);
    }
    assert_int_equal(dk_lbfgs_pairs(lb), 3);

    /* the twin: same history, no reset */
    memcpy(xt, x, sizeof x);
    memcpy(gt, g, sizeof g);
    ft = f;
    double xt0[QN] = {0}, gt0[QN], ft0;
    assert_int_equal(quadratic_objective(&q, xt0, &ft0, gt0), DK_OK);
    for (int k = 0; k < 3; k++)
        assert_int_equal(dk_lbfgs_step(twin, xt0, &ft0, gt0, quadratic_objective, &q, &rep),
                         DK_OK);
    assert_memory_equal(xt0, x, sizeof x);
    dk_lbfgs_report twin_rep;
    assert_int_equal(dk_lbfgs_step(twin, xt, &ft, gt, quadratic_objective, &q, &twin_rep), DK_OK);

    dk_lbfgs_reset(lb);
    assert_int_equal(dk_lbfgs_pairs(lb), 0);
    double x_old[QN], g_old[QN], l1 = 0.0, g2 = 0.0;
    memcpy(x_old, x, sizeof x);
    memcpy(g_old, g, sizeof g);
    for (size_t i = 0; i < QN; i++) {
        l1 += fabs(g[i]);
        g2 += g[i] * g[i];
    }
    q.first_seen = 0;
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, quadratic_objective, &q, &rep), DK_OK);
    assert_int_equal(rep.status, DK_LBFGS_PROGRESS);
    const double t_first = fmin(1.0, 1.0 / l1);
    for (size_t i = 0; i < QN; i++) {
        assert_close_abs(q.first_x[i], x_old[i] - t_first * g_old[i], 1e-15);
        assert_close_abs(x[i], x_old[i] - rep.step * g_old[i], 1e-15);
    }
    assert_close_abs(rep.directional, -g2, 1e-14 * g2);
    assert_true(fabs(twin_rep.directional + g2) > 1e-3 * g2);
    assert_int_equal(dk_lbfgs_pairs(lb), 1);
    dk_lbfgs_destroy(&lb);
    dk_lbfgs_destroy(&twin);
}

/* An objective whose gradient points uphill: no trial point decreases f, so the step reports
 * no progress within the evaluation budget and leaves x, f, g exactly as they were. */
static void test_no_decrease_restores_the_start(void **state)
{
    (void)state;
    size_t n = 3;
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, n, &defaults), DK_OK);
    double x[3] = {0.3, -0.7, 1.1}, g[3], f;
    assert_int_equal(lying_gradient(&n, x, &f, g), DK_OK);
    const double x0[3] = {0.3, -0.7, 1.1};
    double g0[3], f0 = f;
    memcpy(g0, g, sizeof g);
    dk_lbfgs_report rep;
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, lying_gradient, &n, &rep), DK_OK);
    assert_int_equal(rep.status, DK_LBFGS_NO_PROGRESS);
    assert_true(rep.evals >= 1 && rep.evals <= defaults.max_evals);
    assert_true(rep.step == 0.0);
    assert_memory_equal(x, x0, sizeof x);
    assert_memory_equal(g, g0, sizeof g);
    assert_memory_equal(&f, &f0, sizeof f);
    assert_int_equal(dk_lbfgs_pairs(lb), 0);
    dk_lbfgs_destroy(&lb);
}

static void test_objective_error_propagates(void **state)
{
    (void)state;
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, 2, &defaults), DK_OK);
    failing fo = {.calls = 0, .fail_at = 0};
    double x[2] = {1.0, 1.0}, g[2], f;
    assert_int_equal(failing_objective(&fo, x, &f, g), DK_OK);
    dk_lbfgs_report rep;
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, failing_objective, &fo, &rep), DK_OK);
    const double x1[2] = {x[0], x[1]}, g1[2] = {g[0], g[1]}, f1 = f;
    fo.fail_at = fo.calls + 1;
    dk_error_clear();
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, failing_objective, &fo, &rep), DK_ERR_NUMERIC);
    assert_int_equal(dk_error_code(), DK_ERR_NUMERIC);
    assert_non_null(strstr(dk_error_message(), "test objective: call"));
    assert_non_null(strstr(dk_error_message(), "dk_lbfgs_step"));
    assert_memory_equal(x, x1, sizeof x);
    assert_memory_equal(g, g1, sizeof g);
    assert_memory_equal(&f, &f1, sizeof f);

    /* a non-finite starting point is an error, not a step */
    f = NAN;
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, failing_objective, &fo, &rep), DK_ERR_NUMERIC);
    assert_non_null(strstr(dk_error_message(), "non-finite loss"));
    dk_error_clear();
    dk_lbfgs_destroy(&lb);
}

static void test_settings_are_validated(void **state)
{
    (void)state;
    struct {
        dk_lbfgs_settings s;
        size_t n;
        const char *message;
    } bad[] = {
        {{.history = 0, .max_evals = 25, .c1 = 1e-4, .c2 = 0.9}, 5, "history = 0"},
        {{.history = 10, .max_evals = 0, .c1 = 1e-4, .c2 = 0.9}, 5, "max_evals = 0"},
        {{.history = 10, .max_evals = 25, .c1 = 0.0, .c2 = 0.9}, 5, "c1 = 0"},
        {{.history = 10, .max_evals = 25, .c1 = NAN, .c2 = 0.9}, 5, "c1 = nan"},
        {{.history = 10, .max_evals = 25, .c1 = 1e-4, .c2 = 1.0}, 5, "c2 = 1"},
        {{.history = 10, .max_evals = 25, .c1 = 0.5, .c2 = 0.4}, 5, "c1 = 0.5 must be below c2 = 0.4"},
        {{.history = 10, .max_evals = 25, .c1 = 1e-4, .c2 = 0.9, .tolerance_grad = -1.0}, 5,
         "tolerance_grad = -1"},
        {{.history = 10, .max_evals = 25, .c1 = 1e-4, .c2 = 0.9, .tolerance_change = -2.0}, 5,
         "tolerance_change = -2"},
        {{.history = 10, .max_evals = 25, .c1 = 1e-4, .c2 = 0.9}, 0, "n = 0"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        dk_lbfgs *lb = (dk_lbfgs *)&bad[k]; /* must be overwritten with NULL */
        assert_int_equal(dk_lbfgs_create(&lb, bad[k].n, &bad[k].s), DK_ERR_USAGE);
        assert_null(lb);
        if (!strstr(dk_error_message(), bad[k].message))
            fail_msg("case %zu: '%s' lacks '%s'", k, dk_error_message(), bad[k].message);
    }
    dk_error_clear();
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, 1, &defaults), DK_OK);
    dk_lbfgs_destroy(&lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quadratic_terminates_in_n_plus_one_iterations),
        cmocka_unit_test(test_every_step_satisfies_strong_wolfe),
        cmocka_unit_test(test_direction_matches_dense_bfgs_update),
        cmocka_unit_test(test_rosenbrock_2d_converges_to_ones),
        cmocka_unit_test(test_rosenbrock_10d_converges_to_ones),
        cmocka_unit_test(test_infinite_objective_shrinks_the_step),
        cmocka_unit_test(test_two_runs_are_bitwise_identical),
        cmocka_unit_test(test_hand_worked_steps_on_a_sphere),
        cmocka_unit_test(test_reset_forgets_the_history),
        cmocka_unit_test(test_no_decrease_restores_the_start),
        cmocka_unit_test(test_objective_error_propagates),
        cmocka_unit_test(test_settings_are_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

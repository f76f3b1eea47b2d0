/* The vector-operation table behind L-BFGS (optim/dk_vec_ops.h): the CPU table against
 * plain loops written here, NaN handling of max |a_i|, L-BFGS through a wrapping table
 * bitwise equal to L-BFGS on the CPU table, and every failure a table records returned by
 * the dk_lbfgs_step during which it happened. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_rng.h"
#include "optim/dk_lbfgs.h"
#include "optim/dk_vec_ops.h"

#include "rosenbrock.h"

enum { TEST_STREAM = 78 }; /* test-only random stream */

static void fill_random(double *a, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        a[i] = 2.0 * dk_rng_uniform(seed, TEST_STREAM, i) - 1.0;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_cpu_ops_match_plain_loops(void **state)
{
    (void)state;
    const dk_vec_ops *ops = dk_vec_ops_cpu();
    assert_int_equal(ops->on_device, 0);
    const size_t sizes[] = {1, 7, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const size_t n = sizes[k];
        double *a = NULL, *b = NULL, *out = NULL, *ref = NULL;
        assert_int_equal(ops->alloc(ops->ctx, n, &a, "a"), DK_OK);
        assert_int_equal(ops->alloc(ops->ctx, n, &b, "b"), DK_OK);
        assert_int_equal(ops->alloc(ops->ctx, n, &out, "out"), DK_OK);
        ref = malloc(n * sizeof *ref);
        assert_non_null(ref);
        for (size_t i = 0; i < n; i++)
            assert_true(out[i] == 0.0); /* zeroed */
        fill_random(a, n, 1 + k);
        fill_random(b, n, 100 + k);

        volatile double dot = 0.0, l1 = 0.0, mx = 0.0;
        for (size_t i = 0; i < n; i++) {
            dot = dot + a[i] * b[i];
            l1 = l1 + fabs(a[i]);
            mx = fabs(a[i]) > mx ? fabs(a[i]) : mx;
        }
        /* Within rounding of a sequential sum (a build with contraction could fuse either). */
        assert_true(fabs(ops->dot(ops->ctx, n, a, b) - dot) <= 1e-15 * (double)n);
        assert_true(fabs(ops->sum_abs(ops->ctx, n, a) - l1) <= 1e-15 * (double)n * l1);
        assert_true(same_bits(ops->max_abs(ops->ctx, n, a), mx));
        double st[4];
        ops->pair_stats(ops->ctx, n, a, b, st); /* s = a, y = b */
        assert_true(same_bits(st[0], ops->dot(ops->ctx, n, b, a)));
        assert_true(same_bits(st[1], ops->dot(ops->ctx, n, a, a)));
        assert_true(same_bits(st[2], ops->dot(ops->ctx, n, b, b)));
        assert_true(same_bits(st[3], ops->max_abs(ops->ctx, n, a)));

        ops->line(ops->ctx, n, a, 0.375, b, out); /* 0.375 b is exact: no contraction doubt */
        for (size_t i = 0; i < n; i++)
            assert_true(same_bits(out[i], a[i] + 0.375 * b[i]));
        ops->sub(ops->ctx, n, a, b, out);
        for (size_t i = 0; i < n; i++)
            assert_true(same_bits(out[i], a[i] - b[i]));
        ops->negate(ops->ctx, n, a, out);
        for (size_t i = 0; i < n; i++)
            assert_true(same_bits(out[i], -a[i]));
        ops->copy(ops->ctx, n, b, out);
        assert_memory_equal(out, b, n * sizeof *b);
        ops->scale(ops->ctx, n, -3.0, out);
        for (size_t i = 0; i < n; i++)
            assert_true(same_bits(out[i], -3.0 * b[i]));
        memcpy(ref, out, n * sizeof *ref);
        ops->axpy(ops->ctx, n, 0.5, a, out);
        for (size_t i = 0; i < n; i++)
            assert_true(same_bits(out[i], ref[i] + 0.5 * a[i]));

        /* The forms with scalars in the table's memory: bitwise the host forms, fed the
         * scalar the host would have computed. */
        double *sc = NULL;
        assert_int_equal(ops->alloc(ops->ctx, 2, &sc, "scalars"), DK_OK);
        ops->dot_into(ops->ctx, n, a, b, 0.3, &sc[0]);
        assert_true(same_bits(sc[0], 0.3 * ops->dot(ops->ctx, n, a, b)));
        ops->dot_into(ops->ctx, n, b, b, 1.7, &sc[1]);
        memcpy(ref, out, n * sizeof *ref);
        ops->axpy_by(ops->ctx, n, &sc[0], NULL, b, out);
        ops->axpy(ops->ctx, n, -sc[0], b, ref);
        assert_memory_equal(out, ref, n * sizeof *ref);
        ops->axpy_by(ops->ctx, n, &sc[0], &sc[1], a, out);
        ops->axpy(ops->ctx, n, sc[0] - sc[1], a, ref);
        assert_memory_equal(out, ref, n * sizeof *ref);
        ops->scale_by_inverse(ops->ctx, n, &sc[1], out);
        ops->scale(ops->ctx, n, 1.0 / sc[1], ref);
        assert_memory_equal(out, ref, n * sizeof *ref);
        ops->release(ops->ctx, sc);
        free(ref);
        ops->release(ops->ctx, a);
        ops->release(ops->ctx, b);
        ops->release(ops->ctx, out);
    }
}

/* The loop L-BFGS had before the table reset its running maximum after a NaN, so a NaN
 * anywhere but in the last element was lost and a NaN gradient passed the start check. */
static void test_max_abs_nan_anywhere_wins(void **state)
{
    (void)state;
    const dk_vec_ops *ops = dk_vec_ops_cpu();
    double a[5] = {1.0, -4.0, 2.0, 0.5, -3.0};
    assert_true(ops->max_abs(ops->ctx, 5, a) == 4.0);
    for (int at = 0; at < 5; at++) {
        double b[5];
        memcpy(b, a, sizeof b);
        b[at] = NAN;
        assert_true(isnan(ops->max_abs(ops->ctx, 5, b)));
        double st[4]; /* the fused max of pair_stats too */
        ops->pair_stats(ops->ctx, 5, b, a, st);
        assert_true(isnan(st[3]));
    }
    a[2] = -INFINITY;
    assert_true(ops->max_abs(ops->ctx, 5, a) == INFINITY);
    assert_true(ops->max_abs(ops->ctx, 0, a) == 0.0);
}

static dk_err quadratic2(void *ctx, const double *x, double *f, double *g)
{
    (void)ctx;
    *f = 0.5 * (x[0] * x[0] + 10.0 * x[1] * x[1]);
    g[0] = x[0];
    g[1] = 10.0 * x[1];
    return DK_OK;
}

static const dk_lbfgs_settings defaults = {
    .history = 5, .max_evals = 25, .c1 = 1e-4, .c2 = 0.9, .tolerance_grad = 0.0, .tolerance_change = 0.0};

static void test_nan_in_gradient_is_an_error_at_the_start(void **state)
{
    (void)state;
    dk_lbfgs *lb = NULL;
    assert_int_equal(dk_lbfgs_create(&lb, 2, &defaults), DK_OK);
    double x[2] = {1.0, 1.0}, g[2] = {NAN, 1.0}, f = 1.0;
    dk_lbfgs_report rep;
    assert_int_equal(dk_lbfgs_step(lb, x, &f, g, quadratic2, NULL, &rep), DK_ERR_NUMERIC);
    dk_error_clear();
    dk_lbfgs_destroy(&lb);
}

/* ---- a wrapping table: the CPU operations, counted, optionally failing ---------------- */

typedef struct wrapped {
    const dk_vec_ops *cpu;
    long calls;       /* operations so far */
    long fail_at;     /* the operation (1-based) that fails; 0: none */
    dk_err recorded;  /* pending failure, as a device table records it */
    int failed;       /* a failure happened since the flag was cleared */
    long live;        /* allocations not released */
} wrapped;

/* Counts the call and fails it when its number comes up; a failed reduction is NaN and a
 * failed elementwise operation leaves its output unwritten. */
static int fails(wrapped *w)
{
    w->calls++;
    if (w->calls != w->fail_at)
        return 0;
    if (w->recorded == DK_OK)
        w->recorded = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__, "injected failure of operation %ld",
                                   w->calls);
    w->failed = 1;
    return 1;
}

static dk_err w_alloc(void *ctx, size_t n, double **out, const char *what)
{
    wrapped *w = ctx;
    if (fails(w)) {
        *out = NULL;
        w->recorded = DK_OK;
        DK_ERROR(DK_ERR_MEMORY, "%s: injected allocation failure", what);
    }
    DK_CALL(w->cpu->alloc(w->cpu->ctx, n, out, what));
    w->live++;
    return DK_OK;
}
static void w_release(void *ctx, double *p)
{
    wrapped *w = ctx;
    if (p)
        w->live--;
    w->cpu->release(w->cpu->ctx, p);
}
static double w_dot(void *ctx, size_t n, const double *a, const double *b)
{
    wrapped *w = ctx;
    return fails(w) ? NAN : w->cpu->dot(w->cpu->ctx, n, a, b);
}
static double w_sum_abs(void *ctx, size_t n, const double *a)
{
    wrapped *w = ctx;
    return fails(w) ? NAN : w->cpu->sum_abs(w->cpu->ctx, n, a);
}
static double w_max_abs(void *ctx, size_t n, const double *a)
{
    wrapped *w = ctx;
    return fails(w) ? NAN : w->cpu->max_abs(w->cpu->ctx, n, a);
}
static void w_pair_stats(void *ctx, size_t n, const double *s, const double *y, double out[4])
{
    wrapped *w = ctx;
    if (fails(w))
        out[0] = out[1] = out[2] = out[3] = NAN;
    else
        w->cpu->pair_stats(w->cpu->ctx, n, s, y, out);
}
static void w_copy(void *ctx, size_t n, const double *s, double *d)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->copy(w->cpu->ctx, n, s, d);
}
static void w_negate(void *ctx, size_t n, const double *s, double *d)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->negate(w->cpu->ctx, n, s, d);
}
static void w_scale(void *ctx, size_t n, double a, double *x)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->scale(w->cpu->ctx, n, a, x);
}
static void w_axpy(void *ctx, size_t n, double a, const double *x, double *y)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->axpy(w->cpu->ctx, n, a, x, y);
}
static void w_line(void *ctx, size_t n, const double *x, double t, const double *d, double *out)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->line(w->cpu->ctx, n, x, t, d, out);
}
static void w_sub(void *ctx, size_t n, const double *a, const double *b, double *out)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->sub(w->cpu->ctx, n, a, b, out);
}
static void w_dot_into(void *ctx, size_t n, const double *x, const double *y, double f, double *out)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->dot_into(w->cpu->ctx, n, x, y, f, out);
}
static void w_axpy_by(void *ctx, size_t n, const double *a, const double *b, const double *x, double *y)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->axpy_by(w->cpu->ctx, n, a, b, x, y);
}
static void w_scale_by_inverse(void *ctx, size_t n, const double *a, double *x)
{
    wrapped *w = ctx;
    if (!fails(w))
        w->cpu->scale_by_inverse(w->cpu->ctx, n, a, x);
}
static dk_err w_error(void *ctx)
{
    wrapped *w = ctx;
    dk_err e = w->recorded;
    w->recorded = DK_OK;
    return e;
}

static dk_vec_ops wrapped_ops(wrapped *w)
{
    return (dk_vec_ops){.ctx = w, .on_device = 0, .alloc = w_alloc, .release = w_release, .dot = w_dot,
                        .sum_abs = w_sum_abs, .max_abs = w_max_abs, .pair_stats = w_pair_stats, .copy = w_copy,
                        .negate = w_negate,
                        .scale = w_scale, .axpy = w_axpy, .line = w_line, .sub = w_sub, .dot_into = w_dot_into,
                        .axpy_by = w_axpy_by, .scale_by_inverse = w_scale_by_inverse, .error = w_error};
}

/* Rosenbrock in N dimensions: a curved valley, so the run exercises bracketing, zoom and
 * skipped pairs, not only unit steps. */
enum { RN = 6 };
static dk_err rosenbrock(void *ctx, const double *x, double *f, double *g)
{
    (void)ctx;
    *f = rosenbrock_value_grad(RN, x, g);
    return DK_OK;
}

static void rosenbrock_start(double *x, double *f, double *g)
{
    for (size_t i = 0; i < RN; i++)
        x[i] = i % 2 ? 1.0 : -1.2;
    rosenbrock(NULL, x, f, g);
}

static void test_lbfgs_through_a_table_is_bitwise_the_cpu_run(void **state)
{
    (void)state;
    enum { STEPS = 60 };
    dk_lbfgs *ref = NULL, *lb = NULL;
    wrapped w = {.cpu = dk_vec_ops_cpu()};
    const dk_vec_ops ops = wrapped_ops(&w);
    assert_int_equal(dk_lbfgs_create(&ref, RN, &defaults), DK_OK);
    assert_int_equal(dk_lbfgs_create_ops(&lb, RN, &defaults, &ops), DK_OK);
    double xr[RN], gr[RN], fr, x[RN], g[RN], f;
    rosenbrock_start(xr, &fr, gr);
    rosenbrock_start(x, &f, g);
    for (int k = 0; k < STEPS; k++) {
        dk_lbfgs_report rr, r;
        assert_int_equal(dk_lbfgs_step(ref, xr, &fr, gr, rosenbrock, NULL, &rr), DK_OK);
        assert_int_equal(dk_lbfgs_step(lb, x, &f, g, rosenbrock, NULL, &r), DK_OK);
        assert_memory_equal(x, xr, sizeof x);
        assert_memory_equal(g, gr, sizeof g);
        assert_true(same_bits(f, fr));
        assert_int_equal(r.status, rr.status);
        assert_int_equal(r.evals, rr.evals);
        if (rr.status != DK_LBFGS_PROGRESS)
            break;
    }
    assert_true(fr < 1e-12); /* it did solve the problem */
    dk_lbfgs_state a, b;
    dk_lbfgs_state_view(ref, &a);
    dk_lbfgs_state_view(lb, &b);
    assert_int_equal(a.count, b.count);
    assert_memory_equal(a.s, b.s, (size_t)a.history * a.stride * sizeof(double));
    assert_memory_equal(a.y, b.y, (size_t)a.history * a.stride * sizeof(double));
    assert_memory_equal(a.rho, b.rho, (size_t)a.history * sizeof(double));
    assert_true(w.calls > 0);
    dk_lbfgs_destroy(&lb);
    dk_lbfgs_destroy(&ref);
    assert_int_equal(w.live, 0);
}

/* Fail operation k for every k a short run performs: the step during which an operation
 * failed must return the recorded error, never DK_OK with a NaN-driven decision. */
static void test_every_table_failure_is_returned(void **state)
{
    (void)state;
    enum { STEPS = 12 };
    long total = 0;
    {
        wrapped w = {.cpu = dk_vec_ops_cpu()};
        const dk_vec_ops ops = wrapped_ops(&w);
        dk_lbfgs *lb = NULL;
        assert_int_equal(dk_lbfgs_create_ops(&lb, RN, &defaults, &ops), DK_OK);
        double x[RN], g[RN], f;
        rosenbrock_start(x, &f, g);
        for (int k = 0; k < STEPS; k++) {
            dk_lbfgs_report r;
            assert_int_equal(dk_lbfgs_step(lb, x, &f, g, rosenbrock, NULL, &r), DK_OK);
        }
        total = w.calls;
        dk_lbfgs_destroy(&lb);
    }
    assert_true(total > 50);
    for (long fail_at = 1; fail_at <= total; fail_at++) {
        wrapped w = {.cpu = dk_vec_ops_cpu(), .fail_at = fail_at};
        const dk_vec_ops ops = wrapped_ops(&w);
        dk_lbfgs *lb = NULL;
        dk_err err = dk_lbfgs_create_ops(&lb, RN, &defaults, &ops);
        if (fail_at <= 2) { /* the two allocations: vectors, two-loop scalars */
            assert_int_equal(err, DK_ERR_MEMORY);
            assert_null(lb);
            assert_int_equal(w.live, 0);
            dk_error_clear();
            continue;
        }
        assert_int_equal(err, DK_OK);
        double x[RN], g[RN], f;
        rosenbrock_start(x, &f, g);
        int returned = 0;
        for (int k = 0; k < STEPS && !returned; k++) {
            dk_lbfgs_report r;
            err = dk_lbfgs_step(lb, x, &f, g, rosenbrock, NULL, &r);
            if (w.failed) {
                if (err != DK_ERR_INTERNAL)
                    fail_msg("operation %ld failed in step %d, which returned %d", fail_at, k, err);
                assert_non_null(strstr(dk_error_message(), "injected failure"));
                returned = 1;
            } else {
                assert_int_equal(err, DK_OK);
            }
        }
        assert_true(returned);
        dk_error_clear();
        dk_lbfgs_destroy(&lb);
        assert_int_equal(w.live, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_ops_match_plain_loops),
        cmocka_unit_test(test_max_abs_nan_anywhere_wins),
        cmocka_unit_test(test_nan_in_gradient_is_an_error_at_the_start),
        cmocka_unit_test(test_lbfgs_through_a_table_is_bitwise_the_cpu_run),
        cmocka_unit_test(test_every_table_failure_is_returned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The GPU optimiser and loss arithmetic against the CPU code, on random data in float64 and
 * float32 at n = 1, 1000 and 10^6 + 7:
 *   Adam: five steps of dk_adam_cuda_step against dk_adam_step, each from the same state:
 *     parameters and moments within the forward error bound of the update's formulas
 *     (NOT asserted bitwise: the kernel fuses three multiply-adds that the CPU loop,
 *     built without contraction, rounds twice; the test prints how many values differ);
 *   conversions, gradient accumulation and averaging, scalar stores: bitwise;
 *   the device dk_vec_ops: elementwise operations bitwise against explicit fma/plain
 *     references, reductions within 1e-12 of the CPU table (different summation order);
 *   dk_lbfgs with the device table against dk_lbfgs with the CPU table on a quadratic and
 *     on Rosenbrock: iterates agree to 1e-10;
 *   losses: derivatives bitwise against the CPU formulas (dk_fit_task_loss, interior_chunk),
 *     sums within 1e-12, max |u - u*| bitwise, NaN winning;
 *   every reduction run twice gives the same bits.
 * Exits 77 (skipped) when no CUDA device is visible. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_cuda.h"
#include "common/dk_dtype.h"
#include "common/dk_rng.h"
#include "optim/dk_adam.h"
#include "optim/dk_adam_cuda.h"
#include "optim/dk_lbfgs.h"
#include "optim/dk_vec_cuda.h"
#include "optim/dk_vec_ops.h"
#include "tasks/dk_loss_cuda.h"

#include "../unit/rosenbrock.h"

enum { TEST_STREAM = 91 };
static void *stream;
static const size_t sizes[] = {1, 1000, 1000007};
#define N_SIZES (sizeof sizes / sizeof *sizes)

#define CHECK(expr) assert_int_equal((expr), DK_OK)

static double uniform(uint64_t seed, size_t i, double lo, double hi)
{
    return lo + (hi - lo) * dk_rng_uniform(seed, TEST_STREAM, i);
}

static void *host_random(dk_dtype dt, size_t n, uint64_t seed, double lo, double hi)
{
    void *p = malloc(n * dk_dtype_size(dt) + 8);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        dk_store(dt, p, i, uniform(seed, i, lo, hi));
    return p;
}

static void *to_device(const void *host, size_t bytes)
{
    void *d = NULL;
    CHECK(dk_cuda_malloc(&d, bytes ? bytes : 1, "test buffer"));
    CHECK(dk_cuda_to_device(d, host, bytes, stream));
    return d;
}

static void *from_device(const void *dev, size_t bytes)
{
    void *h = malloc(bytes ? bytes : 1);
    assert_non_null(h);
    CHECK(dk_cuda_to_host(h, dev, bytes, stream));
    return h;
}

/* Elements whose bits differ, with the largest distance in units in the last place. */
static size_t count_bit_differences(dk_dtype dt, const void *a, const void *b, size_t n, int64_t *max_ulp)
{
    size_t diff = 0;
    *max_ulp = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ia, ib;
        if (dt == DK_F64) {
            memcpy(&ia, (const double *)a + i, 8);
            memcpy(&ib, (const double *)b + i, 8);
        } else {
            int32_t x, y;
            memcpy(&x, (const float *)a + i, 4);
            memcpy(&y, (const float *)b + i, 4);
            ia = x, ib = y;
        }
        if (ia != ib) {
            diff++;
            int64_t u = ia > ib ? ia - ib : ib - ia;
            if (u > *max_ulp)
                *max_ulp = u;
        }
    }
    return diff;
}

static void assert_bitwise(dk_dtype dt, const void *got, const void *want, size_t n, const char *what)
{
    int64_t ulp;
    size_t d = count_bit_differences(dt, got, want, n, &ulp);
    if (d)
        fail_msg("%s (%s, n = %zu): %zu elements differ, up to %lld ulp", what, dk_dtype_name(dt), n, d,
                 (long long)ulp);
}

/* One Adam update on the GPU against the CPU's, element by element, within the forward error
 * bound of its formulas: each side rounds each result a few times (at most 4 u of the
 * magnitude of the terms it sums), so the two differ by at most 8 u of it,
 *   m = b1 m0 + c1 g',  v = b2 v0 + c2 g'^2,  p = p0 - step m / (sqrt(v) inv_sqrt_bc2 + eps),
 * with g' = g + wd p0 (the CPU's products and the GPU's fused multiply-adds round
 * differently). A count of ulps of the result would not do: p0 - update can cancel, and
 * then one rounding of the update is many ulps of p. */
static void assert_adam_close(dk_dtype dt, size_t n, const void *got_p, const void *want_p, const void *got_m,
                              const void *want_m, const void *got_v, const void *want_v, const void *p0,
                              const void *m0, const void *v0, const void *g, const dk_adam_scalars *s)
{
    const double u = dt == DK_F64 ? 0x1p-53 : 0x1p-24;
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) {
        /* gt bounds |g'| and its terms: where g and wd p0 cancel, g' carries an error of
         * order u gt, not u |g'|, and so do m and v through it. */
        const double gt = fabs(dk_load(dt, g, i)) + fabs(s->weight_decay * dk_load(dt, p0, i));
        const double mt = fabs(s->beta1 * dk_load(dt, m0, i)) + fabs(s->one_minus_beta1) * gt;
        const double vt = fabs(s->beta2 * dk_load(dt, v0, i)) + fabs(s->one_minus_beta2) * gt * gt;
        const double m = dk_load(dt, want_m, i), v = dk_load(dt, want_v, i);
        const double den = sqrt(v) * s->inv_sqrt_bc2 + s->eps;
        const double update = fabs(s->step_size * m / den), update_t = fabs(s->step_size) * mt / den;
        const double pt = fabs(dk_load(dt, p0, i)) + update + update_t;
        const struct {
            const char *what;
            double got, want, tol;
        } c[3] = {{"parameter", dk_load(dt, got_p, i), dk_load(dt, want_p, i), 8 * u * pt},
                  {"first moment", dk_load(dt, got_m, i), m, 8 * u * mt},
                  {"second moment", dk_load(dt, got_v, i), v, 8 * u * vt}};
        for (int k = 0; k < 3; k++) {
            differ += c[k].got != c[k].want;
            if (!(fabs(c[k].got - c[k].want) <= c[k].tol))
                fail_msg("Adam %s %zu (%s, n = %zu): GPU %.17g, CPU %.17g, apart %.3g > bound %.3g", c[k].what, i,
                         dk_dtype_name(dt), n, c[k].got, c[k].want, fabs(c[k].got - c[k].want), c[k].tol);
        }
    }
    if (differ)
        printf("  Adam (%s, n = %zu): %zu of %zu values not bitwise equal, all within the bound\n",
               dk_dtype_name(dt), n, differ, 3 * n);
}

static void assert_rel(double got, double want, double tol, const char *what, size_t n)
{
    if (!(fabs(got - want) <= tol * fabs(want) + 1e-300))
        fail_msg("%s (n = %zu): got %.17g, want %.17g", what, n, got, want);
}

/* ---- Adam ----------------------------------------------------------------------------- */

static void test_adam_within_rounding_of_cpu(void **state)
{
    (void)state;
    const dk_adam_settings set = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    const dk_dtype dts[] = {DK_F64, DK_F32};
    for (int di = 0; di < 2; di++)
        for (size_t si = 0; si < N_SIZES; si++) {
            const dk_dtype dt = dts[di];
            const size_t n = sizes[si], bytes = n * dk_dtype_size(dt);
            dk_adam *cpu = NULL, *gpu = NULL;
            CHECK(dk_adam_create(&cpu, dt, n, &set));
            CHECK(dk_adam_create(&gpu, dt, n, &set)); /* supplies the scalars only */
            void *p = host_random(dt, n, 1 + si, -1.0, 1.0);
            void *dp = to_device(p, bytes), *dm = NULL, *dv = NULL;
            CHECK(dk_cuda_malloc(&dm, bytes, "m"));
            CHECK(dk_cuda_malloc(&dv, bytes, "v"));
            for (int step = 0; step < 5; step++) {
                const double lr = 1e-2 / (1 + step);
                void *g = host_random(dt, n, 100 + 10 * si + step, -1e-3, 1e-3);
                void *dg = to_device(g, bytes);
                void *p0 = malloc(bytes), *m0 = malloc(bytes), *v0 = malloc(bytes);
                assert_true(p0 && m0 && v0);
                memcpy(p0, p, bytes), memcpy(m0, cpu->m, bytes), memcpy(v0, cpu->v, bytes);
                dk_adam_step(cpu, p, g, lr);
                const dk_adam_scalars s = dk_adam_next_scalars(gpu, lr);
                CHECK(dk_adam_cuda_step(dt, n, dp, dg, dm, dv, &s, stream));
                void *hp = from_device(dp, bytes), *hm = from_device(dm, bytes), *hv = from_device(dv, bytes);
                assert_adam_close(dt, n, hp, p, hm, cpu->m, hv, cpu->v, p0, m0, v0, g, &s);
                /* the next step starts from the CPU's state: each step is compared alone */
                CHECK(dk_cuda_to_device(dp, p, bytes, stream));
                CHECK(dk_cuda_to_device(dm, cpu->m, bytes, stream));
                CHECK(dk_cuda_to_device(dv, cpu->v, bytes, stream));
                free(hp), free(hm), free(hv), free(g), free(p0), free(m0), free(v0);
                dk_cuda_free(dg);
            }
            assert_int_equal(cpu->step, gpu->step);
            free(p);
            dk_cuda_free(dp), dk_cuda_free(dm), dk_cuda_free(dv);
            dk_adam_destroy(&cpu);
            dk_adam_destroy(&gpu);
        }
}

/* ---- conversions and gradient arithmetic ------------------------------------------------ */

static void test_conversions_and_gradient_sums_bitwise(void **state)
{
    (void)state;
    const dk_dtype dts[] = {DK_F64, DK_F32};
    for (int di = 0; di < 2; di++)
        for (size_t si = 0; si < N_SIZES; si++) {
            const dk_dtype dt = dts[di];
            const size_t n = sizes[si], es = dk_dtype_size(dt);
            void *a = host_random(dt, n, 7 + si, -3.0, 3.0), *b = host_random(dt, n, 70 + si, -3.0, 3.0);
            void *da = to_device(a, n * es), *db = to_device(b, n * es);
            double *x64 = host_random(DK_F64, n, 700 + si, -3.0, 3.0);
            double *dx64 = to_device(x64, n * 8), *dtmp = NULL;
            CHECK(dk_cuda_malloc((void **)&dtmp, n * 8, "f64"));

            /* to float64 and back */
            CHECK(dk_vec_cuda_to_f64(dt, n, da, dtmp, stream));
            double *h = from_device(dtmp, n * 8), *want = malloc(n * 8);
            for (size_t i = 0; i < n; i++)
                want[i] = dk_load(dt, a, i);
            assert_bitwise(DK_F64, h, want, n, "to_f64");
            free(h);
            CHECK(dk_vec_cuda_from_f64(dt, n, dx64, db, stream));
            void *hb = from_device(db, n * es), *wb = malloc(n * es);
            for (size_t i = 0; i < n; i++)
                dk_store(dt, wb, i, x64[i]);
            assert_bitwise(dt, hb, wb, n, "from_f64");
            free(hb);

            /* sum = a, then sum += b (wb holds the rounded x64, now in db) */
            void *dsum = NULL;
            CHECK(dk_cuda_malloc(&dsum, n * es, "sum"));
            CHECK(dk_vec_cuda_accumulate(dt, n, da, dsum, 1, stream));
            CHECK(dk_vec_cuda_accumulate(dt, n, db, dsum, 0, stream));
            void *hs = from_device(dsum, n * es), *ws = malloc(n * es);
            memcpy(ws, a, n * es);
            for (size_t i = 0; i < n; i++) {
                if (dt == DK_F64)
                    ((double *)ws)[i] += ((const double *)wb)[i];
                else
                    ((float *)ws)[i] += ((const float *)wb)[i];
            }
            assert_bitwise(dt, hs, ws, n, "accumulate");
            free(hs);

            /* averaging: x = (dtype)((double)x * inv) */
            const double inv = 1.0 / 3.0;
            CHECK(dk_vec_cuda_scale(dt, n, inv, dsum, stream));
            hs = from_device(dsum, n * es);
            for (size_t i = 0; i < n; i++)
                dk_store(dt, ws, i, dk_load(dt, ws, i) * inv);
            assert_bitwise(dt, hs, ws, n, "scale");
            free(hs);

            /* three device doubles into dtype slots */
            const int count = n < 3 ? (int)n : 3;
            CHECK(dk_vec_cuda_store_scalars(dt, dsum, dx64, count, stream));
            hs = from_device(dsum, (size_t)count * es);
            for (int k = 0; k < count; k++)
                dk_store(dt, ws, (size_t)k, x64[k]);
            assert_bitwise(dt, hs, ws, (size_t)count, "store_scalars");
            free(hs);

            free(a), free(b), free(x64), free(want), free(wb), free(ws);
            dk_cuda_free(da), dk_cuda_free(db), dk_cuda_free(dx64), dk_cuda_free(dtmp), dk_cuda_free(dsum);
        }
}

/* ---- the device vector table ------------------------------------------------------------ */

static void test_device_vec_ops_against_cpu(void **state)
{
    (void)state;
    dk_vec_ops *ops = NULL;
    CHECK(dk_vec_ops_cuda_create(&ops, stream));
    const dk_vec_ops *cpu = dk_vec_ops_cpu();
    assert_int_equal(ops->on_device, 1);
    for (size_t si = 0; si < N_SIZES; si++) {
        const size_t n = sizes[si], bytes = n * 8;
        double *a = host_random(DK_F64, n, 11 + si, -1.0, 1.0), *b = host_random(DK_F64, n, 111 + si, -1.0, 1.0);
        double *da = NULL, *db = NULL, *dout = NULL;
        CHECK(ops->alloc(ops->ctx, n, &da, "a"));
        CHECK(ops->alloc(ops->ctx, n, &db, "b"));
        CHECK(ops->alloc(ops->ctx, n, &dout, "out"));
        double *zero = from_device(dout, bytes);
        for (size_t i = 0; i < n; i++)
            assert_true(zero[i] == 0.0);
        free(zero);
        CHECK(dk_cuda_to_device(da, a, bytes, stream));
        CHECK(dk_cuda_to_device(db, b, bytes, stream));

        /* reductions: 1e-12 of the CPU's sequential sums; reproducible bit for bit */
        double sum_ab = 0.0;
        for (size_t i = 0; i < n; i++)
            sum_ab += fabs(a[i] * b[i]);
        const double dot = ops->dot(ops->ctx, n, da, db), dot2 = ops->dot(ops->ctx, n, da, db);
        const double dot_cpu = cpu->dot(NULL, n, a, b);
        if (!(fabs(dot - dot_cpu) <= 1e-12 * sum_ab))
            fail_msg("dot (n = %zu): %.17g vs CPU %.17g", n, dot, dot_cpu);
        assert_memory_equal(&dot, &dot2, sizeof dot);
        const double l1 = ops->sum_abs(ops->ctx, n, da), l1_2 = ops->sum_abs(ops->ctx, n, da);
        assert_rel(l1, cpu->sum_abs(NULL, n, a), 1e-12, "sum_abs", n);
        assert_memory_equal(&l1, &l1_2, sizeof l1);
        const double mx = ops->max_abs(ops->ctx, n, da);
        const double mx_cpu = cpu->max_abs(NULL, n, a);
        assert_memory_equal(&mx, &mx_cpu, sizeof mx);
        /* the fused pair reductions: bitwise the separate ones (s = a, y = b) */
        double st[4];
        ops->pair_stats(ops->ctx, n, da, db, st);
        const double sep[4] = {ops->dot(ops->ctx, n, db, da), ops->dot(ops->ctx, n, da, da),
                               ops->dot(ops->ctx, n, db, db), mx};
        assert_bitwise(DK_F64, st, sep, 4, "pair_stats");
        assert_int_equal(ops->error(ops->ctx), DK_OK);

        /* elementwise: bitwise against explicit references */
        double *want = malloc(bytes), *got;
        const double alpha = -0.7371, t = 0.3183;
        ops->line(ops->ctx, n, da, t, db, dout);
        got = from_device(dout, bytes);
        for (size_t i = 0; i < n; i++)
            want[i] = fma(t, b[i], a[i]);
        assert_bitwise(DK_F64, got, want, n, "line");
        free(got);
        ops->sub(ops->ctx, n, da, db, dout);
        got = from_device(dout, bytes);
        for (size_t i = 0; i < n; i++)
            want[i] = a[i] - b[i];
        assert_bitwise(DK_F64, got, want, n, "sub");
        free(got);
        ops->negate(ops->ctx, n, da, dout);
        got = from_device(dout, bytes);
        for (size_t i = 0; i < n; i++)
            want[i] = -a[i];
        assert_bitwise(DK_F64, got, want, n, "negate");
        free(got);
        ops->copy(ops->ctx, n, db, dout);
        ops->scale(ops->ctx, n, alpha, dout);
        ops->axpy(ops->ctx, n, alpha, da, dout);
        got = from_device(dout, bytes);
        for (size_t i = 0; i < n; i++)
            want[i] = fma(alpha, a[i], b[i] * alpha);
        assert_bitwise(DK_F64, got, want, n, "copy, scale, axpy");
        free(got);

        /* the forms with device scalars: bitwise the host-scalar forms (the two-loop
         * recursion relies on it for GPU runs that do not move when its scalars stay on the
         * device) */
        double *dsc = NULL, sc[2];
        CHECK(ops->alloc(ops->ctx, 2, &dsc, "scalars"));
        ops->dot_into(ops->ctx, n, da, db, 0.3, &dsc[0]);
        ops->dot_into(ops->ctx, n, db, db, 1.7, &dsc[1]);
        double *sc_got = from_device(dsc, sizeof sc);
        sc[0] = 0.3 * dot;
        sc[1] = 1.7 * ops->dot(ops->ctx, n, db, db);
        assert_bitwise(DK_F64, sc_got, sc, 2, "dot_into");
        free(sc_got);
        ops->copy(ops->ctx, n, db, dout);
        ops->axpy_by(ops->ctx, n, &dsc[0], NULL, da, dout);
        ops->axpy_by(ops->ctx, n, &dsc[0], &dsc[1], db, dout);
        ops->scale_by_inverse(ops->ctx, n, &dsc[1], dout);
        got = from_device(dout, bytes);
        for (size_t i = 0; i < n; i++)
            want[i] = fma(-sc[0], a[i], b[i]);
        for (size_t i = 0; i < n; i++)
            want[i] = fma(sc[0] - sc[1], b[i], want[i]) * (1.0 / sc[1]);
        assert_bitwise(DK_F64, got, want, n, "axpy_by, scale_by_inverse");
        free(got);
        assert_int_equal(ops->error(ops->ctx), DK_OK);
        ops->release(ops->ctx, dsc);

        /* NaN wins the max wherever it is */
        a[n / 2] = NAN;
        CHECK(dk_cuda_to_device(da, a, bytes, stream));
        assert_true(isnan(ops->max_abs(ops->ctx, n, da)));
        ops->pair_stats(ops->ctx, n, da, db, st);
        assert_true(isnan(st[3]));
        assert_int_equal(ops->error(ops->ctx), DK_OK);

        free(a), free(b), free(want);
        ops->release(ops->ctx, da), ops->release(ops->ctx, db), ops->release(ops->ctx, dout);
    }
    dk_vec_ops_cuda_destroy(&ops);
    assert_null(ops);
}

/* ---- L-BFGS with device vectors ----------------------------------------------------------- */

/* Objectives evaluated on the host; `device` says where x and g live. */
typedef struct problem {
    size_t n;
    int device;
    int rosenbrock;        /* else the quadratic sum_i d_i x_i^2 / 2 - x_1 + (sum x)^2 / 2 */
    double *hx, *hg;       /* host staging */
} problem;

static void evaluate_host(const problem *p, const double *x, double *f, double *g)
{
    const size_t n = p->n;
    double fx = 0.0;
    if (p->rosenbrock) {
        fx = rosenbrock_value_grad(n, x, g);
    } else {
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
            s += x[i];
        for (size_t i = 0; i < n; i++) {
            const double d = 1.0 + 99.0 * (double)i / (double)n;
            fx += 0.5 * d * x[i] * x[i] - (i == 0 ? x[i] : 0.0);
            g[i] = d * x[i] - (i == 0 ? 1.0 : 0.0) + s;
        }
        fx += 0.5 * s * s;
    }
    *f = fx;
}

static dk_err objective(void *ctx, const double *x, double *f, double *g)
{
    problem *p = ctx;
    if (!p->device) {
        evaluate_host(p, x, f, g);
        return DK_OK;
    }
    DK_CALL(dk_cuda_to_host(p->hx, x, p->n * 8, stream));
    evaluate_host(p, p->hx, f, p->hg);
    DK_CALL(dk_cuda_to_device(g, p->hg, p->n * 8, stream));
    return DK_OK;
}

/* Iterates within 1e-10 for the first `strict` steps. Past that on Rosenbrock, rounding
 * differences (the dot products' summation orders) grow by about 1.3x a step along the
 * curved valley: a CPU run with a 4-way dot product instead of the sequential one drifts to
 * 1e-8 by step 50, so only the end point (the all-ones minimiser) is compared there. */
static void run_lbfgs_pair(size_t n, int rosenbrock, int steps, int strict)
{
    const dk_lbfgs_settings set = {.history = 8, .max_evals = 25, .c1 = 1e-4, .c2 = 0.9, .tolerance_grad = 1e-13,
                                   .tolerance_change = 0.0};
    dk_vec_ops *ops = NULL;
    CHECK(dk_vec_ops_cuda_create(&ops, stream));
    dk_lbfgs *lc = NULL, *lg = NULL;
    CHECK(dk_lbfgs_create(&lc, n, &set));
    CHECK(dk_lbfgs_create_ops(&lg, n, &set, ops));
    problem pc = {.n = n, .device = 0, .rosenbrock = rosenbrock};
    problem pg = {.n = n, .device = 1, .rosenbrock = rosenbrock, .hx = malloc(n * 8), .hg = malloc(n * 8)};
    double *x = malloc(n * 8), *g = malloc(n * 8), *xg = malloc(n * 8), f, fg;
    for (size_t i = 0; i < n; i++)
        x[i] = rosenbrock ? (i % 2 ? 1.0 : -1.2) : uniform(5, i, -1.0, 1.0);
    evaluate_host(&pc, x, &f, g);
    double *dx = to_device(x, n * 8), *dg = to_device(g, n * 8);
    fg = f;
    for (int k = 0; k < steps; k++) {
        dk_lbfgs_report rc, rg;
        CHECK(dk_lbfgs_step(lc, x, &f, g, objective, &pc, &rc));
        CHECK(dk_lbfgs_step(lg, dx, &fg, dg, objective, &pg, &rg));
        CHECK(dk_cuda_to_host(xg, dx, n * 8, stream));
        double worst = 0.0, big = 0.0;
        for (size_t i = 0; i < n; i++) {
            worst = fmax(worst, fabs(xg[i] - x[i]));
            big = fmax(big, fabs(x[i]));
        }
        if (k < strict && !(worst <= 1e-10 * fmax(big, 1.0)))
            fail_msg("%s n = %zu, step %d: iterates differ by %.3g (max |x| %.3g)",
                     rosenbrock ? "Rosenbrock" : "quadratic", n, k, worst, big);
        /* Near convergence the two may stop one step apart (a tolerance met by rounding). */
        if (rc.status != DK_LBFGS_PROGRESS || rg.status != DK_LBFGS_PROGRESS)
            break;
    }
    if (rosenbrock) {
        CHECK(dk_cuda_to_host(xg, dx, n * 8, stream));
        assert_true(f < 1e-10 && fg < 1e-10);
        for (size_t i = 0; i < n; i++) {
            assert_true(fabs(x[i] - 1.0) < 1e-5);
            assert_true(fabs(xg[i] - 1.0) < 1e-5);
        }
    }
    dk_lbfgs_destroy(&lc);
    dk_lbfgs_destroy(&lg);
    dk_cuda_free(dx), dk_cuda_free(dg);
    free(x), free(g), free(xg), free(pg.hx), free(pg.hg);
    dk_vec_ops_cuda_destroy(&ops);
}

static void test_lbfgs_on_device_follows_cpu(void **state)
{
    (void)state;
    run_lbfgs_pair(1000, 0, 30, 30);
    run_lbfgs_pair(10, 1, 100, 20);
}

/* ---- losses ------------------------------------------------------------------------------- */

/* The CPU formulas, with no contraction (as interior_chunk's products and sums are written
 * for the GPU: each rounded once). */
__attribute__((optimize("fp-contract=off"))) static double interior_reference(
    dk_dtype dt, size_t rows, int dim, const void *u, const void *u1, const void *u2, const double *f,
    const double *coef, double alpha, double n_int, void *gu, void *gu1, void *gu2)
{
    const double scale = 2.0 * alpha / n_int;
    double sum = 0.0;
    for (size_t p = 0; p < rows; p++) {
        double r = coef[0] * dk_load(dt, u, p);
        for (int a = 0; a < dim; a++)
            r = r + coef[1 + a] * dk_load(dt, u1, p * dim + a);
        for (int a = 0; a < dim; a++)
            r = r + coef[1 + dim + a] * dk_load(dt, u2, p * dim + a);
        r = r - f[p];
        sum += r * r;
        dk_store(dt, gu, p, scale * r * coef[0]);
        for (int a = 0; a < dim; a++) {
            dk_store(dt, gu1, p * dim + a, scale * r * coef[1 + a]);
            dk_store(dt, gu2, p * dim + a, scale * r * coef[1 + dim + a]);
        }
    }
    return alpha * sum / n_int;
}

/* dk_fit_task_loss's loop. */
static double mse_reference(dk_dtype dt, size_t n, const void *pred, const void *target, double denom, void *dpred)
{
    const double two_over = 2.0 / denom;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = dk_load(dt, pred, i) - dk_load(dt, target, i);
        sum += d * d;
        if (dpred)
            dk_store(dt, dpred, i, two_over * d);
    }
    return sum / denom;
}

static double read_acc(const double *acc, int k)
{
    double v;
    CHECK(dk_cuda_to_host(&v, acc + k, sizeof v, stream));
    return v;
}

static void test_losses_against_cpu_formulas(void **state)
{
    (void)state;
    const dk_dtype dts[] = {DK_F64, DK_F32};
    double *acc = NULL;
    CHECK(dk_cuda_malloc((void **)&acc, 4 * sizeof(double), "accumulators"));
    for (int di = 0; di < 2; di++)
        for (size_t si = 0; si < N_SIZES; si++) {
            const dk_dtype dt = dts[di];
            const size_t n = sizes[si], es = dk_dtype_size(dt);
            void *scratch = NULL;
            CHECK(dk_cuda_malloc(&scratch, dk_loss_cuda_scratch_bytes(n), "scratch"));

            /* mean squared error, twice into one accumulator; then the SSE */
            void *p = host_random(dt, n, 21 + si, -2.0, 2.0), *t = host_random(dt, n, 210 + si, -2.0, 2.0);
            void *dp = to_device(p, n * es), *dtg = to_device(t, n * es), *dd = NULL;
            CHECK(dk_cuda_malloc(&dd, n * es, "dpred"));
            void *want = malloc(n * es);
            const double denom = 3.0 * (double)n + 1.0;
            const double loss = mse_reference(dt, n, p, t, denom, want);
            double first = 0.0;
            for (int rep = 0; rep < 2; rep++) {
                CHECK(dk_cuda_memset_zero(acc, 4 * sizeof(double), stream));
                CHECK(dk_loss_cuda_mse(dt, n, dp, dtg, denom, dd, acc, scratch, stream));
                CHECK(dk_loss_cuda_mse(dt, n, dp, dtg, denom, NULL, acc, scratch, stream));
                const double got = read_acc(acc, 0);
                assert_rel(got, 2.0 * loss, 1e-12, "mse", n);
                if (rep == 0)
                    first = got;
                else
                    assert_memory_equal(&got, &first, sizeof got);
            }
            void *hd = from_device(dd, n * es);
            assert_bitwise(dt, hd, want, n, "mse derivative");
            free(hd);
            CHECK(dk_cuda_memset_zero(acc, 4 * sizeof(double), stream));
            CHECK(dk_loss_cuda_mse(dt, n, dp, dtg, 1.0, NULL, acc, scratch, stream));
            assert_rel(read_acc(acc, 0), mse_reference(dt, n, p, t, 1.0, NULL), 1e-12, "sse", n);

            /* PDE interior, dim 2 (with Poisson's 0/1 coefficients and general ones) and dim 3 */
            for (int variant = 0; variant < 3; variant++) {
                const int dim = variant == 2 ? 3 : 2;
                double coef[7];
                if (variant == 0)
                    coef[0] = 0.0, coef[1] = coef[2] = 0.0, coef[3] = coef[4] = 1.0;
                else
                    for (int k = 0; k < 1 + 2 * dim; k++)
                        coef[k] = uniform(31 + (uint64_t)variant, (size_t)k, -2.0, 2.0);
                void *u = host_random(dt, n, 41 + si, -1.0, 1.0);
                void *u1 = host_random(dt, n * dim, 42 + si, -1.0, 1.0);
                void *u2 = host_random(dt, n * dim, 43 + si, -1.0, 1.0);
                double *f = host_random(DK_F64, n, 44 + si, -1.0, 1.0);
                void *du = to_device(u, n * es), *du1 = to_device(u1, n * dim * es), *du2 = to_device(u2, n * dim * es);
                double *df = to_device(f, n * 8), *dcoef = to_device(coef, (1 + 2 * dim) * 8);
                void *gu = NULL, *gu1 = NULL, *gu2 = NULL;
                CHECK(dk_cuda_malloc(&gu, n * es, "gu"));
                CHECK(dk_cuda_malloc(&gu1, n * dim * es, "gu1"));
                CHECK(dk_cuda_malloc(&gu2, n * dim * es, "gu2"));
                void *wgu = malloc(n * es), *wgu1 = malloc(n * dim * es), *wgu2 = malloc(n * dim * es);
                const double alpha = 0.37, n_int = 2.0 * (double)n + 5.0;
                const double want_loss =
                    interior_reference(dt, n, dim, u, u1, u2, f, coef, alpha, n_int, wgu, wgu1, wgu2);
                for (int rep = 0; rep < 2; rep++) {
                    CHECK(dk_cuda_memset_zero(acc, 4 * sizeof(double), stream));
                    CHECK(dk_loss_cuda_pde_interior(dt, n, dim, du, du1, du2, df, dcoef, alpha, n_int, gu, gu1, gu2,
                                                    acc + 1, scratch, stream));
                    const double got = read_acc(acc, 1);
                    assert_rel(got, want_loss, 1e-12, "PDE interior loss", n);
                    if (rep == 0)
                        first = got;
                    else
                        assert_memory_equal(&got, &first, sizeof got);
                }
                void *h0 = from_device(gu, n * es), *h1 = from_device(gu1, n * dim * es),
                     *h2 = from_device(gu2, n * dim * es);
                assert_bitwise(dt, h0, wgu, n, "gu");
                assert_bitwise(dt, h1, wgu1, n * dim, "gu1");
                assert_bitwise(dt, h2, wgu2, n * dim, "gu2");
                free(h0), free(h1), free(h2), free(wgu), free(wgu1), free(wgu2);
                free(u), free(u1), free(u2), free(f);
                dk_cuda_free(du), dk_cuda_free(du1), dk_cuda_free(du2), dk_cuda_free(df), dk_cuda_free(dcoef);
                dk_cuda_free(gu), dk_cuda_free(gu1), dk_cuda_free(gu2);
            }

            /* PDE evaluation: sums, the max bitwise, then a NaN */
            double *ex = host_random(DK_F64, n, 51 + si, -1.0, 1.0);
            double *dex = to_device(ex, n * 8);
            double s = 0.0, se = 0.0, mx = 0.0;
            for (size_t i = 0; i < n; i++) {
                const double e = dk_load(dt, p, i) - ex[i];
                s += e * e;
                se += ex[i] * ex[i];
                if (fabs(e) > mx)
                    mx = fabs(e);
            }
            double res[3], res2[3];
            for (int rep = 0; rep < 2; rep++) {
                CHECK(dk_cuda_memset_zero(acc, 4 * sizeof(double), stream));
                CHECK(dk_loss_cuda_pde_eval(dt, n, dp, dex, acc, scratch, stream));
                CHECK(dk_cuda_to_host(rep ? res2 : res, acc, sizeof res, stream));
            }
            assert_memory_equal(res, res2, sizeof res);
            assert_rel(res[0], s, 1e-12, "eval sse", n);
            assert_rel(res[1], se, 1e-12, "eval ss_exact", n);
            assert_memory_equal(&res[2], &mx, sizeof mx);
            dk_store(dt, p, n / 2, NAN);
            CHECK(dk_cuda_to_device(dp, p, n * es, stream));
            CHECK(dk_loss_cuda_pde_eval(dt, n, dp, dex, acc, scratch, stream));
            assert_true(isnan(read_acc(acc, 2)));

            free(p), free(t), free(want), free(ex);
            dk_cuda_free(dp), dk_cuda_free(dtg), dk_cuda_free(dd), dk_cuda_free(dex), dk_cuda_free(scratch);
        }
    dk_cuda_free(acc);
}

int main(void)
{
    if (dk_cuda_device_count() == 0) {
        printf("no CUDA device visible (%s): skipped\n", dk_cuda_no_device_reason());
        return 77;
    }
    char name[256];
    if (dk_cuda_set_device(0, name, sizeof name) != DK_OK || dk_cuda_stream_create(&stream) != DK_OK) {
        fprintf(stderr, "%s\n", dk_error_message());
        return 1;
    }
    printf("GPU 0: %s\n", name);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_within_rounding_of_cpu),
        cmocka_unit_test(test_conversions_and_gradient_sums_bitwise),
        cmocka_unit_test(test_device_vec_ops_against_cpu),
        cmocka_unit_test(test_lbfgs_on_device_follows_cpu),
        cmocka_unit_test(test_losses_against_cpu_formulas),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    dk_cuda_stream_destroy(stream);
    return failed;
}

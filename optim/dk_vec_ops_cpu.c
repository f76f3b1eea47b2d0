/* The host table of dk_vec_ops.h: plain loops in index order. These are, expression for
 * expression, the loops dk_lbfgs.c had inline, so the optimiser's float64 results did not
 * move when it started calling them through the table. */
#include "dk_vec_ops.h"

#include <math.h>
#include <stdlib.h>

static dk_err cpu_alloc(void *ctx, size_t n, double **out, const char *what)
{
    (void)ctx;
    *out = NULL;
    if (n > (size_t)-1 / sizeof(double))
        DK_ERROR(DK_ERR_MEMORY, "%s: %zu doubles overflow the size of an allocation", what, n);
    void *p = NULL;
    DK_CALL(dk_aligned_alloc(&p, n * sizeof(double), what));
    *out = p;
    return DK_OK;
}

static void cpu_release(void *ctx, double *p)
{
    (void)ctx;
    free(p);
}

/* One sequential sum from i = 0: the summation order the bit-exact tests rely on. */
static double cpu_dot(void *ctx, size_t n, const double *a, const double *b)
{
    (void)ctx;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

static double cpu_sum_abs(void *ctx, size_t n, const double *a)
{
    (void)ctx;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += fabs(a[i]);
    return sum;
}

/* NaN wins (fmax would drop it): a NaN anywhere is a non-finite vector. */
static double cpu_max_abs(void *ctx, size_t n, const double *a)
{
    (void)ctx;
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double v = fabs(a[i]);
        if (isnan(v))
            return v;
        if (v > m)
            m = v;
    }
    return m;
}

/* The loops of cpu_dot (three times) and cpu_max_abs fused: each accumulator still sums in
 * index order, and the first NaN magnitude is kept, so the values are theirs bit for bit. */
static void cpu_pair_stats(void *ctx, size_t n, const double *s, const double *y, double out[4])
{
    (void)ctx;
    double ys = 0.0, ss = 0.0, yy = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        ys += y[i] * s[i];
        ss += s[i] * s[i];
        yy += y[i] * y[i];
        const double v = fabs(s[i]);
        if (!isnan(m) && (isnan(v) || v > m))
            m = v;
    }
    out[0] = ys, out[1] = ss, out[2] = yy, out[3] = m;
}

static void cpu_copy(void *ctx, size_t n, const double *restrict src, double *restrict dst)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

static void cpu_negate(void *ctx, size_t n, const double *restrict src, double *restrict dst)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        dst[i] = -src[i];
}

static void cpu_scale(void *ctx, size_t n, double alpha, double *x)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        x[i] *= alpha;
}

static void cpu_axpy(void *ctx, size_t n, double alpha, const double *restrict x, double *restrict y)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

static void cpu_line(void *ctx, size_t n, const double *restrict x, double t, const double *restrict d,
                     double *restrict out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] + t * d[i];
}

static void cpu_sub(void *ctx, size_t n, const double *restrict a, const double *restrict b,
                    double *restrict out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] - b[i];
}

static void cpu_dot_into(void *ctx, size_t n, const double *x, const double *y, double factor, double *out)
{
    *out = factor * cpu_dot(ctx, n, x, y);
}

static void cpu_axpy_by(void *ctx, size_t n, const double *a, const double *b, const double *x, double *y)
{
    cpu_axpy(ctx, n, b ? *a - *b : -*a, x, y);
}

static void cpu_scale_by_inverse(void *ctx, size_t n, const double *a, double *x)
{
    cpu_scale(ctx, n, 1.0 / *a, x);
}

static const dk_vec_ops cpu_ops = {
    .ctx = NULL,
    .on_device = 0,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .dot = cpu_dot,
    .sum_abs = cpu_sum_abs,
    .max_abs = cpu_max_abs,
    .pair_stats = cpu_pair_stats,
    .copy = cpu_copy,
    .negate = cpu_negate,
    .scale = cpu_scale,
    .axpy = cpu_axpy,
    .line = cpu_line,
    .sub = cpu_sub,
    .dot_into = cpu_dot_into,
    .axpy_by = cpu_axpy_by,
    .scale_by_inverse = cpu_scale_by_inverse,
    .error = NULL,
};

const dk_vec_ops *dk_vec_ops_cpu(void) { return &cpu_ops; }

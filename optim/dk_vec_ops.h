/* Float64 vector arithmetic behind a table, so that one optimiser (dk_lbfgs) drives vectors
 * in host memory or in GPU memory alike.
 *
 * Every O(n) operation the optimiser performs is one entry below; the optimiser itself only
 * handles scalars. A table's vectors all live in one memory space (on_device says which).
 * The reductions return their result on the host, so each is a synchronisation point for a
 * device table: L-BFGS calls them for the few scalars its decisions need (line search,
 * convergence, which pairs to keep). The scalars it only passes on (the two-loop
 * recursion's) stay in the table's memory instead: dot_into, axpy_by, scale_by_inverse.
 *
 * Errors. Operations cannot return a dk_err one by one (the reductions return their value),
 * so a table that can fail records its first failure instead: the failing call records the
 * message with dk_error_set (file:line and the device's message), a failed reduction
 * returns NaN, later operations may be skipped, and `error` returns that code (DK_OK when
 * nothing failed) and clears it. Callers check `error` before they act on a result: dk_lbfgs
 * checks it before every objective evaluation, after every line-search point and at the end
 * of a step, and returns the recorded error with its traceback. `error` is NULL for a table
 * that cannot fail (the CPU table).
 *
 * Arithmetic of the CPU table: every loop runs in index order, so results are those of the
 * plain loops written in the comments (a dot product is one sequential sum from i = 0;
 * no a * b + c is fused into one rounding: the build says -ffp-contract=off).
 */
#ifndef DK_VEC_OPS_H
#define DK_VEC_OPS_H

#include <stddef.h>

#include "../common/dk_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_vec_ops {
    void *ctx;       /* passed to every entry: e.g. a CUDA stream and reduction scratch */
    int on_device;   /* vectors live in GPU memory */

    /* n zeroed doubles in the table's memory; `what` names them in an out-of-memory error. */
    dk_err (*alloc)(void *ctx, size_t n, double **out, const char *what);
    void (*release)(void *ctx, double *p); /* NULL is fine */

    /* Reductions, result on the host. */
    double (*dot)(void *ctx, size_t n, const double *a, const double *b);  /* sum a_i b_i */
    double (*sum_abs)(void *ctx, size_t n, const double *a);               /* sum |a_i| */
    /* max |a_i|, NaN when any a_i is NaN; 0 for n = 0. */
    double (*max_abs)(void *ctx, size_t n, const double *a);
    /* What a new L-BFGS pair is judged by, in one pass (one synchronisation for a device
     * table): out = {y.s, s.s, y.y, max |s_i|}, each bitwise what dot and max_abs give
     * (NaN everywhere after a failure). */
    void (*pair_stats)(void *ctx, size_t n, const double *s, const double *y, double out[4]);

    /* Elementwise; out may equal an input only where stated. */
    void (*copy)(void *ctx, size_t n, const double *src, double *dst);           /* dst = src */
    void (*negate)(void *ctx, size_t n, const double *src, double *dst);         /* dst = -src */
    void (*scale)(void *ctx, size_t n, double alpha, double *x);                 /* x = alpha x */
    void (*axpy)(void *ctx, size_t n, double alpha, const double *x, double *y); /* y = y + alpha x */
    /* out = x + t d (a point on a line; out distinct from x and d). */
    void (*line)(void *ctx, size_t n, const double *x, double t, const double *d, double *out);
    /* out = a - b (out distinct from a and b). */
    void (*sub)(void *ctx, size_t n, const double *a, const double *b, double *out);

    /* With scalars in the table's memory (out, a, b: doubles from alloc), so that no value
     * goes through the host. The results are bitwise those of the host forms: *out =
     * factor * dot(a, b); axpy with alpha = -*a (b NULL) or *a - *b; scale with
     * alpha = 1 / *a. */
    void (*dot_into)(void *ctx, size_t n, const double *x, const double *y, double factor, double *out);
    void (*axpy_by)(void *ctx, size_t n, const double *a, const double *b, const double *x, double *y);
    void (*scale_by_inverse)(void *ctx, size_t n, const double *a, double *x);

    /* The first failure since the last call (DK_OK if none), cleared; NULL: cannot fail. */
    dk_err (*error)(void *ctx);
} dk_vec_ops;

/* Host vectors: 64-byte aligned allocations, plain loops. Never fails after alloc. */
const dk_vec_ops *dk_vec_ops_cpu(void);

#ifdef __cplusplus
}
#endif

#endif

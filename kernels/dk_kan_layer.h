/* Fused KAN layer, CPU reference: forward and backward without the basis tensor.
 *
 * For a batch x[b, i] (row-major, batch x in) the layer computes
 *
 *   y[b, j] = sum_i mask[i,j] * ( scale_base[i,j] * silu(x[b,i])
 *                                 + scale_sp[i,j] * sum_c coef[i,j,c] * B_{i,c}(x[b,i]) )
 *
 * where B_{i,c} is the c-th B-spline of degree k on input i's knots grid[i, :].
 * Only the k+1 basis functions that are non-zero at x[b,i] are ever evaluated; nothing of
 * size batch x in x n_basis is stored. Outside input i's extended grid the spline term
 * is zero (pykan).
 *
 * Layouts (row-major, pykan's): grid [in][n_knots], coef [in][out][n_basis],
 * scale_base, scale_sp, mask [in][out]. n_knots = G + 2k + 1, n_basis = G + k.
 *
 * Kernels take plain arrays, never fail and know nothing of MPI, files or configs.
 * Threading: `n_threads` OpenMP threads. Forward splits the batch into fixed contiguous
 * ranges; every y[b][j] is summed in the same order whatever the thread count. Backward
 * gives each thread a fixed (batch range, input range) cell: input ranges own disjoint
 * gradient rows, and only when in < n_threads is the batch split too, the partial
 * parameter gradients then being reduced in range order. The split depends only on
 * (in, batch, n_threads), so results are bitwise reproducible for a given n_threads and
 * differ across thread counts only by floating-point reassociation. Work is numbered by
 * that split and dealt to however many threads OpenMP actually provides.
 */
#ifndef DK_KAN_LAYER_H
#define DK_KAN_LAYER_H

#include <stddef.h>

#include "../common/dk_dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_kan_shape {
    int in, out;
    int G, k;       /* intervals of the (un-extended) grid, spline degree */
    int n_knots;    /* G + 2k + 1 */
    int n_basis;    /* G + k */
    int max_batch;  /* largest batch the workspace serves */
    int n_threads;  /* OpenMP threads (>= 1) */
} dk_kan_shape;

/* Fills n_knots and n_basis from G and k. */
dk_kan_shape dk_kan_shape_make(int in, int out, int G, int k, int max_batch, int n_threads);

/* Bytes of scratch memory the kernels below need for this shape and dtype. The caller
 * allocates it once (64-byte aligned; the kernels align an unaligned pointer themselves)
 * and passes it to every call: nothing is allocated inside forward or backward. It holds
 * per-call tables (about in*n_basis*out elements), per-thread tiles of a few MB at most
 * and, for backward, in*n_basis*out gradient accumulators per batch range (one unless
 * in < n_threads); it does not grow with max_batch. Its content is scratch: nothing
 * carries over between calls, so one workspace may serve several layers. */
size_t dk_kan_workspace_bytes(const dk_kan_shape *s, dk_dtype dtype);

typedef struct dk_kan_params_f64 {
    const double *grid, *coef, *scale_base, *scale_sp, *mask;
} dk_kan_params_f64;
typedef struct dk_kan_params_f32 {
    const float *grid, *coef, *scale_base, *scale_sp, *mask;
} dk_kan_params_f32;

/* Parameter gradients, overwritten (not accumulated) by backward. */
typedef struct dk_kan_grads_f64 {
    double *coef, *scale_base, *scale_sp;
} dk_kan_grads_f64;
typedef struct dk_kan_grads_f32 {
    float *coef, *scale_base, *scale_sp;
} dk_kan_grads_f32;

/* y[batch][out] = layer(x[batch][in]). batch <= s->max_batch. */
void dk_kan_forward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch,
                        const double *x, double *y, void *workspace);
void dk_kan_forward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch,
                        const float *x, float *y, void *workspace);

/* Given dy = dL/dy [batch][out], writes dx = dL/dx [batch][in] (skipped when dx is NULL,
 * as for the first layer) and overwrites the parameter gradients in g. */
void dk_kan_backward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch,
                         const double *x, const double *dy, double *dx,
                         const dk_kan_grads_f64 *g, void *workspace);
void dk_kan_backward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch,
                         const float *x, const float *dy, float *dx,
                         const dk_kan_grads_f32 *g, void *workspace);

#ifdef __cplusplus
}
#endif

#endif

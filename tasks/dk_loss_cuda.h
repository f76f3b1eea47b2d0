/* Loss terms and their derivatives on the GPU (CUDA backend only): the fit task's mean
 * squared error, the PDE task's interior residual (for residuals linear with constant
 * coefficients) and boundary term, and the PDE evaluation sums.
 *
 * Every function takes device pointers and a stream (a cudaStream_t as void *), queues its
 * work and allocates nothing: the reductions use `scratch`, a device buffer of at least
 * dk_loss_cuda_scratch_bytes(n) bytes for n elements (points), which calls on the same
 * stream may share. Results are added to accumulators in device memory (acc_dev), so a
 * loss over many chunks needs no host round trip. Sums are formed in double for both
 * dtypes, by the fixed two-pass tree of common/dk_cuda_reduce.cuh (no floating-point
 * atomics): bitwise the same on every run; against the CPU's sequential sums they agree to
 * rounding. The per-element derivatives are computed with the CPU's formulas and
 * roundings.
 */
#ifndef DK_LOSS_CUDA_H
#define DK_LOSS_CUDA_H

#include <stddef.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of reduction scratch for n elements (non-decreasing in n; at most 24 KiB). */
size_t dk_loss_cuda_scratch_bytes(size_t n);

/* acc_dev[0] += (sum_i (p_i - t_i)^2) / denom, and, when dpred is not NULL,
 * dpred_i = (2 / denom) (p_i - t_i), as dk_fit_task_loss: the difference in double, the
 * product with the double 2 / denom, then rounded to the dtype. pred, target and dpred
 * hold n dtype values. With denom = 1 and dpred NULL it is the SSE (dk_fit_task_sse).
 * For the PDE boundary term (target g, denom n_bnd), note that the CPU's boundary_chunk
 * forms 2 e / n_bnd, which can differ from (2 / n_bnd) e in the last bit. */
dk_err dk_loss_cuda_mse(dk_dtype dtype, size_t n, const void *pred, const void *target, double denom, void *dpred,
                        double *acc_dev, void *scratch, void *stream);

/* PDE interior points p < rows, for a residual linear with constant coefficients
 * coef = [c0, c1[0..dim), c2[0..dim)] (device doubles, 1 + 2 dim):
 *   r_p = c0 u_p + sum_a c1[a] u1[p][a] + sum_a c2[a] u2[p][a] - f_p
 * formed in double left to right (each product and sum rounded once), with u (rows),
 * u1, u2 (rows x dim, row-major) in the dtype and the source f (rows) in double, as
 * dk_pde_task_linear_form gives it. Then, as interior_chunk:
 *   acc_dev[0] += alpha (sum_p r_p^2) / n_int,
 *   gu_p = (s r_p) c0, gu1[p][a] = (s r_p) c1[a], gu2[p][a] = (s r_p) c2[a], s = 2 alpha / n_int
 * (products in double, stored rounded to the dtype). */
dk_err dk_loss_cuda_pde_interior(dk_dtype dtype, size_t rows, int dim, const void *u, const void *u1, const void *u2,
                                 const double *f, const double *coef, double alpha, double n_int, void *gu, void *gu1,
                                 void *gu2, double *acc_dev, void *scratch, void *stream);

/* PDE evaluation over n points, u in the dtype, exact (u*) in double, as
 * dk_pde_task_evaluate: acc_dev[0] += sum (u - u*)^2, acc_dev[1] += sum u*^2,
 * acc_dev[2] = max(acc_dev[2], max |u - u*|) with a NaN winning (start acc_dev[2] at 0). */
dk_err dk_loss_cuda_pde_eval(dk_dtype dtype, size_t n, const void *u, const double *exact, double *acc_dev,
                             void *scratch, void *stream);

#ifdef __cplusplus
}
#endif

#endif

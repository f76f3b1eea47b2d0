/* Vector work on the GPU: the dk_vec_ops table for float64 device vectors (L-BFGS on the
 * GPU) and the conversions and gradient arithmetic of a training step. CUDA backend only.
 *
 * Every function takes device pointers and a stream (a cudaStream_t passed as void *, NULL
 * for the legacy default stream), queues its work asynchronously and allocates nothing;
 * the dk_err it returns reports launch failures (errors of the queued work surface at the
 * next synchronising call).
 *
 * Determinism: elementwise operations are per element; every reduction is the fixed
 * two-pass tree of common/dk_cuda_reduce.cuh (block count a function of n only, no
 * floating-point atomics), so its result is bitwise the same on every run. The reductions
 * sum in a different order from the CPU's sequential loop, so they agree with it to
 * rounding (about n eps relative), not bitwise.
 */
#ifndef DK_VEC_CUDA_H
#define DK_VEC_CUDA_H

#include <stddef.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "dk_vec_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The device table, its operations queued on `stream`. It owns a device scratch for the
 * reductions' partials and a page-locked host slot for their results: dot, sum_abs and
 * max_abs copy one double back and wait for the stream (L-BFGS takes its decisions on
 * these few scalars on the host; everything O(n) stays on the GPU). Elementwise operations
 * do not wait. The table records its first CUDA failure as dk_vec_ops.h describes (a
 * failed reduction returns NaN; operations after a failure are skipped until `error` has
 * returned it). dot, axpy and line round a b + c once (fused; the CPU table, built without
 * contraction, rounds twice), so they agree with the CPU table to rounding, not bitwise.
 * Not thread-safe: one table per stream. */
dk_err dk_vec_ops_cuda_create(dk_vec_ops **out, void *stream);
void dk_vec_ops_cuda_destroy(dk_vec_ops **ops);

/* dst[i] = src[i] as float64 (exact for both dtypes). */
dk_err dk_vec_cuda_to_f64(dk_dtype dtype, size_t n, const void *src, double *dst, void *stream);
/* dst[i] = src[i] rounded to the dtype (round to nearest, as a C cast). */
dk_err dk_vec_cuda_from_f64(dk_dtype dtype, size_t n, const double *src, void *dst, void *stream);
/* Gradient sum over chunks or batches, in the dtype: sum = src when first, else
 * sum[i] = sum[i] + src[i] (as dk_network_accumulate_grads). */
dk_err dk_vec_cuda_accumulate(dk_dtype dtype, size_t n, const void *src, void *sum, int first, void *stream);
/* x[i] = (dtype)((double)x[i] * alpha): the product in double, then rounded to the dtype,
 * as the CPU averages a full-batch gradient. */
dk_err dk_vec_cuda_scale(dk_dtype dtype, size_t n, double alpha, void *x, void *stream);
/* dst[k] = (dtype)src[k] for k < count: device doubles (e.g. loss accumulators) into
 * dtype slots (e.g. the spare slots of the gradient that the all-reduce carries). */
dk_err dk_vec_cuda_store_scalars(dk_dtype dtype, void *dst, const double *src, int count, void *stream);

#ifdef __cplusplus
}
#endif

#endif

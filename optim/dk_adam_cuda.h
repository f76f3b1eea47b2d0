/* Adam on the GPU (CUDA backend only): the update of dk_adam.h applied to device buffers.
 *
 * The host forms the step's scalars (dk_adam_next_scalars, which also advances the step
 * counter) and the kernel applies the per-element formula documented at dk_adam_scalars,
 * with every rounding spelled out: g + wd p, b1 m + c1 g' and b2 v + c2 g'^2 and the
 * denominator sqrt(v) inv_sqrt_bc2 + eps fused (rounded once; the CPU loop, built without
 * contraction, rounds each product and sum); IEEE sqrt and division; a float32 run computes
 * in float with the scalars rounded to float as the CPU loop does. Given the same inputs
 * the results agree with dk_adam_step's within a few roundings of the terms
 * (tests/gpu/test_cuda_optim.c asserts that bound element by element; an ulp count of p
 * would not do, since p - update can cancel).
 */
#ifndef DK_ADAM_CUDA_H
#define DK_ADAM_CUDA_H

#include <stddef.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "dk_adam.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One update of params[0..n) (device, dtype) with grads, first moments m and second
 * moments v (device, dtype), queued on stream (a cudaStream_t as void *). No allocation. */
dk_err dk_adam_cuda_step(dk_dtype dtype, size_t n, void *params, const void *grads, void *m, void *v,
                         const dk_adam_scalars *s, void *stream);

#ifdef __cplusplus
}
#endif

#endif

/* Adam on the GPU (see dk_adam_cuda.h): the loops of dk_adam.c, one thread per element. */
#include <cuda_runtime.h>

#include "../common/dk_cuda.h"
#include "../common/dk_cuda_reduce.cuh"
#include "dk_adam_cuda.h"

/*   g' = fma(wd, p, g),  m = fma(b1, m, c1 g'),  v = fma(b2, v, c2 (g' g')),
 *   p  = p - (step_size m) / fma(sqrt(v), inv_sqrt_bc2, eps)
 * every operation rounded once in T (float32 runs compute in float, as dk_adam.c does). */
template <typename T>
__global__ void adam_kernel(size_t n, T *p, const T *g, T *m, T *v, T b1, T c1, T b2, T c2, T step_size,
                            T inv_sqrt_bc2, T eps, T wd)
{
    using namespace dk_reduce;
    DK_GRID_STRIDE(i, n) {
        const T pi = p[i];
        const T gi = fma_rn(wd, pi, g[i]);
        const T mi = fma_rn(b1, m[i], mul_rn(c1, gi));
        const T vi = fma_rn(b2, v[i], mul_rn(c2, mul_rn(gi, gi)));
        m[i] = mi;
        v[i] = vi;
        const T den = fma_rn(sqrt_rn(vi), inv_sqrt_bc2, eps);
        p[i] = sub_rn(pi, div_rn(mul_rn(step_size, mi), den));
    }
}

extern "C" dk_err dk_adam_cuda_step(dk_dtype dtype, size_t n, void *params, const void *grads, void *m, void *v,
                                    const dk_adam_scalars *s, void *stream)
{
    if (dtype != DK_F64 && dtype != DK_F32)
        DK_ERROR(DK_ERR_INTERNAL, "adam: unknown dtype %d", (int)dtype);
    if (n == 0)
        return DK_OK;
    const unsigned blocks = dk_reduce::elementwise_blocks(n);
    cudaStream_t st = (cudaStream_t)stream;
    if (dtype == DK_F64)
        adam_kernel<<<blocks, dk_reduce::THREADS, 0, st>>>(
            n, (double *)params, (const double *)grads, (double *)m, (double *)v, s->beta1, s->one_minus_beta1,
            s->beta2, s->one_minus_beta2, s->step_size, s->inv_sqrt_bc2, s->eps, s->weight_decay);
    else /* the scalars rounded to float on the host, as adam_step_f32 rounds them */
        adam_kernel<<<blocks, dk_reduce::THREADS, 0, st>>>(
            n, (float *)params, (const float *)grads, (float *)m, (float *)v, (float)s->beta1,
            (float)s->one_minus_beta1, (float)s->beta2, (float)s->one_minus_beta2, (float)s->step_size,
            (float)s->inv_sqrt_bc2, (float)s->eps, (float)s->weight_decay);
    DK_CUDA_LAUNCHED("Adam kernel");
    return DK_OK;
}

/* Adam on the GPU (see dk_adam_cuda.h): the loops of dk_adam.c, one thread per element. */
#include <cuda_runtime.h>

#include "../common/dk_cuda.h"
#include "../common/dk_cuda_reduce.cuh"
#include "dk_adam_cuda.h"

/*   g' = fma(wd, p, g),  m = fma(b1, m, c1 g'),  v = fma(b2, v, c2 (g' g')),
 *   p  = p - (step_size m) / fma(sqrt(v), inv_sqrt_bc2, eps)                      */
__global__ void adam_f64_kernel(size_t n, double *p, const double *g, double *m, double *v, double b1, double c1,
                                double b2, double c2, double step_size, double inv_sqrt_bc2, double eps, double wd)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const double pi = p[i];
        const double gi = __fma_rn(wd, pi, g[i]);
        const double mi = __fma_rn(b1, m[i], __dmul_rn(c1, gi));
        const double vi = __fma_rn(b2, v[i], __dmul_rn(c2, __dmul_rn(gi, gi)));
        m[i] = mi;
        v[i] = vi;
        const double den = __fma_rn(__dsqrt_rn(vi), inv_sqrt_bc2, eps);
        p[i] = __dsub_rn(pi, __ddiv_rn(__dmul_rn(step_size, mi), den));
    }
}

__global__ void adam_f32_kernel(size_t n, float *p, const float *g, float *m, float *v, float b1, float c1, float b2,
                                float c2, float step_size, float inv_sqrt_bc2, float eps, float wd)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float pi = p[i];
        const float gi = __fmaf_rn(wd, pi, g[i]);
        const float mi = __fmaf_rn(b1, m[i], __fmul_rn(c1, gi));
        const float vi = __fmaf_rn(b2, v[i], __fmul_rn(c2, __fmul_rn(gi, gi)));
        m[i] = mi;
        v[i] = vi;
        const float den = __fmaf_rn(__fsqrt_rn(vi), inv_sqrt_bc2, eps);
        p[i] = __fsub_rn(pi, __fdiv_rn(__fmul_rn(step_size, mi), den));
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
        adam_f64_kernel<<<blocks, dk_reduce::THREADS, 0, st>>>(
            n, (double *)params, (const double *)grads, (double *)m, (double *)v, s->beta1, s->one_minus_beta1,
            s->beta2, s->one_minus_beta2, s->step_size, s->inv_sqrt_bc2, s->eps, s->weight_decay);
    else /* the scalars rounded to float on the host, as adam_step_f32 rounds them */
        adam_f32_kernel<<<blocks, dk_reduce::THREADS, 0, st>>>(
            n, (float *)params, (const float *)grads, (float *)m, (float *)v, (float)s->beta1,
            (float)s->one_minus_beta1, (float)s->beta2, (float)s->one_minus_beta2, (float)s->step_size,
            (float)s->inv_sqrt_bc2, (float)s->eps, (float)s->weight_decay);
    DK_CUDA_LAUNCHED("Adam kernel");
    return DK_OK;
}

/* Vector work on the GPU (see dk_vec_cuda.h). Rounding is spelled out with the _rn
 * intrinsics, so nvcc's own contraction (-fmad) cannot change a result. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdlib.h>

#include "../common/dk_cuda.h"
#include "../common/dk_cuda_reduce.cuh"
#include "dk_vec_cuda.h"

using dk_reduce::THREADS;

/* ---------------------------------------------------------------------------------------
 * Elementwise kernels (grid-stride; float64 unless stated)
 * ------------------------------------------------------------------------------------- */

__global__ void negate_kernel(size_t n, const double *src, double *dst)
{
    DK_GRID_STRIDE(i, n) dst[i] = -src[i];
}

__global__ void scale_f64_kernel(size_t n, double alpha, double *x)
{
    DK_GRID_STRIDE(i, n) x[i] = __dmul_rn(x[i], alpha);
}

/* y + alpha x, rounded once. */
__global__ void axpy_kernel(size_t n, double alpha, const double *x, double *y)
{
    DK_GRID_STRIDE(i, n) y[i] = __fma_rn(alpha, x[i], y[i]);
}

/* y = y + c x with c = -*a (b NULL) or *a - *b, read from device memory by every thread. */
__global__ void axpy_by_kernel(size_t n, const double *a, const double *b, const double *x, double *y)
{
    const double c = b ? __dsub_rn(*a, *b) : -*a;
    DK_GRID_STRIDE(i, n) y[i] = __fma_rn(c, x[i], y[i]);
}

__global__ void scale_by_inverse_kernel(size_t n, const double *a, double *x)
{
    const double alpha = __ddiv_rn(1.0, *a);
    DK_GRID_STRIDE(i, n) x[i] = __dmul_rn(x[i], alpha);
}

/* x + t d, rounded once. */
__global__ void line_kernel(size_t n, const double *x, double t, const double *d, double *out)
{
    DK_GRID_STRIDE(i, n) out[i] = __fma_rn(t, d[i], x[i]);
}

__global__ void sub_kernel(size_t n, const double *a, const double *b, double *out)
{
    DK_GRID_STRIDE(i, n) out[i] = __dsub_rn(a[i], b[i]);
}

__global__ void f32_to_f64_kernel(size_t n, const float *src, double *dst)
{
    DK_GRID_STRIDE(i, n) dst[i] = (double)src[i];
}

__global__ void f64_to_f32_kernel(size_t n, const double *src, float *dst)
{
    DK_GRID_STRIDE(i, n) dst[i] = __double2float_rn(src[i]);
}

template <typename T>
__global__ void accumulate_kernel(size_t n, const T *src, T *sum)
{
    DK_GRID_STRIDE(i, n) sum[i] = dk_reduce::add_rn(sum[i], src[i]);
}

__global__ void scale_f32_kernel(size_t n, double alpha, float *x)
{
    DK_GRID_STRIDE(i, n) x[i] = __double2float_rn(__dmul_rn((double)x[i], alpha));
}

__global__ void store_scalars_kernel(int f32, void *dst, const double *src, int count)
{
    for (int k = threadIdx.x; k < count; k += blockDim.x) {
        if (f32)
            ((float *)dst)[k] = __double2float_rn(src[k]);
        else
            ((double *)dst)[k] = src[k];
    }
}

/* ---------------------------------------------------------------------------------------
 * Reduction bodies: one element folded into a thread's running value
 * ------------------------------------------------------------------------------------- */

struct DotBody {
    const double *a, *b;
    __device__ void operator()(size_t i, double *v) const { v[0] = __fma_rn(a[i], b[i], v[0]); }
};
struct SumAbsBody {
    const double *a;
    __device__ void operator()(size_t i, double *v) const { v[0] = __dadd_rn(v[0], fabs(a[i])); }
};
struct MaxAbsBody {
    const double *a;
    __device__ void operator()(size_t i, double *v) const { v[0] = dk_reduce::max_nan(v[0], fabs(a[i])); }
};
/* y.s, s.s, y.y and max |s_i| in one pass: each component as DotBody or MaxAbsBody folds it. */
struct PairBody {
    const double *s, *y;
    __device__ void operator()(size_t i, double *v) const
    {
        v[0] = __fma_rn(y[i], s[i], v[0]);
        v[1] = __fma_rn(s[i], s[i], v[1]);
        v[2] = __fma_rn(y[i], y[i], v[2]);
        v[3] = dk_reduce::max_nan(v[3], fabs(s[i]));
    }
};
/* Components 0-2 summed, 3 the NaN-winning max. */
using PairOps = dk_reduce::SumThenMaxOps<3>;
/* The K results of a reduction, stored as they are. */
template <int K>
struct StoreAll {
    double *out;
    __device__ void operator()(const double *v) const
    {
        for (int k = 0; k < K; k++)
            out[k] = v[k];
    }
};
struct StoreScaled {
    double *out;
    double factor;
    __device__ void operator()(const double *v) const { *out = __dmul_rn(factor, v[0]); }
};

/* ---------------------------------------------------------------------------------------
 * The dk_vec_ops table
 * ------------------------------------------------------------------------------------- */

typedef struct vec_cuda {
    dk_vec_ops ops;     /* first: the table handed out is the context's address */
    cudaStream_t stream;
    double *partials;   /* device, 4 MAX_BLOCKS doubles (pair_stats reduces 4 components) */
    double *result;     /* device, 4 doubles */
    double *host;       /* page-locked, 4 doubles */
    dk_err error;       /* first failure not yet returned by vc_error */
} vec_cuda;

/* Records a failed CUDA call as the table's pending error (the first one wins; later
 * operations are skipped until it is returned, so its message is the one reported). */
static int vc_failed(vec_cuda *c, cudaError_t status, const char *what, int line)
{
    if (status == cudaSuccess)
        return 0;
    const dk_err e = dk_cuda_check((int)status, __FILE__, line, what);
    if (c->error == DK_OK)
        c->error = e;
    return 1;
}
#define VC_FAILED(c, expr, what) vc_failed((c), (expr), (what), __LINE__)

static dk_err vc_alloc(void *ctx, size_t n, double **out, const char *what)
{
    (void)ctx;
    *out = NULL;
    if (n > (size_t)-1 / sizeof(double))
        DK_ERROR(DK_ERR_MEMORY, "%s: %zu doubles overflow the size of an allocation", what, n);
    void *p = NULL;
    DK_CALL(dk_cuda_malloc(&p, n * sizeof(double), what));
    *out = (double *)p;
    return DK_OK;
}

static void vc_release(void *ctx, double *p)
{
    (void)ctx;
    dk_cuda_free(p);
}

/* Both reduction passes, then the K results back to the host in out (NaN after a failure). */
template <int K, class Ops, class Body>
static void vc_reduce(vec_cuda *c, size_t n, Body body, double out[K], const char *what)
{
    for (int k = 0; k < K; k++)
        out[k] = NAN;
    if (c->error != DK_OK)
        return;
    if (VC_FAILED(c, (dk_reduce::run<K, Ops>(n, body, StoreAll<K>{c->result}, c->partials, c->stream)), what))
        return;
    if (VC_FAILED(c, cudaMemcpyAsync(c->host, c->result, K * sizeof(double), cudaMemcpyDeviceToHost, c->stream),
                  what))
        return;
    if (VC_FAILED(c, cudaStreamSynchronize(c->stream), what))
        return;
    for (int k = 0; k < K; k++)
        out[k] = c->host[k];
}

static void vc_pair_stats(void *ctx, size_t n, const double *s, const double *y, double out[4])
{
    vc_reduce<4, PairOps>((vec_cuda *)ctx, n, PairBody{s, y}, out, "L-BFGS pair reductions on the GPU");
}

static double vc_dot(void *ctx, size_t n, const double *a, const double *b)
{
    double v;
    vc_reduce<1, dk_reduce::SumOps>((vec_cuda *)ctx, n, DotBody{a, b}, &v, "dot product on the GPU");
    return v;
}

static double vc_sum_abs(void *ctx, size_t n, const double *a)
{
    double v;
    vc_reduce<1, dk_reduce::SumOps>((vec_cuda *)ctx, n, SumAbsBody{a}, &v, "sum of |a_i| on the GPU");
    return v;
}

static double vc_max_abs(void *ctx, size_t n, const double *a)
{
    double v;
    vc_reduce<1, dk_reduce::MaxOps>((vec_cuda *)ctx, n, MaxAbsBody{a}, &v, "max |a_i| on the GPU");
    return v;
}

/* Skips the launch after an unreturned failure or for n = 0. */
static int vc_skip(const vec_cuda *c, size_t n) { return c->error != DK_OK || n == 0; }

static void vc_copy(void *ctx, size_t n, const double *src, double *dst)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (!vc_skip(c, n))
        VC_FAILED(c, cudaMemcpyAsync(dst, src, n * sizeof(double), cudaMemcpyDeviceToDevice, c->stream),
                  "vector copy on the GPU");
}

static void vc_negate(void *ctx, size_t n, const double *src, double *dst)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (vc_skip(c, n))
        return;
    negate_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, c->stream>>>(n, src, dst);
    VC_FAILED(c, cudaGetLastError(), "negate kernel");
}

static void vc_scale(void *ctx, size_t n, double alpha, double *x)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (vc_skip(c, n))
        return;
    scale_f64_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, c->stream>>>(n, alpha, x);
    VC_FAILED(c, cudaGetLastError(), "scale kernel");
}

static void vc_axpy(void *ctx, size_t n, double alpha, const double *x, double *y)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (vc_skip(c, n))
        return;
    axpy_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, c->stream>>>(n, alpha, x, y);
    VC_FAILED(c, cudaGetLastError(), "axpy kernel");
}

static void vc_line(void *ctx, size_t n, const double *x, double t, const double *d, double *out)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (vc_skip(c, n))
        return;
    line_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, c->stream>>>(n, x, t, d, out);
    VC_FAILED(c, cudaGetLastError(), "line kernel");
}

static void vc_sub(void *ctx, size_t n, const double *a, const double *b, double *out)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (vc_skip(c, n))
        return;
    sub_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, c->stream>>>(n, a, b, out);
    VC_FAILED(c, cudaGetLastError(), "subtract kernel");
}

/* The dot product stays on the device: no copy back, no wait. */
static void vc_dot_into(void *ctx, size_t n, const double *x, const double *y, double factor, double *out)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (c->error != DK_OK)
        return;
    VC_FAILED(c, (dk_reduce::run<1, dk_reduce::SumOps>(n, DotBody{x, y}, StoreScaled{out, factor}, c->partials,
                                                      c->stream)),
              "dot product on the GPU");
}

static void vc_axpy_by(void *ctx, size_t n, const double *a, const double *b, const double *x, double *y)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (vc_skip(c, n))
        return;
    axpy_by_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, c->stream>>>(n, a, b, x, y);
    VC_FAILED(c, cudaGetLastError(), "axpy kernel");
}

static void vc_scale_by_inverse(void *ctx, size_t n, const double *a, double *x)
{
    vec_cuda *c = (vec_cuda *)ctx;
    if (vc_skip(c, n))
        return;
    scale_by_inverse_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, c->stream>>>(n, a, x);
    VC_FAILED(c, cudaGetLastError(), "scale kernel");
}

static dk_err vc_error(void *ctx)
{
    vec_cuda *c = (vec_cuda *)ctx;
    const dk_err e = c->error;
    c->error = DK_OK;
    return e;
}

extern "C" dk_err dk_vec_ops_cuda_create(dk_vec_ops **out, void *stream)
{
    *out = NULL;
    vec_cuda *c = NULL;
    DK_CALL(DK_CALLOC(c, 1, "GPU vector operations"));
    c->stream = (cudaStream_t)stream;
    c->ops.ctx = c;
    c->ops.on_device = 1;
    c->ops.alloc = vc_alloc;
    c->ops.release = vc_release;
    c->ops.dot = vc_dot;
    c->ops.sum_abs = vc_sum_abs;
    c->ops.max_abs = vc_max_abs;
    c->ops.pair_stats = vc_pair_stats;
    c->ops.copy = vc_copy;
    c->ops.negate = vc_negate;
    c->ops.scale = vc_scale;
    c->ops.axpy = vc_axpy;
    c->ops.line = vc_line;
    c->ops.sub = vc_sub;
    c->ops.dot_into = vc_dot_into;
    c->ops.axpy_by = vc_axpy_by;
    c->ops.scale_by_inverse = vc_scale_by_inverse;
    c->ops.error = vc_error;
    dk_vec_ops *ops = &c->ops;
    dk_err err = dk_cuda_malloc((void **)&c->partials, (4 * dk_reduce::MAX_BLOCKS + 4) * sizeof(double),
                                "vector reduction scratch");
    if (err == DK_OK) {
        c->result = c->partials + 4 * dk_reduce::MAX_BLOCKS;
        err = dk_cuda_host_alloc((void **)&c->host, 4 * sizeof(double), "vector reduction results");
    }
    if (err != DK_OK) {
        dk_vec_ops_cuda_destroy(&ops);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    *out = ops;
    return DK_OK;
}

extern "C" void dk_vec_ops_cuda_destroy(dk_vec_ops **ops)
{
    if (!ops || !*ops)
        return;
    vec_cuda *c = (vec_cuda *)(*ops)->ctx;
    dk_cuda_free(c->partials);
    dk_cuda_host_free(c->host);
    free(c);
    *ops = NULL;
}

/* ---------------------------------------------------------------------------------------
 * Conversions and gradient arithmetic
 * ------------------------------------------------------------------------------------- */

static dk_err check_dtype(dk_dtype dtype)
{
    if (dtype != DK_F64 && dtype != DK_F32)
        DK_ERROR(DK_ERR_INTERNAL, "unknown dtype %d", (int)dtype);
    return DK_OK;
}

extern "C" dk_err dk_vec_cuda_to_f64(dk_dtype dtype, size_t n, const void *src, double *dst, void *stream)
{
    DK_CALL(check_dtype(dtype));
    if (n == 0)
        return DK_OK;
    if (dtype == DK_F64)
        return dk_cuda_device_copy(dst, src, n * sizeof(double), stream);
    f32_to_f64_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, (cudaStream_t)stream>>>(
        n, (const float *)src, dst);
    DK_CUDA_LAUNCHED("float32 -> float64 kernel");
    return DK_OK;
}

extern "C" dk_err dk_vec_cuda_from_f64(dk_dtype dtype, size_t n, const double *src, void *dst, void *stream)
{
    DK_CALL(check_dtype(dtype));
    if (n == 0)
        return DK_OK;
    if (dtype == DK_F64)
        return dk_cuda_device_copy(dst, src, n * sizeof(double), stream);
    f64_to_f32_kernel<<<dk_reduce::elementwise_blocks(n), THREADS, 0, (cudaStream_t)stream>>>(n, src,
                                                                                               (float *)dst);
    DK_CUDA_LAUNCHED("float64 -> float32 kernel");
    return DK_OK;
}

extern "C" dk_err dk_vec_cuda_accumulate(dk_dtype dtype, size_t n, const void *src, void *sum, int first,
                                         void *stream)
{
    DK_CALL(check_dtype(dtype));
    if (n == 0)
        return DK_OK;
    if (first)
        return dk_cuda_device_copy(sum, src, n * dk_dtype_size(dtype), stream);
    const unsigned blocks = dk_reduce::elementwise_blocks(n);
    if (dtype == DK_F64)
        accumulate_kernel<<<blocks, THREADS, 0, (cudaStream_t)stream>>>(n, (const double *)src, (double *)sum);
    else
        accumulate_kernel<<<blocks, THREADS, 0, (cudaStream_t)stream>>>(n, (const float *)src, (float *)sum);
    DK_CUDA_LAUNCHED("gradient accumulation kernel");
    return DK_OK;
}

extern "C" dk_err dk_vec_cuda_scale(dk_dtype dtype, size_t n, double alpha, void *x, void *stream)
{
    DK_CALL(check_dtype(dtype));
    if (n == 0)
        return DK_OK;
    const unsigned blocks = dk_reduce::elementwise_blocks(n);
    if (dtype == DK_F64)
        scale_f64_kernel<<<blocks, THREADS, 0, (cudaStream_t)stream>>>(n, alpha, (double *)x);
    else
        scale_f32_kernel<<<blocks, THREADS, 0, (cudaStream_t)stream>>>(n, alpha, (float *)x);
    DK_CUDA_LAUNCHED("scale kernel");
    return DK_OK;
}

extern "C" dk_err dk_vec_cuda_store_scalars(dk_dtype dtype, void *dst, const double *src, int count, void *stream)
{
    DK_CALL(check_dtype(dtype));
    if (count <= 0)
        return DK_OK;
    store_scalars_kernel<<<1, 32, 0, (cudaStream_t)stream>>>(dtype == DK_F32, dst, src, count);
    DK_CUDA_LAUNCHED("store scalars kernel");
    return DK_OK;
}

/* Deterministic reductions on the GPU, and the elementwise kernels' grid-stride loop and
 * once-rounded operations, shared by the vector operations (optim/dk_vec_cuda.cu), Adam
 * (optim/dk_adam_cuda.cu) and the losses (tasks/dk_loss_cuda.cu). Include from .cu files
 * only.
 *
 * A reduction of n elements is bitwise the same on every run and every GPU, because nothing
 * in it depends on scheduling (no floating-point atomics anywhere):
 *   pass 1: blocks_for(n) blocks (a function of n alone) of THREADS threads; thread j of block
 *     b visits i = b THREADS + j, then i + stride, ... (stride = blocks THREADS) in
 *     increasing order, accumulating in double; the block then combines its threads' values
 *     by a fixed shared-memory tree (pairs (t, t + s) for s = THREADS/2, ..., 1) and writes
 *     one partial per component to scratch;
 *   pass 2: one block combines the partials in the same way (thread j takes partials j,
 *     j + THREADS, ... in order, then the tree) and hands the result to an epilogue run by
 *     thread 0 (store it, add it to an accumulator, ...).
 * Both passes are queued on the caller's stream; scratch holds K blocks_for(n) doubles.
 */
#ifndef DK_CUDA_REDUCE_CUH
#define DK_CUDA_REDUCE_CUH

#include <cuda_runtime.h>
#include <stddef.h>

namespace dk_reduce {

enum { THREADS = 256, PER_THREAD = 4, MAX_BLOCKS = 1024, MAX_ELEMENTWISE_BLOCKS = 8192 };

/* Pass-1 blocks for n elements: about PER_THREAD elements per thread, at most MAX_BLOCKS.
 * Depends on n only (never on the device), so the summation order does too. */
static inline unsigned blocks_for(size_t n)
{
    const size_t per_block = (size_t)THREADS * PER_THREAD;
    const size_t b = (n + per_block - 1) / per_block;
    return b < 1 ? 1u : (b > MAX_BLOCKS ? (unsigned)MAX_BLOCKS : (unsigned)b);
}

/* Blocks of an elementwise grid-stride kernel over n > 0 elements. */
static inline unsigned elementwise_blocks(size_t n)
{
    const size_t b = (n + THREADS - 1) / THREADS;
    return b > MAX_ELEMENTWISE_BLOCKS ? (unsigned)MAX_ELEMENTWISE_BLOCKS : (unsigned)b;
}

/* Elementwise kernels visit i = b blockDim + t, then i + gridDim blockDim, ... < n. */
#define DK_GRID_STRIDE(i, n)                                                               \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                \
         i += (size_t)gridDim.x * blockDim.x)

/* IEEE operations rounded once, by type, so that one template kernel states a formula for
 * float64 and float32 alike (nvcc contracts no explicitly rounded operation into an FMA). */
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double sqrt_rn(double a) { return __dsqrt_rn(a); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double fma_rn(double a, double b, double c) { return __fma_rn(a, b, c); }
__device__ __forceinline__ float fma_rn(float a, float b, float c) { return __fmaf_rn(a, b, c); }

/* max with NaN winning (a NaN anywhere makes the result NaN); the values are magnitudes. */
__device__ __forceinline__ double max_nan(double a, double b)
{
    if (a != a)
        return a;
    if (b != b)
        return b;
    return b > a ? b : a;
}

/* Component combiners: every component summed; every component a NaN-winning max; or a
 * mix of the two (SumThenMaxOps). */
struct SumOps {
    __device__ static double identity(int) { return 0.0; }
    __device__ static double combine(int, double a, double b) { return __dadd_rn(a, b); }
};
struct MaxOps {
    __device__ static double identity(int) { return 0.0; }
    __device__ static double combine(int, double a, double b) { return max_nan(a, b); }
};
/* Components 0 .. N_SUM-1 summed (as SumOps), the rest the NaN-winning max (as MaxOps):
 * sums and a maximum from one pass over the data. */
template <int N_SUM>
struct SumThenMaxOps {
    __device__ static double identity(int) { return 0.0; }
    __device__ static double combine(int k, double a, double b) { return k < N_SUM ? __dadd_rn(a, b) : max_nan(a, b); }
};

/* The fixed tree over one block; the result is valid in thread 0. */
template <int K, class Ops>
__device__ __forceinline__ void block_reduce(double *v)
{
    __shared__ double sh[K][THREADS];
    const int t = threadIdx.x;
    for (int k = 0; k < K; k++)
        sh[k][t] = v[k];
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s)
            for (int k = 0; k < K; k++)
                sh[k][t] = Ops::combine(k, sh[k][t], sh[k][t + s]);
        __syncthreads();
    }
    if (t == 0)
        for (int k = 0; k < K; k++)
            v[k] = sh[k][0];
}

/* Pass 1. body(i, v) folds element i into this thread's values v[0..K). */
template <int K, class Ops, class Body>
__global__ void __launch_bounds__(THREADS) partial_kernel(size_t n, Body body, double *partials)
{
    double v[K];
    for (int k = 0; k < K; k++)
        v[k] = Ops::identity(k);
    const size_t stride = (size_t)gridDim.x * THREADS;
    for (size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x; i < n; i += stride)
        body(i, v);
    block_reduce<K, Ops>(v);
    if (threadIdx.x == 0)
        for (int k = 0; k < K; k++)
            partials[(size_t)k * gridDim.x + blockIdx.x] = v[k];
}

/* Pass 2. epilogue(v) runs once, in thread 0, with the K results. */
template <int K, class Ops, class Epilogue>
__global__ void __launch_bounds__(THREADS) finish_kernel(const double *partials, unsigned blocks, Epilogue epilogue)
{
    double v[K];
    for (int k = 0; k < K; k++)
        v[k] = Ops::identity(k);
    for (unsigned j = threadIdx.x; j < blocks; j += THREADS)
        for (int k = 0; k < K; k++)
            v[k] = Ops::combine(k, v[k], partials[(size_t)k * blocks + j]);
    block_reduce<K, Ops>(v);
    if (threadIdx.x == 0)
        epilogue(v);
}

/* Queues both passes; returns the first launch error (cudaSuccess otherwise). */
template <int K, class Ops, class Body, class Epilogue>
static cudaError_t run(size_t n, Body body, Epilogue epilogue, double *scratch, cudaStream_t stream)
{
    const unsigned blocks = blocks_for(n);
    partial_kernel<K, Ops><<<blocks, THREADS, 0, stream>>>(n, body, scratch);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return e;
    finish_kernel<K, Ops><<<1, THREADS, 0, stream>>>(scratch, blocks, epilogue);
    return cudaGetLastError();
}

} /* namespace dk_reduce */

#endif

/* Fused KAN layer on CUDA: forward and backward (dk_kan_cuda.h), tested against the CPU
 * kernels of dk_kan_layer.c.
 *
 * Per call a packing kernel folds mask and scales into A[i][c][j] = mask*scale_sp*coef and
 * Bw[i][j] = mask*scale_base with outputs contiguous: a warp always works on 32 consecutive
 * outputs of one (sample, input), so every weight load is one coalesced transaction, and
 * the k+1 rows a sample needs differ between samples only by the c_start offset.
 *
 * Forward: block = 32 outputs (lanes) x 32 samples (8 warps x 4 samples each). Inputs go in
 * chunks of 8: the block evaluates the 32 x 8 (sample, input) pairs' span, k+1 basis
 * values and silu cooperatively (one pair per thread) into shared memory, then each thread
 * adds the chunk's terms to its 4 outputs, kept in registers across all inputs. Nothing of
 * size batch x in x n_basis is ever stored.
 *
 * Backward: parameter gradients by dk_kc_param_kernel (one thread per edge, columns in
 * shared memory, partial sums per batch slice, reduced in slice order: no atomics, so the
 * result is bitwise reproducible); dx by its own kernel, one warp per (sample, input)
 * summing over the outputs in lanes and a fixed butterfly, again without atomics.
 */
#include <climits>

#include "dk_kan_cuda_common.cuh"

namespace {

enum { FWD_SAMPLES = 32, FWD_INPUTS = 8, FWD_PER_THREAD = 4 }; /* 32 x 8 pairs: one per thread */
enum { DX_SAMPLES = 32, DX_INPUTS = 8 };                      /* 256 pairs: one per thread */

template <typename T, int K>
__global__ void __launch_bounds__(256) kan_forward_kernel(dk_kc_args<T> a)
{
    constexpr int PAIRS = FWD_SAMPLES * FWD_INPUTS;
    __shared__ T s_val[PAIRS * (K + 1)];
    __shared__ T s_sil[PAIRS];
    __shared__ int s_cs[PAIRS];
    const int lane = threadIdx.x, w = threadIdx.y, tid = w * 32 + lane;
    const int j = blockIdx.y * 32 + lane, b0 = blockIdx.x * FWD_SAMPLES;
    T acc[FWD_PER_THREAD];
#pragma unroll
    for (int s = 0; s < FWD_PER_THREAD; s++)
        acc[s] = 0;
    for (int i0 = 0; i0 < a.in; i0 += FWD_INPUTS) {
        {
            const int bb = tid / FWD_INPUTS, ii = tid % FWD_INPUTS, b = b0 + bb, i = i0 + ii;
            if (b < a.batch && i < a.in) {
                const T xv = a.x[(size_t)b * a.in + i];
                s_cs[tid] = dk_basis_eval<T, K, 0>(a.grid + (size_t)i * a.nk, a.nk, a.nb, xv, s_val + tid * (K + 1));
                T sl[1];
                dk_silu_derivs<T, 0>(xv, sl);
                s_sil[tid] = sl[0];
            }
        }
        __syncthreads();
        if (j < a.out) {
            const int nic = a.in - i0 < FWD_INPUTS ? a.in - i0 : FWD_INPUTS;
            for (int ii = 0; ii < nic; ii++) {
                const int i = i0 + ii;
                const T wb = dk_ld(a.Bw + (size_t)i * a.out + j);
                const T *Ai = a.A + (size_t)i * a.nb * a.out + j;
#pragma unroll
                for (int s = 0; s < FWD_PER_THREAD; s++) {
                    const int bb = w + 8 * s;
                    if (b0 + bb < a.batch) {
                        /* y_bj += silu w_base + sum_r N_r w_sp[c_start + r], the CPU's order */
                        const int q = bb * FWD_INPUTS + ii;
                        const T *N = s_val + q * (K + 1), *Ar = Ai + (size_t)s_cs[q] * a.out;
                        T v = fma(s_sil[q], wb, acc[s]);
#pragma unroll
                        for (int r = 0; r <= K; r++)
                            v = fma(N[r], dk_ld(Ar + (size_t)r * a.out), v);
                        acc[s] = v;
                    }
                }
            }
        }
        __syncthreads();
    }
    if (j < a.out)
#pragma unroll
        for (int s = 0; s < FWD_PER_THREAD; s++) {
            const int b = b0 + w + 8 * s;
            if (b < a.batch)
                a.y[(size_t)b * a.out + j] = acc[s];
        }
}

/* dx_bi = sum_j dy_bj (silu'(x_bi) Bw[i][j] + sum_r N'_r A[i][c_start + r][j]).
 * Block: 32 samples x 8 inputs, their basis derivatives staged once (one pair per thread);
 * warp w then takes input w for the 32 samples in turn (the same rows of A stay in cache),
 * its lanes striding over the outputs, and reduces with a fixed butterfly. */
template <typename T, int K>
__global__ void __launch_bounds__(256) kan_dx_kernel(dk_kc_args<T> a)
{
    constexpr int PAIRS = DX_SAMPLES * DX_INPUTS, NV = 2 * (K + 1);
    __shared__ T s_val[PAIRS * NV];
    __shared__ T s_dsil[PAIRS];
    __shared__ int s_cs[PAIRS];
    const int lane = threadIdx.x, w = threadIdx.y, tid = w * 32 + lane;
    const int b0 = blockIdx.x * DX_SAMPLES, i0 = blockIdx.y * DX_INPUTS;
    {
        const int bb = tid / DX_INPUTS, ii = tid % DX_INPUTS, b = b0 + bb, i = i0 + ii;
        if (b < a.batch && i < a.in) {
            const T xv = a.x[(size_t)b * a.in + i];
            s_cs[tid] = dk_basis_eval<T, K, 1>(a.grid + (size_t)i * a.nk, a.nk, a.nb, xv, s_val + tid * NV);
            T sl[2];
            dk_silu_derivs<T, 1>(xv, sl);
            s_dsil[tid] = sl[1];
        }
    }
    __syncthreads();
    const int i = i0 + w;
    if (i >= a.in)
        return;
    const T *Ai = a.A + (size_t)i * a.nb * a.out, *Bi = a.Bw + (size_t)i * a.out;
    for (int m = 0; m < DX_SAMPLES; m++) {
        const int b = b0 + m;
        if (b >= a.batch)
            break;
        const int q = m * DX_INPUTS + w;
        const T *N1 = s_val + q * NV + (K + 1);
        const T sd = s_dsil[q];
        const T *Ar = Ai + (size_t)s_cs[q] * a.out;
        const T *dy = a.gy + (size_t)b * a.out;
        T u = 0;
        for (int j = lane; j < a.out; j += 32) {
            T t = sd * dk_ld(Bi + j);
#pragma unroll
            for (int r = 0; r <= K; r++)
                t = fma(N1[r], dk_ld(Ar + (size_t)r * a.out + j), t);
            u = fma(t, dy[j], u);
        }
        u = dk_warp_sum(u);
        if (lane == 0)
            a.gx[(size_t)b * a.in + i] = u;
    }
}

template <typename T, typename P>
dk_err kan_forward(const dk_kan_shape *s, const P *p, int batch, const T *x, T *y, void *workspace, void *stream)
{
    static const char what[] = "KAN layer forward (CUDA)";
    DK_CALL(dk_kc_check(s, batch, workspace, what));
    if (!p || !x || !y)
        DK_ERROR(DK_ERR_USAGE, "%s: missing parameters, input or output", what);
    if (batch == 0)
        return DK_OK;
    const dk_kc_plan pl = dk_kc_make_plan(s, sizeof(T));
    unsigned char *ws = dk_kc_align(workspace);
    T *A = (T *)(ws + pl.a), *Bw = (T *)(ws + pl.bw);
    cudaStream_t st = (cudaStream_t)stream;
    DK_CALL(dk_kc_pack<T>(s, p->coef, p->scale_base, p->scale_sp, p->mask, A, Bw, st));
    dk_kc_args<T> a = dk_kc_args_make<T>(s, batch);
    a.grid = p->grid;
    a.x = x;
    a.A = A;
    a.Bw = Bw;
    a.y = y;
    DK_KC_DISPATCH_K(s->k, DK_CALL((dk_kc_launch_tiles<T>(kan_forward_kernel<T, KK>, a, FWD_SAMPLES, a.out, 32, st,
                                                         "KAN forward kernel"))));
    return DK_OK;
}

template <typename T, typename P, typename Gr>
dk_err kan_backward(const dk_kan_shape *s, const P *p, int batch, const T *x, const T *dy, T *dx, const Gr *g,
                    void *workspace, void *stream)
{
    static const char what[] = "KAN layer backward (CUDA)";
    DK_CALL(dk_kc_check(s, batch, workspace, what));
    if (!p || !g || !x || !dy)
        DK_ERROR(DK_ERR_USAGE, "%s: missing parameters, gradients, input or output gradient", what);
    const dk_kc_plan pl = dk_kc_make_plan(s, sizeof(T));
    unsigned char *ws = dk_kc_align(workspace);
    cudaStream_t st = (cudaStream_t)stream;
    dk_kc_args<T> a = dk_kc_args_make<T>(s, batch);
    a.grid = p->grid;
    a.x = x;
    a.gy = dy;
    a.gx = dx;
    a.A = (T *)(ws + pl.a);
    a.Bw = (T *)(ws + pl.bw);
    a.part = (T *)(ws + pl.part);
    a.part_stride = pl.part_stride;
    DK_KC_DISPATCH_K(s->k, DK_CALL((dk_kc_param_grads<T, KK, false>(s, a, &pl, p->coef, p->scale_sp, p->mask,
                                                                      g->coef, g->scale_base, g->scale_sp, st,
                                                                      what))));
    if (!dx || batch == 0)
        return DK_OK;
    DK_CALL(dk_kc_pack<T>(s, p->coef, p->scale_base, p->scale_sp, p->mask, (T *)(ws + pl.a), (T *)(ws + pl.bw), st));
    DK_KC_DISPATCH_K(s->k, DK_CALL((dk_kc_launch_tiles<T>(kan_dx_kernel<T, KK>, a, DX_SAMPLES, a.in, DX_INPUTS, st,
                                                         "KAN input-gradient kernel"))));
    return DK_OK;
}

} /* namespace */

extern "C" {

size_t dk_kan_cuda_param_smem_bytes(int G, int k, dk_dtype dtype, int jet)
{
    const size_t es = dk_dtype_size(dtype);
    size_t bytes = 0;
    if (jet) {
        DK_KC_DISPATCH_K(k, bytes = dk_kc_param_smem_per_input(G + KK, dk_kc_param_sizes<KK, true>::NV,
                                                               dk_kc_param_sizes<KK, true>::NS, es));
    } else {
        DK_KC_DISPATCH_K(k, bytes = dk_kc_param_smem_per_input(G + KK, dk_kc_param_sizes<KK, false>::NV,
                                                               dk_kc_param_sizes<KK, false>::NS, es));
    }
    return bytes;
}

int dk_kan_cuda_largest_grid(int k, dk_dtype dtype, int jet, size_t limit_bytes)
{
    /* Linear in G: 32 elements per unit of G. */
    const size_t at_1 = dk_kan_cuda_param_smem_bytes(1, k, dtype, jet), per_g = 32 * dk_dtype_size(dtype);
    if (at_1 == 0 || at_1 > limit_bytes)
        return 0;
    const size_t more = (limit_bytes - at_1) / per_g;
    return more >= (size_t)INT_MAX ? INT_MAX : 1 + (int)more;
}

dk_err dk_kan_cuda_smem_limit(int device, size_t *bytes)
{
    int limit = 0;
    DK_CALL(dk_kc_smem_limit_of(device, &limit));
    *bytes = limit > 0 ? (size_t)limit : 0;
    return DK_OK;
}

size_t dk_kan_cuda_workspace_bytes(const dk_kan_shape *s, dk_dtype dtype)
{
    /* DK_KC_ALIGN extra so that an unaligned workspace can be aligned inside */
    return dk_kc_make_plan(s, dk_dtype_size(dtype)).total + DK_KC_ALIGN;
}

dk_err dk_kan_cuda_forward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, const double *x,
                               double *y, void *workspace, void *stream)
{
    DK_CALL(kan_forward<double>(s, p, batch, x, y, workspace, stream));
    return DK_OK;
}

dk_err dk_kan_cuda_forward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, const float *x,
                               float *y, void *workspace, void *stream)
{
    DK_CALL(kan_forward<float>(s, p, batch, x, y, workspace, stream));
    return DK_OK;
}

dk_err dk_kan_cuda_backward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, const double *x,
                                const double *dy, double *dx, const dk_kan_grads_f64 *g, void *workspace,
                                void *stream)
{
    DK_CALL(kan_backward<double>(s, p, batch, x, dy, dx, g, workspace, stream));
    return DK_OK;
}

dk_err dk_kan_cuda_backward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, const float *x,
                                const float *dy, float *dx, const dk_kan_grads_f32 *g, void *workspace,
                                void *stream)
{
    DK_CALL(kan_backward<float>(s, p, batch, x, dy, dx, g, workspace, stream));
    return DK_OK;
}

} /* extern "C" */

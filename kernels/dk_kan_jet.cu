/* Jet (second-order) KAN layer on CUDA (dk_kan_cuda.h), tested against the CPU kernels of
 * dk_kan_jet.c, whose mathematics (dk_kan_jet.h, dk_kan_jet_impl.inc) it follows:
 *   phi^(d)_ij = Bw[i][j] silu^(d)(x_i) + sum_r D^d B_{c_start+r}(x_i) A[i][c_start+r][j],
 *   y_j = sum_i phi_ij,  y1_aj = sum_i phi'_ij x1_ai,  y2_aj = sum_i phi''_ij x1_ai^2 + phi'_ij x2_ai.
 *
 * The weights are packed as for the first-order kernels (dk_kan_layer.cu), outputs
 * contiguous, so that a warp's 32 lanes are 32 consecutive outputs of one (sample, input).
 *
 * n_dir may be large (the first layer's width): the direction sums are accumulated in
 * registers DIRS directions at a time, the (cheap) per-chunk work being redone for each
 * chunk of directions rather than sizing register arrays by n_dir.
 *
 * Determinism: as for the first-order kernels, no atomics; every output is summed by one
 * thread (or one warp with a fixed butterfly) in a fixed order, and the parameter
 * gradients go through per-batch-slice partial sums reduced in slice order.
 */
#include "dk_kan_cuda_common.cuh"

namespace {

/* Forward: 16 samples (8 warps x 2) x 32 outputs per block, inputs in chunks of 8, so 128
 * (sample, input) pairs staged per chunk. */
enum { JF_SAMPLES = 16, JF_INPUTS = 8, JF_PER_THREAD = 2, JF_PAIRS = JF_SAMPLES * JF_INPUTS };
/* Input gradients: 16 samples x 8 inputs per block, one warp per input. */
enum { JG_SAMPLES = 16, JG_INPUTS = 8, JG_PAIRS = JG_SAMPLES * JG_INPUTS };
/* Directions per register chunk. */
enum { DIRS = 4 };

template <typename T, int K>
__global__ void __launch_bounds__(256) kan_jet_forward_kernel(dk_kc_args<T> a)
{
    constexpr int NV = 3 * (K + 1);
    __shared__ T s_val[JF_PAIRS * NV];
    __shared__ T s_sil[JF_PAIRS * 3];
    __shared__ int s_cs[JF_PAIRS];
    const int lane = threadIdx.x, w = threadIdx.y, tid = w * 32 + lane;
    const int j = blockIdx.y * 32 + lane, b0 = blockIdx.x * JF_SAMPLES, nd = a.nd;
    const bool jok = j < a.out;
    T y0[JF_PER_THREAD];
#pragma unroll
    for (int s = 0; s < JF_PER_THREAD; s++)
        y0[s] = 0;
    /* One pass with identity_input (or no directions), else one pass per chunk of DIRS
     * directions; y itself is summed in the first pass. */
    for (int a0 = 0; a0 == 0 || a0 < nd; a0 += DIRS) {
        T s1[JF_PER_THREAD][DIRS], s2[JF_PER_THREAD][DIRS], s3[JF_PER_THREAD][DIRS];
#pragma unroll
        for (int s = 0; s < JF_PER_THREAD; s++)
#pragma unroll
            for (int d = 0; d < DIRS; d++)
                s1[s][d] = s2[s][d] = s3[s][d] = 0;
        for (int i0 = 0; i0 < a.in; i0 += JF_INPUTS) {
            if (tid < JF_PAIRS) {
                const int bb = tid / JF_INPUTS, ii = tid % JF_INPUTS, b = b0 + bb, i = i0 + ii;
                if (b < a.batch && i < a.in) {
                    const T xv = a.x[(size_t)b * a.in + i];
                    s_cs[tid] = dk_basis_eval<T, K, 2>(a.grid + (size_t)i * a.nk, a.nk, a.nb, xv, s_val + tid * NV);
                    T sl[3];
                    dk_silu_derivs<T, 2>(xv, sl);
                    s_sil[tid * 3] = sl[0];
                    s_sil[tid * 3 + 1] = sl[1];
                    s_sil[tid * 3 + 2] = sl[2];
                }
            }
            __syncthreads();
            if (jok) {
                const int nic = a.in - i0 < JF_INPUTS ? a.in - i0 : JF_INPUTS;
                for (int ii = 0; ii < nic; ii++) {
                    const int i = i0 + ii;
                    const T wb = dk_ld(a.Bw + (size_t)i * a.out + j);
                    const T *Ai = a.A + (size_t)i * a.nb * a.out + j;
#pragma unroll
                    for (int s = 0; s < JF_PER_THREAD; s++) {
                        const int bb = w + 8 * s, b = b0 + bb;
                        if (b >= a.batch)
                            continue;
                        const int q = bb * JF_INPUTS + ii;
                        const T *N = s_val + q * NV, *sl = s_sil + q * 3, *Ar = Ai + (size_t)s_cs[q] * a.out;
                        T p0 = sl[0] * wb, p1 = sl[1] * wb, p2 = sl[2] * wb;
#pragma unroll
                        for (int r = 0; r <= K; r++) {
                            const T wr = dk_ld(Ar + (size_t)r * a.out);
                            p0 = fma(N[r], wr, p0);
                            p1 = fma(N[K + 1 + r], wr, p1);
                            p2 = fma(N[2 * (K + 1) + r], wr, p2);
                        }
                        if (a0 == 0)
                            y0[s] += p0;
                        if (a.identity) {
                            /* x1 = identity, x2 = 0: y1_ij = phi'_ij, y2_ij = phi''_ij */
                            const size_t o = ((size_t)b * nd + i) * a.out + j;
                            a.y1[o] = p1;
                            a.y2[o] = p2;
                        } else {
                            const T *u = a.x1 + (size_t)b * nd * a.in + i, *v = a.x2 + (size_t)b * nd * a.in + i;
#pragma unroll
                            for (int d = 0; d < DIRS; d++)
                                if (a0 + d < nd) {
                                    const T ua = u[(size_t)(a0 + d) * a.in], va = v[(size_t)(a0 + d) * a.in];
                                    s1[s][d] = fma(ua, p1, s1[s][d]);
                                    s2[s][d] = fma(ua * ua, p2, s2[s][d]);
                                    s3[s][d] = fma(va, p1, s3[s][d]);
                                }
                        }
                    }
                }
            }
            __syncthreads();
        }
        if (jok)
#pragma unroll
            for (int s = 0; s < JF_PER_THREAD; s++) {
                const int b = b0 + w + 8 * s;
                if (b >= a.batch)
                    continue;
                if (a0 == 0)
                    a.y[(size_t)b * a.out + j] = y0[s];
                if (!a.identity)
#pragma unroll
                    for (int d = 0; d < DIRS; d++)
                        if (a0 + d < nd) {
                            const size_t o = ((size_t)b * nd + a0 + d) * a.out + j;
                            a.y1[o] = s1[s][d];
                            a.y2[o] = s2[s][d] + s3[s][d];
                        }
            }
        if (a.identity)
            break;
    }
}

/* Input gradients (not with identity_input). With the per-edge
 *   G1_ij = sum_a gy1_aj x1_ai + gy2_aj x2_ai,   G2_ij = sum_a gy2_aj x1_ai^2,
 *   gx_i     = sum_j gy_j phi'_ij + G1_ij phi''_ij + G2_ij phi'''_ij,
 *   gx1_ai   = sum_j gy1_aj phi'_ij + 2 x1_ai sum_j gy2_aj phi''_ij,
 *   gx2_ai   = sum_j gy2_aj phi'_ij.
 * Block: 16 samples x 8 inputs, their basis derivatives 1..3 staged once; warp w takes
 * input w for the 16 samples in turn, lanes striding over the outputs, each lane holding
 * partial sums for DIRS directions, reduced with a fixed butterfly per direction chunk. */
template <typename T, int K>
__global__ void __launch_bounds__(256) kan_jet_gx_kernel(dk_kc_args<T> a)
{
    constexpr int NV = 4 * (K + 1);
    __shared__ T s_val[JG_PAIRS * NV];
    __shared__ T s_sil[JG_PAIRS * 4];
    __shared__ int s_cs[JG_PAIRS];
    const int lane = threadIdx.x, w = threadIdx.y, tid = w * 32 + lane;
    const int b0 = blockIdx.x * JG_SAMPLES, i0 = blockIdx.y * JG_INPUTS, nd = a.nd, in = a.in, out = a.out;
    if (tid < JG_PAIRS) {
        const int bb = tid / JG_INPUTS, ii = tid % JG_INPUTS, b = b0 + bb, i = i0 + ii;
        if (b < a.batch && i < in) {
            const T xv = a.x[(size_t)b * in + i];
            s_cs[tid] = dk_basis_eval<T, K, 3>(a.grid + (size_t)i * a.nk, a.nk, a.nb, xv, s_val + tid * NV);
            dk_silu_derivs<T, 3>(xv, s_sil + tid * 4);
        }
    }
    __syncthreads();
    const int i = i0 + w;
    if (i >= in)
        return;
    const T *Ai = a.A + (size_t)i * a.nb * out, *Bi = a.Bw + (size_t)i * out;
    for (int m = 0; m < JG_SAMPLES; m++) {
        const int b = b0 + m;
        if (b >= a.batch)
            break;
        const int q = m * JG_INPUTS + w;
        const T *N = s_val + q * NV, *sl = s_sil + q * 4, *Ar = Ai + (size_t)s_cs[q] * out;
        const T *u = a.x1 + (size_t)b * nd * in + i, *v = a.x2 + (size_t)b * nd * in + i;
        const T *e1 = a.gy1 + (size_t)b * nd * out, *e2 = a.gy2 + (size_t)b * nd * out;
        for (int a0 = 0; a0 == 0 || a0 < nd; a0 += DIRS) {
            T gsum = 0, r1[DIRS], q2[DIRS], r2[DIRS];
#pragma unroll
            for (int d = 0; d < DIRS; d++)
                r1[d] = q2[d] = r2[d] = 0;
            for (int j = lane; j < out; j += 32) {
                const T wb = dk_ld(Bi + j);
                T p1 = sl[1] * wb, p2 = sl[2] * wb, p3 = sl[3] * wb;
#pragma unroll
                for (int r = 0; r <= K; r++) {
                    const T wr = dk_ld(Ar + (size_t)r * out + j);
                    p1 = fma(N[K + 1 + r], wr, p1);
                    p2 = fma(N[2 * (K + 1) + r], wr, p2);
                    p3 = fma(N[3 * (K + 1) + r], wr, p3);
                }
                if (a0 == 0) {
                    T h1 = 0, h2 = 0, h3 = 0;
                    for (int d = 0; d < nd; d++) {
                        const T ua = u[(size_t)d * in], va = v[(size_t)d * in];
                        const T f1 = e1[(size_t)d * out + j], f2 = e2[(size_t)d * out + j];
                        h1 = fma(ua, f1, h1);
                        h2 = fma(ua * ua, f2, h2);
                        h3 = fma(va, f2, h3);
                    }
                    const T g1 = h1 + h3, g2 = h2;
                    gsum += fma(a.gy[(size_t)b * out + j], p1, fma(g1, p2, g2 * p3));
                }
#pragma unroll
                for (int d = 0; d < DIRS; d++)
                    if (a0 + d < nd) {
                        const T f1 = e1[(size_t)(a0 + d) * out + j], f2 = e2[(size_t)(a0 + d) * out + j];
                        r1[d] = fma(f1, p1, r1[d]);
                        q2[d] = fma(f2, p2, q2[d]);
                        r2[d] = fma(f2, p1, r2[d]);
                    }
            }
            if (a0 == 0) {
                gsum = dk_warp_sum(gsum);
                if (lane == 0)
                    a.gx[(size_t)b * in + i] = gsum;
            }
#pragma unroll
            for (int d = 0; d < DIRS; d++)
                if (a0 + d < nd) {
                    const T R1 = dk_warp_sum(r1[d]), Q2 = dk_warp_sum(q2[d]), R2 = dk_warp_sum(r2[d]);
                    if (lane == 0) {
                        const size_t o = ((size_t)b * nd + a0 + d) * in + i;
                        a.gx1[o] = fma((T)2 * a.x1[o], Q2, R1);
                        a.gx2[o] = R2;
                    }
                }
        }
    }
}

inline dk_err jet_check(const dk_kan_shape *s, int batch, int n_dir, int identity, const void *x1, const void *x2,
                        const void *workspace, const char *what)
{
    DK_CALL(dk_kc_check(s, batch, workspace, what));
    if (n_dir < 0)
        DK_ERROR(DK_ERR_USAGE, "%s: negative number of directions %d", what, n_dir);
    if (identity && n_dir != s->in)
        DK_ERROR(DK_ERR_USAGE, "%s: identity_input needs n_dir = in, got n_dir = %d for a layer with %d inputs", what,
                 n_dir, s->in);
    if (!identity && n_dir > 0 && (!x1 || !x2))
        DK_ERROR(DK_ERR_USAGE, "%s: x1 and x2 are required without identity_input", what);
    return DK_OK;
}

/* The arguments both jet directions take alike. */
template <typename T>
inline dk_kc_args<T> jet_args(const dk_kan_shape *s, int batch, int n_dir, int identity, const T *grid, const T *x,
                              const T *x1, const T *x2)
{
    dk_kc_args<T> a = dk_kc_args_make<T>(s, batch);
    a.nd = n_dir;
    a.identity = identity != 0;
    a.grid = grid;
    a.x = x;
    a.x1 = x1;
    a.x2 = x2;
    return a;
}

template <typename T, typename P>
dk_err kan_jet_forward(const dk_kan_shape *s, const P *p, int batch, int n_dir, int identity, const T *x,
                       const T *x1, const T *x2, T *y, T *y1, T *y2, void *workspace, void *stream)
{
    static const char what[] = "KAN jet forward (CUDA)";
    DK_CALL(jet_check(s, batch, n_dir, identity, x1, x2, workspace, what));
    if (!p || !x || !y || (n_dir > 0 && (!y1 || !y2)))
        DK_ERROR(DK_ERR_USAGE, "%s: missing parameters, input or output", what);
    if (batch == 0)
        return DK_OK;
    const dk_kc_plan pl = dk_kc_make_plan(s, sizeof(T));
    unsigned char *ws = dk_kc_align(workspace);
    T *A = (T *)(ws + pl.a), *Bw = (T *)(ws + pl.bw);
    cudaStream_t st = (cudaStream_t)stream;
    DK_CALL(dk_kc_pack<T>(s, p->coef, p->scale_base, p->scale_sp, p->mask, A, Bw, st));
    dk_kc_args<T> a = jet_args(s, batch, n_dir, identity, p->grid, x, x1, x2);
    a.A = A;
    a.Bw = Bw;
    a.y = y;
    a.y1 = y1;
    a.y2 = y2;
    DK_KC_DISPATCH_K(s->k, DK_CALL((dk_kc_launch_tiles<T>(kan_jet_forward_kernel<T, KK>, a, JF_SAMPLES, a.out, 32, st,
                                                         "KAN jet forward kernel"))));
    return DK_OK;
}

template <typename T, typename P, typename Gr>
dk_err kan_jet_backward(const dk_kan_shape *s, const P *p, int batch, int n_dir, int identity, const T *x,
                        const T *x1, const T *x2, const T *gy, const T *gy1, const T *gy2, T *gx, T *gx1, T *gx2,
                        const Gr *g, void *workspace, void *stream)
{
    static const char what[] = "KAN jet backward (CUDA)";
    DK_CALL(jet_check(s, batch, n_dir, identity, x1, x2, workspace, what));
    if (!p || !g || !x || !gy || (n_dir > 0 && (!gy1 || !gy2)))
        DK_ERROR(DK_ERR_USAGE, "%s: missing parameters, gradients, input or output gradients", what);
    const bool want_gx = gx && !identity;
    if (want_gx && (!gx1 || !gx2) && n_dir > 0)
        DK_ERROR(DK_ERR_USAGE, "%s: gx, gx1 and gx2 go together (all three or none)", what);
    const dk_kc_plan pl = dk_kc_make_plan(s, sizeof(T));
    unsigned char *ws = dk_kc_align(workspace);
    cudaStream_t st = (cudaStream_t)stream;
    dk_kc_args<T> a = jet_args(s, batch, n_dir, identity, p->grid, x, x1, x2);
    a.gy = gy;
    a.gy1 = gy1;
    a.gy2 = gy2;
    a.gx = gx;
    a.gx1 = gx1;
    a.gx2 = gx2;
    a.A = (T *)(ws + pl.a);
    a.Bw = (T *)(ws + pl.bw);
    a.part = (T *)(ws + pl.part);
    a.part_stride = pl.part_stride;
    DK_KC_DISPATCH_K(s->k, DK_CALL((dk_kc_param_grads<T, KK, true>(s, a, &pl, p->coef, p->scale_sp, p->mask, g->coef,
                                                                     g->scale_base, g->scale_sp, st, what))));
    if (!want_gx || batch == 0)
        return DK_OK;
    DK_CALL(dk_kc_pack<T>(s, p->coef, p->scale_base, p->scale_sp, p->mask, (T *)(ws + pl.a), (T *)(ws + pl.bw), st));
    DK_KC_DISPATCH_K(s->k, DK_CALL((dk_kc_launch_tiles<T>(kan_jet_gx_kernel<T, KK>, a, JG_SAMPLES, a.in, JG_INPUTS, st,
                                                         "KAN jet input-gradient kernel"))));
    return DK_OK;
}

} /* namespace */

extern "C" {

size_t dk_kan_cuda_jet_workspace_bytes(const dk_kan_shape *s, int n_dir, dk_dtype dtype)
{
    (void)n_dir; /* directions are summed in registers, never staged in the workspace */
    return dk_kc_make_plan(s, dk_dtype_size(dtype)).total + DK_KC_ALIGN;
}

dk_err dk_kan_cuda_jet_forward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, int n_dir,
                                   int identity_input, const double *x, const double *x1, const double *x2,
                                   double *y, double *y1, double *y2, void *workspace, void *stream)
{
    DK_CALL(kan_jet_forward<double>(s, p, batch, n_dir, identity_input, x, x1, x2, y, y1, y2, workspace, stream));
    return DK_OK;
}

dk_err dk_kan_cuda_jet_forward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, int n_dir,
                                   int identity_input, const float *x, const float *x1, const float *x2, float *y,
                                   float *y1, float *y2, void *workspace, void *stream)
{
    DK_CALL(kan_jet_forward<float>(s, p, batch, n_dir, identity_input, x, x1, x2, y, y1, y2, workspace, stream));
    return DK_OK;
}

dk_err dk_kan_cuda_jet_backward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, int n_dir,
                                    int identity_input, const double *x, const double *x1, const double *x2,
                                    const double *gy, const double *gy1, const double *gy2, double *gx,
                                    double *gx1, double *gx2, const dk_kan_grads_f64 *g, void *workspace,
                                    void *stream)
{
    DK_CALL(kan_jet_backward<double>(s, p, batch, n_dir, identity_input, x, x1, x2, gy, gy1, gy2, gx, gx1, gx2, g,
                                     workspace, stream));
    return DK_OK;
}

dk_err dk_kan_cuda_jet_backward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, int n_dir,
                                    int identity_input, const float *x, const float *x1, const float *x2,
                                    const float *gy, const float *gy1, const float *gy2, float *gx, float *gx1,
                                    float *gx2, const dk_kan_grads_f32 *g, void *workspace, void *stream)
{
    DK_CALL(kan_jet_backward<float>(s, p, batch, n_dir, identity_input, x, x1, x2, gy, gy1, gy2, gx, gx1, gx2, g,
                                    workspace, stream));
    return DK_OK;
}

} /* extern "C" */

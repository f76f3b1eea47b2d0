/* Pieces shared by the CUDA KAN kernels (dk_kan_layer.cu, dk_kan_jet.cu): the per-(sample,
 * input) evaluation of B-splines and silu with their derivatives, the workspace plan, the
 * weight-packing and gradient-reduction kernels, and the parameter-gradient kernel that
 * forward-mode and jet backward share.
 *
 * Everything lives in an anonymous namespace: each translation unit gets its own copy of
 * the templates, so no symbol is shared between the two objects.
 *
 * Determinism: no kernel here uses atomics. Every sum is owned by one thread and runs in a
 * fixed order (over samples of a batch slice, over the slices in slice order, over a warp's
 * lanes in a fixed butterfly), and the slices depend only on (shape, batch, dtype). */
#ifndef DK_KAN_CUDA_COMMON_CUH
#define DK_KAN_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/dk_cuda.h"
#include "dk_bspline.h"
#include "dk_kan_cuda.h"

namespace {

/* ---------------------------------------------------------------------------------------
 * Device math
 * ------------------------------------------------------------------------------------- */

__device__ __forceinline__ double dk_exp(double v) { return exp(v); }
__device__ __forceinline__ float dk_exp(float v) { return expf(v); }
__device__ __forceinline__ double dk_ld(const double *p) { return __ldg(p); }
__device__ __forceinline__ float dk_ld(const float *p) { return __ldg(p); }

/* s[d] = silu^(d)(x), d = 0..ND (ND <= 3), as the CPU kernels (dk_kan_jet_impl.inc) compute
 * them: with sg = sigmoid(x), c = 1 - sg, q = sg c, m = c - sg,
 *   silu = x sg,  silu' = sg (1 + x c),  silu'' = q (2 + x m),  silu''' = q (3m + x (1 - 6q)).
 * a = exp(-|x|) <= 1 never overflows; sg and c are 1/(1+a) and a/(1+a), by the sign. */
template <typename T, int ND>
__device__ __forceinline__ void dk_silu_derivs(T x, T *s)
{
    const T a = dk_exp(-fabs(x)), inv = (T)1 / ((T)1 + a);
    const bool pos = x >= (T)0;
    const T sg = pos ? inv : a * inv, c = pos ? a * inv : inv;
    const T q = sg * c, m = c - sg;
    s[0] = x * sg;
    if (ND >= 1)
        s[1] = sg * fma(x, c, (T)1);
    if (ND >= 2)
        s[2] = q * fma(x, m, (T)2);
    if (ND >= 3)
        s[3] = q * fma(x, fma((T)-6, q, (T)1), (T)3 * m);
}

/* Knot t_j of t[0..n-1] for any j, extended outside with the end intervals' spacing (as
 * bs_knot_ext in dk_bspline_local.inc: only functions that do not exist ever see them). */
template <typename T>
__device__ __forceinline__ T dk_knot_ext(const T *t, int n, int j)
{
    if (j < 0)
        return t[0] - (T)(-j) * (t[1] - t[0]);
    if (j > n - 1)
        return t[n - 1] + (T)(j - (n - 1)) * (t[n - 1] - t[n - 2]);
    return t[j];
}

/* The window of the k+1 functions from c_start: out[p] = D[p - shift] where that function
 * exists, 0 elsewhere (shift != 0 only near the ends of the knot vector). The loop runs over
 * D's constant indices and lets the store index vary, so D stays in registers. */
template <typename T, int K>
__device__ __forceinline__ void dk_store_window(const T (&D)[K + 1], int shift, T *out)
{
    if (shift == 0) {
#pragma unroll
        for (int r = 0; r <= K; r++)
            out[r] = D[r];
        return;
    }
#pragma unroll
    for (int p = 0; p <= K; p++)
        out[p] = 0;
#pragma unroll
    for (int r = 0; r <= K; r++) {
        const int p = r + shift;
        if (p >= 0 && p <= K)
            out[p] = D[r];
    }
}

/* The non-zero B-splines of degree K at x on knots t[0..nk-1] (nb = nk - 1 - K functions)
 * and their derivatives 0..ND: out[d*(K+1) + p] = D^d B_{c_start+p}(x), the return value
 * being c_start (0 <= c_start <= nb-K-1), exactly the window dk_bspline_eval returns.
 * Outside [t_0, t_{nk-1}) (or for NaN) every value is 0 and c_start is 0, as the CPU
 * kernels' zero piece.
 *
 * Span m (t_m <= x < t_{m+1}) by binary search, which serves non-uniform knots; then the
 * Cox-de Boor triangle of dk_bspline_local.inc (bs_local), the knots of span m being
 * tl[a] = t_{m-K+1+a}, a = 0..2K-1, and the divisors rc[q][r] = 1/(t_{j+q} - t_j) for
 * j = m-q+1+r:
 *   N_{j,q} = (x - t_j) rc N_{j,q-1} + (t_{j+q+1} - x) rc' N_{j+1,q-1},
 *   D N_{j,q} = q rc N_{j,q-1} - q rc' N_{j+1,q-1}   (applied d times from row K-d). */
template <typename T, int K, int ND>
__device__ __forceinline__ int dk_basis_eval(const T *__restrict__ t, int nk, int nb, T x, T *__restrict__ out)
{
    if (!(x >= t[0] && x < t[nk - 1])) {
#pragma unroll
        for (int e = 0; e < (ND + 1) * (K + 1); e++)
            out[e] = 0;
        return 0;
    }
    int lo = 0, hi = nk - 1; /* t[lo] <= x < t[hi] */
    while (hi - lo > 1) {
        const int mid = (lo + hi) >> 1;
        if (t[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    const int m = lo;
    T tl[2 * K];
#pragma unroll
    for (int a = 0; a < 2 * K; a++)
        tl[a] = dk_knot_ext(t, nk, m - K + 1 + a);
    T rc[K + 1][K];
#pragma unroll
    for (int q = 1; q <= K; q++)
#pragma unroll
        for (int r = 0; r < q; r++)
            rc[q][r] = (T)1 / (tl[r + K] - tl[r + K - q]);
    T tri[K + 1][K + 1];
    tri[0][0] = 1;
#pragma unroll
    for (int q = 1; q <= K; q++) {
        T saved = 0;
#pragma unroll
        for (int r = 0; r < q; r++) {
            const T u = tri[q - 1][r] * rc[q][r];
            tri[q][r] = saved + (tl[r + K] - x) * u;
            saved = (x - tl[r + K - q]) * u;
        }
        tri[q][q] = saved;
    }
    const int first = m - K;
    int cs = first < 0 ? 0 : first;
    cs = cs > nb - K - 1 ? nb - K - 1 : cs;
    const int shift = first - cs;
    {
        T D[K + 1];
#pragma unroll
        for (int r = 0; r <= K; r++)
            D[r] = tri[K][r];
        dk_store_window<T, K>(D, shift, out);
    }
#pragma unroll
    for (int d = 1; d <= ND; d++) {
        T D[K + 1];
        if (d > K) {
#pragma unroll
            for (int r = 0; r <= K; r++)
                D[r] = 0;
        } else {
#pragma unroll
            for (int r = 0; r <= K; r++)
                D[r] = r <= K - d ? tri[K - d][r] : (T)0;
#pragma unroll
            for (int q = K - d + 1; q <= K; q++) {
                T saved = 0;
#pragma unroll
                for (int r = 0; r < q; r++) {
                    const T u = (T)q * D[r] * rc[q][r];
                    D[r] = saved - u;
                    saved = u;
                }
                D[q] = saved;
            }
        }
        dk_store_window<T, K>(D, shift, out + d * (K + 1));
    }
    return cs;
}

/* Sum over the 32 lanes of a warp (every lane must call). The butterfly's order is fixed,
 * so the result read from lane 0 is reproducible. */
template <typename T>
__device__ __forceinline__ T dk_warp_sum(T v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Everything a kernel reads or writes; unused pointers stay NULL. For first-order backward
 * gy is dy and gx is dx. */
template <typename T>
struct dk_kc_args {
    int in, out, nk, nb, batch, nd, identity, slices;
    const T *grid, *x, *x1, *x2, *gy, *gy1, *gy2, *A, *Bw;
    T *y, *y1, *y2, *gx, *gx1, *gx2, *part;
    size_t part_stride; /* elements per batch slice of part */
};

template <typename T>
inline dk_kc_args<T> dk_kc_args_make(const dk_kan_shape *s, int batch)
{
    dk_kc_args<T> a = {};
    a.in = s->in;
    a.out = s->out;
    a.nk = s->n_knots;
    a.nb = s->n_basis;
    a.batch = batch;
    a.slices = 1;
    return a;
}

/* The per-sample kernels' launch (forward, dx and their jet forms): one block of 32 x 8
 * threads per tile of `samples` samples by `cols` of the n_cols outputs or inputs. */
template <typename T>
inline dk_err dk_kc_launch_tiles(void (*kernel)(dk_kc_args<T>), const dk_kc_args<T> &a, int samples, int n_cols,
                                 int cols, cudaStream_t st, const char *what)
{
    /* In 64 bits: a batch within `samples` of INT_MAX must not wrap. */
    const dim3 grid((unsigned)(((long long)a.batch + samples - 1) / samples),
                    (unsigned)(((long long)n_cols + cols - 1) / cols));
    kernel<<<grid, dim3(32, 8), 0, st>>>(a);
    DK_CUDA_LAUNCHED(what);
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * Workspace plan (host)
 *
 * Offsets from the 256-byte aligned start of the workspace:
 *   A    [in][n_basis][out]   mask*scale_sp*coef, transposed so that the out index is
 *                             contiguous (a warp's 32 outputs load as one transaction)
 *   Bw   [in][out]            mask*scale_base
 *   part [S][in*n_basis*out + in*out]   per-batch-slice parameter-gradient partial sums
 * with S = max_slices, the most slices any batch may use on this shape. S is chosen to give
 * the parameter-gradient kernel about DK_KC_TARGET_WARPS warps in all (a fixed number, not
 * the device's: the summation order must not depend on the GPU), and capped so that the
 * partial sums stay under DK_KC_PART_CAP bytes. A call uses min(S, ceil(batch / 64))
 * slices, so tiny batches are not spread thin.
 * ------------------------------------------------------------------------------------- */

enum { DK_KC_ALIGN = 256, DK_KC_MAX_SLICES = 64, DK_KC_TARGET_WARPS = 4096, DK_KC_MIN_SLICE_SAMPLES = 64 };
static const size_t DK_KC_PART_CAP = (size_t)256 << 20;
/* Shared memory the parameter-gradient kernel aims at per block: two blocks fit an SM. */
static const size_t DK_KC_PARAM_SMEM_TARGET = 96 * 1024;

struct dk_kc_plan {
    size_t a, bw, part, part_stride, total;
    int max_slices;
};

inline size_t dk_kc_round(size_t n) { return (n + DK_KC_ALIGN - 1) / DK_KC_ALIGN * DK_KC_ALIGN; }

inline dk_kc_plan dk_kc_make_plan(const dk_kan_shape *s, size_t es)
{
    dk_kc_plan p;
    const size_t in = s->in > 0 ? (size_t)s->in : 0, out = s->out > 0 ? (size_t)s->out : 0;
    const size_t nb = s->n_basis > 0 ? (size_t)s->n_basis : 0;
    p.part_stride = in * nb * out + in * out;
    const size_t cols = in * ((out + 31) / 32), part_bytes = p.part_stride * es;
    size_t S = cols ? (DK_KC_TARGET_WARPS + cols - 1) / cols : 1;
    S = S < 1 ? 1 : S > DK_KC_MAX_SLICES ? DK_KC_MAX_SLICES : S;
    if (part_bytes && S * part_bytes > DK_KC_PART_CAP)
        S = DK_KC_PART_CAP / part_bytes > 1 ? DK_KC_PART_CAP / part_bytes : 1;
    p.max_slices = (int)S;
    size_t off = 0;
    p.a = off;
    off += dk_kc_round(in * nb * out * es);
    p.bw = off;
    off += dk_kc_round(in * out * es);
    p.part = off;
    off += dk_kc_round(S * part_bytes);
    p.total = off;
    return p;
}

inline int dk_kc_slices(const dk_kc_plan *p, int batch)
{
    const long long want = ((long long)batch + DK_KC_MIN_SLICE_SAMPLES - 1) / DK_KC_MIN_SLICE_SAMPLES;
    return want < 1 ? 1 : want > p->max_slices ? p->max_slices : (int)want;
}

inline unsigned char *dk_kc_align(void *workspace)
{
    const uintptr_t a = (uintptr_t)workspace;
    return (unsigned char *)workspace + ((DK_KC_ALIGN - a % DK_KC_ALIGN) % DK_KC_ALIGN);
}

/* The checks every entry point makes; `what` names the call in the message. */
inline dk_err dk_kc_check(const dk_kan_shape *s, int batch, const void *workspace, const char *what)
{
    if (!s)
        DK_ERROR(DK_ERR_USAGE, "%s: no layer shape", what);
    if (s->k < 1 || s->k > DK_MAX_DEGREE)
        DK_ERROR(DK_ERR_USAGE, "%s: KAN layer %dx%d with spline degree k = %d: the CUDA kernels serve k = 1..%d",
                 what, s->in, s->out, s->k, DK_MAX_DEGREE);
    if (s->in < 1 || s->out < 1 || s->G < 1 || s->n_knots != s->G + 2 * s->k + 1 || s->n_basis != s->G + s->k)
        DK_ERROR(DK_ERR_USAGE, "%s: invalid KAN layer shape in=%d out=%d G=%d k=%d n_knots=%d n_basis=%d", what,
                 s->in, s->out, s->G, s->k, s->n_knots, s->n_basis);
    if (s->in > DK_KAN_CUDA_MAX_IN || s->out > DK_KAN_CUDA_MAX_OUT)
        DK_ERROR(DK_ERR_USAGE, "%s: KAN layer %dx%d is too wide for the CUDA kernels' launch grid (in <= %d, "
                 "out <= %d)", what, s->in, s->out, DK_KAN_CUDA_MAX_IN, DK_KAN_CUDA_MAX_OUT);
    if (batch < 0)
        DK_ERROR(DK_ERR_USAGE, "%s: negative batch %d", what, batch);
    if (!workspace)
        DK_ERROR(DK_ERR_USAGE, "%s: no workspace", what);
    return DK_OK;
}

/* The most dynamic shared memory GPU `dev` gives one block (its opt-in limit). */
inline dk_err dk_kc_smem_limit_of(int dev, int *limit)
{
    DK_CUDA_CALL(cudaDeviceGetAttribute(limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
                 "querying the shared memory per block");
    return DK_OK;
}

/* The same for the current GPU, and which GPU that is. */
inline dk_err dk_kc_smem_limit(int *dev, int *limit)
{
    DK_CUDA_CALL(cudaGetDevice(dev), "cudaGetDevice");
    return dk_kc_smem_limit_of(*dev, limit);
}

/* Dynamic shared memory of `bytes` for `kernel`: refused with a message naming the shape
 * when the GPU cannot give that much to one block, opted into beyond the default 48 KB. */
inline dk_err dk_kc_smem_ready(const void *kernel, size_t bytes, const dk_kan_shape *s, const char *what)
{
    int dev = 0, limit = 0;
    DK_CALL(dk_kc_smem_limit(&dev, &limit));
    if (bytes > (size_t)limit)
        DK_ERROR(DK_ERR_USAGE,
                 "%s: KAN layer %dx%d, G=%d, k=%d needs %zu bytes of shared memory per block, GPU %d allows %d: "
                 "use a smaller grid size G",
                 what, s->in, s->out, s->G, s->k, bytes, dev, limit);
    if (bytes > 48 * 1024)
        DK_CUDA_CALL(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
                     "raising a kernel's shared memory limit");
    return DK_OK;
}

/* K as a compile-time constant KK in the statement(s) given: the degree-specialised kernels
 * keep their basis values and triangles in registers. */
#define DK_KC_DISPATCH_K(k, ...)                                                           \
    switch (k) {                                                                           \
    case 1: { constexpr int KK = 1; __VA_ARGS__; } break;                                  \
    case 2: { constexpr int KK = 2; __VA_ARGS__; } break;                                  \
    case 3: { constexpr int KK = 3; __VA_ARGS__; } break;                                  \
    case 4: { constexpr int KK = 4; __VA_ARGS__; } break;                                  \
    case 5: { constexpr int KK = 5; __VA_ARGS__; } break;                                  \
    case 6: { constexpr int KK = 6; __VA_ARGS__; } break;                                  \
    case 7: { constexpr int KK = 7; __VA_ARGS__; } break;                                  \
    default: break;                                                                        \
    }

/* ---------------------------------------------------------------------------------------
 * Weight packing: A[i][c][j] = mask*scale_sp*coef[i][j][c], Bw[i][j] = mask*scale_base.
 * A 32x32 tile of (j, c) goes through shared memory so that both the read (c contiguous)
 * and the write (j contiguous) coalesce. grid (ceil(out/32), ceil(nb/32), in), block 32x8.
 * ------------------------------------------------------------------------------------- */
template <typename T>
__global__ void __launch_bounds__(256) dk_kc_pack_kernel(int in, int out, int nb, const T *coef,
                                                         const T *scale_base, const T *scale_sp, const T *mask,
                                                         T *A, T *Bw)
{
    __shared__ T tile[32][33];
    const int i = blockIdx.z, j0 = blockIdx.x * 32, c0 = blockIdx.y * 32, tx = threadIdx.x, ty = threadIdx.y;
#pragma unroll
    for (int e = 0; e < 4; e++) {
        const int jl = ty + 8 * e, j = j0 + jl, c = c0 + tx;
        if (j < out && c < nb) {
            const size_t ij = (size_t)i * out + j;
            const T f = mask[ij] * scale_sp[ij];
            tile[jl][tx] = f * coef[ij * nb + c];
        }
    }
    __syncthreads();
#pragma unroll
    for (int e = 0; e < 4; e++) {
        const int cl = ty + 8 * e, c = c0 + cl, j = j0 + tx;
        if (c < nb && j < out)
            A[((size_t)i * nb + c) * out + j] = tile[tx][cl];
    }
    if (blockIdx.y == 0 && ty == 0 && j0 + tx < out) {
        const size_t ij = (size_t)i * out + j0 + tx;
        Bw[ij] = mask[ij] * scale_base[ij];
    }
}

template <typename T>
inline dk_err dk_kc_pack(const dk_kan_shape *s, const T *coef, const T *scale_base, const T *scale_sp,
                         const T *mask, T *A, T *Bw, cudaStream_t st)
{
    const dim3 grid((unsigned)((s->out + 31) / 32), (unsigned)((s->n_basis + 31) / 32), (unsigned)s->in);
    dk_kc_pack_kernel<T><<<grid, dim3(32, 8), 0, st>>>(s->in, s->out, s->n_basis, coef, scale_base, scale_sp, mask,
                                                        A, Bw);
    DK_CUDA_LAUNCHED("KAN weight packing kernel");
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * Parameter gradients.
 *
 * Unscaled sums over the samples b of a batch slice, per edge (i, j):
 *   Gsp[i][c][j] = sum_b sum_d D^d B_c(x_bi) P_d[b,i,j],   Gb[i][j] = sum_b sum_d silu^(d)(x_bi) P_d[b,i,j]
 * with P_0 = dy_bj for first-order backward (d = 0 only) and, for jets (dk_kan_jet_impl.inc),
 *   P_0 = gy_bj,  P_1 = sum_a gy1_baj x1_bai + gy2_baj x2_bai,  P_2 = sum_a gy2_baj x1_bai^2
 * (with identity_input P_1 = gy1_bij, P_2 = gy2_bij).
 *
 * Block: 32 outputs (lanes) x ib inputs (warps) x one batch slice (grid z). Each thread
 * owns one edge (i, j) and its column Gsp[i][0..nb-1][j] in shared memory: a sample touches
 * only k+1 entries of the column, at a data-dependent c_start, so the column cannot live in
 * registers, and no other thread ever writes it, so it needs neither atomics nor barriers.
 * The basis values of 32 samples x ib inputs are evaluated once per block (one pair per
 * thread) into shared memory and then read by the 32 lanes of a warp as broadcasts. Each
 * block finally writes its slice's partial sums once (whole columns, zeros included), and
 * dk_kc_reduce_kernel adds the slices in slice order.
 * ------------------------------------------------------------------------------------- */

template <int K, bool JET>
struct dk_kc_param_sizes {
    static const int NV = (JET ? 3 : 1) * (K + 1); /* staged basis values per pair */
    static const int NS = JET ? 3 : 1;             /* staged silu derivatives per pair */
};

inline size_t dk_kc_param_smem_per_input(int nb, int nv, int ns, size_t es)
{
    return (size_t)nb * 32 * es + (size_t)32 * (nv + ns) * es + 32 * sizeof(int);
}

template <typename T, int K, bool JET>
__global__ void __launch_bounds__(256) dk_kc_param_kernel(dk_kc_args<T> a)
{
    constexpr int NV = dk_kc_param_sizes<K, JET>::NV, NS = dk_kc_param_sizes<K, JET>::NS;
    extern __shared__ __align__(16) unsigned char dk_kc_smem[];
    const int ib = blockDim.y, lane = threadIdx.x, w = threadIdx.y;
    T *gs = (T *)dk_kc_smem;               /* [ib][nb][32] */
    T *sv = gs + (size_t)ib * a.nb * 32;   /* [ib*32][NV] */
    T *ss = sv + (size_t)ib * 32 * NV;     /* [ib*32][NS] */
    int *scs = (int *)(ss + (size_t)ib * 32 * NS);
    const int i = blockIdx.y * ib + w, j = blockIdx.x * 32 + lane, slice = blockIdx.z;
    const bool live = i < a.in && j < a.out;
    const int b_begin = (int)((long long)a.batch * slice / a.slices);
    const int b_end = (int)((long long)a.batch * (slice + 1) / a.slices);
    T *col = gs + (size_t)w * a.nb * 32 + lane;
    if (live)
        for (int c = 0; c < a.nb; c++)
            col[(size_t)c * 32] = 0;
    T gb = 0;
    for (int c0 = b_begin; c0 < b_end; c0 += 32) {
        {
            const int q = w * 32 + lane, b = c0 + lane;
            if (i < a.in && b < b_end) {
                const T xv = a.x[(size_t)b * a.in + i];
                scs[q] = dk_basis_eval<T, K, JET ? 2 : 0>(a.grid + (size_t)i * a.nk, a.nk, a.nb, xv, sv + q * NV);
                T sl[4];
                dk_silu_derivs<T, NS - 1>(xv, sl);
#pragma unroll
                for (int e = 0; e < NS; e++)
                    ss[q * NS + e] = sl[e];
            }
        }
        __syncthreads();
        if (live) {
            const int n = b_end - c0 < 32 ? b_end - c0 : 32;
            for (int s = 0; s < n; s++) {
                const int q = w * 32 + s, b = c0 + s;
                const T *N = sv + q * NV;
                const T g0 = a.gy[(size_t)b * a.out + j];
                T *cc = col + (size_t)scs[q] * 32;
                if (!JET) {
                    gb = fma(ss[q], g0, gb);
#pragma unroll
                    for (int r = 0; r <= K; r++)
                        cc[r * 32] = fma(N[r], g0, cc[r * 32]);
                } else {
                    T g1, g2;
                    if (a.identity) {
                        const size_t o = ((size_t)b * a.nd + i) * a.out + j;
                        g1 = a.gy1[o];
                        g2 = a.gy2[o];
                    } else {
                        /* P_1 and P_2 summed over the directions, in direction order, with
                         * the x1 and x2 halves of P_1 apart as on the CPU */
                        const T *u = a.x1 + (size_t)b * a.nd * a.in + i, *v = a.x2 + (size_t)b * a.nd * a.in + i;
                        const T *e1 = a.gy1 + (size_t)b * a.nd * a.out + j, *e2 = a.gy2 + (size_t)b * a.nd * a.out + j;
                        T h1 = 0, h2 = 0, h3 = 0;
                        for (int d = 0; d < a.nd; d++) {
                            const T ua = u[(size_t)d * a.in], va = v[(size_t)d * a.in];
                            const T f1 = e1[(size_t)d * a.out], f2 = e2[(size_t)d * a.out];
                            h1 = fma(ua, f1, h1);
                            h2 = fma(ua * ua, f2, h2);
                            h3 = fma(va, f2, h3);
                        }
                        g1 = h1 + h3;
                        g2 = h2;
                    }
                    const T *sl = ss + q * NS;
                    gb = fma(sl[0], g0, fma(sl[1], g1, fma(sl[2], g2, gb)));
#pragma unroll
                    for (int r = 0; r <= K; r++)
                        cc[r * 32] = fma(N[r], g0, fma(N[K + 1 + r], g1, fma(N[2 * (K + 1) + r], g2, cc[r * 32])));
                }
            }
        }
        __syncthreads();
    }
    if (live) {
        T *P = a.part + (size_t)slice * a.part_stride;
        for (int c = 0; c < a.nb; c++)
            P[((size_t)i * a.nb + c) * a.out + j] = col[(size_t)c * 32];
        P[(size_t)a.in * a.nb * a.out + (size_t)i * a.out + j] = gb;
    }
}

/* Sum of the slices in slice order, then pykan's layout and the chain rule:
 *   dcoef[i][j][c] = mask scale_sp Gsp[i][c][j],  dscale_sp[i][j] = mask sum_c coef[i][j][c] Gsp[i][c][j],
 *   dscale_base[i][j] = mask Gb[i][j].
 * One thread per edge. */
template <typename T>
__global__ void __launch_bounds__(256) dk_kc_reduce_kernel(int in, int out, int nb, int slices, size_t stride,
                                                           const T *part, const T *coef, const T *scale_sp,
                                                           const T *mask, T *gcoef, T *gscale_base, T *gscale_sp)
{
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)in * out)
        return;
    const size_t i = e / out, j = e % out, ij = e;
    const T mk = mask[ij], f = mk * scale_sp[ij];
    T dsp = 0;
    for (int c = 0; c < nb; c++) {
        const T *src = part + (i * nb + c) * out + j;
        T gv = src[0];
        for (int sl = 1; sl < slices; sl++)
            gv += src[(size_t)sl * stride];
        gcoef[ij * nb + c] = f * gv;
        dsp = fma(coef[ij * nb + c], gv, dsp);
    }
    const T *src = part + (size_t)in * nb * out + ij;
    T gbv = src[0];
    for (int sl = 1; sl < slices; sl++)
        gbv += src[(size_t)sl * stride];
    gscale_sp[ij] = mk * dsp;
    gscale_base[ij] = mk * gbv;
}

/* The parameter-gradient kernel then the reduction, for a of either kind; a.part and
 * a.part_stride set, a.slices set here. */
template <typename T, int K, bool JET>
inline dk_err dk_kc_param_grads(const dk_kan_shape *s, dk_kc_args<T> a, const dk_kc_plan *pl, const T *coef,
                                const T *scale_sp, const T *mask, T *gcoef, T *gscale_base, T *gscale_sp,
                                cudaStream_t st, const char *what)
{
    constexpr int NV = dk_kc_param_sizes<K, JET>::NV, NS = dk_kc_param_sizes<K, JET>::NS;
    const size_t per_input = dk_kc_param_smem_per_input(s->n_basis, NV, NS, sizeof(T));
    /* Inputs per block: as many as fit the target, and the GPU (below 96 KiB per block on
     * some: a T4 gives 64). One input per block is the least, which set-up checks
     * (dk_kan_cuda_param_smem_bytes). Each edge's sums run in sample order whatever ib is,
     * so ib changes no result. */
    int dev = 0, limit = 0;
    DK_CALL(dk_kc_smem_limit(&dev, &limit));
    const size_t budget = (size_t)limit < DK_KC_PARAM_SMEM_TARGET ? (size_t)limit : DK_KC_PARAM_SMEM_TARGET;
    size_t ib = budget / per_input;
    ib = ib < 1 ? 1 : ib > 8 ? 8 : ib;
    ib = ib > (size_t)s->in ? (size_t)s->in : ib;
    const size_t smem = ib * per_input;
    DK_CALL(dk_kc_smem_ready((const void *)dk_kc_param_kernel<T, K, JET>, smem, s, what));
    a.slices = dk_kc_slices(pl, a.batch);
    const dim3 grid((unsigned)((s->out + 31) / 32), (unsigned)((s->in + ib - 1) / ib), (unsigned)a.slices);
    dk_kc_param_kernel<T, K, JET><<<grid, dim3(32, (unsigned)ib), smem, st>>>(a);
    DK_CUDA_LAUNCHED("KAN parameter-gradient kernel");
    const size_t edges = (size_t)s->in * s->out;
    dk_kc_reduce_kernel<T><<<(unsigned)((edges + 255) / 256), 256, 0, st>>>(
        s->in, s->out, s->n_basis, a.slices, a.part_stride, a.part, coef, scale_sp, mask, gcoef, gscale_base,
        gscale_sp);
    DK_CUDA_LAUNCHED("KAN gradient reduction kernel");
    return DK_OK;
}

} /* namespace */

#endif

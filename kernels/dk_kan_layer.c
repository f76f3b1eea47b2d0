/* Fused KAN layer kernels: workspace planning here, the arithmetic in dk_kan_layer_impl.inc
 * (instantiated for float64 and float32).
 *
 * Per call the kernels rebuild, from the parameters, the tables every sample reads:
 *   w_sp[i][c][j] = mask*scale_sp*coef[i][j][c]  and  w_base[i][j] = mask*scale_base,
 * laid out so that the loops over outputs j are contiguous; one knot-span block per
 * (input, span) for the local B-spline evaluation (dk_bspline_local.inc); and a bucket
 * table per input that turns the span search into a lookup plus a short walk.
 * These cost O(in * n_basis * out), nothing against a batch.
 *
 * Blocking: inputs are processed in blocks small enough that the block's slice of w_sp
 * (and, in backward, of the gradient accumulator) stays in L2 while every sample of the
 * thread's range streams through it: a sample touches only k+1 rows of n_basis, so the
 * reuse of a weight row comes from many samples, not from one.
 */
#include "dk_kan_layer.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dk_bspline.h"

/* Bytes of a thread's L2 the streamed weight panel may take. */
enum { PANEL_BYTES = 192 * 1024, MAX_IBLOCK = 256, ALIGN = 64 };

/* Where each table lives in the workspace, and how the work is split. Offsets are from
 * the 64-byte aligned start of the workspace. */
typedef struct plan {
    size_t wsp, wbase, blocks, binv, bucket, tiles, tile_stride, acc, acc_stride, total;
    int block_size;   /* numbers per knot-span block */
    int n_buckets;    /* per input */
    int ib_fwd, ib_bwd;
    int pb, pi;       /* backward: batch groups x input groups */
    int tile_vals;    /* numbers per (sample, input) in a tile: basis values, derivatives, silu */
} plan;

static size_t round_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static int clamp_int(long v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : (int)v; }

/* Backward splits n_threads over pb batch groups x pi input groups. Input groups own
 * disjoint gradient rows and need no reduction, so they are preferred; batch groups each
 * accumulate a full copy, summed in group order afterwards. Picks the split that keeps
 * the most threads busy, then the most input groups. */
static void split_threads(int n_threads, int in, int *pb, int *pi)
{
    int best_used = 0;
    *pb = 1;
    *pi = 1;
    for (int g = n_threads < in ? n_threads : in; g >= 1; g--) {
        int used = g * (n_threads / g);
        if (used > best_used) {
            best_used = used;
            *pi = g;
            *pb = n_threads / g;
        }
    }
}

static plan make_plan(const dk_kan_shape *s, size_t es)
{
    plan p;
    size_t in = (size_t)s->in, out = (size_t)s->out, nb = (size_t)s->n_basis;
    int k = s->k;
    p.block_size = 2 * k + k * (k + 1) / 2;
    p.n_buckets = 2 * (s->n_knots - 1);
    p.tile_vals = 2 * (k + 1) + 2;
    p.ib_fwd = clamp_int((long)(PANEL_BYTES / (nb * out * es + 1)), 1, s->in < MAX_IBLOCK ? s->in : MAX_IBLOCK);
    p.ib_bwd = clamp_int((long)(PANEL_BYTES / (2 * nb * out * es + 1)), 1, p.ib_fwd);
    split_threads(s->n_threads, s->in, &p.pb, &p.pi);

    size_t off = 0;
    p.wsp = off;
    off += round_up(in * nb * out * es);
    p.wbase = off;
    off += round_up(in * out * es);
    p.blocks = off;
    off += round_up(in * (size_t)(s->n_knots - 1) * (size_t)p.block_size * es);
    p.binv = off;
    off += round_up(in * es);
    p.bucket = off;
    off += round_up(in * (size_t)p.n_buckets * sizeof(int));
    p.tiles = off;
    p.tile_stride = round_up((size_t)p.ib_fwd * ((size_t)p.tile_vals * es + sizeof(int)));
    off += (size_t)s->n_threads * p.tile_stride;
    p.acc = off;
    p.acc_stride = round_up((in * nb * out + in * out) * es);
    off += (size_t)p.pb * p.acc_stride;
    p.total = off;
    return p;
}

static unsigned char *aligned_base(void *workspace)
{
    uintptr_t a = (uintptr_t)workspace;
    return (unsigned char *)workspace + ((ALIGN - a % ALIGN) % ALIGN);
}

dk_kan_shape dk_kan_shape_make(int in, int out, int G, int k, int max_batch, int n_threads)
{
    dk_kan_shape s;
    s.in = in;
    s.out = out;
    s.G = G;
    s.k = k;
    s.n_knots = G + 2 * k + 1;
    s.n_basis = G + k;
    s.max_batch = max_batch;
    s.n_threads = n_threads < 1 ? 1 : n_threads;
    return s;
}

size_t dk_kan_workspace_bytes(const dk_kan_shape *s, dk_dtype dtype)
{
    /* ALIGN extra so that an unaligned workspace can be aligned inside */
    return make_plan(s, dk_dtype_size(dtype)).total + ALIGN;
}

/* The team may be smaller than asked (nested regions, thread limits): work items are
 * numbered 0..n_threads-1 independently of it and dealt round-robin, so the arithmetic
 * does not depend on how many threads actually run. */
static int team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}
static int team_rank(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

#define REAL double
#define SFX(name) name##_f64
#define REAL_EXP exp
#if defined(FP_FAST_FMA)
#define MADD(a, b, c) fma((a), (b), (c))
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif
/* Outputs per register-blocked forward panel: 8 and 2 AVX registers of doubles. */
#define JB_WIDE 32
#define JB_NARROW 8
#define LANES 8
#include "dk_bspline_local.inc"
#include "dk_kan_layer_impl.inc"
#undef REAL
#undef SFX
#undef REAL_EXP
#undef MADD
#undef JB_WIDE
#undef JB_NARROW
#undef LANES

#define REAL float
#define SFX(name) name##_f32
#define REAL_EXP expf
#if defined(FP_FAST_FMAF)
#define MADD(a, b, c) fmaf((a), (b), (c))
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif
#define JB_WIDE 64
#define JB_NARROW 16
#define LANES 16
#include "dk_bspline_local.inc"
#include "dk_kan_layer_impl.inc"
#undef REAL
#undef SFX
#undef REAL_EXP
#undef MADD
#undef JB_WIDE
#undef JB_NARROW
#undef LANES

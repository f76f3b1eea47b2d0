/* Jet (second-order) KAN layer kernels: workspace planning and threading here, the
 * arithmetic in dk_kan_jet_impl.inc (instantiated for float64 and float32).
 *
 * Per call the kernels rebuild, from the parameters, the tables every sample reads:
 *   w_sp[i][c][j] = mask*scale_sp*coef[i][j][c]  and  w_base[i][j] = mask*scale_base,
 * outputs contiguous, so that phi_ij and its derivatives for all j of one (sample, input)
 * are a few vector FMAs over k+1 rows; and, per input and knot span, the knot block of
 * dk_bspline_local.inc (the knots around the span and the reciprocal knot differences), so
 * that a basis evaluation is a branch-free binary search plus Cox-de Boor without a division.
 * Both cost O(in * (n_basis * out + n_knots * k^2)), nothing against a batch.
 *
 * Then each sample is handled on its own: its k+1 basis functions (and derivatives) per
 * input once, phi', phi'' (phi''') of every edge into per-thread [in][out] scratch, and the
 * direction sums as small matrix products over that scratch. Backward accumulates the
 * parameter gradients of its batch range in the same [i][c][j] layout as w_sp.
 */
#include "dk_kan_jet.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dk_bspline.h"

enum { ALIGN = 64 };

/* Where each table lives in the workspace: offsets from its 64-byte aligned start. Slot w
 * (one per planned thread, w < n_threads) starts at slots + w * slot_stride and holds the
 * per-sample scratch and the parameter-gradient accumulators of batch range w. */
typedef struct jplan {
    size_t wsp, wbase, blocks, slots, slot_stride, total;
    size_t s_cs, s_bv, s_sil, s_p1, s_p2, s_g1, s_g2, s_gsp, s_gb; /* inside a slot */
    int blk_size;                                                  /* numbers per knot block */
} jplan;

static size_t round_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static jplan make_jplan(const dk_kan_shape *s, size_t es)
{
    jplan p;
    const size_t in = (size_t)s->in, out = (size_t)s->out, nb = (size_t)s->n_basis;
    const size_t spans = (size_t)s->n_knots - 1, io = in * out;
    const int k = s->k;
    p.blk_size = 2 * k + k * (k + 1) / 2;
    size_t off = 0;
    p.wsp = off;
    off += round_up(in * nb * out * es);
    p.wbase = off;
    off += round_up(io * es);
    p.blocks = off;
    off += round_up(in * spans * (size_t)p.blk_size * es);
    p.slots = off;
    size_t so = 0;
    p.s_cs = so;
    so += round_up(in * sizeof(int));
    p.s_bv = so; /* basis derivatives 0..3 of the k+1 live functions, per input */
    so += round_up(in * 4 * (size_t)(k + 1) * es);
    p.s_sil = so; /* silu derivatives 0..3, [d][in] */
    so += round_up(4 * in * es);
    p.s_p1 = so;
    so += round_up(io * es);
    p.s_p2 = so;
    so += round_up(io * es);
    p.s_g1 = so;
    so += round_up(io * es);
    p.s_g2 = so;
    so += round_up(io * es);
    p.s_gsp = so;
    so += round_up(in * nb * out * es);
    p.s_gb = so;
    so += round_up(io * es);
    p.slot_stride = so;
    off += (size_t)s->n_threads * so;
    p.total = off;
    return p;
}

static unsigned char *aligned_base(void *workspace)
{
    uintptr_t a = (uintptr_t)workspace;
    return (unsigned char *)workspace + ((ALIGN - a % ALIGN) % ALIGN);
}

size_t dk_kan_jet_workspace_bytes(const dk_kan_shape *s, int n_dir, dk_dtype dtype)
{
    (void)n_dir; /* direction sums go straight into the caller's buffers */
    /* ALIGN extra so that an unaligned workspace can be aligned inside */
    return make_jplan(s, dk_dtype_size(dtype)).total + ALIGN;
}

/* Work is numbered 0..n_threads-1 by the planned split and dealt round-robin to the team
 * OpenMP actually provides, so the arithmetic does not depend on the team size. */
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

#if defined(FP_FAST_FMA)
#define MADD_F64(a, b, c) fma((a), (b), (c))
#else
#define MADD_F64(a, b, c) ((a) * (b) + (c))
#endif
#if defined(FP_FAST_FMAF)
#define MADD_F32(a, b, c) fmaf((a), (b), (c))
#else
#define MADD_F32(a, b, c) ((a) * (b) + (c))
#endif

#include "dk_exp.inc"

#define REAL double
#define UBITS uint64_t
#define SFX(name) name##_f64
#define MADD MADD_F64
#define EXP_NEG exp_neg_f64
#define EXP_NEG_CAP EXP_NEG_CAP_F64
#include "dk_bspline_local.inc"
#include "dk_kan_jet_impl.inc"
#undef REAL
#undef UBITS
#undef SFX
#undef MADD
#undef EXP_NEG
#undef EXP_NEG_CAP

#define REAL float
#define UBITS uint32_t
#define SFX(name) name##_f32
#define MADD MADD_F32
#define EXP_NEG exp_neg_f32
#define EXP_NEG_CAP EXP_NEG_CAP_F32
#include "dk_bspline_local.inc"
#include "dk_kan_jet_impl.inc"
#undef REAL
#undef UBITS
#undef SFX
#undef MADD
#undef EXP_NEG
#undef EXP_NEG_CAP

/* Jet (second-order) KAN layer kernels: workspace planning and threading here, the
 * arithmetic in dk_kan_jet_impl.inc (instantiated for float64 and float32).
 *
 * Per call the kernels rebuild, from the parameters, the tables every sample reads:
 *   w_sp[i][c][j] = mask*scale_sp*coef[i][j][c]  and  w_base[i][j] = mask*scale_base,
 * outputs contiguous and zero-padded to whole vectors (outp columns), so that phi_ij and
 * its derivatives for all j of one (sample, input) are a few vector FMAs over k+1 rows;
 * the k+1 basis functions living on each half of a knot span as polynomials expanded at
 * that half's knot ("pieces", built by dk_bspline_local.inc's bs_piece from the evaluation
 * dk_bspline_eval uses), so that values and derivatives 0..3 are a few Horner steps
 * without a division; and a bucket table per input over the pieces' breakpoints that
 * turns the piece search into a lookup plus a step. These cost
 * O(in * (n_basis * out + n_knots * k^2)), nothing against a batch.
 *
 * Samples then go in tiles: silu and basis values of a tile's (sample, input) pairs in one
 * pass, then per sample phi' and phi'' of every edge into per-thread [in][outp] scratch and
 * the direction sums as small register-blocked matrix products over that scratch (see the
 * template). Backward accumulates the parameter gradients of its batch range in the padded
 * [i][c][j] layout of w_sp and maps them to pykan's layout at the end.
 */
#include "dk_kan_jet.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dk_bspline.h"

/* Rows over outputs (and the transposed ones over inputs) are padded to whole vectors of
 * VEC_BYTES (one AVX2 register: VW = 4 doubles or 8 floats). */
enum { ALIGN = 64, VEC_BYTES = 32 };
/* Rows per block of the direction sums (dk_kan_jet_impl.inc). Tiles hold about TILE_PAIRS
 * (sample, input) pairs: long independent loops over them keep the core busy where one
 * sample's few inputs would leave it waiting on the span lookups, and their basis values
 * (32 KB in float64, cubic) stay in L1. */
enum { RB = 3, TILE_PAIRS = 256 };

/* Where each table lives in the workspace: offsets from its 64-byte aligned start. Slot w
 * (one per planned thread, w < n_threads) starts at slots + w * slot_stride and holds the
 * per-sample scratch and the parameter-gradient accumulators of batch range w. */
typedef struct jplan {
    size_t wsp, wbase, pieces, piece_cs, bpts, binv, bucket, slots, slot_stride, total;
    size_t s_span, s_cs, s_xc, s_bv, s_sil, s_row, s_p1, s_p2, s_pt1, s_pt2, s_xsq, s_g1, s_g2, s_gy1, s_gy2;
    size_t s_gsp, s_gb;
    int outp, inp;  /* padded row lengths over outputs and over inputs */
    int tile;       /* samples per tile */
    int piece_size; /* numbers in a polynomial piece (bs_fill_pieces) */
    int n_buckets;  /* per input */
} jplan;

static size_t round_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static jplan make_jplan(const dk_kan_shape *s, int n_dir, size_t es)
{
    jplan p;
    const size_t vw = VEC_BYTES / es;
    p.outp = (int)((((size_t)s->out + vw - 1) / vw) * vw);
    p.inp = (int)((((size_t)s->in + vw - 1) / vw) * vw);
    const size_t in = (size_t)s->in, outp = (size_t)p.outp, inp = (size_t)p.inp;
    const size_t nb = (size_t)s->n_basis, nk = (size_t)s->n_knots;
    const size_t io = in * outp, nd = n_dir > 0 ? (size_t)n_dir : 0;
    const int k = s->k;
    p.tile = TILE_PAIRS / s->in > 1 ? TILE_PAIRS / s->in : 1;
    const size_t tp = (size_t)p.tile * in; /* pairs per tile */
    p.piece_size = 2 + (k + 1) * (k + 1); /* its knot, +-1/h, the polynomials */
    p.n_buckets = 4 * (s->n_knots - 1);
    size_t off = 0;
    p.wsp = off;
    off += round_up(in * nb * outp * es);
    p.wbase = off;
    off += round_up(io * es);
    p.pieces = off; /* two per knot span (its halves) and a zero piece, per input */
    off += round_up(in * (2 * nk - 1) * (size_t)p.piece_size * es);
    p.piece_cs = off;
    off += round_up(in * (2 * nk - 1) * sizeof(int));
    p.bpts = off; /* the pieces' breakpoints: knots and midpoints */
    off += round_up(in * (2 * nk - 1) * es);
    p.binv = off;
    off += round_up(in * es);
    p.bucket = off;
    off += round_up(in * (size_t)p.n_buckets * sizeof(int));
    p.slots = off;
    size_t so = 0;
    p.s_span = so; /* piece index per pair of the tile */
    so += round_up(tp * sizeof(int));
    p.s_cs = so;
    so += round_up(tp * sizeof(int));
    p.s_xc = so; /* x clamped onto the grid */
    so += round_up(tp * es);
    p.s_bv = so; /* basis derivatives 0..3 of the k+1 live functions, per pair */
    so += round_up(tp * 4 * (size_t)(k + 1) * es);
    p.s_sil = so; /* silu derivatives 0..3, [d][pair] */
    so += round_up(4 * tp * es);
    p.s_row = so; /* y (forward) or gy (backward) of the sample, padded */
    so += round_up(outp * es);
    p.s_p1 = so;
    so += round_up(io * es);
    p.s_p2 = so;
    so += round_up(io * es);
    p.s_pt1 = so; /* phi', phi'' transposed, [outp][inp] (backward) */
    so += round_up(outp * inp * es);
    p.s_pt2 = so;
    so += round_up(outp * inp * es);
    p.s_xsq = so; /* x1^2 of the sample, [n_dir][in] */
    so += round_up(nd * in * es);
    p.s_g1 = so;
    so += round_up(io * es);
    p.s_g2 = so;
    so += round_up(io * es);
    p.s_gy1 = so; /* gy1, gy2 of the sample, padded */
    so += round_up(nd * outp * es);
    p.s_gy2 = so;
    so += round_up(nd * outp * es);
    p.s_gsp = so;
    so += round_up(in * nb * outp * es);
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
    /* ALIGN extra so that an unaligned workspace can be aligned inside */
    return make_jplan(s, n_dir, dk_dtype_size(dtype)).total + ALIGN;
}

#include "dk_kernel_common.inc"
#include "dk_exp.inc"

#include "dk_real_f64.inc"
#define VW 4
#include "dk_bspline_local.inc"
#include "dk_kan_jet_impl.inc"
#include "dk_real_undef.inc"
#undef VW

#include "dk_real_f32.inc"
#define VW 8
#include "dk_bspline_local.inc"
#include "dk_kan_jet_impl.inc"
#include "dk_real_undef.inc"
#undef VW

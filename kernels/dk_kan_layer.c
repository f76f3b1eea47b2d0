/* Fused KAN layer kernels: workspace planning here, the arithmetic in dk_kan_layer_impl.inc
 * (instantiated for float64 and float32).
 *
 * Per call the kernels rebuild, from the parameters, the tables every sample reads:
 *   w_sp[i][c][j] = mask*scale_sp*coef[i][j][c]  and  w_base[i][j] = mask*scale_base,
 * laid out in output panels (see the template); the k+1 basis functions that live on each
 * half of a knot span, as polynomials expanded at that half's knot ("pieces",
 * dk_bspline_local.inc's bs_piece: small values keep their relative accuracy); and a
 * bucket table per input over the pieces' breakpoints that turns the piece search into a
 * lookup plus a step. These cost O(in * n_basis * out), nothing against a
 * batch.
 *
 * A sample touches only k+1 of the n_basis rows of w_sp per input, so a weight row is
 * reused across samples, not within one: the loops keep a slice of w_sp (input block x
 * output panel) cached while a tile of samples streams through it, and keep each sample's
 * outputs in registers across the input block (forward).
 */
#include "dk_kan_layer.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dk_bspline.h"

/* Blocking (tuned on a 2-core AMD EPYC Zen 3: 32 KB L1, 512 KB L2). Outputs are cut into
 * panels of 128 bytes (16 doubles, 32 floats). The rows of w_sp (and, in backward, of its
 * gradient) that an input block touches in one panel form a slice: SLICE_FWD / SLICE_BWD
 * bound it, but blocks never get shorter than MIN_IBLOCK_*, because below that reloading
 * y (forward) or the dx partial sums (backward) once per block costs more than a slice
 * spilling from L1 to L2 (measured with G = 50). A tile is as many samples as make their
 * rows of y or dy TILE_ROWS_BYTES and at most TILE_PAIRS (sample, input) pairs: long tiles
 * reuse each slice for many samples, which matters once w_sp outgrows the caches (in = out
 * = 256, G = 50 is 28 MB in float64). Basis values are evaluated once per tile and block
 * and then serve every panel, CHUNK_BYTES of them at a time. */
enum { PANEL_BYTES = 128, SLICE_FWD = 24 * 1024, SLICE_BWD = 20 * 1024, MAX_IBLOCK = 64, ALIGN = 64 };
enum { MIN_IBLOCK_FWD = 8, MIN_IBLOCK_BWD = 4 };
enum { TILE_PAIRS = 8192, MAX_TILE = 1024, TILE_ROWS_BYTES = 1024 * 1024, CHUNK_BYTES = 48 * 1024 };

/* Where each table lives in the workspace, and how the work is split. Offsets are from
 * the 64-byte aligned start of the workspace. */
typedef struct plan {
    size_t wsp, wbase, pieces, piece_cs, bpts, binv, bucket, tiles, tile_stride, acc, acc_stride, total;
    size_t tile_xs, tile_sil, tile_dsil, tile_dx, tile_cs; /* offsets inside a tile region */
    int piece_size;          /* numbers in a polynomial piece (bs_fill_pieces) */
    int n_buckets;           /* per input */
    int ib_fwd, tb_fwd, ib_bwd, tb_bwd; /* inputs per block, samples per tile */
    int pb, pi;              /* backward: batch groups x input groups */
    int tile_vals;           /* numbers per (sample, input): basis values and derivatives */
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
    p.piece_size = 2 + (k + 1) * (k + 1); /* its knot, +-1/h, the polynomials */
    p.n_buckets = 4 * (s->n_knots - 1); /* about two per piece */
    p.tile_vals = 2 * (k + 1);
    const size_t row = out * es < PANEL_BYTES ? out * es : PANEL_BYTES;
    const int max_ib = s->in < MAX_IBLOCK ? s->in : MAX_IBLOCK;
    const int max_tb = clamp_int((long)(TILE_ROWS_BYTES / (out * es)), 16, MAX_TILE);
    p.ib_fwd = clamp_int((long)(SLICE_FWD / (nb * row)), MIN_IBLOCK_FWD, MAX_IBLOCK);
    p.ib_bwd = clamp_int((long)(SLICE_BWD / (2 * nb * row)), MIN_IBLOCK_BWD, MAX_IBLOCK);
    p.ib_fwd = p.ib_fwd < max_ib ? p.ib_fwd : max_ib;
    p.ib_bwd = p.ib_bwd < max_ib ? p.ib_bwd : max_ib;
    p.tb_fwd = clamp_int(TILE_PAIRS / p.ib_fwd, 16, max_tb);
    p.tb_bwd = clamp_int(TILE_PAIRS / p.ib_bwd, 16, max_tb);
    split_threads(s->n_threads, s->in, &p.pb, &p.pi);

    size_t off = 0;
    p.wsp = off;
    off += round_up(in * nb * out * es);
    p.wbase = off;
    off += round_up(in * out * es);
    p.pieces = off; /* two per knot span (its halves) and a zero piece, per input */
    off += round_up(in * (2 * (size_t)s->n_knots - 1) * (size_t)p.piece_size * es);
    p.piece_cs = off; /* c_start of each piece */
    off += round_up(in * (2 * (size_t)s->n_knots - 1) * sizeof(int));
    p.bpts = off; /* the pieces' breakpoints: knots and midpoints */
    off += round_up(in * (2 * (size_t)s->n_knots - 1) * es);
    p.binv = off;
    off += round_up(in * es);
    p.bucket = off;
    off += round_up(in * (size_t)p.n_buckets * sizeof(int));
    p.tiles = off;
    size_t pairs = (size_t)p.ib_fwd * p.tb_fwd;
    if ((size_t)p.ib_bwd * p.tb_bwd > pairs)
        pairs = (size_t)p.ib_bwd * p.tb_bwd;
    p.tile_xs = round_up(pairs * p.tile_vals * es);
    p.tile_sil = p.tile_xs + round_up(pairs * es);
    p.tile_dsil = p.tile_sil + round_up(pairs * es);
    p.tile_dx = p.tile_dsil + round_up(pairs * es);
    p.tile_cs = p.tile_dx + round_up(pairs * (PANEL_BYTES / 4)); /* DXL partial dx sums per pair */
    p.tile_stride = p.tile_cs + round_up(pairs * sizeof(int));
    off += (size_t)s->n_threads * p.tile_stride;
    /* The gradient accumulators mirror w_sp's layout and are updated right beside w_sp
     * reads: half a page of offset keeps their addresses from aliasing modulo 4 KB, which
     * would stall every load behind the stores (4K aliasing). */
    p.acc = (off + 4095) / 4096 * 4096 + 2048;
    p.acc_stride = ((in * nb * out + in * out) * es + 4095) / 4096 * 4096;
    off = p.acc + (size_t)p.pb * p.acc_stride;
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

#include "dk_kernel_common.inc"
#include "dk_exp.inc"

#include "dk_real_f64.inc"
/* Outputs per panel: 128 bytes. */
#define PW 16
#define DXL 4
#include "dk_bspline_local.inc"
#include "dk_kan_layer_impl.inc"
#include "dk_real_undef.inc"
#undef PW
#undef DXL

#include "dk_real_f32.inc"
#define PW 32
#define DXL 8
#include "dk_bspline_local.inc"
#include "dk_kan_layer_impl.inc"
#include "dk_real_undef.inc"
#undef PW
#undef DXL

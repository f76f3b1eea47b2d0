/* Collocation points on a box: interior points, boundary points on chosen faces, and
 * tensor evaluation grids.
 *
 * Every point is a pure function of (seed, epoch, global index): a rank computes exactly
 * the points it owns, and the global set does not depend on the number of ranks, only the
 * split does. `epoch` numbers resamplings (0 for the first set). A generator
 * (dk_collocation_create) holds what an epoch's points share: set it to an epoch, then ask
 * for points by index.
 *
 *   DK_SAMPLING_UNIFORM  independent uniform points from the counter-based generator
 *                        (dk_rng, streams DK_STREAM_PDE_INTERIOR / DK_STREAM_PDE_BOUNDARY)
 *   DK_SAMPLING_HALTON   the scrambled Halton sequence, starting at index 1: coordinate a
 *                        has prime base p_a (2, 3, 5, ...), the nonzero digits of each index
 *                        are mapped through a random permutation of 1 .. p_a - 1 drawn per
 *                        (seed, epoch, a) (Braaten-Weller scrambling), and the point is
 *                        rotated by a random shift modulo 1 per coordinate
 *                        (Cranley-Patterson). Plain Halton coordinates with large bases are
 *                        nearly linear in the index for fewer points than their base (0.87
 *                        correlation between coordinates at d = 100, 2048 points), which
 *                        made PDE solutions at d = 60 10 to 1000 times worse than with
 *                        uniform points (docs/pde.md); the permutations remove that (0.08,
 *                        as uniform points) and leave low-dimensional sets as even as
 *                        plain Halton's.
 *
 * Boundary points: point `index` lies on boundary face index mod n_faces (faces counted
 * lower before upper, axis by axis, skipping faces that carry no data), so every face gets
 * the same share, and its coordinate on that face's axis is exactly lo or hi. With Halton
 * its other dim-1 coordinates (in axis order) are point index / n_faces of the (dim-1)-
 * dimensional scrambled sequence, shifted per face, so each face on its own is
 * low-discrepancy and no two faces repeat each other's points; with uniform sampling they
 * are independent draws counted by the full index.
 *
 * index >= 0 and epoch >= 0. The counters behind the draws (formulas in dk_collocation.c)
 * stay distinct while index * dim < 2^40 and epoch < 2^24; not checked at run time.
 */
#ifndef DK_COLLOCATION_H
#define DK_COLLOCATION_H

#include <stdbool.h>

#include "../common/dk_error.h"

typedef enum dk_sampling { DK_SAMPLING_UNIFORM = 0, DK_SAMPLING_HALTON = 1 } dk_sampling;

typedef struct dk_box {
    int dim;
    const double *lo, *hi;      /* [dim] */
    const bool *face;           /* [2*dim]: face[2a] lower, face[2a+1] upper side of axis a */
} dk_box;

/* Halton needs dim <= DK_COLLOCATION_MAX_HALTON_DIM (the bases are the first that many
 * primes, 2 .. 8161). */
enum { DK_COLLOCATION_MAX_HALTON_DIM = 1024 };

/* The version of the point sets, kept in checkpoints: a resume from an earlier version
 * trains on other points than the run that wrote it, and says so. 2: scrambled Halton
 * points, faces shifted apart (1, never written: plain Halton). */
enum { DK_COLLOCATION_VERSION = 2 };

/* The radical inverse phi_base(index) = sum_k d_k base^(-k-1) of index = sum_k d_k base^k
 * (index >= 0, 2 <= base < 2^13): the van der Corput point behind each Halton coordinate.
 * Digits are reversed in exact integer arithmetic; the result is rounded once. */
double dk_collocation_radical_inverse(long index, int base);

/* The points of one (sampling, seed, box). The box's arrays must outlive the generator. */
typedef struct dk_collocation dk_collocation;
/* Allocates a Halton generator's digit permutations (2 bytes per digit of every base, 7.4 MB
 * at dim = 1024); set an epoch before asking for points. */
dk_err dk_collocation_create(dk_collocation **out, dk_sampling sampling, unsigned long long seed, const dk_box *box);
void dk_collocation_destroy(dk_collocation **c);
/* Makes `epoch`'s points the current ones: draws the Halton permutations of that epoch
 * (no allocation; nothing to do for uniform points or the epoch already set). */
void dk_collocation_set_epoch(dk_collocation *c, long epoch);

/* Writes interior point `index` of the current epoch to x[dim]. */
void dk_collocation_interior(const dk_collocation *c, long index, double *x);

/* Number of faces that carry boundary data. */
int dk_collocation_boundary_faces(const dk_box *box);

/* Writes boundary point `index` of the current epoch to x[dim] (requires at least one
 * boundary face). */
void dk_collocation_boundary(const dk_collocation *c, long index, double *x);

/* Point `index` of the tensor grid with n_per_axis points per axis (ends included,
 * n_per_axis >= 2), the first axis varying slowest. */
void dk_collocation_grid(const dk_box *box, long n_per_axis, long index, double *x);

#endif

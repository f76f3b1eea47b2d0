/* Collocation points on a box: interior points, boundary points on chosen faces, and
 * tensor evaluation grids.
 *
 * Every point is a pure function of (seed, epoch, global index): a rank computes exactly
 * the points it owns, and the global set does not depend on the number of ranks, only the
 * split does. `epoch` numbers resamplings (0 for the first set).
 *
 *   DK_SAMPLING_UNIFORM  independent uniform points from the counter-based generator
 *                        (dk_rng, streams DK_STREAM_PDE_INTERIOR / DK_STREAM_PDE_BOUNDARY)
 *   DK_SAMPLING_HALTON   the Halton sequence (prime bases 2, 3, 5, ... per coordinate),
 *                        starting at index 1, with a random shift modulo 1 per coordinate
 *                        drawn from (seed, epoch) (Cranley-Patterson rotation), so that
 *                        resampled sets differ while each stays low-discrepancy
 *
 * Boundary points: point `index` lies on boundary face index mod n_faces (faces counted
 * lower before upper, axis by axis, skipping faces that carry no data), so every face gets
 * the same share, and its coordinate on that face's axis is exactly lo or hi. With Halton
 * its other dim-1 coordinates (in axis order) are point index / n_faces of the (dim-1)-
 * dimensional shifted Halton sequence, so each face on its own is low-discrepancy; with
 * uniform sampling they are independent draws counted by the full index.
 *
 * index >= 0 and epoch >= 0. The counters behind the draws (formulas in dk_collocation.c)
 * stay distinct while index * dim < 2^40 and epoch < 2^24; not checked at run time.
 */
#ifndef DK_COLLOCATION_H
#define DK_COLLOCATION_H

#include <stdbool.h>

typedef enum dk_sampling { DK_SAMPLING_UNIFORM = 0, DK_SAMPLING_HALTON = 1 } dk_sampling;

typedef struct dk_box {
    int dim;
    const double *lo, *hi;      /* [dim] */
    const bool *face;           /* [2*dim]: face[2a] lower, face[2a+1] upper side of axis a */
} dk_box;

/* Halton needs dim <= DK_COLLOCATION_MAX_HALTON_DIM (the bases are the first that many
 * primes, 2 .. 8161). */
enum { DK_COLLOCATION_MAX_HALTON_DIM = 1024 };

/* The radical inverse phi_base(index) = sum_k d_k base^(-k-1) of index = sum_k d_k base^k
 * (index >= 0, 2 <= base < 2^13): the van der Corput point behind each Halton coordinate.
 * Digits are reversed in exact integer arithmetic; the result is rounded once. */
double dk_collocation_radical_inverse(long index, int base);

/* Writes interior point `index` to x[dim]. */
void dk_collocation_interior(dk_sampling sampling, unsigned long long seed, long epoch, const dk_box *box,
                             long index, double *x);

/* Number of faces that carry boundary data. */
int dk_collocation_boundary_faces(const dk_box *box);

/* Writes boundary point `index` to x[dim] (requires at least one boundary face). */
void dk_collocation_boundary(dk_sampling sampling, unsigned long long seed, long epoch, const dk_box *box,
                             long index, double *x);

/* Point `index` of the tensor grid with n_per_axis points per axis (ends included,
 * n_per_axis >= 2), the first axis varying slowest. */
void dk_collocation_grid(const dk_box *box, long n_per_axis, long index, double *x);

#endif

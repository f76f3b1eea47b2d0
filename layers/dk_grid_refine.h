/* Grid extension of one layer (the KAN paper's "grid extension", pykan's refine):
 * replace every input's spline grid of G intervals by a uniform grid of G' intervals on
 * the same range, and fit the new coefficients so that every edge's spline keeps its shape.
 *
 * For input i the new knots are G' + 1 uniform points on the old un-extended range
 * [t_k, t_{G+k}] extended by k on each side (pykan's grid). The coefficients of all `out`
 * edges of input i are the least-squares solution (LAPACK dgels, one call per input, all
 * edges as right-hand sides) of
 *
 *   sum_c coef'_ijc B'_c(x_p) = sum_c coef_ijc B_c(x_p),   p = 0..n_points-1,
 *
 * on n_points = 4 (G' + k) + 1 equally spaced points spanning the range. Only the spline
 * term is refitted; scale_base, scale_sp and mask are unchanged (as in pykan). When the new
 * knots contain the old ones (G' a multiple of G on a uniform grid) the old spline lies in
 * the new space and the fit is exact up to rounding.
 *
 * Float64 throughout; the caller converts a float32 network's parameters. This is the
 * building block of issue 4's grid schedule; the network re-layout lives there.
 */
#ifndef DK_GRID_REFINE_H
#define DK_GRID_REFINE_H

#include "../common/dk_error.h"

/* grid_old [in][G_old + 2k + 1], coef_old [in][out][G_old + k]; writes
 * grid_new [in][G_new + 2k + 1] and coef_new [in][out][G_new + k]. When max_change is not
 * NULL it receives the largest |new spline - old spline| at the fitting points. */
dk_err dk_grid_refine_layer(int in, int out, int k, int G_old, const double *grid_old, const double *coef_old,
                            int G_new, double *grid_new, double *coef_new, double *max_change);

#endif

/* Grid extension of one layer (the KAN paper's "grid extension", pykan's MultKAN.refine):
 * replace every input's spline grid of G intervals by one of G' intervals with the same
 * shape, and fit the new coefficients so that every edge's spline keeps its values.
 *
 * Knots (pykan's initialize_grid_from_parent): new inner knot j = 0..G' is the piecewise-
 * linear interpolant of the old inner knots t_k..t_{k+G} at fractional index s = j G / G',
 *
 *   t'_{k+j} = t_{k+m} + (s - m) (t_{k+m+1} - t_{k+m}),   m = floor(s),
 *
 * taken as the old knot itself when s is an integer. A uniform grid stays uniform, an
 * adapted (non-uniform) grid keeps its shape, and when G' is a multiple of G the new knots
 * contain every old inner knot. The k extension knots on each side are the OLD ones, where
 * pykan re-extends by the new average width (deliberate difference, docs/grid.md): the
 * splines reach past the grid range over the extension knots, hidden layers' inputs do go
 * there, and with the old outer knots kept the function survives refinement there too.
 *
 * Coefficients: for input i, all `out` edges at once, the least-squares fit
 * (dk_spline_fit.h) of
 *
 *   sum_c coef'_ijc B'_c(x_p) = sum_c coef_ijc B_c(x_p)
 *
 * at k + 3 points inside each of the G' + 2k intervals of the new knot vector (grid range
 * and extensions), at fractions (q + 1/2) / (k + 3). Each interval holding more than k + 1
 * points determines the spline's polynomial there, so all G' + k coefficients are
 * determined and the system is well conditioned; no point sits on a knot, where pykan's
 * half-open pieces make every basis function vanish at the last one. (pykan fits at the
 * cached training samples instead; fixed points make refinement independent of the data.)
 * When the new knots contain the old ones (G' a multiple of G) the old spline lies in the
 * new space everywhere and the fit is exact up to rounding.
 *
 * Only the spline term is refitted; scale_base, scale_sp and mask are unchanged (as in
 * pykan).
 *
 * Float64 throughout; the caller converts a float32 network's parameters.
 */
#ifndef DK_GRID_REFINE_H
#define DK_GRID_REFINE_H

#include "../common/dk_error.h"

/* grid_old [in][G_old + 2k + 1], coef_old [in][out][G_old + k]; writes
 * grid_new [in][G_new + 2k + 1] and coef_new [in][out][G_new + k]. When max_change is not
 * NULL it receives the largest |new spline - old spline| at the fitting points. */
dk_err dk_grid_refine_layer(int in, int out, int k, int G_old, const double *grid_old, const double *coef_old,
                            int G_new, double *grid_new, double *coef_new, double *max_change);

/* The largest |new spline - old spline| at the fitting points of the new knots, for knots
 * and coefficients as a caller stores them: a float32 network's rounded values change its
 * splines by far more than the float64 refit does (7 digits against 15). */
dk_err dk_grid_refine_change(int in, int out, int k, int G_old, const double *grid_old, const double *coef_old,
                             int G_new, const double *grid_new, const double *coef_new, double *max_change);

/* The knots of one input after refinement (what dk_grid_refine_layer gives it): t_old
 * [G_old + 2k + 1] -> t_new [G_new + 2k + 1]. The config check uses it to foresee the
 * knots a grid schedule will make. */
void dk_grid_refine_knots(int k, int G_old, const double *t_old, int G_new, double *t_new);

#endif

/* Least-squares fit of B-spline coefficients to values at points (pykan's curve2coef),
 * shared by grid extension (dk_grid_refine.h) and grid update (dk_grid_update.h).
 *
 * For knots t[0..G+2k] and degree k, the coefficients c_j [G+k] of every right-hand side j
 * minimise
 *
 *   sum_p ( sum_c c_jc B_c(x_p) - Y[p][j] )^2,
 *
 * and among the minimisers the one of least norm (LAPACK dgelsd, SVD based), as pykan's
 * torch.linalg.lstsq. A point outside [t_0, t_{G+2k}) gives an all-zero row.
 *
 * Singular values below DK_SPLINE_FIT_RCOND times the largest count as zero. When a basis
 * function is touched only at the far tip of its support (a sample just inside an
 * extension knot), its column is tiny and an exact solve would give it a huge coefficient
 * that fits one point and ruins the spline between samples; 1e-10 drops such directions
 * while B-spline bases sampled in every interval (condition numbers of order 10 to 1e3)
 * are solved to full accuracy.
 *
 * Its scratch (the basis matrix, the right-hand sides, LAPACK's work arrays) lives in a
 * dk_spline_fit_ws that grows to what a call needs; dk_spline_fit_ws_reserve sizes it ahead,
 * so that a grid update during training allocates nothing (dk_grid_update.h).
 */
#ifndef DK_SPLINE_FIT_H
#define DK_SPLINE_FIT_H

#include "../common/dk_error.h"

#define DK_SPLINE_FIT_RCOND 1e-10

typedef struct dk_spline_fit_ws dk_spline_fit_ws;

/* An empty workspace; dk_spline_fit_ws_destroy frees it (NULL is a no-op). */
dk_err dk_spline_fit_ws_create(dk_spline_fit_ws **ws);
void dk_spline_fit_ws_destroy(dk_spline_fit_ws **ws);

/* Grows ws to what a fit of n_pts points and n_rhs right-hand sides on a grid of G
 * intervals of degree k needs (LAPACK's own workspace query), so that such a fit then
 * allocates nothing. */
dk_err dk_spline_fit_ws_reserve(dk_spline_fit_ws *ws, long n_pts, int G, int k, int n_rhs);

/* t: G + 2k + 1 knots; x [n_pts], Y [n_pts][n_rhs] (row-major). Writes coef [n_rhs][G + k]
 * (right-hand side j's coefficients contiguous) and, when rank is not NULL, the numerical
 * rank of the basis matrix: below G + k the fit is underdetermined (fewer distinct points
 * than coefficients, or basis functions no point sees) and the minimum-norm solution is
 * returned. weight [n_pts], or NULL for all 1: point p's squared residual counts
 * weight[p]^2 times (its row of the system is scaled by weight[p]). Needs n_pts >= 1,
 * n_rhs >= 1, 1 <= k <= DK_MAX_DEGREE, G >= 1. ws: the scratch, grown if it is smaller
 * than this fit needs. A non-finite target or weight is an error (DK_ERR_NUMERIC). */
dk_err dk_spline_fit(dk_spline_fit_ws *ws, const double *t, int G, int k, long n_pts, const double *x, const double *weight, int n_rhs,
                     const double *Y, double *coef, int *rank);

/* per_interval points evenly spread inside each of the n_knots - 1 intervals of the knots t
 * (point q of interval m at t_m + (q + 1/2) / per_interval (t_{m+1} - t_m)), into
 * x [(n_knots - 1) per_interval]: where grid extension refits, and the anchors of a grid
 * update. */
void dk_spline_fit_points(const double *t, int n_knots, int per_interval, double *x);

/* sum_c coef[c] B_c(x) on the n_knots knots t: the spline as a layer computes it (0 outside
 * the knots, pykan's half-open pieces). */
double dk_spline_value(const double *t, int n_knots, int k, const double *coef, double x);

#endif

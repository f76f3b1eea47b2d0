/* The minimum-norm spline through values at the grid points, in O(G k^2): what pykan's
 * initialisation (curve2coef at the G + 1 points of the un-extended grid) computes, for
 * grids too large for an SVD.
 *
 * For knots t[0 .. G+2k] (degree k >= 1, G >= 1) the G + 1 points t_k .. t_{k+G} and the
 * G + k basis functions give a G+1 by G+k collocation matrix A of full row rank (point p
 * lies inside the support of basis function p: Schoenberg-Whitney), so among the
 * coefficients c with A c = y the one of least norm is c = A^T z with (A A^T) z = y. A A^T
 * is symmetric positive definite with bandwidth k (points p and q share basis functions
 * only when |p - q| <= k): a banded Cholesky solve (LAPACK dpbsv) instead of dgelsd's SVD,
 * whose O(G^3) made setting up a [2,2,1] network take 2.8 s at G = 1000 and 27.5 s at
 * G = 3000 (0.4 s with this). The normal equations square A's condition number; for every
 * degree, uniform and skewed knots, G up to 600, the two agree to 1e-10 of the largest
 * coefficient (2.4e-11 measured, unit.test_spline_min_norm). */
#ifndef DK_SPLINE_MIN_NORM_H
#define DK_SPLINE_MIN_NORM_H

#include "../common/dk_error.h"

/* t: G + 2k + 1 knots; Y [G+1][n_rhs] (row-major) the values at t_k .. t_{k+G}. Writes coef
 * [G+k][n_rhs] (row-major, as dgelsd leaves its solution). work: at least
 * dk_spline_min_norm_work(G, k, n_rhs) doubles. DK_ERR_NUMERIC if LAPACK fails (a matrix
 * that is not positive definite: knots that are not strictly increasing). */
size_t dk_spline_min_norm_work(int G, int k, int n_rhs);
dk_err dk_spline_min_norm_at_grid(const double *t, int G, int k, int n_rhs, const double *Y, double *coef,
                                  double *work);

#endif

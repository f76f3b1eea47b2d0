/* B-spline basis with local support, pykan semantics.
 *
 * A knot vector t[0..n_knots-1] (strictly increasing, possibly non-uniform) and degree k
 * (pykan's k; k = 3 is cubic) define n_basis = n_knots - 1 - k basis functions B_0..B_{n_basis-1},
 * B_c supported on [t_c, t_{c+k+1}). For a pykan grid of G intervals extended by k knots
 * on each side, n_knots = G + 2k + 1 and n_basis = G + k.
 *
 * Degree-0 pieces are half-open, [t_m, t_{m+1}), exactly as pykan's B_batch: at x equal
 * to the last knot, or outside [t_0, t_{n_knots-1}), every basis function is zero.
 * On [t_k, t_{n_knots-1-k}) (the un-extended grid range) the basis is a partition of unity.
 *
 * At most k+1 functions are non-zero at any x; only those are evaluated.
 */
#ifndef DK_BSPLINE_H
#define DK_BSPLINE_H

enum { DK_MAX_DEGREE = 7, DK_MAX_DERIV = 3 };

/* Evaluates the non-zero basis functions at x and derivatives 0..n_deriv (n_deriv <= 3).
 *
 * Returns c_start, the index of the first of k+1 consecutive basis functions
 * B_{c_start}..B_{c_start+k} that hold every non-zero value at x;
 * 0 <= c_start <= n_basis-(k+1) always, so callers can index coef[c_start + r] without
 * bounds checks. Positions of the window whose function is zero at x hold 0.
 * values[d*(k+1) + r] = d^d/dx^d B_{c_start+r}(x).
 * Returns -1 (and leaves values untouched) when x is outside [t_0, t_{n_knots-1}) or NaN.
 *
 * Requires 1 <= k <= DK_MAX_DEGREE and n_knots >= 2k+2 (at least one interval).
 */
int dk_bspline_eval_f64(const double *t, int n_knots, int k, double x, int n_deriv, double *values);
int dk_bspline_eval_f32(const float *t, int n_knots, int k, float x, int n_deriv, float *values);

/* Index m with t[m] <= x < t[m+1], or -1 outside [t_0, t_{n_knots-1}). Binary search, so
 * it serves non-uniform knots. */
int dk_bspline_span_f64(const double *t, int n_knots, double x);
int dk_bspline_span_f32(const float *t, int n_knots, float x);

/* pykan's grid: G+1 uniform points on [lo, hi] extended by k equally spaced knots on
 * each side, written to t[0..G+2k]. */
void dk_bspline_uniform_grid_f64(double lo, double hi, int G, int k, double *t);
void dk_bspline_uniform_grid_f32(float lo, float hi, int G, int k, float *t);

/* pykan's extend_grid for any inner knots inner[0..G] (G intervals, possibly non-uniform):
 * t[k..k+G] = inner, then k knots on each side stepping outwards by the AVERAGE interval
 * width h = (inner[G] - inner[0]) / G, t[k-e] = t[k-e+1] - h and t[k+G+e] = t[k+G+e-1] + h.
 * Writes t[0..G+2k]; inner and t must not overlap. On a uniform inner grid this gives
 * dk_bspline_uniform_grid_f64's knots up to rounding. */
void dk_bspline_extend_grid_f64(const double *inner, int G, int k, double *t);

/* The smallest knot spacing whose pieces evaluate finitely at degree k in a precision
 * whose largest finite number is `largest` (FLT_MAX, DBL_MAX): building a knot span's
 * polynomials goes through the basis's derivatives of every order d up to k, of size up
 * to about 2^d d! / h^d at spacing h, and the PDE kernels' second derivatives scale with
 * 1/h^2 whatever k is; a margin of 16 on top. Closer knots give inf and NaN. */
double dk_bspline_min_spacing(int k, double largest);
/* The largest knot spacing whose pieces evaluate finitely, the reciprocal of
 * dk_bspline_min_spacing: a span's polynomials are built as the derivatives of order d
 * (about 1/h^d) times h^d / d!, and at wider spacings h^d overflows (inf times an
 * underflowing derivative: NaN) while the derivatives themselves sink towards the
 * subnormals. 7.6e11 at k = 3 and 3.2e4 at k = 7 in float32; 6.2e101 at k = 3 in float64. */
double dk_bspline_max_spacing(int k, double largest);

#endif

#include "dk_grid_refine.h"

#include <math.h>
#include <stdlib.h>

#include "../kernels/dk_bspline.h"
#include "dk_spline_fit.h"

/* Piecewise-linear interpolation of the old inner knots at s = j G_old / G_new, in integer
 * arithmetic for the index so that integral s reproduces the old knot bit for bit. */
static void interpolate_knots(const double *inner_old, int G_old, int G_new, double *inner_new)
{
    for (int j = 0; j <= G_new; j++) {
        const long num = (long)j * G_old;
        const long m = num / G_new, rem = num % G_new;
        inner_new[j] = rem == 0 ? inner_old[m]
                                 : inner_old[m] + (inner_old[m + 1] - inner_old[m]) * ((double)rem / (double)G_new);
    }
}

void dk_grid_refine_knots(int k, int G_old, const double *t_old, int G_new, double *t_new)
{
    interpolate_knots(t_old + k, G_old, G_new, t_new + k);
    for (int j = 0; j < k; j++) {
        t_new[j] = t_old[j];
        t_new[G_new + k + 1 + j] = t_old[G_old + k + 1 + j];
    }
}

/* NaN wins, so that a failed refit shows. */
static double fmax_nan(double a, double b) { return b > a || isnan(b) ? b : a; }

/* Over one input's `out` edges: the largest |new spline - old spline| at the points x [n],
 * the old splines' values taken from Y [n][out] when the caller has them (Y not NULL),
 * else evaluated here. */
static double largest_difference(int k, int nk_old, const double *t_old, const double *coef_old, int nk_new,
                                 const double *t_new, const double *coef_new, int out, long n, const double *x,
                                 const double *Y)
{
    const int nb_old = nk_old - k - 1, nb_new = nk_new - k - 1;
    double worst = 0.0;
    for (int j = 0; j < out; j++)
        for (long p = 0; p < n; p++) {
            const double old = Y ? Y[(size_t)p * out + j]
                                 : dk_spline_value(t_old, nk_old, k, coef_old + (size_t)j * nb_old, x[p]);
            worst = fmax_nan(worst, fabs(dk_spline_value(t_new, nk_new, k, coef_new + (size_t)j * nb_new, x[p]) - old));
        }
    return worst;
}

dk_err dk_grid_refine_change(int in, int out, int k, int G_old, const double *grid_old, const double *coef_old,
                             int G_new, const double *grid_new, const double *coef_new, double *max_change)
{
    const int nk_old = G_old + 2 * k + 1, nb_old = G_old + k, nk_new = G_new + 2 * k + 1, nb_new = G_new + k;
    const int per_interval = k + 3;
    const long n_pts = (long)per_interval * (G_new + 2 * k);
    double *x = NULL, worst = 0.0;
    DK_CALL(DK_CALLOC(x, (size_t)n_pts, "refinement points"));
    for (int i = 0; i < in; i++) {
        const double *t_new = grid_new + (size_t)i * nk_new;
        dk_spline_fit_points(t_new, nk_new, per_interval, x);
        worst = fmax_nan(worst, largest_difference(k, nk_old, grid_old + (size_t)i * nk_old,
                                                   coef_old + (size_t)i * out * nb_old, nk_new, t_new,
                                                   coef_new + (size_t)i * out * nb_new, out, n_pts, x, NULL));
    }
    free(x);
    *max_change = worst;
    return DK_OK;
}

dk_err dk_grid_refine_layer(int in, int out, int k, int G_old, const double *grid_old, const double *coef_old,
                            int G_new, double *grid_new, double *coef_new, double *max_change)
{
    if (in < 1 || out < 1 || k < 1 || k > DK_MAX_DEGREE || G_old < 1 || G_new < 1)
        DK_ERROR(DK_ERR_USAGE, "grid refinement: in %d, out %d, k %d, G %d -> %d: expected positive sizes and 1 <= k <= %d",
                 in, out, k, G_old, G_new, DK_MAX_DEGREE);
    const int nk_old = G_old + 2 * k + 1, nb_old = G_old + k;
    const int nk_new = G_new + 2 * k + 1, nb_new = G_new + k;
    /* k + 3 points per new interval: more than the k + 1 that fix a degree-k piece. */
    const int per_interval = k + 3, n_intervals = G_new + 2 * k;
    const long n_pts = (long)per_interval * n_intervals;
    dk_err err = DK_OK;
    double *x = NULL, *Y = NULL, *fit = NULL;
    dk_spline_fit_ws *ws = NULL; /* an extension allocates a new network anyway */
    DK_CALL_GOTO(err, done, dk_spline_fit_ws_create(&ws));
    DK_CALL_GOTO(err, done, DK_CALLOC(x, (size_t)n_pts, "refinement points"));
    DK_CALL_GOTO(err, done, DK_CALLOC(Y, (size_t)n_pts * out, "refinement targets"));
    DK_CALL_GOTO(err, done, DK_CALLOC(fit, (size_t)out * nb_new, "refined coefficients"));
    double worst = 0.0;
    for (int i = 0; i < in; i++) {
        const double *t_old = grid_old + (size_t)i * nk_old;
        double *t_new = grid_new + (size_t)i * nk_new;
        const double lo = t_old[k], hi = t_old[k + G_old];
        if (!(lo < hi)) {
            err = dk_error_set(DK_ERR_NUMERIC, __FILE__, __LINE__,
                               "grid refinement: input %d has an empty grid range [%g, %g]", i, lo, hi);
            goto done;
        }
        dk_grid_refine_knots(k, G_old, t_old, G_new, t_new);
        dk_spline_fit_points(t_new, nk_new, per_interval, x);
        for (long p = 0; p < n_pts; p++)
            for (int j = 0; j < out; j++)
                Y[(size_t)p * out + j] = dk_spline_value(t_old, nk_old, k, coef_old + ((size_t)i * out + j) * nb_old, x[p]);
        DK_CALL_GOTO(err, done, dk_spline_fit(ws, t_new, G_new, k, n_pts, x, NULL, out, Y, fit, NULL));
        for (int j = 0; j < out; j++) {
            double *cn = coef_new + ((size_t)i * out + j) * nb_new;
            for (int c = 0; c < nb_new; c++)
                cn[c] = fit[(size_t)j * nb_new + c];
        }
        if (max_change) /* a float32 caller measures the rounded splines instead */
            worst = fmax_nan(worst, largest_difference(k, nk_old, t_old, coef_old + (size_t)i * out * nb_old, nk_new,
                                                       t_new, coef_new + (size_t)i * out * nb_new, out, n_pts, x, Y));
    }
    if (max_change)
        *max_change = worst;
done:
    free(x);
    free(Y);
    free(fit);
    dk_spline_fit_ws_destroy(&ws);
    return err;
}

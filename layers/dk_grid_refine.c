#include "dk_grid_refine.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/dk_bspline.h"

/* Points per basis function: four samples per new coefficient keep the least-squares
 * system well conditioned (each B'_c sees several points) at negligible cost. */
enum { POINTS_PER_COEF = 4 };

/* sum_c coef[c] B_c(x) on knots t. */
static double spline_at(const double *t, int n_knots, int k, const double *coef, double x)
{
    double v[DK_MAX_DEGREE + 1];
    int c0 = dk_bspline_eval_f64(t, n_knots, k, x, 0, v);
    if (c0 < 0)
        return 0.0;
    double s = 0.0;
    for (int r = 0; r <= k; r++)
        s += coef[c0 + r] * v[r];
    return s;
}

dk_err dk_grid_refine_layer(int in, int out, int k, int G_old, const double *grid_old, const double *coef_old,
                            int G_new, double *grid_new, double *coef_new, double *max_change)
{
    if (in < 1 || out < 1 || k < 1 || k > DK_MAX_DEGREE || G_old < 1 || G_new < 1)
        DK_ERROR(DK_ERR_USAGE, "grid refinement: in %d, out %d, k %d, G %d -> %d: expected positive sizes and 1 <= k <= %d",
                 in, out, k, G_old, G_new, DK_MAX_DEGREE);
    const int nk_old = G_old + 2 * k + 1, nb_old = G_old + k;
    const int nk_new = G_new + 2 * k + 1, nb_new = G_new + k;
    const int n_pts = POINTS_PER_COEF * nb_new + 1;
    dk_err err = DK_OK;
    double *A = NULL, *B = NULL, *x = NULL;
    DK_CALL_GOTO(err, done, DK_CALLOC(A, (size_t)n_pts * nb_new, "refinement basis matrix"));
    DK_CALL_GOTO(err, done, DK_CALLOC(B, (size_t)n_pts * out, "refinement targets"));
    DK_CALL_GOTO(err, done, DK_CALLOC(x, (size_t)n_pts, "refinement points"));
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
        dk_bspline_uniform_grid_f64(lo, hi, G_new, k, t_new);
        /* The last point sits just inside hi: at a grid's last knot pykan's half-open
         * pieces make every basis function vanish, which is not the function's value. */
        for (int p = 0; p < n_pts; p++)
            x[p] = p + 1 < n_pts ? lo + (hi - lo) * (double)p / (double)(n_pts - 1) : nextafter(hi, lo);
        memset(A, 0, sizeof(double) * (size_t)n_pts * nb_new);
        for (int p = 0; p < n_pts; p++) {
            double v[DK_MAX_DEGREE + 1];
            int c0 = dk_bspline_eval_f64(t_new, nk_new, k, x[p], 0, v);
            for (int r = 0; c0 >= 0 && r <= k; r++)
                A[(size_t)p * nb_new + c0 + r] = v[r];
            for (int j = 0; j < out; j++)
                B[(size_t)p * out + j] = spline_at(t_old, nk_old, k, coef_old + ((size_t)i * out + j) * nb_old, x[p]);
        }
        lapack_int info = LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', n_pts, nb_new, out, A, nb_new, B, out);
        if (info != 0) {
            err = dk_error_set(DK_ERR_NUMERIC, __FILE__, __LINE__,
                               "grid refinement: LAPACKE_dgels failed with info %d for input %d (G %d -> %d)",
                               (int)info, i, G_old, G_new);
            goto done;
        }
        for (int j = 0; j < out; j++) {
            double *cn = coef_new + ((size_t)i * out + j) * nb_new;
            const double *co = coef_old + ((size_t)i * out + j) * nb_old;
            for (int c = 0; c < nb_new; c++)
                cn[c] = B[(size_t)c * out + j];
            for (int p = 0; p < n_pts; p++) {
                double d = fabs(spline_at(t_new, nk_new, k, cn, x[p]) - spline_at(t_old, nk_old, k, co, x[p]));
                worst = d > worst || isnan(d) ? d : worst;
            }
        }
    }
    if (max_change)
        *max_change = worst;
done:
    free(A);
    free(B);
    free(x);
    return err;
}

#include "dk_spline_min_norm.h"

#include <lapacke.h>
#include <string.h>

#include "../kernels/dk_bspline.h"

/* work: rows * (k + 1) basis values, rows window starts (as doubles), the band of A A^T
 * ((k + 1) * rows), the right-hand sides (rows * n_rhs, column-major for LAPACK). */
size_t dk_spline_min_norm_work(int G, int k, int n_rhs)
{
    const size_t rows = (size_t)G + 1;
    return rows * (size_t)(k + 1) + rows + (size_t)(k + 1) * rows + rows * (size_t)n_rhs;
}

dk_err dk_spline_min_norm_at_grid(const double *t, int G, int k, int n_rhs, const double *Y, double *coef,
                                  double *work)
{
    const int rows = G + 1, nb = G + k, nk = G + 2 * k + 1, kd = k, ldab = k + 1;
    double *vals = work, *start = vals + (size_t)rows * (k + 1), *ab = start + rows, *z = ab + (size_t)ldab * rows;
    /* Row p of A: basis functions start[p] .. start[p] + k at t_{k+p}. */
    for (int p = 0; p < rows; p++) {
        const int c0 = dk_bspline_eval_f64(t, nk, k, t[k + p], 0, vals + (size_t)p * (k + 1));
        if (c0 < 0)
            DK_ERROR(DK_ERR_INTERNAL, "grid point %d lies outside its own knots", p);
        start[p] = c0;
    }
    /* The upper band of M = A A^T, column-major as dpbsv takes it: M[i][j] (i <= j <= i + k)
     * at ab[(kd + i - j) + j * ldab]. Rows i and j meet in the basis functions both see. */
    memset(ab, 0, sizeof(double) * (size_t)ldab * rows);
    for (int j = 0; j < rows; j++)
        for (int i = j - kd < 0 ? 0 : j - kd; i <= j; i++) {
            const int ci = (int)start[i], cj = (int)start[j];
            double m = 0.0;
            for (int r = 0; r <= k; r++) {
                const int c = ci + r, s = c - cj;
                if (s >= 0 && s <= k)
                    m += vals[(size_t)i * (k + 1) + r] * vals[(size_t)j * (k + 1) + s];
            }
            ab[(kd + i - j) + (size_t)j * ldab] = m;
        }
    for (int p = 0; p < rows; p++)
        for (int q = 0; q < n_rhs; q++)
            z[p + (size_t)q * rows] = Y[(size_t)p * n_rhs + q];
    const lapack_int info = LAPACKE_dpbsv(LAPACK_COL_MAJOR, 'U', rows, kd, n_rhs, ab, ldab, z, rows);
    if (info != 0)
        DK_ERROR(DK_ERR_NUMERIC, "LAPACKE_dpbsv failed with info %d (G = %d, k = %d): the grid's normal equations "
                 "are not positive definite", (int)info, G, k);
    /* coef = A^T z. */
    memset(coef, 0, sizeof(double) * (size_t)nb * n_rhs);
    for (int p = 0; p < rows; p++) {
        const int c0 = (int)start[p];
        for (int r = 0; r <= k; r++) {
            const double a = vals[(size_t)p * (k + 1) + r];
            for (int q = 0; q < n_rhs; q++)
                coef[(size_t)(c0 + r) * n_rhs + q] += a * z[p + (size_t)q * rows];
        }
    }
    return DK_OK;
}

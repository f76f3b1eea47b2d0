#include "dk_spline_fit.h"

#include <lapacke.h>
#include <limits.h>
#include <stdlib.h>

#include "../kernels/dk_bspline.h"

dk_err dk_spline_fit(const double *t, int G, int k, long n_pts, const double *x, const double *weight, int n_rhs,
                     const double *Y, double *coef, int *rank)
{
    if (G < 1 || k < 1 || k > DK_MAX_DEGREE || n_pts < 1 || n_rhs < 1)
        DK_ERROR(DK_ERR_USAGE, "spline fit: G %d, k %d, %ld points, %d right-hand sides: expected positive sizes and "
                 "1 <= k <= %d", G, k, n_pts, n_rhs, DK_MAX_DEGREE);
    if (n_pts > INT_MAX)
        DK_ERROR(DK_ERR_USAGE, "spline fit: %ld points exceed LAPACK's int sizes", n_pts);
    const int nk = G + 2 * k + 1, nb = G + k;
    /* dgelsd returns the solution in the first nb rows of B, so B has max(n_pts, nb) rows. */
    const size_t rows_b = (size_t)n_pts > (size_t)nb ? (size_t)n_pts : (size_t)nb;
    const size_t n_sing = (size_t)n_pts < (size_t)nb ? (size_t)n_pts : (size_t)nb;
    dk_err err = DK_OK;
    double *A = NULL, *B = NULL, *sing = NULL;
    DK_CALL_GOTO(err, done, DK_CALLOC(A, (size_t)n_pts * nb, "spline fit basis matrix"));
    DK_CALL_GOTO(err, done, DK_CALLOC(B, rows_b * n_rhs, "spline fit right-hand sides"));
    DK_CALL_GOTO(err, done, DK_CALLOC(sing, n_sing, "spline fit singular values"));
    for (long p = 0; p < n_pts; p++) {
        double v[DK_MAX_DEGREE + 1];
        const double w = weight ? weight[p] : 1.0;
        int c0 = dk_bspline_eval_f64(t, nk, k, x[p], 0, v);
        for (int r = 0; c0 >= 0 && r <= k; r++)
            A[(size_t)p * nb + c0 + r] = w * v[r];
        for (int j = 0; j < n_rhs; j++)
            B[(size_t)p * n_rhs + j] = w * Y[(size_t)p * n_rhs + j];
    }
    lapack_int rk = 0;
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, (lapack_int)n_pts, nb, n_rhs, A, nb, B, n_rhs, sing,
                                     DK_SPLINE_FIT_RCOND, &rk);
    if (info != 0) {
        err = dk_error_set(DK_ERR_NUMERIC, __FILE__, __LINE__,
                           "spline fit: LAPACKE_dgelsd failed with info %d (%ld points, %d coefficients)", (int)info,
                           n_pts, nb);
        goto done;
    }
    for (int j = 0; j < n_rhs; j++)
        for (int c = 0; c < nb; c++)
            coef[(size_t)j * nb + c] = B[(size_t)c * n_rhs + j];
    if (rank)
        *rank = (int)rk;
done:
    free(A);
    free(B);
    free(sing);
    return err;
}

void dk_spline_fit_points(const double *t, int n_knots, int per_interval, double *x)
{
    for (int m = 0; m + 1 < n_knots; m++)
        for (int q = 0; q < per_interval; q++)
            x[(long)m * per_interval + q] = t[m] + (t[m + 1] - t[m]) * (((double)q + 0.5) / (double)per_interval);
}

double dk_spline_value(const double *t, int n_knots, int k, const double *coef, double x)
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

#include "dk_spline_fit.h"

#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/dk_bspline.h"

struct dk_spline_fit_ws {
    double *A, *B, *sing, *work;
    lapack_int *iwork;
    size_t n_A, n_B, n_sing, n_work, n_iwork; /* capacities, in elements */
};

dk_err dk_spline_fit_ws_create(dk_spline_fit_ws **ws) { return dk_calloc((void **)ws, 1, sizeof **ws, "spline fit workspace"); }

void dk_spline_fit_ws_destroy(dk_spline_fit_ws **ws)
{
    if (!*ws)
        return;
    free((*ws)->A), free((*ws)->B), free((*ws)->sing), free((*ws)->work), free((*ws)->iwork);
    free(*ws);
    *ws = NULL;
}

/* The system's shape, column-major (LAPACK's own layout, so that LAPACKE copies nothing):
 * A is n_pts x nb with leading dimension n_pts; B holds the n_rhs right-hand sides in
 * columns of ldb = max(n_pts, nb) rows, since dgelsd returns the solution in the first nb
 * rows. The row-major LAPACKE_dgelsd used before transposed into exactly this layout, so
 * the results are the same bits. */
typedef struct fit_shape {
    lapack_int m, nb, n_rhs, ldb;
    size_t n_A, n_B, n_sing;
} fit_shape;

static dk_err shape_of(long n_pts, int G, int k, int n_rhs, fit_shape *f)
{
    if (G < 1 || k < 1 || k > DK_MAX_DEGREE || n_pts < 1 || n_rhs < 1)
        DK_ERROR(DK_ERR_USAGE, "spline fit: G %d, k %d, %ld points, %d right-hand sides: expected positive sizes and "
                 "1 <= k <= %d", G, k, n_pts, n_rhs, DK_MAX_DEGREE);
    if (n_pts > INT_MAX)
        DK_ERROR(DK_ERR_USAGE, "spline fit: %ld points exceed LAPACK's int sizes", n_pts);
    f->m = (lapack_int)n_pts;
    f->nb = G + k;
    f->n_rhs = n_rhs;
    f->ldb = f->m > f->nb ? f->m : f->nb;
    f->n_A = (size_t)f->m * (size_t)f->nb;
    f->n_B = (size_t)f->ldb * (size_t)n_rhs;
    f->n_sing = (size_t)(f->m < f->nb ? f->m : f->nb);
    return DK_OK;
}

/* LAPACK's optimal work and iwork lengths for the shape (a workspace query computes
 * nothing and touches no array). */
static dk_err query_work(const fit_shape *f, lapack_int *lwork, lapack_int *liwork)
{
    double a = 0.0, b = 0.0, s = 0.0, work = 0.0;
    lapack_int rank = 0, iwork = 0;
    lapack_int info = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, f->m, f->nb, f->n_rhs, &a, f->m, &b, f->ldb, &s,
                                          DK_SPLINE_FIT_RCOND, &rank, &work, -1, &iwork);
    if (info != 0)
        DK_ERROR(DK_ERR_NUMERIC, "spline fit: LAPACK's workspace query failed with info %d (%d points, %d "
                 "coefficients)", (int)info, (int)f->m, (int)f->nb);
    *lwork = (lapack_int)work;
    *liwork = iwork > 1 ? iwork : 1;
    return DK_OK;
}

static dk_err reserve_shape(dk_spline_fit_ws *ws, const fit_shape *f, lapack_int lwork, lapack_int liwork)
{
    DK_CALL(dk_grow((void **)&ws->A, &ws->n_A, f->n_A, sizeof(double), "spline fit basis matrix"));
    DK_CALL(dk_grow((void **)&ws->B, &ws->n_B, f->n_B, sizeof(double), "spline fit right-hand sides"));
    DK_CALL(dk_grow((void **)&ws->sing, &ws->n_sing, f->n_sing, sizeof(double), "spline fit singular values"));
    DK_CALL(dk_grow((void **)&ws->work, &ws->n_work, (size_t)lwork, sizeof(double), "spline fit LAPACK workspace"));
    DK_CALL(dk_grow((void **)&ws->iwork, &ws->n_iwork, (size_t)liwork, sizeof(lapack_int), "spline fit LAPACK workspace"));
    return DK_OK;
}

/* The shape of a fit and LAPACK's optimal work length for it, with ws grown to both. */
static dk_err reserve(dk_spline_fit_ws *ws, long n_pts, int G, int k, int n_rhs, fit_shape *f, lapack_int *lwork)
{
    lapack_int liwork = 0;
    DK_CALL(shape_of(n_pts, G, k, n_rhs, f));
    DK_CALL(query_work(f, lwork, &liwork));
    return reserve_shape(ws, f, *lwork, liwork);
}

dk_err dk_spline_fit_ws_reserve(dk_spline_fit_ws *ws, long n_pts, int G, int k, int n_rhs)
{
    fit_shape f = {0};
    lapack_int lwork = 0;
    return reserve(ws, n_pts, G, k, n_rhs, &f, &lwork);
}

dk_err dk_spline_fit(dk_spline_fit_ws *ws, const double *t, int G, int k, long n_pts, const double *x,
                     const double *weight, int n_rhs, const double *Y, double *coef, int *rank)
{
    fit_shape f = {0};
    lapack_int lwork = 0;
    /* The optimal length for this very shape, as LAPACKE_dgelsd would ask for: dgelsd
     * picks its path (QR first or not) by the length it is given. */
    DK_CALL(reserve(ws, n_pts, G, k, n_rhs, &f, &lwork));
    const int nk = G + 2 * k + 1, nb = f.nb;
    const size_t m = (size_t)f.m, ldb = (size_t)f.ldb;
    double *A = ws->A, *B = ws->B;
    memset(A, 0, sizeof(double) * f.n_A);
    memset(B, 0, sizeof(double) * f.n_B);
    for (long p = 0; p < n_pts; p++) {
        double v[DK_MAX_DEGREE + 1];
        const double w = weight ? weight[p] : 1.0;
        if (!isfinite(w))
            DK_ERROR(DK_ERR_NUMERIC, "spline fit: the weight of point %ld is %g", p, w);
        int c0 = dk_bspline_eval_f64(t, nk, k, x[p], 0, v);
        for (int r = 0; c0 >= 0 && r <= k; r++)
            A[(size_t)(c0 + r) * m + (size_t)p] = w * v[r];
        for (int j = 0; j < n_rhs; j++) {
            const double y = Y[(size_t)p * n_rhs + j];
            if (!isfinite(y))
                DK_ERROR(DK_ERR_NUMERIC, "spline fit: target %d of point %ld (x = %g) is %g", j, p, x[p], y);
            B[(size_t)j * ldb + (size_t)p] = w * y;
        }
    }
    lapack_int rk = 0;
    lapack_int info = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, f.m, nb, n_rhs, A, f.m, B, f.ldb, ws->sing,
                                          DK_SPLINE_FIT_RCOND, &rk, ws->work, lwork, ws->iwork);
    if (info != 0)
        DK_ERROR(DK_ERR_NUMERIC, "spline fit: LAPACK dgelsd failed with info %d (%ld points, %d coefficients)",
                 (int)info, n_pts, nb);
    for (int j = 0; j < n_rhs; j++)
        for (int c = 0; c < nb; c++)
            coef[(size_t)j * nb + c] = B[(size_t)j * ldb + (size_t)c];
    if (rank)
        *rank = (int)rk;
    return DK_OK;
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

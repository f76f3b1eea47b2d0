#include "dk_grid_update.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/dk_bspline.h"
#include "dk_knot_limits.h"
#include "dk_spline_fit.h"

/* The smallest grid_eps the robustness rule falls back to: every gap >= MIN_EPS * h. */
#define MIN_EPS 0.01

/* The anchors' share of an anchored fit (dk_grid_update.h): together they weigh ANCHOR_SHARE
 * times as much as the samples, so they decide only where samples are too sparse to. */
#define ANCHOR_SHARE 1e-3

/* A refit that swings between the samples to more than MAX_SWING times the old spline's
 * largest value is redone with anchors (dk_grid_update.h). */
#define MAX_SWING 10.0

/* Appends one note if it fits whole; otherwise marks the list as cut with "..." once. */
void dk_grid_update_note(dk_grid_update_report *r, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const size_t used = strlen(r->notes), len = strlen(line), cap = sizeof r->notes;
    if (used >= 3 && strcmp(r->notes + used - 3, "...") == 0)
        return;
    if (used + len + 4 <= cap) /* keep room for a later "..." */
        memcpy(r->notes + used, line, len + 1);
    else
        memcpy(r->notes + used, "...", 4);
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* pykan's get_grid on sorted samples xs[0..n-1]: inner[0..G]. */
static void mixed_knots(const double *xs, long n, int G, double eps, double *inner)
{
    const double h = (xs[n - 1] - xs[0]) / (double)G;
    for (int m = 0; m <= G; m++) {
        /* Python's int(batch / num_interval * i): float division, then truncation. */
        const long id = m < G ? (long)((double)n / (double)G * (double)m) : n - 1;
        const double uniform = xs[0] + h * (double)m;
        inner[m] = eps * uniform + (1.0 - eps) * xs[id];
    }
}

/* Over the edges of one input: the new splines' largest |value| at the anchors (xs[n..n_fit))
 * over the old spline's largest |value| at samples and anchors (Y). Infinite for NaN, or
 * for a spline that appears where the old one was 0. */
static double swing_ratio(const double *t, int nk, int k, int out, const double *fit, long n, long n_fit,
                          const double *xs, const double *Y)
{
    const int nb = nk - k - 1;
    double worst = 0.0;
    for (int j = 0; j < out; j++) {
        double old_max = 0.0, new_max = 0.0;
        for (long p = 0; p < n_fit; p++)
            old_max = fmax(old_max, fabs(Y[(size_t)p * out + j]));
        for (long p = n; p < n_fit; p++) {
            const double v = fabs(dk_spline_value(t, nk, k, fit + (size_t)j * nb, xs[p]));
            new_max = isnan(v) ? INFINITY : fmax(new_max, v);
        }
        const double ratio = new_max == 0.0 ? 0.0 : old_max == 0.0 ? INFINITY : new_max / old_max;
        worst = fmax(worst, ratio);
    }
    return worst;
}

static double smallest_gap(const double *t, int n_knots)
{
    double g = INFINITY;
    for (int m = 1; m < n_knots; m++)
        g = fmin(g, t[m] - t[m - 1]);
    return g;
}

/* Counts distinct values, and samples that share their value with another one. */
static void count_ties(const double *xs, long n, long *distinct, long *tied)
{
    *distinct = n > 0;
    *tied = 0;
    for (long p = 0; p < n; p++) {
        if (p > 0 && xs[p] != xs[p - 1])
            (*distinct)++;
        if ((p > 0 && xs[p] == xs[p - 1]) || (p + 1 < n && xs[p] == xs[p + 1]))
            (*tied)++;
    }
}

struct dk_grid_update_ws {
    double *xs, *weight, *Y, *inner, *t, *fit;
    size_t n_xs, n_weight, n_Y, n_inner, n_t, n_fit; /* capacities, in doubles */
    dk_spline_fit_ws *spline;
    dk_dtype store_as; /* the caller's precision: results are rounded to it before measuring */
};

void dk_grid_update_ws_store_as(dk_grid_update_ws *ws, dk_dtype dtype) { ws->store_as = dtype; }

dk_err dk_grid_update_ws_create(dk_grid_update_ws **ws)
{
    DK_CALL(dk_calloc((void **)ws, 1, sizeof **ws, "grid update workspace"));
    dk_err err = DK_OK;
    DK_CALL_GOTO(err, fail, dk_spline_fit_ws_create(&(*ws)->spline));
    return DK_OK;
fail:
    dk_grid_update_ws_destroy(ws);
    return err;
}

void dk_grid_update_ws_destroy(dk_grid_update_ws **ws)
{
    if (!*ws)
        return;
    dk_grid_update_ws *w = *ws;
    free(w->xs), free(w->weight), free(w->Y), free(w->inner), free(w->t), free(w->fit);
    dk_spline_fit_ws_destroy(&w->spline);
    free(w);
    *ws = NULL;
}

/* Anchors in each interval of the new knots: more than the k + 1 that fix a piece. */
static int anchors_per_interval(int k) { return k + 3; }

/* The points of an anchored fit: the n samples, then the anchors of the G + 2k intervals. */
static long fit_points(int k, int G, long n) { return n + (long)anchors_per_interval(k) * (G + 2 * k); }

/* The buffers of one layer's update; the spline fits are reserved apart (they need LAPACK's
 * query), by dk_grid_update_ws_reserve. */
static dk_err grow_buffers(dk_grid_update_ws *w, int out, int k, int G, long n)
{
    const size_t n_fit = (size_t)fit_points(k, G, n), nk = (size_t)G + 2 * (size_t)k + 1, nb = (size_t)G + k;
    DK_CALL(dk_grow((void **)&w->xs, &w->n_xs, n_fit, sizeof(double), "sorted samples and anchors"));
    DK_CALL(dk_grow((void **)&w->weight, &w->n_weight, n_fit, sizeof(double), "fit weights"));
    DK_CALL(dk_grow((void **)&w->Y, &w->n_Y, n_fit * (size_t)out, sizeof(double), "old spline values"));
    DK_CALL(dk_grow((void **)&w->inner, &w->n_inner, (size_t)G + 1, sizeof(double), "updated inner knots"));
    DK_CALL(dk_grow((void **)&w->t, &w->n_t, nk, sizeof(double), "updated knots"));
    DK_CALL(dk_grow((void **)&w->fit, &w->n_fit, (size_t)out * nb, sizeof(double), "updated coefficients"));
    return DK_OK;
}

dk_err dk_grid_update_ws_reserve(dk_grid_update_ws *ws, int out, int k, int G, long n)
{
    if (out < 1 || k < 1 || k > DK_MAX_DEGREE || G < 1 || n < 1)
        DK_ERROR(DK_ERR_USAGE, "grid update workspace: out %d, k %d, G %d, %ld samples: expected positive sizes and "
                 "1 <= k <= %d", out, k, G, n, DK_MAX_DEGREE);
    DK_CALL(grow_buffers(ws, out, k, G, n));
    /* The two fits an input may need: at the samples, then at samples and anchors. */
    DK_CALL(dk_spline_fit_ws_reserve(ws->spline, n, G, k, out));
    DK_CALL(dk_spline_fit_ws_reserve(ws->spline, fit_points(k, G, n), G, k, out));
    return DK_OK;
}

static dk_err update_layer(dk_grid_update_ws *ws, int in, int out, int k, int G, double grid_eps, long n,
                           const double *x, double *grid, double *coef, int layer, dk_grid_update_report *report);

dk_err dk_grid_update_layer(dk_grid_update_ws *ws, int in, int out, int k, int G, double grid_eps, long n,
                            const double *x, double *grid, double *coef, int layer, dk_grid_update_report *report)
{
    if (ws)
        return update_layer(ws, in, out, k, G, grid_eps, n, x, grid, coef, layer, report);
    DK_CALL(dk_grid_update_ws_create(&ws));
    dk_err err = update_layer(ws, in, out, k, G, grid_eps, n, x, grid, coef, layer, report);
    dk_grid_update_ws_destroy(&ws);
    return err;
}

static dk_err update_layer(dk_grid_update_ws *ws, int in, int out, int k, int G, double grid_eps, long n,
                           const double *x, double *grid, double *coef, int layer, dk_grid_update_report *report)
{
    if (in < 1 || out < 1 || k < 1 || k > DK_MAX_DEGREE || G < 1 || n < 0)
        DK_ERROR(DK_ERR_USAGE, "grid update of layer %d: in %d, out %d, k %d, G %d, %ld samples: expected positive "
                 "sizes, 1 <= k <= %d and n >= 0", layer, in, out, k, G, n, DK_MAX_DEGREE);
    if (!(grid_eps >= 0.0 && grid_eps <= 1.0))
        DK_ERROR(DK_ERR_USAGE, "grid update of layer %d: grid_eps %g is outside [0, 1]", layer, grid_eps);
    for (long p = 0; p < n; p++)
        for (int i = 0; i < in; i++)
            if (!isfinite(x[(size_t)p * in + i]))
                DK_ERROR(DK_ERR_NUMERIC, "grid update of layer %d: input %d of sample %ld is %g", layer, i, p,
                         x[(size_t)p * in + i]);
    report->inputs += in;
    if (n == 0) {
        report->kept += in;
        dk_grid_update_note(report, "layer %d: no samples: grids kept; ", layer);
        return DK_OK;
    }
    const int nk = G + 2 * k + 1, nb = G + k, per_interval = anchors_per_interval(k);
    /* xs: the sorted samples, then the anchors; weight: 1 for a sample, w for an anchor,
     * with n_anchor w^2 = ANCHOR_SHARE n. */
    const long n_fit = fit_points(k, G, n), n_anchor = n_fit - n;
    DK_CALL(grow_buffers(ws, out, k, G, n));
    double *const xs = ws->xs, *const weight = ws->weight, *const Y = ws->Y, *const inner = ws->inner;
    double *const t = ws->t, *const fit = ws->fit;
    for (long p = 0; p < n_fit; p++)
        weight[p] = p < n ? 1.0 : sqrt(ANCHOR_SHARE * (double)n / (double)n_anchor);
    for (int i = 0; i < in; i++) {
        for (long p = 0; p < n; p++)
            xs[p] = x[(size_t)p * in + i];
        qsort(xs, (size_t)n, sizeof *xs, compare_doubles);
        if (xs[0] == xs[n - 1]) {
            report->kept++;
            dk_grid_update_note(report, "layer %d input %d: all %ld samples equal %g: grid kept; ", layer, i, n, xs[0]);
            continue;
        }
        mixed_knots(xs, n, G, grid_eps, inner);
        const double h = (xs[n - 1] - xs[0]) / (double)G;
        if (grid_eps < MIN_EPS && smallest_gap(inner, G + 1) < MIN_EPS * h) {
            long distinct, tied;
            count_ties(xs, n, &distinct, &tied);
            mixed_knots(xs, n, G, MIN_EPS, inner);
            report->eps_raised++;
            /* The cause as the samples show it: ties, too few samples, or (neither) a few
             * far-out values that stretch the uniform spacing past the quantiles' gaps. */
            if (tied > 0)
                dk_grid_update_note(report,
                         "layer %d input %d: %ld of the %ld samples are tied (%ld distinct values for %d intervals): "
                         "grid_eps raised to %g; ", layer, i, tied, n, distinct, G, MIN_EPS);
            else if (n <= G)
                dk_grid_update_note(report,
                         "layer %d input %d: %ld samples for %d intervals put quantile knots closer than %g of the "
                         "uniform spacing: grid_eps raised to %g; ", layer, i, n, G, MIN_EPS, MIN_EPS);
            else
                dk_grid_update_note(report,
                         "layer %d input %d: quantile knots closer than %g of the uniform spacing, no sample tied "
                         "(outliers or a heavy tail stretch the range): grid_eps raised to %g; ", layer, i, MIN_EPS,
                         MIN_EPS);
        }
        dk_bspline_extend_grid_f64(inner, G, k, t);
        const double gap = smallest_gap(t, nk);
        if (!(gap > 0.0) || !isfinite(t[0]) || !isfinite(t[nk - 1])) {
            report->kept++;
            dk_grid_update_note(report, "layer %d input %d: samples in [%g, %g] give no strictly increasing knots: grid kept; ",
                     layer, i, xs[0], xs[n - 1]);
            continue;
        }
        /* Knots the stored network cannot use keep the input as it is: too close for the
         * basis (subnormal samples, say; LAPACK's SVD on such a scale fails or does not
         * stop, so before the fit), too wide, or colliding once rounded to float32. */
        dk_knot_spacing spacing;
        if (!dk_knots_usable(t, nk, k, ws->store_as, &spacing)) {
            char why[256];
            dk_knots_problem(&spacing, why, sizeof why);
            report->kept++;
            dk_grid_update_note(report, "layer %d input %d: knots in [%.9g, %.9g] %s: grid kept; ", layer, i, t[0],
                                t[nk - 1], why);
            continue;
        }
        const double *t_old = grid + (size_t)i * nk;
        double *c_old = coef + (size_t)i * out * nb;
        dk_spline_fit_points(t, nk, per_interval, xs + n);
        for (long p = 0; p < n_fit; p++)
            for (int j = 0; j < out; j++)
                Y[(size_t)p * out + j] = dk_spline_value(t_old, nk, k, c_old + (size_t)j * nb, xs[p]);
        int rank = 0;
        DK_CALL(dk_spline_fit(ws->spline, t, G, k, n, xs, NULL, out, Y, fit, &rank));
        if (rank < nb) {
            long distinct, tied;
            count_ties(xs, n, &distinct, &tied);
            report->underdetermined++;
            dk_grid_update_note(report, "layer %d input %d: fit of rank %d for %d coefficients (%ld distinct samples): "
                     "minimum-norm solution; ", layer, i, rank, nb, distinct);
        }
        const double swing = swing_ratio(t, nk, k, out, fit, n, n_fit, xs, Y);
        if (swing > MAX_SWING) {
            DK_CALL(dk_spline_fit(ws->spline, t, G, k, n_fit, xs, weight, out, Y, fit, NULL));
            report->anchored++;
            dk_grid_update_note(report, "layer %d input %d: the refit at the samples swung to %.3g times the old "
                     "spline's size between or beyond them: refitted with anchors; ", layer, i, swing);
        }
        if (ws->store_as == DK_F32) { /* as dk_store_block will: the change is the stored splines' */
            for (int m = 0; m < nk; m++)
                t[m] = (double)(float)t[m];
            for (size_t c = 0; c < (size_t)out * nb; c++)
                fit[c] = (double)(float)fit[c];
        }
        for (long p = 0; p < n_fit; p++)
            for (int j = 0; j < out; j++) {
                double d = fabs(dk_spline_value(t, nk, k, fit + (size_t)j * nb, xs[p]) - Y[(size_t)p * out + j]);
                double *worst = p < n ? &report->max_change : &report->max_change_between;
                *worst = d > *worst || isnan(d) ? d : *worst;
            }
        memcpy(grid + (size_t)i * nk, t, sizeof(double) * (size_t)nk);
        memcpy(c_old, fit, sizeof(double) * (size_t)out * nb);
    }
    return DK_OK;
}

/* Grid update of one layer from samples of its inputs (pykan's
 * KANLayer.update_grid_from_samples): the knots move to where the data is, and the
 * coefficients are refitted so that every edge keeps its values at the samples.
 *
 * pykan's formula, for each input i with its n samples sorted, x_(0) <= ... <= x_(n-1):
 *
 *   adaptive_m = x_(id_m),  id_m = trunc(n / G * m) for m < G (in floating point), id_G = n - 1
 *   uniform_m  = x_(0) + (x_(n-1) - x_(0)) / G * m                     (margin 0)
 *   inner_m    = grid_eps * uniform_m + (1 - grid_eps) * adaptive_m,   m = 0..G
 *
 * extended by k knots on each side with the average width (dk_bspline_extend_grid_f64).
 * The coefficients of all edges of input i are then the least-squares fit
 * (dk_spline_fit.h) of the new splines to the OLD spline sum_c coef_ijc B_c(x) at the
 * sorted samples, evaluated with the old knots: spline term only (scale_sp, scale_base,
 * the base function and the mask are unchanged). A sample outside the old knots has old
 * value 0, which is what the old layer computed there. With more distinct samples than
 * coefficients the old spline is generally not in the new space: the fit is the best one
 * in the least-squares sense, and report->max_change says how far it is.
 *
 * Robustness rules beyond pykan (pykan would produce repeated knots and NaN or huge
 * coefficients in these cases):
 *  - n == 0, or all samples of an input equal (n == 1 included): no interval can be
 *    placed; that input's knots and coefficients are kept as they are (`kept`, noted).
 *  - The mixed grid's gaps are at least grid_eps * h (h = (x_(n-1) - x_(0)) / G), so
 *    quantile knots collapse only when grid_eps is (near) 0 and samples repeat or are
 *    fewer than G. When the smallest gap is below 0.01 h and grid_eps < 0.01, that input's
 *    knots are recomputed with grid_eps = 0.01, which makes every gap >= 0.01 h
 *    (`eps_raised`, noted).
 *  - Knots that still do not increase strictly in float64 (a sample range too narrow for
 *    its magnitude, or an infinite width) keep the input as it is (`kept`, noted).
 *    dk_network_update_grid applies the same rule to the knots of a float32 network as
 *    stored: knots that collide only when rounded to float keep that input as it is.
 *  - A fit of rank below G + k (fewer distinct samples than coefficients, e.g. 3 samples
 *    for 13 coefficients) returns the minimum-norm coefficients, which still reproduce the
 *    old values at the samples (`underdetermined`, noted).
 *  - A fit at the samples can swing between them: a basis function that the samples touch
 *    only near an end of its support gets whatever coefficient fits those few samples, and
 *    is huge where no sample looks (grid_eps = 1, G = 40, 500 samples of a hidden layer: a
 *    spline of size 0.09 became one of size 2649, and training diverged). The anchors,
 *    k + 3 points evenly spread in every interval of the new knots, watch for it: when the
 *    new spline's largest |value| there exceeds 10 times the old spline's largest |value|
 *    at samples and anchors, for any edge of the input, that input is refitted by weighted
 *    least squares at the samples (weight 1) and the anchors (the old spline's values
 *    there; together weighing 1e-3 of the samples), so that where samples are too sparse
 *    the new spline follows the old one (`anchored`, noted). The swing may lie wholly beyond
 *    the samples, in the extension intervals. Most updates stay below the threshold and are
 *    pykan's fit (all of examples/grid_extension.ini, at most 8.7); in deeper networks at
 *    k = 3 it fires now and then (one input of one update in 3 of 18 short default runs,
 *    docs/grid.md), more often at higher k.
 *  - A non-finite sample is an error (DK_ERR_NUMERIC), reported before anything changes.
 *
 * report->inputs counts every input processed, kept ones included; kept, eps_raised,
 * underdetermined and anchored count subsets of it.
 */
#ifndef DK_GRID_UPDATE_H
#define DK_GRID_UPDATE_H

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"

typedef struct dk_grid_update_report {
    int inputs;           /* layer inputs updated (summed over layers) */
    int kept;             /* inputs whose samples span no interval (all equal, or none): grid and coefficients kept */
    int eps_raised;       /* inputs whose quantile knots came too close: grid_eps raised for that input */
    int underdetermined;  /* inputs whose least-squares fit had lower rank than G + k (min-norm solution) */
    int anchored;         /* inputs refitted with anchors: the fit at the samples swung between them */
    double max_change;    /* largest |new spline - old spline| at the samples, any edge */
    double max_change_between; /* the same at the anchors: between and beyond the samples */
    char notes[1024];     /* human-readable notes, first few cases, e.g. "layer 1 input 3: all 1000 samples equal 0.25: grid kept; " (truncate cleanly) */
} dk_grid_update_report;

/* The scratch of dk_grid_update_layer (sorted samples, old spline values, the
 * least-squares system): it grows to what a call needs, and dk_grid_update_ws_reserve
 * sizes it ahead, so that an update of a layer of that shape then allocates nothing. */
typedef struct dk_grid_update_ws dk_grid_update_ws;
dk_err dk_grid_update_ws_create(dk_grid_update_ws **ws);
void dk_grid_update_ws_destroy(dk_grid_update_ws **ws); /* NULL is a no-op */
/* For a layer of `out` outputs, degree k and G intervals, updated from n >= 1 samples. */
dk_err dk_grid_update_ws_reserve(dk_grid_update_ws *ws, int out, int k, int G, long n);
/* The precision the caller stores the updated knots and coefficients in (DK_F64 unless
 * set): they are rounded to it before the change is measured, so that max_change and
 * max_change_between describe the splines the network will compute with (in float32 the
 * rounding moves them by some 1e-8 of their size, far beyond a float64 refit's error). */
void dk_grid_update_ws_store_as(dk_grid_update_ws *ws, dk_dtype dtype);

/* x: [n][in] the layer's input samples (float64). grid [in][G+2k+1] and coef [in][out][G+k] are
 * updated in place. `layer` is only for the notes. Accumulates into *report (caller zeroes it).
 * ws: the scratch, or NULL for one made for this call. */
dk_err dk_grid_update_layer(dk_grid_update_ws *ws, int in, int out, int k, int G, double grid_eps, long n,
                            const double *x, double *grid, double *coef, int layer, dk_grid_update_report *report);

/* Appends a note to report->notes (printf format), or "..." once when it no longer fits. */
void dk_grid_update_note(dk_grid_update_report *report, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

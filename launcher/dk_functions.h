/* `distkan functions MODEL [--points N] [--range LO,HI] [--out FILE]`: tabulates every
 * learned edge function of a trained model (launcher/dk_model_file.h), for plotting and
 * for reading off what the network has learned, as pykan's plots do.
 *
 * One CSV row per edge and point, layer by layer, input by input, output by output:
 *
 *   layer,input,output,x,phi,base,spline,mask
 *
 * with base = scale_base silu(x), spline = scale_sp sum_c coef_c B_c(x) and
 * phi = mask (base + spline), the edge's contribution to its output node
 * (layers/dk_network.h, dk_network_edge). x runs over N equally spaced points (default
 * 101, both ends included) of the input's grid range [t_k, t_{G+k}], which after grid
 * updates is the range of the activations the grid was fitted to; --range LO,HI takes
 * that interval for every edge instead (outside the extended grid the spline term is 0,
 * as in training). Needs no MPI. */
#ifndef DK_FUNCTIONS_H
#define DK_FUNCTIONS_H

#include <stdio.h>

#include "../common/dk_error.h"

enum { DK_FUNCTIONS_DEFAULT_POINTS = 101, DK_FUNCTIONS_MAX_POINTS = 1000000 };

typedef struct dk_functions_options {
    const char *model; /* checkpoint file, checkpoint directory or run directory */
    const char *out;   /* NULL or "-": standard output */
    long points;       /* >= 2 */
    int has_range;
    double lo, hi;     /* with has_range: lo < hi, both finite */
} dk_functions_options;

/* `report`: which checkpoint was used, skipped checkpoints, what was written. */
dk_err dk_functions(const dk_functions_options *o, FILE *report);

#endif

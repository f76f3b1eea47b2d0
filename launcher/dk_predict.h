/* `distkan predict MODEL POINTS.csv [--derivatives] [--out FILE]`: runs a trained model
 * (launcher/dk_model_file.h) on the points of a CSV file and writes a CSV table: the
 * file's columns as the model read them, then the outputs (`out`, or `out0`, `out1`, ...
 * for several), and with --derivatives each output's first and second derivatives along
 * every input (`d_out/d_x`, `d2_out/d_x^2` for an input column `x`), the exact ones of the
 * second-order kernels the PDE losses use.
 *
 * POINTS.csv has a header (tasks/dk_csv.h) and either one column per model input, or
 * those followed by one per model output (a fit's CSV: its targets); then the RMSE of the
 * outputs against them, over all rows and outputs (the fit loss's square root), goes to
 * the report stream. POINTS.csv must be a regular file (it is read twice). Points are
 * evaluated on the CPU in the model's precision, in blocks; the result of a row depends on
 * that row alone. Needs no MPI. */
#ifndef DK_PREDICT_H
#define DK_PREDICT_H

#include <stdio.h>

#include "../common/dk_error.h"

typedef struct dk_predict_options {
    const char *model;  /* checkpoint file, checkpoint directory or run directory */
    const char *points; /* CSV file */
    const char *out;    /* NULL or "-": standard output */
    int derivatives;
} dk_predict_options;

/* `report`: which checkpoint was used, skipped checkpoints, the RMSE. */
dk_err dk_predict(const dk_predict_options *o, FILE *report);

#endif

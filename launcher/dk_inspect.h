/* `distkan inspect CHECKPOINT|DIR`: a readable summary of a checkpoint (format version,
 * step, stage, world size, layer shapes, parameter count, loss, optimiser state, tensors,
 * config) after validating every checksum, loading its model (shapes, finite values,
 * increasing knots) and checking its optimiser state (dk_state_check.h); for a directory,
 * one line per checkpoint. A directory without checkpoints is taken for a run directory:
 * then its checkpoint directory's are listed, those of other runs sharing it marked.
 * Needs no MPI. */
#ifndef DK_INSPECT_H
#define DK_INSPECT_H

#include <stdbool.h>
#include <stdio.h>

#include "../common/dk_error.h"

/* Writes the summary or the listing to `out`. An error when path cannot be listed or a
 * checkpoint file given alone (or the one a run directory leads to) fails a check, after its
 * summary: never DK_ERR_USAGE for a failed check, since an invalid checkpoint exits 1. With
 * DK_OK, *all_valid is false when a listing holds an invalid or misnamed checkpoint, each
 * named on its line: inspect then exits 1 after listing them all. */
dk_err dk_inspect(const char *path, FILE *out, bool *all_valid);

#endif

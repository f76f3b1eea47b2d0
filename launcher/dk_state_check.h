/* The optimiser state a checkpoint holds, checked beyond its checksums: values distkan does
 * not write (a NaN anywhere, an infinite first moment or L-BFGS value, a negative second
 * moment) mean a file made or edited by other means, which would otherwise train on
 * garbage. (The model's own values: dk_model_check_values.)
 *
 * What the optimisers will read is checked: Adam's moments (a second moment may be +inf:
 * a float32 gradient beyond 1.8e19 squares to it, which freezes that coordinate, and a run
 * writes that), and, unless the next L-BFGS update starts afresh (which drops them), the
 * L-BFGS pairs the history holds (slots head-1, head-2, ... for `count` pairs, their first
 * n values; other slots and the rows' padding are never read), the iterate, its gradient
 * and its loss. Errors are DK_ERR_DATA naming `label` and the value. */
#ifndef DK_STATE_CHECK_H
#define DK_STATE_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "../checkpoint/dk_ckpt_file.h"
#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "dk_config.h"

typedef struct dk_optimizer_view {
    dk_dtype dtype;               /* of Adam's moments: the run's precision */
    size_t n;                     /* parameters */
    const void *adam_m, *adam_v;  /* NULL: no Adam state */
    const double *s, *y, *rho;    /* NULL: no L-BFGS state; s, y [history][stride] */
    int history, head, count;
    size_t stride;
    const double *x, *g;          /* the L-BFGS iterate and gradient [n] */
    double f;                     /* the loss at x */
    bool fresh;                   /* the next L-BFGS update starts afresh: nothing above is read */
} dk_optimizer_view;

dk_err dk_optimizer_check_values(const dk_optimizer_view *v, const char *label);

/* The same checks on the optimiser tensors of a checkpoint open and verified (inspect). */
dk_err dk_optimizer_check_file(dk_ckpt_reader *reader);

/* The manifest's counters, which no config can check: the writing run's world size (>= 1)
 * and training time (finite, >= 0), the schedule (step, Adam updates <= step, stages with
 * 0 <= done <= planned, each beginning where the one before ended, the step where the
 * current one stands, its G the model's), Adam's step counter (the Adam updates of the
 * current stage: it restarts at each grid extension), L-BFGS's (at most the L-BFGS
 * updates). Shared by inspect and resume, so that a file one accepts the other does too.
 * DK_ERR_DATA naming label. */
dk_err dk_manifest_check_counters(const Dk__Manifest *m, const char *label);

/* The counters above, and the manifest against a config: the one stored with it (inspect)
 * or the resuming run's, whose keys a resume has matched with that one. The data
 * position's seed, the model (widths, k, precision), the grid stages, the optimiser state
 * for the optimizer, the L-BFGS history. Shared like the above. DK_ERR_DATA naming label. */
dk_err dk_manifest_check_config(const Dk__Manifest *m, const dk_config *cfg, const char *label);

#endif

/* The optimiser state a checkpoint holds, checked beyond its checksums: a file that
 * verifies was written by distkan, which never stores a NaN, an infinity or a negative
 * second moment, so these checks fail only on a file made or edited by other means, which
 * would otherwise train on garbage. (The model's own values: dk_model_check_values.)
 *
 * Only what the optimisers will read is checked: Adam's moments, the L-BFGS pairs its
 * history holds (slots head-1, head-2, ... for `count` pairs, their first n values; other
 * slots and the rows' padding are never read), and the iterate and its gradient unless the
 * next L-BFGS update starts afresh. Errors are DK_ERR_DATA naming `label` and the value. */
#ifndef DK_STATE_CHECK_H
#define DK_STATE_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "../checkpoint/dk_ckpt_file.h"
#include "../common/dk_dtype.h"
#include "../common/dk_error.h"

typedef struct dk_optimizer_view {
    dk_dtype dtype;               /* of Adam's moments: the run's precision */
    size_t n;                     /* parameters */
    const void *adam_m, *adam_v;  /* NULL: no Adam state */
    const double *s, *y, *rho;    /* NULL: no L-BFGS state; s, y [history][stride] */
    int history, head, count;
    size_t stride;
    const double *x, *g;          /* the L-BFGS iterate and gradient [n] */
    bool fresh;                   /* x and g are not read again */
} dk_optimizer_view;

dk_err dk_optimizer_check_values(const dk_optimizer_view *v, const char *label);

/* The same checks on the optimiser tensors of a verified checkpoint file (for inspect). */
dk_err dk_optimizer_check_file(dk_ckpt_reader *reader);

#endif

/* The knots a network can store and compute with: finite, strictly increasing once stored
 * in its precision, and spaced within what the B-spline basis of degree k bears there
 * (dk_bspline_min_spacing, dk_bspline_max_spacing). Used by the config's checks, grid
 * extension and the grid update. */
#ifndef DK_KNOT_LIMITS_H
#define DK_KNOT_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/dk_dtype.h"

/* Knot spacings as stored, against what the kernels can bear (dk_knots_usable). */
typedef struct {
    double gap, widest;        /* smallest (-inf when not increasing or not finite) and largest spacing */
    double min_limit, max_limit; /* dk_bspline_min_spacing and dk_bspline_max_spacing of k and dtype */
    int k;
    dk_dtype dtype;
} dk_knot_spacing;

/* Whether knots t[0..n-1] (float64 values), stored in dtype, are usable by the kernels at
 * degree k: finite, strictly increasing, nowhere closer than dk_bspline_min_spacing and
 * nowhere wider apart than dk_bspline_max_spacing allow in that precision. *s: the
 * spacings and limits (for dk_knots_problem). */
bool dk_knots_usable(const double *t, int n, int k, dk_dtype dtype, dk_knot_spacing *s);
/* Why knots with spacings *s are not usable, for messages: "are not strictly increasing in
 * float32", "would be 1e-13 apart, below the ...", "would be 2e6 apart, above the ...". */
void dk_knots_problem(const dk_knot_spacing *s, char *text, size_t size);

#endif

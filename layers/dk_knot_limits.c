/* What knots the kernels can bear, as a network stores them (dk_knot_limits.h). */
#include "dk_knot_limits.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

#include "../kernels/dk_bspline.h"

bool dk_knots_usable(const double *t, int n, int k, dk_dtype dtype, dk_knot_spacing *s)
{
    const bool f32 = dtype == DK_F32;
    const double largest = f32 ? FLT_MAX : DBL_MAX;
    *s = (dk_knot_spacing){.gap = INFINITY, .widest = 0.0, .min_limit = dk_bspline_min_spacing(k, largest),
                           .max_limit = dk_bspline_max_spacing(k, largest), .k = k, .dtype = dtype};
    double prev = 0.0;
    for (int m = 0; m < n; m++) {
        /* As stored: knots apart in float64 can collide in a float32 network (a grid range
         * of a few float32 ulps cut into G pieces). */
        const double v = f32 ? (double)(float)t[m] : t[m];
        if (!isfinite(v)) {
            s->gap = -INFINITY;
            return false;
        }
        if (m > 0) {
            s->gap = fmin(s->gap, v - prev);
            s->widest = fmax(s->widest, v - prev);
        }
        prev = v;
    }
    return s->gap >= s->min_limit && s->widest <= s->max_limit;
}

void dk_knots_problem(const dk_knot_spacing *s, char *text, size_t size)
{
    const char *precision = s->dtype == DK_F32 ? "float32" : "float64";
    if (!(s->gap > 0.0))
        snprintf(text, size, "are not strictly increasing in %s", precision);
    else if (s->gap < s->min_limit)
        snprintf(text, size, "would be %.3g apart, below the %.3g that k = %d allows in %s (the basis's derivatives "
                 "would overflow)", s->gap, s->min_limit, s->k, precision);
    else
        snprintf(text, size, "would be %.3g apart, above the %.3g that k = %d allows in %s (the powers of the spacing "
                 "in the basis's pieces would overflow; scale the inputs)", s->widest, s->max_limit, s->k, precision);
}

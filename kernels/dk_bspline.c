/* B-spline basis with local support: float64 and float32 from one template; pykan's grid
 * extension in float64 only (grids are changed on the host in float64, then stored). */
#include "dk_bspline.h"

#include <math.h>

#define REAL double
#define SFX(name) name##_f64
#include "dk_bspline_local.inc"
#include "dk_bspline_impl.inc"
#undef REAL
#undef SFX

#define REAL float
#define SFX(name) name##_f32
#include "dk_bspline_local.inc"
#include "dk_bspline_impl.inc"
#undef REAL
#undef SFX

void dk_bspline_extend_grid_f64(const double *inner, int G, int k, double *t)
{
    for (int i = 0; i <= G; i++)
        t[k + i] = inner[i];
    /* pykan steps by the mean width, not the end intervals' own widths: an adapted grid's
     * extension stays as wide as the grid on average however crowded its ends are. */
    const double h = (inner[G] - inner[0]) / (double)G;
    for (int e = 1; e <= k; e++) {
        t[k - e] = t[k - e + 1] - h;
        t[k + G + e] = t[k + G + e - 1] + h;
    }
}

double dk_bspline_min_spacing(int k, double largest)
{
    double bound = 16.0;
    for (int d = 1; d <= k; d++)
        bound *= 2.0 * d;
    return pow(bound / largest, 1.0 / (k > 2 ? k : 2));
}

double dk_bspline_max_spacing(int k, double largest) { return 1.0 / dk_bspline_min_spacing(k, largest); }

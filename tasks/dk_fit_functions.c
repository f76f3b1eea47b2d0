/* Built-in regression targets: the toy examples of the KAN paper (Liu et al., "KAN:
 * Kolmogorov-Arnold Networks", 2024, section 3.1) plus a few cheap extras. */

/* j0 is an X/Open extension of <math.h>; the build only promises POSIX 2008, so ask for
 * the X/Open superset in this one file. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include "dk_fit_functions.h"

#include <math.h>
#include <string.h>

/* M_PI is not part of C11. */
static const double pi = 3.14159265358979323846;

/* exp(sin(pi x) + y^2) */
static double exp_sin_sq(const double *x) { return exp(sin(pi * x[0]) + x[1] * x[1]); }

static double xy(const double *x) { return x[0] * x[1]; }

static double sin_pi(const double *x) { return sin(pi * x[0]); }

/* exp(1/2 (sin(pi (x1^2 + x2^2)) + sin(pi (x3^2 + x4^2)))) */
static double exp_4d(const double *x)
{
    double a = sin(pi * (x[0] * x[0] + x[1] * x[1]));
    double b = sin(pi * (x[2] * x[2] + x[3] * x[3]));
    return exp(0.5 * (a + b));
}

/* exp(1/100 sum_{i<100} sin^2(pi x_i / 2)) */
static double exp_100d(const double *x)
{
    double sum = 0.0;
    for (int i = 0; i < 100; i++) {
        double s = sin(0.5 * pi * x[i]);
        sum += s * s;
    }
    return exp(sum / 100.0);
}

/* J0(20 x): on [-1, 1] this has 12 zeros, a hard oscillatory 1-D target. */
static double bessel_j0(const double *x) { return j0(20.0 * x[0]); }

/* exp(-(x^2 + y^2)): smooth and radially symmetric, not a sum of 1-D functions of x, y. */
static double gaussian(const double *x) { return exp(-(x[0] * x[0] + x[1] * x[1])); }

const dk_fit_function dk_fit_functions[] = {
    {"exp_sin_sq", "exp(sin(pi x)+y^2)", 2, exp_sin_sq},
    {"xy", "x*y", 2, xy},
    {"sin_pi", "sin(pi x)", 1, sin_pi},
    {"exp_4d", "exp(0.5*(sin(pi(x1^2+x2^2))+sin(pi(x3^2+x4^2))))", 4, exp_4d},
    {"exp_100d", "exp(mean_i sin^2(pi x_i/2)), i=1..100", 100, exp_100d},
    {"bessel_j0", "J0(20x)", 1, bessel_j0},
    {"gaussian", "exp(-(x^2+y^2))", 2, gaussian},
    {NULL, NULL, 0, NULL},
};

const dk_fit_function *dk_fit_function_find(const char *name)
{
    if (!name)
        return NULL;
    for (const dk_fit_function *f = dk_fit_functions; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* The 2-D Helmholtz problem
 *
 *   u_xx + u_yy + k^2 u = q on [-1, 1]^2,  u = sin(a1 pi x) sin(a2 pi y) on the boundary,
 *
 * with exact solution u = sin(a1 pi x) sin(a2 pi y). Since u_xx + u_yy = -pi^2 (a1^2 + a2^2) u,
 *   q = (k^2 - pi^2 (a1^2 + a2^2)) sin(a1 pi x) sin(a2 pi y).
 * Residual r = u_xx + u_yy + k^2 u - q(x, y).
 * Parameters: a1, a2 (wave numbers in units of pi) and wavenumber k, finite, with k^2 and
 * pi^2 (a1^2 + a2^2) finite too.
 *
 * Where k^2 is an eigenvalue of the Dirichlet Laplacian on the square, (pi^2 / 4)(m^2 + n^2)
 * for integers m, n >= 1, the problem has a family of solutions (the exact one plus any
 * multiple of sin(m pi (x + 1) / 2) sin(n pi (y + 1) / 2)): a trained network may find
 * another member, and rel_l2 against the exact one then measures that choice (caveat).
 */
#include "../dk_pde_problem.h"

#include <math.h>
#include <stdio.h>

static const double pi = 3.14159265358979323846;

static int inputs(const dk_pde_params *p, char *why, size_t n)
{
    const double k2 = p->wavenumber * p->wavenumber, s = pi * pi * (p->a1 * p->a1 + p->a2 * p->a2);
    if (!isfinite(k2) || !isfinite(s) || !isfinite(k2 - s)) {
        if (why && n > 0)
            snprintf(why, n, "helmholtz2d needs a1, a2 and wavenumber whose squares stay finite (got a1 = %g, a2 = %g, "
                     "wavenumber = %g: k^2 = %g, pi^2 (a1^2 + a2^2) = %g)", p->a1, p->a2, p->wavenumber, k2, s);
        return -1;
    }
    return 2;
}

/* A Dirichlet eigenvalue (pi^2 / 4)(m^2 + n^2) within 1e-3 pi^2 / 4 of k^2, if any: a
 * thousandth of the spacing of the integers m^2 + n^2, which at large k lie about 1 apart
 * (a relative tolerance would flag nearly every k above 100). Searched up to k of about
 * 1.6e6 (m^2 + n^2 <= 1e12). */
static int caveat(const dk_pde_params *p, char *text, size_t n)
{
    const double k2 = p->wavenumber * p->wavenumber, unit = pi * pi / 4.0, target = k2 / unit; /* m^2 + n^2 */
    if (!(target >= 2.0 - 1e-3) || target > 1e12) /* below the lowest, or beyond the search */
        return 0;
    for (long m = 1; m <= (long)sqrt(target) + 1; m++) {
        const double rest = target - (double)m * (double)m;
        const long base = rest > 1.0 ? (long)sqrt(rest) : 1;
        for (long nn = base; nn <= base + 1; nn++) {
            const double lambda = (double)m * (double)m + (double)nn * (double)nn, gap = fabs(target - lambda);
            if (gap > 1e-3)
                continue;
            const int exact = gap <= 1e-9 * lambda;
            snprintf(text, n, "helmholtz2d: k^2 = %.6g %s the Dirichlet eigenvalue (pi^2/4)(m^2 + n^2) = %.6g "
                     "(m = %ld, n = %ld) of the square: the solution is %s, and rel_l2 against sin(a1 pi x) "
                     "sin(a2 pi y) measures which one training finds; choose another wavenumber", k2,
                     exact ? "equals" : "lies close to", lambda * unit, m, nn,
                     exact ? "not unique (any multiple of sin(m pi (x+1)/2) sin(n pi (y+1)/2) may be added)"
                           : "nearly not unique (the problem is ill-conditioned)");
            return 1;
        }
    }
    return 0;
}

static void domain(const dk_pde_params *p, double *lo, double *hi) { dk_pde_cube(2, -1.0, 1.0, lo, hi); }

static double exact(const dk_pde_params *p, const double *x)
{
    return sin(p->a1 * pi * x[0]) * sin(p->a2 * pi * x[1]);
}

static double residual(const dk_pde_params *p, const double *x, double u, const double *du, const double *d2u,
                       double *dr_du, double *dr_ddu, double *dr_dd2u)
{
    double k2 = p->wavenumber * p->wavenumber;
    double q = (k2 - pi * pi * (p->a1 * p->a1 + p->a2 * p->a2)) * exact(p, x);
    *dr_du = k2;
    dr_ddu[0] = dr_ddu[1] = 0.0;
    dr_dd2u[0] = dr_dd2u[1] = 1.0;
    return d2u[0] + d2u[1] + k2 * u - q;
}

const dk_pde_problem dk_pde_helmholtz2d = {
    .name = "helmholtz2d",
    .params = "a1 a2 wavenumber",
    .summary = "u_xx + u_yy + k^2 u = q on [-1,1]^2, u = sin(a1 pi x) sin(a2 pi y) "
               "(params a1, a2, wavenumber k), Dirichlet on all faces",
    .inputs = inputs,
    .domain = domain,
    .boundary_face = dk_pde_every_face,
    .exact = exact,
    .residual = residual,
    .linear = true,
    .caveat = caveat,
};

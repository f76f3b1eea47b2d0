/* The 2-D Helmholtz problem
 *
 *   u_xx + u_yy + k^2 u = q on [-1, 1]^2,  u = sin(a1 pi x) sin(a2 pi y) on the boundary,
 *
 * with exact solution u = sin(a1 pi x) sin(a2 pi y). Since u_xx + u_yy = -pi^2 (a1^2 + a2^2) u,
 *   q = (k^2 - pi^2 (a1^2 + a2^2)) sin(a1 pi x) sin(a2 pi y).
 * Residual r = u_xx + u_yy + k^2 u - q(x, y).
 * Parameters: a1, a2 (wave numbers in units of pi) and wavenumber k, all finite.
 */
#include "../dk_pde_problem.h"

#include <math.h>
#include <stdio.h>

static const double pi = 3.14159265358979323846;

static int inputs(const dk_pde_params *p, char *why, size_t n)
{
    if (!isfinite(p->a1) || !isfinite(p->a2) || !isfinite(p->wavenumber)) {
        if (why && n > 0)
            snprintf(why, n, "helmholtz2d needs finite a1, a2 and wavenumber (got a1 = %g, a2 = %g, wavenumber = %g)",
                     p->a1, p->a2, p->wavenumber);
        return -1;
    }
    return 2;
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
    .summary = "u_xx + u_yy + k^2 u = q on [-1,1]^2, u = sin(a1 pi x) sin(a2 pi y) "
               "(params a1, a2, wavenumber k), Dirichlet on all faces",
    .inputs = inputs,
    .domain = domain,
    .boundary_face = dk_pde_every_face,
    .exact = exact,
    .residual = residual,
    .linear = true,
};

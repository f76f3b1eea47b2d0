/* The 2-D Poisson problem of the KAN paper (Liu et al., "KAN: Kolmogorov-Arnold Networks",
 * 2024, section 3.4):
 *
 *   u_xx + u_yy = f on [-1, 1]^2,  u = sin(pi x) sin(pi y^2) on the boundary,
 *
 * with exact solution u = sin(pi x) sin(pi y^2). From it
 *   u_xx = -pi^2 sin(pi x) sin(pi y^2)
 *   u_yy = sin(pi x) (2 pi cos(pi y^2) - 4 pi^2 y^2 sin(pi y^2))
 * so f = -pi^2 (1 + 4 y^2) sin(pi x) sin(pi y^2) + 2 pi sin(pi x) cos(pi y^2).
 * Residual r = u_xx + u_yy - f(x, y). No parameters.
 */
#include "../dk_pde_problem.h"

#include <math.h>

static const double pi = 3.14159265358979323846;

static int inputs(const dk_pde_params *p, char *why, size_t n) { return 2; }

static void domain(const dk_pde_params *p, double *lo, double *hi) { dk_pde_cube(2, -1.0, 1.0, lo, hi); }

static double exact(const dk_pde_params *p, const double *x) { return sin(pi * x[0]) * sin(pi * x[1] * x[1]); }

static double source(const double *x)
{
    double y2 = x[1] * x[1];
    double sx = sin(pi * x[0]);
    return -pi * pi * (1.0 + 4.0 * y2) * sx * sin(pi * y2) + 2.0 * pi * sx * cos(pi * y2);
}

static double residual(const dk_pde_params *p, const double *x, double u, const double *du, const double *d2u,
                       double *dr_du, double *dr_ddu, double *dr_dd2u)
{
    *dr_du = 0.0;
    dr_ddu[0] = dr_ddu[1] = 0.0;
    dr_dd2u[0] = dr_dd2u[1] = 1.0;
    return d2u[0] + d2u[1] - source(x);
}

const dk_pde_problem dk_pde_poisson2d = {
    .name = "poisson2d",
    .params = "",
    .summary = "u_xx + u_yy = f on [-1,1]^2, u = sin(pi x) sin(pi y^2) (KAN paper), Dirichlet on all faces",
    .inputs = inputs,
    .domain = domain,
    .boundary_face = dk_pde_every_face,
    .exact = exact,
    .residual = residual,
    .linear = true,
};

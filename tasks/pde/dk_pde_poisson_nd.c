/* The d-dimensional Poisson problem
 *
 *   sum_a u_aa + (pi^2 / 4) sum_a sin(pi x_a / 2) = 0 on [0, 1]^d,
 *
 * with exact solution u = sum_a sin(pi x_a / 2) (u_aa = -(pi^2 / 4) sin(pi x_a / 2)) and
 * Dirichlet data from it on all 2d faces. A sum of 1-D functions: the difficulty grows with
 * d only through the number of inputs, which makes it a scaling test.
 * Residual r = sum_a u_aa + (pi^2 / 4) sum_a sin(pi x_a / 2).
 * Parameter: dim = d, 1 <= d <= DIM_MAX.
 */
#include "../dk_pde_problem.h"

#include <math.h>

static const double pi = 3.14159265358979323846;

enum { DIM_MAX = DK_PDE_MAX_SPACE_DIM };

static int inputs(const dk_pde_params *p, char *why, size_t n)
{
    return dk_pde_check_dim("poisson_nd", p->dim, DIM_MAX, why, n) == 0 ? p->dim : -1;
}

static void domain(const dk_pde_params *p, double *lo, double *hi) { dk_pde_cube(p->dim, 0.0, 1.0, lo, hi); }

static double exact(const dk_pde_params *p, const double *x)
{
    double u = 0.0;
    for (int a = 0; a < p->dim; a++)
        u += sin(0.5 * pi * x[a]);
    return u;
}

static double residual(const dk_pde_params *p, const double *x, double u, const double *du, const double *d2u,
                       double *dr_du, double *dr_ddu, double *dr_dd2u)
{
    double r = 0.25 * pi * pi * exact(p, x);
    *dr_du = 0.0;
    for (int a = 0; a < p->dim; a++) {
        r += d2u[a];
        dr_ddu[a] = 0.0;
        dr_dd2u[a] = 1.0;
    }
    return r;
}

const dk_pde_problem dk_pde_poisson_nd = {
    .name = "poisson_nd",
    .params = "dim",
    .summary = "sum_i u_ii + (pi^2/4) sum_i sin(pi x_i/2) = 0 on [0,1]^d, u = sum_i sin(pi x_i/2) "
               "(param dim = d), Dirichlet on all faces",
    .inputs = inputs,
    .domain = domain,
    .boundary_face = dk_pde_every_face,
    .exact = exact,
    .residual = residual,
    .linear = true,
};

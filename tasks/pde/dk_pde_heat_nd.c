/* The d-dimensional heat equation, time as the last input x_d = t:
 *
 *   u_t = kappa sum_{a<d} u_aa on [0, 1]^d x [0, 1],
 *
 * with exact solution u = exp(-kappa pi^2 t) sum_{a<d} sin(pi x_a): both sides equal
 * -kappa pi^2 u. Dirichlet data on the 2d spatial faces and the initial condition on the
 * t = 0 face; the final-time face t = 1 carries none (the solution there is an output of
 * the evolution, not data).
 * Residual r = u_t - kappa sum_{a<d} u_aa.
 * Parameters: dim = d, 1 <= d <= DIM_MAX; diffusivity = kappa > 0, kappa pi^2 finite.
 */
#include "../dk_pde_problem.h"

#include <math.h>
#include <stdio.h>

static const double pi = 3.14159265358979323846;

/* d + 1 inputs stay within DK_PDE_MAX_DIM and the Halton limit. */
enum { DIM_MAX = DK_PDE_MAX_SPACE_DIM };

static int inputs(const dk_pde_params *p, char *why, size_t n)
{
    if (dk_pde_check_dim("heat_nd", p->dim, DIM_MAX, why, n) != 0)
        return -1;
    /* The decay rate kappa pi^2 must stay finite too: past it, exp(-kappa pi^2 t) at t = 0
     * is exp(-inf * 0), NaN, and every initial value with it. */
    if (!(isfinite(p->diffusivity * pi * pi) && p->diffusivity > 0.0)) {
        if (why && n > 0)
            snprintf(why, n, "heat_nd needs a diffusivity > 0 whose kappa pi^2 is finite (got %g)", p->diffusivity);
        return -1;
    }
    return p->dim + 1;
}

/* Space and time alike: [0, 1]^(d + 1). */
static void domain(const dk_pde_params *p, double *lo, double *hi) { dk_pde_cube(p->dim + 1, 0.0, 1.0, lo, hi); }

static bool boundary_face(const dk_pde_params *p, int axis, bool upper) { return !(axis == p->dim && upper); }

static double exact(const dk_pde_params *p, const double *x)
{
    double s = 0.0;
    for (int a = 0; a < p->dim; a++)
        s += sin(pi * x[a]);
    return exp(-p->diffusivity * pi * pi * x[p->dim]) * s;
}

static double residual(const dk_pde_params *p, const double *x, double u, const double *du, const double *d2u,
                       double *dr_du, double *dr_ddu, double *dr_dd2u)
{
    int d = p->dim;
    double kappa = p->diffusivity;
    double lap = 0.0;
    *dr_du = 0.0;
    for (int a = 0; a < d; a++) {
        lap += d2u[a];
        dr_ddu[a] = 0.0;
        dr_dd2u[a] = -kappa;
    }
    dr_ddu[d] = 1.0;
    dr_dd2u[d] = 0.0;
    return du[d] - kappa * lap;
}

const dk_pde_problem dk_pde_heat_nd = {
    .name = "heat_nd",
    .params = "dim diffusivity",
    .summary = "u_t = kappa sum_i u_ii on [0,1]^d x [0,1] (t last), u = exp(-kappa pi^2 t) sum_i sin(pi x_i) "
               "(params dim = d, diffusivity = kappa), Dirichlet on spatial faces and t = 0, none at t = 1",
    .inputs = inputs,
    .domain = domain,
    .boundary_face = boundary_face,
    .exact = exact,
    .residual = residual,
    .linear = true,
};

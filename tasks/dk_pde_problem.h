/* A PDE problem with a closed-form solution, on a box, with Dirichlet data from the
 * exact solution.
 *
 * The residual is written as r(x, u, Du, D2u), where Du[a] = du/dx_a and D2u[a] =
 * d^2u/dx_a^2 for every input a (time, when a problem has it, is the last input), so that
 * linear and nonlinear operators share one shape; the PDE task trains on
 *   alpha * mean(r^2 over interior points) + mean((u - exact)^2 over boundary points).
 * A problem also returns the partial derivatives of r with respect to u, Du[a] and D2u[a],
 * which back-propagation needs.
 *
 * Adding a problem is one file in tasks/pde/ defining a const dk_pde_problem, plus its
 * extern declaration and table line in tasks/dk_pde_problems.c; tasks/pde/dk_pde_poisson2d.c
 * is the smallest example.
 */
#ifndef DK_PDE_PROBLEM_H
#define DK_PDE_PROBLEM_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/dk_error.h"

enum {
    DK_PDE_MAX_DIM = 1024,      /* inputs of any problem (arrays are sized by it) */
    DK_PDE_MAX_SPACE_DIM = 1000 /* [pde] dim of poisson_nd and heat_nd: heat_nd has d + 1 inputs */
};

/* Problem parameters from the [pde] section; each problem reads the ones it documents. */
typedef struct dk_pde_params {
    int dim;             /* spatial dimension (poisson_nd, heat_nd) */
    double a1, a2;       /* helmholtz2d wave numbers (in units of pi) */
    double wavenumber;   /* helmholtz2d k */
    double diffusivity;  /* heat_nd kappa */
} dk_pde_params;

typedef struct dk_pde_problem {
    const char *name;
    const char *summary; /* one line: the equation, domain and solution */
    /* The [pde] parameters it reads (dk_pde_params' fields by their key names), separated
     * by spaces, "" for none: a key given to a problem that ignores it is warned of. */
    const char *params;
    /* Number of network inputs for these parameters, or -1 with a message in why[n]
     * when the parameters are out of range for this problem. */
    int (*inputs)(const dk_pde_params *p, char *why, size_t n);
    /* The box: lo[a] <= x_a <= hi[a]. */
    void (*domain)(const dk_pde_params *p, double *lo, double *hi);
    /* Whether face (axis, upper ? hi : lo) carries Dirichlet data (false e.g. for the final
     * time of a parabolic problem). */
    bool (*boundary_face)(const dk_pde_params *p, int axis, bool upper);
    double (*exact)(const dk_pde_params *p, const double *x);
    /* r(x, u, Du, D2u); writes dr/du to *dr_du and dr/dDu[a], dr/dD2u[a] to dr_ddu[a],
     * dr_dd2u[a] for every input a. */
    double (*residual)(const dk_pde_params *p, const double *x, double u, const double *du, const double *d2u,
                       double *dr_du, double *dr_ddu, double *dr_dd2u);
    /* The residual is linear with constant coefficients, r = c0 u + sum_a c1[a] Du[a] +
     * sum_a c2[a] D2u[a] - f(x): the CUDA backend then evaluates it on the GPU from f at
     * the points and the coefficients (dk_pde_task_linear_form); other problems train on
     * the CPU. */
    bool linear;
    /* Optional (NULL: none): a caveat about these parameters for the run's header, written
     * to text[n] and returned 1 (0: nothing to say), e.g. a problem whose solution is not
     * unique for them. */
    int (*caveat)(const dk_pde_params *p, char *text, size_t n);
} dk_pde_problem;

/* Built-in problems, terminated by a NULL pointer. */
extern const dk_pde_problem *const dk_pde_problems[];

/* The problem called name, or NULL. */
const dk_pde_problem *dk_pde_problem_find(const char *name);

/* "poisson2d, helmholtz2d, ..." for messages; truncated (still terminated) if n is short. */
void dk_pde_problem_names(char *buf, size_t n);

/* Pieces most problems share, so that a problem file holds only its equation. */

/* boundary_face for a problem with Dirichlet data on every face. */
bool dk_pde_every_face(const dk_pde_params *p, int axis, bool upper);

/* The cube [lo, hi]^n: lo_out[a] = lo, hi_out[a] = hi for a < n. */
void dk_pde_cube(int n, double lo, double hi, double *lo_out, double *hi_out);

/* 0 when 1 <= dim <= dim_max; else -1 with "<problem> needs 1 <= dim <= ..." in why[n]. */
int dk_pde_check_dim(const char *problem, int dim, int dim_max, char *why, size_t n);

#endif

/* The registry of built-in PDE problems: one extern and one table line per problem. */
#include "dk_pde_problem.h"

#include <stdio.h>
#include <string.h>

extern const dk_pde_problem dk_pde_poisson2d;
extern const dk_pde_problem dk_pde_helmholtz2d;
extern const dk_pde_problem dk_pde_poisson_nd;
extern const dk_pde_problem dk_pde_heat_nd;

const dk_pde_problem *const dk_pde_problems[] = {
    &dk_pde_poisson2d,
    &dk_pde_helmholtz2d,
    &dk_pde_poisson_nd,
    &dk_pde_heat_nd,
    NULL,
};

const dk_pde_problem *dk_pde_problem_find(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; dk_pde_problems[i]; i++)
        if (strcmp(dk_pde_problems[i]->name, name) == 0)
            return dk_pde_problems[i];
    return NULL;
}

void dk_pde_problem_names(char *buf, size_t n)
{
    if (n == 0)
        return;
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; dk_pde_problems[i] && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", dk_pde_problems[i]->name);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

bool dk_pde_every_face(const dk_pde_params *p, int axis, bool upper)
{
    (void)p, (void)axis, (void)upper;
    return true;
}

void dk_pde_cube(int n, double lo, double hi, double *lo_out, double *hi_out)
{
    for (int a = 0; a < n; a++) {
        lo_out[a] = lo;
        hi_out[a] = hi;
    }
}

int dk_pde_check_dim(const char *problem, int dim, int dim_max, char *why, size_t n)
{
    if (dim >= 1 && dim <= dim_max)
        return 0;
    if (why && n > 0)
        snprintf(why, n, "%s needs 1 <= dim <= %d (got dim = %d)", problem, dim_max, dim);
    return -1;
}

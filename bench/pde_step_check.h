/* bench_pde_step's start-up check: that distkan computes the Laplacian and the gradient
 * it is timed for (bench_pde_step.c's header lists the comparisons and tolerances). */
#ifndef PDE_STEP_CHECK_H
#define PDE_STEP_CHECK_H

#include <stdio.h>

#include "pde_step_problem.h"

typedef struct pde_check_result {
    char shape[48];
    int G, n_points, n_tried;
    double lap, du, grad, f32;
    int ok;
} pde_check_result;

/* Checks one shape and G on float64 and float32 nets of `threads` threads: 0 with the
 * result in cr (cr->ok says whether every comparison held), -1 when out of memory. */
int pde_check_run(const pde_shape *sh, int G, int k, int threads, pde_check_result *cr);

/* The results as lines (md = 0) or a markdown table. */
void pde_check_print(FILE *f, const pde_check_result *cr, int n_cr, int md);

#endif

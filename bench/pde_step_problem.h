/* The problem bench_pde_step times (see its header): a KAN built as the task builds one,
 * N interior and N/10 boundary collocation points in [-1, 1]^d, and the timed
 * physics-informed step: jet forward, Laplacian residual, jet backward, boundary term, and
 * the two gradients summed into net->grads. */
#ifndef PDE_STEP_PROBLEM_H
#define PDE_STEP_PROBLEM_H

#include <stdint.h>

#include "common/dk_dtype.h"
#include "layers/dk_network.h"

enum { PDE_MAX_WIDTHS = 8 };

/* RNG streams private to the benchmark, far from the library's. */
enum { BENCH_STREAM_X = 201, BENCH_STREAM_XB = 202, BENCH_STREAM_SIDE = 203, BENCH_STREAM_DIR = 204 };

typedef struct pde_shape {
    int w[PDE_MAX_WIDTHS], n;
    char name[48]; /* "2-10-1", the torch script's spelling */
} pde_shape;

typedef struct pde_problem {
    dk_network *net;
    dk_dtype dt;
    int d;
    long points, n_bnd;
    void *x, *f;         /* [points][d], [points] */
    void *xb, *g;        /* [n_bnd][d], [n_bnd] */
    void *gu, *gu1, *gu2; /* loss gradients w.r.t. u [points], du/dx, d2u/dx2 [points][d] */
    void *dout_b;        /* [n_bnd] */
    void *grad_res;      /* [n_params]: the residual's gradient while the boundary's is computed */
    double loss;
    double ph[4], best_ph[4]; /* seconds: jet forward, residual, jet backward, boundary */
} pde_problem;

/* The network's seed for a shape and grid: the same network in every run and pass. */
uint64_t pde_shape_seed(const pde_shape *sh, int G);
/* f_b = sum_a sin(pi x_b,a) at the interior points. */
void pde_fill_source(pde_problem *pr);
/* A network as the task would build it (pykan's initialisation) with room for
 * max(points, n_bnd, max_rows) rows, x uniform on [-1, 1]^d, boundary points with one
 * coordinate at -1 or 1. 0, or -1 with a message on stderr. */
int pde_init(pde_problem *pr, const pde_shape *sh, int G, int k, dk_dtype dt, int threads, long points, long n_bnd,
             long max_rows);
void pde_free(pde_problem *pr);
/* The timed step: pr->loss, its gradient in net->grads and the phases' seconds in pr->ph. */
void pde_step(pde_problem *pr);

#endif
